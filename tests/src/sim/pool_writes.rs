//! Replicated writes over a pool node's calls, for invariant 6: the calls a node makes
//! while faults may strike are taken three at a time as one write to three replicas, and
//! each write's [`Quorum`] is fed their outcomes as they end. The node keeps its own count
//! of successes and failures, so the quorum's verdict is checked against arithmetic the
//! core did not do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tether_core::pool;
use tether_core::replica::{Outcome, Quorum, Verdict};

use super::node::Ctx;

/// Calls per write.
const REPLICAS: u64 = 3;

/// A member of a write: the call's place among the node's writing calls (one life).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member(u64);

/// One write: its quorum and the node's own count.
#[derive(Debug)]
struct Write {
    quorum: Quorum<()>,
    oks: usize,
    failures: usize,
}

/// The writes of one life of a node.
#[derive(Debug, Default)]
pub struct Writes {
    next: u64,
    open: BTreeMap<u64, Write>,
}

impl Writes {
    /// Files the next call made as a member of a write (a new write every third call).
    pub fn join(&mut self, now: Instant) -> Member {
        let member = self.next;
        self.next += 1;
        let write = member / REPLICAS;
        self.open.entry(write).or_insert_with(|| {
            let replicas = (0..REPLICAS).map(|i| pool::NodeId(write * REPLICAS + i));
            // Calls end by the end of the run; the deadline is never what decides.
            let deadline = now + Duration::from_secs(24 * 3600);
            Write {
                quorum: Quorum::new(replicas, deadline),
                oks: 0,
                failures: 0,
            }
        });
        Member(member)
    }

    /// Records how `member`'s call ended (`ok`: answered with a result) and checks
    /// invariant 6: a write succeeds exactly when a majority of its calls succeeded, fails
    /// exactly when a majority can no longer, and is pending otherwise.
    pub fn record(&mut self, ctx: &mut Ctx, name: &str, member: Member, ok: bool) {
        let id = member.0 / REPLICAS;
        let Some(write) = self.open.get_mut(&id) else {
            return;
        };
        let outcome = if ok { Outcome::Ok } else { Outcome::Failed(()) };
        write
            .quorum
            .record(ctx.now, pool::NodeId(member.0), outcome);
        if ok {
            write.oks += 1;
        } else {
            write.failures += 1;
        }
        let majority = (REPLICAS / 2 + 1) as usize;
        let expected = if write.oks >= majority {
            Verdict::Succeeded
        } else if write.failures > REPLICAS as usize - majority {
            Verdict::Failed
        } else {
            Verdict::Pending
        };
        let verdict = write.quorum.verdict();
        if verdict != expected {
            ctx.fail(format_args!(
                "invariant 6 (a quorum counts only successes): {name}: write {id} is {verdict:?} after {} of its calls succeeded and {} failed (of {REPLICAS})",
                write.oks, write.failures
            ));
        }
        if verdict.is_decided() {
            ctx.count(match verdict {
                Verdict::Succeeded => "pool.writes_succeeded",
                _ => "pool.writes_failed",
            });
            self.open.remove(&id);
        }
    }
}
