//! Opening a connection: [`connect`].

use std::future::Future;
use std::sync::Arc;

use tether_adapter::{ClientConfig, ConnectError, Target};
use tether_core::ws::Connection;
use tracing::Instrument;

use crate::driver::Driver;
use crate::stream;
use crate::task::{spawn, timeout};
use crate::transport::now;
use crate::WebSocket;

/// Opens a WebSocket to `url`: `ws://host[:port]/path?query` (port 80 by default) or
/// `wss://…` (TLS, port 443 by default).
///
/// Resolves once the opening handshake has finished, so
/// [`WebSocket::protocol`] already says which subprotocol the server chose. For `wss://`,
/// the server's certificate must be valid for the URL's host (sent as SNI unless it is an
/// IP address) and chain to a root of [`ClientConfig::tls`]; a certificate or TLS failure
/// is a [`ConnectError::Tls`] naming the cause. TCP, TLS and the upgrade together take at
/// most [`ClientConfig::connect_timeout`].
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
    let stream = stream::connect(&target, config.tls.as_ref()).await?;
    let (mut driver, parts) = Driver::new(conn, stream, Arc::from([]), linger);
    let protocol = driver.open().await?;
    spawn(driver.run().in_current_span());
    Ok(WebSocket::new(parts, protocol))
}
