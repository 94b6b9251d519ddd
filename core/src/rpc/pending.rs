//! A table of calls waiting for an answer, with their deadlines: the channel's calls by
//! request id, and the session's by session-level id.
//!
//! Calls are found by id in a `BTreeMap`; deadlines sit in a min-heap so the next one is
//! read in O(1) and timeouts never scan every call. Answered or cancelled calls leave their
//! heap entry behind (lazy deletion): stale entries are dropped when they reach the top,
//! and the heap is rebuilt when they outnumber the live ones, so it stays O(calls).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Instant;

/// A call that may run out of time. Its deadline must not change once it is in a
/// [`Pending`] table: the heap keeps a copy.
pub(crate) trait Deadline {
    /// `None`: the timeout was too long for `Instant` to hold, so it never times out.
    fn deadline(&self) -> Option<Instant>;
}

/// One call of a channel in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    /// `None`: the timeout was too long for `Instant` to hold, so the call never times out.
    pub(crate) deadline: Option<Instant>,
    /// Handed to the WebSocket layer (false while queued before the connection opened).
    pub(crate) sent: bool,
}

impl Deadline for Call {
    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

#[derive(Debug)]
pub(crate) struct Pending<K, V> {
    calls: BTreeMap<K, V>,
    deadlines: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K, V> Default for Pending<K, V> {
    fn default() -> Self {
        Pending {
            calls: BTreeMap::new(),
            deadlines: BinaryHeap::new(),
        }
    }
}

impl<K: Ord + Copy, V: Deadline> Pending<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn contains(&self, id: &K) -> bool {
        self.calls.contains_key(id)
    }

    /// Adds a call; an id already present is replaced (callers mint fresh ids).
    pub(crate) fn insert(&mut self, id: K, call: V) {
        if let Some(at) = call.deadline() {
            self.deadlines.push(Reverse((at, id)));
        }
        self.calls.insert(id, call);
    }

    pub(crate) fn get(&self, id: &K) -> Option<&V> {
        self.calls.get(id)
    }

    /// The call, to change anything but its deadline.
    pub(crate) fn get_mut(&mut self, id: &K) -> Option<&mut V> {
        self.calls.get_mut(id)
    }

    /// Takes a call out (answered or cancelled).
    pub(crate) fn remove(&mut self, id: &K) -> Option<V> {
        let call = self.calls.remove(id)?;
        self.tidy();
        Some(call)
    }

    /// The soonest deadline of a live call.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        #[cfg(feature = "mutants")]
        if crate::mutants::on(crate::mutants::Mutant::TimeoutNeverFires) {
            return None;
        }
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// The lowest id other than `id`: where the `WrongAnswer` mutant sends an answer.
    #[cfg(feature = "mutants")]
    pub(crate) fn other_than(&self, id: &K) -> Option<K> {
        self.calls.keys().find(|k| *k != id).copied()
    }

    /// Takes out the next call whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<(K, V)> {
        #[cfg(feature = "mutants")]
        if crate::mutants::on(crate::mutants::Mutant::TimeoutNeverFires) {
            return None;
        }
        let Reverse((at, id)) = *self.deadlines.peek()?;
        if at > now {
            return None;
        }
        self.deadlines.pop();
        let call = self.calls.remove(&id);
        self.tidy();
        // The top is always live (see `tidy`), so the call is there.
        call.map(|call| (id, call))
    }

    /// Takes out every call, in id order (the connection is gone).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (K, V)> {
        self.deadlines.clear();
        std::mem::take(&mut self.calls).into_iter()
    }

    /// Keeps the heap top live, and the heap no more than about twice the live calls.
    fn tidy(&mut self) {
        while let Some(Reverse((_, id))) = self.deadlines.peek() {
            if self.calls.contains_key(id) {
                break;
            }
            self.deadlines.pop();
        }
        if self.deadlines.len() > 2 * self.calls.len() + 64 {
            self.deadlines = self
                .calls
                .iter()
                .filter_map(|(id, call)| Some(Reverse((call.deadline()?, *id))))
                .collect();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::rpc::RequestId;
    use std::time::Duration;

    #[test]
    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn deadlines_come_out_in_order_and_removed_calls_never_expire() {
        let t0 = Instant::now();
        let mut rng = Rng::from_seed([1; 32]);
        let mut pending: Pending<RequestId, Call> = Pending::default();
        let ids: Vec<RequestId> = (0..200).map(|_| RequestId::generate(&mut rng)).collect();
        for (i, id) in ids.iter().enumerate() {
            let at = t0 + Duration::from_millis(((i * 37) % 200) as u64 + 1);
            pending.insert(
                *id,
                Call {
                    deadline: Some(at),
                    sent: true,
                },
            );
        }
        // Answer every other call: their heap entries go stale.
        for id in ids.iter().step_by(2) {
            assert!(pending.remove(id).is_some());
        }
        assert!(pending.remove(&ids[0]).is_none());
        assert_eq!(pending.len(), 100);
        assert!(pending.deadlines.len() <= 2 * 100 + 64);
        let mut last = t0;
        let mut expired = Vec::new();
        while let Some(next) = pending.next_deadline() {
            assert!(next >= last);
            last = next;
            let (id, _) = pending.pop_expired(next).unwrap();
            assert!(pending.pop_expired(t0).is_none());
            expired.push(id);
        }
        expired.sort();
        let mut live: Vec<RequestId> = ids.iter().skip(1).step_by(2).copied().collect();
        live.sort();
        assert_eq!(expired, live);
        assert_eq!(pending.len(), 0);
    }
}
