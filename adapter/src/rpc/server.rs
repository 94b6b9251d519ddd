//! Serving methods: [`Server`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_core::rpc::{Channel, ErrorObject};
use tracing::{debug, Instrument};

use super::driver::Driver;
use super::{Router, ServerConfig};
use crate::edge::Gate;
use crate::listener::{seed_or_log, Listener};
use crate::runtime::within;
use crate::{stream, Context, Runtime};

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
/// use tether_adapter::rpc::{ErrorObject, ServerConfig};
/// use tether_adapter::Runtime;
///
/// # async fn demo<R: Runtime>() -> std::io::Result<()> {
/// // `tether_tokio::rpc::Server` is `Server<Tokio>`, and so on for every runtime.
/// let server = tether_adapter::rpc::Server::<R>::bind("127.0.0.1:9001", ServerConfig::default())
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
pub struct Server<R: Runtime> {
    listener: Listener<R>,
    config: ServerConfig,
    router: Router,
}

impl<R: Runtime> Server<R> {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`](Self::local_addr)).
    /// A host name is resolved by the system's resolver before binding, which blocks:
    /// pass an IP address where that matters.
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server<R>> {
        Ok(Server {
            listener: Listener::bind(addr)?,
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
    pub fn route<P, T, F, Fut>(mut self, method: &str, handler: F) -> Server<R>
    where
        F: Fn(P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, ErrorObject>> + Send + 'static,
        P: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
    {
        self.router.insert(method, handler);
        self
    }

    /// Like [`route`](Self::route), with a handler that also takes the caller's
    /// [`Context`]: the identity [`ServerConfig::admission`]'s hook gave its connection,
    /// the caller's address, the connection's id. For methods authorised per caller.
    pub fn route_with_context<P, T, F, Fut>(mut self, method: &str, handler: F) -> Server<R>
    where
        F: Fn(P, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, ErrorObject>> + Send + 'static,
        P: DeserializeOwned + Send + 'static,
        T: Serialize + Send + 'static,
    {
        self.router.insert_with_context(method, handler);
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
                    let task = connection::<R>(stream, addr, self.config.clone(), router.clone());
                    R::spawn(task.instrument(span));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Runs one accepted connection from upgrade to close.
async fn connection<R: Runtime>(
    stream: R::Tcp,
    addr: SocketAddr,
    config: ServerConfig,
    router: Arc<Router>,
) {
    let Some(seed) = seed_or_log() else {
        return;
    };
    let linger = config.ws.close_timeout;
    // TLS gets the time the core gives the upgrade; a client that never finishes it
    // cannot hold a task.
    let limit = config.ws.handshake_timeout + config.ws.close_timeout;
    let stream = match within::<R, _>(limit, stream::accept::<R>(stream, config.tls.as_ref())).await
    {
        Some(Ok(stream)) => stream,
        Some(Err(e)) => return stream::log_socket_error(&e),
        None => return debug!("TLS handshake timed out"),
    };
    // The core answers the upgrade and times the handshake out itself.
    let gate = Gate::new(&config.admission, addr, stream.peer_certificates());
    let channel = Channel::server(R::now(), config.ws, config.rpc, seed);
    let max = config.max_handlers_per_connection;
    Driver::<R>::new(channel, stream, linger, gate, router, max)
        .run()
        .await;
}
