//! Accepting connections: [`Server`].

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::Poll;

use async_channel::{Receiver as Rx, Sender as Tx};
use tether_core::ws::{Config, Connection};
use tracing::{debug, Instrument};

use super::driver::Driver;
use super::WebSocket;
use crate::edge::Gate;
use crate::listener::Listener;
use crate::runtime::within;
use crate::{stream, OpenError, Runtime, ServerConfig};

/// Handshakes that finished but were not yet taken by [`Server::accept`]; past this many,
/// finished handshakes wait (and so do their clients).
const READY_CAPACITY: usize = 64;

/// A listening WebSocket server.
///
/// Each accepted TCP connection runs its opening handshake in a task of its own, so a slow
/// client does not hold up the others; [`accept`](Self::accept) yields those that open.
#[derive(Debug)]
pub struct Server<R: Runtime> {
    listener: Listener<R>,
    config: ServerConfig,
    protocols: Arc<[String]>,
    ready_tx: Tx<(WebSocket, SocketAddr)>,
    ready_rx: Rx<(WebSocket, SocketAddr)>,
}

impl<R: Runtime> Server<R> {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`](Self::local_addr)).
    /// A host name is resolved by the system's resolver before binding, which blocks:
    /// pass an IP address where that matters.
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server<R>> {
        let listener = Listener::bind(addr)?;
        let (ready_tx, ready_rx) = async_channel::bounded(READY_CAPACITY);
        Ok(Server {
            listener,
            protocols: config.protocols.clone().into(),
            config,
            ready_tx,
            ready_rx,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection whose handshake succeeded, and the client's address. Who the
    /// client is, as [`ServerConfig::admission`]'s hook decided, is in the connection's
    /// [`context`](WebSocket::context).
    ///
    /// New TCP connections are taken only while this is awaited; each one's handshakes (TLS
    /// if [`ServerConfig::tls`] is set, then WebSocket) then run in a task of its own,
    /// concurrently with the others. A failed handshake is answered with its HTTP status
    /// (or TLS alert), logged at debug level, and skipped; so is one that takes longer than
    /// [`ServerConfig::open_limit`]. Errors are those
    /// of the listening socket (for example running out of file descriptors); the server
    /// remains usable after them.
    ///
    /// Cancel-safe: dropping the future loses no connection.
    pub async fn accept(&mut self) -> io::Result<(WebSocket, SocketAddr)> {
        let mut ready = std::pin::pin!(self.ready_rx.recv());
        std::future::poll_fn(|cx| {
            // Ready connections first, so a flood of new TCP connections cannot starve them.
            // (The server holds a sender of its own, so the channel never closes.)
            if let Poll::Ready(Ok(ready)) = ready.as_mut().poll(cx) {
                return Poll::Ready(Ok(ready));
            }
            loop {
                match self.listener.poll_accept(cx) {
                    Poll::Ready(Ok((stream, addr))) => self.start_handshake(stream, addr),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await
    }

    fn start_handshake(&self, stream: R::Tcp, addr: SocketAddr) {
        let span = tracing::debug_span!("ws", role = "server", peer = %addr);
        let task = handshake::<R>(
            stream,
            addr,
            self.config.clone(),
            self.protocols.clone(),
            self.ready_tx.clone(),
        );
        R::spawn(task.instrument(span));
    }
}

/// Opens one accepted connection and hands it to [`Server::accept`].
async fn handshake<R: Runtime>(
    stream: R::Tcp,
    addr: SocketAddr,
    config: ServerConfig,
    protocols: Arc<[String]>,
    ready: Tx<(WebSocket, SocketAddr)>,
) {
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
        let gate = Gate::new(&config.admission, addr, stream.peer_certificates());
        let (mut driver, parts) = Driver::<R>::new(conn, stream, protocols, Some(gate), linger);
        let protocol = driver.open().await?;
        Ok((driver, parts, protocol))
    };
    match within::<R, _>(limit, open).await {
        Some(Ok((driver, parts, protocol))) => {
            let compression = driver.compression();
            let context = driver.context();
            R::spawn(driver.run().in_current_span());
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
