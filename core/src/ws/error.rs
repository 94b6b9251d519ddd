//! Errors of one connection: the peer's faults and our misuse.

use crate::frame::{CloseCode, FrameError, Utf8Error};
use crate::handshake::HandshakeError;

/// The peer broke RFC 6455 or one of our limits; the connection is being failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The opening handshake was invalid.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// A frame broke the framing rules.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// A text message or close reason was not UTF-8.
    #[error("{0}")]
    Utf8(#[from] Utf8Error),
    /// A continuation frame arrived with no message to continue.
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new data frame arrived while a fragmented message was in progress.
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,
    /// A message grew past `max_message_size`.
    #[error("message of at least {size} bytes exceeds the limit of {max}")]
    MessageTooBig {
        /// Bytes the message has or announces so far.
        size: u64,
        /// The configured limit.
        max: usize,
    },
    /// A compressed message is not a valid deflate stream (RFC 7692 §7.2.2).
    #[error("compressed message does not inflate")]
    BadCompression,
    /// A close frame had a 1-byte payload or a code not allowed on the wire.
    #[error("invalid close frame")]
    InvalidClose,
    /// The peer ended the transport before closing (EOF mid-handshake or mid-message).
    #[error("transport ended before the close handshake")]
    UnexpectedEof,
    /// A client sent more than a handshake's worth of bytes before its upgrade was accepted.
    #[error("data before the upgrade was accepted")]
    DataBeforeAccept,
    /// The opening handshake did not finish in time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The peer sent nothing at all, not even a pong to our pings, for the heartbeat's
    /// timeout ([`Config::heartbeat`](super::Config::heartbeat)).
    #[error("the peer was silent past the idle timeout")]
    IdleTimeout,
}

impl ProtocolError {
    /// The close code this error is answered with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            // The frames are well formed; their payload is not what the message must be.
            ProtocolError::Utf8(_) | ProtocolError::BadCompression => CloseCode::INVALID_PAYLOAD,
            ProtocolError::MessageTooBig { .. } => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::Frame(FrameError::TooLarge { .. }) => CloseCode::MESSAGE_TOO_BIG,
            ProtocolError::IdleTimeout => CloseCode::GOING_AWAY,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

/// A command we gave the connection cannot be carried out. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The opening handshake has not finished yet.
    #[error("the connection is not open yet")]
    NotOpen,
    /// We or the peer started closing; no more data can be sent.
    #[error("the connection is closing")]
    Closing,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// Control payloads (ping, pong, close reason + 2) are limited to 125 bytes.
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlTooLong(usize),
    /// That close code may not be sent on the wire (e.g. 1005, 1006).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// `accept`/`reject` outside of a pending server upgrade.
    #[error("no upgrade request is waiting for an answer")]
    NoPendingUpgrade,
    /// An accept response could not be built (invalid header bytes).
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
}
