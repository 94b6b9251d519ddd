//! The README's main demo, as the test command runs it: the `demo` example starts three
//! `node` processes, kills the leader, restarts it, and must exit 0.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::processes::example;

#[test]
fn demo_kills_and_restarts_the_leader_and_exits_0() {
    let demo = example("demo");
    let started = Instant::now();
    let run = Command::new(&demo)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", demo.display()));
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the demo failed ({}):\n{stdout}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    // The story it tells, in order.
    let mut rest = &stdout[..];
    for step in [
        "node 3 listening on",
        "mgmt/init on node 1",
        "is the leader, term",
        "100 writes acknowledged",
        "SIGKILL to node",
        "is the new leader, term",
        "100 writes acknowledged",
        "restarted on the same address",
        "caught up in",
        "25 writes acknowledged",
        "225 of 225 as written",
        "mgmt/peers",
        "demo OK",
    ] {
        let at = rest
            .find(step)
            .unwrap_or_else(|| panic!("no {step:?} in order in:\n{stdout}"));
        rest = &rest[at + step.len()..];
    }
    assert!(
        stdout.contains(", by snapshot: ") || stdout.contains(", by the log: "),
        "the demo says how the restarted node caught up:\n{stdout}"
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
}
