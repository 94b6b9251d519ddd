//! Opening a connection: [`connect`].

use std::sync::Arc;

use tether_core::ws::Connection;
use tracing::Instrument;

use super::driver::Driver;
use super::WebSocket;
use crate::held::HeldShare;
use crate::runtime::within;
use crate::{stream, ClientConfig, ConnectError, Runtime, Target};

/// Opens a WebSocket to `url`: `ws://host[:port]/path?query` (port 80 by default) or
/// `wss://…` (TLS, port 443 by default), on runtime `R`. The runtime crates call this
/// `connect(url, config)`.
///
/// Resolves once the opening handshake has finished, so [`WebSocket::protocol`] already
/// says which subprotocol the server chose (and [`WebSocket::compression`] whether it took
/// up permessage-deflate, offered when `config.ws.compression` is set). For `wss://`, the
/// server's certificate must be valid for the URL's host (sent as SNI unless it is an IP
/// address) and chain to a root of [`ClientConfig::tls`]; a certificate or TLS failure is
/// a [`ConnectError::Tls`] naming the cause. TCP, TLS and the upgrade together take at most
/// [`ClientConfig::connect_timeout`].
///
/// Cancel-safe: dropping the future drops the half-open socket.
pub async fn connect<R: Runtime>(
    url: &str,
    config: ClientConfig,
) -> Result<WebSocket, ConnectError> {
    let target = Target::parse(url)?;
    let span = tracing::debug_span!("ws", role = "client", peer = %target.host_header());
    let limit = config.connect_timeout;
    within::<R, _>(limit, open::<R>(target, config).instrument(span))
        .await
        .unwrap_or(Err(ConnectError::Timeout))
}

async fn open<R: Runtime>(target: Target, config: ClientConfig) -> Result<WebSocket, ConnectError> {
    let linger = config.ws.close_timeout;
    let request = target.request(config.headers, config.protocols);
    // Built before connecting, so a request we cannot send fails without touching the network.
    let conn = Connection::client(R::now(), config.ws, request, crate::seed()?)
        .map_err(ConnectError::Handshake)?;
    let stream = stream::connect::<R>(&target, config.tls.as_ref()).await?;
    let (mut driver, parts) = Driver::<R>::new(
        conn,
        stream,
        Arc::from([]),
        None,
        linger,
        HeldShare::default(),
    );
    let protocol = driver.open().await?;
    let compression = driver.compression();
    R::spawn(Box::new(driver).run().in_current_span());
    Ok(WebSocket::new(parts, protocol, compression))
}
