//! The echo benchmarks' harness, shared by `benches/echo.rs` (`ws://`) and
//! `benches/wss.rs` (`wss://`): the workloads, the load client, the rotation of servers
//! through timed rounds, and the table of medians and ratios.
//!
//! The load client is the same for every server of a table: it does the upgrade by hand,
//! keeps a fixed window of pre-encoded masked binary frames in flight, and counts echoes by
//! parsing only the servers' frame headers, so it spends as little CPU as possible and the
//! same on every peer. A [`Connect`] says how it reaches a server: plain TCP ([`Tcp`]) or
//! whatever a bench wraps around it (TLS).

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

use crate::server_thread::{loopback, ServerThread};
use crate::{
    env_millis, env_u64, masked_binary_frames, masked_close_frame, median, ratio, si,
    upgrade_request, Table,
};

/// One workload: payload size and how many messages the client keeps in flight. Small
/// messages get a deep window so the servers, not round trips, are the bottleneck; big
/// ones a shallower window so in-flight bytes stay well inside loopback socket buffers.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Bytes per message.
    pub payload_len: usize,
    /// Messages in flight.
    pub window: usize,
}

/// The workloads of every echo table, in order.
pub const WORKLOADS: [Workload; 3] = [
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

/// How long each run lasts and how many there are, from the environment:
/// `TETHER_BENCH_ECHO_MS` (default 2000), `TETHER_BENCH_WARMUP_MS` (500),
/// `TETHER_BENCH_ROUNDS` (3).
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// One timed run.
    pub measure: Duration,
    /// The untimed run per server and workload before the timed ones.
    pub warmup: Duration,
    /// Timed runs per server and workload.
    pub rounds: usize,
}

impl Schedule {
    /// The schedule the environment asks for.
    pub fn from_env() -> Schedule {
        Schedule {
            measure: env_millis("TETHER_BENCH_ECHO_MS", Duration::from_millis(2000)),
            warmup: env_millis("TETHER_BENCH_WARMUP_MS", Duration::from_millis(500)),
            rounds: env_u64("TETHER_BENCH_ROUNDS", 3) as usize,
        }
    }
}

/// How the load client reaches a server.
pub trait Connect {
    /// The connected stream, for the upgrade.
    type Stream: AsyncRead + AsyncWrite + Unpin;
    /// Its reading half.
    type Reader: AsyncRead + Unpin;
    /// Its writing half.
    type Writer: AsyncWrite + Unpin;

    /// A connection to `addr`, ready for the upgrade request (`TCP_NODELAY` set).
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = Self::Stream>;

    /// Halves that the writer and the reader of the load can use at once.
    fn split(stream: Self::Stream) -> (Self::Reader, Self::Writer);
}

/// Plain TCP.
#[derive(Debug, Clone, Copy)]
pub struct Tcp;

impl Connect for Tcp {
    type Stream = TcpStream;
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;

    async fn connect(&self, addr: SocketAddr) -> TcpStream {
        let stream = TcpStream::connect(addr).await.expect("connect to server");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        stream
    }

    fn split(stream: TcpStream) -> (OwnedReadHalf, OwnedWriteHalf) {
        stream.into_split()
    }
}

/// Runs every workload against every server, `schedule.rounds` timed runs each in rotating
/// order (ABC, BCA, CAB, …) after one warm-up each, and prints one table per workload.
/// The first server is tether's: the ratios are relative to it.
pub fn compare<C: Connect>(servers: &[(&str, ServerThread)], connector: &C, schedule: Schedule) {
    // The client gets a runtime of its own on this thread: the same driver for every server.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    for workload in WORKLOADS {
        for (name, server) in servers {
            client.block_on(run_load(connector, server.addr, workload, schedule.warmup));
            eprintln!("  warmed up {name}");
        }
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for round in 0..schedule.rounds {
            for k in 0..servers.len() {
                let i = (round + k) % servers.len();
                let (name, server) = &servers[i];
                let run =
                    client.block_on(run_load(connector, server.addr, workload, schedule.measure));
                let rate = run.messages as f64 / run.elapsed.as_secs_f64();
                eprintln!(
                    "  {} B, round {}: {:<28} {:>10} msgs/s",
                    workload.payload_len,
                    round + 1,
                    name,
                    si(rate)
                );
                rates[i].push(rate);
            }
        }
        print_table(workload, servers, &rates);
    }
}

fn print_table(workload: Workload, servers: &[(&str, ServerThread)], rates: &[Vec<f64>]) {
    let medians: Vec<f64> = rates.iter().map(|r| median(r)).collect();
    let mut table = Table::new(&[
        "server",
        "msgs/s (median)",
        "min",
        "max",
        "payload MB/s each way",
        "tether / this",
    ]);
    for (i, (name, _)) in servers.iter().enumerate() {
        let min = rates[i].iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates[i].iter().copied().fold(0.0, f64::max);
        table.row(vec![
            (*name).to_owned(),
            si(medians[i]),
            si(min),
            si(max),
            format!("{:.1}", medians[i] * workload.payload_len as f64 / 1e6),
            ratio(medians[0], medians[i]),
        ]);
    }
    println!(
        "\npayload {} B, window {} messages in flight",
        workload.payload_len, workload.window
    );
    print!("{}", table.render());
}

/// Accepts TCP connections on 127.0.0.1 until told to stop, handing each to `handle` as its
/// own task. For servers under test that take a socket (rather than binding their own).
pub async fn accept_loop<H, Fut>(
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

/// What one timed run achieved.
pub struct Run {
    /// Echoes received.
    pub messages: u64,
    /// From the first write to the last echo.
    pub elapsed: Duration,
}

/// Connects to `addr` with `connector`, upgrades, and echoes for `duration`, keeping
/// `workload.window` messages in flight: the writer tops the window up whenever echoes
/// return, the reader counts echoes. Both halves run as futures of one task on this thread,
/// sharing plain `Cell`s. The clock stops when the last echo of the last write arrives.
pub async fn run_load<C: Connect>(
    connector: &C,
    addr: SocketAddr,
    workload: Workload,
    duration: Duration,
) -> Run {
    let (frames, frame_len) = masked_binary_frames(workload.window, workload.payload_len);
    let mut stream = connector.connect(addr).await;
    client_handshake(&mut stream, addr).await;

    let (mut rd, mut wr) = C::split(stream);
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
        let mut counter = FrameCounter::binary(workload.payload_len);
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
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, addr: SocketAddr) {
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
/// skipping payloads. Every frame must be an unfragmented, unmasked frame of the expected
/// opcode (and, for echoes, of the size we sent): anything else means a server did not
/// answer what it got, which would make its figure meaningless, so it panics.
#[derive(Debug)]
pub struct FrameCounter {
    first_byte: u8,
    payload_len: Option<usize>,
    header: [u8; 10],
    have: usize,
    need: usize,
    skip: usize,
}

impl FrameCounter {
    /// Final binary frames of exactly `payload_len` bytes: echoes of what the load sent.
    pub fn binary(payload_len: usize) -> FrameCounter {
        FrameCounter::new(0x82, Some(payload_len))
    }

    /// Final text frames of any length: JSON-RPC responses.
    pub fn text() -> FrameCounter {
        FrameCounter::new(0x81, None)
    }

    fn new(first_byte: u8, payload_len: Option<usize>) -> FrameCounter {
        FrameCounter {
            first_byte,
            payload_len,
            header: [0; 10],
            have: 0,
            need: 2,
            skip: 0,
        }
    }

    /// Consumes `data`, returning how many frames it completed.
    pub fn feed(&mut self, mut data: &[u8]) -> u64 {
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
                assert_eq!(
                    self.header[0], self.first_byte,
                    "expected a final frame with first byte {:#04x}",
                    self.first_byte
                );
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
            if let Some(expected) = self.payload_len {
                assert_eq!(len, expected, "echo has the wrong size");
            }
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
