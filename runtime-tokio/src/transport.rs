//! The socket half of a driver, shared by the WebSocket and the JSON-RPC drivers.
//!
//! Both drivers run the core's loop over a socket (TCP or TLS) the same way: read into a buffer
//! that grows and shrinks, write a queue of buffers the core handed out, sleep on one
//! re-armed timer until the core's next deadline, and linger after the close. That
//! bookkeeping is the core's [`Flow`], shared with every adapter; this half moves bytes
//! between it and the socket, and flushes what a TLS stream holds back. What they do
//! with events and commands differs; that stays in each driver. The core's [`Machine`] is
//! what this half needs of a state machine, so it works for a `ws::Connection` and an
//! `rpc::Endpoint` alike.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use tether_core::transmit::{Fired, Flow, MAX_IOV};
use tether_core::Machine;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Sleep;
use tracing::debug;

use crate::driver::now;
use crate::stream::{Reader, Stream, Writer};

/// One socket, the core's bookkeeping of it ([`Flow`]) and the driver's one timer.
#[derive(Debug)]
pub(crate) struct Transport {
    reader: Reader,
    writer: Writer,
    /// Bytes were written since the last flush into a stream that may hold some back (TLS).
    unflushed: bool,
    flow: Flow,
    /// The one timer, re-armed (not recreated) whenever the deadline moves.
    timer: Pin<Box<Sleep>>,
    /// Bounds the whole shutdown: TLS's last records and the wait for the peer's EOF.
    linger: Duration,
}

impl Transport {
    /// `linger` bounds the final flush and the wait for the peer's EOF.
    pub(crate) fn new(stream: Stream, linger: Duration) -> Transport {
        let (reader, writer) = stream.split();
        Transport {
            reader,
            writer,
            unflushed: false,
            flow: Flow::new(linger),
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            linger,
        }
    }

    /// Takes the core's bytes (up to a batch) into the write queue and re-arms the timer
    /// for the sooner of the core's deadline and the driver's own `extra` one.
    pub(crate) fn drain(&mut self, core: &mut impl Machine, extra: Option<Instant>) {
        if let Some(at) = self.flow.drain(now(), core, extra) {
            self.timer.as_mut().reset(at.into());
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
        self.flow.is_active(reading) || self.unflushed
    }

    /// Nothing can ever happen again (no bytes to move, no timer, no handles): the driver
    /// drops the socket.
    pub(crate) fn stalled(&mut self) {
        debug!("driver stalled; dropping the connection");
        self.flow.stalled();
    }

    /// Waits for the first of: bytes to read (if `reading`), the write of the queue's front
    /// (or, once the queue is empty, the flush of what a TLS stream held back), the timer;
    /// and feeds what happened to `core`. Never completes if
    /// [`is_active`](Self::is_active) is false. Cancel-safe: the core is fed only once the
    /// socket has done its part, in the same poll.
    pub(crate) async fn step(&mut self, core: &mut impl Machine, reading: bool) -> io::Result<()> {
        let wants_read = self.flow.wants_read(reading);
        let armed = self.flow.deadline().is_some();
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let (space, iov) = self.flow.buffers(&mut slices);
        // What the socket did, fed to the flow (and so the core) once its borrows end.
        enum Done {
            Read(usize),
            Written(Written),
            Fired,
        }
        let done = tokio::select! {
            read = self.reader.read(space), if wants_read => Done::Read(read?),
            // One branch for both, as both need the writer: a write while the queue holds
            // bytes, else the flush of what a TLS stream still holds back.
            written = write_or_flush(&mut self.writer, &slices[..iov]), if iov > 0 || self.unflushed => {
                Done::Written(written?)
            }
            () = &mut self.timer, if armed => Done::Fired,
            else => std::future::pending().await,
        };
        match done {
            Done::Read(n) => {
                if n == 0 {
                    debug!("peer closed its write side");
                }
                self.flow.on_read(now(), core, n);
            }
            Done::Written(written) => {
                if iov > 0 {
                    self.flow.on_written(written.taken)?;
                }
                self.unflushed = !written.flushed;
            }
            Done::Fired => {
                if self.flow.on_timer(now(), core) == Fired::GaveUp {
                    debug!("peer stopped reading; gave up the flush");
                    self.unflushed = false;
                }
            }
        }
        Ok(())
    }

    /// The socket failed: nothing more can be written, and the core learns the transport
    /// is gone the only way it can, as an EOF.
    pub(crate) fn fail(&mut self, core: &mut impl Machine) {
        self.unflushed = false;
        self.flow.fail(now(), core);
    }

    /// Ends the transport gracefully: FIN after our last byte (for TLS, after the records
    /// it still holds and its close_notify), then read and discard until the peer's EOF, all
    /// within `linger`. Dropping a socket with unread input makes the kernel send a reset,
    /// which can destroy our close frame before the peer reads it.
    pub(crate) async fn shutdown(&mut self) {
        let deadline = tokio::time::sleep(self.linger);
        tokio::pin!(deadline);
        // Bounded: TLS has bytes to write first, and a peer that stopped reading would
        // hold them (and this task) forever.
        tokio::select! {
            _ = self.writer.shutdown() => {}
            () = &mut deadline => return,
        }
        if self.flow.shutdown_linger().is_none() {
            return;
        }
        let space = self.flow.discard_space();
        loop {
            tokio::select! {
                read = self.reader.read(space) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                () = &mut deadline => return,
            }
        }
    }
}

/// What one [`write_or_flush`] did.
struct Written {
    /// Bytes of the slices the stream took.
    taken: usize,
    /// Nothing the stream took is held back any more.
    flushed: bool,
}

/// Writes `slices`, or only flushes if there are none. A TLS stream takes bytes into
/// records it may not get onto the socket yet, and only a flush (or the next write) sends
/// those; so after a write it is flushed at once, in the same poll, and only a flush that
/// has to wait for the socket costs a turn of the driver's loop of its own.
fn write_or_flush<'a>(
    writer: &'a mut Writer,
    slices: &'a [IoSlice<'a>],
) -> impl Future<Output = io::Result<Written>> + 'a {
    std::future::poll_fn(move |cx| {
        let mut writer = Pin::new(&mut *writer);
        let taken = if slices.is_empty() {
            0
        } else {
            match writer.as_mut().poll_write_vectored(cx, slices) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        };
        if !writer.buffers() {
            return Poll::Ready(Ok(Written {
                taken,
                flushed: true,
            }));
        }
        match writer.poll_flush(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(Written {
                taken,
                flushed: true,
            })),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The bytes were taken all the same: report them, and flush again later.
            Poll::Pending if taken > 0 => Poll::Ready(Ok(Written {
                taken,
                flushed: false,
            })),
            Poll::Pending => Poll::Pending,
        }
    })
}
