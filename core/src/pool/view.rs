//! One link of a pool seen as a [`Machine`], for a driver that runs one transport per
//! link against the shared pool.

use std::time::Instant;

use bytes::Bytes;

use super::{Event, LinkId, Pool};
use crate::ws::State;
use crate::Machine;

/// The [`Machine`] of one link: inputs go to that link, bytes come from it. Timers are
/// the pool's ([`Pool::poll_timeout`]), not the link's: `poll_timeout` is `None` here, so
/// one timer serves every link.
#[derive(Debug)]
pub struct LinkView<'a> {
    pool: &'a mut Pool,
    link: LinkId,
}

impl Pool {
    /// `link` as a [`Machine`].
    pub fn link(&mut self, link: LinkId) -> LinkView<'_> {
        LinkView { pool: self, link }
    }
}

impl LinkView<'_> {
    /// The pool behind the view.
    pub fn pool(&mut self) -> &mut Pool {
        self.pool
    }
}

impl Machine for LinkView<'_> {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.pool.handle_input(now, self.link, data);
    }

    fn handle_eof(&mut self, now: Instant) {
        self.pool.handle_eof(now, self.link);
    }

    fn handle_transport_lost(&mut self, now: Instant) {
        self.pool.transport_failed(now, self.link);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.pool.handle_timeout(now);
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.pool.poll_transmit(self.link)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.pool.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn pending_transmit(&self) -> usize {
        self.pool.pending_transmit(self.link)
    }

    fn wants_input(&self) -> bool {
        self.pool.wants_input(self.link)
    }

    fn is_finished(&self) -> bool {
        self.pool.is_link_finished(self.link)
    }

    fn state(&self) -> State {
        self.pool.link_state(self.link)
    }
}
