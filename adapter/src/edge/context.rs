//! What a handler learns of its caller: [`Context`], [`ConnectionId`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Identity;

/// A connection of this process, for logs, metrics and per-connection state: unique
/// among every connection any server of this process accepted or any pool dialed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnectionId(u64);

impl ConnectionId {
    /// The next id of this process.
    pub(crate) fn next() -> ConnectionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn-{}", self.0)
    }
}

/// Who calls a handler, and on which connection: what
/// [`route_with_context`](crate::rpc::Server::route_with_context) handlers get with their
/// params, and what a WebSocket a server accepted carries
/// ([`WebSocket::context`](crate::WebSocket::context)).
///
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Context {
    identity: Identity,
    peer_addr: Option<SocketAddr>,
    connection: ConnectionId,
}

impl Context {
    /// A context as a server builds it (public for testing handlers on their own).
    pub fn new(
        identity: Identity,
        peer_addr: Option<SocketAddr>,
        connection: ConnectionId,
    ) -> Context {
        Context {
            identity,
            peer_addr,
            connection,
        }
    }

    /// Who the caller is, as the server's [`Hook`](super::Hook) decided when it accepted
    /// the connection ([`Identity::anonymous`] without a hook, and on a link a pool dialed).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The peer's address, on a connection a server accepted (`None` on a link a pool
    /// dialed: the peer is who it was dialed as).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }

    /// The connection the call came on.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }
}
