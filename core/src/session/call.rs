//! A call as the session sees it: its id, its options, and what is kept of it until it ends.

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::Attempt;
use crate::rpc::pending::Deadline;
use crate::rpc::RequestId;

/// The id of one call for the whole life of a session: it survives re-sends on new links
/// (each link puts a fresh request id on the wire). Increasing, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub(crate) u64);

impl CallId {
    /// The number behind the id: 1 for a session's first call, then one more per call.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call {}", self.0)
    }
}

/// What to do with a written call when its link is lost before the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retry {
    /// End it with [`EndReason::ConnectionLost`](super::EndReason::ConnectionLost)
    /// (`sent: true`): the server may have run it.
    #[default]
    Never,
    /// The method is idempotent: put it back at the front of the queue and write it again
    /// on the next link, at most `max` times. It keeps its [`CallId`] and deadline.
    Resend {
        /// Re-sends allowed.
        max: u32,
    },
}

/// Per-call options of [`Session::call`](super::Session::call).
///
/// ```
/// use std::time::Duration;
/// use tether_core::session::{CallOptions, Retry};
///
/// let options = CallOptions { timeout: Some(Duration::from_secs(2)), retry: Retry::Resend { max: 3 } };
/// assert_eq!(CallOptions::default().retry, Retry::Never);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallOptions {
    /// How long the call may take from `call` to its answer, time in the queue included;
    /// `None` is the session's `rpc.default_timeout`.
    pub timeout: Option<Duration>,
    /// Whether it may be written again after a lost link.
    pub retry: Retry,
}

/// What the session keeps of a call until it ends.
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) deadline: Option<Instant>,
    /// Re-sends left.
    pub(crate) resends: u32,
    /// The request, kept while it may still have to be written (queued, or resendable).
    pub(crate) request: Option<Request>,
    pub(crate) place: Place,
}

impl Deadline for Call {
    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// A request to (re)write.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) params: Option<Box<RawValue>>,
    /// Its encoded size, as the queue counts it.
    pub(crate) size: usize,
}

/// Where a live call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In the queue of unsent items.
    Queued,
    /// Written on a link, waiting for the answer.
    InFlight {
        wire: RequestId,
        attempt: Attempt,
        written_at: Instant,
    },
}
