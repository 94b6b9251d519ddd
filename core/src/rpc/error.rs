//! Errors of the RPC layer: our misuse (typed, nothing queued) and the peer's faults.

/// Why a call or notification was refused: nothing was queued or sent, and a call got no
/// id. The one refusal of the core, returned by both [`Channel`](super::Channel) and
/// [`Session`](crate::session::Session) (which re-exports it); each variant says which.
///
/// Named for what happened rather than `Refused`: it covers notifications too, and
/// `Refused` stays the adapter's name for everything that can end a call
/// (`tether_adapter::rpc::Refused`, which this converts into).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `max_in_flight` calls are already waiting for an answer; retry after one ends.
    /// Only a [`Channel`](super::Channel)'s `call` returns it: a session's calls past
    /// the bound wait in its queue instead.
    #[error("busy: {0} calls already in flight")]
    Busy(usize),
    /// The queue of unsent items is at one of its
    /// [`QueueLimits`](crate::session::QueueLimits). Only a session returns it.
    #[error("queue full: {messages} messages, {bytes} bytes waiting")]
    QueueFull {
        /// Items waiting in the queue.
        messages: usize,
        /// Their encoded size.
        bytes: usize,
    },
    /// We or the peer started closing the WebSocket: no new calls. Only an
    /// [`Channel`](super::Channel) returns it.
    #[error("the connection is closing")]
    Closing,
    /// A [`Channel`](super::Channel)'s connection is closed, or a session was closed by
    /// its owner.
    #[error("the connection or session is closed")]
    Closed,
    /// The session gave up reconnecting
    /// ([`State::Failed`](crate::session::State::Failed)). Only a session returns it.
    #[error("the session gave up reconnecting")]
    Failed,
    /// JSON-RPC params must be an object or an array. Both return it.
    #[error("params must be a JSON object or array")]
    InvalidParams,
}

/// A reply could not be sent. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// The connection is closing or closed: the peer will never read the reply.
    #[error("the connection is closed")]
    Closed,
    /// The handle belongs to a batch this channel does not know (another channel's handle).
    #[error("no such request on this channel")]
    UnknownRequest,
}

/// Something the peer sent that we could not use. Where the spec asks for an answer
/// (`-32700`, `-32600`) it has already been sent; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// A text message that is not JSON (answered `-32700`).
    #[error("message is not JSON")]
    NotJson,
    /// A request that breaks the spec (answered `-32600`).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// A response that breaks the spec; there is nobody to answer, so it is dropped.
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// A binary message: the protocol is text only, so it is dropped.
    #[error("binary message on a JSON-RPC connection")]
    Binary,
}
