//! The handle of a node's pool: [`Peers`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tether_core::pool::{Lane, NodeId, PeerState, Pool, Stats};
use tether_core::rpc::Request;
use tether_core::session::CallId;
use tokio::sync::Notify;
use tracing::field::Empty;
use tracing::{debug, Instrument};

use super::driver::Shared;
use super::observe::Observer;
use super::{NodeError, PeersConfig};
use crate::edge::Gate;
use crate::listener::Listener;
use crate::rpc::session::Once;
use crate::rpc::{encode_params, CallError, Router};
use crate::runtime::{sleep_until, within};
use crate::ws::admit;
use crate::{stream, ConnectError, Context, Identity, Runtime, Target};

/// A node's links to its peers, addressed by [`NodeId`]: the core's
/// [`Pool`](tether_core::pool::Pool) on runtime `R`.
///
/// One link per node, opened by the first call to it and shared by every call after; a
/// peer that connects to us names its node and its link serves both directions. Methods
/// of `router` are served to every peer, and to plain JSON-RPC clients that connect to
/// the bound port. Cheap to clone; dropping the last clone shuts the pool down at once.
///
/// ```no_run
/// use std::time::Duration;
/// use tether_adapter::pool::{NodeId, Peers, PeersConfig};
/// use tether_adapter::rpc::{ErrorObject, Router};
/// use tether_adapter::Runtime;
///
/// # async fn demo<R: Runtime>() -> Result<(), Box<dyn std::error::Error>> {
/// let mut router = Router::default();
/// router.insert("ping", |n: u64| async move { Ok::<_, ErrorObject>(n + 1) });
/// // `tether_tokio::Peers` is `Peers<Tokio>`, and so on for every runtime.
/// let peers = Peers::<R>::bind("127.0.0.1:7001", PeersConfig::new(NodeId(1)), router).await?;
/// peers.add_peer(NodeId(2), "ws://127.0.0.1:7002")?;
/// let answer: u64 = peers.call(NodeId(2), "ping", &[41]).await?;
/// println!("{answer} {:?}", peers.stats().peers);
/// peers.shutdown(Duration::from_secs(5)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Peers<R: Runtime> {
    handle: Arc<Handle<R>>,
}

impl<R: Runtime> Clone for Peers<R> {
    fn clone(&self) -> Self {
        Peers {
            handle: self.handle.clone(),
        }
    }
}

/// Shuts the pool down when the last [`Peers`] goes.
#[derive(Debug)]
struct Handle<R: Runtime> {
    shared: Arc<Shared<R>>,
    local_addr: Option<SocketAddr>,
    /// Stops the accept loop.
    stop: Arc<Notify>,
}

impl<R: Runtime> Drop for Handle<R> {
    fn drop(&mut self) {
        self.stop.notify_one();
        self.shared
            .locked(|core| core.pool.shutdown(R::now(), Duration::ZERO));
    }
}

impl<R: Runtime> Peers<R> {
    /// A pool that dials its peers but accepts no connections.
    pub fn new(config: PeersConfig, router: Router) -> io::Result<Peers<R>> {
        Peers::launch(config, router, None)
    }

    /// A pool that also listens on `addr` (port 0 picks a free one; see
    /// [`local_addr`](Self::local_addr)) for peers and clients.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: PeersConfig,
        router: Router,
    ) -> io::Result<Peers<R>> {
        Peers::launch(config, router, Some(Listener::bind(addr)?))
    }

    fn launch(
        mut config: PeersConfig,
        router: Router,
        listener: Option<Listener<R>>,
    ) -> io::Result<Peers<R>> {
        // The hook decides each accepted upgrade before the pool does.
        config.pool.hold_upgrades = config.admission.hook.is_some();
        let observer = Observer::new(&config);
        let mut pool_config = config.pool.clone();
        pool_config.observe |= observer.wants_observations();
        let pool = Pool::new(pool_config, crate::seed()?);
        let sample_every = config.metrics.interval.filter(|_| observer.samples());
        let shared = Arc::new(Shared::new(pool, config, router, observer));
        let local_addr = listener.as_ref().map(Listener::local_addr).transpose()?;
        let stop = Arc::new(Notify::new());
        R::spawn(tick(shared.clone()));
        if let Some(every) = sample_every {
            R::spawn(sample(shared.clone(), every));
        }
        if let Some(listener) = listener {
            R::spawn(accept(shared.clone(), listener, stop.clone()));
        }
        Ok(Peers {
            handle: Arc::new(Handle {
                shared,
                local_addr,
                stop,
            }),
        })
    }

    /// The address it listens on, if it was bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.handle.local_addr
    }

    /// Connections accepted on the bound port and open now, counted against the
    /// [`Admission`](crate::Admission) limits of [`PeersConfig::admission`] (links this
    /// node dialed are not).
    pub fn accepted_connections(&self) -> usize {
        self.handle.shared.edge.open()
    }

    /// This node.
    pub fn node(&self) -> NodeId {
        self.handle.shared.config.pool.node
    }

    /// Where `node` is dialed: a `ws://` or `wss://` URL. A node with no address can
    /// still be called while it holds a link it opened to us.
    pub fn add_peer(&self, node: NodeId, url: &str) -> Result<(), ConnectError> {
        let target = Arc::new(Target::parse(url)?);
        self.handle.shared.locked(|core| {
            core.addresses.insert(node, target);
        });
        Ok(())
    }

    /// Calls `method` on `node` with `params` (serialized to a JSON object or array; `()`
    /// sends none), within the pool's `rpc.default_timeout`.
    ///
    /// Cancel-safe: dropping the future cancels the call (the node may still run it).
    pub async fn call<P, T>(&self, node: NodeId, method: &str, params: &P) -> Result<T, NodeError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.call_with_timeout(node, method, params, None).await
    }

    /// [`call`](Self::call) with its own deadline (`None`: the pool's default).
    pub async fn call_with_timeout<P, T>(
        &self,
        node: NodeId,
        method: &str,
        params: &P,
        timeout: Option<Duration>,
    ) -> Result<T, NodeError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.call_on(node, Lane::Control, method, params, timeout)
            .await
    }

    /// A call on `node`'s link of `lane`: [`Lane::Bulk`] for large messages (a snapshot
    /// chunk, a big append), so that they hold up nothing on the control link, where
    /// heartbeats and votes go. `timeout` `None` is the pool's default.
    pub async fn call_on<P, T>(
        &self,
        node: NodeId,
        lane: Lane,
        method: &str,
        params: &P,
        timeout: Option<Duration>,
    ) -> Result<T, NodeError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let params = encode_params(params).map_err(|e| NodeError::new(node, e))?;
        let raw = self
            .start(node, lane, method, params.as_deref(), timeout)?
            .wait()
            .await?;
        decode(node, &raw)
    }

    /// Sends `method` to `node` as a notification (no answer), on its link once open.
    pub async fn notify<P>(&self, node: NodeId, method: &str, params: &P) -> Result<(), NodeError>
    where
        P: Serialize + ?Sized,
    {
        let params = encode_params(params).map_err(|e| NodeError::new(node, e))?;
        let request =
            Request::new(method, params.as_deref()).map_err(|e| NodeError::new(node, e))?;
        self.handle
            .shared
            .locked(|core| core.pool.notify_request(R::now(), node, request))
            .map_err(|e| NodeError::new(node, e))
    }

    /// Calls `method` on every node with an open link now, in parallel, and gives each
    /// node's outcome, in node order.
    pub async fn broadcast<P, T>(
        &self,
        method: &str,
        params: &P,
    ) -> Vec<(NodeId, Result<T, NodeError>)>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let nodes = self.handle.shared.locked(|core| core.pool.connected());
        let params = match encode_params(params) {
            Ok(params) => params,
            Err(e) => {
                return nodes
                    .into_iter()
                    .map(|node| {
                        (
                            node,
                            Err(NodeError::new(node, CallError::Params(to_json_error(&e)))),
                        )
                    })
                    .collect();
            }
        };
        let started: Vec<_> = nodes
            .iter()
            .map(|node| {
                let call = self.start(*node, Lane::Control, method, params.as_deref(), None);
                (*node, call)
            })
            .collect();
        let mut outcomes = Vec::with_capacity(started.len());
        for (node, call) in started {
            let outcome = match call {
                Ok(call) => call.wait().await.and_then(|raw| decode(node, &raw)),
                Err(e) => Err(e),
            };
            outcomes.push((node, outcome));
        }
        outcomes
    }

    /// Every node the pool knows, and totals.
    pub fn stats(&self) -> Stats {
        self.handle.shared.locked(|core| core.pool.stats())
    }

    /// Reads the pool's counts (calls, bytes, link states, calls in flight and queued)
    /// into the `metrics` recorder now (with the `metrics` feature; see
    /// [`MetricsConfig`](super::MetricsConfig)): call it just before an exporter renders,
    /// so what it shows is current.
    pub fn record_metrics(&self) {
        let shared = &self.handle.shared;
        if shared.observer.samples() {
            shared.observer.sample(&self.stats());
        }
    }

    /// Where `node`'s link is.
    pub fn peer_state(&self, node: NodeId) -> PeerState {
        self.handle.shared.locked(|core| core.pool.peer_state(node))
    }

    /// Stops taking calls and connections; calls in flight and the peers' requests being
    /// handled get up to `grace` to finish, then every link closes with code 1001. Returns
    /// once every link is gone.
    pub async fn shutdown(&self, grace: Duration) {
        self.handle.stop.notify_one();
        let shared = &self.handle.shared;
        shared.locked(|core| core.pool.shutdown(R::now(), grace));
        let mut finished = shared.finished.subscribe();
        // A link whose peer never answers the close still goes at the close timeout.
        let _ = finished.wait_for(|done| *done).await;
    }

    /// Registers a call; the returned [`Started`] waits for its end.
    pub(crate) fn start(
        &self,
        node: NodeId,
        lane: Lane,
        method: &str,
        params: Option<&RawValue>,
        timeout: Option<Duration>,
    ) -> Result<Started<R>, NodeError> {
        // Encoded here, before the lock: the copy of the params takes time in proportion
        // to their size, and every link of the pool waits for the lock.
        let request = Request::new(method, params).map_err(|e| NodeError::new(node, e))?;
        // Every call's span, whoever makes it (a call, a broadcast, a replicated call).
        let span = tracing::debug_span!("call", node = node.0, method, ?lane, id = Empty);
        let (done, rx) = Once::channel();
        let shared = &self.handle.shared;
        let id = shared
            .locked(|core| {
                let id = core
                    .pool
                    .call_request(R::now(), node, lane, request, timeout)?;
                core.waiters.insert(id, done);
                Ok(id)
            })
            .map_err(|e: tether_core::rpc::Refused| NodeError::new(node, e))?;
        span.record("id", id.get());
        Ok(Started {
            span,
            shared: shared.clone(),
            node,
            id,
            rx,
            over: false,
        })
    }
}

/// A call in flight; dropping it before its end cancels it.
pub(crate) struct Started<R: Runtime> {
    /// The call's span: its wait runs in it.
    span: tracing::Span,
    shared: Arc<Shared<R>>,
    node: NodeId,
    id: CallId,
    rx: tokio::sync::oneshot::Receiver<Result<Box<RawValue>, CallError>>,
    over: bool,
}

impl<R: Runtime> Started<R> {
    /// Waits for the call's end.
    pub(crate) async fn wait(mut self) -> Result<Box<RawValue>, NodeError> {
        let span = self.span.clone();
        let result = (&mut self.rx).instrument(span).await;
        self.over = true;
        match result {
            Ok(result) => result.map_err(|e| NodeError::new(self.node, e)),
            // The pool is gone: dropped with the call in it.
            Err(_) => Err(NodeError::new(self.node, CallError::Closed)),
        }
    }
}

impl<R: Runtime> Drop for Started<R> {
    fn drop(&mut self) {
        if !self.over {
            let id = self.id;
            self.shared.locked(|core| {
                core.waiters.remove(&id);
                core.pool.cancel(R::now(), id);
            });
        }
    }
}

/// A result as the type asked for.
pub(crate) fn decode<T: DeserializeOwned>(node: NodeId, raw: &RawValue) -> Result<T, NodeError> {
    serde_json::from_str(raw.get()).map_err(|e| NodeError::new(node, CallError::Result(e)))
}

fn to_json_error(e: &CallError) -> serde_json::Error {
    <serde_json::Error as serde::ser::Error>::custom(e.to_string())
}

/// Sleeps until the pool's next deadline (or until told it moved) and fires it, until
/// the pool is finished.
async fn tick<R: Runtime>(shared: Arc<Shared<R>>) {
    let mut timer = R::timer(R::now());
    loop {
        let next = shared.locked(|core| core.pool.poll_timeout());
        if *shared.finished.borrow() {
            break;
        }
        future::or(sleep_until(&mut timer, next), shared.ticker.notified()).await;
        shared.locked(|core| core.pool.handle_timeout(R::now()));
    }
    debug!("pool finished");
}

/// Reads the pool's counts into the metrics recorder every `every`, until the pool is
/// finished.
async fn sample<R: Runtime>(shared: Arc<Shared<R>>, every: Duration) {
    let mut finished = shared.finished.subscribe();
    loop {
        let stats = shared.locked(|core| core.pool.stats());
        shared.observer.sample(&stats);
        let done = within::<R, _>(every, finished.wait_for(|done| *done)).await;
        if done.is_some() {
            break;
        }
    }
}

/// Accepts connections for the pool until told to stop; a listener error (such as running
/// out of descriptors) is waited out by the listener, not fatal. Connections past the
/// admission limits are answered `503`.
async fn accept<R: Runtime>(shared: Arc<Shared<R>>, mut listener: Listener<R>, stop: Arc<Notify>) {
    loop {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            stop.notified().await;
            None
        })
        .await;
        let Some((tcp, addr)) = accepted else {
            break;
        };
        let tls = shared.config.server_tls.as_ref();
        let ws = &shared.config.pool.ws;
        let Some((tcp, slot)) = admit::<R>(&shared.edge, tcp, addr, tls, ws) else {
            continue;
        };
        let span = tracing::debug_span!(
            "link",
            link = Empty,
            generation = Empty,
            addr = %addr,
            dialed = false
        );
        let link = accepted_link(shared.clone(), tcp, addr);
        // Spawned at once, not first polled here as the servers' connections are
        // (`spawn_accepted`): this loop is a task of its own already, and a link's first
        // poll goes on past its upgrade (the pool's lock, the link's run).
        R::spawn(
            async move {
                link.await;
                drop(slot);
            }
            .instrument(span),
        );
    }
    debug!("no longer accepting");
}

/// One accepted connection: TLS (if served), then a link of the pool.
async fn accepted_link<R: Runtime>(shared: Arc<Shared<R>>, tcp: R::Tcp, addr: SocketAddr) {
    let tls = shared.config.server_tls.as_ref();
    let Some(stream) = stream::accept_within::<R>(tcp, tls, &shared.config.pool.ws).await else {
        return;
    };
    let wake = Arc::new(Notify::new());
    let gate = Gate::new(&shared.edge, addr, stream.peer_certificates());
    // What handlers see until (and unless) the hook gives an identity.
    let context = Context::new(Identity::anonymous(), Some(addr), gate.connection());
    let hooked = shared.config.admission.hook.is_some();
    let link = shared.locked(|core| {
        let link = core.pool.accept(R::now()).ok()?;
        core.wakes.insert(link, wake.clone());
        core.contexts.insert(link, context);
        if hooked {
            core.gates.insert(link, gate);
        }
        Some(link)
    });
    match link {
        Some(link) => {
            let span = tracing::Span::current();
            span.record("link", tracing::field::display(link));
            span.record("generation", link.generation());
            super::link::run(shared, link, stream, wake).await;
        }
        None => debug!("connection refused: at max_links or shutting down"),
    }
}
