//! Deterministic simulation of tether's state machines over a faulty network
//! (`tether_tests::sim`): `seeds` runs channels and sessions against echo servers,
//! `pool_seeds` a cluster of pools. `SIM_SEED=N` replays one seed (in both); `SIM_SEEDS=N`
//! runs N seeds instead of the default 1000.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Instant;

use tether_tests::sim::pool_scenario::{self, Params};
use tether_tests::sim::{self, Outcome, Sabotage};

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
    run_named("seeds", seed, sim::run)
}

/// Runs `seed` of the pool scenario, as [`run_reporting`].
fn run_pool_reporting(seed: u64) -> Outcome {
    run_named("pool_seeds", seed, pool_scenario::run)
}

fn run_named(test: &str, seed: u64, run: fn(u64) -> Outcome) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| run(seed))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            eprintln!(
                "seed {seed} failed\nreplay with: SIM_SEED={seed} cargo test -p tether-tests --test simulation -- --nocapture --exact {test}"
            );
            resume_unwind(panic)
        }
    }
}

/// Runs seeds `0..count` with `run`, adding up their counters, and prints the rate and
/// the totals.
fn run_many(count: u64, run: fn(u64) -> Outcome) -> BTreeMap<&'static str, u64> {
    // Wall time only for the rate printed below; the runs never see it.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    for seed in 0..count {
        for (name, n) in run(seed).counters {
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
        eprintln!("  {name:<30} {n}");
    }
    totals
}

/// The counters in `names` that stayed at zero.
fn never<'a>(totals: &BTreeMap<&'static str, u64>, names: &[&'a str]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|name| totals.get(name).copied().unwrap_or(0) == 0)
        .collect()
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
    let totals = run_many(count, run_reporting);
    // The faults and endings must actually happen, or the run proves little.
    if count >= 100 {
        let never = never(
            &totals,
            &[
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
                "session.notes_queued",
            ],
        );
        assert!(
            never.is_empty(),
            "never happened in {count} seeds: {never:?}"
        );
    }
}

/// The pool scenario: many seeds of a cluster of pools, or exactly the one in `SIM_SEED`.
#[test]
fn pool_seeds() {
    if let Some(seed) = env_u64("SIM_SEED") {
        let outcome = run_pool_reporting(seed);
        eprintln!("{outcome:#?}");
        eprintln!("pool seed {seed}: trace {:016x}", outcome.trace);
        return;
    }
    let count = env_u64("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let totals = run_many(count, run_pool_reporting);
    // Every fault and every ending must actually happen, or the run proves little.
    if count >= 100 {
        let never = never(
            &totals,
            &[
                "net.resets",
                "net.partitions",
                "net.stalls",
                "net.crashes",
                "net.clock_jumps",
                "net.refused",
                "net.window_full",
                "net.slow_links",
                "pool.answered",
                "pool.answered_error",
                "pool.timed_out",
                "pool.lost_sent",
                "pool.cancelled",
                "pool.unreachable",
                "pool.silent_checked",
                "pool.restarts",
                "pool.died_with_node",
                "pool.calm_calls",
                "pool.bulk_calls",
                "pool.bulk_answered",
                "pool.parsed_aside",
                "pool.pairs_checked",
                "pool.writes_succeeded",
                "pool.writes_failed",
            ],
        );
        assert!(
            never.is_empty(),
            "never happened in {count} seeds: {never:?}"
        );
    }
}

/// The pool checkers are not blind: answers that carry the wrong call tag (the harness
/// lies now and then) fail invariant 1 within a few seeds.
#[test]
fn pool_wrong_answers_are_caught() {
    let params = Params {
        sabotage: Sabotage::WrongTag,
        ..Params::default()
    };
    for seed in 0..20 {
        let run = catch_unwind(AssertUnwindSafe(|| {
            pool_scenario::build(seed, params).run()
        }));
        if let Err(panic) = run {
            let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(
                text.contains("invariant 1 (every call ends once, with its own answer)")
                    && text.contains("someone else's answer"),
                "seed {seed} failed, but not on invariant 1: {text}"
            );
            return;
        }
    }
    panic!("20 seeds of wrong answers and no invariant noticed");
}

/// Replay is exact: the same seed gives the same trace and counters.
#[test]
fn same_seed_same_trace() {
    for seed in [0, 1, 42, 0xDEAD_BEEF] {
        let first = run_reporting(seed);
        let second = run_reporting(seed);
        assert_eq!(first, second, "seed {seed} did not replay identically");
        let first = run_pool_reporting(seed);
        let second = run_pool_reporting(seed);
        assert_eq!(first, second, "pool seed {seed} did not replay identically");
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
