//! What a connection reports to its owner.

use bytes::Bytes;

use super::{Message, ProtocolError};
use crate::frame::CloseCode;
use crate::handshake::Request;

/// Something that happened on a connection, drained with `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server role: a request head arrived: a valid upgrade, or a plain HTTP request
    /// ([`Request::upgrade`] says which). Answer with `accept` (which answers a plain
    /// request with its error's status), `reject`, or `answer_http`. Boxed: it happens
    /// once per connection, and keeps every other event small.
    Upgrade(Box<Request>),
    /// The opening handshake finished; messages can flow. Carries the agreed subprotocol.
    Open {
        /// The subprotocol both sides agreed on, if any.
        protocol: Option<String>,
    },
    /// A complete message arrived.
    Message(Message),
    /// A ping arrived (it has already been answered with a pong).
    Ping(Bytes),
    /// A pong arrived.
    Pong(Bytes),
    /// The peer broke the protocol. A close frame with the matching code follows.
    Error(ProtocolError),
    /// The connection is over: nothing more will be sent or received. The owner writes what
    /// `poll_transmit` still has, then shuts the socket.
    Closed(CloseInfo),
}

/// Who started closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// We sent the first close frame, or failed the connection.
    Local,
    /// The peer sent the first close frame.
    Remote,
    /// Neither: the transport ended (EOF) or a timer expired.
    Transport,
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// The code of the close that ended the connection: the peer's if it closed first (1005
    /// if its frame had no code), ours if we closed first or failed the connection, 1006 if
    /// the transport ended or a timer expired before a close frame arrived.
    pub code: CloseCode,
    /// The reason that went with `code`.
    pub reason: String,
    /// Who started the close.
    pub initiator: Initiator,
    /// The closing handshake completed: both close frames were exchanged and neither side
    /// failed the connection. `false` after a protocol error, a timeout or an EOF.
    pub clean: bool,
}
