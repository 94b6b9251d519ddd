//! The socket half of a driver loop, without the socket.
//!
//! Every adapter runs the loop of the crate docs over a byte stream the same way: read
//! into a buffer that grows while reads fill it and shrinks when they are small, write a
//! queue of the buffers [`Machine::poll_transmit`] handed out (advancing on partial
//! writes, never copying), sleep until the machine's next deadline, after the close
//! keep flushing for a bounded while, and drop a peer that leaves our writes unread past
//! the write-stall timeout. [`Flow`] holds that bookkeeping, so an adapter only
//! moves bytes between its socket and these buffers and arms one timer. It is pure: the
//! adapter passes `now` and the outcome of each read, write and timer.
//!
//! ```
//! use std::io::IoSlice;
//! use std::time::{Duration, Instant};
//! use tether_core::transmit::{Flow, MAX_IOV};
//! use tether_core::{handshake::ClientRequest, Config, Connection};
//!
//! let now = Instant::now();
//! let request = ClientRequest { host: "node-2".into(), path: "/".into(), ..Default::default() };
//! let mut conn = Connection::client(now, Config::default(), request, [7; 32]).unwrap();
//! let mut flow = Flow::new(Duration::from_secs(1), Some(Duration::from_secs(30)));
//! flow.drain(now, &mut conn, None);
//! // A socket that took 10 bytes of the upgrade request:
//! let mut slices = [IoSlice::new(&[]); MAX_IOV];
//! let (_read_space, iov) = flow.buffers(&mut slices);
//! assert!(iov > 0 && slices[0].starts_with(b"GET / HTTP/1.1"));
//! flow.on_written(now, 10).unwrap();
//! assert!(flow.is_active(true));
//! ```

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};

use crate::ws::State;
use crate::Machine;

/// First size of the read buffer; it doubles while reads fill it.
pub const READ_MIN: usize = 8 << 10;
/// The read buffer never grows past this.
pub const READ_MAX: usize = 256 << 10;
/// Reads this many in a row that use less than a sixteenth of the read buffer halve it.
/// Not one: a message a little larger than the buffer is read as a full read and a small
/// rest, and halving on the rest would make every such message take two reads.
const SMALL_READS_TO_SHRINK: u8 = 4;
/// Reads closer together than this are a busy connection's: its read buffer is kept when
/// a read finds the socket drained (freeing and zeroing it again for every message would
/// cost more than it saves). Farther apart (a heartbeat's pong), it is freed.
const BUSY_READ_GAP: Duration = Duration::from_secs(1);
/// Past this many bytes waiting to be written (the queue's plus the machine's), drivers
/// stop taking data commands: callers wait instead of the heap growing.
pub const HIGH_WATER: usize = 1 << 20;
/// Bytes are taken from the machine only until this many are queued, so a large message
/// stays in the machine in frames and a pong or close can still be written between them.
pub const WRITE_BATCH: usize = 256 << 10;
/// Buffers handed to one vectored write.
pub const MAX_IOV: usize = 64;

/// Bytes waiting for the socket, written in order and advanced on partial writes so a
/// payload is never copied or re-encoded.
#[derive(Debug, Default)]
pub struct WriteQueue {
    bufs: VecDeque<Bytes>,
    len: usize,
}

impl WriteQueue {
    /// Queues `buf` after everything already queued (an empty one is skipped).
    pub fn push(&mut self, buf: Bytes) {
        if !buf.is_empty() {
            self.len += buf.len();
            self.bufs.push_back(buf);
        }
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// Points `slices` at the front buffers, for one vectored write; returns how many it
    /// filled.
    pub fn fill<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, buf) in slices.iter_mut().zip(&self.bufs) {
            *slot = IoSlice::new(buf);
            n += 1;
        }
        n
    }

    /// Drops the first `n` bytes, which were written. More than is queued empties it.
    pub fn advance(&mut self, mut n: usize) {
        self.len = self.len.saturating_sub(n);
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

    /// Frees the queue's spare capacity if it is empty.
    pub fn release_idle(&mut self) {
        if self.bufs.is_empty() {
            self.bufs = VecDeque::new();
        }
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.bufs.clear();
        self.len = 0;
    }
}

/// The buffer reads go into: [`READ_MIN`] at first, doubled (up to [`READ_MAX`]) while
/// reads fill it, halved when four in a row use less than a sixteenth, so a busy connection makes
/// few syscalls. It is allocated when a read needs it and [`release`](Self::release)d
/// when the connection is quiet (see [`Flow`]), so an idle connection holds no read
/// buffer at all (an adapter whose socket can say "readable" without a buffer waits on
/// that before it asks for the space; see [`Flow::read_allocated`]).
#[derive(Debug)]
pub struct ReadBuffer {
    /// Empty while released.
    buf: Vec<u8>,
    /// The size the next allocation gets: where the adaptation left it.
    size: usize,
    /// Reads in a row that used less than a sixteenth of it.
    small_reads: u8,
    /// Freed after use, and not allocated again since.
    released: bool,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        ReadBuffer {
            buf: Vec::new(),
            size: READ_MIN,
            small_reads: 0,
            released: false,
        }
    }
}

impl ReadBuffer {
    /// Where the next read goes (allocated now if it was released).
    pub fn space(&mut self) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = vec![0; self.size];
            self.released = false;
        }
        &mut self.buf
    }

    /// The size of a read into [`space`](Self::space) (whether or not it is allocated now).
    pub fn capacity(&self) -> usize {
        self.size
    }

    /// Bytes allocated now: 0 once released.
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Frees the buffer; the next [`space`](Self::space) allocates it again, at the size
    /// the reads so far called for. Whatever it held is gone: call it only once the last
    /// read was handed on.
    pub fn release(&mut self) {
        self.buf = Vec::new();
        self.released = true;
        // Freed because the connection went quiet: whatever size a burst grew is not what
        // its next read (a heartbeat's pong) needs. A new burst doubles it back in a few
        // reads.
        self.size = READ_MIN;
        self.small_reads = 0;
    }

    /// Freed after use, and not allocated again since.
    pub fn released(&self) -> bool {
        self.released
    }

    /// The first `n` bytes, which a read just filled, and then adapts the size to that
    /// read (for the next one).
    pub fn filled(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.buf.len());
        self.adapt(n);
        &self.buf[..n]
    }

    fn adapt(&mut self, n: usize) {
        let len = self.buf.len();
        if len == 0 {
            // Released: no read went into it.
            return;
        }
        if n >= len / 16 {
            self.small_reads = 0;
        } else {
            self.small_reads = self.small_reads.saturating_add(1);
        }
        if n == len && len < READ_MAX {
            self.size = (len * 2).min(READ_MAX);
            self.buf.resize(self.size, 0);
        } else if self.small_reads >= SMALL_READS_TO_SHRINK && len > READ_MIN {
            self.small_reads = 0;
            // Bytes past `n` may go: the read only filled `n`.
            self.size = (len / 2).max(READ_MIN).max(n);
            self.buf.truncate(self.size);
            self.buf.shrink_to_fit();
        }
    }
}

/// What happened when a [`Flow`]'s timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fired {
    /// The machine's deadline (or the driver's own): the machine has been told.
    Deadline,
    /// The linger after the close ran out with bytes unwritten: the peer stopped reading,
    /// and the flush was given up.
    GaveUp,
    /// Bytes waited for the socket and none was written for the write-stall timeout: the
    /// peer does not read. The machine was told the transport is gone (as an EOF).
    Stalled,
}

/// The bookkeeping of one socket between a [`Machine`] and its transport: the read
/// buffer, the write queue, the one deadline to sleep until, end of stream, the
/// write-stall timeout, and the bounded flush after the machine closed. See the module docs.
///
/// An adapter's loop around it:
/// 1. [`drain`](Self::drain) after every input; re-arm the timer if it returns a time.
/// 2. Stop when [`finished`](Self::finished); then [`shutdown_linger`](Self::shutdown_linger)
///    bounds the wait for the peer's EOF.
/// 3. Wait (only if [`is_active`](Self::is_active)) for the first of: a read into
///    [`buffers`](Self::buffers)' space (if [`wants_read`](Self::wants_read)), a vectored
///    write of its slices, the timer (if [`deadline`](Self::deadline) is set); report it
///    with [`on_read`](Self::on_read), [`on_written`](Self::on_written) or
///    [`on_timer`](Self::on_timer), or a socket error with [`fail`](Self::fail).
#[derive(Debug)]
pub struct Flow {
    read: ReadBuffer,
    queue: WriteQueue,
    /// The peer closed its write side; reading again would only return 0.
    eof: bool,
    /// What the timer waits for: the sooner of the machine's deadline, the linger's, the
    /// stall's and the driver's own, as of the last `drain`; `None` while nothing is
    /// awaited (and once the timer fired for it, until the next `drain`).
    deadline: Option<Instant>,
    /// When the runtime's timer is set to fire; `None` while it is spent or was never set.
    /// At or before `deadline`: a deadline that moves later leaves the timer as it is (a
    /// runtime may wake a parked thread for every re-arm), and a fire before the deadline
    /// only re-arms it.
    armed: Option<Instant>,
    /// Once the machine is closed, how long we keep trying to flush what is left.
    linger: Duration,
    linger_until: Option<Instant>,
    /// We stopped trying to flush: the socket can go whatever the machine still holds.
    gave_up: bool,
    /// How long queued bytes may wait without any being written; `None`: for ever.
    stall: Option<Duration>,
    /// While bytes are queued: when the socket last took some (or, if it has taken none
    /// since the queue was empty, when they were queued).
    progress_at: Option<Instant>,
    /// The machine wants input (within its budget), as of the last `drain`.
    machine_reads: bool,
    /// Drains seen with the machine open and nothing queued, up to the second, at which
    /// what the opening grew is freed (see [`Machine::release_idle`]). The second, not the
    /// first: a driver takes the events of the opening after the drain that saw it open.
    quiet_open_drains: u8,
    /// When the last read brought bytes, and how long before it the one before did.
    last_read_at: Option<Instant>,
    read_gap: Option<Duration>,
}

impl Flow {
    /// `linger` bounds the final flush and the wait for the peer's EOF; `write_stall`
    /// how long queued bytes may wait without the socket taking any (see
    /// [`ws::Config::write_stall_timeout`](crate::ws::Config::write_stall_timeout)).
    pub fn new(linger: Duration, write_stall: Option<Duration>) -> Flow {
        Flow {
            read: ReadBuffer::default(),
            queue: WriteQueue::default(),
            eof: false,
            deadline: None,
            armed: None,
            linger,
            linger_until: None,
            gave_up: false,
            stall: write_stall,
            progress_at: None,
            machine_reads: true,
            quiet_open_drains: 0,
            last_read_at: None,
            read_gap: None,
        }
    }

    /// Takes the machine's bytes (up to [`WRITE_BATCH`] queued) and works out the next
    /// deadline: the sooner of the machine's, the linger's and the driver's own `extra`.
    /// Returns it if the timer must be re-armed for it: it is not armed, or armed for
    /// later. A deadline later than the timer leaves it be; it fires early, and
    /// [`on_timer`](Self::on_timer) then only lets the next `drain` re-arm it.
    pub fn drain(
        &mut self,
        now: Instant,
        core: &mut impl Machine,
        extra: Option<Instant>,
    ) -> Option<Instant> {
        while self.queue.len() < WRITE_BATCH {
            match core.poll_transmit() {
                Some(bytes) => self.queue.push(bytes),
                None => break,
            }
        }
        if self.queue.is_empty() {
            self.progress_at = None;
        } else if self.progress_at.is_none() {
            self.progress_at = Some(now);
        }
        self.machine_reads = core.wants_input();
        if self.quiet_open_drains < 2 && self.queue.is_empty() && core.state() == State::Open {
            self.quiet_open_drains += 1;
            if self.quiet_open_drains == 2 {
                // The handshake's buffers are written and read: an idle connection keeps none.
                self.release_idle(core);
            }
        }
        if self.linger_until.is_none() && core.state() == State::Closed {
            self.linger_until = now.checked_add(self.linger);
        }
        let deadline = [
            core.poll_timeout(),
            self.linger_until,
            self.stalled_at(),
            extra,
        ]
        .into_iter()
        .flatten()
        .min();
        self.deadline = deadline;
        match deadline {
            Some(at) if self.armed.is_none_or(|armed| at < armed) => {
                self.armed = Some(at);
                Some(at)
            }
            _ => None,
        }
    }

    /// When the timer should fire; `None` while nothing is awaited.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// When the queued bytes count as stalled if the socket takes none before.
    fn stalled_at(&self) -> Option<Instant> {
        if self.gave_up {
            return None;
        }
        self.progress_at?.checked_add(self.stall?)
    }

    /// Whether the socket keeps up: false while much is waiting to be written.
    pub fn has_room(&self, core: &impl Machine) -> bool {
        self.queue.len() + core.pending_transmit() < HIGH_WATER
    }

    /// Closed and flushed (or flushing took too long): the socket can go.
    pub fn finished(&self, core: &impl Machine) -> bool {
        self.gave_up || (core.is_finished() && self.queue.is_empty())
    }

    /// Whether a read is worth waiting for; `reading` is the driver's wish to read (false
    /// while it cannot take more events). The machine's own wish counts too: past its
    /// budget ([`Machine::wants_input`], as of the last [`drain`](Self::drain)) the peer
    /// waits in the socket.
    pub fn wants_read(&self, reading: bool) -> bool {
        reading && !self.eof && self.machine_reads
    }

    /// Whether there is anything to wait for: a read, a write or the timer.
    pub fn is_active(&self, reading: bool) -> bool {
        self.wants_read(reading) || !self.queue.is_empty() || self.deadline.is_some()
    }

    /// The peer's write side is closed.
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// Bytes queued for the socket.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Where the next read goes (the read buffer, allocated now if it was released), and
    /// the queue's front buffers in `slices` for the next write (how many: zero means
    /// nothing to write).
    pub fn buffers<'a>(&'a mut self, slices: &mut [IoSlice<'a>]) -> (&'a mut [u8], usize) {
        let iov = self.queue.fill(slices);
        (self.read.space(), iov)
    }

    /// The queue's front buffers in `slices`, for the next write; how many (zero: nothing
    /// to write).
    pub fn write_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        self.queue.fill(slices)
    }

    /// Where the next read goes: the read buffer, allocated now if it was released.
    pub fn read_space(&mut self) -> &mut [u8] {
        self.read.space()
    }

    /// A read returned `n` bytes (0: end of stream); the machine gets them.
    pub fn on_read(&mut self, now: Instant, core: &mut impl Machine, n: usize) {
        if n == 0 {
            self.eof = true;
            core.handle_eof(now);
        } else {
            self.read_gap = self
                .last_read_at
                .map(|at| now.saturating_duration_since(at));
            self.last_read_at = Some(now);
            core.handle_input(now, self.read.filled(n));
        }
    }

    /// A write took `n` bytes off the front of the queue at `now`: progress, for the
    /// write-stall timeout. A write of nothing, while there was something to write, is an
    /// error: the socket will never take more.
    pub fn on_written(&mut self, now: Instant, n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.queue.advance(n);
        self.progress_at = (!self.queue.is_empty()).then_some(now);
        Ok(())
    }

    /// The timer fired: the machine gets its timeout, and past the linger the flush is
    /// given up. The timer is spent until [`drain`](Self::drain) re-arms it. Before the
    /// deadline (it moved later after the timer was set), nothing else happens: the next
    /// `drain` re-arms the timer for it.
    pub fn on_timer(&mut self, now: Instant, core: &mut impl Machine) -> Fired {
        self.armed = None;
        if self.deadline.is_some_and(|at| at > now) {
            return Fired::Deadline;
        }
        let mut fired = Fired::Deadline;
        if self.stalled_at().is_some_and(|at| at <= now) {
            // The peer does not read: no close handshake can reach it either.
            self.deadline = None;
            self.fail(now, core);
            return Fired::Stalled;
        }
        if self.linger_until.is_some_and(|until| until <= now) {
            self.queue.clear();
            self.gave_up = true;
            fired = Fired::GaveUp;
        }
        self.deadline = None;
        core.handle_timeout(now);
        if self.queue.is_empty() {
            // Seldom (heartbeats, idle checks), and quiet: a good time to free what a
            // burst grew.
            self.release_idle(core);
        }
        fired
    }

    /// Frees the read buffer (a read's bytes are handed to the machine before the next
    /// input, so it holds none now), and what the empty write queue and the machine's
    /// empty buffers hold. Not after every read: a busy connection would allocate its read
    /// buffer again for every message.
    fn release_idle(&mut self, core: &mut impl Machine) {
        self.read.release();
        self.queue.release_idle();
        core.release_idle();
    }

    /// Nothing can ever happen again (no bytes to move, no timer, no handles): the socket
    /// can go.
    pub fn stalled(&mut self) {
        self.gave_up = true;
    }

    /// The socket failed: nothing more can be written, and the machine learns the transport
    /// is gone the only way it can, as an end of stream.
    pub fn fail(&mut self, now: Instant, core: &mut impl Machine) {
        self.queue.clear();
        self.progress_at = None;
        self.eof = true;
        self.gave_up = true;
        core.handle_transport_lost(now);
    }

    /// How long to wait for the peer's EOF after our FIN, reading and discarding, before
    /// dropping the socket (`None`: the peer's EOF already came). Dropping a socket with
    /// unread input makes the kernel send a reset, which can destroy our close frame
    /// before the peer reads it.
    pub fn shutdown_linger(&self) -> Option<Duration> {
        (!self.eof).then_some(self.linger)
    }

    /// Scratch space for the reads that wait for the peer's EOF after shutdown.
    pub fn discard_space(&mut self) -> &mut [u8] {
        self.read.space()
    }

    /// Whether the read buffer is allocated now. A quiet connection's is not (the flow
    /// frees it once the connection is open and quiet, and when a timer fires with
    /// nothing to write); an adapter whose socket can say "readable" without a buffer
    /// waits for that before it asks for [`read_space`](Self::read_space), which
    /// allocates it again.
    pub fn read_allocated(&self) -> bool {
        self.read.allocated() > 0
    }

    /// The read buffer was freed (a drained read, a quiet time) and not allocated again:
    /// an adapter whose socket can say "readable" without a buffer waits for that before
    /// it asks for [`read_space`](Self::read_space). A new connection's first read is tried
    /// at once: its peer has usually sent already.
    pub fn read_released(&self) -> bool {
        self.read.released()
    }

    /// A read found the socket drained (the last read's bytes went to the machine): frees
    /// the read buffer unless the connection reads often (its last two reads less than a
    /// second apart), for an adapter that can wait for readability without a buffer. An
    /// idle connection woken by a heartbeat holds no buffer between beats; a busy one keeps
    /// it between messages, and the flow frees it once quiet (when a timer fires with
    /// nothing to write).
    pub fn read_drained(&mut self) {
        if self.read_gap.is_none_or(|gap| gap >= BUSY_READ_GAP) {
            self.read.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::ClientRequest;
    use crate::{Config, Connection};

    fn queue(bufs: &[&'static [u8]]) -> WriteQueue {
        let mut q = WriteQueue::default();
        for b in bufs {
            q.push(Bytes::from_static(b));
        }
        q
    }

    fn written(q: &WriteQueue) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = q.fill(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn write_queue_advances_across_buffers() {
        let mut q = queue(&[b"abc", b"", b"defg", b"h"]);
        assert_eq!(q.len(), 8);
        q.advance(2);
        q.advance(3);
        assert_eq!(q.len(), 3);
        assert_eq!(written(&q), b"fgh");
        q.advance(3);
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn write_queue_fills_at_most_the_slices_given() {
        let q = queue(&[b"a", b"b", b"c"]);
        let mut slices = [IoSlice::new(&[]); 2];
        assert_eq!(q.fill(&mut slices), 2);
    }

    #[test]
    fn write_queue_advance_past_the_end_empties_it() {
        let mut q = queue(&[b"ab", b"c"]);
        q.advance(10);
        assert!(q.is_empty());
        assert_eq!(q.len(), 0);
        assert_eq!(written(&q), b"");
    }

    #[test]
    fn read_buffer_grows_while_reads_fill_it_and_shrinks_when_idle() {
        let mut buf = ReadBuffer::default();
        assert_eq!(buf.capacity(), READ_MIN);
        let mut sizes = vec![];
        for _ in 0..10 {
            let full = buf.space().len();
            buf.filled(full);
            sizes.push(buf.capacity());
        }
        assert_eq!(sizes[0], 2 * READ_MIN);
        assert_eq!(*sizes.last().unwrap_or(&0), READ_MAX, "{sizes:?}");
        // Small reads in a row halve it, back down to the minimum and no further.
        for _ in 0..6 * SMALL_READS_TO_SHRINK {
            buf.space();
            buf.filled(1);
        }
        assert_eq!(buf.capacity(), READ_MIN);
        // A middling read leaves it as it is.
        buf.filled(READ_MIN / 2);
        assert_eq!(buf.capacity(), READ_MIN);
    }

    #[test]
    fn read_buffer_keeps_its_size_for_messages_a_little_larger_than_it() {
        // 16 KiB messages (and their 4-byte headers) into a 16 KiB buffer: the first fills
        // it, which doubles it, and the message's last bytes come in a small read. Halving
        // on that one read would take every message back to two reads.
        let mut buf = ReadBuffer::default();
        let full = buf.space().len();
        buf.filled(full);
        let full = buf.space().len();
        assert_eq!(full, 16 << 10);
        buf.filled(full);
        buf.space();
        buf.filled(4);
        for _ in 0..100 {
            let room = buf.space().len();
            assert!(room > 16 << 10, "a message takes two reads into {room}");
            buf.filled((16 << 10) + 4);
        }
    }

    #[test]
    fn a_drained_read_frees_the_buffer_of_an_idle_connection_only() {
        let now = origin();
        let mut conn = client(now);
        let mut flow = Flow::new(Duration::from_secs(1), None);
        // The first read has none before it: freed.
        flow.read_space();
        flow.on_read(now, &mut conn, 1);
        flow.read_drained();
        assert!(!flow.read_allocated());
        // Reads a millisecond apart: a busy connection keeps its buffer.
        for i in 1..4 {
            flow.read_space();
            flow.on_read(now + Duration::from_millis(i), &mut conn, 1);
            flow.read_drained();
            assert!(flow.read_allocated(), "read {i}");
        }
        // A read a heartbeat later: freed once drained.
        flow.read_space();
        flow.on_read(now + Duration::from_secs(20), &mut conn, 1);
        flow.read_drained();
        assert!(!flow.read_allocated());
    }

    #[test]
    fn read_buffer_is_allocated_on_demand_and_released_at_the_least_size() {
        let mut buf = ReadBuffer::default();
        assert_eq!(buf.allocated(), 0, "nothing before the first read");
        assert!(!buf.released(), "a first read needs no readiness wait");
        let full = buf.space().len();
        assert_eq!(full, READ_MIN);
        buf.filled(full);
        assert_eq!(buf.capacity(), 2 * READ_MIN);
        buf.release();
        assert_eq!(buf.allocated(), 0);
        assert!(buf.released());
        // A quiet connection's next read (a pong) needs no more than the least.
        assert_eq!(buf.space().len(), READ_MIN);
        assert!(!buf.released());
    }

    #[test]
    fn flow_releases_its_read_buffer_and_allocates_it_again_for_a_read() {
        let mut flow = Flow::new(Duration::from_secs(1), None);
        assert!(!flow.read_allocated());
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let (space, _) = flow.buffers(&mut slices);
        assert_eq!(space.len(), READ_MIN);
        assert!(flow.read_allocated());
        // A drained read with no read before it: nothing says the connection is busy.
        flow.read_drained();
        assert!(!flow.read_allocated());
        assert!(flow.read_released());
    }

    #[test]
    fn flow_frees_the_read_buffer_when_a_timer_fires_with_nothing_to_write() {
        let now = origin();
        let mut conn = client(now);
        let mut flow = Flow::new(Duration::from_secs(1), None);
        // The driver's own deadline: the machine's handshake timeout is far later.
        let tick = now + Duration::from_millis(1);
        flow.drain(now, &mut conn, Some(tick));
        assert_eq!(flow.read_space().len(), READ_MIN);
        // The upgrade request is still queued: the buffer stays.
        assert_eq!(flow.on_timer(tick, &mut conn), Fired::Deadline);
        assert!(flow.read_allocated());
        let queued = flow.queued();
        assert!(flow.on_written(tick, queued).is_ok());
        assert_eq!(flow.drain(tick, &mut conn, Some(tick)), Some(tick));
        assert_eq!(flow.on_timer(tick, &mut conn), Fired::Deadline);
        assert!(!flow.read_allocated());
    }

    #[test]
    fn read_buffer_keeps_what_a_read_filled() {
        let mut buf = ReadBuffer::default();
        buf.space()[..3].copy_from_slice(b"abc");
        assert_eq!(buf.filled(3), b"abc");
        // More than the buffer holds is cut to it rather than panicking.
        assert_eq!(buf.filled(usize::MAX).len(), READ_MIN);
    }

    #[allow(clippy::disallowed_methods)] // one real instant as the origin of virtual time
    fn origin() -> Instant {
        Instant::now()
    }

    fn client(now: Instant) -> Connection {
        let request = ClientRequest {
            host: "h".into(),
            path: "/".into(),
            ..Default::default()
        };
        match Connection::client(now, Config::default(), request, [3; 32]) {
            Ok(conn) => conn,
            Err(e) => panic!("client: {e}"),
        }
    }

    #[test]
    fn flow_queues_the_request_and_arms_the_handshake_deadline_once() {
        let now = origin();
        let mut conn = client(now);
        let mut flow = Flow::new(Duration::from_secs(1), None);
        let armed = flow.drain(now, &mut conn, None);
        assert_eq!(armed, conn.poll_timeout());
        assert!(armed.is_some());
        assert!(flow.queued() > 0);
        // Same deadline: nothing to re-arm.
        assert_eq!(flow.drain(now, &mut conn, None), None);
        // The driver's own, sooner deadline wins.
        let sooner = now + Duration::from_millis(1);
        assert_eq!(flow.drain(now, &mut conn, Some(sooner)), Some(sooner));
    }

    #[test]
    fn a_later_deadline_leaves_the_timer_and_an_early_fire_re_arms_it() {
        let now = origin();
        let mut conn = client(now);
        let mut flow = Flow::new(Duration::from_secs(1), None);
        let sooner = now + Duration::from_millis(1);
        assert_eq!(flow.drain(now, &mut conn, Some(sooner)), Some(sooner));
        // The driver's deadline goes: the machine's, later, is what is awaited, and the
        // timer stays set for the sooner one.
        let handshake = conn.poll_timeout();
        assert!(handshake.is_some_and(|at| at > sooner));
        assert_eq!(flow.drain(now, &mut conn, None), None);
        assert_eq!(flow.deadline(), handshake);
        // It fires early: the machine is not timed out, and the timer is re-armed.
        assert_eq!(flow.on_timer(sooner, &mut conn), Fired::Deadline);
        assert_eq!(conn.state(), State::Handshaking);
        assert_eq!(flow.drain(sooner, &mut conn, None), handshake);
        // At the deadline the machine is told.
        let at = handshake.unwrap_or(now);
        flow.on_timer(at, &mut conn);
        assert_eq!(conn.state(), State::Closed);
    }

    #[test]
    fn flow_reports_end_of_stream_to_the_machine() {
        let now = origin();
        let mut conn = client(now);
        let mut flow = Flow::new(Duration::from_secs(1), None);
        flow.drain(now, &mut conn, None);
        assert!(flow.wants_read(true));
        flow.on_read(now, &mut conn, 0);
        assert!(flow.eof());
        assert!(!flow.wants_read(true));
        assert_eq!(flow.shutdown_linger(), None);
        assert_eq!(conn.state(), State::Closed);
    }

    #[test]
    fn flow_refuses_a_write_of_nothing() {
        let mut flow = Flow::new(Duration::from_secs(1), None);
        let error = flow.on_written(origin(), 0).err().map(|e| e.kind());
        assert_eq!(error, Some(io::ErrorKind::WriteZero));
    }

    #[test]
    fn flow_gives_up_the_flush_once_the_linger_after_close_ran_out() {
        let now = origin();
        let mut conn = client(now);
        let linger = Duration::from_secs(1);
        let mut flow = Flow::new(linger, None);
        // The peer vanished: the connection is closed with the request still unwritten.
        flow.fail(now, &mut conn);
        assert!(flow.finished(&conn));

        let mut conn = client(now);
        let mut flow = Flow::new(linger, None);
        flow.drain(now, &mut conn, None);
        flow.on_read(now, &mut conn, 0);
        flow.drain(now, &mut conn, None);
        assert_eq!(flow.deadline(), Some(now + linger));
        assert!(!flow.finished(&conn), "bytes are still queued");
        assert_eq!(flow.on_timer(now + linger, &mut conn), Fired::GaveUp);
        assert!(flow.finished(&conn));
        assert_eq!(flow.deadline(), None);
    }

    #[test]
    fn flow_drops_a_peer_that_takes_none_of_our_bytes_for_the_stall_timeout() {
        let now = origin();
        let s = Duration::from_secs;
        let request = ClientRequest {
            host: "h".into(),
            path: "/".into(),
            ..Default::default()
        };
        let config = Config {
            handshake_timeout: s(3600),
            ..Config::default()
        };
        let Ok(mut conn) = Connection::client(now, config.clone(), request.clone(), [3; 32]) else {
            panic!("client");
        };
        let mut flow = Flow::new(s(1), Some(s(30)));
        // The upgrade request is queued at `now`: the stall clock starts.
        assert_eq!(flow.drain(now, &mut conn, None), Some(now + s(30)));
        // The socket takes a little at 20 s: the clock starts again from there.
        assert!(flow.on_written(now + s(20), 5).is_ok());
        // The deadline moves later; the timer stays set for 30 s...
        assert_eq!(flow.drain(now + s(20), &mut conn, None), None);
        assert_eq!(flow.deadline(), Some(now + s(50)));
        // ...fires early there, and is re-armed for 50 s.
        assert_eq!(flow.on_timer(now + s(30), &mut conn), Fired::Deadline);
        assert!(!flow.finished(&conn));
        assert_eq!(flow.drain(now + s(30), &mut conn, None), Some(now + s(50)));
        assert_eq!(flow.on_timer(now + s(50), &mut conn), Fired::Stalled);
        assert!(flow.finished(&conn));
        assert_eq!(conn.state(), State::Closed);
        // Everything written: no stall clock runs.
        let Ok(mut conn) = Connection::client(now, config, request, [3; 32]) else {
            panic!("client");
        };
        let mut flow = Flow::new(s(1), Some(s(30)));
        flow.drain(now, &mut conn, None);
        let queued = flow.queued();
        assert!(flow.on_written(now + s(1), queued).is_ok());
        // The machine's deadline (an hour away) is what is awaited; the timer, set for the
        // stall, fires early and is re-armed for it.
        assert_eq!(flow.drain(now + s(1), &mut conn, None), None);
        assert_eq!(flow.deadline(), conn.poll_timeout());
        assert_eq!(flow.stalled_at(), None);
    }

    #[test]
    fn flow_is_idle_only_with_nothing_to_read_write_or_wait_for() {
        let mut flow = Flow::new(Duration::from_secs(1), None);
        assert!(flow.is_active(true));
        assert!(!flow.is_active(false));
        flow.queue.push(Bytes::from_static(b"x"));
        assert!(flow.is_active(false));
    }
}
