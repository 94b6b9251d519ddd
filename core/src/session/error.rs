//! Why a call or notification was refused.

/// A call or notification was not accepted. Nothing was queued or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The queue of unsent items is at one of its [`QueueLimits`](super::QueueLimits).
    #[error("queue full: {messages} messages, {bytes} bytes waiting")]
    QueueFull {
        /// Items waiting in the queue.
        messages: usize,
        /// Their encoded size.
        bytes: usize,
    },
    /// The session gave up reconnecting ([`State::Failed`](super::State::Failed)).
    #[error("the session gave up reconnecting")]
    Failed,
    /// The session was closed by its owner.
    #[error("the session is closed")]
    Closed,
    /// JSON-RPC params must be an object or an array.
    #[error("params must be a JSON object or array")]
    InvalidParams,
}
