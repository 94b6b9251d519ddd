//! Accepting connections: [`Server`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use async_channel::{Receiver as Rx, Sender as Tx};
use async_net::{AsyncToSocketAddrs, TcpListener, TcpStream};
use futures_lite::future;
use tether_adapter::{is_per_connection, OpenError, ServerConfig};
use tether_core::ws::{Config, Connection};
use tether_core::Seed;
use tracing::{debug, Instrument};

use crate::driver::Driver;
use crate::task::{spawn, timeout};
use crate::transport::now;
use crate::WebSocket;

/// Handshakes that finished but were not yet taken by [`Server::accept`]; past this many,
/// finished handshakes wait (and so do their clients).
const READY_CAPACITY: usize = 64;

/// What [`Server::accept`] waited for.
enum Next {
    Ready(Option<(WebSocket, SocketAddr)>),
    Accepted(io::Result<(TcpStream, SocketAddr)>),
}

/// A listening WebSocket server.
///
/// Each accepted TCP connection runs its opening handshake in a task of its own, so a slow
/// client does not hold up the others; [`accept`](Self::accept) yields those that open.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    protocols: Arc<[String]>,
    ready_tx: Tx<(WebSocket, SocketAddr)>,
    ready_rx: Rx<(WebSocket, SocketAddr)>,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`](Self::local_addr)).
    pub async fn bind(addr: impl AsyncToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
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

    /// The next connection whose handshake succeeded, and the client's address.
    ///
    /// New TCP connections are taken only while this is awaited; each one's handshake then
    /// runs in a task of its own, concurrently with the others. A failed handshake is
    /// answered with its HTTP status, logged at debug level, and skipped. Errors are those
    /// of the listening socket (for example running out of file descriptors); the server
    /// remains usable after them.
    ///
    /// Cancel-safe: dropping the future loses no connection.
    pub async fn accept(&mut self) -> io::Result<(WebSocket, SocketAddr)> {
        loop {
            // Ready connections first, so a flood of new TCP connections cannot starve them.
            let ready = async { Next::Ready(self.ready_rx.recv().await.ok()) };
            let accepted = async { Next::Accepted(self.listener.accept().await) };
            match future::or(ready, accepted).await {
                Next::Ready(Some(ready)) => return Ok(ready),
                // Never: the server holds a sender of its own.
                Next::Ready(None) => {}
                Next::Accepted(Ok((stream, addr))) => self.start_handshake(stream, addr),
                // The client gave up before we got to it; that is its business.
                Next::Accepted(Err(e)) if is_per_connection(&e) => {
                    debug!(error = %e, "accept failed");
                }
                Next::Accepted(Err(e)) => return Err(e),
            }
        }
    }

    fn start_handshake(&self, stream: TcpStream, addr: SocketAddr) {
        let span = tracing::debug_span!("ws", role = "server", peer = %addr);
        let task = handshake(
            stream,
            addr,
            self.config.clone(),
            self.protocols.clone(),
            self.ready_tx.clone(),
        );
        spawn(task.instrument(span));
    }
}

/// Opens one accepted connection and hands it to [`Server::accept`].
async fn handshake(
    stream: TcpStream,
    addr: SocketAddr,
    config: ServerConfig,
    protocols: Arc<[String]>,
    ready: Tx<(WebSocket, SocketAddr)>,
) {
    let Some(seed) = prepare(&stream) else {
        return;
    };
    let limit = config.open_limit();
    let ws: Config = config.ws;
    let linger = ws.close_timeout;
    let conn = Connection::server(now(), ws, seed);
    let (mut driver, parts) = Driver::new(conn, stream, protocols, linger);
    match timeout(limit, driver.open()).await {
        Some(Ok(protocol)) => {
            spawn(driver.run().in_current_span());
            // If the server is gone, dropping the connection closes it.
            let _ = ready.send((WebSocket::new(parts, protocol), addr)).await;
        }
        Some(Err(OpenError::Protocol(e))) => debug!(error = %e, "handshake failed"),
        Some(Err(OpenError::Io(e))) => debug!(error = %e, "socket error during handshake"),
        Some(Err(OpenError::Closed)) => debug!("closed during handshake"),
        None => debug!("handshake timed out"),
    }
}

/// Readies an accepted socket: no Nagle delay, and a seed for its core. `None` (logged)
/// if there is no randomness to be had; the connection is then dropped.
pub(crate) fn prepare(stream: &TcpStream) -> Option<Seed> {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
    match tether_adapter::seed() {
        Ok(seed) => Some(seed),
        Err(e) => {
            debug!(error = %e, "no randomness for the connection");
            None
        }
    }
}
