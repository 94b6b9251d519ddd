//! The replicated store of tether-raft on four Raft networks, side by side in one run:
//! tether's (JSON-RPC over the pool's WebSocket links), HTTP/1.1 (one POST per RPC over a
//! pooled client, the shape of openraft's HTTP examples and of the seeds before their
//! move), gRPC over tonic with a unary call per RPC on an HTTP/2 channel per peer, and the
//! same with appends streamed on one bidirectional call, as openraft's gRPC example sends
//! them ([`grpc`]). Writes/s and write latency at 1 and 64 concurrent writers.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench raft
//! ```
//!
//! Only the network between the nodes differs: every node is tether-raft's `KvNode` on
//! tokio in a process of its own (this binary again, see [`node`]), with the same log,
//! state machine and openraft `Config`; the load client, in this process on a
//! single-threaded runtime, writes to the leader with `kv/write` over one tether
//! `rpc::Client` whatever the network. First a cluster per network: three nodes start on
//! 127.0.0.1, `mgmt/init` makes them a cluster, a warm-up writes with the most writers.
//! Then, each round, each writer count on each cluster in turn writes for the timed
//! window (writer `w` sets keys `w{w}-{n % 16}` to values of 100 B, one write at a time
//! each), after which every writer's last write is read back from the leader (a
//! linearizable read) and every follower is checked to have applied the last write. The
//! networks take turns window by window, in an order that rotates each round, so that the
//! noise of a shared machine falls on all of them alike; each figure is the median of the
//! rounds. The clusters not being timed stay up, idle but for their heartbeats.
//!
//! Knobs (environment): `TETHER_BENCH_ROUNDS` (default 5), `TETHER_BENCH_RAFT_MS` (one
//! timed window, default 2000), `TETHER_BENCH_WARMUP_MS` (default 1000),
//! `TETHER_BENCH_RAFT_WRITERS` (a list, default `1,64`), `TETHER_BENCH_RAFT_NETWORKS`
//! (default `tether,http,grpc,grpc-stream`), `TETHER_BENCH_RAFT_VALUE` (value bytes,
//! default 100).
//!
//! Absolute figures depend on the machine; the ratios are what travel. Nothing here
//! asserts anything about time.

mod grpc;
mod http;
mod load;
mod node;
mod wire;

use std::collections::BTreeMap;
use std::time::Duration;

use tether_bench::runtimes::{clock_ticks_per_second, own_cpu_ticks};
use tether_bench::{env_list, env_millis, env_u64, median, percentile, ratio, si, Table};
use tether_raft::kv::NodeConfig;

use crate::load::Cluster;
use crate::node::Network;

struct Settings {
    rounds: usize,
    measure: Duration,
    warmup: Duration,
    writers: Vec<usize>,
    networks: Vec<Network>,
    value_len: usize,
    tick_us: f64,
}

/// One timed window of one network at one writer count.
#[derive(Debug, Clone, Copy)]
struct Run {
    writes_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU µs per write, the three nodes together.
    nodes_us: f64,
    /// CPU µs per write, this process (the load client).
    client_us: f64,
    errors: u64,
    /// Terms the leader went through during the window: an election is a network's doing.
    elections: u64,
}

fn main() {
    node::run_if_child();
    let (ticks_per_sec, measured) = clock_ticks_per_second();
    if !measured {
        eprintln!("getconf CLK_TCK failed: assuming {ticks_per_sec} ticks/s");
    }
    let settings = Settings {
        rounds: env_u64("TETHER_BENCH_ROUNDS", 5) as usize,
        measure: env_millis("TETHER_BENCH_RAFT_MS", Duration::from_millis(2000)),
        warmup: env_millis("TETHER_BENCH_WARMUP_MS", Duration::from_millis(1000)),
        writers: env_list("TETHER_BENCH_RAFT_WRITERS", &[1, 64]),
        networks: networks(),
        value_len: env_u64("TETHER_BENCH_RAFT_VALUE", 100) as usize,
        tick_us: 1e6 / ticks_per_sec as f64,
    };
    let raft = NodeConfig::new(1, "").raft;
    eprintln!(
        "openraft Config of every node: heartbeat every {} ms, election timeout {}-{} ms, \
         up to {} entries per append, snapshot policy {:?}; nodes on tokio, a worker per core",
        raft.heartbeat_interval,
        raft.election_timeout_min,
        raft.election_timeout_max,
        raft.max_payload_entries,
        raft.snapshot_policy,
    );
    eprintln!("load average at the start: {}", load_average());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let runs = runtime.block_on(measure_all(&settings));
    eprintln!("load average at the end: {}", load_average());
    println!("{}", table(&settings, &runs));
}

/// The machine's load average (1, 5, 15 min), for the record: the figures are only as
/// quiet as the machine was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Starts a cluster per network and warms each up, then times every network at every
/// writer count once per round, the networks taking turns window by window (in an order
/// that rotates each round) so that each meets the machine's noise alike; then stops them.
async fn measure_all(settings: &Settings) -> BTreeMap<(usize, usize), Vec<Run>> {
    let mut clusters = Vec::new();
    let most = settings.writers.iter().copied().max().unwrap_or(1);
    for &network in &settings.networks {
        let cluster = Cluster::start(network).await;
        cluster
            .write_for(most, settings.warmup, settings.value_len)
            .await;
        eprintln!(
            "{}: 3 nodes up, node {} leads, warmed up",
            network.name(),
            cluster.leader
        );
        clusters.push(cluster);
    }
    let mut runs: BTreeMap<(usize, usize), Vec<Run>> = BTreeMap::new();
    for round in 0..settings.rounds {
        for &writers in &settings.writers {
            for turn in 0..clusters.len() {
                let index = (turn + round) % clusters.len();
                let network = settings.networks[index];
                let run = measure(settings, &clusters[index], network, writers).await;
                eprintln!(
                    "round {} {:<11} {writers:>3} writers: {} writes/s, p50 {:.2} ms, p99 {:.2} ms, \
                     nodes {:.0} µs CPU/write{}{}",
                    round + 1,
                    network.name(),
                    si(run.writes_per_sec),
                    run.p50_ms,
                    run.p99_ms,
                    run.nodes_us,
                    if run.errors > 0 {
                        format!(", {} failed writes", run.errors)
                    } else {
                        String::new()
                    },
                    if run.elections > 0 {
                        format!(", {} elections", run.elections)
                    } else {
                        String::new()
                    },
                );
                runs.entry((index, writers)).or_default().push(run);
            }
        }
    }
    runs
}

/// One timed window of `writers` writers on `cluster`, and the check that follows it.
async fn measure(settings: &Settings, cluster: &Cluster, network: Network, writers: usize) -> Run {
    let term = cluster.leader_metrics().await.term;
    let (nodes_before, own_before) = (cluster.cpu_ticks(), own_cpu_ticks());
    let load = cluster
        .write_for(writers, settings.measure, settings.value_len)
        .await;
    let (nodes_after, own_after) = (cluster.cpu_ticks(), own_cpu_ticks());
    let elections = cluster.leader_metrics().await.term - term;
    if let Err(e) = cluster.check(&load).await {
        panic!("{}: an acknowledged write is missing: {e}", network.name());
    }
    let writes = load.latencies.len();
    assert!(writes > 0, "{}: no write acknowledged", network.name());
    let ms = |p| percentile(&load.latencies, p).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    let per_write = |ticks: u64| ticks as f64 * settings.tick_us / writes as f64;
    Run {
        writes_per_sec: writes as f64 / load.elapsed.as_secs_f64(),
        p50_ms: ms(50),
        p99_ms: ms(99),
        nodes_us: per_write(nodes_after - nodes_before),
        client_us: per_write(own_after - own_before),
        errors: load.errors,
        elections,
    }
}

fn networks() -> Vec<Network> {
    let Ok(names) = std::env::var("TETHER_BENCH_RAFT_NETWORKS") else {
        return Network::ALL.to_vec();
    };
    let chosen: Vec<Network> = names
        .split(',')
        .filter_map(|name| {
            let network = Network::parse(name.trim());
            if network.is_none() {
                eprintln!("ignoring unknown network {name:?} (tether, http, grpc, grpc-stream)");
            }
            network
        })
        .collect();
    if chosen.is_empty() {
        Network::ALL.to_vec()
    } else {
        chosen
    }
}

/// Medians of the rounds, and the ratios to tether's at the same writer count.
fn table(settings: &Settings, runs: &BTreeMap<(usize, usize), Vec<Run>>) -> String {
    let mut table = Table::new(&[
        "network",
        "writers",
        "writes/s (median, min-max)",
        "p50 ms",
        "p99 ms",
        "nodes CPU µs/write",
        "client CPU µs/write",
        "tether ÷ this, writes/s",
        "this ÷ tether, p99",
        "failed, elections",
    ]);
    let tether = settings.networks.iter().position(|n| *n == Network::Tether);
    for &writers in &settings.writers {
        let med = |index: usize, f: fn(&Run) -> f64| {
            let values: Vec<f64> = runs
                .get(&(index, writers))
                .map(|runs| runs.iter().map(f).collect())
                .unwrap_or_default();
            (!values.is_empty()).then(|| median(&values))
        };
        for (index, network) in settings.networks.iter().enumerate() {
            let Some(these) = runs.get(&(index, writers)) else {
                continue;
            };
            let rates: Vec<f64> = these.iter().map(|r| r.writes_per_sec).collect();
            let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let max = rates.iter().copied().fold(0.0, f64::max);
            let rate = median(&rates);
            let p99 = med(index, |r| r.p99_ms).unwrap_or(0.0);
            let (vs_rate, vs_p99) = match tether
                .and_then(|t| Some((med(t, |r| r.writes_per_sec)?, med(t, |r| r.p99_ms)?)))
            {
                Some(_) if Some(index) == tether => ("1.00x".to_owned(), "1.00x".to_owned()),
                Some((tether_rate, tether_p99)) => {
                    (ratio(tether_rate, rate), ratio(p99, tether_p99))
                }
                None => ("-".to_owned(), "-".to_owned()),
            };
            table.row(vec![
                network.label().to_owned(),
                writers.to_string(),
                format!("{} ({}-{})", si(rate), si(min), si(max)),
                format!("{:.2}", med(index, |r| r.p50_ms).unwrap_or(0.0)),
                format!("{p99:.2}"),
                format!("{:.0}", med(index, |r| r.nodes_us).unwrap_or(0.0)),
                format!("{:.0}", med(index, |r| r.client_us).unwrap_or(0.0)),
                vs_rate,
                vs_p99,
                format!(
                    "{}, {}",
                    these.iter().map(|r| r.errors).sum::<u64>(),
                    these.iter().map(|r| r.elections).sum::<u64>()
                ),
            ]);
        }
    }
    format!(
        "Raft store, 3 nodes, {} B values, median of {} rounds of {} ms per network and writer count\n{}",
        settings.value_len,
        settings.rounds,
        settings.measure.as_millis(),
        table.render()
    )
}
