//! A read that asks one replica at a time, moving on when one fails, optionally hedged.

use std::time::Instant;

use super::candidate;
use super::{Candidate, HedgeBudget, Order, Outcome, Verdict};
use crate::pool::NodeId;

/// The state of one read across replicas: one replica is asked; when it fails (an error,
/// a timeout, never sent) the next one is, until one succeeds or none is left.
///
/// With hedging, a candidate that has not answered within its
/// [`hedge_after`](Candidate::hedge_after) gets company: the next replica is asked too,
/// the first kept in flight, if the shared [`HedgeBudget`] allows. The first success wins;
/// the calls still [`in_flight`](Failover::in_flight) then can be cancelled. A call that
/// fails while another is in flight does not start a third: that one is the next replica
/// already. Each call's own deadline (the session's) ends it as [`Outcome::TimedOut`].
///
/// ```
/// use std::time::Instant;
/// use tether_core::pool::NodeId;
/// use tether_core::replica::{Failover, HedgeBudget, Order, Outcome, Verdict};
///
/// let now = Instant::now();
/// let mut budget = HedgeBudget::default();
/// let mut read: Failover<&str> = Failover::new([NodeId(1), NodeId(2)], Order::Given);
/// assert_eq!(read.next(now, &mut budget), Some(NodeId(1)));
/// assert_eq!(read.next(now, &mut budget), None); // one at a time
/// read.record(NodeId(1), Outcome::Failed("not leader"));
/// assert_eq!(read.next(now, &mut budget), Some(NodeId(2)));
/// read.record(NodeId(2), Outcome::Ok);
/// assert_eq!(read.verdict(), Verdict::Succeeded);
/// assert_eq!(read.winner(), Some(NodeId(2)));
/// ```
#[derive(Debug, Clone)]
pub struct Failover<E> {
    /// Duplicates dropped, in the order they are asked.
    candidates: Vec<Candidate>,
    /// The candidates asked so far, in order, with their outcome once known.
    attempts: Vec<(NodeId, Option<Outcome<E>>)>,
    in_flight: usize,
    /// Set while someone is in flight and a later candidate could be hedged to.
    hedge_at: Option<Instant>,
    hedge_due: bool,
    hedges: u32,
    winner: Option<NodeId>,
    verdict: Verdict,
}

impl<E> Failover<E> {
    /// A read over `candidates` (a repeated node counts once, at its first place), asked
    /// in `order`. No candidate at all fails at once.
    pub fn new<C: Into<Candidate>>(candidates: impl IntoIterator<Item = C>, order: Order) -> Self {
        let list = candidate::arrange(candidates, order);
        Failover {
            verdict: if list.is_empty() {
                Verdict::Failed
            } else {
                Verdict::Pending
            },
            candidates: list,
            attempts: Vec::new(),
            in_flight: 0,
            hedge_at: None,
            hedge_due: false,
            hedges: 0,
            winner: None,
        }
    }

    /// The replica to ask now, if any; call until `None` after every input. The first
    /// request earns the budget its share; a hedge spends from it, and a hedge the budget
    /// refuses is skipped (the read keeps waiting for the calls in flight).
    pub fn next(&mut self, now: Instant, budget: &mut HedgeBudget) -> Option<NodeId> {
        self.handle_timeout(now);
        if self.verdict.is_decided() || self.attempts.len() >= self.candidates.len() {
            return None;
        }
        if self.in_flight == 0 {
            if self.attempts.is_empty() {
                budget.record_request();
            }
            return self.ask(now);
        }
        if std::mem::take(&mut self.hedge_due) && budget.try_hedge() {
            self.hedges = self.hedges.saturating_add(1);
            return self.ask(now);
        }
        None
    }

    /// Records how the call to `node` ended. Returns whether it was taken: `false` for a
    /// node not in flight (never asked, already answered) and once the read is decided.
    pub fn record(&mut self, node: NodeId, outcome: Outcome<E>) -> bool {
        if self.verdict.is_decided() {
            return false;
        }
        let Some(slot) = self
            .attempts
            .iter_mut()
            .find(|(asked, o)| *asked == node && o.is_none())
        else {
            return false;
        };
        let ok = outcome.is_ok();
        slot.1 = Some(outcome);
        self.in_flight = self.in_flight.saturating_sub(1);
        if ok {
            self.verdict = Verdict::Succeeded;
            self.winner = Some(node);
            self.hedge_at = None;
        } else if self.in_flight == 0 {
            // The next `next` fails over at once; no hedge is pending for anyone.
            self.hedge_at = None;
            self.hedge_due = false;
            if self.attempts.len() >= self.candidates.len() {
                self.verdict = Verdict::Failed;
            }
        }
        true
    }

    /// Makes a hedge due if its delay has passed; [`next`](Failover::next) then sends it.
    /// Early calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hedge_at.is_some_and(|at| at <= now) {
            self.hedge_at = None;
            self.hedge_due = true;
        }
    }

    /// When a hedge becomes due, if one can.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.hedge_at
    }

    /// Where the read stands: [`Verdict::Failed`] once every candidate failed.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// The replica whose success decided the read.
    pub fn winner(&self) -> Option<NodeId> {
        self.winner
    }

    /// The replicas asked and not answered: after the verdict, calls to cancel.
    pub fn in_flight(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.attempts
            .iter()
            .filter(|(_, o)| o.is_none())
            .map(|&(node, _)| node)
    }

    /// Every replica asked so far, in the order asked, with its outcome (`None`: in flight).
    pub fn attempts(&self) -> impl Iterator<Item = (NodeId, Option<&Outcome<E>>)> + '_ {
        self.attempts.iter().map(|(node, o)| (*node, o.as_ref()))
    }

    /// The attempts, owned: for the error of a read that failed.
    pub fn into_attempts(self) -> Vec<(NodeId, Option<Outcome<E>>)> {
        self.attempts
    }

    /// The candidates in the order they are asked.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Hedged requests sent (asks made while another call was in flight).
    pub fn hedges(&self) -> u32 {
        self.hedges
    }

    /// Asks the next candidate, if one is left, and arms the hedge timer if a later one is.
    fn ask(&mut self, now: Instant) -> Option<NodeId> {
        let candidate = *self.candidates.get(self.attempts.len())?;
        self.attempts.push((candidate.node, None));
        self.in_flight += 1;
        self.hedge_due = false;
        let more_left = self.attempts.len() < self.candidates.len();
        // A delay too long for `Instant` never comes.
        self.hedge_at = candidate
            .hedge_after
            .filter(|_| more_left)
            .and_then(|delay| now.checked_add(delay));
        Some(candidate.node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn t0() -> Instant {
        Instant::now()
    }

    fn hedged(ids: &[u64]) -> Vec<Candidate> {
        let hedge = |id| Candidate::new(NodeId(id)).hedge_after(20 * MS);
        ids.iter().copied().map(hedge).collect()
    }

    #[test]
    fn errors_timeouts_and_unsent_calls_move_on_until_none_is_left() {
        let (t, mut budget) = (t0(), HedgeBudget::default());
        let mut read = Failover::new([1, 2, 3].map(NodeId), Order::Given);
        for (id, outcome) in [
            (1, Outcome::Failed("e")),
            (2, Outcome::TimedOut),
            (3, Outcome::NotSent),
        ] {
            assert_eq!(read.next(t, &mut budget), Some(NodeId(id)));
            assert_eq!(read.next(t, &mut budget), None, "one in flight at a time");
            assert_eq!(read.verdict(), Verdict::Pending);
            assert!(read.record(NodeId(id), outcome));
        }
        assert_eq!((read.verdict(), read.winner()), (Verdict::Failed, None));
        assert_eq!(read.next(t, &mut budget), None);
        assert_eq!(read.into_attempts().len(), 3);
        let mut empty: Failover<()> = Failover::new(Vec::<NodeId>::new(), Order::Given);
        assert_eq!(
            (empty.verdict(), empty.next(t, &mut budget)),
            (Verdict::Failed, None)
        );
    }

    #[test]
    fn outcomes_for_nodes_not_in_flight_are_ignored() {
        let (t, mut budget) = (t0(), HedgeBudget::default());
        let mut read = Failover::new([1, 2, 3].map(NodeId), Order::Given);
        read.next(t, &mut budget);
        // Never asked, unknown: neither fails the read over nor decides it.
        assert!(!read.record(NodeId(2), Outcome::Ok));
        assert!(!read.record(NodeId(9), Outcome::Failed("e")));
        assert_eq!(
            (read.verdict(), read.next(t, &mut budget)),
            (Verdict::Pending, None)
        );
        assert!(read.record(NodeId(1), Outcome::Failed("e")));
        assert!(!read.record(NodeId(1), Outcome::Failed("e")));
        assert_eq!(read.next(t, &mut budget), Some(NodeId(2)));
        assert_eq!(read.next(t, &mut budget), None);
    }

    #[test]
    fn a_slow_replica_is_hedged_after_its_delay_and_the_first_success_wins() {
        let (t, mut budget) = (t0(), HedgeBudget::new(1.0, 10));
        let mut read: Failover<()> = Failover::new(hedged(&[1, 2, 3]), Order::Given);
        assert_eq!(read.next(t, &mut budget), Some(NodeId(1)));
        assert_eq!(read.poll_timeout(), Some(t + 20 * MS));
        assert_eq!(read.next(t + 19 * MS, &mut budget), None);
        read.handle_timeout(t + 20 * MS);
        assert!(read.poll_timeout().is_none_or(|at| at > t + 20 * MS));
        assert_eq!(read.next(t + 20 * MS, &mut budget), Some(NodeId(2)));
        assert_eq!(read.in_flight().collect::<Vec<_>>(), [NodeId(1), NodeId(2)]);
        assert!(read.record(NodeId(2), Outcome::Ok));
        assert_eq!((read.winner(), read.hedges()), (Some(NodeId(2)), 1));
        // The slower first call lost; its late answer changes nothing.
        assert!(!read.record(NodeId(1), Outcome::Ok));
        assert_eq!(read.in_flight().collect::<Vec<_>>(), [NodeId(1)]);
        assert_eq!(
            (read.poll_timeout(), read.next(t + SEC, &mut budget)),
            (None, None)
        );
    }

    #[test]
    fn an_empty_budget_skips_the_hedge_but_failover_still_goes_on() {
        let (t, mut budget) = (t0(), HedgeBudget::new(0.0, 10));
        let mut read = Failover::new(hedged(&[1, 2]), Order::Given);
        assert_eq!(read.next(t, &mut budget), Some(NodeId(1)));
        assert_eq!(read.next(t + SEC, &mut budget), None);
        assert_eq!((read.poll_timeout(), read.hedges()), (None, 0));
        read.record(NodeId(1), Outcome::Failed("e"));
        assert_eq!(read.next(t + SEC, &mut budget), Some(NodeId(2)));
        // The last candidate has no one to hedge to: no timer.
        assert_eq!(read.poll_timeout(), None);
    }

    #[test]
    fn hedges_across_many_slow_reads_stay_within_the_budget() {
        let t = t0();
        let mut budget = HedgeBudget::default();
        let (mut calls, reads) = (0u32, 1000u32);
        for i in 0..reads {
            let now = t + SEC * i;
            let mut read: Failover<()> = Failover::new(hedged(&[1, 2, 3]), Order::Given);
            // Every primary is slow; the read asks whatever it may at each timer.
            let mut at = now;
            while read.verdict() == Verdict::Pending && at < now + SEC {
                while let Some(node) = read.next(at, &mut budget) {
                    calls += 1;
                    if node != NodeId(1) {
                        read.record(node, Outcome::Ok);
                    }
                }
                at = read.poll_timeout().unwrap_or(now + SEC);
            }
        }
        // One call per read plus at most 5 %: reads deposit once, failovers not at all.
        assert_eq!(calls, reads + reads / 20);
    }

    #[test]
    fn a_failed_over_read_earns_the_budget_once() {
        let (t, mut budget) = (t0(), HedgeBudget::new(1.0, 10));
        let mut read = Failover::new([1, 2, 3].map(NodeId), Order::Given);
        while let Some(node) = read.next(t, &mut budget) {
            read.record(node, Outcome::Failed(()));
        }
        assert_eq!((read.verdict(), budget.available()), (Verdict::Failed, 1));
    }
}
