//! The one task that owns a socket and its [`Connection`].
//!
//! Every WebSocket has exactly one driver. It is the only code that reads the socket,
//! writes it, sleeps, or touches the core; handles talk to it over channels. Each turn
//! of its loop drains the core (events to the receiver, bytes to the write queue, the
//! next deadline into the one timer), then waits for the first of: bytes to read, the
//! write of the queue's front, a command, the timer, or the receiver catching up.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver as Rx, Sender as Tx};
use bytes::Bytes;
use event_listener::Event as Signal;
use futures_lite::future;
use tether_adapter::{OpenError, Status};
use tether_core::frame::CloseCode;
use tether_core::ws::{
    CloseInfo, Connection, Event, Initiator, Message, ProtocolError, SendError, State,
};
use tracing::debug;

use crate::handle::Parts;
use crate::transport::{now, Stream, Transport};

/// Unread events past which the driver stops reading the socket.
pub(crate) const EVENT_CAPACITY: usize = 16;
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

/// Where a command's outcome goes.
pub(crate) type Reply = Tx<Result<(), SendError>>;

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

/// What the handles can learn without asking the driver, and how they wake each other.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) status: Status,
    /// Events handed to the receiver and not taken yet.
    pub(crate) unread: AtomicUsize,
    /// Notified when `unread` drops below [`EVENT_CAPACITY`]: the driver may read again.
    pub(crate) room: Signal,
    /// The driver holds a protocol error until the receiver sends [`Command::Demand`].
    pub(crate) wants_demand: AtomicBool,
    /// Wakes a receiver waiting for events when `wants_demand` is set.
    pub(crate) demand: Signal,
}

impl Shared {
    /// The receiver took one event.
    pub(crate) fn taken(&self) {
        if self.unread.fetch_sub(1, Ordering::AcqRel) == EVENT_CAPACITY {
            self.room.notify(usize::MAX);
        }
    }

    fn behind(&self) -> bool {
        self.unread.load(Ordering::Acquire) >= EVENT_CAPACITY
    }
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

/// What woke the driver.
enum Wake {
    Io(io::Result<()>),
    Room,
    Control(Option<Command>),
    Data(Option<Command>),
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
    events: Tx<Event>,
    closed_delivered: bool,
    /// A protocol error is held back until this deadline or the receiver's demand.
    error_hold: Option<Instant>,
    /// The held error may be taken from the core.
    error_released: bool,
    data: Rx<Command>,
    data_open: bool,
    control: Rx<Command>,
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
        stream: impl Stream + 'static,
        supported: Arc<[String]>,
        linger: Duration,
    ) -> (Driver, Parts) {
        let (events_tx, events_rx) = async_channel::unbounded();
        let (data_tx, data_rx) = async_channel::bounded(DATA_CAPACITY);
        let (control_tx, control_rx) = async_channel::bounded(CONTROL_CAPACITY);
        let shared = Arc::new(Shared::default());
        let driver = Driver {
            conn,
            io: Transport::new(stream, linger),
            phase: Phase::Handshaking,
            supported,
            failure: None,
            events: events_tx,
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
            if self.io.finished(&self.conn) {
                self.io.shutdown().await;
                return Err(self
                    .failure
                    .take()
                    .map_or(OpenError::Closed, OpenError::Protocol));
            }
            self.step().await.map_err(OpenError::Io)?;
        }
    }

    /// Drives an open connection until it is closed and flushed.
    pub(crate) async fn run(mut self) {
        debug!("open");
        loop {
            self.drain();
            if self.io.finished(&self.conn) {
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
        self.io.shutdown().await;
        if !self.closed_delivered {
            // The core always ends with `Closed`; this covers a driver that gave up first.
            self.deliver(Event::Closed(CloseInfo {
                code: CloseCode::ABNORMAL,
                reason: String::new(),
                initiator: Initiator::Transport,
                clean: false,
            }));
        }
        debug!("finished");
    }

    /// No command will be taken any more: close both channels and drop what they hold, so
    /// callers waiting on a reply get `Closed` instead of waiting forever.
    fn refuse_commands(&mut self) {
        self.shared.status.set_state(State::Closed);
        for channel in [&self.data, &self.control] {
            channel.close();
            while channel.try_recv().is_ok() {}
        }
    }

    /// Takes everything the core has for us: events first (answering an upgrade queues
    /// bytes), then bytes, then the next deadline.
    fn drain(&mut self) {
        self.shared.status.set_state(self.conn.state());
        while !self.holds_error() {
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
                let protocol = request.choose_protocol(&self.supported);
                debug!(path = %request.path, ?protocol, "upgrade request");
                if let Err(e) = self.conn.accept(now(), protocol, &[]) {
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
        if !error_next || self.error_released || !delivering || self.events.is_closed() {
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
        self.shared.demand.notify(usize::MAX);
    }

    fn release_error(&mut self) {
        self.error_released = true;
        self.error_hold = None;
    }

    /// Hands an event to the receiver. The channel has no bound: the driver stops reading
    /// while [`EVENT_CAPACITY`] events are unread, which bounds it.
    fn deliver(&mut self, event: Event) {
        if matches!(event, Event::Closed(_)) {
            self.closed_delivered = true;
        }
        self.shared.unread.fetch_add(1, Ordering::AcqRel);
        if self.events.try_send(event).is_err() {
            // Nobody listens any more; the event is of no use to anyone.
            self.shared.unread.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Waits for one thing to happen and feeds it to the core.
    async fn step(&mut self) -> io::Result<()> {
        let running = matches!(self.phase, Phase::Running);
        let room = self.io.has_room(&self.conn);
        // An unread backlog pauses reading: the receiver is behind. Once the core is
        // closed, input is ignored anyway, and reading is how a client sees the server's EOF.
        let behind = self.shared.behind() && !self.events.is_closed();
        let reading = !behind || self.conn.state() == State::Closed;
        let io_active = self.io.is_active(reading);
        let take_control = running && self.control_open;
        let take_data = running && self.data_open && room;
        if !(io_active || behind || take_control || take_data) {
            self.io.stalled();
            return Ok(());
        }
        let Driver {
            io,
            conn,
            data,
            control,
            shared,
            ..
        } = &mut *self;
        let io_step = async {
            match io_active {
                true => Wake::Io(io.step(conn, reading).await),
                false => future::pending().await,
            }
        };
        let caught_up = async {
            if !behind {
                return future::pending().await;
            }
            let listener = shared.room.listen();
            if shared.behind() {
                listener.await;
            }
            Wake::Room
        };
        let control_cmd = async {
            match take_control {
                true => Wake::Control(control.recv().await.ok()),
                false => future::pending().await,
            }
        };
        let data_cmd = async {
            match take_data {
                true => Wake::Data(data.recv().await.ok()),
                false => future::pending().await,
            }
        };
        // `race` picks at random which to poll first, so none can starve the others.
        let wake = future::race(
            future::race(io_step, caught_up),
            future::race(control_cmd, data_cmd),
        )
        .await;
        match wake {
            Wake::Io(result) => {
                result?;
                if self.error_hold.is_some_and(|until| until <= now()) {
                    debug!("receiver did not catch up; failing the connection now");
                    self.release_error();
                }
            }
            Wake::Room => {}
            Wake::Control(Some(command)) => self.command(command),
            Wake::Control(None) => self.control_open = false,
            Wake::Data(Some(command)) => {
                // Take what else is waiting in one turn: one drain for many messages.
                self.command(command);
                for _ in 1..DATA_BATCH {
                    let Ok(command) = self.data.try_recv() else {
                        break;
                    };
                    self.command(command);
                }
                if self.error_hold.is_some() && self.shared.wants_demand.load(Ordering::Acquire) {
                    // A receiver whose demand found this channel full waits for room.
                    self.shared.demand.notify(usize::MAX);
                }
            }
            Wake::Data(None) => self.data_open = false,
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
                let _ = reply.try_send(self.conn.ping(now, payload));
            }
            Command::Close(code, reason, reply) => {
                debug!(code = code.0, "closing");
                let result = self.conn.close(now, code, &reason);
                // Before the reply: once `close` returns, `send` must see the closing state.
                self.shared.status.set_state(self.conn.state());
                let _ = reply.try_send(result);
            }
            Command::Demand if self.error_hold.is_some() => {
                // Every event handed out has been taken.
                if self.shared.unread.load(Ordering::Acquire) == 0 {
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
        self.shared.status.fail(error);
        self.io.fail(&mut self.conn);
        while let Some(event) = self.conn.poll_event() {
            self.deliver(event);
        }
    }
}
