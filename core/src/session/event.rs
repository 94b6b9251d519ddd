//! What a session reports to its owner.

use serde_json::value::RawValue;

use super::{Attempt, CallId, EndReason, State};
use crate::rpc::ErrorObject;

/// Something that happened in a session, drained with
/// [`poll_event`](super::Session::poll_event).
#[derive(Debug)]
pub enum Event {
    /// Open a transport to the server (TCP, plus TLS for `wss`), then report it with
    /// [`transport_open`](super::Session::transport_open) or
    /// [`transport_failed`](super::Session::transport_failed).
    Connect {
        /// The name to give that transport's inputs.
        attempt: Attempt,
    },
    /// Drop this transport, after writing (best effort) the bytes already taken from
    /// `poll_transmit`. Its inputs would be ignored from now on.
    Disconnect {
        /// The transport to drop.
        attempt: Attempt,
    },
    /// The session moved to this state.
    State(State),
    /// The open link stopped answering: it is being dropped and a new one will be tried.
    HeartbeatTimeout {
        /// The link that went silent.
        attempt: Attempt,
    },
    /// The answer to one of our calls. The call is over.
    Response {
        /// The id `call` returned.
        id: CallId,
        /// The result as raw JSON, or the server's error object.
        result: Result<Box<RawValue>, ErrorObject>,
    },
    /// One of our calls ended without an answer. The call is over.
    Ended {
        /// The id `call` returned.
        id: CallId,
        /// Why it ended.
        reason: EndReason,
    },
    /// The server sent a notification.
    Notification {
        /// The method name.
        method: String,
        /// The params as raw JSON (an object or an array), if any.
        params: Option<Box<RawValue>>,
    },
}
