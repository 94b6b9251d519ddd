//! Accepting connections: [`Server`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use async_channel::{Receiver as Rx, Sender as Tx};
use futures_lite::future;
use tether_core::ws::{Config, Connection};
use tokio::sync::watch;
use tracing::{debug, Instrument};

use super::driver::Driver;
use super::{admit, WebSocket};
use crate::edge::{Edge, Gate, Slot};
use crate::held::{HeldGauge, HeldShare};
use crate::listener::Listener;
use crate::runtime::within;
use crate::{stream, OpenError, Runtime, ServerConfig, ServerHandle};

/// Handshakes that finished but were not yet taken by [`Server::accept`]; past this many,
/// finished handshakes wait (and so do their clients).
const READY_CAPACITY: usize = 64;

/// A listening WebSocket server.
///
/// Each accepted TCP connection runs its opening handshake in a task of its own, so a slow
/// client does not hold up the others; [`accept`](Self::accept) yields those that open.
/// Who may connect, and how many at once, is [`ServerConfig::admission`]'s; its
/// [`handle`](Self::handle) counts connections and shuts the server down.
#[derive(Debug)]
pub struct Server<R: Runtime> {
    /// `None` once shut down: the listening socket is closed.
    listener: Option<Listener<R>>,
    local_addr: SocketAddr,
    config: ServerConfig,
    protocols: Arc<[String]>,
    edge: Arc<Edge>,
    stop: watch::Receiver<Option<Instant>>,
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
            stop: edge.stop_signal(),
            edge,
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
    /// concurrently with the others. A failed handshake is answered with its HTTP status
    /// (or TLS alert), logged at debug level, and skipped; so is one that takes longer than
    /// [`ServerConfig::open_limit`]. A connection past the
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
        let mut stop = self.stop.clone();
        let stopped = async {
            // The edge lives as long as the server.
            let _ = stop.wait_for(Option::is_some).await;
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

    /// The next connection that opened.
    async fn next(&mut self) -> (WebSocket, SocketAddr) {
        let Server {
            listener,
            config,
            protocols,
            edge,
            ready_tx,
            ready_rx,
            held,
            ..
        } = self;
        let mut ready = std::pin::pin!(ready_rx.recv());
        std::future::poll_fn(|cx| {
            // Ready connections first, so a flood of new TCP connections cannot starve them.
            // (The server holds a sender of its own, so the channel never closes.)
            if let Poll::Ready(Ok(ready)) = ready.as_mut().poll(cx) {
                return Poll::Ready(ready);
            }
            let Some(listener) = listener else {
                return Poll::Pending;
            };
            while let Poll::Ready((stream, addr)) = listener.poll_accept(cx) {
                let tls = config.tls.as_ref();
                let Some((stream, slot)) = admit::<R>(edge, stream, addr, tls, &config.ws) else {
                    continue;
                };
                let span = tracing::debug_span!("ws", role = "server", peer = %addr);
                let task = handshake::<R>(
                    stream,
                    addr,
                    config.clone(),
                    protocols.clone(),
                    edge.clone(),
                    (slot, HeldShare::new(held.clone())),
                    ready_tx.clone(),
                );
                R::spawn(task.instrument(span));
            }
            Poll::Pending
        })
        .await
    }
}

/// Opens one accepted connection and hands it to [`Server::accept`]; `counted` counts it
/// in the server until its driver ends: its slot against the connection limits, its
/// share of what connections hold.
async fn handshake<R: Runtime>(
    stream: R::Tcp,
    addr: SocketAddr,
    config: ServerConfig,
    protocols: Arc<[String]>,
    edge: Arc<Edge>,
    counted: (Slot, HeldShare),
    ready: Tx<(WebSocket, SocketAddr)>,
) {
    let (slot, held) = counted;
    let Some(seed) = crate::listener::seed_or_log() else {
        return;
    };
    // The limit covers TLS too, so a client that never finishes it cannot hold a task.
    let limit = config.open_limit();
    let ws: Config = config.ws;
    let linger = ws.close_timeout;
    let conn = Connection::server(R::now(), ws, seed);
    let open = async {
        let stream = stream::accept::<R>(stream, config.tls.as_ref())
            .await
            .map_err(OpenError::Io)?;
        let gate = Gate::new(&edge, addr, stream.peer_certificates());
        let (mut driver, parts) =
            Driver::<R>::new(conn, stream, protocols, Some(gate), linger, held);
        driver.stop_with(edge.stop_signal());
        let protocol = driver.open().await?;
        Ok((driver, parts, protocol))
    };
    // Boxed: passed down by value through `within`, the opening's future (a driver and its
    // first steps, about 5 KiB) would be laid out several times over in this task, which
    // every connection in its handshake holds.
    match within::<R, _>(limit, Box::pin(open)).await {
        Some(Ok((driver, parts, protocol))) => {
            let compression = driver.compression();
            let context = driver.context();
            let driver = Box::new(driver);
            let run = async move {
                driver.run().await;
                drop(slot);
            };
            R::spawn(run.in_current_span());
            // If the server is gone, dropping the connection closes it.
            let websocket = WebSocket::new(parts, protocol, compression).with_context(context);
            let _ = ready.send((websocket, addr)).await;
        }
        Some(Err(OpenError::Protocol(e))) => debug!(error = %e, "handshake failed"),
        Some(Err(OpenError::Io(e))) => stream::log_socket_error(&e),
        // Refused or answered by the hook, or the client left.
        Some(Err(OpenError::Closed)) => debug!("closed during handshake"),
        None => debug!("handshake timed out"),
    }
}
