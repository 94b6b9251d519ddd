//! One transport of a session seen as a [`Machine`], for drivers and harnesses written
//! against that trait.

use std::time::Instant;

use bytes::Bytes;

use super::{Attempt, Event, Session};
use crate::ws::State;
use crate::Machine;

/// The transport of one [`Attempt`] of a [`Session`], as a [`Machine`]: inputs go to the
/// session with that attempt, `poll_transmit` hands out only that transport's bytes,
/// `is_finished` says the session abandoned it (its [`Event::Disconnect`] is out) and
/// `state` is its WebSocket's (`Handshaking` before it opens, `Closed` once abandoned).
/// Timers and events are the whole session's.
///
/// ```
/// use std::time::Instant;
/// use tether_core::handshake::ClientRequest;
/// use tether_core::session::{Config, Event, Session};
/// use tether_core::Machine;
///
/// let now = Instant::now();
/// let request = ClientRequest { host: "node-2".into(), path: "/".into(), ..Default::default() };
/// let mut session = Session::new(now, Config::default(), request, [1; 32]).unwrap();
/// session.start(now);
/// let attempt = session.current_attempt().unwrap();
/// session.transport_open(now, attempt);
/// let mut link = session.link(attempt);
/// let upgrade = link.poll_transmit().unwrap();
/// assert!(upgrade.starts_with(b"GET / HTTP/1.1\r\n"));
/// assert!(!link.is_finished());
/// ```
#[derive(Debug)]
pub struct Link<'a> {
    session: &'a mut Session,
    attempt: Attempt,
}

impl<'a> Link<'a> {
    pub(crate) fn new(session: &'a mut Session, attempt: Attempt) -> Link<'a> {
        Link { session, attempt }
    }

    /// The attempt this link names.
    pub fn attempt(&self) -> Attempt {
        self.attempt
    }

    /// The session behind it, for commands.
    pub fn session(&mut self) -> &mut Session {
        self.session
    }
}

impl Machine for Link<'_> {
    type Event = Event;

    fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.session.handle_input(now, self.attempt, data);
    }

    fn handle_eof(&mut self, now: Instant) {
        self.session.handle_eof(now, self.attempt);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
    }

    fn poll_transmit(&mut self) -> Option<Bytes> {
        self.session.poll_transmit_for(self.attempt)
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.session.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    fn pending_transmit(&self) -> usize {
        self.session.pending_transmit_for(self.attempt)
    }

    fn wants_input(&self) -> bool {
        self.session.wants_input_for(self.attempt)
    }

    fn is_finished(&self) -> bool {
        self.session.is_abandoned(self.attempt)
    }

    fn release_idle(&mut self) {
        self.session.release_idle();
    }

    fn state(&self) -> State {
        self.session.link_state(self.attempt)
    }
}
