//! How a call can end other than with its result: [`CallError`].

use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::rpc::{self, EndReason, ErrorObject};

/// A client's `call` or `notify` that did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server answered with a JSON-RPC error.
    #[error("the server answered with error {}: {}", .0.code, .0.message)]
    Rpc(ErrorObject),
    /// No answer came before the call's deadline. A late answer is dropped.
    #[error("the call timed out")]
    Timeout,
    /// The call was cancelled. JSON-RPC has no cancel message: the server may still run it.
    #[error("the call was cancelled")]
    Cancelled,
    /// The connection ended before the answer came.
    #[error("the connection was lost (request sent: {sent})")]
    ConnectionLost {
        /// The request had been written: the server may have run it.
        sent: bool,
    },
    /// [`RpcConfig::max_in_flight`](super::RpcConfig::max_in_flight) calls are already
    /// waiting for an answer; nothing was sent. Retry once one ends.
    #[error("too many calls in flight")]
    Busy,
    /// The connection is closing or closed; nothing was sent.
    #[error("the connection is closed")]
    Closed,
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
        }
    }
}

impl From<rpc::CallError> for CallError {
    fn from(error: rpc::CallError) -> Self {
        match error {
            rpc::CallError::Busy(_) => CallError::Busy,
            rpc::CallError::Closing | rpc::CallError::Closed => CallError::Closed,
            rpc::CallError::InvalidParams => CallError::Params(not_structured()),
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
