//! Echo throughput over loopback: tether-tokio against tokio-tungstenite and fastwebsockets.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench echo
//! ```
//!
//! Knobs (environment): `TETHER_BENCH_ECHO_MS` (measured time per run, default 2000),
//! `TETHER_BENCH_WARMUP_MS` (default 500), `TETHER_BENCH_ROUNDS` (default 3).
//!
//! Each server runs on its own single-threaded tokio runtime on its own OS thread and is
//! written the way its documentation shows an echo server. One load client, the same for
//! every server, runs on the main thread (`tether_bench::echo`, shared with the `wss`
//! bench): it does the upgrade by hand, keeps a fixed window of pre-encoded masked binary
//! frames in flight, and counts echoes by parsing only the server's frame headers, so it
//! spends as little CPU as possible and spends the same on every peer. Servers are measured
//! in rotating order (ABC, BCA, CAB, ...) so that drift in the machine's load is spread over
//! all of them; the table shows the median run and the ratios of medians. Absolute figures
//! depend on the machine; only the ratios travel.

use std::net::SocketAddr;
use std::sync::mpsc;

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tether_bench::echo::{accept_loop, compare, Schedule, Tcp};
use tether_bench::server_thread::ServerThread;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// The servers under test, in the order they appear in tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Tether,
    Tungstenite,
    TungsteniteForward,
    FastWebSockets,
}

const PEERS: [Peer; 4] = [
    Peer::Tether,
    Peer::Tungstenite,
    Peer::TungsteniteForward,
    Peer::FastWebSockets,
];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Tether => "tether-tokio",
            Peer::Tungstenite => "tokio-tungstenite 0.30",
            Peer::TungsteniteForward => "tokio-tungstenite forward",
            Peer::FastWebSockets => "fastwebsockets 0.10",
        }
    }
}

fn main() {
    let servers: Vec<(Peer, ServerThread)> = PEERS
        .iter()
        .map(|&peer| {
            let server = match peer {
                Peer::Tether => ServerThread::spawn(peer.name(), tether_server::serve),
                Peer::Tungstenite => ServerThread::spawn(peer.name(), serve_tungstenite),
                Peer::TungsteniteForward => {
                    ServerThread::spawn(peer.name(), serve_tungstenite_forward)
                }
                Peer::FastWebSockets => ServerThread::spawn(peer.name(), serve_fastwebsockets),
            };
            (peer, server)
        })
        .collect();

    let schedule = Schedule::from_env();
    println!(
        "echo over 127.0.0.1, rounds: {} of {:.1} s per server and payload (after a {:.1} s warm-up)",
        schedule.rounds,
        schedule.measure.as_secs_f64(),
        schedule.warmup.as_secs_f64()
    );
    let named: Vec<(&str, ServerThread)> = servers
        .into_iter()
        .map(|(peer, server)| (peer.name(), server))
        .collect();
    compare(&named, &Tcp, schedule);
}

/// tokio-tungstenite as its `autobahn-server` example writes an echo: `accept_async`, then
/// `next()` each message and `send` it back. `send` is `feed` + `flush`, so one write per
/// message: the same per-message shape as tether's `recv` -> `send`. (Its `echo-server`
/// example instead uses `read.forward(write)`, which flushes only when the input runs dry;
/// that batches writes, a different shape that favours throughput over latency.)
async fn serve_tungstenite(ready: mpsc::Sender<SocketAddr>, stop: oneshot::Receiver<()>) {
    accept_loop(ready, stop, |stream| async move {
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

/// tokio-tungstenite as its `echo-server` example writes an echo: `read.forward(write)`,
/// which feeds each message and flushes only when no more input is ready, so many small
/// echoes share one write. This is the batching shape tether's driver has built in.
async fn serve_tungstenite_forward(ready: mpsc::Sender<SocketAddr>, stop: oneshot::Receiver<()>) {
    accept_loop(ready, stop, |stream| async move {
        let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
            return;
        };
        let (write, read) = ws.split();
        let data = read.try_filter(|msg| std::future::ready(msg.is_binary() || msg.is_text()));
        let _ = data.forward(write).await;
    })
    .await;
}

/// fastwebsockets without hyper: the upgrade is parsed with tether-core's handshake
/// functions (a few microseconds once per connection, outside the timed part), then the
/// stream is handed to `WebSocket::after_handshake`. The loop is the crate's own
/// `echo_server` example: a `FragmentCollector` (so messages are reassembled and text is
/// validated, like the other two do) reading frames and writing data frames back. Auto
/// close and auto pong are on (their defaults). Unlike that example the task is not wrapped
/// in `tokio::task::unconstrained`, because none of the other servers is either.
async fn serve_fastwebsockets(ready: mpsc::Sender<SocketAddr>, stop: oneshot::Receiver<()>) {
    accept_loop(ready, stop, |mut stream| async move {
        if fastwebsockets_upgrade(&mut stream).await.is_err() {
            return;
        }
        let mut ws = WebSocket::after_handshake(stream, Role::Server);
        ws.set_auto_close(true);
        ws.set_auto_pong(true);
        let mut ws = FragmentCollector::new(ws);
        while let Ok(frame) = ws.read_frame().await {
            match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => {}
                // Pings were answered by auto pong; nothing else reaches us.
                _ => continue,
            }
            if ws.write_frame(frame).await.is_err() {
                break;
            }
        }
    })
    .await;
}

/// Reads the upgrade request and answers `101`. The load client sends nothing after its
/// request until it has the response, so no frame bytes can be stranded in `buf`.
async fn fastwebsockets_upgrade(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let request = loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match tether_core::handshake::parse_request(&buf, 16 << 10) {
            Ok(Some((request, used))) => {
                if used != buf.len() {
                    return Err(std::io::Error::other("frames sent before the 101"));
                }
                break request.upgrade.map_err(std::io::Error::other)?;
            }
            Ok(None) => continue,
            Err(e) => return Err(std::io::Error::other(e)),
        }
    };
    let mut response = bytes::BytesMut::new();
    tether_core::handshake::encode_accept(&request.key, None, &[], &mut response)
        .map_err(std::io::Error::other)?;
    stream.write_all(&response).await
}

/// tether-tokio through its public API only: `Server::accept`, then `recv` each message and
/// `send` it back.
mod tether_server {
    use std::net::SocketAddr;
    use std::sync::mpsc;

    use tokio::sync::oneshot;

    pub async fn serve(ready: mpsc::Sender<SocketAddr>, mut stop: oneshot::Receiver<()>) {
        let mut server = tether_tokio::Server::bind(
            tether_bench::server_thread::loopback(),
            tether_tokio::ServerConfig::default(),
        )
        .await
        .expect("bind loopback");
        ready
            .send(server.local_addr().expect("bound address"))
            .expect("bench waits for the address");
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = server.accept() => match accepted {
                    Ok((ws, _)) => {
                        tokio::spawn(echo(ws));
                    }
                    Err(e) => eprintln!("tether accept failed: {e}"),
                },
            }
        }
    }

    async fn echo(mut ws: tether_tokio::WebSocket) {
        while let Some(msg) = ws.recv().await {
            if ws.send(msg).await.is_err() {
                break;
            }
        }
    }
}
