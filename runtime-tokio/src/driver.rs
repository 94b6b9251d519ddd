//! The one task that owns a socket and its [`Connection`].
//!
//! Every WebSocket has exactly one driver. It is the only code that reads the socket,
//! writes it, sleeps, or touches the core; handles talk to it over channels. Each turn
//! of its loop drains the core (events to their waiters, bytes to the write queue, the
//! next deadline into the one timer), then waits for the first of: bytes to read, the
//! write of the queue's front, a command, the timer, or room for a held event.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use tether_core::frame::CloseCode;
use tether_core::ws::{
    CloseInfo, Connection, Event, Initiator, Message, ProtocolError, SendError, State,
};
use tether_core::Seed;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Sleep;
use tracing::debug;

use crate::handle::Parts;

/// First size of the read buffer; it doubles while reads fill it.
const READ_MIN: usize = 8 << 10;
/// The read buffer never grows past this.
const READ_MAX: usize = 256 << 10;
/// Past this many bytes waiting to be written (ours plus the core's), the driver stops
/// taking data commands: senders wait instead of the heap growing.
const HIGH_WATER: usize = 1 << 20;
/// We take bytes from the core only until this many are queued, so a large message
/// stays in the core in frames and a pong or close can still be written between them.
const WRITE_BATCH: usize = 256 << 10;
/// Buffers handed to one vectored write.
const MAX_IOV: usize = 64;
/// Events waiting for the receiver; when full, the driver stops reading the socket.
const EVENT_CAPACITY: usize = 16;
/// Data commands waiting for the driver.
const DATA_CAPACITY: usize = 64;
/// How long a protocol error is held back for the receiver to catch up (see
/// [`Command::Demand`]) when it does not.
const ERROR_HOLD: Duration = Duration::from_secs(1);
/// Data commands taken per turn of the loop.
const DATA_BATCH: usize = 32;
/// Pings and closes have their own channel so they never wait behind bulk data.
const CONTROL_CAPACITY: usize = 16;

/// The clock every input is stamped with. tokio's, so a paused test clock drives the core too.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A fresh seed for a connection's RNG, from the OS (the core never asks the OS itself).
pub(crate) fn seed() -> io::Result<Seed> {
    let mut seed = Seed::default();
    getrandom::fill(&mut seed)?;
    Ok(seed)
}

/// Where a command's outcome goes.
pub(crate) type Reply = oneshot::Sender<Result<(), SendError>>;

/// What a handle asks the driver to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// No reply: `send` learns of a closed connection from [`Shared`], and a message
    /// refused because closing began meanwhile is dropped like any message in flight
    /// when a connection ends.
    Send(Message),
    Ping(Bytes, Reply),
    Close(CloseCode, String, Reply),
    /// The receiver has taken every event it was given. Sent on the data channel, so it
    /// arrives after whatever the receiving task sent before: the driver holds a protocol
    /// error back until then, and the answers to earlier messages go out before our close
    /// (Autobahn 3.2, 4.1.3, 5.15 …).
    Demand,
}

/// What the handles can learn without asking the driver.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Set when the socket failed, so later commands report why instead of just "closed".
    pub(crate) failure: OnceLock<Arc<io::Error>>,
    /// The core's state as of the driver's last turn (a `State` as `u8`), so `send` can
    /// refuse early without a round trip per message.
    state: AtomicU8,
    /// The driver holds a protocol error until the receiver sends [`Command::Demand`].
    pub(crate) wants_demand: AtomicBool,
    /// Wakes a receiver waiting for events when `wants_demand` is set.
    pub(crate) demand: Notify,
}

impl Shared {
    /// The connection's state as the driver last saw it.
    pub(crate) fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Handshaking,
            1 => State::Open,
            2 => State::Closing,
            _ => State::Closed,
        }
    }

    fn set_state(&self, state: State) {
        let value = match state {
            State::Handshaking => 0,
            State::Open => 1,
            State::Closing => 2,
            State::Closed => 3,
        };
        self.state.store(value, Ordering::Release);
    }
}

/// Why the opening handshake did not produce an open connection.
#[derive(Debug)]
pub(crate) enum OpenError {
    Io(io::Error),
    Protocol(ProtocolError),
    /// The connection closed without saying why.
    Closed,
}

/// Where the driver is in the connection's life, as far as routing events goes.
#[derive(Debug)]
enum Phase {
    /// Events are the handshake's business (answer an upgrade, wait for `Open`).
    Handshaking,
    /// `Open` arrived with this subprotocol; `open()` has not returned yet.
    Opened(Option<String>),
    /// Events go to the receiver.
    Running,
}

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

/// Owns one socket and one [`Connection`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver {
    conn: Connection,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
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
    gave_up: bool,
    phase: Phase,
    /// Server role: the subprotocols we support (empty for a client).
    supported: Arc<[String]>,
    /// The last protocol error seen during the handshake, reported if it fails.
    failure: Option<ProtocolError>,
    events: mpsc::Sender<Event>,
    /// Events the receiver had no room for; reading pauses until they are delivered.
    held: VecDeque<Event>,
    closed_delivered: bool,
    /// A protocol error is held back until this deadline or the receiver's demand.
    error_hold: Option<Instant>,
    /// The held error may be taken from the core.
    error_released: bool,
    data: mpsc::Receiver<Command>,
    data_open: bool,
    control: mpsc::Receiver<Command>,
    control_open: bool,
    /// Every handle is gone and we started closing on their behalf.
    abandoned: bool,
    shared: Arc<Shared>,
}

impl Driver {
    /// A driver for `conn` over `stream`, and the parts its handles are built from.
    /// `supported` are the subprotocols a server accepts; `linger` bounds the final flush.
    pub(crate) fn new(
        conn: Connection,
        stream: TcpStream,
        supported: Arc<[String]>,
        linger: Duration,
    ) -> (Driver, Parts) {
        let (reader, writer) = stream.into_split();
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let (data_tx, data_rx) = mpsc::channel(DATA_CAPACITY);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_CAPACITY);
        let shared = Arc::new(Shared::default());
        let driver = Driver {
            conn,
            reader,
            writer,
            read_buf: vec![0; READ_MIN],
            eof: false,
            queue: WriteQueue::default(),
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            deadline: None,
            linger,
            linger_until: None,
            gave_up: false,
            phase: Phase::Handshaking,
            supported,
            failure: None,
            events: events_tx,
            held: VecDeque::new(),
            closed_delivered: false,
            error_hold: None,
            error_released: false,
            data: data_rx,
            data_open: true,
            control: control_rx,
            control_open: true,
            abandoned: false,
            shared: shared.clone(),
        };
        let parts = Parts {
            data: data_tx,
            control: control_tx,
            events: events_rx,
            shared,
        };
        (driver, parts)
    }

    /// Runs the opening handshake; returns the agreed subprotocol once the connection is
    /// open. On failure, what the core still has to say (a server's HTTP error status) is
    /// written first. Dropping this future drops the socket.
    pub(crate) async fn open(&mut self) -> Result<Option<String>, OpenError> {
        loop {
            self.drain();
            if let Phase::Opened(protocol) = &mut self.phase {
                let protocol = protocol.take();
                self.phase = Phase::Running;
                return Ok(protocol);
            }
            if self.finished() {
                self.shutdown().await;
                return Err(self
                    .failure
                    .take()
                    .map_or(OpenError::Closed, OpenError::Protocol));
            }
            self.step().await.map_err(OpenError::Io)?;
        }
    }

    /// Drives an open connection until it is closed and flushed, then hands the receiver
    /// whatever events it had no room for yet.
    pub(crate) async fn run(mut self) {
        debug!("open");
        loop {
            self.drain();
            if self.finished() {
                self.shutdown().await;
                break;
            }
            if let Err(e) = self.step().await {
                self.fail(e);
                break;
            }
            self.abandon_if_unused();
        }
        if !self.closed_delivered {
            // The core always ends with `Closed`; this covers a driver that gave up first.
            self.deliver(Event::Closed(CloseInfo {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
                initiator: Initiator::Transport,
                clean: false,
            }));
        }
        let Driver {
            events,
            held,
            reader,
            writer,
            ..
        } = self;
        drop((reader, writer));
        for event in held {
            if events.send(event).await.is_err() {
                break;
            }
        }
        debug!("finished");
    }

    /// Ends the transport gracefully: FIN after our last byte, then read and discard until
    /// the peer's EOF (for at most `linger`). Dropping a socket with unread input makes the
    /// kernel send a reset, which can destroy our close frame before the peer reads it.
    async fn shutdown(&mut self) {
        let _ = self.writer.shutdown().await;
        if self.eof {
            return;
        }
        let deadline = tokio::time::sleep(self.linger);
        tokio::pin!(deadline);
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

    /// Closed, flushed (or flushing took too long): the socket can go.
    fn finished(&self) -> bool {
        self.gave_up || (self.conn.is_finished() && self.queue.is_empty())
    }

    /// Takes everything the core has for us: events first (answering an upgrade queues
    /// bytes), then bytes, then the next deadline.
    fn drain(&mut self) {
        self.shared.set_state(self.conn.state());
        loop {
            if self.holds_error() {
                break;
            }
            let Some(event) = self.conn.poll_event() else {
                break;
            };
            match self.phase {
                Phase::Handshaking => self.handshake_event(event),
                Phase::Opened(_) | Phase::Running => self.deliver(event),
            }
        }
        while self.queue.len < WRITE_BATCH {
            match self.conn.poll_transmit() {
                Some(bytes) => self.queue.push(bytes),
                None => break,
            }
        }
        if self.linger_until.is_none() && self.conn.state() == tether_core::ws::State::Closed {
            self.linger_until = Some(now() + self.linger);
        }
        let deadline = [self.conn.poll_timeout(), self.linger_until, self.error_hold]
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

    fn handshake_event(&mut self, event: Event) {
        match event {
            Event::Upgrade(request) => {
                // The client's order of preference decides among protocols we support.
                let protocol = request
                    .protocols
                    .iter()
                    .find(|offered| self.supported.contains(offered))
                    .cloned();
                debug!(path = %request.path, ?protocol, "upgrade request");
                if let Err(e) = self.conn.accept(now(), protocol.as_deref(), &[]) {
                    debug!(error = %e, "cannot accept upgrade");
                    let _ = self.conn.reject(now(), 500);
                }
            }
            Event::Open { protocol } => self.phase = Phase::Opened(protocol),
            Event::Error(e) => self.failure = Some(e),
            // The handshake failed (or the peer left): `open()` reports it once flushed.
            Event::Closed(_) => {}
            // Nothing else can happen before `Open`.
            Event::Message(_) | Event::Ping(_) | Event::Pong(_) => {}
        }
    }

    /// Whether the next event is a protocol error to keep in the core for now: taking it
    /// fails the connection, and the receiver may still be answering earlier messages.
    fn holds_error(&mut self) -> bool {
        let error_next = matches!(self.conn.peek_event(), Some(Event::Error(_)));
        // `Opened` too: frames that came in the same read as the 101 are parsed before
        // `open()` even returns the handle.
        let delivering = matches!(self.phase, Phase::Opened(_) | Phase::Running);
        if !error_next || self.error_released || !delivering {
            return false;
        }
        if self.events.is_closed() {
            return false;
        }
        if self.error_hold.is_none() {
            self.error_hold = Some(now() + ERROR_HOLD);
            self.ask_for_demand();
        }
        true
    }

    fn ask_for_demand(&self) {
        self.shared.wants_demand.store(true, Ordering::Release);
        self.shared.demand.notify_one();
    }

    fn release_error(&mut self) {
        self.error_released = true;
        self.error_hold = None;
    }

    /// Hands an event to the receiver, or holds it while the receiver's channel is full.
    fn deliver(&mut self, event: Event) {
        if matches!(event, Event::Closed(_)) {
            self.closed_delivered = true;
        }
        if !self.held.is_empty() {
            self.held.push_back(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.held.push_back(event),
            // Nobody listens any more; the event is of no use to anyone.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Waits for one thing to happen and feeds it to the core.
    async fn step(&mut self) -> io::Result<()> {
        let mut slices = [IoSlice::new(&[]); MAX_IOV];
        let iov = self.queue.fill(&mut slices);
        let running = matches!(self.phase, Phase::Running);
        let room = self.queue.len + self.conn.pending_transmit() < HIGH_WATER;
        let handles_gone = !self.data_open && !self.control_open;
        tokio::select! {
            read = self.reader.read(&mut self.read_buf), if !self.eof && self.held.is_empty() => {
                let n = read?;
                let now = now();
                if n == 0 {
                    debug!("peer closed its write side");
                    self.eof = true;
                    self.conn.handle_eof(now);
                } else {
                    self.conn.handle_input(now, &self.read_buf[..n]);
                    self.resize_read_buf(n);
                }
            }
            written = self.writer.write_vectored(&slices[..iov]), if iov > 0 => {
                match written? {
                    0 => return Err(io::ErrorKind::WriteZero.into()),
                    n => self.queue.advance(n),
                }
            }
            () = deliver_held(&self.events, &mut self.held), if !self.held.is_empty() => {}
            command = self.control.recv(), if running && self.control_open => match command {
                Some(command) => self.command(command),
                None => self.control_open = false,
            },
            command = self.data.recv(), if running && self.data_open && room => match command {
                Some(command) => {
                    self.command(command);
                    // Take what else is waiting in one turn: one drain for many messages.
                    for _ in 1..DATA_BATCH {
                        match self.data.try_recv() {
                            Ok(command) => self.command(command),
                            Err(_) => break,
                        }
                    }
                }
                None => self.data_open = false,
            },
            () = &mut self.timer, if self.deadline.is_some() => {
                let now = now();
                if self.error_hold.is_some_and(|until| until <= now) {
                    debug!("receiver did not catch up; failing the connection now");
                    self.release_error();
                }
                if self.linger_until.is_some_and(|until| until <= now) {
                    debug!(unwritten = self.queue.len, "peer stopped reading; giving up the flush");
                    self.queue.clear();
                    self.gave_up = true;
                }
                self.conn.handle_timeout(now);
            }
            () = self.events.closed(), if running && handles_gone && !self.abandoned => {}
            else => {
                // Nothing can ever happen again: no bytes to move, no timer, no handles.
                debug!("driver stalled; dropping the connection");
                self.gave_up = true;
            }
        }
        Ok(())
    }

    fn command(&mut self, command: Command) {
        let now = now();
        // A caller that stopped waiting does not undo the command; its reply just has nowhere to go.
        match command {
            Command::Send(message) => {
                if let Err(error) = self.conn.send(now, message) {
                    debug!(%error, "message dropped: the connection is closing");
                }
            }
            Command::Ping(payload, reply) => {
                let _ = reply.send(self.conn.ping(now, payload));
            }
            Command::Close(code, reason, reply) => {
                debug!(code = code.0, "closing");
                let _ = reply.send(self.conn.close(now, code, &reason));
            }
            Command::Demand if self.error_hold.is_some() => {
                if self.held.is_empty() {
                    self.release_error();
                } else {
                    // Still events on their way to the receiver: ask again once it has them.
                    self.ask_for_demand();
                }
            }
            Command::Demand => {}
        }
    }

    /// Every handle was dropped: nobody can send or read, so close the connection as the
    /// user would have.
    fn abandon_if_unused(&mut self) {
        if !self.abandoned && !self.data_open && !self.control_open && self.events.is_closed() {
            debug!("all handles dropped; closing");
            self.abandoned = true;
            // Already closing or closed is fine: that is where we want to be.
            let _ = self.conn.close(now(), CloseCode::NORMAL, "");
        }
    }

    /// The socket failed: remember why for the handles, and let the core end as on EOF
    /// (it has no other way to learn the transport is gone).
    fn fail(&mut self, error: io::Error) {
        debug!(%error, "socket error");
        let _ = self.shared.failure.set(Arc::new(error));
        self.queue.clear();
        self.conn.handle_eof(now());
        while let Some(event) = self.conn.poll_event() {
            self.deliver(event);
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

/// Waits for room in the receiver's channel and hands it the oldest held event.
/// Cancel-safe: the event leaves `held` only once it is sent.
async fn deliver_held(events: &mpsc::Sender<Event>, held: &mut VecDeque<Event>) {
    match events.reserve().await {
        Ok(permit) => {
            if let Some(event) = held.pop_front() {
                permit.send(event);
            }
        }
        // The receiver is gone; nobody will ever want these.
        Err(_) => held.clear(),
    }
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
