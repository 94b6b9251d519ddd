//! [`Status`]: what a connection's handles know without a round trip to its driver.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use tether_core::ws::State;

use crate::Error;

/// The connection's state as of its driver's last turn, and why its socket failed if it
/// did. The driver writes it; every handle reads it, so `send` can refuse early without a
/// round trip per message, and commands after the end say why instead of just "closed".
#[derive(Debug, Default)]
pub struct Status {
    failure: OnceLock<Arc<io::Error>>,
    /// A [`State`] as `u8`.
    state: AtomicU8,
}

impl Status {
    /// The connection's state as the driver last saw it.
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Handshaking,
            1 => State::Open,
            2 => State::Closing,
            _ => State::Closed,
        }
    }

    /// Records the state the driver just saw.
    pub fn set_state(&self, state: State) {
        let value = match state {
            State::Handshaking => 0,
            State::Open => 1,
            State::Closing => 2,
            State::Closed => 3,
        };
        self.state.store(value, Ordering::Release);
    }

    /// Records why the socket failed (the first failure wins).
    pub fn fail(&self, error: io::Error) {
        let _ = self.failure.set(Arc::new(error));
    }

    /// The error for a command on a connection whose driver has finished: the socket's
    /// failure if there was one, else [`Error::Closed`].
    pub fn gone(&self) -> Error {
        match self.failure.get() {
            Some(error) => Error::Io(error.clone()),
            None => Error::Closed,
        }
    }

    /// Refuses a message early: [`Error::Closing`] once either side started closing, the
    /// [`gone`](Self::gone) error once closed.
    pub fn check_send(&self) -> Result<(), Error> {
        match self.state() {
            State::Handshaking | State::Open => Ok(()),
            State::Closing => Err(Error::Closing),
            State::Closed => Err(self.gone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_as_written() {
        let status = Status::default();
        for state in [
            State::Handshaking,
            State::Open,
            State::Closing,
            State::Closed,
        ] {
            status.set_state(state);
            assert_eq!(status.state(), state);
        }
    }

    #[test]
    fn sends_are_refused_by_state_and_a_failure_is_reported_once_closed() {
        let status = Status::default();
        status.set_state(State::Open);
        assert!(status.check_send().is_ok());
        status.set_state(State::Closing);
        assert!(matches!(status.check_send(), Err(Error::Closing)));
        status.set_state(State::Closed);
        assert!(matches!(status.check_send(), Err(Error::Closed)));
        status.fail(io::ErrorKind::ConnectionReset.into());
        status.fail(io::ErrorKind::BrokenPipe.into());
        match status.check_send() {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("expected the first failure, got {other:?}"),
        }
    }
}
