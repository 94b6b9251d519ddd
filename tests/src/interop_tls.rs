//! The `wss://` interop scenarios, written once and run against each peer by
//! `tests/interop_tls_python.rs` and `tests/interop_tls_node.rs`, for each adapter and
//! executor: like `interop.rs`, this file is compiled once per module of
//! [`crate::runtime`] and uses its `adapter`, so the scenarios name no runtime.
//!
//! Each test makes its own CA and certificates ([`TestPki`]) and hands the peer their
//! files through `PEER_TLS_*` variables; the peers then use their own TLS stacks (Python's
//! `ssl`, Node's `tls`, both OpenSSL). Both directions carry messages of every size; the
//! other scenarios check that tether trusts only what it is told to, that mutual TLS works
//! and refuses both ways with a typed error, and that the refusing side keeps serving.

use std::future::Future;
use std::path::Path;

use serde_json::{json, Value};

use super::adapter::{
    connect, ClientConfig, ClientTls, CloseCode, ConnectError, Event, Server, ServerConfig,
    ServerTls, TlsError, WebSocket,
};
use crate::certs::{Leaf, TestPki};
use crate::payload::{check_message, message, Kind, SIZES};
use crate::peer::{run_client_with_env, ClientRun, PeerKind, PeerServer, STEP_TIMEOUT};
use crate::runtime::timeout;

/// The variables that make a peer server serve `leaf` over TLS.
fn serving(leaf: &Leaf) -> [(&'static str, &Path); 2] {
    [
        ("PEER_TLS_CERT", leaf.chain_path.as_path()),
        ("PEER_TLS_KEY", leaf.key_path.as_path()),
    ]
}

async fn connect_tls(url: &str, tls: Option<ClientTls>) -> Result<WebSocket, ConnectError> {
    let config = ClientConfig {
        tls,
        ..Default::default()
    };
    timeout(STEP_TIMEOUT, connect(url, config))
        .await
        .unwrap_or_else(|_| panic!("connecting to {url} hung past {STEP_TIMEOUT:?}"))
}

/// Every size of text and binary message to the peer's echo and back, then a clean close.
async fn echo_every_size(ws: &mut WebSocket) {
    for kind in Kind::BOTH {
        for n in SIZES {
            timeout(STEP_TIMEOUT, ws.send(message(kind, n)))
                .await
                .expect("send hung")
                .expect("send");
            match timeout(STEP_TIMEOUT, ws.recv()).await.expect("echo hung") {
                Some(echo) => check_message(&echo, kind, n).unwrap_or_else(|e| panic!("{e}")),
                None => panic!("closed before the echo of {} {n}", kind.name()),
            }
        }
    }
    timeout(STEP_TIMEOUT, ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close hung")
        .expect("close");
    match timeout(STEP_TIMEOUT, ws.recv_event())
        .await
        .expect("Closed hung")
    {
        Some(Event::Closed(info)) => {
            assert!(info.clean && info.code == CloseCode::NORMAL, "{info:?}")
        }
        other => panic!("expected Closed, got {other:?}"),
    }
}

/// One small message to the peer's echo and back, then a clean close: enough to show a
/// connection works where its size is not the point.
async fn echo_once(ws: &mut WebSocket) {
    timeout(STEP_TIMEOUT, ws.send(message(Kind::Text, 126)))
        .await
        .expect("send hung")
        .expect("send");
    match timeout(STEP_TIMEOUT, ws.recv()).await.expect("echo hung") {
        Some(echo) => check_message(&echo, Kind::Text, 126).unwrap_or_else(|e| panic!("{e}")),
        None => panic!("closed before the echo"),
    }
    timeout(STEP_TIMEOUT, ws.close(CloseCode::NORMAL, ""))
        .await
        .expect("close hung")
        .expect("close");
    while timeout(STEP_TIMEOUT, ws.recv_event())
        .await
        .expect("Closed hung")
        .is_some()
    {}
}

fn expect_tls_error(result: Result<WebSocket, ConnectError>) -> TlsError {
    match result {
        Err(ConnectError::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("the connection opened"),
    }
}

// --------------------------------------------------- tether client, peer server

/// tether connects by name (`localhost`, sent as SNI, which the peer reports) trusting the
/// test CA; every message size goes to the peer's echo and back over TLS.
pub async fn tether_client_echoes_over_wss(peer: PeerKind) {
    let pki = TestPki::new("client-echo");
    let server = PeerServer::start_with_env(peer, &serving(&pki.server()));
    let url = format!("wss://localhost:{}/echo", server.port());
    let mut ws = connect_tls(&url, Some(pki.client_tls()))
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}\npeer stderr:\n{}", server.stderr()));
    echo_every_size(&mut ws).await;
    let report = server.next_report().await;
    assert_eq!(report["sni"], json!("localhost"), "{report}");
    assert_eq!(
        report["messages"].as_array().map(Vec::len),
        Some(2 * SIZES.len()),
        "{report}"
    );
    assert_eq!(report["close"]["code"], json!(1000), "{report}");
}

/// With the default roots (`webpki-roots`), the test CA is unknown: the peer's certificate
/// is refused as [`TlsError::UnknownIssuer`], and the peer goes on serving.
pub async fn tether_client_refuses_an_unknown_issuer(peer: PeerKind) {
    let pki = TestPki::new("unknown");
    let server = PeerServer::start_with_env(peer, &serving(&pki.server()));
    let url = format!("wss://localhost:{}/echo", server.port());
    let error = expect_tls_error(connect_tls(&url, None).await);
    assert!(matches!(error, TlsError::UnknownIssuer), "{error:?}");
    let mut ws = connect_tls(&url, Some(pki.client_tls()))
        .await
        .expect("a client that trusts the CA connects");
    echo_once(&mut ws).await;
}

/// A peer server that requires client certificates refuses tether without one
/// ([`TlsError::CertificateRequired`], from the peer's alert, where the peer sends one) and
/// lets it in with one.
pub async fn tether_client_needs_a_certificate_for_a_mutual_tls_peer(peer: PeerKind) {
    let pki = TestPki::new("peer-mtls");
    let leaf = pki.server();
    let mut env = serving(&leaf).to_vec();
    env.push(("PEER_TLS_CA", pki.ca_path.as_path()));
    let server = PeerServer::start_with_env(peer, &env);
    let url = format!("wss://localhost:{}/echo", server.port());
    let refused = connect_tls(&url, Some(pki.client_tls())).await;
    match peer {
        PeerKind::Node => {
            let error = expect_tls_error(refused);
            assert!(matches!(error, TlsError::CertificateRequired), "{error:?}");
        }
        // asyncio aborts the socket when OpenSSL fails the handshake, dropping the alert
        // OpenSSL wrote: all tether can see is the connection ending mid-handshake, as an
        // EOF or, when the abort overtakes our last read, as a reset.
        PeerKind::Python => assert!(
            matches!(&refused, Err(ConnectError::ClosedDuringHandshake))
                || matches!(&refused, Err(ConnectError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{:?}",
            refused.map(|_| ())
        ),
    }
    let node = pki.client("node-1");
    let tls = pki
        .client_tls()
        .with_client_identity_files(&node.chain_path, &node.key_path)
        .expect("client identity");
    let mut ws = connect_tls(&url, Some(tls))
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}\npeer stderr:\n{}", server.stderr()));
    echo_once(&mut ws).await;
    server.next_report().await;
}

/// `wss://` to a plain (`ws://`) peer: the peer takes the ClientHello for bad HTTP, and
/// tether says what came back at once instead of waiting for its timeout.
pub async fn tether_client_fails_fast_against_a_plain_peer(peer: PeerKind) {
    let server = PeerServer::start(peer);
    let url = format!("wss://127.0.0.1:{}/echo", server.port());
    let result = connect_tls(&url, None).await;
    match peer {
        // Node answers `400 Bad Request`, which rustls cannot read as a TLS record.
        PeerKind::Node => {
            let error = expect_tls_error(result);
            assert!(matches!(error, TlsError::Protocol(_)), "{error:?}");
        }
        // websockets drops the connection without answering.
        PeerKind::Python => assert!(
            matches!(result, Err(ConnectError::ClosedDuringHandshake)),
            "{:?}",
            result.map(|_| ())
        ),
    }
}

// --------------------------------------------------- peer client, tether server

/// A tether server with `tls` on 127.0.0.1, and a future that serves it: it echoes on
/// each connection until closed and yields how many it accepted once `expected` have
/// closed (fewer if none came within [`STEP_TIMEOUT`]). Run beside the peer clients in one
/// task (no spawn, so no runtime is named).
async fn tether_echo_server(tls: ServerTls, expected: usize) -> (u16, impl Future<Output = usize>) {
    let config = ServerConfig {
        tls: Some(tls),
        ..Default::default()
    };
    let mut server = Server::bind("127.0.0.1:0", config).await.expect("bind");
    let port = server.local_addr().expect("local_addr").port();
    let serve = async move {
        let mut accepted = 0;
        while accepted < expected {
            let Ok(next) = timeout(STEP_TIMEOUT, server.accept()).await else {
                break;
            };
            let (mut ws, _) = next.expect("accept");
            accepted += 1;
            while let Some(message) = ws.recv().await {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
        }
        accepted
    };
    (port, serve)
}

async fn peer_echo(peer: PeerKind, port: u16, env: &[(&str, &Path)]) -> ClientRun {
    let url = format!("wss://localhost:{port}/");
    run_client_with_env(peer, &url, "echo", env).await
}

fn checked(result: &Value) -> u64 {
    result["checked"].as_u64().unwrap_or(0)
}

/// The peer's client, trusting the test CA, echoes every size through a tether `wss://`
/// server.
pub async fn peer_client_echoes_over_wss(peer: PeerKind) {
    let pki = TestPki::new("server-echo");
    let (port, server) = tether_echo_server(pki.server().server_tls(), 1).await;
    let env = [("PEER_TLS_CA", pki.ca_path.as_path())];
    let client = peer_echo(peer, port, &env);
    let (accepted, run) = futures_lite::future::zip(server, client).await;
    let result = run.success();
    assert_eq!(checked(&result), 2 * SIZES.len() as u64, "{result}");
    assert_eq!(accepted, 1);
}

/// A tether server requiring client certificates refuses the peer's client without one
/// (it fails the TLS handshake), then serves the same peer presenting one.
pub async fn peer_client_needs_a_certificate_for_a_mutual_tls_server(peer: PeerKind) {
    let pki = TestPki::new("tether-mtls");
    let tls = pki
        .server()
        .server_tls()
        .require_client_certs(&pki.ca_pem)
        .expect("mTLS config");
    let (port, server) = tether_echo_server(tls, 1).await;
    let node = pki.client("node-2");
    let env = [
        ("PEER_TLS_CA", pki.ca_path.as_path()),
        ("PEER_TLS_CERT", node.chain_path.as_path()),
        ("PEER_TLS_KEY", node.key_path.as_path()),
    ];
    let clients = async {
        let refused = peer_echo(peer, port, &env[..1]).await;
        (refused, peer_echo(peer, port, &env).await)
    };
    let (accepted, (refused, admitted)) = futures_lite::future::zip(server, clients).await;
    assert!(
        !refused.status.success(),
        "{} connected without a client certificate: {refused:?}",
        peer.name()
    );
    let result = admitted.success();
    assert_eq!(checked(&result), 2 * SIZES.len() as u64, "{result}");
    // The refused client never reached `accept`; the one that got in is the only one.
    assert_eq!(accepted, 1);
}
