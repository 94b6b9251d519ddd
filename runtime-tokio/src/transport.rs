//! The socket half of a driver, shared by the WebSocket and the JSON-RPC drivers.
//!
//! Both drivers run the core's loop over a socket (TCP or TLS) the same way: read into a buffer
//! that grows and shrinks, write a queue of buffers the core handed out, sleep on one
//! re-armed timer until the core's next deadline, and linger after the close. What they do
//! with events and commands differs; that stays in each driver. The core's [`Machine`] is
//! what this half needs of a state machine, so it works for a `ws::Connection` and an
//! `rpc::Endpoint` alike.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use tether_core::ws::State;
use tether_core::Machine;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Sleep;
use tracing::debug;

use crate::driver::now;
use crate::stream::{Reader, Stream, Writer};

/// First size of the read buffer; it doubles while reads fill it.
const READ_MIN: usize = 8 << 10;
/// The read buffer never grows past this.
const READ_MAX: usize = 256 << 10;
/// Past this many bytes waiting to be written (ours plus the core's), drivers stop taking
/// data commands: callers wait instead of the heap growing.
const HIGH_WATER: usize = 1 << 20;
/// We take bytes from the core only until this many are queued, so a large message
/// stays in the core in frames and a pong or close can still be written between them.
const WRITE_BATCH: usize = 256 << 10;
/// Buffers handed to one vectored write.
const MAX_IOV: usize = 64;

/// Bytes waiting for the socket, written in order and advanced on partial writes so a
/// payload is never copied or re-encoded.
#[derive(Debug, Default)]
struct WriteQueue {
    bufs: VecDeque<Bytes>,
    len: usize,
}

impl WriteQueue {
    fn push(&mut self, buf: Bytes) {
        if !buf.is_empty() {
            self.len += buf.len();
            self.bufs.push_back(buf);
        }
    }

    fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// Points `slices` at the front buffers; returns how many it filled.
    fn fill<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, buf) in slices.iter_mut().zip(&self.bufs) {
            *slot = IoSlice::new(buf);
            n += 1;
        }
        n
    }

    /// Drops the first `n` written bytes.
    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.bufs.front_mut() else {
                break;
            };
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.bufs.pop_front();
        }
    }

    fn clear(&mut self) {
        self.bufs.clear();
        self.len = 0;
    }
}

/// One socket, its buffers and the driver's one timer.
#[derive(Debug)]
pub(crate) struct Transport {
    reader: Reader,
    writer: Writer,
    /// Bytes were written since the last flush into a stream that may hold some back (TLS).
    unflushed: bool,
    read_buf: Vec<u8>,
    /// The peer closed its write side; reading again would only return 0.
    eof: bool,
    queue: WriteQueue,
    /// The one timer, re-armed (not recreated) whenever the deadline moves.
    timer: Pin<Box<Sleep>>,
    deadline: Option<Instant>,
    /// Once the core is closed, how long we keep trying to flush what is left.
    linger: Duration,
    linger_until: Option<Instant>,
    /// We stopped trying to flush: the socket can go whatever the core still holds.
    gave_up: bool,
}

impl Transport {
    /// `linger` bounds the final flush and the wait for the peer's EOF.
    pub(crate) fn new(stream: Stream, linger: Duration) -> Transport {
        let (reader, writer) = stream.split();
        Transport {
            reader,
            writer,
            unflushed: false,
            read_buf: vec![0; READ_MIN],
            eof: false,
            queue: WriteQueue::default(),
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            deadline: None,
            linger,
            linger_until: None,
            gave_up: false,
        }
    }

    /// Takes the core's bytes (up to a batch) into the write queue and re-arms the timer
    /// for the sooner of the core's deadline and the driver's own `extra` one.
    pub(crate) fn drain(&mut self, core: &mut impl Machine, extra: Option<Instant>) {
        while self.queue.len < WRITE_BATCH {
            match core.poll_transmit() {
                Some(bytes) => self.queue.push(bytes),
                None => break,
            }
        }
        if self.linger_until.is_none() && core.state() == State::Closed {
            self.linger_until = Some(now() + self.linger);
        }
        let deadline = [core.poll_timeout(), self.linger_until, extra]
            .into_iter()
            .flatten()
            .min();
        if deadline != self.deadline {
            if let Some(at) = deadline {
                self.timer.as_mut().reset(at.into());
            }
            self.deadline = deadline;
        }
    }

    /// Whether the socket keeps up: false while much is waiting to be written.
    pub(crate) fn has_room(&self, core: &impl Machine) -> bool {
        self.queue.len + core.pending_transmit() < HIGH_WATER
    }

    /// Closed and flushed (or flushing took too long): the socket can go.
    pub(crate) fn finished(&self, core: &impl Machine) -> bool {
        self.gave_up || (core.is_finished() && self.queue.is_empty())
    }

    /// Whether [`step`](Self::step) has anything to wait for; `reading` is the driver's
    /// wish to read (false while it cannot take more events).
    pub(crate) fn is_active(&self, reading: bool) -> bool {
        (reading && !self.eof)
            || !self.queue.is_empty()
            || self.unflushed
            || self.deadline.is_some()
    }

    /// Nothing can ever happen again (no bytes to move, no timer, no handles): the driver
    /// drops the socket.
    pub(crate) fn stalled(&mut self) {
        debug!("driver stalled; dropping the connection");
        self.gave_up = true;
    }

    /// Waits for the first of: bytes to read (if `reading`), the write of the queue's front
    /// (or, once the queue is empty, the flush of what a TLS stream held back), the timer;
    /// and feeds what happened to `core`. Never completes if
    /// [`is_active`](Self::is_active) is false. Cancel-safe: the core is fed only once the
    /// socket has done its part, in the same poll.
    pub(crate) async fn step(&mut self, core: &mut impl Machine, reading: bool) -> io::Result<()> {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let iov = self.queue.fill(&mut slices);
        tokio::select! {
            read = self.reader.read(&mut self.read_buf), if reading && !self.eof => {
                let n = read?;
                let now = now();
                if n == 0 {
                    debug!("peer closed its write side");
                    self.eof = true;
                    core.handle_eof(now);
                } else {
                    core.handle_input(now, &self.read_buf[..n]);
                    self.resize_read_buf(n);
                }
            }
            // One branch for both, as both need the writer: a write while the queue holds
            // bytes, else the flush of what a TLS stream still holds back.
            written = write_or_flush(&mut self.writer, &slices[..iov]), if iov > 0 || self.unflushed => {
                let written = written?;
                if written.taken == 0 && iov > 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                self.queue.advance(written.taken);
                self.unflushed = !written.flushed;
            }
            () = &mut self.timer, if self.deadline.is_some() => {
                let now = now();
                if self.linger_until.is_some_and(|until| until <= now) {
                    debug!(unwritten = self.queue.len, "peer stopped reading; giving up the flush");
                    self.queue.clear();
                    self.unflushed = false;
                    self.gave_up = true;
                }
                // The timer fired, so it is spent until re-armed by the next `drain`.
                self.deadline = None;
                core.handle_timeout(now);
            }
            else => std::future::pending().await,
        }
        Ok(())
    }

    /// The socket failed: nothing more can be written, and the core learns the transport
    /// is gone the only way it can, as an EOF.
    pub(crate) fn fail(&mut self, core: &mut impl Machine) {
        self.queue.clear();
        self.unflushed = false;
        self.eof = true;
        self.gave_up = true;
        core.handle_eof(now());
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
        if self.eof {
            return;
        }
        loop {
            tokio::select! {
                read = self.reader.read(&mut self.read_buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                () = &mut deadline => return,
            }
        }
    }

    /// Doubles the buffer while reads fill it and shrinks it back when they are small, so
    /// an idle connection holds little and a busy one makes few syscalls.
    fn resize_read_buf(&mut self, n: usize) {
        let len = self.read_buf.len();
        if n == len && len < READ_MAX {
            self.read_buf.resize((len * 2).min(READ_MAX), 0);
        } else if n < len / 16 && len > READ_MIN {
            self.read_buf.truncate((len / 2).max(READ_MIN));
            self.read_buf.shrink_to_fit();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(bufs: &[&'static [u8]]) -> WriteQueue {
        let mut q = WriteQueue::default();
        for b in bufs {
            q.push(Bytes::from_static(b));
        }
        q
    }

    #[test]
    fn write_queue_advances_across_buffers() {
        let mut q = queue(&[b"abc", b"", b"defg", b"h"]);
        assert_eq!(q.len, 8);
        q.advance(2);
        q.advance(3);
        assert_eq!(q.len, 3);
        let mut slices = [IoSlice::new(&[]); 4];
        let n = q.fill(&mut slices);
        let rest: Vec<u8> = slices[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(rest, b"fgh");
        q.advance(3);
        assert!(q.is_empty());
        assert_eq!(q.len, 0);
    }

    #[test]
    fn write_queue_fills_at_most_the_slices_given() {
        let q = queue(&[b"a", b"b", b"c"]);
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(q.fill(&mut slices), 2);
    }
}
