//! JSON-RPC calls over one WebSocket connection on loopback: tether-tokio's `rpc::Client`
//! calling its `rpc::Server`, against jsonrpsee's `WsClient` calling its `Server`.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench rpc
//! ```
//!
//! Knobs (environment): `TETHER_BENCH_RPC_MS` (measured time per run, default 2000),
//! `TETHER_BENCH_WARMUP_MS` (default 500), `TETHER_BENCH_ROUNDS` (default 5).
//!
//! Both servers serve one method, `echo`, which deserializes a small Raft-like vote request
//! and returns it; both clients send the same request and deserialize the answer into the
//! same type, and the bench checks every answer equals the request. Each server runs on
//! its own OS thread with a single-threaded tokio runtime; the clients share one
//! single-threaded runtime on the main thread, each with one connection, opened once and
//! reused. A run keeps 1, 16 or 128 calls in flight (that many tasks, each calling in a
//! loop) for a fixed time; the 1-in-flight runs also time every call for p50/p99 latency.
//! The two libraries take turns (AB, BA, AB, ...), and the table shows medians over the
//! rounds, the spread, and ratios tether / jsonrpsee. Absolute figures depend on the
//! machine; only the ratios travel. Nothing here asserts anything about time.

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use jsonrpsee::core::client::ClientT;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use jsonrpsee::RpcModule;
use tether_bench::server_thread::{loopback, ServerThread};
use tether_bench::{env_millis, env_u64, median, ratio, si, Table};
use tokio::sync::oneshot;

#[path = "shared/vote.rs"]
mod shared_vote;
use shared_vote::{vote, Params, VoteRequest};

/// Calls kept in flight on the one connection, per workload.
const IN_FLIGHT: [usize; 3] = [1, 16, 128];

/// How long one call may take before the bench gives up on the run (a stuck peer would
/// otherwise hang it; both clients use the same bound).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The libraries under test, in the order they appear in tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Tether,
    Jsonrpsee,
}

const PEERS: [Peer; 2] = [Peer::Tether, Peer::Jsonrpsee];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Tether => "tether-tokio",
            Peer::Jsonrpsee => "jsonrpsee 0.26",
        }
    }
}

/// What one timed run achieved.
struct Run {
    calls: u64,
    elapsed: Duration,
    /// Every call's round trip, when timed (the 1-in-flight runs).
    latencies: Vec<Duration>,
}

/// Medians-to-be: per peer, one entry per round.
#[derive(Default, Clone)]
struct Samples {
    /// `rates[level]`: calls/s of each round at `IN_FLIGHT[level]`.
    rates: Vec<Vec<f64>>,
    p50_us: Vec<f64>,
    p99_us: Vec<f64>,
}

fn main() {
    let measure = env_millis("TETHER_BENCH_RPC_MS", Duration::from_millis(2000));
    let warmup = env_millis("TETHER_BENCH_WARMUP_MS", Duration::from_millis(500));
    let rounds = env_u64("TETHER_BENCH_ROUNDS", 5) as usize;

    let servers: Vec<ServerThread> = PEERS
        .iter()
        .map(|&peer| match peer {
            Peer::Tether => ServerThread::spawn(peer.name(), serve_tether),
            Peer::Jsonrpsee => ServerThread::spawn(peer.name(), serve_jsonrpsee),
        })
        .collect();

    // The clients share one runtime on this thread: the same driver for both.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let clients: Vec<RpcClient> = runtime.block_on(async {
        let mut clients = Vec::new();
        for (peer, server) in PEERS.iter().zip(&servers) {
            clients.push(RpcClient::connect(*peer, server.addr).await);
        }
        clients
    });

    println!(
        "JSON-RPC `echo` of a {} B object over one WebSocket connection on 127.0.0.1, \
         rounds: {rounds} of {:.1} s per library and workload (after a {:.1} s warm-up)",
        serde_json::to_string(&vote()).expect("serialize").len(),
        measure.as_secs_f64(),
        warmup.as_secs_f64()
    );
    let mut samples = vec![
        Samples {
            rates: vec![Vec::new(); IN_FLIGHT.len()],
            ..Default::default()
        };
        PEERS.len()
    ];
    for (level, &in_flight) in IN_FLIGHT.iter().enumerate() {
        for (peer, client) in PEERS.iter().zip(&clients) {
            runtime.block_on(run_calls(client, in_flight, warmup, false));
            eprintln!("  warmed up {} at {in_flight} in flight", peer.name());
        }
        for round in 0..rounds {
            for k in 0..PEERS.len() {
                let i = (round + k) % PEERS.len();
                let timed = in_flight == 1;
                let run = runtime.block_on(run_calls(&clients[i], in_flight, measure, timed));
                let rate = run.calls as f64 / run.elapsed.as_secs_f64();
                samples[i].rates[level].push(rate);
                let mut line = format!(
                    "  {in_flight:>3} in flight, round {}: {:<16} {:>9} calls/s",
                    round + 1,
                    PEERS[i].name(),
                    si(rate)
                );
                if timed {
                    let (p50, p99) = percentiles(run.latencies);
                    samples[i].p50_us.push(p50);
                    samples[i].p99_us.push(p99);
                    line.push_str(&format!("  p50 {p50:.1} us  p99 {p99:.1} us"));
                }
                eprintln!("{line}");
            }
        }
    }
    print_table(&samples);

    runtime.block_on(async {
        for client in clients {
            client.close().await;
        }
    });
    drop(servers);
}

/// p50 and p99 of `latencies` in microseconds, by nearest rank.
fn percentiles(mut latencies: Vec<Duration>) -> (f64, f64) {
    assert!(!latencies.is_empty(), "a timed run made no call");
    latencies.sort_unstable();
    let rank = |p: f64| {
        let k = (p * latencies.len() as f64).ceil() as usize;
        latencies[k.clamp(1, latencies.len()) - 1].as_secs_f64() * 1e6
    };
    (rank(0.50), rank(0.99))
}

fn spread(values: &[f64], show: impl Fn(f64) -> String) -> String {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(0.0, f64::max);
    format!("{} - {}", show(min).trim_end(), show(max).trim_end())
}

fn print_table(samples: &[Samples]) {
    let (tether, jsonrpsee) = (&samples[0], &samples[1]);
    let mut table = Table::new(&[
        "measure",
        PEERS[0].name(),
        "min - max",
        PEERS[1].name(),
        "min - max",
        "tether / jsonrpsee",
    ]);
    let rate = |v: f64| si(v);
    for (level, in_flight) in IN_FLIGHT.iter().enumerate() {
        let (t, j) = (&tether.rates[level], &jsonrpsee.rates[level]);
        table.row(vec![
            format!("calls/s, {in_flight} in flight"),
            rate(median(t)),
            spread(t, rate),
            rate(median(j)),
            spread(j, rate),
            ratio(median(t), median(j)),
        ]);
    }
    let micros = |v: f64| format!("{v:.1}");
    for (name, t, j) in [
        (
            "p50 latency us, 1 in flight",
            &tether.p50_us,
            &jsonrpsee.p50_us,
        ),
        (
            "p99 latency us, 1 in flight",
            &tether.p99_us,
            &jsonrpsee.p99_us,
        ),
    ] {
        table.row(vec![
            name.to_owned(),
            micros(median(t)),
            spread(t, micros),
            micros(median(j)),
            spread(j, micros),
            ratio(median(t), median(j)),
        ]);
    }
    println!();
    print!("{}", table.render());
    println!(
        "(calls/s: above 1.00x tether made more calls per second; latency: below 1.00x \
         tether answered sooner)"
    );
}

/// Keeps `in_flight` calls going on `client` for `duration`: that many tasks, each calling
/// in a loop until the deadline. The clock stops when the last call returns. With `timed`,
/// every call's round trip is recorded too.
async fn run_calls(client: &RpcClient, in_flight: usize, duration: Duration, timed: bool) -> Run {
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let request = vote();
                let mut calls = 0u64;
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let answer = client.echo(&request).await;
                    if timed {
                        latencies.push(sent.elapsed());
                    }
                    assert_eq!(answer, request, "{} echoed something else", client.name());
                    calls += 1;
                }
                (calls, latencies)
            })
        })
        .collect();
    let mut run = Run {
        calls: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for worker in workers {
        let (calls, latencies) = worker.await.expect("a calling task panicked");
        run.calls += calls;
        run.latencies.extend(latencies);
    }
    run.elapsed = start.elapsed();
    run
}

// ------------------------------------------------------------------------ clients

/// One connection of either library, cheap to clone (both clients are shared handles).
#[derive(Clone)]
enum RpcClient {
    Tether(tether_tokio::rpc::Client),
    Jsonrpsee(Arc<WsClient>),
}

impl RpcClient {
    async fn connect(peer: Peer, addr: SocketAddr) -> RpcClient {
        let url = format!("ws://{addr}/");
        match peer {
            Peer::Tether => {
                let config = tether_tokio::rpc::ClientConfig::default();
                let client = tokio::time::timeout(
                    CALL_TIMEOUT,
                    tether_tokio::rpc::Client::connect(&url, config),
                )
                .await
                .expect("tether connect timed out")
                .expect("tether connect");
                RpcClient::Tether(client)
            }
            Peer::Jsonrpsee => {
                // Defaults (256 calls in flight at most, TCP_NODELAY on), but the same
                // call timeout as tether's default would be too long to notice a hang.
                let client = WsClientBuilder::default()
                    .request_timeout(CALL_TIMEOUT)
                    .connection_timeout(CALL_TIMEOUT)
                    .build(&url)
                    .await
                    .expect("jsonrpsee connect");
                RpcClient::Jsonrpsee(Arc::new(client))
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            RpcClient::Tether(_) => Peer::Tether.name(),
            RpcClient::Jsonrpsee(_) => Peer::Jsonrpsee.name(),
        }
    }

    async fn echo(&self, request: &VoteRequest) -> VoteRequest {
        match self {
            RpcClient::Tether(client) => client
                .call_with_timeout("echo", request, CALL_TIMEOUT)
                .await
                .unwrap_or_else(|e| panic!("tether call failed: {e:?}")),
            RpcClient::Jsonrpsee(client) => client
                .request("echo", Params(request))
                .await
                .unwrap_or_else(|e| panic!("jsonrpsee call failed: {e}")),
        }
    }

    async fn close(self) {
        match self {
            RpcClient::Tether(client) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
            }
            // jsonrpsee's client closes its connection when the last handle drops.
            RpcClient::Jsonrpsee(client) => drop(client),
        }
    }
}

// ------------------------------------------------------------------------ servers

/// tether-tokio's RPC server through its public API: `bind`, one `route`, `serve`.
async fn serve_tether(ready: mpsc::Sender<SocketAddr>, stop: oneshot::Receiver<()>) {
    let config = tether_tokio::rpc::ServerConfig::default();
    let server = tether_tokio::rpc::Server::bind(loopback(), config)
        .await
        .expect("tether bind loopback");
    ready
        .send(server.local_addr().expect("bound address"))
        .expect("bench waits for the address");
    let server = server.route("echo", |request: VoteRequest| async move {
        Ok::<VoteRequest, tether_tokio::rpc::ErrorObject>(request)
    });
    tokio::select! {
        _ = stop => {}
        served = server.serve() => served.expect("tether serve"),
    }
}

/// jsonrpsee's server as its documentation shows one: `Server::builder().build`, an
/// `RpcModule`, `start`. The method is registered with `register_async_method`, an async
/// handler like tether's `route` takes; its params are parsed into the same type.
async fn serve_jsonrpsee(ready: mpsc::Sender<SocketAddr>, stop: oneshot::Receiver<()>) {
    let server = jsonrpsee::server::Server::builder()
        .build(loopback())
        .await
        .expect("jsonrpsee bind loopback");
    ready
        .send(server.local_addr().expect("bound address"))
        .expect("bench waits for the address");
    let mut module = RpcModule::new(());
    module
        .register_async_method("echo", |params, _, _| async move {
            params.parse::<VoteRequest>()
        })
        .expect("register echo");
    let handle = server.start(module);
    let _ = stop.await;
    let _ = handle.stop();
    let _ = tokio::time::timeout(Duration::from_secs(2), handle.stopped()).await;
}
