//! Two futures run as one task: [`joint`].
//!
//! A connection's driver and the application's handler for it talk over channels. In two
//! tasks, every message handed across is a trip through the executor: a wake, a queue, a
//! task switch (and, when the other task sleeps on another thread, a futex). Run jointly,
//! each is polled only when it was woken, and at once, in the same poll, when the other
//! woke it: a message read, handled and answered costs one poll of one task.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// Rounds of polling in one poll of the joint future before it gives the executor its
/// thread back. A future that keeps waking itself (a runtime's budget for fairness does
/// that: its resources report `Pending` and wake at once) must not spin here.
const MAX_ROUNDS: usize = 16;

const FIRST: u8 = 1;
const SECOND: u8 = 2;

/// Who was woken, and whom to tell.
#[derive(Debug, Default)]
struct Wakes {
    /// `FIRST` and `SECOND`: which futures were woken since they were last polled.
    woken: AtomicU8,
    /// Set while the joint future polls its halves: a wake then is seen by its loop, and
    /// waking the task as well would only make the executor poll it once more for nothing.
    polling: AtomicBool,
    /// The task's waker, for wakes from outside.
    task: AtomicWaker,
}

/// The waker one half is polled with.
#[derive(Debug)]
struct Half {
    wakes: Arc<Wakes>,
    bit: u8,
}

impl Wake for Half {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.woken.fetch_or(self.bit, Ordering::SeqCst);
        if !self.wakes.polling.load(Ordering::SeqCst) {
            self.wakes.task.wake();
        }
    }
}

/// Runs `first` and `second` to completion in the task that awaits this, polling each only
/// when it was woken; see the module docs. Neither is cancelled when the other completes;
/// the output is `second`'s.
///
/// Both are boxed here, once: a future that took them by value would be laid out with
/// room for each twice or more (its arguments, then its pinned copies), and a
/// connection's task holds that room for as long as the connection is open.
pub(crate) fn joint<A, B>(first: A, second: B) -> Joint<A, B>
where
    A: Future<Output = ()>,
    B: Future,
{
    let wakes = Arc::new(Wakes {
        woken: AtomicU8::new(FIRST | SECOND),
        ..Wakes::default()
    });
    let waker = |bit| {
        Waker::from(Arc::new(Half {
            wakes: wakes.clone(),
            bit,
        }))
    };
    Joint {
        first: Box::pin(first),
        second: Box::pin(second),
        wakers: [waker(FIRST), waker(SECOND)],
        wakes,
        done: 0,
        output: None,
    }
}

/// The future of [`joint`].
pub(crate) struct Joint<A, B: Future> {
    first: Pin<Box<A>>,
    second: Pin<Box<B>>,
    /// What `first` and `second` are polled with.
    wakers: [Waker; 2],
    wakes: Arc<Wakes>,
    /// `FIRST` and `SECOND`: which have completed.
    done: u8,
    output: Option<B::Output>,
}

impl<A, B: Future> Joint<A, B> {
    /// Whether the first future has completed (the second may still run).
    pub(crate) fn first_done(&self) -> bool {
        self.done & FIRST != 0
    }
}

// The halves are pinned in their boxes, and the output is never pinned.
impl<A, B: Future> Unpin for Joint<A, B> {}

impl<A, B> Future for Joint<A, B>
where
    A: Future<Output = ()>,
    B: Future,
{
    type Output = B::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<B::Output> {
        let this = self.get_mut();
        let wakes = &*this.wakes;
        wakes.task.register(cx.waker());
        for _ in 0..MAX_ROUNDS {
            wakes.polling.store(true, Ordering::SeqCst);
            let woken = wakes.woken.swap(0, Ordering::SeqCst) & !this.done;
            if woken & FIRST != 0 {
                let mut cx = Context::from_waker(&this.wakers[0]);
                if this.first.as_mut().poll(&mut cx).is_ready() {
                    this.done |= FIRST;
                }
            }
            if woken & SECOND != 0 {
                let mut cx = Context::from_waker(&this.wakers[1]);
                if let Poll::Ready(output) = this.second.as_mut().poll(&mut cx) {
                    this.done |= SECOND;
                    this.output = Some(output);
                }
            }
            if this.done == FIRST | SECOND {
                wakes.polling.store(false, Ordering::SeqCst);
                if let Some(output) = this.output.take() {
                    return Poll::Ready(output);
                }
                // Polled again after it completed: it stays done.
                return Poll::Pending;
            }
            if wakes.woken.load(Ordering::SeqCst) & !this.done != 0 {
                continue;
            }
            wakes.polling.store(false, Ordering::SeqCst);
            // A wake between the load above and the store saw `polling` set and left the
            // task asleep: look once more now that wakes reach the task again.
            if wakes.woken.load(Ordering::SeqCst) & !this.done == 0 {
                return Poll::Pending;
            }
        }
        wakes.polling.store(false, Ordering::SeqCst);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;
    use std::pin::pin;
    use std::sync::atomic::AtomicUsize;

    use futures_lite::future;

    use super::*;

    /// Counts the wakes of the task that polls the future under test (here, and in
    /// [`gated`](crate::gated)'s tests).
    #[derive(Default)]
    pub(crate) struct Count(pub(crate) AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_hand_over_between_the_halves_takes_one_poll_and_no_wake() {
        let (tx, rx) = async_channel::bounded::<u32>(1);
        let (back_tx, back_rx) = async_channel::bounded::<u32>(1);
        let got = Cell::new(0);
        // The first sends 3 values and reads each answer; the second answers each.
        let (got_ref, back_rx) = (&got, &back_rx);
        // Owns `tx`: its end closes the second's channel.
        let first = async move {
            for n in 0..3 {
                tx.send(n).await.expect("second alive");
                got_ref.set(got_ref.get() + back_rx.recv().await.expect("answered"));
            }
        };
        let second = async {
            while let Ok(n) = rx.recv().await {
                back_tx.send(n * 10).await.expect("first alive");
            }
        };
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut both = pin!(joint(first, second));
        // The second ends only once the first drops its sender; the first ends after
        // three answers, all in this one poll.
        let first_poll = both.as_mut().poll(&mut cx);
        assert_eq!(got.get(), 30);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "no wake went through the task"
        );
        assert!(
            first_poll.is_ready(),
            "the first's end closed the second's channel"
        );
    }

    #[test]
    fn a_wake_from_outside_reaches_the_task_and_polls_only_the_woken_half() {
        let (tx, rx) = async_channel::bounded::<()>(1);
        let polls = Cell::new(0);
        let first = async {
            let _ = rx.recv().await;
        };
        let second = future::poll_fn(|_| {
            polls.set(polls.get() + 1);
            Poll::<()>::Pending
        });
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut both = pin!(joint(first, second));
        assert!(both.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.get(), 1);
        tx.try_send(()).expect("room");
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the task was woken");
        assert!(both.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.get(), 1, "the second was not woken, so not polled");
    }

    #[test]
    fn a_half_that_keeps_waking_itself_gives_the_thread_back() {
        let polls = Cell::new(0);
        let spinning = future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut both = pin!(joint(spinning, future::pending::<()>()));
        assert!(both.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.get(), MAX_ROUNDS);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "rescheduled, not spun");
    }
}
