//! Serving methods: [`Server`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use async_net::{AsyncToSocketAddrs, TcpListener, TcpStream};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_adapter::is_per_connection;
use tether_adapter::rpc::Router;
use tether_core::rpc::{Endpoint, ErrorObject};
use tracing::{debug, Instrument};

use super::driver::Driver;
use super::ServerConfig;
use crate::server::prepare;
use crate::task::spawn;
use crate::transport::now;

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
/// use tether_async_std::rpc::{ErrorObject, Server, ServerConfig};
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
    pub async fn bind(addr: impl AsyncToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
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
                    spawn(task.instrument(span));
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
    // The core answers the upgrade and times the handshake out itself.
    let endpoint = Endpoint::server(now(), config.ws, config.rpc, seed);
    let max = config.max_handlers_per_connection;
    let (driver, handles) = Driver::new(endpoint, stream, linger, router, max);
    driver.run().await;
    // Held until the end: a server connection has no client handles to lose.
    drop(handles);
}
