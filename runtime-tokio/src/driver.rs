//! The one task that owns a socket and its [`Connection`].
//!
//! Every WebSocket has exactly one driver. It is the only code that reads the socket,
//! writes it, sleeps, or touches the core; handles talk to it over channels. Each turn
//! of its loop drains the core (events to their waiters, bytes to the write queue, the
//! next deadline into the one timer), then waits for the first of: bytes to read, the
//! write of the queue's front, a command, the timer, or room for a held event.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tether_core::deflate::DeflateParams;
use tether_core::frame::CloseCode;
use tether_core::ws::{
    CloseInfo, Connection, Event, Initiator, Message, ProtocolError, SendError, State,
};
use tether_core::Seed;
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::debug;

use crate::handle::Parts;
use crate::stream::Stream;
use crate::transport::Transport;

/// Events waiting for the receiver; when full, the driver stops reading the socket.
const EVENT_CAPACITY: usize = 16;
/// Data commands waiting for the driver.
const DATA_CAPACITY: usize = 64;
/// How long a protocol error is held back for the receiver to catch up (see
/// [`Command::Demand`]) when it does not.
const ERROR_HOLD: Duration = Duration::from_secs(1);
/// Data commands taken per turn of the loop.
const DATA_BATCH: usize = 32;
/// Pings have their own channel so they never wait behind bulk data. (Closes do not:
/// they must follow the messages sent before them.)
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

/// Owns one socket and one [`Connection`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver {
    conn: Connection,
    io: Transport,
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
        stream: Stream,
        supported: Arc<[String]>,
        linger: Duration,
    ) -> (Driver, Parts) {
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let (data_tx, data_rx) = mpsc::channel(DATA_CAPACITY);
        let (control_tx, control_rx) = mpsc::channel(CONTROL_CAPACITY);
        let shared = Arc::new(Shared::default());
        let driver = Driver {
            conn,
            io: Transport::new(stream, linger),
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

    /// The permessage-deflate parameters the handshake agreed on, once open.
    pub(crate) fn compression(&self) -> Option<DeflateParams> {
        self.conn.compression().copied()
    }

    /// Drives an open connection until it is closed and flushed, then hands the receiver
    /// whatever events it had no room for yet.
    pub(crate) async fn run(mut self) {
        debug!("open");
        loop {
            self.drain();
            if self.finished() {
                break;
            }
            if let Err(e) = self.step().await {
                self.fail(e);
                break;
            }
            self.abandon_if_unused();
        }
        self.refuse_commands();
        // What the core still has (an error held back when EOF came, its own `Closed`)
        // goes to the receiver before anything is made up.
        while let Some(event) = self.conn.poll_event() {
            self.deliver(event);
        }
        self.shutdown().await;
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
            events, held, io, ..
        } = self;
        drop(io);
        for event in held {
            if events.send(event).await.is_err() {
                break;
            }
        }
        debug!("finished");
    }

    /// No command will be taken any more: close both channels and drop what they hold, so
    /// callers waiting on a reply get `Closed` instead of waiting forever.
    fn refuse_commands(&mut self) {
        self.shared.set_state(State::Closed);
        for channel in [&mut self.data, &mut self.control] {
            channel.close();
            while channel.try_recv().is_ok() {}
        }
    }

    async fn shutdown(&mut self) {
        self.io.shutdown().await;
    }

    /// Closed, flushed (or flushing took too long): the socket can go.
    fn finished(&self) -> bool {
        self.io.finished(&self.conn)
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
        self.io.drain(&mut self.conn, self.error_hold);
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
        let running = matches!(self.phase, Phase::Running);
        let room = self.io.has_room(&self.conn);
        let handles_gone = !self.data_open && !self.control_open;
        // Held events pause reading: the receiver is behind. Once the core is closed, input
        // is ignored anyway, and reading is how a client sees the server's EOF.
        let reading = self.held.is_empty() || self.conn.state() == State::Closed;
        tokio::select! {
            result = self.io.step(&mut self.conn, reading), if self.io.is_active(reading) => {
                result?;
                if self.error_hold.is_some_and(|until| until <= now()) {
                    debug!("receiver did not catch up; failing the connection now");
                    self.release_error();
                }
            }
            () = deliver_held(&self.events, &mut self.held), if !self.held.is_empty() => {}
            command = self.control.recv(), if running && self.control_open => match command {
                Some(command) => self.command(command),
                None => self.control_open = false,
            },
            command = self.data.recv(), if running && self.data_open && room => match command {
                Some(command) => {
                    // Take what else is waiting in one turn: one drain for many messages.
                    self.command(command);
                    for _ in 1..DATA_BATCH {
                        let Ok(command) = self.data.try_recv() else { break };
                        self.command(command);
                    }
                    if self.error_hold.is_some() && self.shared.wants_demand.load(Ordering::Acquire) {
                        // A receiver whose demand found this channel full waits for room.
                        self.shared.demand.notify_one();
                    }
                }
                None => self.data_open = false,
            },
            () = self.events.closed(), if running && handles_gone && !self.abandoned => {}
            else => self.io.stalled(),
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
                // Every event handed out has been taken: none held here, none in the channel.
                let taken = self.events.capacity() == self.events.max_capacity();
                if self.held.is_empty() && taken {
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
        self.io.fail(&mut self.conn);
        while let Some(event) = self.conn.poll_event() {
            self.deliver(event);
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
