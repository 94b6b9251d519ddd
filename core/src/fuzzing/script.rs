//! What the structure-aware targets (`session`, `pool`) share: reading a script of
//! operations from the fuzzer's bytes, and the ledger of the calls a script made.

use std::collections::BTreeMap;
use std::fmt::Debug;

use arbitrary::{Arbitrary, Unstructured};

/// Reads a setup from `data`, builds the harness from it with `start` (`None`: nothing to
/// run), then reads up to `max_ops` operations and hands each to `step`. Stops at the end
/// of the data rather than let `arbitrary` make up zeros past it. Returns the harness,
/// to finish and report.
pub(super) fn run<'a, S, O, H>(
    data: &'a [u8],
    max_ops: usize,
    start: impl FnOnce(S) -> Option<H>,
    mut step: impl FnMut(&mut H, O),
) -> Option<H>
where
    S: Arbitrary<'a>,
    O: Arbitrary<'a>,
{
    let mut u = Unstructured::new(data);
    let setup = S::arbitrary(&mut u).ok()?;
    let mut harness = start(setup)?;
    for _ in 0..max_ops {
        if u.is_empty() {
            break;
        }
        let Ok(op) = O::arbitrary(&mut u) else {
            break;
        };
        step(&mut harness, op);
    }
    Some(harness)
}

/// Where a call made by a script is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    Open,
    Ended,
    /// `cancel` returned true and no event ends it (the pool's way).
    Cancelled,
}

/// The calls a script made, by id, with the params each was made with (the peer echoes
/// them, so an answer shows whose it is), in the order made.
#[derive(Debug)]
pub(super) struct Ledger<K> {
    calls: BTreeMap<K, (String, CallState)>,
    order: Vec<K>,
}

impl<K> Default for Ledger<K> {
    fn default() -> Self {
        Ledger {
            calls: BTreeMap::new(),
            order: Vec::new(),
        }
    }
}

impl<K: Ord + Copy + Debug> Ledger<K> {
    /// Files a call just made; an id handed out twice is a broken invariant.
    pub(super) fn made(&mut self, id: K, params: String) {
        let before = self.calls.insert(id, (params, CallState::Open));
        assert!(before.is_none(), "{id:?} returned twice");
        self.order.push(id);
    }

    /// The calls in the order made.
    pub(super) fn order(&self) -> &[K] {
        &self.order
    }

    /// The call is made and has not ended.
    pub(super) fn is_open(&self, id: &K) -> bool {
        self.calls
            .get(id)
            .is_some_and(|(_, state)| *state == CallState::Open)
    }

    /// `cancel` ended the call without an event to say so.
    pub(super) fn cancelled(&mut self, id: &K) {
        if let Some((_, state)) = self.calls.get_mut(id) {
            *state = CallState::Cancelled;
        }
    }

    /// The call ended (an answer or an ending event): returns its params. Ending a call
    /// never made, or twice, or after it was cancelled is a broken invariant.
    pub(super) fn end(&mut self, id: &K) -> String {
        let Some((params, state)) = self.calls.get_mut(id) else {
            panic!("{id:?} ended but was never made");
        };
        match state {
            CallState::Open => *state = CallState::Ended,
            CallState::Ended => panic!("{id:?} ended twice"),
            CallState::Cancelled => panic!("{id:?} ended after it was cancelled"),
        }
        params.clone()
    }

    /// The calls still open.
    pub(super) fn open(&self) -> Vec<K> {
        self.calls
            .iter()
            .filter(|(_, (_, state))| *state == CallState::Open)
            .map(|(id, _)| *id)
            .collect()
    }
}
