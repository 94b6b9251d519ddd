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
//! every server, runs on the main thread: it does the upgrade by hand, keeps a fixed window
//! of pre-encoded masked binary frames in flight, and counts echoes by parsing only the
//! server's frame headers, so it spends as little CPU as possible and spends the same on
//! every peer. Servers are measured in rotating order (ABC, BCA, CAB, ...) so that drift in
//! the machine's load is spread over all of them; the table shows the median run and the
//! ratios of medians. Absolute figures depend on the machine; only the ratios travel.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tether_bench::server_thread::{loopback, ServerThread};
use tether_bench::{
    env_millis, env_u64, masked_binary_frames, masked_close_frame, median, ratio, si,
    upgrade_request, Table,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

/// One workload: payload size and how many messages the client keeps in flight. Small
/// messages get a deep window so the servers, not round trips, are the bottleneck; big
/// ones a shallower window so in-flight bytes stay well inside loopback socket buffers.
#[derive(Debug, Clone, Copy)]
struct Workload {
    payload_len: usize,
    window: usize,
}

const WORKLOADS: [Workload; 3] = [
    // One in flight: round-trip latency, as Autobahn's 9.7/9.8 cases and a request/reply
    // protocol see it.
    Workload {
        payload_len: 64,
        window: 1,
    },
    Workload {
        payload_len: 20,
        window: 64,
    },
    Workload {
        payload_len: 16 << 10,
        window: 16,
    },
];

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
    let measure = env_millis("TETHER_BENCH_ECHO_MS", Duration::from_millis(2000));
    let warmup = env_millis("TETHER_BENCH_WARMUP_MS", Duration::from_millis(500));
    let rounds = env_u64("TETHER_BENCH_ROUNDS", 3) as usize;

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

    // The client gets a runtime of its own on this thread: the same driver for every server.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");

    println!(
        "echo over 127.0.0.1, rounds: {rounds} of {:.1} s per server and payload (after a {:.1} s warm-up)",
        measure.as_secs_f64(),
        warmup.as_secs_f64()
    );
    for workload in WORKLOADS {
        for (peer, server) in &servers {
            client.block_on(run_load(server.addr, workload, warmup));
            eprintln!("  warmed up {}", peer.name());
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for round in 0..rounds {
            for k in 0..servers.len() {
                let i = (round + k) % servers.len();
                let (peer, server) = &servers[i];
                let run = client.block_on(run_load(server.addr, workload, measure));
                let rate = run.messages as f64 / run.elapsed.as_secs_f64();
                eprintln!(
                    "  {} B, round {}: {:<24} {:>10} msgs/s",
                    workload.payload_len,
                    round + 1,
                    peer.name(),
                    si(rate)
                );
                rates[i].push(rate);
            }
        }
        print_table(workload, &servers, &rates);
    }
    drop(servers);
}

fn print_table(workload: Workload, servers: &[(Peer, ServerThread)], rates: &[Vec<f64>]) {
    let medians: Vec<f64> = rates.iter().map(|r| median(r)).collect();
    let tether = servers
        .iter()
        .position(|(p, _)| *p == Peer::Tether)
        .map(|i| medians[i])
        .expect("tether is always benchmarked");
    let mut table = Table::new(&[
        "server",
        "msgs/s (median)",
        "min",
        "max",
        "payload MB/s each way",
        "tether / this",
    ]);
    for (i, (peer, _)) in servers.iter().enumerate() {
        let min = rates[i].iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates[i].iter().copied().fold(0.0, f64::max);
        table.row(vec![
            peer.name().to_owned(),
            si(medians[i]),
            si(min),
            si(max),
            format!("{:.1}", medians[i] * workload.payload_len as f64 / 1e6),
            ratio(tether, medians[i]),
        ]);
    }
    println!(
        "\npayload {} B, window {} messages in flight",
        workload.payload_len, workload.window
    );
    print!("{}", table.render());
}

/// Accepts TCP connections until told to stop, handing each to `handle` as its own task.
async fn accept_loop<H, Fut>(
    ready: mpsc::Sender<SocketAddr>,
    mut stop: oneshot::Receiver<()>,
    handle: H,
) where
    H: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind(loopback()).await.expect("bind loopback");
    ready
        .send(listener.local_addr().expect("bound address"))
        .expect("bench waits for the address");
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Every server gets Nagle turned off, as latency-minded servers do;
                    // otherwise small echoes would wait on delayed ACKs.
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(handle(stream));
                }
                Err(e) => eprintln!("accept failed: {e}"),
            },
        }
    }
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
                break request;
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
        let mut server =
            tether_tokio::Server::bind(super::loopback(), tether_tokio::ServerConfig::default())
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

/// What one timed run achieved.
struct Run {
    messages: u64,
    elapsed: Duration,
}

/// Connects to `addr`, upgrades, and echoes for `duration`, keeping `workload.window`
/// messages in flight: the writer tops the window up whenever echoes return, the reader
/// counts echoes. Both halves run as futures of one task on this thread, sharing plain
/// `Cell`s. The clock stops when the last echo of the last write arrives.
async fn run_load(addr: SocketAddr, workload: Workload, duration: Duration) -> Run {
    let (frames, frame_len) = masked_binary_frames(workload.window, workload.payload_len);
    let mut stream = TcpStream::connect(addr).await.expect("connect to server");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    client_handshake(&mut stream, addr).await;

    let (mut rd, mut wr) = stream.split();
    let sent = Cell::new(0u64);
    let received = Cell::new(0u64);
    let writing_done = Cell::new(false);
    let credit = Notify::new();
    let finished = Notify::new();

    let start = Instant::now();
    let deadline = start + duration;
    let writer = async {
        loop {
            if Instant::now() >= deadline {
                writing_done.set(true);
                finished.notify_one();
                break;
            }
            let in_flight = (sent.get() - received.get()) as usize;
            let free = workload.window - in_flight;
            if free == 0 {
                credit.notified().await;
                continue;
            }
            // The buffer holds exactly `window` frames, so any `free` of them is a prefix.
            wr.write_all(&frames[..free * frame_len])
                .await
                .expect("write to server");
            sent.set(sent.get() + free as u64);
        }
    };
    let reader = async {
        let mut buf = vec![0u8; 256 << 10];
        let mut counter = EchoCounter::new(workload.payload_len);
        loop {
            if writing_done.get() && received.get() == sent.get() {
                return Instant::now();
            }
            tokio::select! {
                read = rd.read(&mut buf) => {
                    let n = read.expect("read from server");
                    assert!(n > 0, "server closed the connection mid-run");
                    let echoed = counter.feed(&buf[..n]);
                    if echoed > 0 {
                        received.set(received.get() + echoed);
                        credit.notify_one();
                    }
                }
                // Wakes the reader if it sits in `read` with everything already echoed
                // at the moment the writer stops.
                _ = finished.notified() => {}
            }
        }
    };
    let ((), end) = tokio::join!(writer, reader);
    let run = Run {
        messages: received.get(),
        elapsed: end - start,
    };

    // Close politely so servers end their tasks; bounded, as a stuck close is not our
    // measurement's business.
    let _ = wr.write_all(&masked_close_frame()).await;
    let _ = wr.shutdown().await;
    let mut sink = vec![0u8; 64 << 10];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    run
}

/// Sends the fixed upgrade request and waits for a `101` head. Servers send nothing after
/// it until they get a frame, so everything read here is the head.
async fn client_handshake(stream: &mut TcpStream, addr: SocketAddr) {
    stream
        .write_all(&upgrade_request(&addr.to_string()))
        .await
        .expect("send upgrade request");
    let mut head = Vec::with_capacity(512);
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream
            .read_buf(&mut head)
            .await
            .expect("read upgrade response");
        assert!(n > 0, "server closed during the upgrade");
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "upgrade refused: {}",
        String::from_utf8_lossy(&head)
    );
}

/// Counts complete server frames in a byte stream by reading only their headers and
/// skipping payloads. Every frame must be an unfragmented, unmasked binary frame of the
/// size we sent: anything else means a server did not echo what it got, which would make
/// its figure meaningless, so it panics.
struct EchoCounter {
    payload_len: usize,
    header: [u8; 10],
    have: usize,
    need: usize,
    skip: usize,
}

impl EchoCounter {
    fn new(payload_len: usize) -> EchoCounter {
        EchoCounter {
            payload_len,
            header: [0; 10],
            have: 0,
            need: 2,
            skip: 0,
        }
    }

    /// Consumes `data`, returning how many frames it completed.
    fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut done = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                if self.skip == 0 {
                    done += 1;
                }
                continue;
            }
            let n = (self.need - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have < self.need {
                break;
            }
            if self.need == 2 {
                assert_eq!(self.header[0], 0x82, "expected a final binary frame");
                assert_eq!(self.header[1] & 0x80, 0, "server frames are never masked");
                self.need += match self.header[1] & 0x7f {
                    126 => 2,
                    127 => 8,
                    _ => 0,
                };
                if self.need > 2 {
                    continue;
                }
            }
            let len = match self.header[1] & 0x7f {
                126 => u16::from_be_bytes([self.header[2], self.header[3]]) as usize,
                127 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.header[2..10]);
                    u64::from_be_bytes(b) as usize
                }
                short => short as usize,
            };
            assert_eq!(len, self.payload_len, "echo has the wrong size");
            self.have = 0;
            self.need = 2;
            self.skip = len;
            if len == 0 {
                done += 1;
            }
        }
        done
    }
}
