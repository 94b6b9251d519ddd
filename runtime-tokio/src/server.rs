//! Accepting connections: [`Server`].

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tether_core::ws::{Config, Connection};
use tether_core::Seed;
use tether_tls::{ServerTls, TlsError};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::mpsc;
use tracing::{debug, Instrument};

use crate::driver::{self, Driver, OpenError};
use crate::stream::Stream;
use crate::WebSocket;

/// Handshakes that finished but were not yet taken by [`Server::accept`]; past this many,
/// finished handshakes wait (and so do their clients).
const READY_CAPACITY: usize = 64;

/// How a [`Server`] answers upgrade requests.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// Limits and timeouts of each connection.
    pub ws: Config,
    /// Subprotocols we support. Of those a client offers, the first (in the client's order
    /// of preference) that is in this list is chosen; none is chosen if there is no match.
    pub protocols: Vec<String>,
    /// Serve `wss://`: every accepted connection starts with a TLS handshake, inside the
    /// same time limit as the opening handshake. `None` serves plain `ws://`.
    pub tls: Option<ServerTls>,
}

/// A listening WebSocket server.
///
/// Each accepted TCP connection runs its opening handshake in a task of its own, so a slow
/// client does not hold up the others; [`accept`](Self::accept) yields those that open.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    ws: Config,
    protocols: Arc<[String]>,
    tls: Option<ServerTls>,
    ready_tx: mpsc::Sender<(WebSocket, SocketAddr)>,
    ready_rx: mpsc::Receiver<(WebSocket, SocketAddr)>,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free one; see [`local_addr`](Self::local_addr)).
    pub async fn bind(addr: impl ToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        let (ready_tx, ready_rx) = mpsc::channel(READY_CAPACITY);
        Ok(Server {
            listener,
            ws: config.ws,
            protocols: config.protocols.into(),
            tls: config.tls,
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
    /// New TCP connections are taken only while this is awaited; each one's handshakes (TLS,
    /// then WebSocket) then run in a task of its own, concurrently with the others. A failed
    /// handshake is answered with its HTTP status (or TLS alert), logged at debug level,
    /// and skipped; so is one that takes longer than the config's `handshake_timeout` plus
    /// `close_timeout`. Errors are those of the listening socket (for
    /// example running out of file descriptors); the server remains usable after them.
    ///
    /// Cancel-safe: dropping the future loses no connection.
    pub async fn accept(&mut self) -> io::Result<(WebSocket, SocketAddr)> {
        loop {
            tokio::select! {
                // Ready connections first, so a flood of new TCP connections cannot starve them.
                biased;
                Some(ready) = self.ready_rx.recv() => return Ok(ready),
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, addr)) => self.start_handshake(stream, addr),
                    // The client gave up before we got to it; that is its business.
                    Err(e) if is_per_connection(&e) => debug!(error = %e, "accept failed"),
                    Err(e) => return Err(e),
                },
            }
        }
    }

    fn start_handshake(&self, stream: TcpStream, addr: SocketAddr) {
        let span = tracing::debug_span!("ws", role = "server", peer = %addr);
        let task = handshake(
            stream,
            addr,
            self.ws.clone(),
            self.protocols.clone(),
            self.tls.clone(),
            self.ready_tx.clone(),
        );
        tokio::spawn(task.instrument(span));
    }
}

/// Opens one accepted connection and hands it to [`Server::accept`].
async fn handshake(
    stream: TcpStream,
    addr: SocketAddr,
    ws: Config,
    protocols: Arc<[String]>,
    tls: Option<ServerTls>,
    ready: mpsc::Sender<(WebSocket, SocketAddr)>,
) {
    let Some(seed) = prepare(&stream) else {
        return;
    };
    // The core times the handshake out; the linger bounds writing its error response. The
    // limit covers TLS too, so a client that never finishes it cannot hold a task.
    let limit = ws.handshake_timeout + ws.close_timeout;
    let linger = ws.close_timeout;
    let conn = Connection::server(driver::now(), ws, seed);
    let open = async {
        let stream = accept(stream, tls.as_ref()).await.map_err(OpenError::Io)?;
        let (mut driver, parts) = Driver::new(conn, stream, protocols, linger);
        let protocol = driver.open().await?;
        Ok((driver, parts, protocol))
    };
    match tokio::time::timeout(limit, open).await {
        Ok(Ok((driver, parts, protocol))) => {
            let compression = driver.compression();
            tokio::spawn(driver.run().in_current_span());
            // If the server is gone, dropping the connection closes it.
            let websocket = WebSocket::new(parts, protocol, compression);
            let _ = ready.send((websocket, addr)).await;
        }
        Ok(Err(OpenError::Protocol(e))) => debug!(error = %e, "handshake failed"),
        Ok(Err(OpenError::Io(e))) => log_socket_error(&e),
        Ok(Err(OpenError::Closed)) => debug!("closed during handshake"),
        Err(_) => debug!("handshake timed out"),
    }
}

/// The stream of an accepted connection: the socket itself, or for `wss://` the socket
/// after the server side of a TLS handshake. Not timed: callers bound it.
pub(crate) async fn accept(stream: TcpStream, tls: Option<&ServerTls>) -> io::Result<Stream> {
    match tls {
        None => Ok(Stream::Tcp(stream)),
        Some(tls) => Stream::accept_tls(stream, tls).await,
    }
}

/// Logs why an accepted connection failed before it opened, naming the TLS cause if any
/// (a client that does not trust us, or that we do not trust).
pub(crate) fn log_socket_error(e: &io::Error) {
    match TlsError::from_io(e) {
        Some(tls) => debug!(error = %tls, "TLS handshake failed"),
        None => debug!(error = %e, "socket error during handshake"),
    }
}

/// Errors of `accept` that concern one incoming connection, not the listener.
pub(crate) fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Readies an accepted socket: no Nagle delay, and a seed for its core. `None` (logged)
/// if there is no randomness to be had; the connection is then dropped.
pub(crate) fn prepare(stream: &TcpStream) -> Option<Seed> {
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
    match driver::seed() {
        Ok(seed) => Some(seed),
        Err(e) => {
            debug!(error = %e, "no randomness for the connection");
            None
        }
    }
}
