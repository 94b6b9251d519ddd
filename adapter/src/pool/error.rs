//! A call through the pool that did not produce a result: [`NodeError`].

use tether_core::pool::NodeId;

use crate::rpc::CallError;

/// A call to a node that did not produce a result: which node, and why.
///
/// What the why means for a caller that retries, such as Raft:
/// [`CallError::Unreachable`] (no link could be opened: back off),
/// [`CallError::ConnectionLost`] (the link was lost; `sent` says whether the node may
/// have run it), [`CallError::Timeout`], [`CallError::Rpc`] (the node answered with an
/// error object).
#[derive(Debug, thiserror::Error)]
#[error("{node}: {error}")]
pub struct NodeError {
    /// The node called.
    pub node: NodeId,
    /// What happened.
    #[source]
    pub error: CallError,
}

impl NodeError {
    pub(crate) fn new(node: NodeId, error: impl Into<CallError>) -> NodeError {
        NodeError {
            node,
            error: error.into(),
        }
    }
}
