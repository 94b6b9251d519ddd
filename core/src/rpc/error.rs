//! Errors of the RPC layer: our misuse (typed, nothing queued) and the peer's faults.

/// A call or notification could not be queued. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// `max_in_flight` calls are already waiting for an answer; retry after one ends.
    #[error("busy: {0} calls already in flight")]
    Busy(usize),
    /// We or the peer started closing: no new calls.
    #[error("the connection is closing")]
    Closing,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// JSON-RPC params must be an object or an array.
    #[error("params must be a JSON object or array")]
    InvalidParams,
}

/// A reply could not be sent. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// The connection is closing or closed: the peer will never read the reply.
    #[error("the connection is closed")]
    Closed,
    /// The handle belongs to a batch this endpoint does not know (another endpoint's handle).
    #[error("no such request on this endpoint")]
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
