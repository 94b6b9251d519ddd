//! `wss://` between tether's own client and server, with certificates made by the test
//! (`tether_tests::certs`): messages and JSON-RPC over TLS, each certificate failure as its
//! typed error, mutual TLS refusing a node without a certificate while serving the others,
//! and the time limits that keep a TLS handshake from hanging either side. Compiled once
//! per adapter (see [`crate::runtime`]) and run by `tests/tls.rs`.
//!
//! Interop with other TLS stacks is in `interop_tls.rs`.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use async_io::Async;
use bytes::Bytes;
use futures_lite::future::zip;
use futures_lite::AsyncReadExt;

use super::adapter::rpc;
use super::adapter::{
    connect, rustls, ClientConfig, ClientTls, CloseCode, Config, ConnectError, Event, Message,
    Server, ServerConfig, ServerTls, TlsError, WebSocket,
};
use super::rt;
use crate::certs::{Leaf, TestPki, Usage, Validity};
use crate::runtime::{timeout, Task};

/// Bounds every step: a TLS failure must come back as an error, never as a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// A tether server with `tls` on 127.0.0.1 that echoes every message on every connection
/// it accepts, and its port.
async fn echo_server(tls: Option<ServerTls>, ws: Config) -> (Task<()>, u16) {
    let config = ServerConfig {
        ws,
        tls,
        ..Default::default()
    };
    let mut server = Server::bind("127.0.0.1:0", config).await.expect("bind");
    let port = server.local_addr().expect("local_addr").port();
    let task = rt::spawn_task(async move {
        while let Ok((mut ws, _)) = server.accept().await {
            rt::spawn(async move {
                while let Some(message) = ws.recv().await {
                    if ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (task, port)
}

async fn connect_with(url: &str, tls: Option<ClientTls>) -> Result<WebSocket, ConnectError> {
    let config = ClientConfig {
        tls,
        ..Default::default()
    };
    timeout(LIMIT, connect(url, config))
        .await
        .unwrap_or_else(|_| panic!("connecting to {url} hung past {LIMIT:?}"))
}

/// A message through the echo server and back, checked.
async fn round_trip(ws: &mut WebSocket, message: Message) {
    timeout(LIMIT, ws.send(message.clone()))
        .await
        .expect("send hung")
        .expect("send");
    let echo = timeout(LIMIT, ws.recv()).await.expect("echo hung");
    assert_eq!(echo.as_ref().map(Message::len), Some(message.len()));
    assert!(echo == Some(message), "the echo differs");
}

/// Why a `wss://` connect to a server presenting `leaf` fails for a client with `tls`.
async fn refusal(leaf: &Leaf, tls: Option<ClientTls>, host: &str) -> TlsError {
    let (server, port) = echo_server(Some(leaf.server_tls()), Config::default()).await;
    let url = format!("wss://{host}:{port}/");
    let result = connect_with(&url, tls).await;
    server.abort();
    match result {
        Err(ConnectError::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("{url}: the connection opened"),
    }
}

/// A small and a 4 MiB message over `wss://` and back, then a clean close.
pub async fn wss_carries_messages_both_ways_and_closes_cleanly() {
    let pki = TestPki::new("wss-echo");
    let (server, port) = echo_server(Some(pki.server().server_tls()), Config::default()).await;
    let mut ws = connect_with(
        &format!("wss://localhost:{port}/echo"),
        Some(pki.client_tls()),
    )
    .await
    .expect("connect over TLS");
    round_trip(&mut ws, Message::Text("hello over TLS".into())).await;
    // Several TLS records each way, and more than a socket buffer: the write path must
    // flush what the TLS session holds back.
    let big: Vec<u8> = (0..4 << 20).map(|i| (i * 31 + 7) as u8).collect();
    round_trip(&mut ws, Message::Binary(Bytes::from(big))).await;
    timeout(LIMIT, ws.close(CloseCode::NORMAL, "done"))
        .await
        .expect("close hung")
        .expect("close");
    match timeout(LIMIT, ws.recv_event()).await.expect("Closed hung") {
        Some(Event::Closed(info)) => {
            assert_eq!(info.code, CloseCode::NORMAL);
            assert!(info.clean, "{info:?}");
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    server.abort();
}

/// The JSON-RPC client calls the JSON-RPC server over `wss://`.
pub async fn json_rpc_runs_over_wss() {
    let pki = TestPki::new("wss-rpc");
    let config = rpc::ServerConfig {
        tls: Some(pki.server().server_tls()),
        ..Default::default()
    };
    let server = rpc::Server::bind("127.0.0.1:0", config)
        .await
        .expect("bind")
        .route("add", |(a, b): (i64, i64)| async move {
            Ok::<_, rpc::ErrorObject>(a + b)
        });
    let port = server.local_addr().expect("local_addr").port();
    let serving = rt::spawn_task(server.serve());
    let client_config = rpc::ClientConfig {
        tls: Some(pki.client_tls()),
        ..Default::default()
    };
    let client = timeout(
        LIMIT,
        rpc::Client::connect(&format!("wss://127.0.0.1:{port}/"), client_config),
    )
    .await
    .expect("connect hung")
    .expect("connect over TLS");
    let sum: i64 = timeout(LIMIT, client.call("add", &[40, 2]))
        .await
        .expect("call hung")
        .expect("call");
    assert_eq!(sum, 42);
    client.close().await;
    serving.abort();
}

/// A certificate of the test CA is `UnknownIssuer` to a client with the default roots.
pub async fn a_private_ca_is_an_unknown_issuer_to_the_default_roots() {
    let pki = TestPki::new("unknown-issuer");
    let error = refusal(&pki.server(), None, "localhost").await;
    assert!(matches!(error, TlsError::UnknownIssuer), "{error:?}");
}

/// An expired server certificate is `Expired`.
pub async fn an_expired_certificate_is_named_expired() {
    let pki = TestPki::new("expired");
    let leaf = pki.issue("expired", &["localhost"], Usage::Server, Validity::Expired);
    let error = refusal(&leaf, Some(pki.client_tls()), "localhost").await;
    assert!(matches!(error, TlsError::Expired), "{error:?}");
}

/// A server certificate whose validity starts later is `NotYetValid`.
pub async fn a_certificate_from_the_future_is_not_yet_valid() {
    let pki = TestPki::new("future");
    let leaf = pki.issue("future", &["localhost"], Usage::Server, Validity::Future);
    let error = refusal(&leaf, Some(pki.client_tls()), "localhost").await;
    assert!(matches!(error, TlsError::NotYetValid), "{error:?}");
}

/// A server certificate for another name is `NameMismatch`, naming what it presented.
pub async fn a_certificate_for_another_host_is_a_name_mismatch() {
    let pki = TestPki::new("mismatch");
    let leaf = pki.issue(
        "other",
        &["other.example"],
        Usage::Server,
        Validity::Current,
    );
    let error = refusal(&leaf, Some(pki.client_tls()), "localhost").await;
    match error {
        TlsError::NameMismatch { presented } => {
            assert!(
                presented.iter().any(|name| name.contains("other.example")),
                "{presented:?}"
            );
        }
        other => panic!("expected NameMismatch, got {other:?}"),
    }
}

/// A server requiring client certificates refuses a client without one
/// (`CertificateRequired`, for the JSON-RPC client too) and one from another CA
/// (`CertificateRefused(UnknownCA)`), then serves two cluster nodes at once.
pub async fn mutual_tls_refuses_nodes_without_a_trusted_certificate_and_serves_the_others() {
    let pki = TestPki::new("cluster");
    let stranger_ca = TestPki::new("stranger");
    let tls = pki
        .server()
        .server_tls()
        .require_client_certs(&pki.ca_pem)
        .expect("mTLS config");
    let (server, port) = echo_server(Some(tls), Config::default()).await;
    let url = format!("wss://localhost:{port}/");
    let identity = |name: &str| {
        let leaf = pki.client(name);
        let tls = pki
            .client_tls()
            .with_client_identity(&leaf.chain_pem, &leaf.key_pem)
            .expect("client identity");
        Some(tls)
    };
    let trusting = Some(pki.client_tls());
    // Trusts the server, but has no certificate of its own.
    match connect_with(&url, trusting).await {
        Err(ConnectError::Tls(TlsError::CertificateRequired)) => {}
        other => panic!("expected CertificateRequired, got {:?}", other.map(|_| ())),
    }
    // Presents a certificate the cluster CA did not issue.
    let outsider = stranger_ca.client("outsider");
    let outsider_tls = pki
        .client_tls()
        .with_client_identity(&outsider.chain_pem, &outsider.key_pem)
        .expect("outsider identity");
    match connect_with(&url, Some(outsider_tls)).await {
        Err(ConnectError::Tls(TlsError::CertificateRefused(alert))) => {
            assert_eq!(alert, rustls::AlertDescription::UnknownCA);
        }
        other => panic!("expected CertificateRefused, got {:?}", other.map(|_| ())),
    }
    // A cluster node gets in, after both refusals, and so does a second one at once.
    let (first, second) = zip(
        connect_with(&url, identity("node-1")),
        connect_with(&url, identity("node-2")),
    )
    .await;
    for mut ws in [first, second].map(|r| r.expect("a cluster node connects")) {
        round_trip(&mut ws, Message::Text("member".into())).await;
    }
    // The JSON-RPC client sees the same refusal.
    let rpc_config = rpc::ClientConfig {
        tls: Some(pki.client_tls()),
        ..Default::default()
    };
    match timeout(LIMIT, rpc::Client::connect(&url, rpc_config))
        .await
        .expect("rpc connect hung")
    {
        Err(ConnectError::Tls(TlsError::CertificateRequired)) => {}
        other => panic!("expected CertificateRequired, got {:?}", other.map(|_| ())),
    }
    server.abort();
}

/// A server with mutual TLS and its CA's revocation list refuses a client whose
/// certificate the list revokes (the client sees `CertificateRefused(CertificateRevoked)`,
/// for the JSON-RPC client too) and serves another client of the same CA, before and
/// after the refusal.
pub async fn a_revoked_client_certificate_is_refused_and_the_others_are_served() {
    let pki = TestPki::new("revoking");
    let member = pki.client("node-1");
    let revoked = pki.client("node-2");
    let crl = pki.revocation_list(&[&revoked]);
    let tls = pki
        .server()
        .server_tls()
        .require_client_certs(&pki.ca_pem)
        .expect("mTLS config")
        .with_crls(&crl)
        .expect("revocation list");
    let (server, port) = echo_server(Some(tls), Config::default()).await;
    let url = format!("wss://localhost:{port}/");
    let identity = |leaf: &Leaf| {
        pki.client_tls()
            .with_client_identity(&leaf.chain_pem, &leaf.key_pem)
            .expect("client identity")
    };
    let mut ws = connect_with(&url, Some(identity(&member)))
        .await
        .expect("a member connects");
    round_trip(&mut ws, Message::Text("member".into())).await;
    match connect_with(&url, Some(identity(&revoked))).await {
        Err(ConnectError::Tls(TlsError::CertificateRefused(alert))) => {
            assert_eq!(alert, rustls::AlertDescription::CertificateRevoked);
        }
        other => panic!("expected CertificateRevoked, got {:?}", other.map(|_| ())),
    }
    let rpc_config = rpc::ClientConfig {
        tls: Some(identity(&revoked)),
        ..Default::default()
    };
    match timeout(LIMIT, rpc::Client::connect(&url, rpc_config))
        .await
        .expect("rpc connect hung")
    {
        Err(ConnectError::Tls(TlsError::CertificateRefused(alert))) => {
            assert_eq!(alert, rustls::AlertDescription::CertificateRevoked);
        }
        other => panic!("expected CertificateRevoked, got {:?}", other.map(|_| ())),
    }
    // The server goes on serving members, on the open connection and on a new one.
    round_trip(&mut ws, Message::Text("still here".into())).await;
    let mut again = connect_with(&url, Some(identity(&member)))
        .await
        .expect("a member connects again");
    round_trip(&mut again, Message::Text("again".into())).await;
    server.abort();
}

/// `wss://` to a plain server ends at the client's connect timeout; the server keeps
/// serving plain clients.
pub async fn wss_to_a_plain_tether_server_ends_within_the_connect_timeout() {
    let (server, port) = echo_server(None, Config::default()).await;
    // tether's server reads the ClientHello as the start of an HTTP head and waits for the
    // rest (until its handshake timeout), so the client's own limit is what ends it. (A
    // server that answers at once is a TLS error: see the interop tests.)
    let config = ClientConfig {
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let result = timeout(LIMIT, connect(&format!("wss://127.0.0.1:{port}/"), config))
        .await
        .expect("connect ignored its own timeout");
    assert!(
        matches!(result, Err(ConnectError::Timeout)),
        "{:?}",
        result.map(|_| ())
    );
    // The plain server still serves plain clients.
    let mut ws = connect_with(&format!("ws://127.0.0.1:{port}/"), None)
        .await
        .expect("plain connect");
    round_trip(&mut ws, Message::Text("plain".into())).await;
    server.abort();
}

/// `ws://` to a TLS server fails fast (not a timeout); the server keeps serving TLS clients.
pub async fn a_plain_client_fails_against_a_tls_server_which_keeps_serving() {
    let pki = TestPki::new("plain-to-tls");
    let (server, port) = echo_server(Some(pki.server().server_tls()), Config::default()).await;
    let result = connect_with(&format!("ws://127.0.0.1:{port}/"), None).await;
    assert!(
        !matches!(result, Ok(_) | Err(ConnectError::Timeout)),
        "a plain client must fail fast against TLS: {:?}",
        result.map(|_| ())
    );
    let mut ws = connect_with(&format!("wss://127.0.0.1:{port}/"), Some(pki.client_tls()))
        .await
        .expect("TLS connect");
    round_trip(&mut ws, Message::Text("still serving".into())).await;
    server.abort();
}

/// Handshake limits short enough to watch a server give up on a silent client.
fn impatient() -> Config {
    Config {
        handshake_timeout: Duration::from_millis(300),
        close_timeout: Duration::from_millis(200),
        ..Default::default()
    }
}

/// Opens a TCP connection that never says anything and waits for the server to hang up.
async fn hung_up_on_silence(port: u16) {
    let mut silent = Async::<TcpStream>::connect(([127, 0, 0, 1], port))
        .await
        .expect("tcp connect");
    let mut buf = [0u8; 64];
    let read = timeout(LIMIT, silent.read(&mut buf))
        .await
        .expect("the server kept a silent client past its handshake limit");
    // EOF, or a reset: either way the server let go.
    assert!(matches!(read, Ok(0) | Err(_)), "read {read:?}");
}

/// A TLS WebSocket server hangs up on a TCP client that never says anything.
pub async fn a_tls_server_drops_a_client_that_never_starts_the_handshake() {
    let pki = TestPki::new("silent");
    let (server, port) = echo_server(Some(pki.server().server_tls()), impatient()).await;
    hung_up_on_silence(port).await;
    server.abort();
}

/// A TLS JSON-RPC server hangs up on a TCP client that never says anything.
pub async fn a_tls_rpc_server_drops_a_client_that_never_starts_the_handshake() {
    let pki = TestPki::new("silent-rpc");
    let config = rpc::ServerConfig {
        ws: impatient(),
        tls: Some(pki.server().server_tls()),
        ..Default::default()
    };
    let server = rpc::Server::bind("127.0.0.1:0", config)
        .await
        .expect("bind");
    let port = server.local_addr().expect("local_addr").port();
    let serving = rt::spawn_task(server.serve());
    hung_up_on_silence(port).await;
    serving.abort();
}

/// A server that accepts TCP and then says nothing ends a `wss://` connect at its timeout.
pub async fn the_connect_timeout_covers_the_tls_handshake() {
    // Accepts TCP and then says nothing, as a stuck TLS server would.
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).expect("bind");
    let port = listener.get_ref().local_addr().expect("local_addr").port();
    let holder = rt::spawn_task(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config = ClientConfig {
        connect_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let result = timeout(LIMIT, connect(&format!("wss://127.0.0.1:{port}/"), config))
        .await
        .expect("connect ignored its own timeout");
    assert!(
        matches!(result, Err(ConnectError::Timeout)),
        "{:?}",
        result.map(|_| ())
    );
    holder.abort();
}
