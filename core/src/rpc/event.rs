//! What an RPC channel reports to its owner.

use bytes::Bytes;
use serde_json::value::RawValue;

use super::{ErrorObject, Id, PeerError, RequestId};
use crate::handshake::Request as UpgradeRequest;
use crate::ws::{CloseInfo, ProtocolError};

/// Something that happened on a channel, drained with `poll_event`.
#[derive(Debug)]
pub enum Event {
    /// Server role: a request head arrived, an upgrade or a plain HTTP request; answer
    /// with `accept`, `reject` or `answer_http` (see the WebSocket layer's
    /// [`Event::Upgrade`](crate::ws::Event::Upgrade)).
    Upgrade(Box<UpgradeRequest>),
    /// The WebSocket is open; calls queued before now have been written.
    Open {
        /// The subprotocol both sides agreed on, if any.
        protocol: Option<String>,
    },
    /// The answer to one of our calls. The call is over.
    Response {
        /// The id `call` returned.
        id: RequestId,
        /// The result as raw JSON, or the peer's error object.
        result: Result<Box<RawValue>, ErrorObject>,
    },
    /// One of our calls ended without an answer. The call is over.
    Ended {
        /// The id `call` returned.
        id: RequestId,
        /// Why it ended.
        reason: EndReason,
    },
    /// The peer calls a method; answer with `respond(reply, …)`, in any order.
    Request {
        /// Where the answer goes; pass it back to `respond`.
        reply: ReplyTo,
        /// The method name.
        method: String,
        /// The params as raw JSON (an object or an array), if any.
        params: Option<Box<RawValue>>,
    },
    /// The peer calls a method and wants no answer.
    Notification {
        /// The method name.
        method: String,
        /// The params as raw JSON (an object or an array), if any.
        params: Option<Box<RawValue>>,
    },
    /// The peer sent something we could not use; already answered where the spec says so.
    /// The connection goes on.
    Invalid(PeerError),
    /// A pong arrived (the answer to `ping`).
    Pong(Bytes),
    /// The peer broke the WebSocket protocol; a close follows.
    WsError(ProtocolError),
    /// The connection is over. Every call still pending has ended before this event.
    Closed(CloseInfo),
    /// A message at least [`Config::parse_aside`](super::Config::parse_aside) long
    /// arrived: parse it ([`Unparsed::parse`], which takes time in proportion to its size)
    /// and hand it back with [`Channel::handle_parsed`](super::Channel::handle_parsed).
    /// Until then the channel takes no other message.
    Parse(Unparsed),
}

/// A message to parse, from [`Event::Parse`].
#[derive(Debug)]
pub struct Unparsed {
    pub(crate) text: String,
    pub(crate) max_batch: usize,
}

impl Unparsed {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether it is empty (it never is: it is at least `parse_aside` long).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Parses it, copying its params and results out: what
    /// [`Channel::handle_parsed`](super::Channel::handle_parsed) takes.
    pub fn parse(self) -> Parsed {
        Parsed(super::message::parse(&self.text, self.max_batch).into_owned())
    }
}

/// A parsed message, for [`Channel::handle_parsed`](super::Channel::handle_parsed).
#[derive(Debug)]
pub struct Parsed(pub(crate) super::message::Parsed<Box<RawValue>>);

/// Why a call ended without an answer: the one reason type of the core, in an
/// [`Channel`](super::Channel)'s [`Event::Ended`] and a
/// [`Session`](crate::session::Session)'s (which re-exports it). Each variant says when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Its deadline passed; for a session's call, time waiting in the queue counts. A late
    /// answer is dropped (a channel counts it in [`Stats::unknown_responses`]).
    TimedOut,
    /// We cancelled it. A late answer is dropped.
    Cancelled,
    /// The connection it was written on closed before the answer came: a channel's
    /// connection, or a session's link when the call had no re-sends left.
    ConnectionLost {
        /// The request had been handed to the WebSocket layer: the peer may have run it.
        sent: bool,
    },
    /// The session gave up reconnecting before the call could be sent. Only from a
    /// session.
    Failed,
    /// The session was closed by its owner before the call could be sent. Only from a
    /// session or a [`Pool`](crate::pool::Pool) (its `shutdown`).
    Closed,
    /// No link to the node could be opened (the connection or its upgrade failed, or took
    /// longer than the connect timeout): the call was never sent. Back off before calling
    /// that node again. Only from a [`Pool`](crate::pool::Pool).
    Unreachable,
}

/// Where the answer to one incoming request goes. Not `Clone`: a request is answered once.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyTo {
    pub(crate) id: Id,
    /// The batch and the position in it, for requests that came in a batch.
    pub(crate) slot: Option<(u64, usize)>,
}

impl ReplyTo {
    /// The id the peer gave the request.
    pub fn id(&self) -> &Id {
        &self.id
    }

    /// Whether the request came in a batch (its answer goes out with the others).
    pub fn in_batch(&self) -> bool {
        self.slot.is_some()
    }
}

/// Counters of one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Our calls waiting for an answer now.
    pub in_flight: usize,
    /// Answers that matched no pending call (late after a timeout or cancel, duplicated,
    /// or another party's id): dropped.
    pub unknown_responses: u64,
    /// Text messages or batch entries that were not valid JSON-RPC.
    pub invalid_messages: u64,
    /// Binary messages dropped.
    pub binary_messages: u64,
    /// Calls that ended at their deadline.
    pub timed_out: u64,
}
