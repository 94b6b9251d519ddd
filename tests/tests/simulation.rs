//! Deterministic simulation of tether's state machines over a faulty network
//! (`tether_tests::sim`). `SIM_SEED=N` replays one seed; `SIM_SEEDS=N` runs N seeds
//! instead of the default 1000.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Instant;

use tether_tests::sim::{self, Outcome};

const DEFAULT_SEEDS: u64 = 1000;

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// Runs `seed`; if it panics (an invariant, or a panic inside the core), says how to
/// replay it before passing the panic on.
fn run_reporting(seed: u64) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| sim::run(seed))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            eprintln!(
                "seed {seed} failed\nreplay with: SIM_SEED={seed} cargo test -p tether-tests --test simulation -- --nocapture seeds"
            );
            resume_unwind(panic)
        }
    }
}

/// The default test: many seeds, or exactly the one in `SIM_SEED`.
#[test]
fn seeds() {
    if let Some(seed) = env_u64("SIM_SEED") {
        let outcome = run_reporting(seed);
        eprintln!("{outcome:#?}");
        eprintln!("seed {seed}: trace {:016x}", outcome.trace);
        return;
    }
    let count = env_u64("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    // Wall time only for the rate printed below; the runs never see it.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in 0..count {
        for (name, n) in run_reporting(seed).counters {
            let total = totals.entry(name).or_default();
            // High-water marks are kept as such; everything else adds up.
            *total = if name.ends_with("_max") {
                (*total).max(n)
            } else {
                *total + n
            };
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{count} seeds in {secs:.1} s ({:.0} seeds/s)",
        count as f64 / secs
    );
    for (name, n) in &totals {
        eprintln!("  {name:<24} {n}");
    }
    // The faults and endings must actually happen, or the run proves little.
    if count >= 100 {
        let never: Vec<&str> = [
            "rpc.answered",
            "rpc.timed_out",
            "rpc.lost",
            "rpc.cancelled",
            "rpc.refused",
            "net.resets",
            "net.partitions",
            "net.stalls",
            "net.crashes",
            "net.clock_jumps",
            "net.refused",
            "net.window_full",
            "session.answered",
            "session.timed_out",
            "session.lost",
            "session.cancelled",
            "session.failed",
            "session.refused",
            "session.heartbeat_timeouts",
            "session.reconnections",
            "session.notes",
            "session.notes_lost",
        ]
        .into_iter()
        .filter(|name| totals.get(name).copied().unwrap_or(0) == 0)
        .collect();
        assert!(
            never.is_empty(),
            "never happened in {count} seeds: {never:?}"
        );
    }
}

/// Replay is exact: the same seed gives the same trace and counters.
#[test]
fn same_seed_same_trace() {
    for seed in [0, 1, 42, 0xDEAD_BEEF] {
        let first = run_reporting(seed);
        let second = run_reporting(seed);
        assert_eq!(first, second, "seed {seed} did not replay identically");
    }
}

/// Sanity: the seed drives the run, so different seeds give different traces.
#[test]
fn different_seeds_differ() {
    let traces: Vec<u64> = (100..110).map(|seed| run_reporting(seed).trace).collect();
    let mut unique = traces.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        traces.len(),
        "traces repeat across seeds: {traces:x?}"
    );
}
