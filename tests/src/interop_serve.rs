//! `Server::serve`, where each connection's handler runs in the task that drives it, against
//! a peer client (Python `websockets`, Node `ws`): echo, a handler that panics, and a
//! shutdown. Compiled once per module of [`crate::runtime`], like
//! [`interop`](crate::runtime::tokio::interop).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use super::adapter::{
    CloseCode, CloseInfo, Initiator, Server, ServerConfig, ServerHandle, WebSocket,
};
use super::interop::every_size;
use super::interop::{check_peer_close, expect_closed, expect_message, info, send};
use crate::peer::{run_client, PeerKind, CLIENT_TIMEOUT, STEP_TIMEOUT};
use crate::runtime::timeout;

/// Serves with `handler` on 127.0.0.1:0 while `clients` runs with the server's URL and
/// handle; `clients` ends the serving by shutting the server down. Checks that `serve`
/// returned `Ok`; returns what `clients` returned.
async fn serving<F, Fut, C, CFut, T>(handler: F, clients: C) -> T
where
    F: Fn(WebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
    C: FnOnce(String, ServerHandle) -> CFut,
    CFut: Future<Output = T>,
{
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
    let server = timeout(
        STEP_TIMEOUT,
        Server::bind(loopback, ServerConfig::default()),
    )
    .await
    .expect("bind took too long")
    .expect("bind 127.0.0.1:0");
    let url = format!("ws://{}/", server.local_addr().expect("local_addr"));
    let handle = server.handle();
    // `serve` runs beside the clients in this task: no runtime is named.
    let serve = async {
        timeout(2 * CLIENT_TIMEOUT + STEP_TIMEOUT, server.serve(handler))
            .await
            .expect("serve did not return after the shutdown")
            .expect("serve");
    };
    let ((), result) = futures_lite::future::zip(serve, clients(url, handle)).await;
    result
}

/// Waits for a handler to say its connection opened.
async fn connection_opened(opened: &async_channel::Receiver<()>) {
    timeout(CLIENT_TIMEOUT, opened.recv())
        .await
        .expect("no connection in time")
        .expect("opened");
}

/// Each handler reports how its connection ended here.
fn reports() -> (
    async_channel::Sender<CloseInfo>,
    async_channel::Receiver<CloseInfo>,
) {
    async_channel::unbounded()
}

/// The peer sends text and binary messages of every size; the handler checks and echoes
/// each in the connection's own task, and sees the peer's clean close; `serve` returns
/// once shut down.
pub async fn tether_serve_echoes_every_size(peer: PeerKind) {
    let (report, ended) = reports();
    let handler = move |mut ws: WebSocket| {
        let report = report.clone();
        async move {
            for (kind, n) in every_size() {
                let m = expect_message(&mut ws, kind, n).await;
                send(&ws, m).await;
            }
            let _ = report.send(expect_closed(&mut ws).await).await;
        }
    };
    let clients = |url: String, handle: ServerHandle| async move {
        let during = async {
            let closed = timeout(CLIENT_TIMEOUT, ended.recv())
                .await
                .expect("the handler did not end in time")
                .expect("a report");
            assert_eq!(closed, info(1000, "", Initiator::Remote, true));
            handle.shutdown(Duration::from_secs(1)).await;
        };
        let ((), run) = futures_lite::future::zip(during, run_client(peer, &url, "echo")).await;
        run.success()
    };
    let result = serving(handler, clients).await;
    assert_eq!(result["checked"], json!(every_size().len()), "{result}");
}

/// A handler that panics while holding its connection: the panic is caught, the
/// connection (driven by the same task) is closed with 1000 as if the handler had
/// returned, and the server keeps serving: a second connection is served too.
pub async fn tether_serve_closes_for_a_panicking_handler(peer: PeerKind) {
    let handler = |ws: WebSocket| async move {
        let _held = ws;
        panic!("the handler failed (expected by this test)");
    };
    let clients = |url: String, handle: ServerHandle| async move {
        let first = run_client(peer, &url, "wait-close").await.success();
        let second = run_client(peer, &url, "wait-close").await.success();
        handle.shutdown(Duration::from_secs(1)).await;
        (first, second)
    };
    let (first, second) = serving(handler, clients).await;
    check_peer_close(peer, &first, 1000, None, true);
    check_peer_close(peer, &second, 1000, None, true);
}

/// A shutdown while a handler waits on its connection: the connection closes with 1001,
/// the handler sees that close, and `serve` returns once it has ended.
pub async fn tether_serve_shutdown_closes_with_1001(peer: PeerKind) {
    let (report, ended) = reports();
    let (opened_tx, opened) = async_channel::bounded::<()>(1);
    let handler = move |mut ws: WebSocket| {
        let (report, opened_tx) = (report.clone(), opened_tx.clone());
        async move {
            let _ = opened_tx.send(()).await;
            let _ = report.send(expect_closed(&mut ws).await).await;
        }
    };
    let clients = |url: String, handle: ServerHandle| async move {
        let during = async {
            connection_opened(&opened).await;
            handle.shutdown(Duration::from_secs(5)).await;
            let closed = ended
                .try_recv()
                .expect("the handler ended before the shutdown returned");
            assert_eq!(
                (closed.code, closed.initiator),
                (CloseCode::GOING_AWAY, Initiator::Local),
                "{closed:?}"
            );
        };
        let ((), run) =
            futures_lite::future::zip(during, run_client(peer, &url, "wait-close")).await;
        run.success()
    };
    let result = serving(handler, clients).await;
    check_peer_close(peer, &result, 1001, None, true);
}

/// Says on its channel when it is dropped.
struct DropReport(async_channel::Sender<()>);

impl Drop for DropReport {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// The grace the two scenarios below give a shutdown.
const GRACE: Duration = Duration::from_millis(200);

/// Shuts the server down with [`GRACE`] while its one handler (which reports its drop to
/// `dropped`) runs on after its connection closed: checks that the handler was not dropped
/// before, that the shutdown returns once the grace has passed and not before, and that
/// the handler is gone by then.
async fn shutdown_drops_the_handler(handle: &ServerHandle, dropped: &async_channel::Receiver<()>) {
    assert!(
        dropped.try_recv().is_err(),
        "the handler was dropped before the shutdown"
    );
    let started = std::time::Instant::now();
    timeout(CLIENT_TIMEOUT, handle.shutdown(GRACE))
        .await
        .expect("the shutdown waited for a handler past its grace");
    assert!(
        started.elapsed() >= GRACE,
        "the shutdown returned before its grace, after {:?}",
        started.elapsed()
    );
    dropped
        .try_recv()
        .expect("the handler was dropped before the shutdown returned");
    assert_eq!(handle.connections(), 0);
}

/// A handler that never returns, even once its connection has closed: a shutdown closes the
/// connection with 1001, drops the handler once its grace has passed, and returns.
/// Without the drop, the handler's slot would hold the shutdown (and `serve`) for good.
pub async fn tether_serve_shutdown_drops_a_handler_past_the_grace(peer: PeerKind) {
    let (report, ended) = reports();
    let (dropped_tx, dropped) = async_channel::bounded::<()>(1);
    let (opened_tx, opened) = async_channel::bounded::<()>(1);
    let handler = move |mut ws: WebSocket| {
        let (report, opened_tx) = (report.clone(), opened_tx.clone());
        let guard = DropReport(dropped_tx.clone());
        async move {
            let _guard = guard;
            let _ = opened_tx.send(()).await;
            let _ = report.send(expect_closed(&mut ws).await).await;
            std::future::pending::<()>().await;
        }
    };
    let clients = |url: String, handle: ServerHandle| async move {
        let during = async {
            connection_opened(&opened).await;
            shutdown_drops_the_handler(&handle, &dropped).await;
            let closed = ended
                .try_recv()
                .expect("the handler saw its connection close");
            assert_eq!(closed.code, CloseCode::GOING_AWAY, "{closed:?}");
        };
        let ((), run) =
            futures_lite::future::zip(during, run_client(peer, &url, "wait-close")).await;
        run.success()
    };
    let result = serving(handler, clients).await;
    check_peer_close(peer, &result, 1001, None, true);
}

/// The peer closes first and the handler runs on; a shutdown after that drops it once its
/// grace has passed (the connection's end alone does not).
pub async fn tether_serve_shutdown_drops_a_handler_its_peer_left(peer: PeerKind) {
    let (report, ended) = reports();
    let (dropped_tx, dropped) = async_channel::bounded::<()>(1);
    let handler = move |mut ws: WebSocket| {
        let report = report.clone();
        let guard = DropReport(dropped_tx.clone());
        async move {
            let _guard = guard;
            for (kind, n) in every_size() {
                let m = expect_message(&mut ws, kind, n).await;
                send(&ws, m).await;
            }
            let _ = report.send(expect_closed(&mut ws).await).await;
            std::future::pending::<()>().await;
        }
    };
    let clients = |url: String, handle: ServerHandle| async move {
        let run = run_client(peer, &url, "echo").await.success();
        let closed = timeout(CLIENT_TIMEOUT, ended.recv())
            .await
            .expect("the handler did not see the close in time")
            .expect("a report");
        assert_eq!(closed, info(1000, "", Initiator::Remote, true));
        shutdown_drops_the_handler(&handle, &dropped).await;
        run
    };
    let result = serving(handler, clients).await;
    assert_eq!(result["checked"], json!(every_size().len()), "{result}");
}
