//! `wss://` between tether-async-std's own client and server, with certificates made by
//! the test (`tether_tests::certs`): a message larger than the socket buffers over TLS,
//! certificate failures as their typed errors, mutual TLS refusing nodes without a
//! trusted certificate while serving the others, and the connect timeout covering the TLS
//! handshake. The tokio adapter's counterparts are in `tls.rs`; interop with other TLS
//! stacks, for both adapters, in `interop_tls_*.rs`.

use std::future::Future;
use std::time::Duration;

use async_std::task::{self, JoinHandle};
use bytes::Bytes;
use tether_async_std::{
    connect, rustls, ClientConfig, ClientTls, CloseCode, ConnectError, Event, Message, Server,
    ServerConfig, ServerTls, TlsError, WebSocket,
};
use tether_tests::certs::{Leaf, TestPki, Usage, Validity};
use tether_tests::runtime::timeout;

/// Bounds every step: a TLS failure must come back as an error, never as a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// Runs a test body on async-std's executor.
fn run(test: impl Future<Output = ()>) {
    tether_tests::runtime::async_std::block_on(test);
}

/// A tether server with `tls` on 127.0.0.1 that echoes every message on every connection
/// it accepts, and its port.
async fn echo_server(tls: ServerTls) -> (JoinHandle<()>, u16) {
    let config = ServerConfig {
        tls: Some(tls),
        ..Default::default()
    };
    let mut server = Server::bind("127.0.0.1:0", config).await.expect("bind");
    let port = server.local_addr().expect("local_addr").port();
    let task = task::spawn(async move {
        while let Ok((mut ws, _)) = server.accept().await {
            task::spawn(async move {
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

/// Why a `wss://localhost` connect to a server presenting `leaf` fails for a client
/// trusting the test CA.
async fn refusal(pki: &TestPki, leaf: &Leaf) -> TlsError {
    let (server, port) = echo_server(leaf.server_tls()).await;
    let url = format!("wss://localhost:{port}/");
    let result = connect_with(&url, Some(pki.client_tls())).await;
    server.cancel().await;
    match result {
        Err(ConnectError::Tls(e)) => e,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("{url}: the connection opened"),
    }
}

#[test]
fn wss_carries_a_large_message_both_ways_and_closes_cleanly() {
    run(async {
        let pki = TestPki::new("async-std-echo");
        let (server, port) = echo_server(pki.server().server_tls()).await;
        let url = format!("wss://localhost:{port}/echo");
        let mut ws = connect_with(&url, Some(pki.client_tls()))
            .await
            .expect("connect over TLS");
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
        server.cancel().await;
    });
}

#[test]
fn expired_and_wrong_host_certificates_are_told_apart() {
    run(async {
        let pki = TestPki::new("async-std-causes");
        let expired = pki.issue("expired", &["localhost"], Usage::Server, Validity::Expired);
        let error = refusal(&pki, &expired).await;
        assert!(matches!(error, TlsError::Expired), "{error:?}");
        let other = pki.issue(
            "other",
            &["other.example"],
            Usage::Server,
            Validity::Current,
        );
        match refusal(&pki, &other).await {
            TlsError::NameMismatch { presented } => assert!(
                presented.iter().any(|name| name.contains("other.example")),
                "{presented:?}"
            ),
            other => panic!("expected NameMismatch, got {other:?}"),
        }
    });
}

#[test]
fn mutual_tls_refuses_nodes_without_a_trusted_certificate_and_serves_the_others() {
    run(async {
        let pki = TestPki::new("async-std-cluster");
        let stranger_ca = TestPki::new("async-std-stranger");
        let tls = pki
            .server()
            .server_tls()
            .require_client_certs(&pki.ca_pem)
            .expect("mTLS config");
        let (server, port) = echo_server(tls).await;
        let url = format!("wss://localhost:{port}/");
        // Trusts the server, but has no certificate of its own.
        match connect_with(&url, Some(pki.client_tls())).await {
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
        // A cluster node gets in after both refusals.
        let node = pki.client("node-1");
        let node_tls = pki
            .client_tls()
            .with_client_identity(&node.chain_pem, &node.key_pem)
            .expect("node identity");
        let mut ws = connect_with(&url, Some(node_tls))
            .await
            .expect("a cluster node connects");
        round_trip(&mut ws, Message::Text("member".into())).await;
        // The JSON-RPC client sees the same refusal.
        let rpc_config = tether_async_std::rpc::ClientConfig {
            tls: Some(pki.client_tls()),
            ..Default::default()
        };
        let rpc = tether_async_std::rpc::Client::connect(&url, rpc_config);
        match timeout(LIMIT, rpc).await.expect("rpc connect hung") {
            Err(ConnectError::Tls(TlsError::CertificateRequired)) => {}
            other => panic!("expected CertificateRequired, got {:?}", other.map(|_| ())),
        }
        server.cancel().await;
    });
}

#[test]
fn the_connect_timeout_covers_the_tls_handshake_under_smol() {
    tether_tests::runtime::smol::block_on(async {
        // Accepts TCP and then says nothing, as a stuck TLS server would.
        let listener = smol::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        let holder = smol::spawn(async move {
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
        drop(holder);
    });
}
