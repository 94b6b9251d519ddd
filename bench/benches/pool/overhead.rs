//! Pool overhead: calls/s through one `Peers` to three nodes against the same calls on
//! three `rpc::Client`s (one per node), the same nodes serving both, with the CPU time
//! each call costs the calling process and the nodes' process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tether_bench::runtimes::{own_cpu_ticks, process_cpu_ticks};
use tether_bench::{median, ratio, si, Table};
use tether_tokio::pool::{NodeId, Peers, PeersConfig};
use tether_tokio::rpc::{Client, ClientConfig, Router};
use tokio::task::JoinSet;

use crate::roles::{vote, ChildProcess, Role, Vote};
use crate::Settings;

/// The node id of the calling pool.
const CALLER: NodeId = NodeId(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Pool,
    Direct,
}

impl Path {
    fn label(self) -> &'static str {
        match self {
            Path::Pool => "Peers::call (one pool, 3 links)",
            Path::Direct => "rpc::Client::call (3 clients)",
        }
    }
}

/// Both ways to the same three nodes.
#[derive(Clone)]
struct Callers {
    pool: Peers,
    clients: Arc<Vec<Client>>,
}

impl Callers {
    /// Calls `echo` on node `index` (0, 1, 2) one way and checks the answer.
    async fn call(&self, path: Path, index: usize, params: &Vote) {
        let answer: Vote = match path {
            Path::Pool => self
                .pool
                .call(NodeId(index as u64 + 1), "echo", params)
                .await
                .expect("pool call"),
            Path::Direct => self.clients[index]
                .call("echo", params)
                .await
                .expect("client call"),
        };
        assert_eq!(&answer, params);
    }
}

/// One timed run.
struct Run {
    calls_per_sec: f64,
    /// CPU µs per call, calling process.
    client_us: f64,
    /// CPU µs per call, the nodes' process.
    server_us: f64,
}

pub fn run(settings: &Settings) {
    let mut nodes = ChildProcess::start(Role::Nodes, &[]);
    let urls = nodes.urls();
    assert_eq!(urls.len(), 3, "three nodes");
    let server_pid = nodes.pid();
    let tick_us = 1e6 / settings.ticks_per_sec as f64;

    // The calling side: one single-threaded runtime for both ways, as the nodes have.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(async {
        let pool = Peers::new(PeersConfig::new(CALLER), Router::default()).expect("pool");
        let mut clients = Vec::new();
        for (i, url) in urls.iter().enumerate() {
            pool.add_peer(NodeId(i as u64 + 1), url).expect("url");
            clients.push(
                Client::connect(url, ClientConfig::default())
                    .await
                    .expect("connect"),
            );
        }
        let callers = Callers {
            pool,
            clients: Arc::new(clients),
        };
        // Every link open before anything is timed.
        for path in [Path::Pool, Path::Direct] {
            for index in 0..3 {
                callers.call(path, index, &vote()).await;
            }
        }

        let mut results = Vec::new();
        for &concurrency in &settings.callers {
            for path in [Path::Pool, Path::Direct] {
                eprintln!("overhead: warm-up, {concurrency} callers, {}", path.label());
                timed(&callers, path, concurrency, settings.warmup).await;
            }
            let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
            for round in 0..settings.rounds {
                let order = if round % 2 == 0 {
                    [Path::Pool, Path::Direct]
                } else {
                    [Path::Direct, Path::Pool]
                };
                for path in order {
                    let client_before = own_cpu_ticks();
                    let server_before = process_cpu_ticks(server_pid);
                    let (calls, elapsed) =
                        timed(&callers, path, concurrency, settings.measure).await;
                    let client = (own_cpu_ticks() - client_before) as f64 * tick_us;
                    let server = (process_cpu_ticks(server_pid) - server_before) as f64 * tick_us;
                    let run = Run {
                        calls_per_sec: calls as f64 / elapsed.as_secs_f64(),
                        client_us: client / calls as f64,
                        server_us: server / calls as f64,
                    };
                    eprintln!(
                        "overhead: round {} {concurrency} callers {}: {} calls/s, \
                         client {:.1} us/call, nodes {:.1} us/call",
                        round + 1,
                        path.label(),
                        si(run.calls_per_sec),
                        run.client_us,
                        run.server_us
                    );
                    runs[path as usize].push(run);
                }
            }
            results.push((concurrency, runs));
        }
        results
    });
    let links = nodes.figure("links");

    println!();
    println!(
        "Pool overhead: callers each calling `echo` (an 80 B vote) on 3 nodes in turn, \
         through one Peers or through 3 rpc::Clients; the nodes are 3 Peers in one child \
         process ({links} links at the end), the callers one single-threaded runtime here. \
         {} rounds of {:.1} s, alternating which way goes first; CPU us/call from \
         utime+stime of /proc/PID/stat ({} ticks/s)",
        settings.rounds,
        settings.measure.as_secs_f64(),
        settings.ticks_per_sec
    );
    let mut table = Table::new(&[
        "callers, way",
        "calls/s (median)",
        "min",
        "max",
        "caller CPU us/call",
        "nodes CPU us/call",
        "pool / direct: calls/s",
        "caller CPU",
        "nodes CPU",
    ]);
    for (concurrency, runs) in &results {
        let med =
            |runs: &[Run], f: fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        let rate = |r: &Run| r.calls_per_sec;
        let client = |r: &Run| r.client_us;
        let server = |r: &Run| r.server_us;
        let (pool, direct) = (&runs[Path::Pool as usize], &runs[Path::Direct as usize]);
        for (path, runs) in [(Path::Pool, pool), (Path::Direct, direct)] {
            let rates: Vec<f64> = runs.iter().map(rate).collect();
            let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = rates.iter().copied().fold(0.0, f64::max);
            let ratios = if path == Path::Pool {
                [
                    ratio(med(pool, rate), med(direct, rate)),
                    ratio(med(pool, client), med(direct, client)),
                    ratio(med(pool, server), med(direct, server)),
                ]
            } else {
                Default::default()
            };
            let [calls, caller_cpu, nodes_cpu] = ratios;
            table.row(vec![
                format!("{concurrency}, {}", path.label()),
                si(med(runs, rate)),
                si(lo),
                si(hi),
                format!("{:.1}", med(runs, client)),
                format!("{:.1}", med(runs, server)),
                calls,
                caller_cpu,
                nodes_cpu,
            ]);
        }
    }
    print!("{}", table.render());
}

/// `concurrency` tasks calling for `length`, each through the three nodes in turn
/// (starting at a different one); the number of calls and the time until the last one
/// returned.
async fn timed(
    callers: &Callers,
    path: Path,
    concurrency: usize,
    length: Duration,
) -> (u64, Duration) {
    let start = Instant::now();
    let end = start + length;
    let mut tasks = JoinSet::new();
    for task in 0..concurrency {
        let callers = callers.clone();
        tasks.spawn(async move {
            let params = vote();
            let mut calls = 0u64;
            let mut index = task % 3;
            while Instant::now() < end {
                callers.call(path, index, &params).await;
                index = (index + 1) % 3;
                calls += 1;
            }
            calls
        });
    }
    let mut calls = 0;
    while let Some(done) = tasks.join_next().await {
        calls += done.expect("caller task");
    }
    (calls, start.elapsed())
}
