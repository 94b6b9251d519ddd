//! Accepting connections: [`Server`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use async_channel::{Receiver as Rx, Sender as Tx};
use futures_lite::{future, FutureExt};
use tether_core::ws::{Config, Connection};
use tether_tls::ServerTls;
use tracing::{debug, warn, Instrument};

use super::driver::Driver;
use super::{admit, WebSocket};
use crate::edge::{Edge, Gate, Slot, StopSignal};
use crate::held::{HeldGauge, HeldShare};
use crate::joint::{joint, Joint};
use crate::listener::{self, spawn_accepted, Listener};
use crate::runtime::until;
use crate::{stream, OpenError, Runtime, ServerConfig, ServerHandle};

/// Handshakes that finished but were not yet taken by [`Server::accept`]; past this many,
/// finished handshakes wait (and so do their clients).
const READY_CAPACITY: usize = 64;

/// A listening WebSocket server.
///
/// Each accepted TCP connection runs its opening handshake in a task of its own, so a slow
/// client does not hold up the others (a plain connection's first try at it is made at
/// once, on the accepting task: see [`serve`](Self::serve)); [`accept`](Self::accept)
/// yields those that open.
/// Who may connect, and how many at once, is [`ServerConfig::admission`]'s; its
/// [`handle`](Self::handle) counts connections and shuts the server down.
#[derive(Debug)]
pub struct Server<R: Runtime> {
    /// `None` once shut down: the listening socket is closed.
    listener: Option<Listener<R>>,
    local_addr: SocketAddr,
    config: ServerConfig,
    /// `config.ws`, which every connection shares.
    ws: Arc<Config>,
    protocols: Arc<[String]>,
    edge: Arc<Edge>,
    ready_tx: Tx<(WebSocket, SocketAddr)>,
    ready_rx: Rx<(WebSocket, SocketAddr)>,
    held: HeldGauge,
}

impl<R: Runtime> Server<R> {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`](Self::local_addr)).
    /// A host name is resolved by the system's resolver before binding, which blocks:
    /// pass an IP address where that matters.
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server<R>> {
        let listener = Listener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let (ready_tx, ready_rx) = async_channel::bounded(READY_CAPACITY);
        let edge = Edge::new(config.admission.clone());
        Ok(Server {
            listener: Some(listener),
            local_addr,
            protocols: config.protocols.clone().into(),
            edge,
            ws: Arc::new(config.ws.clone()),
            config,
            ready_tx,
            ready_rx,
            held: HeldGauge::default(),
        })
    }

    /// What the server's connections hold for their peers (input, messages the receiver
    /// has not taken, bytes not yet written), as each counts it against its budget.
    pub fn held(&self) -> HeldGauge {
        self.held.clone()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }

    /// A handle that counts the server's connections and shuts it down
    /// ([`ServerHandle::shutdown`]: no more accepts, every connection closed with 1001).
    pub fn handle(&self) -> ServerHandle {
        ServerHandle::new(self.edge.clone(), R::now)
    }

    /// The next connection whose handshake succeeded, and the client's address. Who the
    /// client is, as [`ServerConfig::admission`]'s hook decided, is in the connection's
    /// [`context`](WebSocket::context).
    ///
    /// New TCP connections are taken only while this is awaited; each one's handshakes (TLS
    /// if [`ServerConfig::tls`] is set, then WebSocket) then run in a task of its own,
    /// concurrently with the others, after a first try on the task awaiting this (as
    /// under [`serve`](Self::serve)). A failed handshake is answered with its HTTP status
    /// (or TLS alert), logged at debug level, and skipped; so is one that takes too long
    /// (TLS: [`ServerConfig::open_limit`]; WebSocket: the `handshake_timeout` of
    /// [`ServerConfig::ws`]). A connection past the
    /// [`Admission`](crate::Admission) limits is answered `503`. Errors of the listening
    /// socket (running out of file descriptors, say) are waited out, backing off from
    /// 10 ms to 1 s between tries, never returned.
    ///
    /// Once the server is shut down ([`ServerHandle::shutdown`]) this returns an error of
    /// kind [`NotConnected`](io::ErrorKind::NotConnected), and the listening socket is
    /// closed.
    ///
    /// Cancel-safe: dropping the future loses no connection.
    pub async fn accept(&mut self) -> io::Result<(WebSocket, SocketAddr)> {
        let edge = self.edge.clone();
        let stopped = async {
            edge.stopped().await;
            None
        };
        let next = async { Some(self.next().await) };
        match future::or(next, stopped).await {
            Some(accepted) => Ok(accepted),
            None => {
                self.listener = None;
                Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the server was shut down",
                ))
            }
        }
    }

    /// Accepts connections and runs `handler` on each one that opens, in the task that
    /// drives the connection, until the server is shut down ([`handle`](Self::handle)):
    /// then it closes the listening socket, waits for the last connection to end, and
    /// returns `Ok`.
    ///
    /// This is the cheaper way to serve: [`accept`](Self::accept) hands each connection to
    /// a task of your own, so every message crosses between two tasks; here the handler
    /// and the connection's driver run in one task, and a message read, handled and
    /// answered never leaves it. In return the handler shares that task with its
    /// connection: while it computes without awaiting, the connection is not driven
    /// (pings wait, and so do reads). Spawn long computations, or await in between.
    ///
    /// A connection ends as one from `accept` does: closed with 1000 once the handler
    /// drops its [`WebSocket`] (returning, or panicking: the panic is caught and logged),
    /// or when the peer or a shutdown closes it. Its task ends once both the connection
    /// and the handler are done, and it counts against the
    /// [`Admission`](crate::Admission) limits until then: a handler should return once
    /// its `WebSocket` is closed ([`recv`](WebSocket::recv) gives `None`). A shutdown
    /// closes every connection with 1001 and waits for their handlers to return until its
    /// grace has passed; a handler still running then, its connection closed, is dropped.
    ///
    /// Handshakes, admission and errors of the listening socket are as for `accept`. An
    /// error is returned only if the runtime drops the accept loop's task (shutting down).
    ///
    /// The accept loop runs on a task of its own, wherever `serve` is awaited (in
    /// `block_on`, say). Dropping `serve`'s future stops it: the listening socket closes
    /// when the runtime next polls that task, which the drop wakes. (A shutdown through
    /// [`handle`](Self::handle) closes it before `serve` returns.) Each plain (not TLS)
    /// connection's handshake is first tried on that task, as soon as it is accepted: the
    /// request usually came with the connection, and its answer then goes out without
    /// waiting for another task to be scheduled. The upgrade hook may thus run on the
    /// accept loop's task; the handler never does. Under a storm of new connections, their
    /// first tries are made one after another there, on one thread.
    ///
    /// ```no_run
    /// use tether_adapter::{Runtime, Server, ServerConfig, WebSocket};
    ///
    /// # async fn demo<R: Runtime>() -> std::io::Result<()> {
    /// // `tether_tokio::Server` is `Server<Tokio>`, and so on for every runtime.
    /// let server = Server::<R>::bind("127.0.0.1:9001", ServerConfig::default()).await?;
    /// server
    ///     .serve(|mut ws: WebSocket| async move {
    ///         while let Some(message) = ws.recv().await {
    ///             if ws.send(message).await.is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn serve<F, Fut>(self, handler: F) -> io::Result<()>
    where
        F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let edge = self.edge.clone();
        listener::serve::<R>(&edge, self.accept_until_stopped(Arc::new(handler))).await
    }

    /// [`serve`](Self::serve)'s accept loop, until the server shuts down; dropping the
    /// server then closes the listening socket.
    async fn accept_until_stopped<F, Fut>(mut self, handler: Arc<F>)
    where
        F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let edge = self.edge.clone();
        let stopped = edge.stopped();
        let accepting = std::future::poll_fn(|cx| {
            while let Poll::Ready(incoming) = self.poll_incoming(cx) {
                let handler = handler.clone();
                let edge = self.edge.clone();
                incoming.spawn(|open, slot| {
                    async move {
                        // What this task holds is what an idle connection costs: the joint
                        // future alone, no copy of the opened connection beside it (nor the
                        // spent opening's box, a few KiB, which an `if let` on the await
                        // would keep).
                        let mut connection = open.await.map(|opened| serving(opened, handler));
                        if connection.is_some() {
                            // The opening may have run on the accepting task (see
                            // `spawn_accepted`); the handler runs on the connection's own.
                            future::yield_now().await;
                        }
                        // Run in place (it is `Unpin`): no second slot for it either.
                        if let Some(connection) = &mut connection {
                            match run_serving::<R, _, _>(connection, &edge).await {
                                Some(Ok(())) => {}
                                Some(Err(_)) => warn!("the connection's handler panicked"),
                                None => debug!(
                                    "the handler outlived its connection past the \
                                     shutdown's grace; dropped it"
                                ),
                            }
                        }
                        // The handler (dropped, if it outlived the grace) goes before the
                        // slot: a shutdown returns with nothing of the connection left.
                        drop(connection);
                        drop(slot);
                    }
                });
            }
            Poll::<()>::Pending
        });
        future::or(accepting, stopped).await;
    }

    /// The next connection that opened.
    async fn next(&mut self) -> (WebSocket, SocketAddr) {
        let ready_rx = self.ready_rx.clone();
        let mut ready = std::pin::pin!(ready_rx.recv());
        std::future::poll_fn(|cx| {
            // Ready connections first, so a flood of new TCP connections cannot starve them.
            // (The server holds a sender of its own, so the channel never closes.)
            if let Poll::Ready(Ok(ready)) = ready.as_mut().poll(cx) {
                return Poll::Ready(ready);
            }
            while let Poll::Ready(incoming) = self.poll_incoming(cx) {
                let ready = self.ready_tx.clone();
                incoming.spawn(|open, slot| {
                    async move {
                        let Some(opened) = open.await else {
                            return;
                        };
                        let run = async move {
                            opened.driver.run().await;
                            drop(slot);
                        };
                        R::spawn(run.in_current_span());
                        // If the server is gone, dropping the connection closes it.
                        let _ = ready.send((opened.websocket, opened.addr)).await;
                    }
                });
            }
            Poll::Pending
        })
        .await
    }

    /// The next new TCP connection that admission let in, ready to open in a task of its
    /// own.
    fn poll_incoming(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Incoming<R>> {
        let Some(listener) = &mut self.listener else {
            return Poll::Pending;
        };
        loop {
            let (stream, addr) = std::task::ready!(listener.poll_accept(cx));
            let tls = self.config.tls.as_ref();
            let Some((stream, slot)) = admit::<R>(&self.edge, stream, addr, tls, &self.ws) else {
                continue;
            };
            let held = HeldShare::new(self.held.clone());
            let open = open::<R>(
                stream,
                addr,
                self.ws.clone(),
                self.config.tls.clone(),
                self.protocols.clone(),
                self.edge.clone(),
                held,
            );
            // Boxed: passed down by value, the opening's future (a driver and its first
            // steps, about 5 KiB) would be laid out several times over in the task, which
            // every connection in its handshake holds, and kept beside the driver after.
            return Poll::Ready(Incoming {
                open: Box::pin(open),
                slot,
                span: tracing::debug_span!("ws", role = "server", peer = %addr),
                tls: tls.is_some(),
            });
        }
    }
}

/// The driver of an opened connection and `handler`'s future for it, as one future (see
/// [`joint`]). A panic ends the handler as a return would: its `WebSocket` dropped, so the
/// connection closes with 1000, instead of taking down the driver that shares its task.
/// The handle goes in boxed and is moved out of its box in a block of its own, which frees
/// the box: the handler's future holds the handle, and a by-value capture would keep a
/// second, moved-out slot of its size beside that future for the connection's life.
fn serving<R, F, Fut>(
    opened: Opened<R>,
    handler: Arc<F>,
) -> Joint<impl Future<Output = ()>, impl Future<Output = std::thread::Result<()>>>
where
    R: Runtime,
    F: Fn(WebSocket) -> Fut,
    Fut: Future<Output = ()>,
{
    let websocket = Box::new(opened.websocket);
    let handling = async move {
        let websocket = {
            let boxed = websocket;
            *boxed
        };
        handler(websocket).await
    };
    joint(
        opened.driver.run(),
        AssertUnwindSafe(handling).catch_unwind(),
    )
}

/// Runs a connection under `serve` to its end: `None` if its handler was dropped. Once the
/// driver has ended (the `WebSocket` is closed), a handler still running when the grace of
/// a shutdown of `edge`'s server has passed is dropped: one that never returns would
/// otherwise hold its slot, and the shutdown, for good.
async fn run_serving<R: Runtime, A, B>(
    connection: &mut Joint<A, B>,
    edge: &Edge,
) -> Option<B::Output>
where
    A: Future<Output = ()>,
    B: Future,
{
    let driven = std::future::poll_fn(|cx| match Pin::new(&mut *connection).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending if connection.first_done() => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await;
    if driven.is_some() {
        return driven;
    }
    // Boxed: only a handler that outlives its connection gets here, and inline, these
    // waits would size the task of every connection.
    Box::pin(outlived::<R, _>(connection, edge)).await
}

/// A handler whose connection has ended, until it returns or a shutdown's grace has passed.
async fn outlived<R: Runtime, F: Future + Unpin>(
    handler: &mut F,
    edge: &Edge,
) -> Option<F::Output> {
    let mut stop = StopSignal::new(edge.stop_signal());
    let running = &mut *handler;
    let stopping = future::or(async { Ok(running.await) }, async {
        Err(std::future::poll_fn(|cx| stop.poll_stopped(cx)).await)
    });
    let deadline = match stopping.await {
        Ok(output) => return Some(output),
        Err(deadline) => deadline,
    };
    until::<R, _>(deadline, handler).await
}

/// A TCP connection admission let in: its opening, its slot (which counts it in the
/// server until its driver ends, and under `serve` its handler too), and the span its
/// tasks run in.
struct Incoming<R: Runtime> {
    open: Opening<R>,
    slot: Slot,
    span: tracing::Span,
    /// Whether it opens with a TLS handshake (see [`spawn_accepted`]).
    tls: bool,
}

/// An opening, as [`Incoming`] holds it.
type Opening<R> = Pin<Box<dyn Future<Output = Option<Opened<R>>> + Send>>;

impl<R: Runtime> Incoming<R> {
    /// Runs the task `task` makes of the opening and the slot, in the connection's span;
    /// its first poll may be made here (see [`spawn_accepted`]).
    fn spawn<T>(self, task: impl FnOnce(Opening<R>, Slot) -> T)
    where
        T: Future<Output = ()> + Send + 'static,
    {
        let Incoming {
            open,
            slot,
            span,
            tls,
        } = self;
        spawn_accepted::<R>(task(open, slot).instrument(span), tls);
    }
}

/// A connection whose handshake succeeded.
struct Opened<R: Runtime> {
    driver: Box<Driver<R>>,
    websocket: WebSocket,
    addr: SocketAddr,
}

/// Runs the handshakes of one accepted connection (TLS if configured, then WebSocket);
/// `held` is its share of what the server's connections hold. A failed one is answered
/// and logged, and gives `None`.
async fn open<R: Runtime>(
    stream: R::Tcp,
    addr: SocketAddr,
    ws: Arc<Config>,
    tls: Option<ServerTls>,
    protocols: Arc<[String]>,
    edge: Arc<Edge>,
    held: HeldShare,
) -> Option<Opened<R>> {
    let seed = crate::listener::seed_or_log()?;
    let stream = stream::accept_within::<R>(stream, tls.as_ref(), &ws).await?;
    // From here the core times the handshake out itself, and the linger bounds writing
    // its error response.
    let linger = ws.close_timeout;
    let conn = Connection::server(R::now(), ws, seed);
    let gate = Gate::new(&edge, addr, stream.peer_certificates());
    let (mut driver, parts) = Driver::<R>::new(conn, stream, protocols, Some(gate), linger, held);
    driver.stop_with(edge.stop_signal());
    match driver.open().await {
        Ok(protocol) => {
            let compression = driver.compression();
            let context = driver.take_context();
            let websocket = WebSocket::new(parts, protocol, compression).with_context(context);
            Some(Opened {
                driver: Box::new(driver),
                websocket,
                addr,
            })
        }
        Err(OpenError::Protocol(e)) => {
            debug!(error = %e, "handshake failed");
            None
        }
        Err(OpenError::Io(e)) => {
            stream::log_socket_error(&e);
            None
        }
        // Refused or answered by the hook, or the client left.
        Err(OpenError::Closed) => {
            debug!("closed during handshake");
            None
        }
    }
}
