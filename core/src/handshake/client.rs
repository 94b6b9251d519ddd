//! The client half: build the upgrade request, validate the server's response.

use bytes::BytesMut;

use super::HandshakeError;
use crate::rng::Rng;

/// What a client asks for when it opens a WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRequest {
    /// The `Host` header: `host` or `host:port`.
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Extra headers sent as given (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    /// Subprotocols offered, in order of preference.
    pub protocols: Vec<String>,
}

impl ClientRequest {
    /// Appends the HTTP request to `out`, using `key` as `Sec-WebSocket-Key`.
    /// Header names or values with CR, LF or other invalid bytes are an error.
    pub fn encode(&self, _key: &str, _out: &mut BytesMut) -> Result<(), HandshakeError> {
        todo!()
    }
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64.
pub fn generate_key(_rng: &mut Rng) -> String {
    todo!()
}

/// A server's successful `101 Switching Protocols` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// All response headers, names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The subprotocol the server chose, one of those offered.
    pub protocol: Option<String>,
}

/// Parses and validates the server's response to a request sent with `key` offering
/// `protocols`. `Ok(None)` until the head is complete; an error if it is longer than `max_size`.
pub fn parse_response(
    _buf: &[u8],
    _key: &str,
    _protocols: &[String],
    _max_size: usize,
) -> Result<Option<(Response, usize)>, HandshakeError> {
    todo!()
}
