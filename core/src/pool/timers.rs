//! The pool's deadlines: one heap for every link, queued call and node, so finding the
//! next deadline or the due ones never scans the peers.
//!
//! Entries are never updated in place: a new deadline pushes a new entry, and an entry
//! counts only if its owner still waits for exactly that instant (the owner keeps its
//! current deadline). Stale entries are dropped as they surface, and the heap is rebuilt
//! when they outnumber the live ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::{Lane, LinkId, NodeId};
use crate::session::CallId;

/// Whose deadline an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Owner {
    /// A link's soonest deadline (connect, heartbeat, idle, its channel's).
    Link(LinkId),
    /// A call waiting for its node's link to open.
    Call(CallId),
    /// A node whose peer said it has a link of this lane to us already: we wait for it
    /// to register.
    Node(NodeId, Lane),
    /// The end of a graceful shutdown.
    Shutdown,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Owner)>>,
}

impl Timers {
    pub(crate) fn push(&mut self, at: Instant, owner: Owner) {
        self.heap.push(Reverse((at, owner)));
    }

    /// The soonest entry's instant (possibly a stale one: waking early is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the soonest entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Owner)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    /// Drops stale entries once they are most of the heap; `live` says whether an entry
    /// still counts. Amortised: called after pushes, it rebuilds only past twice `live_count`.
    pub(crate) fn compact(&mut self, live_count: usize, live: impl Fn(Instant, Owner) -> bool) {
        if self.heap.len() > 2 * live_count + 64 {
            self.heap.retain(|Reverse((at, owner))| live(*at, *owner));
        }
    }
}
