//! The ordered queue of calls and notifications not yet written, bounded by count and bytes.
//!
//! Calls sit here by [`CallId`]; their requests stay in the session's call table. A call
//! that ends while queued (cancelled, timed out) leaves its slot behind and is skipped when
//! it reaches the front (lazy deletion, like the deadline heap); the queue is compacted
//! when skipped slots outnumber live ones, so it stays O(live items).

use std::collections::VecDeque;

use serde_json::value::RawValue;

use super::{CallId, Refused};

/// Bounds of the queue of unsent items. Past either, `call` and `notify` return
/// [`Refused::QueueFull`] and nothing is queued. Calls put back after a lost link to be
/// re-sent ([`Retry::Resend`](super::Retry::Resend)) are not refused: they may take the
/// queue past these bounds, by at most the `rpc.max_in_flight` calls that were written.
///
/// ```
/// let limits = tether_core::session::QueueLimits::default();
/// assert_eq!((limits.max_messages, limits.max_bytes), (1024, 16 << 20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Items waiting at once (default 1024).
    pub max_messages: usize,
    /// Their encoded JSON-RPC size together (default 16 MiB).
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_messages: 1024,
            max_bytes: 16 << 20,
        }
    }
}

/// One unsent item.
#[derive(Debug)]
pub(crate) enum Item {
    /// A call; its request is in the call table.
    Call(CallId),
    /// A notification, held here whole.
    Notify {
        method: String,
        params: Option<Box<RawValue>>,
        size: usize,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Queue {
    items: VecDeque<Item>,
    /// Live items and their bytes (ended calls' slots not counted).
    live: usize,
    bytes: usize,
}

impl Queue {
    /// Live items waiting.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Their encoded size.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Frees the spare capacity if no slot (live or ended) is left.
    pub(crate) fn release_idle(&mut self) {
        if self.items.is_empty() {
            self.items = VecDeque::new();
        }
    }

    /// Refuses an item of `size` bytes that would go past `limits`.
    pub(crate) fn check(&self, limits: &QueueLimits, size: usize) -> Result<(), Refused> {
        let full =
            self.live >= limits.max_messages || self.bytes.saturating_add(size) > limits.max_bytes;
        if full {
            return Err(Refused::QueueFull {
                messages: self.live,
                bytes: self.bytes,
            });
        }
        Ok(())
    }

    /// Appends an item of `size` bytes (checked by the caller).
    pub(crate) fn push_back(&mut self, item: Item, size: usize) {
        self.live += 1;
        self.bytes = self.bytes.saturating_add(size);
        self.items.push_back(item);
    }

    /// Puts a call back at the front (its link was lost); not bounded, since it was
    /// accepted once already.
    pub(crate) fn push_front(&mut self, id: CallId, size: usize) {
        self.live += 1;
        #[cfg(feature = "mutants")]
        if crate::mutants::on(crate::mutants::Mutant::ResendCountedTwice) {
            self.live += 1;
        }
        self.bytes = self.bytes.saturating_add(size);
        self.items.push_front(Item::Call(id));
    }

    /// Takes the front slot, live or not: `is_live` says whether a call slot still holds a
    /// queued call. Returns `None` when no live item is left.
    pub(crate) fn pop_front(
        &mut self,
        mut is_live: impl FnMut(CallId) -> Option<usize>,
    ) -> Option<Item> {
        while let Some(item) = self.items.pop_front() {
            let size = match &item {
                Item::Call(id) => match is_live(*id) {
                    Some(size) => size,
                    None => continue,
                },
                Item::Notify { size, .. } => *size,
            };
            self.live -= 1;
            self.bytes = self.bytes.saturating_sub(size);
            return Some(item);
        }
        None
    }

    /// Puts back an item just taken with `pop_front` (no room for it after all).
    pub(crate) fn unpop(&mut self, item: Item, size: usize) {
        self.live += 1;
        self.bytes = self.bytes.saturating_add(size);
        self.items.push_front(item);
    }

    /// A queued call ended in place: its slot stays, skipped later.
    pub(crate) fn forget(&mut self, size: usize, is_live: impl FnMut(&Item) -> bool) {
        self.live = self.live.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(size);
        if self.items.len() > 2 * self.live + 64 {
            self.items.retain(is_live);
        }
    }

    /// Takes every slot out, live or not, in order.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = Item> + '_ {
        self.live = 0;
        self.bytes = 0;
        self.items.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn note(size: usize) -> Item {
        Item::Notify {
            method: "n".into(),
            params: None,
            size,
        }
    }

    fn take_all(queue: &mut Queue, live: &BTreeSet<u64>) -> Vec<String> {
        std::iter::from_fn(|| queue.pop_front(|id| live.contains(&id.0).then_some(10)))
            .map(|item| match item {
                Item::Call(id) => format!("c{}", id.0),
                Item::Notify { size, .. } => format!("n{size}"),
            })
            .collect()
    }

    #[test]
    fn limits_count_items_and_bytes_and_refuse_past_either() {
        let limits = QueueLimits {
            max_messages: 3,
            max_bytes: 100,
        };
        let mut queue = Queue::default();
        assert_eq!(queue.check(&limits, 100), Ok(()));
        assert_eq!(
            queue.check(&limits, 101),
            Err(Refused::QueueFull {
                messages: 0,
                bytes: 0
            })
        );
        queue.push_back(note(60), 60);
        queue.push_back(note(30), 30);
        assert_eq!((queue.len(), queue.bytes()), (2, 90));
        assert_eq!(queue.check(&limits, 10), Ok(()));
        assert_eq!(
            queue.check(&limits, 11),
            Err(Refused::QueueFull {
                messages: 2,
                bytes: 90
            })
        );
        queue.push_back(note(1), 1);
        assert_eq!(
            queue.check(&limits, 0),
            Err(Refused::QueueFull {
                messages: 3,
                bytes: 91
            })
        );
        assert!(queue.check(&limits, usize::MAX).is_err());
    }

    #[test]
    fn items_come_out_in_order_skipping_ended_calls_with_requeued_ones_first() {
        let mut queue = Queue::default();
        let mut live: BTreeSet<u64> = (1..=4).collect();
        for id in 1..=4 {
            queue.push_back(Item::Call(CallId(id)), 10);
            if id == 2 {
                queue.push_back(note(5), 5);
            }
        }
        // Call 3 ends in place.
        live.remove(&3);
        queue.forget(10, |_| true);
        assert_eq!((queue.len(), queue.bytes()), (4, 35));
        // Calls 7 and 8 come back from a lost link: 7 first.
        queue.push_front(CallId(8), 10);
        queue.push_front(CallId(7), 10);
        live.extend([7, 8]);
        let first = queue.pop_front(|id| live.contains(&id.0).then_some(10));
        assert!(matches!(first, Some(Item::Call(CallId(7)))));
        // No room after all: it goes back where it was.
        if let Some(item) = first {
            queue.unpop(item, 10);
        }
        assert_eq!(
            take_all(&mut queue, &live),
            ["c7", "c8", "c1", "c2", "n5", "c4"]
        );
        assert_eq!((queue.len(), queue.bytes(), queue.is_empty()), (0, 0, true));
    }

    #[test]
    fn ended_slots_are_compacted_so_the_queue_stays_near_its_live_size() {
        let mut queue = Queue::default();
        let mut live = BTreeSet::new();
        queue.push_back(Item::Call(CallId(0)), 10);
        live.insert(0);
        for id in 1..10_000u64 {
            queue.push_back(Item::Call(CallId(id)), 10);
            // Each new call ends at once (cancelled while queued).
            let is_live = |item: &Item| match item {
                Item::Call(id) => id.0 == 0,
                Item::Notify { .. } => true,
            };
            queue.forget(10, is_live);
            assert!(queue.items.len() <= 2 * queue.len() + 65);
        }
        assert_eq!((queue.len(), queue.bytes()), (1, 10));
        assert_eq!(take_all(&mut queue, &live), ["c0"]);
    }
}
