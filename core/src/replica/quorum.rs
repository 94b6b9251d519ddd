//! A write sent to every replica at once, decided by a majority of successes.

use std::time::{Duration, Instant};

use super::nodes::NodeSet;
use super::tally::Tally;
use super::{Outcome, Verdict};
use crate::pool::NodeId;

/// The state of one replicated write: every replica is called in parallel, the outcomes
/// come back in any order, and the write succeeds once a majority (`n / 2 + 1`) of the
/// replicas answered [`Outcome::Ok`].
///
/// - Only successes count. Errors, timeouts and calls never sent all count against it.
/// - It fails as soon as a majority can no longer be reached, without waiting for the rest.
/// - At the deadline every replica that has not answered is [`Outcome::TimedOut`] and the
///   verdict is final. An empty replica set fails at once.
/// - Once decided, it may keep collecting outcomes for a grace period
///   ([`with_grace`](Quorum::with_grace), never past the deadline) so the
///   [`report`](Quorum::report) says more; the verdict does not wait for it.
///   [`is_decided`](Quorum::is_decided) and [`is_finished`](Quorum::is_finished) tell the two
///   moments apart.
/// - An outcome for a node outside the set, a second outcome for a node, and anything
///   recorded once collecting is over are ignored: `record` returns `false`.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tether_core::pool::NodeId;
/// use tether_core::replica::{Outcome, Quorum, Verdict};
///
/// let now = Instant::now();
/// let mut write: Quorum<&str> = Quorum::new([NodeId(1), NodeId(2), NodeId(3)], now + Duration::from_secs(1));
/// assert!(write.record(now, NodeId(1), Outcome::Ok));
/// assert!(write.record(now, NodeId(2), Outcome::Failed("disk full")));
/// assert_eq!(write.verdict(), Verdict::Pending);
/// assert!(write.record(now, NodeId(3), Outcome::Ok));
/// assert_eq!(write.verdict(), Verdict::Succeeded);
/// ```
#[derive(Debug, Clone)]
pub struct Quorum<E> {
    /// The replicas, duplicates dropped, in the order given: the report's order.
    replicas: NodeSet,
    outcomes: Vec<Option<Outcome<E>>>,
    tally: Tally,
    deadline: Instant,
    grace: Duration,
    /// Set at the decision: collecting stops then (no later than the deadline).
    collect_until: Option<Instant>,
    finished: bool,
}

impl<E> Quorum<E> {
    /// A write to `replicas` (a repeated node counts once, at its first place) that must
    /// be decided by `deadline`. No grace period: collecting stops at the decision.
    pub fn new(replicas: impl IntoIterator<Item = NodeId>, deadline: Instant) -> Self {
        let replicas: NodeSet = replicas.into_iter().collect();
        let n = replicas.as_slice().len();
        Quorum {
            outcomes: (0..n).map(|_| None).collect(),
            // An empty set has failed already, and nothing can come in.
            finished: n == 0,
            replicas,
            tally: Tally::new(n),
            deadline,
            grace: Duration::ZERO,
            collect_until: None,
        }
    }

    /// Keeps collecting outcomes for `grace` after the decision (but not past the
    /// deadline), so the report covers replicas that were only a little slower.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Records how the call to `node` ended, seen at `now`. Returns whether it was taken:
    /// `false` for a node outside the set, a node that already has an outcome, or once
    /// collecting is over. An outcome at or after the deadline is too late: the deadline
    /// is handled first.
    pub fn record(&mut self, now: Instant, node: NodeId, outcome: Outcome<E>) -> bool {
        self.handle_timeout(now);
        if self.finished {
            return false;
        }
        let Some(slot) = self
            .replicas
            .position(node)
            .and_then(|at| self.outcomes.get_mut(at))
        else {
            return false;
        };
        if slot.is_some() {
            return false;
        }
        self.tally.add(outcome.is_ok());
        *slot = Some(outcome);
        self.settle(now);
        true
    }

    /// Handles the deadline and the end of the grace period if `now` reached them.
    /// Early calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        if now >= self.deadline {
            for slot in self.outcomes.iter_mut().filter(|o| o.is_none()) {
                *slot = Some(Outcome::TimedOut);
                self.tally.add(false);
            }
            self.settle(now);
        } else if self.collect_until.is_some_and(|until| until <= now) {
            self.finished = true;
        }
    }

    /// When [`handle_timeout`](Quorum::handle_timeout) next has something to do: the end
    /// of the grace period once decided, else the deadline; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        Some(self.collect_until.unwrap_or(self.deadline))
    }

    /// Where the write stands. Once not [`Verdict::Pending`] it never changes.
    pub fn verdict(&self) -> Verdict {
        self.tally.verdict()
    }

    /// Whether the verdict is known.
    pub fn is_decided(&self) -> bool {
        self.verdict().is_decided()
    }

    /// Whether collecting is over: the report will not change any more, and the calls
    /// still [`unanswered`](Quorum::unanswered) can be cancelled.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The replicas, duplicates dropped, in the order given.
    pub fn replicas(&self) -> &[NodeId] {
        self.replicas.as_slice()
    }

    /// How many successes decide the write: `n / 2 + 1` of the replica set.
    pub fn majority(&self) -> usize {
        self.tally.majority()
    }

    /// Replicas that answered [`Outcome::Ok`].
    pub fn successes(&self) -> usize {
        self.tally.successes()
    }

    /// Replicas with any other outcome.
    pub fn failures(&self) -> usize {
        self.tally.failures()
    }

    /// Every replica in order with its outcome; `None`: no outcome (yet).
    pub fn report(&self) -> impl Iterator<Item = (NodeId, Option<&Outcome<E>>)> + '_ {
        let outcomes = self.outcomes.iter().map(Option::as_ref);
        self.replicas().iter().copied().zip(outcomes)
    }

    /// The report, owned: for handing the errors to the caller of the write.
    pub fn into_report(self) -> Vec<(NodeId, Option<Outcome<E>>)> {
        let replicas = self.replicas.as_slice().iter().copied();
        replicas.zip(self.outcomes).collect()
    }

    /// The replicas that have no outcome.
    pub fn unanswered(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.report()
            .filter(|(_, o)| o.is_none())
            .map(|(node, _)| node)
    }

    /// Starts the grace period at the decision; ends collecting once nothing more can come.
    fn settle(&mut self, now: Instant) {
        if self.collect_until.is_none() && self.is_decided() {
            let until = now.checked_add(self.grace).unwrap_or(self.deadline);
            self.collect_until = Some(until.min(self.deadline));
        }
        let all_answered = self.outcomes.iter().all(Option::is_some);
        if all_answered || self.collect_until.is_some_and(|until| until <= now) {
            self.finished = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn three() -> Vec<NodeId> {
        vec![NodeId(1), NodeId(2), NodeId(3)]
    }

    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn only_oks_count_and_a_lost_majority_fails_before_the_rest_answer() {
        let t = t0();
        let mut q = Quorum::new((1..=5).map(NodeId), t + SEC);
        q.record(t, NodeId(1), Outcome::Ok);
        q.record(t, NodeId(2), Outcome::Failed("remote"));
        q.record(t, NodeId(3), Outcome::TimedOut);
        assert_eq!(
            (q.successes(), q.failures(), q.verdict()),
            (1, 2, Verdict::Pending)
        );
        q.record(t, NodeId(4), Outcome::NotSent);
        assert_eq!(q.verdict(), Verdict::Failed);
        assert!(q.is_finished());
        assert_eq!(q.unanswered().collect::<Vec<_>>(), [NodeId(5)]);
    }

    #[test]
    fn a_second_outcome_for_a_node_is_ignored_not_counted_twice() {
        let t = t0();
        let mut q: Quorum<()> = Quorum::new(three(), t + SEC);
        assert!(q.record(t, NodeId(1), Outcome::Ok));
        assert!(!q.record(t, NodeId(1), Outcome::Ok));
        assert!(!q.record(t, NodeId(1), Outcome::Failed(())));
        assert_eq!(
            (q.successes(), q.failures(), q.verdict()),
            (1, 0, Verdict::Pending)
        );
        assert_eq!(q.report().next(), Some((NodeId(1), Some(&Outcome::Ok))));
    }

    #[test]
    fn an_outcome_for_an_unknown_node_is_ignored() {
        let t = t0();
        let mut q: Quorum<()> = Quorum::new(three(), t + SEC);
        assert!(!q.record(t, NodeId(9), Outcome::Ok));
        assert!(!q.record(t, NodeId(9), Outcome::Ok));
        assert_eq!((q.successes(), q.failures()), (0, 0));
        assert_eq!(q.unanswered().count(), 3);
    }

    #[test]
    fn duplicate_replicas_count_once_and_an_empty_set_fails_at_once() {
        let t = t0();
        let mut q: Quorum<()> = Quorum::new([2, 1, 2, 1, 3].map(NodeId), t + SEC);
        assert_eq!(q.replicas(), [2, 1, 3].map(NodeId));
        q.record(t, NodeId(2), Outcome::Ok);
        assert_eq!(q.verdict(), Verdict::Pending);
        let mut empty: Quorum<()> = Quorum::new([], t + SEC);
        assert_eq!(empty.verdict(), Verdict::Failed);
        assert!(empty.is_finished() && empty.poll_timeout().is_none());
        assert!(!empty.record(t, NodeId(1), Outcome::Ok));
    }

    #[test]
    fn the_deadline_times_out_the_silent_and_makes_the_verdict_final() {
        let t = t0();
        let mut q = Quorum::new(three(), t + SEC);
        q.record(t, NodeId(2), Outcome::Ok);
        assert_eq!(q.poll_timeout(), Some(t + SEC));
        q.handle_timeout(t + SEC / 2);
        assert_eq!(q.verdict(), Verdict::Pending);
        // An answer at the deadline is too late.
        assert!(!q.record(t + SEC, NodeId(3), Outcome::Ok));
        assert_eq!((q.verdict(), q.poll_timeout()), (Verdict::Failed, None));
        let timed_out = Some(Outcome::<()>::TimedOut);
        let report = [
            (NodeId(1), timed_out.clone()),
            (NodeId(2), Some(Outcome::Ok)),
            (NodeId(3), timed_out),
        ];
        assert_eq!(q.into_report(), report);
    }

    #[test]
    fn without_grace_collecting_stops_at_the_decision() {
        let t = t0();
        let mut q: Quorum<()> = Quorum::new(three(), t + SEC);
        q.record(t, NodeId(1), Outcome::Ok);
        q.record(t, NodeId(2), Outcome::Ok);
        assert!(q.is_decided() && q.is_finished());
        assert!(!q.record(t, NodeId(3), Outcome::Ok));
        assert_eq!(q.report().nth(2), Some((NodeId(3), None)));
    }

    #[test]
    fn with_grace_the_verdict_comes_at_once_and_the_report_fills_until_grace_ends() {
        let (t, grace) = (t0(), Duration::from_millis(100));
        let mut q = Quorum::new((1..=5).map(NodeId), t + SEC).with_grace(grace);
        let t1 = t + Duration::from_millis(10);
        for id in 1..=3 {
            q.record(t1, NodeId(id), Outcome::Ok);
        }
        assert_eq!((q.verdict(), q.is_finished()), (Verdict::Succeeded, false));
        assert_eq!(q.poll_timeout(), Some(t1 + grace));
        assert!(q.record(t1 + grace / 2, NodeId(4), Outcome::Failed("slow disk")));
        q.handle_timeout(t1 + grace);
        assert!(q.is_finished() && q.poll_timeout().is_none());
        assert!(!q.record(t1 + grace, NodeId(5), Outcome::Ok));
        // Collecting ended before the deadline: node 5 has no outcome, not a timeout.
        assert_eq!(q.report().nth(4), Some((NodeId(5), None)));
    }

    #[test]
    fn grace_never_runs_past_the_deadline() {
        let t = t0();
        for grace in [5 * SEC, Duration::MAX] {
            let mut q: Quorum<()> = Quorum::new(three(), t + SEC).with_grace(grace);
            q.record(t, NodeId(1), Outcome::Ok);
            q.record(t, NodeId(2), Outcome::Ok);
            assert_eq!(q.poll_timeout(), Some(t + SEC));
            q.handle_timeout(t + SEC);
            let last = q.report().nth(2);
            assert_eq!(last, Some((NodeId(3), Some(&Outcome::TimedOut))));
            assert_eq!((q.verdict(), q.poll_timeout()), (Verdict::Succeeded, None));
        }
    }

    #[test]
    fn after_handle_timeout_the_next_timeout_is_later_or_none() {
        let t = t0();
        for grace_ms in [0, 30, 5000] {
            let grace = Duration::from_millis(grace_ms);
            let mut q: Quorum<()> = Quorum::new(three(), t + SEC).with_grace(grace);
            q.record(t, NodeId(1), Outcome::Ok);
            q.record(t + Duration::from_millis(20), NodeId(2), Outcome::Ok);
            for ms in (0..1200).step_by(7) {
                let now = t + Duration::from_millis(ms);
                q.handle_timeout(now);
                assert!(
                    q.poll_timeout().is_none_or(|at| at > now),
                    "{grace_ms} {ms}"
                );
            }
            assert!(q.is_finished());
        }
    }
}
