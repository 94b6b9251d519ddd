//! A bounded many-to-one channel that holds no memory until it is used.
//!
//! tokio's `mpsc` allocates a block of 32 slots when a channel is made, whether or not
//! anything is ever sent: with three channels per WebSocket (data, pings, events) that
//! was about 6 KiB of every idle connection. Here the items live in a `VecDeque` under a
//! mutex, which allocates on the first send. The one receiver waits on an `AtomicWaker`
//! (registering costs a compare, not a lock, so a driver that polls its waits every turn
//! pays little for them); senders, which wait only on a full channel, wait on a `Notify`,
//! or, polled from one place ([`Sender::poll_reserve`], a driver's), on an `AtomicWaker`
//! of their own. Neither allocates. The API is the subset of tokio's the drivers use, with
//! tokio's error types, so a driver reads the same either way.
//!
//! The mutex is held only to push or pop one item and is never held across an await, and
//! nothing panics under it.

use std::collections::VecDeque;
use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use tokio::sync::Notify;

pub(crate) use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

/// A channel for at most `capacity` items (queued or reserved) at a time.
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: Mutex::new(State {
            items: VecDeque::new(),
            reserved: 0,
            senders: 1,
            closed: false,
        }),
        queued: AtomicUsize::new(0),
        ended: AtomicBool::new(false),
        filled: AtomicWaker::new(),
        room: Notify::new(),
        room_poller: AtomicWaker::new(),
        capacity: capacity.max(1),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

struct Chan<T> {
    state: Mutex<State<T>>,
    /// `state.items.len()`, written under the lock: the receiver's look at an empty
    /// channel (most looks of a driver's turn) takes no lock.
    queued: AtomicUsize,
    /// `state.closed || state.senders == 0`, written under the lock.
    ended: AtomicBool,
    /// Wakes the receiver: an item came, or the last sender left.
    filled: AtomicWaker,
    /// Wakes a sender waiting for room (or, all of them, for the news that the receiver
    /// closed).
    room: Notify,
    /// Wakes the one sender that polls for room ([`Sender::poll_reserve`]).
    room_poller: AtomicWaker,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    /// Slots promised to [`Permit`]s not yet used.
    reserved: usize,
    senders: usize,
    /// The receiver closed (or is gone): nothing more is accepted.
    closed: bool,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while it is held; should anything ever, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Frees the queue's memory if it is empty (a burst grew it; the next item allocates
    /// again). Not done on every take: a busy channel would allocate for every burst.
    fn release_idle(&self) {
        let mut state = self.lock();
        if state.items.is_empty() && state.items.capacity() > 0 {
            state.items = VecDeque::new();
        }
    }

    /// The receiver's take: the oldest item, and a slot freed for a waiting sender.
    fn take(&self) -> Result<T, TryRecvError> {
        // `ended` first: once it is set no item comes any more, so a `queued` read after it
        // is final. Read the other way round, an item queued and its sender gone between
        // the two reads would be reported as a channel that ended empty.
        let ended = self.ended.load(Ordering::Acquire);
        if self.queued.load(Ordering::Acquire) == 0 {
            // An item queued after this look wakes the receiver, which looks again.
            return Err(if ended {
                TryRecvError::Disconnected
            } else {
                TryRecvError::Empty
            });
        }
        let taken = {
            let mut state = self.lock();
            match state.items.pop_front() {
                Some(value) => {
                    self.queued.store(state.items.len(), Ordering::Release);
                    value
                }
                None if state.senders == 0 || state.closed => {
                    return Err(TryRecvError::Disconnected)
                }
                None => return Err(TryRecvError::Empty),
            }
        };
        self.room.notify_one();
        self.room_poller.wake();
        Ok(taken)
    }
}

/// The sending half; clones send into the same channel.
pub(crate) struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.chan.capacity)
            .finish_non_exhaustive()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.chan.lock();
            state.senders -= 1;
            if state.senders == 0 {
                self.chan.ended.store(true, Ordering::Release);
            }
            state.senders == 0
        };
        if last {
            self.chan.filled.wake();
        }
    }
}

impl<T> Sender<T> {
    /// Waits for a free slot and keeps it for one [`Permit::send`]. Fails once the
    /// receiver closed. Cancel-safe: a dropped wait holds no slot, and passes on a wake-up
    /// it was given.
    pub(crate) async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        // Most reserves find room: look before joining the waiters, which takes a lock.
        if let Some(reserved) = self.try_reserve() {
            return reserved;
        }
        // The wait is boxed: a sender's future (every `send` a handle has under way, which
        // an idle connection's handler often has) then holds a pointer, not the wait.
        Box::pin(self.wait_for_room()).await
    }

    /// [`reserve`](Self::reserve) once the channel was found full.
    async fn wait_for_room(&self) -> Result<Permit<'_, T>, SendError<()>> {
        loop {
            let mut room = pin!(self.chan.room.notified());
            // Registered before looking, so a slot freed after the look wakes us.
            room.as_mut().enable();
            if let Some(reserved) = self.try_reserve() {
                return reserved;
            }
            room.await;
        }
    }

    /// [`reserve`](Self::reserve) as a poll, for a sender polled from one place (a
    /// driver's turn): `Pending` leaves `cx`'s waker to be woken when a slot frees or the
    /// receiver closes. Only the last poller's waker is kept.
    pub(crate) fn poll_reserve(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Permit<'_, T>, SendError<()>>> {
        for first in [true, false] {
            if let Some(reserved) = self.try_reserve() {
                return Poll::Ready(reserved);
            }
            if first {
                // Registered, then looked again: a slot freed in between wakes us.
                self.chan.room_poller.register(cx.waker());
            }
        }
        Poll::Pending
    }

    /// A slot if there is one now; `None` if the channel is full.
    fn try_reserve(&self) -> Option<Result<Permit<'_, T>, SendError<()>>> {
        let mut state = self.chan.lock();
        if state.closed {
            return Some(Err(SendError(())));
        }
        if state.items.len() + state.reserved < self.chan.capacity {
            state.reserved += 1;
            return Some(Ok(Permit { chan: &self.chan }));
        }
        None
    }

    /// Waits for a free slot and queues `value` in it; gives it back if the receiver
    /// closed.
    pub(crate) async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.reserve().await {
            Ok(permit) => {
                permit.send(value);
                Ok(())
            }
            Err(_) => Err(SendError(value)),
        }
    }

    /// Queues `value` if there is a free slot now.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        {
            let mut state = self.chan.lock();
            if state.closed {
                return Err(TrySendError::Closed(value));
            }
            if state.items.len() + state.reserved >= self.chan.capacity {
                return Err(TrySendError::Full(value));
            }
            state.items.push_back(value);
            self.chan.queued.store(state.items.len(), Ordering::Release);
        }
        self.chan.filled.wake();
        Ok(())
    }

    /// Wakes the receiver's wait without sending: for news it looks for besides the items
    /// (a WebSocket receiver's demand flag).
    pub(crate) fn wake_receiver(&self) {
        self.chan.filled.wake();
    }

    /// Frees the channel's memory if nothing is queued (see [`Receiver::release_idle`]).
    pub(crate) fn release_idle(&self) {
        self.chan.release_idle();
    }

    /// The receiver closed or is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.chan.lock().closed
    }

    /// Free slots now.
    pub(crate) fn capacity(&self) -> usize {
        let state = self.chan.lock();
        self.chan
            .capacity
            .saturating_sub(state.items.len() + state.reserved)
    }

    /// The channel's capacity.
    pub(crate) fn max_capacity(&self) -> usize {
        self.chan.capacity
    }
}

/// One slot kept by [`Sender::reserve`]; dropping it unused frees the slot.
pub(crate) struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Queues `value` in the slot. If the receiver closed meanwhile, `value` is dropped,
    /// as it would never be received.
    pub(crate) fn send(self, value: T) {
        // Refused, it is of no use to anyone.
        let _ = self.send_or_return(value);
    }

    /// Queues `value` in the slot, or gives it back if the receiver closed meanwhile: for
    /// a sender that must account for what never arrives.
    pub(crate) fn send_or_return(self, value: T) -> Result<(), T> {
        let chan = self.chan;
        // The slot is used here, not freed by `drop`.
        std::mem::forget(self);
        let refused = {
            let mut state = chan.lock();
            state.reserved -= 1;
            if state.closed {
                Some(value)
            } else {
                state.items.push_back(value);
                chan.queued.store(state.items.len(), Ordering::Release);
                None
            }
        };
        match refused {
            None => {
                chan.filled.wake();
                Ok(())
            }
            Some(value) => Err(value),
        }
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.lock().reserved -= 1;
        self.chan.room.notify_one();
        self.chan.room_poller.wake();
    }
}

/// The receiving half.
pub(crate) struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.chan.capacity)
            .finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone (or the channel was closed) and
    /// nothing is left. `Pending` leaves `cx`'s waker to be woken by the next item, the
    /// last sender's leaving, or [`Sender::wake_receiver`]. An item is taken only by a
    /// `Ready`.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let chan = &*self.chan;
        for first in [true, false] {
            match chan.take() {
                Ok(value) => return Poll::Ready(Some(value)),
                Err(TryRecvError::Disconnected) => return Poll::Ready(None),
                Err(TryRecvError::Empty) => {}
            }
            if first {
                // Registered, then looked again: an item sent in between wakes us.
                chan.filled.register(cx.waker());
            }
        }
        Poll::Pending
    }

    /// The next item if there is one now.
    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.take()
    }

    /// Frees the channel's memory if nothing is queued: for a quiet moment (a burst grew
    /// it, and it keeps its size otherwise).
    pub(crate) fn release_idle(&self) {
        self.chan.release_idle();
    }

    /// Accepts nothing more: senders fail from now on; what is queued can still be taken.
    pub(crate) fn close(&mut self) {
        self.chan.lock().closed = true;
        self.chan.ended.store(true, Ordering::Release);
        self.chan.room.notify_waiters();
        self.chan.room_poller.wake();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // Dropped outside the lock: an item's drop may do anything (answer a caller).
        let items = {
            let mut state = self.chan.lock();
            self.chan.queued.store(0, Ordering::Release);
            std::mem::take(&mut state.items)
        };
        drop(items);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn allocates_nothing_until_used() {
        let (tx, mut rx) = channel::<u64>(16);
        assert_eq!(rx.chan.lock().items.capacity(), 0);
        tx.try_send(1).unwrap();
        assert_eq!(rx.try_recv().unwrap(), 1);
    }

    #[test]
    fn an_empty_channel_gives_its_memory_back_when_asked() {
        let (tx, mut rx) = channel::<u64>(16);
        for i in 0..16 {
            tx.try_send(i).unwrap();
        }
        tx.release_idle();
        assert!(
            rx.chan.lock().items.capacity() >= 16,
            "kept while not empty"
        );
        while rx.try_recv().is_ok() {}
        rx.release_idle();
        assert_eq!(rx.chan.lock().items.capacity(), 0);
    }

    #[test]
    fn items_arrive_in_order_and_a_full_channel_refuses() {
        let (tx, mut rx) = channel(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        assert_eq!(tx.capacity(), 0);
        assert_eq!(
            block_on(std::future::poll_fn(|cx| rx.poll_recv(cx))),
            Some(1)
        );
        assert_eq!(tx.capacity(), 1);
        assert_eq!(rx.try_recv().unwrap(), 2);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        assert_eq!(tx.capacity(), tx.max_capacity());
    }

    #[test]
    fn a_reserved_slot_counts_until_used_or_dropped() {
        let (tx, mut rx) = channel(1);
        let permit = block_on(tx.reserve()).unwrap();
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        // A second reservation waits for the slot.
        assert!(block_on(poll_once(tx.reserve())).is_none());
        drop(permit);
        let permit = block_on(tx.reserve()).unwrap();
        permit.send(5);
        assert_eq!(rx.try_recv().unwrap(), 5);
    }

    #[test]
    fn a_waiting_sender_is_woken_by_room() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let mut waiting = Box::pin(tx.send(2));
        assert!(block_on(poll_once(waiting.as_mut())).is_none());
        assert_eq!(rx.try_recv().unwrap(), 1);
        assert!(block_on(waiting).is_ok());
        assert_eq!(rx.try_recv().unwrap(), 2);
    }

    #[test]
    fn the_receiver_sees_the_end_once_senders_are_gone_and_items_taken() {
        let (tx, mut rx) = channel(4);
        let tx2 = tx.clone();
        tx.try_send(1).unwrap();
        drop(tx);
        assert!(matches!(rx.try_recv(), Ok(1)));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        let mut waiting = Box::pin(std::future::poll_fn(|cx| rx.poll_recv(cx)));
        assert!(block_on(poll_once(waiting.as_mut())).is_none());
        drop(tx2);
        assert_eq!(block_on(waiting), None);
    }

    #[test]
    fn closing_refuses_senders_and_wakes_those_waiting() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let mut waiting = Box::pin(tx.reserve());
        assert!(block_on(poll_once(waiting.as_mut())).is_none());
        rx.close();
        assert!(block_on(waiting).is_err());
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(2), Err(TrySendError::Closed(2))));
        // What was queued before the close can still be taken.
        assert_eq!(rx.try_recv().unwrap(), 1);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
    }

    #[test]
    fn a_permit_used_after_the_close_drops_its_item() {
        let (tx, mut rx) = channel(1);
        let item = Arc::new(());
        let permit = block_on(tx.reserve()).unwrap();
        rx.close();
        permit.send(item.clone());
        assert_eq!(Arc::strong_count(&item), 1, "the refused item was dropped");
        let (tx, mut rx) = channel(1);
        let permit = block_on(tx.reserve()).unwrap();
        rx.close();
        assert_eq!(permit.send_or_return(7), Err(7), "given back");
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
    }

    #[test]
    fn dropping_the_receiver_drops_what_it_held() {
        let (tx, rx) = channel(2);
        let item = Arc::new(());
        tx.try_send(item.clone()).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&item), 1);
        assert!(tx.is_closed());
    }
}
