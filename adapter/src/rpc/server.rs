//! Serving methods: [`Server`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;

use futures_lite::future;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_core::rpc::{Channel, ErrorObject};
use tether_core::ws;
use tracing::Instrument;

use super::driver::{Driver, Limits};
use super::{Router, ServerConfig};
use crate::edge::{Edge, Gate, Slot};
use crate::held::{HeldGauge, HeldShare};
use crate::listener::{self, seed_or_log, spawn_accepted, Listener};
use crate::ws::admit;
use crate::{stream, Context, Runtime, ServerHandle};

/// A JSON-RPC 2.0 server: methods by name, served on every accepted WebSocket connection.
///
/// Each connection has a driver task of its own. It polls each request's handler once
/// and answers at once a handler that finished in that poll; a handler that waits for
/// something (I/O, a timer, a lock) goes on in a task of its own, so a slow handler holds
/// up neither other requests nor other connections. (As in any async code, a handler that
/// computes for long before its first wait holds its thread meanwhile: here, its
/// connection's driver, or, for a request that came in the upgrade's packet, the accept
/// loop, which makes each connection's first step: see [`serve`](Self::serve). Move such
/// work to a task or a blocking pool.) Answers go back
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
    local_addr: SocketAddr,
    config: ServerConfig,
    router: Router,
    edge: Arc<Edge>,
    held: HeldGauge,
}

impl<R: Runtime> Server<R> {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`](Self::local_addr)).
    /// A host name is resolved by the system's resolver before binding, which blocks:
    /// pass an IP address where that matters.
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server<R>> {
        let listener = Listener::bind(addr)?;
        Ok(Server {
            local_addr: listener.local_addr()?,
            listener,
            edge: Edge::new(config.admission.clone()),
            config,
            router: Router::default(),
            held: HeldGauge::default(),
        })
    }

    /// What the server's connections hold for their peers (input, requests being
    /// handled, replies not yet written), as each counts it against its budget. Taken
    /// before [`serve`](Self::serve), it keeps counting while the server serves.
    pub fn held(&self) -> HeldGauge {
        self.held.clone()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// A handle that counts the server's connections and shuts it down gracefully
    /// ([`ServerHandle::shutdown`]: no more accepts, handlers finish within a grace
    /// period, every connection closed with 1001). Take it before [`serve`](Self::serve).
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(self.edge.clone(), R::now)
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

    /// Accepts connections and serves each in a task of its own, until the server is shut
    /// down ([`handle`](Self::handle)): then it closes the listening socket, waits for
    /// the last connection to end, and returns `Ok`.
    ///
    /// A connection past the [`Admission`](crate::Admission) limits is answered `503`.
    /// Errors of the listening socket (running out of file descriptors, say) are waited
    /// out, backing off from 10 ms to 1 s between tries; those that concern one incoming
    /// connection are logged and skipped. An error is returned only if the runtime drops
    /// the accept loop's task (shutting down).
    ///
    /// The accept loop runs on a task of its own, wherever `serve` is awaited (in
    /// `block_on`, say). Dropping `serve`'s future stops it: the listening socket closes
    /// when the runtime next polls that task, which the drop wakes. (A shutdown through
    /// [`handle`](Self::handle) closes it before `serve` returns.) Each plain (not TLS)
    /// connection is first polled on that task, as soon as it is accepted, until its
    /// upgrade is answered: the request usually came with the connection, and its answer
    /// then goes out without waiting for the connection's task to be scheduled. The
    /// upgrade hook, and a method called in the same packet as the upgrade, may thus start
    /// on the accept loop's task. Under a storm of new connections, their first steps are
    /// made one after another there, on one thread.
    pub async fn serve(self) -> io::Result<()> {
        let edge = self.edge.clone();
        listener::serve::<R>(&edge, self.accept_until_stopped()).await
    }

    /// [`serve`](Self::serve)'s accept loop, until the server shuts down; the listening
    /// socket is closed when it returns.
    async fn accept_until_stopped(self) {
        let Server {
            mut listener,
            config,
            router,
            edge,
            held,
            ..
        } = self;
        let router = Arc::new(router);
        // Shared by every connection: each would hold a copy of its own otherwise.
        let ws = Arc::new(config.ws.clone());
        let config = Arc::new(config);
        loop {
            let accepted = future::or(async { Some(listener.accept().await) }, async {
                edge.stopped().await;
                None
            })
            .await;
            let Some((tcp, addr)) = accepted else {
                break;
            };
            let tls = config.tls.as_ref();
            let Some((tcp, slot)) = admit::<R>(&edge, tcp, addr, tls, &ws) else {
                continue;
            };
            let span = tracing::debug_span!("rpc", role = "server", peer = %addr);
            let share = HeldShare::new(held.clone());
            // Boxed, and freed once the connection is open: the task's layout is then the
            // driver's future alone, which is what an idle connection holds.
            let open = Box::pin(open::<R>(
                tcp,
                addr,
                config.clone(),
                ws.clone(),
                router.clone(),
                edge.clone(),
                share,
            ));
            spawn_accepted::<R>(connection::<R>(open, slot).instrument(span), tls.is_some());
        }
    }
}

/// Runs one accepted connection from upgrade to close: `open`, then its driver; `slot`
/// counts it against the connection limits until then.
async fn connection<R: Runtime>(
    open: Pin<Box<impl Future<Output = Option<Box<Driver<R>>>>>>,
    slot: Slot,
) {
    // Not awaited in the `if let`: that would keep the spent opening's box until the
    // connection ends.
    let opened = open.await;
    if let Some(driver) = opened {
        driver.run().await;
    }
    drop(slot);
}

/// The TLS handshake if the server serves `wss://`, then a driver for the connection;
/// `held` is its share of what the server's connections hold.
async fn open<R: Runtime>(
    stream: R::Tcp,
    addr: SocketAddr,
    config: Arc<ServerConfig>,
    ws: Arc<ws::Config>,
    router: Arc<Router>,
    edge: Arc<Edge>,
    held: HeldShare,
) -> Option<Box<Driver<R>>> {
    let seed = seed_or_log()?;
    let linger = ws.close_timeout;
    let stream = stream::accept_within::<R>(stream, config.tls.as_ref(), &ws).await?;
    // The core answers the upgrade and times the handshake out itself.
    let gate = Gate::new(&edge, addr, stream.peer_certificates());
    let channel = Channel::server(R::now(), ws, config.rpc.clone(), seed);
    let limits = Limits {
        max_handlers: config.max_handlers_per_connection,
        handler_timeout: config.handler_timeout,
    };
    let driver = Driver::<R>::new(channel, stream, linger, gate, router, limits, held);
    Some(Box::new(driver.stop_with(edge.stop_signal())))
}
