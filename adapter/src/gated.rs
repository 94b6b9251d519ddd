//! A future polled only once it was woken: [`Gated`].
//!
//! A driver waits on several things at once and rebuilds or re-polls every wait each turn.
//! Most of them are cheap to poll again, but not all: polling a `tokio::sync::watch`
//! wait that is already registered takes the lock of the watch's waiters, and a server's
//! shutdown signal is one watch shared by every connection and every worker thread, polled
//! by each connection on every turn. Behind a [`Gated`], such a wait is polled again only
//! when its own waker fired; otherwise a poll costs a compare and a swap.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// Whether the inner future was woken, and the task to tell.
#[derive(Debug)]
struct Gate {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.task.wake();
    }
}

/// `F`, polled only when its waker fired since it was last polled (and on the first poll).
pub(crate) struct Gated<F> {
    inner: F,
    gate: Arc<Gate>,
    /// What `inner` is polled with: wakes `gate`.
    waker: Waker,
}

impl<F> std::fmt::Debug for Gated<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gated").finish_non_exhaustive()
    }
}

impl<F: Future + Unpin> Gated<F> {
    pub(crate) fn new(inner: F) -> Gated<F> {
        let gate = Arc::new(Gate {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Gated {
            inner,
            waker: Waker::from(gate.clone()),
            gate,
        }
    }

    /// Polls the inner future if it was woken; `Pending` otherwise, with `cx`'s waker
    /// registered to be woken when it is.
    pub(crate) fn poll_gated(&mut self, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.gate.task.register(cx.waker());
        if !self.gate.woken.swap(false, Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll(&mut Context::from_waker(&self.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::joint::tests::Count;

    #[test]
    fn polls_the_inner_future_only_after_its_waker_fired() {
        let polls = Cell::new(0);
        let stored: Cell<Option<Waker>> = Cell::new(None);
        let mut gated = Gated::new(Box::pin(std::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            stored.set(Some(cx.waker().clone()));
            if polls.get() == 2 {
                Poll::Ready(7)
            } else {
                Poll::Pending
            }
        })));
        let count = Arc::new(Count::default());
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        assert!(gated.poll_gated(&mut cx).is_pending());
        assert!(gated.poll_gated(&mut cx).is_pending());
        assert_eq!(polls.get(), 1, "not woken: not polled again");
        stored.take().expect("a waker").wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the task heard of it");
        assert_eq!(gated.poll_gated(&mut cx), Poll::Ready(7));
        assert_eq!(polls.get(), 2);
    }
}
