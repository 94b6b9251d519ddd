//! Deterministic simulation of RPC clients and servers over a faulty network
//! (`tether_tests::sim`). `SIM_SEED=N` replays one seed; `SIM_SEEDS=N` runs N seeds
//! instead of the default 1000.

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
                "seed {seed} failed\nreplay with: SIM_SEED={seed} cargo test -p tether-tests --test simulation"
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
    let mut totals = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    for seed in 0..count {
        let o = run_reporting(seed);
        totals.0 += o.calls.answered;
        totals.1 += o.calls.timed_out;
        totals.2 += o.calls.lost;
        totals.3 += o.calls.refused;
        totals.4 += o.resets;
        totals.5 += u64::from(o.clock_jump);
        totals.6 += o.calls.cancelled;
    }
    let secs = started.elapsed().as_secs_f64();
    let (answered, timed_out, lost, refused, resets, jumps, cancelled) = totals;
    eprintln!(
        "{count} seeds in {secs:.1} s ({:.0} seeds/s): {answered} answered, {timed_out} timed out, {lost} lost, {cancelled} cancelled, {refused} refused; {resets} resets, {jumps} clock jumps",
        count as f64 / secs
    );
    // The faults must actually happen, or the run proves little.
    if count >= 100 {
        assert!(
            answered > 0 && timed_out > 0 && lost > 0 && cancelled > 0,
            "some fault paths never ran"
        );
        assert!(resets > 0 && jumps > 0, "no resets or clock jumps drawn");
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
