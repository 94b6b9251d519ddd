//! Why an upgrade failed.

use super::ExtensionError;

/// A handshake the other side got wrong, or a request we could not build.
///
/// Variants are grouped by who is at fault: the peer's request or response (the parse
/// errors), or our own caller (the `Invalid*` variants, returned by the encoders before
/// anything is written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The head is not valid HTTP/1.x.
    #[error("malformed HTTP head: {0}")]
    Malformed(httparse::Error),
    /// The head has more header fields than we are willing to parse.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The head did not end within `max` bytes.
    #[error("HTTP head longer than {max} bytes")]
    HeadTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The peer spoke HTTP/1.0; an upgrade needs HTTP/1.1 or later.
    #[error("HTTP version must be at least 1.1")]
    HttpVersion,
    /// The request method was not `GET`.
    #[error("request method must be GET")]
    MethodNotGet,
    /// A required header field is absent.
    #[error("missing header field {0}")]
    MissingHeader(&'static str),
    /// `Upgrade` does not list `websocket`.
    #[error("Upgrade header does not name websocket")]
    UpgradeNotWebSocket,
    /// `Connection` does not list `upgrade`.
    #[error("Connection header does not contain the upgrade token")]
    ConnectionNotUpgrade,
    /// `Sec-WebSocket-Version` is not `13`.
    #[error("unsupported WebSocket version (only 13 is supported)")]
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is repeated or is not the base64 of 16 bytes.
    #[error("Sec-WebSocket-Key is not the base64 of 16 bytes")]
    BadKey,
    /// A `Sec-WebSocket-Protocol` element in the request is not a token.
    #[error("invalid subprotocol {0:?} in request")]
    BadProtocol(String),
    /// The server answered with a status other than `101 Switching Protocols`.
    #[error("server answered with status {0} instead of 101")]
    BadStatus(u16),
    /// `Sec-WebSocket-Accept` is repeated or does not match our key.
    #[error("Sec-WebSocket-Accept does not match the key")]
    BadAccept,
    /// The server chose a subprotocol we did not offer (or several, or one when we offered none).
    #[error("server chose subprotocol {0:?}, which was not offered")]
    UnofferedProtocol(String),
    /// The server enabled an extension we did not offer (any at all, if we offered none).
    #[error("server enabled extensions {0:?}, which were not offered")]
    UnofferedExtension(String),
    /// The server's permessage-deflate answer is not one RFC 7692 allows for our offer.
    #[error("permessage-deflate: {0}")]
    Extension(#[from] ExtensionError),
    /// We were asked to send a header name that is not an HTTP token.
    #[error("invalid header name {0:?}")]
    InvalidHeaderName(String),
    /// We were asked to send a header value with control bytes (CR, LF, NUL …).
    /// Only the name is kept: values such as `Authorization` may be secret.
    #[error("invalid value for header {name:?}")]
    InvalidHeaderValue {
        /// The header whose value was refused.
        name: String,
    },
    /// We were asked to request a path that does not start with `/` or has spaces or
    /// control bytes.
    #[error("invalid request path {0:?}")]
    InvalidPath(String),
    /// We were asked to offer or choose a subprotocol that is not an HTTP token.
    #[error("invalid subprotocol name {0:?}")]
    InvalidProtocol(String),
    /// We were asked to answer with a status that cannot end an HTTP exchange (not in
    /// 200..=999).
    #[error("invalid response status {0}")]
    InvalidStatus(u16),
}

impl HandshakeError {
    /// The HTTP status a server answers this error with (400, 405, 426, 431 …).
    ///
    /// Errors only a client can see (a bad response) map to 400 for want of anything
    /// better; the `Invalid*` errors are the local side's fault and map to 500.
    pub fn http_status(&self) -> u16 {
        match self {
            HandshakeError::MethodNotGet => 405,
            HandshakeError::UnsupportedVersion => 426,
            HandshakeError::HeadTooLarge { .. } | HandshakeError::TooManyHeaders => 431,
            HandshakeError::HttpVersion => 505,
            HandshakeError::InvalidHeaderName(_)
            | HandshakeError::InvalidHeaderValue { .. }
            | HandshakeError::InvalidPath(_)
            | HandshakeError::InvalidProtocol(_)
            | HandshakeError::InvalidStatus(_) => 500,
            HandshakeError::Malformed(_)
            | HandshakeError::MissingHeader(_)
            | HandshakeError::UpgradeNotWebSocket
            | HandshakeError::ConnectionNotUpgrade
            | HandshakeError::BadKey
            | HandshakeError::BadProtocol(_)
            | HandshakeError::BadStatus(_)
            | HandshakeError::BadAccept
            | HandshakeError::UnofferedProtocol(_)
            | HandshakeError::UnofferedExtension(_)
            | HandshakeError::Extension(_) => 400,
        }
    }
}
