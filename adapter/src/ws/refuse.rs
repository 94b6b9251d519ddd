//! Connections past a server's limits: counted, answered `503`, or closed ([`admit`]).
//! Written once for every server: the answer is a WebSocket handshake whose gate refuses.

use std::net::SocketAddr;
use std::sync::Arc;

use tether_core::ws::{Config, Connection};
use tether_tls::ServerTls;
use tracing::{debug, Instrument};

use super::driver::Driver;
use crate::edge::{Edge, Entry, Gate, Slot};
use crate::held::HeldShare;
use crate::listener::seed_or_log;
use crate::runtime::within;
use crate::{stream, Runtime};

/// Counts a TCP connection the server of `edge` accepted from `addr`: the connection and
/// its slot if the limits allow (the slot counts it until dropped). Otherwise it is
/// answered `503` in a task of its own (TLS first on `wss://`), or, past
/// [`Admission::MAX_REFUSING`](crate::Admission::MAX_REFUSING) refusals, closed at once.
pub(crate) fn admit<R: Runtime>(
    edge: &Arc<Edge>,
    tcp: R::Tcp,
    addr: SocketAddr,
    tls: Option<&ServerTls>,
    ws: &Config,
) -> Option<(R::Tcp, Slot)> {
    match edge.enter(addr.ip()) {
        Entry::Open(slot) => Some((tcp, slot)),
        Entry::Refuse(slot) => {
            let span = tracing::debug_span!("refuse", peer = %addr);
            let task = refuse::<R>(tcp, addr, tls.cloned(), ws.clone(), edge.clone(), slot);
            R::spawn(task.instrument(span));
            None
        }
        Entry::Close => {
            debug!(peer = %addr, "past the limits and the refusals; closed");
            None
        }
    }
}

/// Reads the request head and answers `503` with `Retry-After`, within the handshake
/// and close timeouts.
async fn refuse<R: Runtime>(
    tcp: R::Tcp,
    addr: SocketAddr,
    tls: Option<ServerTls>,
    ws: Config,
    edge: Arc<Edge>,
    slot: Slot,
) {
    let _counted = slot;
    let Some(seed) = seed_or_log() else {
        return;
    };
    let limit = stream::open_limit(&ws);
    let linger = ws.close_timeout;
    let conn = Connection::server(R::now(), ws, seed);
    let answer = async {
        let stream = stream::accept::<R>(tcp, tls.as_ref()).await?;
        let gate = Gate::refusing(&edge, addr);
        let (mut driver, _parts) = Driver::<R>::new(
            conn,
            stream,
            Arc::from([]),
            Some(gate),
            linger,
            HeldShare::default(),
        );
        // It never opens: the gate answers whatever comes, and the driver ends.
        let _ = driver.open().await;
        Ok::<(), std::io::Error>(())
    };
    match within::<R, _>(limit, answer).await {
        Some(Ok(())) => debug!("refused: past the limits"),
        Some(Err(e)) => stream::log_socket_error(&e),
        None => debug!("refusal timed out"),
    }
}
