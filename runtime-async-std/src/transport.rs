//! The socket half of a driver, shared by the WebSocket and the JSON-RPC drivers: moves
//! bytes between a stream and the core's [`Flow`], and sleeps on one re-armed timer.
//!
//! The stream is any `futures-io` [`AsyncRead`] + [`AsyncWrite`]: a TCP socket today, a
//! TLS stream over one later, without the drivers knowing. Read and write are polled in
//! the same task, so no split (and no lock) is needed.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use tether_core::transmit::{Fired, Flow, MAX_IOV};
use tether_core::Machine;
use tracing::debug;

/// What a connection runs over.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<S: AsyncRead + AsyncWrite + Send + Unpin> Stream for S {}

/// The clock every input is stamped with.
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// One stream, the core's bookkeeping of it, and the driver's one timer.
pub(crate) struct Transport {
    stream: Pin<Box<dyn Stream>>,
    flow: Flow,
    /// Re-armed (not recreated) whenever the deadline moves.
    timer: Timer,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

/// What one poll of the stream and the timer brought.
#[derive(Default)]
struct Ready {
    read: Option<io::Result<usize>>,
    written: Option<io::Result<usize>>,
    fired: bool,
}

impl Transport {
    /// `linger` bounds the final flush and the wait for the peer's EOF.
    pub(crate) fn new(stream: impl Stream + 'static, linger: Duration) -> Transport {
        Transport {
            stream: Box::pin(stream),
            flow: Flow::new(linger),
            timer: Timer::never(),
        }
    }

    /// Takes the core's bytes and re-arms the timer for the sooner of the core's deadline
    /// and the driver's own `extra` one.
    pub(crate) fn drain(&mut self, core: &mut impl Machine, extra: Option<Instant>) {
        if let Some(at) = self.flow.drain(now(), core, extra) {
            self.timer.set_at(at);
        }
    }

    /// Whether the socket keeps up: false while much is waiting to be written.
    pub(crate) fn has_room(&self, core: &impl Machine) -> bool {
        self.flow.has_room(core)
    }

    /// Closed and flushed (or flushing took too long): the socket can go.
    pub(crate) fn finished(&self, core: &impl Machine) -> bool {
        self.flow.finished(core)
    }

    /// Whether [`step`](Self::step) has anything to wait for; `reading` is the driver's
    /// wish to read (false while it cannot take more events).
    pub(crate) fn is_active(&self, reading: bool) -> bool {
        self.flow.is_active(reading)
    }

    /// Nothing can ever happen again: the driver drops the socket.
    pub(crate) fn stalled(&mut self) {
        debug!("driver stalled; dropping the connection");
        self.flow.stalled();
    }

    /// The socket failed: the core learns the transport is gone, as an EOF.
    pub(crate) fn fail(&mut self, core: &mut impl Machine) {
        self.flow.fail(now(), core);
    }

    /// Waits for bytes to read (if `reading`), the write of the queue's front, or the
    /// timer, and feeds what happened to `core`. Never completes if
    /// [`is_active`](Self::is_active) is false. Cancel-safe: the core is fed in the same
    /// poll the stream did its part.
    pub(crate) async fn step(&mut self, core: &mut impl Machine, reading: bool) -> io::Result<()> {
        poll_fn(|cx| self.poll_step(cx, core, reading)).await
    }

    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        core: &mut impl Machine,
        reading: bool,
    ) -> Poll<io::Result<()>> {
        let wants_read = self.flow.wants_read(reading);
        let armed = self.flow.deadline().is_some();
        let mut ready = Ready::default();
        {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let (space, iov) = self.flow.buffers(&mut slices);
            // Every direction is polled each time, so a flood one way never starves the other.
            if iov > 0 {
                let write = self.stream.as_mut().poll_write_vectored(cx, &slices[..iov]);
                ready.written = into_option(write);
            }
            if wants_read {
                ready.read = into_option(self.stream.as_mut().poll_read(cx, space));
            }
            if armed {
                ready.fired = Pin::new(&mut self.timer).poll(cx).is_ready();
            }
        }
        let Ready {
            read,
            written,
            fired,
        } = ready;
        if read.is_none() && written.is_none() && !fired {
            return Poll::Pending;
        }
        let now = now();
        if let Some(written) = written {
            self.flow.on_written(written?)?;
        }
        if let Some(read) = read {
            let n = read?;
            if n == 0 {
                debug!("peer closed its write side");
            }
            self.flow.on_read(now, core, n);
        }
        if fired && self.flow.on_timer(now, core) == Fired::GaveUp {
            debug!("peer stopped reading; gave up the flush");
        }
        Poll::Ready(Ok(()))
    }

    /// Ends the transport gracefully: FIN after our last byte, then read and discard until
    /// the peer's EOF (for at most the linger).
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.stream.close().await;
        let Some(linger) = self.flow.shutdown_linger() else {
            return;
        };
        let Transport { stream, flow, .. } = self;
        let discard = async {
            let space = flow.discard_space();
            while let Ok(1..) = stream.read(space).await {}
        };
        discard
            .or(async {
                Timer::after(linger).await;
            })
            .await;
    }
}

fn into_option<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}
