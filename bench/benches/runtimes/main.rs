//! tether's servers as users run them, side by side with peer libraries' servers: the
//! `echo_server` and `rpc_server` examples of tether-tokio and of tether-async-std (on
//! smol), and fastwebsockets, tokio-tungstenite and jsonrpsee servers (this crate's
//! examples), each run as a process of its own, loaded from this process over 127.0.0.1.
//! It measures messages per second and the server's CPU time per message, the server's
//! resident memory per idle connection, the time of a connect and upgrade, and the CPU per
//! message with many idle connections beside the load (issue 14's table).
//!
//! The servers are release-built example binaries; `scripts/bench-runtimes.sh` builds them
//! (each into a directory of its own as `echo_server` and/or `rpc_server`) and then runs
//! this bench:
//!
//! ```text
//! scripts/bench-runtimes.sh                      # tether's and the peers' servers
//! scripts/bench-runtimes.sh before=../wt-before  # ... and tether's of another checkout
//! ```
//!
//! Knobs (environment):
//!
//! - `TETHER_BENCH_SERVERS`: the servers, `name=DIR,name=DIR,...`, where each `DIR` holds
//!   an `echo_server` binary, an `rpc_server` binary or both. Default: `tokio` and `smol`
//!   in `target/bench-runtimes/`. The first server that has a binary is the reference of
//!   every ratio of that binary's figures (the script lists fastwebsockets and jsonrpsee
//!   first).
//! - `TETHER_BENCH_EXTRA_SERVERS`: more of the same, appended (binaries of an older
//!   commit, say).
//! - `TETHER_BENCH_PAIRS`: the ratios of the summary, `a/b,c/d,...` by name, `ref` for
//!   each workload's reference. Default: every server over the reference, except that
//!   `X-SUFFIX` (`smol-before`) is compared with `X` (`smol/smol-before`) and with the
//!   first server's `-SUFFIX` variant (`smol-before/tokio-before`).
//! - `TETHER_BENCH_PARTS`: which parts run, a list of `throughput`, `handshake`, `memory`,
//!   `idle` (default: all four).
//! - `TETHER_BENCH_ECHO_MS` (one timed run, default 2000), `TETHER_BENCH_WARMUP_MS` (500),
//!   `TETHER_BENCH_ROUNDS` (3), as for `echo`; rounds apply to every part.
//! - `TETHER_BENCH_CONNECTIONS` (10000): the idle connections of `memory` and `idle`.
//! - `TETHER_BENCH_HANDSHAKES` (2000): timed handshakes per server and round.
//! - `TETHER_BENCH_SETTLE_MS` (1000): the wait after opening (or closing) idle connections.
//!
//! Each server process is started with `127.0.0.1:0` and `TETHER_MAX_CONNECTIONS` (the
//! idle connections plus 1024, which tether's examples and jsonrpsee's take as their
//! connection limits) and found by the `listening on ws://ADDR` line it prints. The load
//! client runs on one single-threaded tokio runtime on this process's main thread, the
//! same for every server; idle connections are held by a thread of their own. Per server
//! and workload: one untimed warm-up run, then timed runs in rotating order (ABCD, BCDA,
//! ...) so that drift in the machine's load is spread over every server. Around each timed
//! run the server's CPU time (`utime + stime` of `/proc/PID/stat`, every thread; `utime`
//! alone is its user-space part) is read, after the connections are open and before they
//! are closed. Tables show medians over
//! the rounds and ratios of medians; absolute figures depend on the machine, only the
//! ratios travel.

mod handshake;
mod idle_peers;
mod memory;
mod report;
mod servers;
mod throughput;

use std::path::Path;
use std::time::Duration;

use tether_bench::echo::Schedule;
use tether_bench::runtimes::{clock_ticks_per_second, Kind, ServerProcess, Workload};
use tether_bench::{env_millis, env_u64};
use tokio::task::LocalSet;

use servers::{reference, Binary};
use throughput::{Client, Figures};

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

/// The idle connections of the memory and idle parts.
#[derive(Debug, Clone, Copy)]
struct Idle {
    /// How many (`TETHER_BENCH_CONNECTIONS`).
    count: usize,
    /// The wait after opening or closing them (`TETHER_BENCH_SETTLE_MS`).
    settle: Duration,
}

/// Which parts of the bench run (`TETHER_BENCH_PARTS`).
#[derive(Debug, Clone, Copy)]
struct Parts {
    throughput: bool,
    handshake: bool,
    memory: bool,
    idle: bool,
}

impl Parts {
    fn from_env() -> Parts {
        let Ok(list) = std::env::var("TETHER_BENCH_PARTS") else {
            return Parts {
                throughput: true,
                handshake: true,
                memory: true,
                idle: true,
            };
        };
        let names: Vec<&str> = list.split(',').map(str::trim).collect();
        for name in &names {
            assert!(
                ["throughput", "handshake", "memory", "idle", ""].contains(name),
                "TETHER_BENCH_PARTS: unknown part {name:?} \
                 (expected throughput, handshake, memory, idle)"
            );
        }
        Parts {
            throughput: names.contains(&"throughput"),
            handshake: names.contains(&"handshake"),
            memory: names.contains(&"memory"),
            idle: names.contains(&"idle"),
        }
    }
}

fn main() {
    let servers = servers::servers_from_env();
    let pairs = servers::pairs_from_env(&servers);
    let schedule = Schedule::from_env();
    let parts = Parts::from_env();
    let idle = Idle {
        count: env_u64("TETHER_BENCH_CONNECTIONS", 10_000) as usize,
        settle: env_millis("TETHER_BENCH_SETTLE_MS", Duration::from_millis(1000)),
    };
    let idle_count = idle.count;
    let handshakes = env_u64("TETHER_BENCH_HANDSHAKES", 2_000) as usize;
    let max_connections = (idle_count + 1024).to_string();
    let env = [("TETHER_MAX_CONNECTIONS", max_connections.as_str())];
    let (ticks, measured) = clock_ticks_per_second();
    println!(
        "servers side by side over 127.0.0.1, each in a process of its own, load from this one; \
         rounds: {} of {:.1} s per server and workload (after a {:.1} s warm-up); \
         {idle_count} idle connections, {handshakes} handshakes per round",
        schedule.rounds,
        schedule.measure.as_secs_f64(),
        schedule.warmup.as_secs_f64()
    );
    println!(
        "server CPU time: utime + stime of /proc/PID/stat at {ticks} ticks/s ({}); {}",
        if measured {
            "getconf CLK_TCK"
        } else {
            "getconf failed: assumed"
        },
        load_average()
    );
    for server in &servers {
        for binary in Binary::ALL {
            if let Some(path) = server.binary(binary) {
                println!("  {:<18} {}", server.name, path.display());
            }
        }
    }

    let client = Client {
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime"),
        local: LocalSet::new(),
        ticks_per_second: ticks,
    };
    let mut report = report::Report::new(servers.len());
    let mut results: Vec<Figures> = Vec::new();
    for binary in Binary::ALL {
        let active: Vec<(usize, &Path)> = servers
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.binary(binary)?)))
            .collect();
        let Some(reference) = reference(&servers, binary) else {
            continue;
        };
        let indexes: Vec<usize> = active.iter().map(|&(i, _)| i).collect();
        let label = binary.file_name();
        let idle_part = parts.idle && binary == Binary::Echo;
        if parts.throughput || parts.handshake || idle_part {
            let mut processes: Vec<ServerProcess> = active
                .iter()
                .map(|&(i, path)| {
                    let process = ServerProcess::start(path, &env);
                    eprintln!(
                        "started {} {label}: pid {}, ws://{}",
                        servers[i].name,
                        process.pid(),
                        process.addr
                    );
                    process
                })
                .collect();
            if parts.throughput {
                let workloads = match binary {
                    Binary::Echo => ECHO_WORKLOADS,
                    Binary::Rpc => RPC_WORKLOADS,
                };
                for workload in workloads {
                    let medians = throughput::measure(
                        &client,
                        &servers,
                        &indexes,
                        &mut processes,
                        workload,
                        schedule,
                    );
                    report.throughput(workload, &medians);
                    results.push(Figures {
                        label: workload.label(),
                        reference,
                        medians,
                    });
                }
            }
            if parts.handshake {
                let figures = handshake::measure(
                    &client,
                    &servers,
                    &indexes,
                    &mut processes,
                    handshakes,
                    schedule.rounds,
                    label,
                );
                report.handshakes(binary, &figures);
            }
            if idle_part {
                let figures = idle_peers::measure(
                    &client,
                    &servers,
                    &indexes,
                    &mut processes,
                    ECHO_WORKLOADS[1],
                    schedule,
                    idle,
                );
                report.idle_peers(&figures);
            }
            // Killed here, before the memory part's and the next binary's servers start.
            drop(processes);
        }
        if parts.memory {
            let figures = memory::measure(&servers, &active, &env, idle, schedule.rounds, label);
            report.memory(binary, &figures);
        }
    }
    throughput::print_summary(&servers, &pairs, &results);
    report.print(&servers, idle_count);
    println!("\n{}", load_average());
}

/// The load average of `/proc/loadavg`, for the record: the machine is shared.
fn load_average() -> String {
    match std::fs::read_to_string("/proc/loadavg") {
        Ok(line) => {
            let fields: Vec<&str> = line.split_whitespace().take(3).collect();
            format!("load average {}", fields.join(" "))
        }
        Err(_) => "load average unknown".to_owned(),
    }
}
