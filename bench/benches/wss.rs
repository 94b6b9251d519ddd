//! Echo throughput over `wss://` on loopback: tether-tokio against tokio-tungstenite, both
//! over rustls.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench wss
//! ```
//!
//! Knobs: as for `echo` (`TETHER_BENCH_ECHO_MS`, `TETHER_BENCH_WARMUP_MS`,
//! `TETHER_BENCH_ROUNDS`).
//!
//! The harness is `echo`'s (`tether_bench::echo`): the same workloads, load client, rotation
//! and tables, with the load client speaking TLS. Every TLS session uses the same rustls
//! configs (ring provider, rustls' default cipher suite order, a P-256 certificate made at
//! start-up with rcgen): tether-tokio gets them as `ServerTls`, tokio-tungstenite through
//! `tokio_rustls::TlsAcceptor`, the load client through `tokio_rustls::TlsConnector`. So
//! the encryption costs every server the same and the ratios compare the WebSocket layers
//! and how each feeds TLS.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc};

use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tether_bench::echo::{accept_loop, compare, Connect, Schedule};
use tether_bench::server_thread::{loopback, ServerThread};
use tether_tokio::{ClientTls, ServerTls};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn main() {
    let (server_tls, client_tls) = certificates();
    let servers: Vec<(&str, ServerThread)> = vec![
        ("tether-tokio", {
            let tls = server_tls.clone();
            ServerThread::spawn("tether-tokio wss", move |ready, stop| {
                serve_tether(tls, ready, stop)
            })
        }),
        ("tokio-tungstenite 0.30", {
            let tls = server_tls.clone();
            ServerThread::spawn("tokio-tungstenite wss", move |ready, stop| {
                serve_tungstenite(tls, ready, stop)
            })
        }),
        ("tokio-tungstenite forward", {
            let tls = server_tls;
            ServerThread::spawn("tokio-tungstenite forward wss", move |ready, stop| {
                serve_tungstenite_forward(tls, ready, stop)
            })
        }),
    ];
    let schedule = Schedule::from_env();
    println!(
        "echo over wss://127.0.0.1 (rustls, ring, TLS 1.3), rounds: {} of {:.1} s per server and payload (after a {:.1} s warm-up)",
        schedule.rounds,
        schedule.measure.as_secs_f64(),
        schedule.warmup.as_secs_f64()
    );
    let connector = Tls {
        connector: TlsConnector::from(client_tls.rustls_config()),
    };
    compare(&servers, &connector, schedule);
}

/// A CA and a `localhost` certificate it issued, as the servers' and the client's configs.
fn certificates() -> (ServerTls, ClientTls) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("certificate");
    let server = ServerTls::from_pem(cert.pem(), key.serialize_pem()).expect("server TLS");
    let client = ClientTls::with_root_pem(ca.pem()).expect("client TLS");
    (server, client)
}

/// The load client's TLS: the same client config for every server, SNI `localhost`.
struct Tls {
    connector: TlsConnector,
}

impl Connect for Tls {
    type Stream = TlsStream<TcpStream>;
    type Reader = ReadHalf<TlsStream<TcpStream>>;
    type Writer = WriteHalf<TlsStream<TcpStream>>;

    async fn connect(&self, addr: SocketAddr) -> Self::Stream {
        let tcp = TcpStream::connect(addr).await.expect("connect to server");
        tcp.set_nodelay(true).expect("set TCP_NODELAY");
        let name = ServerName::try_from("localhost").expect("a server name");
        self.connector
            .connect(name, tcp)
            .await
            .expect("TLS handshake")
    }

    fn split(stream: Self::Stream) -> (Self::Reader, Self::Writer) {
        tokio::io::split(stream)
    }
}

/// tether-tokio through its public API only: `ServerConfig::tls`, then per connection
/// `recv` each message and `send` it back, as in the `echo` bench.
async fn serve_tether(
    tls: ServerTls,
    ready: mpsc::Sender<SocketAddr>,
    mut stop: oneshot::Receiver<()>,
) {
    let config = tether_tokio::ServerConfig {
        tls: Some(tls),
        ..Default::default()
    };
    let mut server = tether_tokio::Server::bind(loopback(), config)
        .await
        .expect("bind loopback");
    ready
        .send(server.local_addr().expect("bound address"))
        .expect("bench waits for the address");
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = server.accept() => match accepted {
                Ok((mut ws, _)) => {
                    tokio::spawn(async move {
                        while let Some(msg) = ws.recv().await {
                            if ws.send(msg).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                Err(e) => eprintln!("tether accept failed: {e}"),
            },
        }
    }
}

/// Accepts TCP, runs the TLS handshake with the shared config, and hands the TLS stream to
/// `handle`.
async fn accept_tls<H, Fut>(
    tls: ServerTls,
    ready: mpsc::Sender<SocketAddr>,
    stop: oneshot::Receiver<()>,
    handle: H,
) where
    H: Fn(tokio_rustls::server::TlsStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(tls.rustls_config());
    let handle = Arc::new(handle);
    accept_loop(ready, stop, move |tcp| {
        let acceptor = acceptor.clone();
        let handle = handle.clone();
        async move {
            if let Ok(stream) = acceptor.accept(tcp).await {
                handle(stream).await;
            }
        }
    })
    .await;
}

/// tokio-tungstenite as in the `echo` bench (`next()` then `send`, one flush per message),
/// over a tokio-rustls stream.
async fn serve_tungstenite(
    tls: ServerTls,
    ready: mpsc::Sender<SocketAddr>,
    stop: oneshot::Receiver<()>,
) {
    accept_tls(tls, ready, stop, |stream| async move {
        let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_binary() || msg.is_text()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
    .await;
}

/// tokio-tungstenite's `read.forward(write)` as in the `echo` bench (flushes when input runs
/// dry), over a tokio-rustls stream.
async fn serve_tungstenite_forward(
    tls: ServerTls,
    ready: mpsc::Sender<SocketAddr>,
    stop: oneshot::Receiver<()>,
) {
    accept_tls(tls, ready, stop, |stream| async move {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (write, read) = ws.split();
        let data = read.try_filter(|msg| std::future::ready(msg.is_binary() || msg.is_text()));
        let _ = data.forward(write).await;
    })
    .await;
}
