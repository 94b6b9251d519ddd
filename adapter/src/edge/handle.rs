//! A running server, from outside: [`ServerHandle`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Edge;

/// A handle on a running server ([`Server::handle`](crate::Server::handle),
/// [`rpc::Server::handle`](crate::rpc::Server::handle)): how many connections it holds,
/// and its graceful shutdown. Cheap to clone; it outlives the server.
#[derive(Clone)]
pub struct ServerHandle {
    edge: Arc<Edge>,
    /// The runtime's clock (`Runtime::now`), which tests may pause.
    now: fn() -> Instant,
}

impl ServerHandle {
    pub(crate) fn new(edge: Arc<Edge>, now: fn() -> Instant) -> ServerHandle {
        ServerHandle { edge, now }
    }

    /// Connections the server holds now, counted against its
    /// [`Admission`](crate::Admission) limits: from TCP accept to close, handshakes
    /// included, refusals not. A connection of [`Server::serve`](crate::Server::serve)
    /// counts until its handler has returned too (or was dropped at a shutdown's grace).
    pub fn connections(&self) -> usize {
        self.edge.open()
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.edge.stopping().is_some()
    }

    /// Shuts the server down gracefully, and returns once every connection has ended:
    ///
    /// 1. it stops accepting: the listening socket closes (`serve` returns once the last
    ///    connection is gone; `accept` returns an error), and an upgrade under way is
    ///    answered `503` with `Retry-After`;
    /// 2. a JSON-RPC connection reads no more requests, and the handlers running get
    ///    until `grace` has passed to finish and have their answers written;
    /// 3. every connection closes with 1001 (going away): a JSON-RPC one once its handlers
    ///    are done or `grace` has passed (the answers of those still running are lost, and
    ///    their callers see the connection lost), a WebSocket one at once. A peer that
    ///    never answers the close is dropped at the close timeout;
    /// 4. under [`Server::serve`](crate::Server::serve), a handler still running once its
    ///    connection has closed and `grace` has passed is dropped.
    ///
    /// A second call waits like the first, keeping the first one's deadline.
    pub async fn shutdown(&self, grace: Duration) {
        let now = (self.now)();
        let deadline = now.checked_add(grace).unwrap_or(now);
        self.edge.stop(deadline);
        self.edge.emptied().await;
    }
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("connections", &self.connections())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}
