//! The mutation test: the simulator's invariants are proven by bugs they catch. Each
//! planted bug (`tether_core::mutants`, compiled in only with the `mutants` feature the
//! tests crate turns on, and planted per thread) runs through the session simulation and
//! the pool simulation (`tether_tests::sim`), seed after seed, until an invariant fails;
//! the test requires that this happens within [`MAX_SEEDS`] seeds, that the invariant that
//! fails is one of those expected to catch that bug, and that the same seed passes with
//! no bug planted (so the bug, not the seed, broke it). It prints what caught each bug
//! and after how many seeds.
//!
//! `seeds_pass_without_a_mutant` runs the first seeds of both simulations with none
//! planted: no invariant may fire (the simulation test runs 1000 seeds of each).

use std::panic::{catch_unwind, AssertUnwindSafe};

use tether_core::mutants::{self, Mutant};
use tether_tests::sim::{self, pool_scenario};

/// A planted bug must be caught within this many seeds of each simulation it runs in.
const MAX_SEEDS: u64 = 50;

/// The invariants, by the words their failure messages carry. Session-run invariants
/// are described in `tether_tests::sim` ("The test command's run"), pool ones are
/// numbered there.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "got the answer of another call",
        "an answer carries its own call's params",
    ),
    (
        "someone else's answer",
        "pool 1: every call ends once, with its own answer",
    ),
    (
        "invariant 1 (",
        "pool 1: every call ends once, with its own answer",
    ),
    ("invariant 2 (", "pool 2: no live, busy link declared dead"),
    ("invariant 3 (", "pool 3: one link per peer pair once calm"),
    ("invariant 4 (", "pool 4: stats agree with the workload"),
    ("invariant 5 (", "pool 5: Unreachable only when unreachable"),
    ("invariant 6 (", "pool 6: a quorum counts only successes"),
    (
        "answered after its deadline",
        "no call outlives its deadline",
    ),
    ("never ended", "every call ends by the end of the run"),
    ("still open after EOF", "an EOF ends the calls in flight"),
    (
        "not later than now",
        "no timer left due after handle_timeout",
    ),
    (
        "should have dropped it by",
        "a silent link is dropped within interval + timeout",
    ),
    ("a duplicate", "notifications arrive in order, none twice"),
    ("out of order", "notifications arrive in order, none twice"),
    (
        "a queued notification went missing",
        "a queued notification goes out on the next link",
    ),
    (
        "items are still queued",
        "after the faults, the queue drains",
    ),
    (
        "the session is still",
        "after the faults, every session is Connected again",
    ),
    (
        "the run ended with the session",
        "after the faults, every session closes",
    ),
    ("exceeds its bound", "memory: held bytes within bounds"),
    ("over its limits", "memory: the queue within its limits"),
];

/// Which simulation a bug is run in.
#[derive(Debug, Clone, Copy)]
enum Run {
    Session,
    Pool,
}

/// The invariant that `message` reports, if any.
fn invariant(message: &str) -> Option<&'static str> {
    INVARIANTS
        .iter()
        .find(|(words, _)| message.contains(words))
        .map(|&(_, name)| name)
}

/// Runs `seed` of `run`: `Ok` if it passed, else the failure message.
fn outcome(run: Run, seed: u64) -> Result<(), String> {
    let result = catch_unwind(AssertUnwindSafe(|| match run {
        Run::Session => drop(sim::run(seed)),
        Run::Pool => drop(pool_scenario::run(seed)),
    }));
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

/// Plants `mutant`, runs seeds of each of `runs` in turn until one fails, and requires it
/// fails on one of `expected` within [`MAX_SEEDS`] seeds, and passes with no mutant.
fn caught(mutant: Mutant, runs: &[Run], expected: &[&str]) {
    for seed in 0..MAX_SEEDS {
        for &run in runs {
            mutants::plant(Some(mutant));
            let result = outcome(run, seed);
            mutants::plant(None);
            let Err(message) = result else {
                continue;
            };
            let Some(name) = invariant(&message) else {
                panic!(
                    "{mutant:?}: {run:?} seed {seed} failed, but on no known invariant:\n{message}"
                );
            };
            assert!(
                expected.contains(&name),
                "{mutant:?}: {run:?} seed {seed} failed on \"{name}\", expected one of {expected:?}:\n{message}"
            );
            if let Err(clean) = outcome(run, seed) {
                panic!("{mutant:?}: {run:?} seed {seed} fails even with no mutant:\n{clean}");
            }
            eprintln!(
                "{mutant:?}: caught by \"{name}\" in the {run:?} run, seed {seed} ({} seeds)",
                seed + 1
            );
            return;
        }
    }
    panic!("{mutant:?}: not caught in {MAX_SEEDS} seeds of {runs:?}");
}

#[test]
fn wrong_answer_is_caught() {
    caught(
        Mutant::WrongAnswer,
        &[Run::Session, Run::Pool],
        &[
            "an answer carries its own call's params",
            "pool 1: every call ends once, with its own answer",
        ],
    );
}

#[test]
fn duplicated_queued_message_is_caught() {
    caught(
        Mutant::DuplicateQueued,
        &[Run::Session],
        &["notifications arrive in order, none twice"],
    );
}

#[test]
fn dropped_queued_message_is_caught() {
    caught(
        Mutant::DropQueued,
        &[Run::Session],
        &["a queued notification goes out on the next link"],
    );
}

#[test]
fn timeout_that_never_fires_is_caught() {
    caught(
        Mutant::TimeoutNeverFires,
        &[Run::Session, Run::Pool],
        &[
            "no call outlives its deadline",
            "no timer left due after handle_timeout",
            "every call ends by the end of the run",
            "pool 1: every call ends once, with its own answer",
        ],
    );
}

#[test]
fn heartbeat_that_never_fires_is_caught() {
    caught(
        Mutant::HeartbeatNeverFires,
        &[Run::Session, Run::Pool],
        &["a silent link is dropped within interval + timeout"],
    );
}

#[test]
fn resent_call_counted_twice_is_caught() {
    caught(
        Mutant::ResendCountedTwice,
        &[Run::Session],
        &[
            "after the faults, the queue drains",
            "after the faults, every session closes",
        ],
    );
}

#[test]
fn quorum_counted_on_failures_is_caught() {
    caught(
        Mutant::QuorumOnFailures,
        &[Run::Pool],
        &["pool 6: a quorum counts only successes"],
    );
}

#[test]
fn busy_link_declared_dead_is_caught() {
    caught(
        Mutant::BusyLinkDead,
        &[Run::Pool],
        &["pool 2: no live, busy link declared dead"],
    );
}

#[test]
fn seeds_pass_without_a_mutant() {
    assert_eq!(mutants::planted(), None);
    for seed in 0..MAX_SEEDS {
        for run in [Run::Session, Run::Pool] {
            if let Err(message) = outcome(run, seed) {
                panic!("{run:?} seed {seed} fails with no mutant:\n{message}");
            }
        }
    }
}
