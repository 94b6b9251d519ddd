//! Serving methods: [`Server`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_core::rpc::{Endpoint, ErrorObject};
use tether_tls::ServerTls;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tracing::{debug, Instrument};

use super::driver::Driver;
use super::RpcConfig;
use crate::driver::now;
use crate::server::{accept, is_per_connection, log_socket_error, prepare};
use tether_adapter::rpc::Router;

/// How a [`Server`] runs each connection.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits and timeouts of each WebSocket.
    pub ws: tether_core::ws::Config,
    /// Batch limits, and the settings of calls made on the connection.
    pub rpc: RpcConfig,
    /// Handlers running at once on one connection (default 256). Past it, the server
    /// stops reading that connection until one finishes: requests wait, none is refused.
    pub max_handlers_per_connection: usize,
    /// Serve `wss://`: every accepted connection starts with a TLS handshake, which shares
    /// the WebSocket handshake's `handshake_timeout`. `None` serves plain `ws://`.
    pub tls: Option<ServerTls>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ws: tether_core::ws::Config::default(),
            rpc: RpcConfig::default(),
            max_handlers_per_connection: 256,
            tls: None,
        }
    }
}

/// A JSON-RPC 2.0 server: methods by name, served on every accepted WebSocket connection.
///
/// Each connection has a driver task of its own, and each request a task of its own, so
/// a slow handler holds up neither other requests nor other connections. Answers go back
/// in whatever order handlers finish; batches are answered as one array once all of their
/// requests are. An unknown method is answered `-32601`, params that do not deserialize
/// into the handler's type `-32602`, a handler that panics `-32603`. Notifications run
/// their handler and drop its result.
///
/// ```no_run
/// use tether_tokio::rpc::{ErrorObject, Server, ServerConfig};
///
/// # async fn demo() -> std::io::Result<()> {
/// let server = Server::bind("127.0.0.1:9001", ServerConfig::default())
///     .await?
///     .route("add", |(a, b): (i64, i64)| async move { Ok::<_, ErrorObject>(a + b) })
///     .route("fail", |_: serde::de::IgnoredAny| async {
///         Err::<(), _>(ErrorObject::new(1000, "it failed"))
///     });
/// println!("listening on ws://{}", server.local_addr()?);
/// server.serve().await
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    router: Router,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`](Self::local_addr)).
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
        Ok(Server {
            listener: TcpListener::bind(addr).await?,
            config,
            router: Router::default(),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves `method` with `handler`, which takes the params (deserialized into `P`; no
    /// params read as `null`, which `()` and `Option<T>` accept) and gives a result or the
    /// error object to answer with. A second route for the same method replaces the first.
    pub fn route<P, R, F, Fut>(mut self, method: &str, handler: F) -> Server
    where
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, ErrorObject>> + Send + 'static,
        P: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
    {
        self.router.insert(method, handler);
        self
    }

    /// Accepts connections and serves each in a task of its own, until the listening
    /// socket fails (errors that concern one incoming connection are logged and skipped).
    pub async fn serve(self) -> io::Result<()> {
        let router = Arc::new(self.router);
        loop {
            match self.listener.accept().await {
                Ok((stream, addr)) => {
                    let span = tracing::debug_span!("rpc", role = "server", peer = %addr);
                    let task = connection(stream, self.config.clone(), router.clone());
                    tokio::spawn(task.instrument(span));
                }
                Err(e) if is_per_connection(&e) => debug!(error = %e, "accept failed"),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Runs one accepted connection from upgrade to close.
async fn connection(stream: TcpStream, config: ServerConfig, router: Arc<Router>) {
    let Some(seed) = prepare(&stream) else {
        return;
    };
    let linger = config.ws.close_timeout;
    let start = now();
    // The TLS handshake needs a limit of its own (a silent client would hold this task);
    // the core, started at `start`, then gives the upgrade only what is left of it.
    let handshake_deadline = tokio::time::Instant::from_std(start + config.ws.handshake_timeout);
    let stream = match tokio::time::timeout_at(
        handshake_deadline,
        accept(stream, config.tls.as_ref()),
    )
    .await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return log_socket_error(&e),
        Err(_) => return debug!("TLS handshake timed out"),
    };
    // The core answers the upgrade and times the handshake out itself.
    let endpoint = Endpoint::server(start, config.ws, config.rpc, seed);
    let max = config.max_handlers_per_connection;
    Driver::new(endpoint, stream, linger, router, max)
        .run()
        .await;
}
