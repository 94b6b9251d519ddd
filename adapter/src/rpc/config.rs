//! How a JSON-RPC client connects and a server runs its connections.

use std::time::Duration;

use tether_core::session::{self, Backoff, Heartbeat, QueueLimits};
use tether_tls::{ClientTls, ServerTls};

use super::RpcConfig;
use crate::Admission;

/// How a [`Client`](super::Client) connects, and reconnects.
///
/// ```
/// use std::time::Duration;
/// use tether_adapter::rpc::{Backoff, ClientConfig, Heartbeat, HeartbeatMode};
///
/// let config = ClientConfig {
///     // Give up after 10 failed attempts in a row; wait 50 ms, 100 ms, 200 ms … between them.
///     backoff: Backoff {
///         base: Duration::from_millis(50),
///         max: Duration::from_secs(2),
///         max_attempts: Some(10),
///     },
///     // A link that answers no ping for 3 s is dropped and replaced.
///     heartbeat: Some(Heartbeat {
///         interval: Duration::from_secs(1),
///         timeout: Duration::from_secs(3),
///         mode: HeartbeatMode::Pong,
///     }),
///     ..Default::default()
/// };
/// assert_eq!(config.queue.max_messages, 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Limits and timeouts of each WebSocket underneath.
    pub ws: tether_core::ws::Config,
    /// Call timeouts and the bound on calls in flight (calls past it wait in the queue).
    pub rpc: RpcConfig,
    /// Extra headers for the upgrade request, e.g. `Authorization`.
    pub headers: Vec<(String, String)>,
    /// How long one attempt may take, TCP connect, TLS handshake (`wss://`) and opening
    /// handshake together (default 5 s). An attempt that takes longer fails and counts toward
    /// [`Backoff::max_attempts`].
    pub connect_timeout: Duration,
    /// How long to wait between attempts, and when to give up (default: 100 ms doubling
    /// to 10 s, with jitter; never give up).
    pub backoff: Backoff,
    /// Liveness checks of the open connection (default: a ping every 5 s, dropped if no
    /// pong within 10 s); `None` turns them off.
    pub heartbeat: Option<Heartbeat>,
    /// Bounds of the queue of calls and notifications waiting for a connection (default
    /// 1024 messages, 16 MiB).
    pub queue: QueueLimits,
    /// TLS for `wss://` URLs: the roots to trust and, for mutual TLS, the certificate to
    /// present, for every attempt. `None` trusts the `webpki-roots` CAs. Unused for `ws://`.
    pub tls: Option<ClientTls>,
    /// The server's notifications that may wait for their
    /// [`Notifications`](super::Notifications) receiver to take them (default 256; 0 counts
    /// as 1). While that many wait, the client stops reading the connection until the
    /// receiver takes one: the server is held back, nothing is dropped, and answers to calls
    /// wait with it. Unused until [`Client::notifications`](super::Client::notifications)
    /// is called: until then notifications are dropped as they come.
    pub notification_buffer: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let session = session::Config::default();
        ClientConfig {
            ws: session.ws,
            rpc: session.rpc,
            headers: Vec::new(),
            connect_timeout: session.connect_timeout,
            backoff: session.backoff,
            heartbeat: session.heartbeat,
            queue: session.queue,
            tls: None,
            notification_buffer: 256,
        }
    }
}

impl ClientConfig {
    pub(crate) fn session(&self) -> session::Config {
        session::Config {
            ws: self.ws.clone(),
            rpc: self.rpc.clone(),
            connect_timeout: self.connect_timeout,
            backoff: self.backoff,
            heartbeat: self.heartbeat,
            queue: self.queue,
        }
    }
}

/// How a server runs each connection. The defaults are chosen for a node of a cluster
/// (SECURITY.md has them in one table): what one connection can make the server hold is
/// bounded by `ws.budget` (16 MiB) plus one message (`ws.max_message_size`, 16 MiB).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits and timeouts of each WebSocket: the largest message, the connection's
    /// budget (past it the server stops reading that connection until the peer's work
    /// drains), pings and the idle timeout, the write-stall timeout.
    pub ws: tether_core::ws::Config,
    /// Batch limits, and the settings of calls made on the connection.
    pub rpc: RpcConfig,
    /// Handlers running at once on one connection (default 256). Past it, the server
    /// stops reading that connection until one finishes: requests wait, none is refused.
    pub max_handlers_per_connection: usize,
    /// How long one handler may run (default 30 s, a client's default call timeout): past
    /// it the handler is cancelled (its future dropped) and its caller answered `-32000`
    /// ([`ErrorObject::handler_timed_out`](tether_core::rpc::ErrorObject::handler_timed_out));
    /// a notification's handler is just cancelled. `None` lets handlers run for ever.
    pub handler_timeout: Option<Duration>,
    /// Serve `wss://`: every accepted connection starts with a TLS handshake, bounded by
    /// the WebSocket's handshake and close timeouts. `None` serves plain `ws://`.
    pub tls: Option<ServerTls>,
    /// Who may connect: the upgrade hook, whose identity handlers see in their
    /// [`Context`](crate::Context) (see [`Admission`]).
    pub admission: Admission,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ws: tether_core::ws::Config::default(),
            rpc: RpcConfig::default(),
            max_handlers_per_connection: 256,
            handler_timeout: Some(Duration::from_secs(30)),
            tls: None,
            admission: Admission::default(),
        }
    }
}
