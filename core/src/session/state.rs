//! Where a session is in its life, and the names of its transports.

use std::fmt;

/// Where a session is in its life. Every change is reported once as
/// [`Event::State`](super::Event::State).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Before [`start`](super::Session::start), or after [`close`](super::Session::close)
    /// has finished.
    Disconnected,
    /// Trying to open the first link: no link has been open yet.
    Connecting,
    /// A link is open: calls are written as they come.
    Connected,
    /// A link was lost, or an attempt after that failed: waiting out the backoff, or trying again.
    Reconnecting,
    /// Gave up after `max_attempts` consecutive failed attempts. Terminal.
    Failed,
}

/// The name of one transport (one connection attempt): inputs carry it, so bytes of a
/// transport the session has abandoned can never reach a newer link. Each attempt gets a
/// larger one than the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attempt(pub(crate) u64);

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.0)
    }
}
