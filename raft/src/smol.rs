//! [`SmolRuntime`]: openraft's [`AsyncRuntime`] on smol's and async-std's executor, so a
//! node runs on `tether-async-std` with no tokio runtime anywhere.
//!
//! What openraft needs of a runtime, and where it comes from here:
//!
//! - tasks: `async-global-executor`, where `tether-async-std` spawns too; a
//!   [`JoinHandle`] detaches its task when dropped (as tokio's does: openraft drops
//!   handles of tasks that must go on) and reports a panic as a [`JoinError`];
//! - sleeps and timeouts: `async-io`'s [`Timer`], the reactor smol and async-std share;
//! - the clock: `std::time::Instant`, which openraft's `Instant` trait already covers;
//! - randomness (election timeouts): `rand`'s thread-local generator;
//! - channels and the mutex: `openraft-rt-tokio`'s, which are `tokio::sync`'s and need no
//!   tokio runtime (tether's adapter uses `tokio::sync` on smol the same way).

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::FutureExt;
use openraft::{AsyncRuntime, OptionalSend};
use openraft_rt_tokio::{TokioMpsc, TokioMutex, TokioOneshot, TokioWatch};

/// openraft's runtime on smol and async-std: see the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct SmolRuntime;

/// A task that panicked.
#[derive(Debug)]
pub struct JoinError(String);

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task panicked: {}", self.0)
    }
}

impl std::error::Error for JoinError {}

/// A spawned task's end. Dropping it lets the task run on, detached.
#[derive(Debug)]
pub struct JoinHandle<T>(Option<async_global_executor::Task<Result<T, JoinError>>>);

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.as_mut() {
            Some(task) => Pin::new(task).poll(cx),
            None => Poll::Ready(Err(JoinError("polled after its end".into()))),
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.detach();
        }
    }
}

/// A sleep on `async-io`'s timer.
#[derive(Debug)]
pub struct Sleep(Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A timeout passed.
#[derive(Debug)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

/// A future raced against a deadline.
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    timer: Timer,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(&mut self.timer).poll(cx).map(|_| Err(Elapsed))
    }
}

/// A timer for `at`, or one that never fires if `at` cannot be represented.
fn timer_at(at: Instant) -> Timer {
    Timer::at(at)
}

fn timer_after(duration: Duration) -> Timer {
    match Instant::now().checked_add(duration) {
        Some(at) => Timer::at(at),
        None => Timer::never(),
    }
}

impl AsyncRuntime for SmolRuntime {
    type JoinError = JoinError;
    type JoinHandle<T: OptionalSend + 'static> = JoinHandle<T>;
    type Sleep = Sleep;
    type Instant = Instant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
    type ThreadLocalRng = rand::rngs::ThreadRng;

    fn spawn<T>(future: T) -> JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        let caught = AssertUnwindSafe(future).catch_unwind();
        let task = async_global_executor::spawn(async move {
            caught.await.map_err(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                JoinError(message)
            })
        });
        JoinHandle(Some(task))
    }

    fn sleep(duration: Duration) -> Sleep {
        Sleep(timer_after(duration))
    }

    fn sleep_until(deadline: Instant) -> Sleep {
        Sleep(timer_at(deadline))
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Timeout<F> {
        Timeout {
            future: Box::pin(future),
            timer: timer_after(duration),
        }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Instant,
        future: F,
    ) -> Timeout<F> {
        Timeout {
            future: Box::pin(future),
            timer: timer_at(deadline),
        }
    }

    fn is_panic(_: &JoinError) -> bool {
        // A task ends with an error only when it panicked: nothing here cancels one.
        true
    }

    fn thread_rng() -> rand::rngs::ThreadRng {
        rand::rng()
    }

    type Mpsc = TokioMpsc;
    type Watch = TokioWatch;
    type Oneshot = TokioOneshot;
    type Mutex<T: OptionalSend + 'static> = TokioMutex<T>;

    fn new(_threads: usize) -> Self {
        SmolRuntime
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        async_global_executor::block_on(future)
    }
}

#[cfg(test)]
mod tests {
    use super::SmolRuntime;

    /// openraft's own checks of a runtime: spawn and join, panics, sleeps, timeouts,
    /// channels, the mutex.
    #[test]
    fn passes_openraft_runtime_suite() {
        openraft_rt::testing::Suite::<SmolRuntime>::test_all();
    }
}
