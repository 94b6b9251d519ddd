//! Planted bugs for the mutation test (`tests/tests/mutants.rs`): each one a way the core
//! could be wrong that the simulator's invariants must catch. Compiled only with the
//! `mutants` feature, which only the tests crate turns on; without it this module and
//! every check of it are gone, so a build of tether-core, or of a crate using it, carries
//! none of them. Inside this workspace, cargo unifies features: a build of the whole
//! workspace (the test command's) compiles the checks in, switched off.
//!
//! The switch is per thread, so tests running side by side each plant their own bug, and
//! it is off (`None`) unless a test sets it.

use std::cell::Cell;

/// A planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutant {
    /// An answer is routed to another call in flight on the same channel (the oldest
    /// other one), not to the call whose id it carries.
    WrongAnswer,
    /// A queued notification, written once a link takes it, is written twice.
    DuplicateQueued,
    /// A queued notification, taken from the queue once a link takes it, is never written.
    DropQueued,
    /// Call deadlines never fire: a table of pending calls (a channel's, a session's)
    /// neither asks for a timer for them nor gives any up as expired.
    TimeoutNeverFires,
    /// The heartbeat never declares a link dead, however long it stays silent.
    HeartbeatNeverFires,
    /// A call put back in the queue to be re-sent after a lost link is counted twice.
    ResendCountedTwice,
    /// A quorum counts a failed replica as a success.
    QuorumOnFailures,
    /// In `AnyInput` mode only pongs show a link alive, not the bytes arriving: a link
    /// busy with a long message is declared dead.
    BusyLinkDead,
}

thread_local! {
    static PLANTED: Cell<Option<Mutant>> = const { Cell::new(None) };
}

/// Plants `mutant` in this thread's core (or, with `None`, none).
pub fn plant(mutant: Option<Mutant>) {
    PLANTED.with(|p| p.set(mutant));
}

/// The bug planted in this thread, if any.
pub fn planted() -> Option<Mutant> {
    PLANTED.with(Cell::get)
}

/// Whether `mutant` is planted in this thread.
pub(crate) fn on(mutant: Mutant) -> bool {
    planted() == Some(mutant)
}
