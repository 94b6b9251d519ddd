//! The socket half of a driver, shared by every driver: moves bytes between a stream and
//! the core's [`Flow`], and sleeps on one re-armed timer.
//!
//! It reports what happened ([`Transport::wait`]: bytes read, the end of the stream, the
//! timer) and the driver hands that to the core ([`Transport::feed`]), so the core is
//! never borrowed across an await: a driver can hold several transports and one core.
//!
//! The stream is a [`Stream`]: a TCP socket or a TLS session over one, without the
//! drivers knowing. Read and write are polled in the same task, so no split (and no lock)
//! is needed.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tether_core::transmit::{Fired, Flow, MAX_IOV};
use tether_core::Machine;
use tracing::debug;

use crate::runtime::{within, Runtime, Timer};

/// Reads of the discarding end of a [`Transport::shutdown`] between yields.
const DISCARD_BATCH: usize = 16;
use crate::stream::Stream;

/// One stream, the core's bookkeeping of it, and the driver's one timer.
pub(crate) struct Transport<R: Runtime> {
    stream: Stream<R>,
    /// Bytes were written since the last flush into a stream that may hold some back (TLS).
    unflushed: bool,
    /// Bounds the whole shutdown (see [`shutdown`](Self::shutdown)).
    linger: Duration,
    flow: Flow,
    /// Re-armed (not recreated) whenever the deadline moves.
    timer: R::Timer,
}

impl<R: Runtime> std::fmt::Debug for Transport<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("flow", &self.flow)
            .finish_non_exhaustive()
    }
}

/// What a [`Transport::wait`] saw that the core must hear of: bytes read into the flow's
/// buffer (`Some(0)`: the end of the stream), the timer firing.
#[must_use = "the core must be fed what happened"]
#[derive(Debug)]
pub(crate) struct Happened {
    read: Option<usize>,
    fired: bool,
}

impl Happened {
    /// The timer fired: a quiet moment, most often (heartbeats, idle checks), when a
    /// driver may free what a burst grew. On a busy connection it also fires early, about
    /// once per heartbeat interval, when its deadline moved later (see
    /// [`Flow::drain`](tether_core::transmit::Flow::drain)); freeing then gives back only
    /// what is empty.
    pub(crate) fn fired(&self) -> bool {
        self.fired
    }
}

/// What one poll of the stream and the timer brought.
#[derive(Default)]
struct Ready {
    read: Option<io::Result<usize>>,
    written: Option<io::Result<usize>>,
    flushed: Option<io::Result<()>>,
    fired: bool,
}

impl<R: Runtime> Transport<R> {
    /// `linger` bounds the final flush and the wait for the peer's EOF; `write_stall` how
    /// long queued bytes may wait for the socket to take any (a peer that does not read).
    pub(crate) fn new(
        stream: Stream<R>,
        linger: Duration,
        write_stall: Option<Duration>,
    ) -> Transport<R> {
        Transport {
            stream,
            unflushed: false,
            linger,
            flow: Flow::new(linger, write_stall),
            // Polled only once `drain` armed it for a deadline.
            timer: R::timer(R::now()),
        }
    }

    /// Takes the core's bytes and re-arms the timer for the sooner of the core's deadline
    /// and the driver's own `extra` one.
    pub(crate) fn drain(&mut self, core: &mut impl Machine, extra: Option<Instant>) {
        self.drain_at(R::now(), core, extra);
    }

    /// [`drain`](Self::drain) at `now`, for a driver that read the clock already.
    pub(crate) fn drain_at(
        &mut self,
        now: Instant,
        core: &mut impl Machine,
        extra: Option<Instant>,
    ) {
        if let Some(at) = self.flow.drain(now, core, extra) {
            self.timer.reset(at);
        }
    }

    /// Whether the socket keeps up: false while much is waiting to be written.
    pub(crate) fn has_room(&self, core: &impl Machine) -> bool {
        self.flow.has_room(core)
    }

    /// Bytes taken from the core and not yet written: what the core counts as held
    /// outside it.
    pub(crate) fn queued(&self) -> usize {
        self.flow.queued()
    }

    /// Closed and flushed (or flushing took too long): the socket can go.
    pub(crate) fn finished(&self, core: &impl Machine) -> bool {
        self.flow.finished(core)
    }

    /// Whether [`wait`](Self::wait) has anything to wait for; `reading` is the driver's
    /// wish to read (false while it cannot take more events).
    pub(crate) fn is_active(&self, reading: bool) -> bool {
        self.flow.is_active(reading) || self.unflushed
    }

    /// Nothing can ever happen again: the driver drops the socket.
    /// The core hears of it as the end of the stream, and so ends (and says so) itself.
    pub(crate) fn stalled(&mut self, core: &mut impl Machine) {
        debug!("driver stalled; dropping the connection");
        self.fail(core);
    }

    /// The socket failed: the core learns the transport is gone, as an EOF.
    pub(crate) fn fail(&mut self, core: &mut impl Machine) {
        self.unflushed = false;
        self.flow.fail(R::now(), core);
    }

    /// Waits for bytes to read (if `reading`), the write of the queue's front (or, once the
    /// queue is empty, the flush of what a TLS stream held back), or the timer, and says
    /// what happened; writes are done with by then, reads and the timer are for
    /// [`feed`](Self::feed) to tell the core. The core is not borrowed while this waits, so
    /// a driver can feed it other inputs meanwhile. Never completes if
    /// [`is_active`](Self::is_active) is false. Cancel-safe: it completes in the same poll
    /// the stream did its part.
    pub(crate) async fn wait(&mut self, reading: bool) -> io::Result<Happened> {
        poll_fn(|cx| self.poll_wait(cx, reading)).await
    }

    /// Tells `core` what [`wait`](Self::wait) saw: the bytes read (or the end of the
    /// stream), and the timer.
    pub(crate) fn feed(&mut self, core: &mut impl Machine, happened: Happened) {
        self.feed_at(R::now(), core, happened);
    }

    /// [`feed`](Self::feed) at `now`, for a driver that read the clock already.
    pub(crate) fn feed_at(&mut self, now: Instant, core: &mut impl Machine, happened: Happened) {
        if let Some(n) = happened.read {
            if n == 0 {
                debug!("peer closed its write side");
            }
            self.flow.on_read(now, core, n);
        }
        if happened.fired {
            match self.flow.on_timer(now, core) {
                Fired::Deadline => {}
                Fired::GaveUp => {
                    debug!("peer stopped reading; gave up the flush");
                    self.unflushed = false;
                }
                Fired::Stalled => {
                    debug!("peer took none of our bytes for the write-stall timeout; dropped");
                    self.unflushed = false;
                }
            }
        }
    }

    /// [`wait`](Self::wait) as a poll.
    pub(crate) fn poll_wait(
        &mut self,
        cx: &mut Context<'_>,
        reading: bool,
    ) -> Poll<io::Result<Happened>> {
        let wants_read = self.flow.wants_read(reading);
        let armed = self.flow.deadline().is_some();
        let mut ready = Ready::default();
        {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let iov = self.flow.write_slices(&mut slices);
            // Every direction is polled each time, so a flood one way never starves the other.
            let stream = Pin::new(&mut self.stream);
            if iov > 0 {
                ready.written = into_option(stream.poll_write_vectored(cx, &slices[..iov]));
            } else if self.unflushed {
                ready.flushed = into_option(stream.poll_flush(cx));
            }
        }
        if wants_read {
            ready.read = self.poll_read(cx);
        }
        if armed {
            ready.fired = self.timer.poll_fired(cx).is_ready();
        }
        let Ready {
            read,
            written,
            flushed,
            fired,
        } = ready;
        if read.is_none() && written.is_none() && flushed.is_none() && !fired {
            return Poll::Pending;
        }
        if let Some(written) = written {
            self.flow.on_written(R::now(), written?)?;
            self.unflushed = self.stream.buffers();
        }
        if let Some(flushed) = flushed {
            flushed?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(Happened {
            read: read.transpose()?,
            fired,
        }))
    }

    /// Reads into the flow's buffer. Over plain TCP the buffer exists only while there is
    /// something to read: a read that finds the socket drained frees it (unless the
    /// connection reads often: see [`Flow::read_drained`](tether_core::transmit::Flow::read_drained)),
    /// and the next one first waits for the socket to be readable
    /// ([`Runtime::poll_readable`]) with no buffer, so an idle connection holds none,
    /// however recently a heartbeat came. A TLS session may hold decrypted bytes the
    /// socket's readiness knows nothing of, so it always reads into a buffer at once: a
    /// wss:// connection keeps its read buffer (the least size once quiet) while idle.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Option<io::Result<usize>> {
        let tcp = matches!(self.stream, Stream::Tcp(_));
        if let Stream::Tcp(tcp) = &self.stream {
            if self.flow.read_released() {
                match R::poll_readable(tcp, cx) {
                    Poll::Pending => return None,
                    Poll::Ready(Err(e)) => return Some(Err(e)),
                    Poll::Ready(Ok(())) => {}
                }
            }
        }
        let space = self.flow.read_space();
        match Pin::new(&mut self.stream).poll_read(cx, space) {
            Poll::Ready(read) => Some(read),
            Poll::Pending => {
                if tcp {
                    // Drained: what was read before went to the core already (a wait's
                    // read is fed before the next wait), and this read armed the wait.
                    self.flow.read_drained();
                }
                None
            }
        }
    }

    /// Ends the transport gracefully: FIN after our last byte (for TLS, after the records
    /// it still holds and its close_notify), then read and discard until the peer's EOF,
    /// all within one linger.
    pub(crate) async fn shutdown(&mut self) {
        let Transport {
            stream,
            flow,
            linger,
            ..
        } = self;
        let limit = *linger;
        // Bounded as a whole: TLS has bytes to write before its FIN, and a peer that
        // stopped reading would hold them (and this task) forever.
        let end = async {
            let _ = stream.close().await;
            if flow.shutdown_linger().is_none() {
                return;
            }
            let space = flow.discard_space();
            let mut reads = 0usize;
            while let Ok(1..) = stream.read(space).await {
                reads += 1;
                if reads % DISCARD_BATCH == 0 {
                    // A peer that keeps sending would keep this read ready and the linger
                    // unpolled (async-io's reads have no budget), holding the thread: on a
                    // refusal, that is the accepting task's (see `spawn_accepted`).
                    futures_lite::future::yield_now().await;
                }
            }
        };
        within::<R, ()>(limit, end).await;
    }
}

fn into_option<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}
