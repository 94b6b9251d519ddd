//! Opening a connection: [`connect`].

use std::future::Future;
use std::io;
use std::sync::Arc;

use async_net::TcpStream;
use tether_adapter::{ClientConfig, ConnectError, Target};
use tether_core::ws::Connection;
use tracing::Instrument;

use crate::driver::Driver;
use crate::task::{spawn, timeout};
use crate::transport::now;
use crate::WebSocket;

/// Opens a WebSocket to `url` (`ws://host[:port]/path?query`; the port defaults to 80).
///
/// Resolves once the opening handshake has finished, so
/// [`WebSocket::protocol`] already says which subprotocol the server chose. `wss://` is
/// not supported yet and fails with [`ConnectError::UnsupportedScheme`].
///
/// Cancel-safe: dropping the future drops the half-open socket.
pub async fn connect(url: &str, config: ClientConfig) -> Result<WebSocket, ConnectError> {
    let target = Target::parse(url)?;
    let span = tracing::debug_span!("ws", role = "client", peer = %target.host_header());
    let limit = config.connect_timeout;
    within(limit, open(target, config).instrument(span)).await
}

/// Runs `open` for at most `limit`: the whole connect, TCP and handshake together.
pub(crate) async fn within<T>(
    limit: std::time::Duration,
    open: impl Future<Output = Result<T, ConnectError>>,
) -> Result<T, ConnectError> {
    timeout(limit, open)
        .await
        .unwrap_or(Err(ConnectError::Timeout))
}

async fn open(target: Target, config: ClientConfig) -> Result<WebSocket, ConnectError> {
    let linger = config.ws.close_timeout;
    let request = target.request(config.headers, config.protocols);
    // Built before connecting, so a request we cannot send fails without touching the network.
    let conn = Connection::client(now(), config.ws, request, tether_adapter::seed()?)
        .map_err(ConnectError::Handshake)?;
    let stream = tcp_connect(&target).await?;
    let (mut driver, parts) = Driver::new(conn, stream, Arc::from([]), linger);
    let protocol = driver.open().await?;
    spawn(driver.run().in_current_span());
    Ok(WebSocket::new(parts, protocol))
}

/// Opens the TCP connection (resolving a name on the blocking pool).
pub(crate) async fn tcp_connect(target: &Target) -> io::Result<TcpStream> {
    let stream = TcpStream::connect((target.host(), target.port())).await?;
    // Small frames (pongs, replies) must not wait for Nagle's timer.
    stream.set_nodelay(true)?;
    Ok(stream)
}
