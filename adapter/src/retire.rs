//! The end of a socket whose state machine has moved on: what the driver already took
//! from the core is written (best effort), then FIN, then the peer's EOF is awaited, each
//! bounded by the transport's linger.
//!
//! A session abandons a link's socket (a heartbeat timeout, a closed WebSocket) and may
//! start the next one at once; the last bytes of the old one (its close frame) must not
//! hold that up, so they go out in a task of their own.

use std::time::Instant;

use bytes::Bytes;
use tether_core::ws::State;
use tether_core::Machine;
use tracing::{debug, Instrument};

use crate::transport::Transport;
use crate::Runtime;

/// Writes what `transport` holds, then shuts it down, in a task of its own.
pub(crate) fn retire<R: Runtime>(mut transport: Transport<R>) {
    let task = async move {
        let mut spent = Spent;
        loop {
            // Closed from the start, so the linger bounds the whole flush.
            transport.drain(&mut spent, None);
            if transport.finished(&spent) || !transport.is_active(false) {
                break;
            }
            match transport.wait(false).await {
                Ok(happened) => transport.feed(&mut spent, happened),
                Err(error) => {
                    debug!(%error, "socket error while writing the last bytes");
                    return;
                }
            }
        }
        transport.shutdown().await;
    };
    R::spawn(task.in_current_span());
}

/// A machine that has said all it will: closed, finished, nothing to write, no timers.
#[derive(Debug)]
struct Spent;

impl Machine for Spent {
    type Event = ();

    fn handle_input(&mut self, _now: Instant, _data: &[u8]) {}

    fn handle_eof(&mut self, _now: Instant) {}

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self) -> Option<Bytes> {
        None
    }

    fn poll_event(&mut self) -> Option<()> {
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn pending_transmit(&self) -> usize {
        0
    }

    fn is_finished(&self) -> bool {
        true
    }

    fn state(&self) -> State {
        State::Closed
    }
}
