//! The server half: parse and validate an upgrade request, then accept or reject it.

use bytes::BytesMut;

use super::HandshakeError;

/// A valid WebSocket upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request target (path and query).
    pub path: String,
    /// All request headers, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The client's `Sec-WebSocket-Key`.
    pub key: String,
    /// Subprotocols the client offered, in its order.
    pub protocols: Vec<String>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, _name: &str) -> Option<&[u8]> {
        todo!()
    }
}

/// Parses and validates an upgrade request. `Ok(None)` until the head is complete; an error
/// if it is longer than `max_size` or is not a valid WebSocket upgrade.
pub fn parse_request(
    _buf: &[u8],
    _max_size: usize,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    todo!()
}

/// Appends the `101 Switching Protocols` response for `key`, naming `protocol` if chosen,
/// plus `headers`. Invalid header bytes are an error.
pub fn encode_accept(
    _key: &str,
    _protocol: Option<&str>,
    _headers: &[(String, String)],
    _out: &mut BytesMut,
) -> Result<(), HandshakeError> {
    todo!()
}

/// Appends an HTTP error response with `status` (and `Sec-WebSocket-Version: 13` on 426).
pub fn encode_reject(_status: u16, _out: &mut BytesMut) {
    todo!()
}
