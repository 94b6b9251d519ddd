//! What a [`Pool`](super::Pool) reports to its owner.

use serde_json::value::RawValue;

use super::{LinkId, NodeId, PeerState};
use crate::handshake::{HttpResponse, Request};
use crate::rpc::{EndReason, ErrorObject, ReplyTo, Unparsed};
use crate::session::CallId;

/// Something that happened in a pool, drained with [`Pool::poll_event`](super::Pool::poll_event).
#[derive(Debug)]
pub enum Event {
    /// Open a transport to `node` for `link`; report it with
    /// [`transport_open`](super::Pool::transport_open) or
    /// [`transport_failed`](super::Pool::transport_failed).
    Connect {
        /// The link the transport is for.
        link: LinkId,
        /// Whom to dial.
        node: NodeId,
    },
    /// The link is over: take its last bytes ([`poll_transmit`](super::Pool::poll_transmit)
    /// until `None`), then drop its transport. Its id never names anything again.
    Disconnect {
        /// The link that ended.
        link: LinkId,
    },
    /// A peer's request head arrived on an accepted link (only with
    /// [`Config::hold_upgrades`](super::Config::hold_upgrades)): decide it with
    /// [`admit`](super::Pool::admit).
    Upgrade {
        /// The accepted link it came on.
        link: LinkId,
        /// The request: an upgrade, or a plain HTTP request.
        request: Box<Request>,
    },
    /// A node's link came up, or went down.
    Peer {
        /// The node.
        node: NodeId,
        /// Its state now.
        state: PeerState,
    },
    /// The answer to one of our calls. The call is over.
    Response {
        /// The id `call` returned.
        call: CallId,
        /// The node that answered.
        node: NodeId,
        /// The result as raw JSON, or the node's error object.
        result: Result<Box<RawValue>, ErrorObject>,
    },
    /// One of our calls ended without an answer. The call is over.
    Ended {
        /// The id `call` returned.
        call: CallId,
        /// The node it was for.
        node: NodeId,
        /// Why: [`EndReason::Unreachable`] if no link could be opened,
        /// [`EndReason::ConnectionLost`] if the link was lost, [`EndReason::TimedOut`], …
        reason: EndReason,
    },
    /// A peer calls one of our methods; answer with [`respond`](super::Pool::respond) on
    /// the same link.
    Request {
        /// The link it came on.
        link: LinkId,
        /// The calling node, or `None` for a client that did not name one.
        node: Option<NodeId>,
        /// Where the answer goes.
        reply: ReplyTo,
        /// The method name.
        method: String,
        /// The params as raw JSON, if any.
        params: Option<Box<RawValue>>,
    },
    /// A large message came on `link` (at least `rpc.parse_aside`): parse it where the
    /// time that takes holds up nothing else ([`Unparsed::parse`]) and hand it back with
    /// [`handle_parsed`](super::Pool::handle_parsed). The link takes no other message
    /// until then.
    Parse {
        /// The link it came on.
        link: LinkId,
        /// The message.
        unparsed: Unparsed,
    },
    /// A peer notifies us.
    Notification {
        /// The link it came on.
        link: LinkId,
        /// The node, or `None` for a client that did not name one.
        node: Option<NodeId>,
        /// The method name.
        method: String,
        /// The params as raw JSON, if any.
        params: Option<Box<RawValue>>,
    },
}

/// How the owner answers an [`Event::Upgrade`], with [`Pool::admit`](super::Pool::admit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Let the pool decide as it would have: accept it (registering the node it names),
    /// or refuse it (a bad node id, a crossing dial, shutting down, not an upgrade).
    Accept,
    /// Refuse it with this HTTP status.
    Reject(u16),
    /// Answer it with a plain HTTP response (a refusal with headers, or a page).
    Answer(HttpResponse),
}
