//! What can go wrong while opening a connection: [`ConnectError`]. What can go wrong on an
//! open one ([`Error`]) and in a URL ([`UrlError`]) is shared with every adapter.

use std::io;

pub use tether_adapter::{Error, UrlError};
use tether_core::handshake::HandshakeError;
use tether_core::ws::ProtocolError;
use tether_tls::TlsError;

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
