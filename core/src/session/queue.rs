//! The ordered queue of calls and notifications not yet written, bounded by count and bytes.
//!
//! Calls sit here by [`CallId`]; their requests stay in the session's call table. A call
//! that ends while queued (cancelled, timed out) leaves its slot behind and is skipped when
//! it reaches the front (lazy deletion, like the deadline heap); the queue is compacted
//! when skipped slots outnumber live ones, so it stays O(live items).

use std::collections::VecDeque;

use serde_json::value::RawValue;

use super::{CallError, CallId};

/// Bounds of the queue of unsent items. Past either, `call` and `notify` return
/// [`CallError::QueueFull`] and nothing is queued.
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

    /// Refuses an item of `size` bytes that would go past `limits`.
    pub(crate) fn check(&self, limits: &QueueLimits, size: usize) -> Result<(), CallError> {
        let full =
            self.live >= limits.max_messages || self.bytes.saturating_add(size) > limits.max_bytes;
        if full {
            return Err(CallError::QueueFull {
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
