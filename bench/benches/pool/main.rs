//! The cluster layer: what `Peers` costs against plain clients, what a node holding many
//! idle peers spends, and whether a small call waits behind a large one. tether-tokio's
//! `pool::Peers` only; every node that is called or held runs in a child process of this
//! binary, on 127.0.0.1, so the process that measures holds only the callers.
//!
//! Run with:
//!
//! ```text
//! cargo bench -p tether-bench --bench pool
//! ```
//!
//! Knobs (environment): `TETHER_BENCH_ROUNDS` (default 3), `TETHER_BENCH_POOL_MS` (one
//! timed overhead run, default 2000), `TETHER_BENCH_WARMUP_MS` (default 500),
//! `TETHER_BENCH_POOL_CALLERS` (concurrent callers, a list, default `1,64`),
//! `TETHER_BENCH_IDLE_PEERS` (peers of the hub, a list, default `1000`),
//! `TETHER_BENCH_IDLE_MS` (one idle window, default 10000), `TETHER_BENCH_BULK_MIB`
//! (default 64), `TETHER_BENCH_BULK_SENDS` (large calls per mode and round, default 3),
//! `TETHER_BENCH_POOL_PARTS` (which parts, default `overhead,idle,lanes`).
//!
//! - **overhead**: C callers (1 and 64), each calling `echo` on three nodes in turn, through
//!   one `Peers` (`call(node, ...)`) or through three `rpc::Client`s (one per node). The
//!   three nodes are `Peers` in one child process (a node serves plain JSON-RPC clients
//!   too, so the same nodes serve both ways). calls/s, and the CPU time per call of the
//!   calling process (`/proc/self/stat`) and of the nodes' process, median of the rounds,
//!   alternating which way goes first; ratios pool / direct.
//! - **idle**: a hub node in one child process and N peer nodes (N `Peers`) in another,
//!   each linked to the hub by one call; then nobody calls, and heartbeats (every 1 s, the
//!   default, from both ends of every link) are all that moves. The hub's CPU time over
//!   windows of 10 s (percent of one core, and µs per peer per second), its context
//!   switches, and its resident memory growth per link.
//! - **lanes**: a small call on the control link to a node in a child process, started
//!   every millisecond: its round trip when nothing else goes to the node, and while a 64
//!   MiB call goes to it on the same control link or on the bulk lane (`call_on(node,
//!   Lane::Bulk, ...)`). p50/p99 and their ratios to idle, and the ping round trip from
//!   `Peers::stats`.
//!
//! Absolute figures depend on the machine; the ratios are what travel. Nothing here
//! asserts anything about time.

mod hold;
mod idle;
mod lanes;
mod overhead;
mod roles;

use std::time::Duration;

use tether_bench::runtimes::clock_ticks_per_second;
use tether_bench::{env_list, env_millis, env_u64};

/// Every knob of the three parts.
pub struct Settings {
    rounds: usize,
    measure: Duration,
    warmup: Duration,
    callers: Vec<usize>,
    idle_peers: Vec<usize>,
    idle_window: Duration,
    bulk_mib: usize,
    bulk_sends: usize,
    ticks_per_sec: u64,
}

fn main() {
    // A child process plays one node or set of nodes.
    if let Some(role) = roles::Role::from_env() {
        role.run();
        return;
    }
    let (ticks_per_sec, measured) = clock_ticks_per_second();
    if !measured {
        eprintln!("getconf CLK_TCK failed: assuming {ticks_per_sec} ticks/s");
    }
    let settings = Settings {
        rounds: env_u64("TETHER_BENCH_ROUNDS", 3) as usize,
        measure: env_millis("TETHER_BENCH_POOL_MS", Duration::from_millis(2000)),
        warmup: env_millis("TETHER_BENCH_WARMUP_MS", Duration::from_millis(500)),
        callers: env_list("TETHER_BENCH_POOL_CALLERS", &[1, 64]),
        idle_peers: env_list("TETHER_BENCH_IDLE_PEERS", &[1000]),
        idle_window: env_millis("TETHER_BENCH_IDLE_MS", Duration::from_secs(10)),
        bulk_mib: env_u64("TETHER_BENCH_BULK_MIB", 64) as usize,
        bulk_sends: env_u64("TETHER_BENCH_BULK_SENDS", 3) as usize,
        ticks_per_sec,
    };
    let parts = std::env::var("TETHER_BENCH_POOL_PARTS")
        .unwrap_or_else(|_| "overhead,idle,lanes".to_owned());
    let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
    for part in &parts {
        match *part {
            "overhead" => overhead::run(&settings),
            "idle" => idle::run(&settings),
            "lanes" => lanes::run(&settings),
            other => eprintln!("ignoring unknown part {other:?} of TETHER_BENCH_POOL_PARTS"),
        }
    }
}
