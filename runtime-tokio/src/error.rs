//! What can go wrong: on an open connection ([`Error`]), while opening one
//! ([`ConnectError`]), and in a URL ([`UrlError`]).

use std::io;
use std::sync::Arc;

use tether_core::handshake::HandshakeError;
use tether_core::ws::{ProtocolError, SendError};
use tether_tls::TlsError;

/// A command on an open [`WebSocket`](crate::WebSocket) could not be carried out.
///
/// Cheap to clone, so one failure can be handed to every waiter.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The connection is closed; nothing more can be sent.
    #[error("the connection is closed")]
    Closed,
    /// We or the peer started the closing handshake; no more data can be sent.
    #[error("the connection is closing")]
    Closing,
    /// The core refused the command (an over-long ping payload, a close code that may not
    /// be sent …). Nothing was queued and the connection is unaffected.
    #[error(transparent)]
    Send(SendError),
    /// The socket failed; the connection is gone.
    #[error("socket error: {0}")]
    Io(Arc<io::Error>),
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Closing => Error::Closing,
            SendError::Closed => Error::Closed,
            other => Error::Send(other),
        }
    }
}

/// [`connect`](crate::connect) did not produce an open connection.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL could not be used.
    #[error("invalid URL: {0}")]
    InvalidUrl(#[from] UrlError),
    /// The URL's scheme is neither `ws` nor `wss`.
    #[error("unsupported URL scheme {0:?} (expected \"ws\" or \"wss\")")]
    UnsupportedScheme(String),
    /// The TCP connect, the TLS handshake and the opening handshake together took longer than
    /// [`ClientConfig::connect_timeout`](crate::ClientConfig::connect_timeout) (or the core's
    /// handshake timeout).
    #[error("connect timed out")]
    Timeout,
    /// Resolving, connecting, reading or writing failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// `wss://` only: TLS failed, for the reason given (the server's certificate is not
    /// trusted, has expired or names another host; the server refused our client
    /// certificate or wanted one …).
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The upgrade request could not be built, or the server's response was not a valid
    /// WebSocket upgrade.
    #[error("handshake failed: {0}")]
    Handshake(HandshakeError),
    /// The server accepted the upgrade, then broke the protocol before we saw it open.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The server answered the upgrade with an HTTP status other than 101.
    #[error("the server refused the upgrade with HTTP status {status}")]
    Rejected {
        /// The HTTP status the server sent.
        status: u16,
    },
    /// The server closed the connection before the handshake finished.
    #[error("the connection closed during the handshake")]
    ClosedDuringHandshake,
}

/// Why a URL cannot name a WebSocket server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The text is not a URL.
    #[error("{0}")]
    Parse(#[from] url::ParseError),
    /// The URL has no host to connect to.
    #[error("missing host")]
    MissingHost,
    /// WebSocket URLs may not carry a fragment (RFC 6455 §3).
    #[error("a WebSocket URL may not have a fragment")]
    Fragment,
    /// Credentials in the URL are not sent anywhere; pass an `Authorization` header in
    /// [`ClientConfig::headers`](crate::ClientConfig::headers) instead.
    #[error("credentials in the URL are not supported; use an Authorization header")]
    Credentials,
}
