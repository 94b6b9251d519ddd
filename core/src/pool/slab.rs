//! Links by [`LinkId`]: a slab whose ids carry a generation, so an id of a link that is
//! gone never reaches the link that took its slot.

use std::fmt;

/// One link of a [`Pool`](super::Pool), for the life of that link only.
///
/// Its slot is reused by later links, each with the next generation: an id kept after its
/// link ended (by a task that has not heard yet) finds nothing rather than a stranger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId {
    index: u32,
    generation: u32,
}

impl LinkId {
    /// Its slot: shared with the links before and after it in that slot.
    pub fn index(self) -> u32 {
        self.index
    }

    /// Which of its slot's links it is: one more for each link that took the slot.
    pub fn generation(self) -> u32 {
        self.generation
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link {}.{}", self.index, self.generation)
    }
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Values by generational id; free slots are reused, last freed first.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Values held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Stores `value` under a fresh id; `None` once 2^32 slots are in use (never).
    pub(crate) fn insert(&mut self, value: T) -> Option<LinkId> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(Slot {
                    generation: 0,
                    value: None,
                });
                index
            }
        };
        let slot = self.slots.get_mut(index as usize)?;
        // A slot whose generation ran out is retired for good rather than repeat an id.
        let Some(generation) = slot.generation.checked_add(1) else {
            return self.insert(value);
        };
        slot.generation = generation;
        slot.value = Some(value);
        self.len += 1;
        Some(LinkId { index, generation })
    }

    pub(crate) fn get(&self, id: LinkId) -> Option<&T> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.value.as_ref())
            .flatten()
    }

    pub(crate) fn get_mut(&mut self, id: LinkId) -> Option<&mut T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.value.as_mut())
            .flatten()
    }

    pub(crate) fn remove(&mut self, id: LinkId) -> Option<T> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let value = slot.value.take()?;
        self.len -= 1;
        if slot.generation < u32::MAX {
            self.free.push(id.index);
        }
        Some(value)
    }

    /// Every id held, in slot order (deterministic).
    pub(crate) fn ids(&self) -> Vec<LinkId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.value.is_some())
            .filter_map(|(index, slot)| {
                Some(LinkId {
                    index: u32::try_from(index).ok()?,
                    generation: slot.generation,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_id_never_reaches_the_slots_next_value() {
        let mut slab = Slab::default();
        let a = slab.insert("a").expect("room");
        assert_eq!(slab.remove(a), Some("a"));
        let b = slab.insert("b").expect("room");
        assert_eq!((a.index, b.index), (0, 0), "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.len(), 1);
        assert_eq!(slab.ids(), vec![b]);
    }
}
