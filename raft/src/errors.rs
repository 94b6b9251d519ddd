//! What openraft is told when a call through the pool fails: the table is on
//! [`Client`](crate::Client).

use std::time::Duration;

use openraft::error::{NetworkError, RPCError, StreamingError, Timeout, Unreachable};
use openraft::{RPCTypes, RaftTypeConfig};
use tether_adapter::pool::NodeError;
use tether_adapter::rpc::CallError;

/// What a failed call was: for the [`Timeout`] openraft wants.
#[derive(Debug, Clone)]
pub(crate) struct Attempt<C: RaftTypeConfig> {
    pub(crate) action: RPCTypes,
    pub(crate) from: C::NodeId,
    pub(crate) target: C::NodeId,
    pub(crate) timeout: Duration,
}

/// A failed call as openraft's [`RPCError`].
pub(crate) fn rpc_error<C: RaftTypeConfig>(attempt: Attempt<C>, error: NodeError) -> RPCError<C> {
    match error.error {
        CallError::Timeout => RPCError::Timeout(Timeout {
            action: attempt.action,
            id: attempt.from,
            target: attempt.target,
            timeout: attempt.timeout,
        }),
        CallError::ConnectionLost { .. } => RPCError::Network(NetworkError::new(&error)),
        CallError::Rpc(ref object) => RPCError::Unreachable(Unreachable::from_string(format!(
            "node {} answered error {}: {}",
            error.node, object.code, object.message
        ))),
        _ => RPCError::Unreachable(Unreachable::new(&error)),
    }
}

/// A failed snapshot chunk as openraft's [`StreamingError`].
pub(crate) fn streaming_error<C: RaftTypeConfig>(
    attempt: Attempt<C>,
    error: NodeError,
) -> StreamingError<C> {
    rpc_error(attempt, error).into()
}
