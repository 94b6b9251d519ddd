//! How a call can end other than with its result: [`CallError`].

use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::rpc::ErrorObject;
use tether_core::session::{EndReason, Refused};

/// A [`Client::call`](super::Client::call) or [`notify`](super::Client::notify) that did
/// not produce a result. The one error of a call on every runtime.
///
/// The client is a reconnecting session, so a lost connection is not the end: calls made
/// while it is down wait in its queue. What ends a call without its result is one of these.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server answered with a JSON-RPC error.
    #[error("the server answered with error {}: {}", .0.code, .0.message)]
    Rpc(ErrorObject),
    /// No answer came before the call's deadline, which runs from the call, time spent
    /// waiting in the queue for a connection included. A late answer is dropped.
    #[error("the call timed out")]
    Timeout,
    /// The call was cancelled. JSON-RPC has no cancel message: the server may still run it.
    #[error("the call was cancelled")]
    Cancelled,
    /// The connection the request was written on was lost before the answer came, and the
    /// call may not be re-sent ([`Retry::Never`](super::Retry::Never), or its re-sends are
    /// used up). The client itself reconnects; only this call is over.
    #[error("the connection was lost (request sent: {sent})")]
    ConnectionLost {
        /// The request had been written: the server may have run it.
        sent: bool,
    },
    /// The queue of calls and notifications waiting for a connection is at one of its
    /// [`QueueLimits`](super::QueueLimits); nothing was queued. Retry later, or raise the
    /// limits.
    #[error("the queue is full: {messages} messages, {bytes} bytes waiting")]
    QueueFull {
        /// Calls and notifications waiting in the queue.
        messages: usize,
        /// Their encoded size.
        bytes: usize,
    },
    /// The client gave up reconnecting after
    /// [`Backoff::max_attempts`](super::Backoff::max_attempts) failed attempts in a row
    /// ([`State::Failed`](super::State::Failed)): nothing is sent any more, and calls still
    /// queued ended with this. Make a new client to try again.
    #[error("the client gave up reconnecting")]
    Failed,
    /// The client was closed ([`Client::close`](super::Client::close)), or the pool shut
    /// down; nothing was sent.
    #[error("the client is closed")]
    Closed,
    /// A pool could not open a link to the node (connect, upgrade or connect timeout
    /// failed): nothing was sent. Back off before calling it again.
    #[error("the node is unreachable")]
    Unreachable,
    /// The params could not be serialized, or are not a JSON object or array (as
    /// JSON-RPC requires; `()` sends none). Nothing was sent.
    #[error("cannot encode the params: {0}")]
    Params(serde_json::Error),
    /// The result did not deserialize into the type asked for.
    #[error("cannot decode the result: {0}")]
    Result(serde_json::Error),
}

impl From<EndReason> for CallError {
    fn from(reason: EndReason) -> Self {
        match reason {
            EndReason::TimedOut => CallError::Timeout,
            EndReason::Cancelled => CallError::Cancelled,
            EndReason::ConnectionLost { sent } => CallError::ConnectionLost { sent },
            EndReason::Failed => CallError::Failed,
            EndReason::Closed => CallError::Closed,
            EndReason::Unreachable => CallError::Unreachable,
        }
    }
}

impl From<Refused> for CallError {
    fn from(refused: Refused) -> Self {
        match refused {
            Refused::QueueFull { messages, bytes } => CallError::QueueFull { messages, bytes },
            Refused::Failed => CallError::Failed,
            Refused::Closed => CallError::Closed,
            Refused::InvalidParams => CallError::Params(not_structured()),
            // Only a bare `rpc::Channel` returns these; the client is a session, which
            // queues calls past `max_in_flight` and never closes half-way. So no variant of
            // our own, which could never occur: the nearest ones. Busy is a full bound on
            // waiting calls (its byte count unknown), Closing a link going away.
            Refused::Busy(messages) => CallError::QueueFull { messages, bytes: 0 },
            Refused::Closing => CallError::Closed,
        }
    }
}

/// The error for params that are JSON but not an object or an array.
fn not_structured() -> serde_json::Error {
    <serde_json::Error as serde::ser::Error>::custom("params must be a JSON object or array")
}

/// Params as raw JSON for the core: `None` for `()` (no params), else an object or an
/// array; anything else is [`CallError::Params`] (JSON-RPC allows no other params).
///
/// ```
/// use tether_adapter::rpc::{encode_params, CallError};
///
/// assert_eq!(encode_params(&(1, 2))?.map(|raw| raw.get().to_owned()), Some("[1,2]".into()));
/// assert!(encode_params(&())?.is_none());
/// assert!(matches!(encode_params(&7), Err(CallError::Params(_))));
/// # Ok::<(), CallError>(())
/// ```
pub fn encode_params<P: Serialize + ?Sized>(
    params: &P,
) -> Result<Option<Box<RawValue>>, CallError> {
    let raw = serde_json::value::to_raw_value(params).map_err(CallError::Params)?;
    match raw.get().as_bytes().first() {
        Some(b'{' | b'[') => Ok(Some(raw)),
        _ if raw.get() == "null" => Ok(None),
        _ => Err(CallError::Params(not_structured())),
    }
}
