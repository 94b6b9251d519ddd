//! The adapters side by side: the `echo_server` and `rpc_server` examples of tether-tokio
//! and of tether-async-std (on smol), each run as a process of its own, loaded from this
//! process over 127.0.0.1, with the server's CPU time per message.
//!
//! The servers are release-built example binaries; `scripts/bench-runtimes.sh` builds them
//! (the two crates' examples have the same names, so it copies each crate's into a
//! directory of its own) and then runs this bench:
//!
//! ```text
//! scripts/bench-runtimes.sh                      # tokio and smol of this checkout
//! scripts/bench-runtimes.sh before=../wt-before  # ... and of another checkout beside them
//! ```
//!
//! Knobs (environment):
//!
//! - `TETHER_BENCH_SERVERS`: the servers, `name=DIR,name=DIR,...`, where each `DIR` holds
//!   an `echo_server` and an `rpc_server` binary. Default: `tokio` and `smol` in
//!   `target/bench-runtimes/`, where the script puts them. The first is the reference of
//!   every ratio.
//! - `TETHER_BENCH_EXTRA_SERVERS`: more of the same, appended (binaries of an older
//!   commit, say).
//! - `TETHER_BENCH_PAIRS`: the ratios of the summary, `a/b,c/d,...` by name. Default:
//!   every server over the first, except that `X-SUFFIX` (`smol-before`) is compared
//!   with `X` (`smol/smol-before`) and with the first's `-SUFFIX` variant
//!   (`smol-before/tokio-before`).
//! - `TETHER_BENCH_ECHO_MS` (one timed run, default 2000), `TETHER_BENCH_WARMUP_MS` (500),
//!   `TETHER_BENCH_ROUNDS` (3), as for `echo`.
//!
//! Each server process is started once per binary with `127.0.0.1:0` and found by the
//! `listening on ws://ADDR` line it prints. The load client runs on one single-threaded
//! tokio runtime on this process's main thread, the same for every server. Per server and
//! workload: one untimed warm-up run, then timed runs in rotating order (ABCD, BCDA, ...)
//! so that drift in the machine's load is spread over every server. Around each timed run
//! the server's CPU time (`utime + stime` of `/proc/PID/stat`, every thread) is read, after
//! the connections are open and before they are closed. Tables show medians over the
//! rounds and ratios of medians; absolute figures depend on the machine, only the ratios
//! travel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tether_bench::echo::Schedule;
use tether_bench::runtimes::{
    clock_ticks_per_second, own_cpu_ticks, Kind, Load, ServerProcess, Workload,
};
use tether_bench::{median, ratio, si, Table};
use tokio::task::LocalSet;

/// `echo_server`'s workloads: round trips, many connections with one small message each,
/// and large messages over a few connections.
const ECHO_WORKLOADS: [Workload; 3] = [
    Workload {
        kind: Kind::Echo(20),
        connections: 1,
        window: 1,
    },
    Workload {
        kind: Kind::Echo(20),
        connections: 100,
        window: 1,
    },
    Workload {
        kind: Kind::Echo(16 << 10),
        connections: 10,
        window: 1,
    },
];

/// `rpc_server`'s workloads: `echo` calls one at a time, one per connection over many
/// connections, and many at once on one connection.
const RPC_WORKLOADS: [Workload; 3] = [
    Workload {
        kind: Kind::Rpc,
        connections: 1,
        window: 1,
    },
    Workload {
        kind: Kind::Rpc,
        connections: 100,
        window: 1,
    },
    Workload {
        kind: Kind::Rpc,
        connections: 1,
        window: 128,
    },
];

/// A server under test: a name and the directory of its two binaries.
struct Server {
    name: String,
    dir: PathBuf,
}

/// One timed run of one server.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Answers per second.
    rate: f64,
    /// Server CPU time per answer, in microseconds.
    cpu_us: f64,
    /// Server CPU time over wall time: 1.0 is one core busy.
    cpu_share: f64,
    /// The load client's (this process's) CPU time over wall time.
    client_share: f64,
    /// The server threads' context switches per answer.
    switches: f64,
}

/// The medians of one server on one workload.
#[derive(Debug, Clone, Copy)]
struct Medians {
    rate: f64,
    cpu_us: f64,
}

fn main() {
    let servers = servers_from_env();
    let pairs = pairs_from_env(&servers);
    let schedule = Schedule::from_env();
    let (ticks, measured) = clock_ticks_per_second();
    println!(
        "adapters side by side over 127.0.0.1, servers in processes of their own, load from this one; \
         rounds: {} of {:.1} s per server and workload (after a {:.1} s warm-up)",
        schedule.rounds,
        schedule.measure.as_secs_f64(),
        schedule.warmup.as_secs_f64()
    );
    println!(
        "server CPU time: utime + stime of /proc/PID/stat at {ticks} ticks/s ({})",
        if measured {
            "getconf CLK_TCK"
        } else {
            "getconf failed: assumed"
        }
    );
    for server in &servers {
        println!("  {:<14} {}", server.name, server.dir.display());
    }

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let local = LocalSet::new();
    let mut results: Vec<(Workload, Vec<Medians>)> = Vec::new();
    for (binary, workloads) in [
        ("echo_server", ECHO_WORKLOADS),
        ("rpc_server", RPC_WORKLOADS),
    ] {
        let mut processes: Vec<ServerProcess> = servers
            .iter()
            .map(|s| {
                let process = ServerProcess::start(&s.dir.join(binary));
                eprintln!(
                    "started {} {binary}: pid {}, ws://{}",
                    s.name,
                    process.pid(),
                    process.addr
                );
                process
            })
            .collect();
        for workload in workloads {
            for (server, process) in servers.iter().zip(&processes) {
                local.block_on(&client, async {
                    let mut load = Load::connect(process.addr, workload).await;
                    load.run(schedule.warmup).await;
                    load.close().await;
                });
                eprintln!(
                    "  warmed up {} ({} threads)",
                    server.name,
                    process.threads()
                );
            }
            let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); servers.len()];
            for round in 0..schedule.rounds {
                for k in 0..servers.len() {
                    let i = (round + k) % servers.len();
                    let sample = local.block_on(
                        &client,
                        timed_run(&mut processes[i], workload, schedule.measure, ticks),
                    );
                    eprintln!(
                        "  {}, round {}: {:<14} {:>9} msgs/s {:>8.2} us/msg, \
                         server CPU {:>4.0}%, client CPU {:>4.0}%, {:.2} switches/msg",
                        workload.label(),
                        round + 1,
                        servers[i].name,
                        si(sample.rate),
                        sample.cpu_us,
                        sample.cpu_share * 100.0,
                        sample.client_share * 100.0,
                        sample.switches
                    );
                    samples[i].push(sample);
                }
            }
            results.push((workload, print_table(workload, &servers, &samples)));
        }
        // Killed here, before the next binary's servers start.
        drop(processes);
    }
    print_summary(&servers, &pairs, &results);
}

/// Opens the connections, reads the server's CPU time, runs, reads it again, closes.
async fn timed_run(
    process: &mut ServerProcess,
    workload: Workload,
    duration: Duration,
    ticks_per_second: u64,
) -> Sample {
    let mut load = Load::connect(process.addr, workload).await;
    let switches_before = process.context_switches();
    let before = process.cpu_ticks();
    let client_before = own_cpu_ticks();
    let run = load.run(duration).await;
    let client_after = own_cpu_ticks();
    let after = process.cpu_ticks();
    let switches_after = process.context_switches();
    load.close().await;
    let seconds = |ticks: u64| ticks as f64 / ticks_per_second as f64;
    let cpu_seconds = seconds(after - before);
    let elapsed = run.elapsed.as_secs_f64();
    Sample {
        rate: run.messages as f64 / elapsed,
        cpu_us: cpu_seconds * 1e6 / run.messages.max(1) as f64,
        cpu_share: cpu_seconds / elapsed,
        client_share: seconds(client_after - client_before) / elapsed,
        switches: switches_after.saturating_sub(switches_before) as f64
            / run.messages.max(1) as f64,
    }
}

fn print_table(workload: Workload, servers: &[Server], samples: &[Vec<Sample>]) -> Vec<Medians> {
    let first = &servers[0].name;
    let rate_vs = format!("msgs/s / {first}");
    let cpu_vs = format!("CPU/msg / {first}");
    let mut table = Table::new(&[
        "server",
        "msgs/s (median)",
        "min",
        "max",
        "CPU us/msg (median)",
        "min",
        "max",
        "server CPU",
        "client CPU",
        "switches/msg",
        &rate_vs,
        &cpu_vs,
    ]);
    let medians: Vec<Medians> = samples
        .iter()
        .map(|s| Medians {
            rate: median(&s.iter().map(|x| x.rate).collect::<Vec<_>>()),
            cpu_us: median(&s.iter().map(|x| x.cpu_us).collect::<Vec<_>>()),
        })
        .collect();
    for (i, server) in servers.iter().enumerate() {
        let rates: Vec<f64> = samples[i].iter().map(|x| x.rate).collect();
        let cpus: Vec<f64> = samples[i].iter().map(|x| x.cpu_us).collect();
        let shares: Vec<f64> = samples[i].iter().map(|x| x.cpu_share).collect();
        let client: Vec<f64> = samples[i].iter().map(|x| x.client_share).collect();
        let switches: Vec<f64> = samples[i].iter().map(|x| x.switches).collect();
        table.row(vec![
            server.name.clone(),
            si(medians[i].rate),
            si(min(&rates)),
            si(max(&rates)),
            format!("{:.2}", medians[i].cpu_us),
            format!("{:.2}", min(&cpus)),
            format!("{:.2}", max(&cpus)),
            format!("{:.0}%", median(&shares) * 100.0),
            format!("{:.0}%", median(&client) * 100.0),
            format!("{:.2}", median(&switches)),
            ratio(medians[i].rate, medians[0].rate),
            ratio(medians[i].cpu_us, medians[0].cpu_us),
        ]);
    }
    println!("\n{}", workload.label());
    print!("{}", table.render());
    medians
}

/// One table of msgs/s ratios and one of CPU-per-message ratios, a row per workload and a
/// column per pair.
fn print_summary(
    servers: &[Server],
    pairs: &[(usize, usize)],
    results: &[(Workload, Vec<Medians>)],
) {
    if pairs.is_empty() {
        return;
    }
    let names: Vec<String> = pairs
        .iter()
        .map(|&(a, b)| format!("{}/{}", servers[a].name, servers[b].name))
        .collect();
    for (title, pick) in [
        (
            "msgs/s ratios (above 1.00x: the first of the pair answered more)",
            (|m: &Medians| m.rate) as fn(&Medians) -> f64,
        ),
        (
            "server CPU per message ratios (above 1.00x: the first of the pair spent more)",
            |m: &Medians| m.cpu_us,
        ),
    ] {
        let mut header = vec!["workload"];
        header.extend(names.iter().map(String::as_str));
        let mut table = Table::new(&header);
        for (workload, medians) in results {
            let mut row = vec![workload.label()];
            row.extend(
                pairs
                    .iter()
                    .map(|&(a, b)| ratio(pick(&medians[a]), pick(&medians[b]))),
            );
            table.row(row);
        }
        println!("\n{title}");
        print!("{}", table.render());
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}

/// The servers of `TETHER_BENCH_SERVERS` (or the default two) and of
/// `TETHER_BENCH_EXTRA_SERVERS`, each checked to have both binaries.
fn servers_from_env() -> Vec<Server> {
    let default_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ is inside the workspace")
        .join("target")
        .join("bench-runtimes");
    let mut servers = match std::env::var("TETHER_BENCH_SERVERS") {
        Ok(list) => parse_servers(&list),
        Err(_) => vec![
            Server {
                name: "tokio".into(),
                dir: default_dir.join("tokio"),
            },
            Server {
                name: "smol".into(),
                dir: default_dir.join("smol"),
            },
        ],
    };
    if let Ok(list) = std::env::var("TETHER_BENCH_EXTRA_SERVERS") {
        servers.extend(parse_servers(&list));
    }
    assert!(!servers.is_empty(), "no servers to measure");
    for server in &servers {
        for binary in ["echo_server", "rpc_server"] {
            let path = server.dir.join(binary);
            assert!(
                path.is_file(),
                "{} has no {binary} (looked for {}): build the servers with \
                 scripts/bench-runtimes.sh, or name their directories in TETHER_BENCH_SERVERS",
                server.name,
                path.display()
            );
        }
    }
    servers
}

fn parse_servers(list: &str) -> Vec<Server> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, dir) = item
                .split_once('=')
                .unwrap_or_else(|| panic!("expected name=DIR, got {item:?}"));
            Server {
                name: name.trim().to_owned(),
                dir: PathBuf::from(dir.trim()),
            }
        })
        .collect()
}

/// The pairs of `TETHER_BENCH_PAIRS` as indexes into `servers`, or by default: every
/// server over the first, except that a server named `X-SUFFIX` where `X` is a server
/// (`tokio-before`) is compared with `X` (`tokio/tokio-before`) and with the first's
/// variant of the same suffix (`smol-before/tokio-before`).
fn pairs_from_env(servers: &[Server]) -> Vec<(usize, usize)> {
    let index = |name: &str| {
        servers
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("TETHER_BENCH_PAIRS names {name:?}, not a server"))
    };
    if let Ok(list) = std::env::var("TETHER_BENCH_PAIRS") {
        return list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| {
                let (a, b) = pair
                    .split_once('/')
                    .unwrap_or_else(|| panic!("expected a/b, got {pair:?}"));
                (index(a.trim()), index(b.trim()))
            })
            .collect();
    }
    // `X-SUFFIX` is a variant of `X` (the same runtime from another checkout, say).
    let base_of = |name: &str| -> Option<(usize, String)> {
        servers.iter().enumerate().find_map(|(i, base)| {
            let suffix = name.strip_prefix(base.name.as_str())?;
            suffix.starts_with('-').then(|| (i, suffix.to_owned()))
        })
    };
    let first = &servers[0].name;
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (i, server) in servers.iter().enumerate().skip(1) {
        match base_of(&server.name) {
            None => pairs.push((i, 0)),
            Some((base, suffix)) => {
                pairs.push((base, i));
                // `smol-before/tokio-before`: how the two compared in that variant.
                if base != 0 {
                    if let Some(j) = servers
                        .iter()
                        .position(|s| s.name == format!("{first}{suffix}"))
                    {
                        pairs.push((i, j));
                    }
                }
            }
        }
    }
    pairs
}
