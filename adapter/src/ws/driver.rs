//! The one future that owns a socket and its [`Connection`]: a task of its own, or, under
//! [`Server::serve`](crate::Server::serve), one half of a task it shares with the
//! connection's handler.
//!
//! Every WebSocket has exactly one driver. It is the only code that reads the socket,
//! writes it, sleeps, or touches the core; handles talk to it over channels. Each turn
//! of its loop drains the core (events to the receiver, bytes to the write queue, the
//! next deadline into the one timer), then waits for the first of: bytes to read, the
//! write of the queue's front, a command, the timer, or room for a held event. Where
//! events go and how commands are carried out is [`Dispatch`]'s.
//!
//! The channels are [`crate::channel`]'s, which hold no memory until used (an idle
//! connection's three would otherwise hold about 6 KiB) and wait without allocating on
//! any executor; the one-shot replies are `tokio::sync`'s, which need no tokio runtime. A
//! message's round trip through an echo task crosses the channels four times.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{self, Poll};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use futures_lite::future;
use tether_core::budget::Held;
use tether_core::deflate::DeflateParams;
use tether_core::frame::CloseCode;
use tether_core::ws::{Connection, Event, SendError, State};
use tokio::sync::{oneshot, watch};
use tracing::debug;

use super::dispatch::{self, Dispatch, Inbox};
use super::handle::Parts;
use super::status::Status;
use crate::channel;
use crate::edge::{Gate, StopSignal};
use crate::held::HeldShare;
use crate::stream::Stream;
use crate::transport::{Happened, Transport};
use crate::{Context, OpenError, Runtime};

/// Events waiting for the receiver; when full, the driver stops reading the socket.
const EVENT_CAPACITY: usize = 16;
/// Data commands waiting for the driver.
const DATA_CAPACITY: usize = 64;
/// Data commands taken per turn of the loop.
const DATA_BATCH: usize = 32;
/// Pings have their own channel so they never wait behind bulk data. (Closes do not:
/// they must follow the messages sent before them.)
const CONTROL_CAPACITY: usize = 16;

/// What a handle asks the driver to do.
pub(crate) type Command = dispatch::Command<Reply>;

/// Where a command's outcome goes: a oneshot the caller waits on.
#[derive(Debug)]
pub(crate) struct Reply(pub(crate) oneshot::Sender<Result<(), SendError>>);

impl dispatch::Reply for Reply {
    fn answer(self, result: Result<(), SendError>) {
        let _ = self.0.send(result);
    }
}

/// What the handles can learn without asking the driver, and how the receiver is woken.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) status: Status,
    /// The driver holds a protocol error until the receiver sends [`Command::Demand`]; the
    /// receiver hears of it through the events channel's wake.
    pub(crate) wants_demand: AtomicBool,
    /// Bytes of the messages handed to the receiver and not taken by it yet: part of what
    /// the connection holds for its peer (see [`tether_core::budget`]).
    pub(crate) inbox_bytes: AtomicUsize,
    /// Wakes the driver when the receiver took a message, for a driver that stopped taking
    /// messages at its budget.
    pub(crate) taken: AtomicWaker,
}

/// The receiver's end of things, as [`Dispatch`] sees it: a bounded channel, and the
/// events it had no room for, in order, until it has.
#[derive(Debug)]
struct Events {
    tx: channel::Sender<Event>,
    /// Events the receiver had no room for; reading pauses until they are delivered.
    held: VecDeque<Event>,
    shared: Arc<Shared>,
}

impl Events {
    /// `bytes` of a message more wait for the receiver.
    fn count(&self, bytes: usize) {
        if bytes > 0 {
            self.shared.inbox_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// Once there is room in the receiver's channel, hands it the oldest held event.
    fn poll_deliver_held(&mut self, cx: &mut task::Context<'_>) -> Poll<()> {
        let Events { tx, held, .. } = self;
        let gone = match std::task::ready!(tx.poll_reserve(cx)) {
            Ok(permit) => match held.pop_front().map(|event| permit.send_or_return(event)) {
                // The receiver closed after the room was found: this one is not held either.
                Some(Err(event)) => {
                    held.push_front(event);
                    true
                }
                Some(Ok(())) | None => false,
            },
            Err(_) => true,
        };
        if gone {
            // The receiver is gone; nobody will ever want these.
            self.drop_held();
        }
        Poll::Ready(())
    }

    /// The receiver is gone: the held events will never be taken.
    fn drop_held(&mut self) {
        for event in self.held.drain(..) {
            if let Event::Message(message) = event {
                self.shared
                    .inbox_bytes
                    .fetch_sub(message.len(), Ordering::Relaxed);
            }
        }
    }
}

impl Inbox for Events {
    fn deliver(&mut self, event: Event) {
        // Counted while the receiver may still take it, and only then: a message nobody
        // can receive any more is not held for anyone.
        let bytes = match &event {
            Event::Message(message) => message.len(),
            _ => 0,
        };
        if !self.held.is_empty() {
            self.count(bytes);
            self.held.push_back(event);
            return;
        }
        match self.tx.try_send(event) {
            Ok(()) => self.count(bytes),
            Err(channel::TrySendError::Full(event)) => {
                self.count(bytes);
                self.held.push_back(event);
            }
            // Nobody listens any more; the event is of no use to anyone.
            Err(channel::TrySendError::Closed(_)) => {}
        }
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// None held here, none in the channel.
    fn all_taken(&self) -> bool {
        self.held.is_empty() && self.tx.capacity() == self.tx.max_capacity()
    }

    fn ask_for_demand(&self) {
        self.shared.wants_demand.store(true, Ordering::Release);
        self.tx.wake_receiver();
    }
}

/// The sources a turn waits on, in the order [`Driver::poll_wake`] numbers them: the
/// socket (and timer), held events or the receiver's takes, pings, data, the shutdown.
const SOURCES: u8 = 5;

/// What a turn waits for.
struct Waits {
    /// The socket and the timer, and whether to read (`None`: nothing to wait for there).
    io: Option<bool>,
    /// Room for a held event, or a take by a receiver over its budget.
    delivered: bool,
    control: bool,
    data: bool,
    stop: bool,
}

/// What woke the driver.
enum Wake {
    Io(io::Result<Happened>),
    /// A held event went to the receiver, or the receiver took one.
    Delivered,
    Control(Option<Command>),
    Data(Option<Command>),
    /// The server that accepted the connection is shutting down.
    Stop,
}

/// Owns one socket and one [`Connection`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver<R: Runtime> {
    conn: Connection,
    io: Transport<R>,
    dispatch: Dispatch,
    events: Events,
    data: channel::Receiver<Command>,
    data_open: bool,
    control: channel::Receiver<Command>,
    control_open: bool,
    shared: Arc<Shared>,
    /// Where it reports what it holds for the peer.
    held: HeldShare,
    /// A server's connection: where it hears that the server shuts down (`None` once
    /// heard, and for a client).
    stop: Option<StopSignal>,
    /// The source [`poll_wake`](Self::poll_wake) polls first next.
    first_source: u8,
    /// The receiver's untaken bytes as last reported to the core.
    reported_handling: usize,
}

impl<R: Runtime> Driver<R> {
    /// A driver for `conn` over `stream`, and the parts its handles are built from.
    /// `supported` are the subprotocols a server accepts and `gate` decides its upgrade;
    /// `linger` bounds the final flush.
    pub(crate) fn new(
        conn: Connection,
        stream: Stream<R>,
        supported: Arc<[String]>,
        gate: Option<Gate>,
        linger: Duration,
        held: HeldShare,
    ) -> (Driver<R>, Parts) {
        let (events_tx, events_rx) = channel::channel(EVENT_CAPACITY);
        let (data_tx, data_rx) = channel::channel(DATA_CAPACITY);
        let (control_tx, control_rx) = channel::channel(CONTROL_CAPACITY);
        let shared = Arc::new(Shared::default());
        let write_stall = conn.config().write_stall_timeout;
        let driver = Driver {
            conn,
            io: Transport::new(stream, linger, write_stall),
            dispatch: Dispatch::new(supported, gate),
            events: Events {
                tx: events_tx,
                held: VecDeque::new(),
                shared: shared.clone(),
            },
            data: data_rx,
            data_open: true,
            control: control_rx,
            control_open: true,
            shared: shared.clone(),
            held,
            stop: None,
            first_source: 0,
            reported_handling: 0,
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
        let mut now = R::now();
        loop {
            self.drain(now);
            if let Some(protocol) = self.dispatch.opened() {
                self.write_opening().await;
                return Ok(protocol);
            }
            if self.io.finished(&self.conn) {
                self.io.shutdown().await;
                return Err(self.dispatch.open_error());
            }
            now = self.step().await.map_err(OpenError::Io)?;
        }
    }

    /// A server's 101 goes out at once, before the connection is handed on: handing it on
    /// spawns the driver's task and wakes the accepting task, and the client would wait for
    /// both. One try, without waiting: bytes the socket does not take now are written by
    /// [`run`](Self::run). A socket error here is the one `run` would have met first: the
    /// connection is handed on failed, as it would have failed right after.
    async fn write_opening(&mut self) {
        if self.io.queued() == 0 {
            return;
        }
        match future::poll_once(self.io.wait(false)).await {
            None => {}
            Some(Ok(happened)) => self.io.feed(&mut self.conn, happened),
            Some(Err(error)) => {
                debug!(%error, "socket error");
                self.shared.status.fail(error);
                self.io.fail(&mut self.conn);
            }
        }
        self.drain(R::now());
    }

    /// Server role: closes the connection with 1001 once `stop` says the server shuts
    /// down.
    pub(crate) fn stop_with(&mut self, stop: watch::Receiver<Option<Instant>>) {
        self.stop = Some(StopSignal::new(stop));
    }

    /// Server role, once open: who the peer is, as the upgrade hook decided (taken: the
    /// handle keeps it).
    pub(crate) fn take_context(&mut self) -> Option<Context> {
        self.dispatch.take_context()
    }

    /// The permessage-deflate parameters the handshake agreed on, once open.
    pub(crate) fn compression(&self) -> Option<DeflateParams> {
        self.conn.compression().copied()
    }

    /// Drives an open connection until it is closed and flushed. Boxed: the task then
    /// holds a pointer, not one copy of the driver before the future starts and one after
    /// (an async fn keeps both), which an idle connection would pay for in memory.
    pub(crate) async fn run(mut self: Box<Self>) {
        debug!("open");
        let mut now = R::now();
        loop {
            self.drain(now);
            if self.io.finished(&self.conn) {
                break;
            }
            match self.step().await {
                Ok(woke) => now = woke,
                Err(error) => {
                    debug!(%error, "socket error");
                    self.shared.status.fail(error);
                    self.io.fail(&mut self.conn);
                    self.dispatch.flush(&mut self.conn, &mut self.events);
                    break;
                }
            }
            self.abandon_if_unused();
        }
        self.refuse_commands();
        self.dispatch.flush(&mut self.conn, &mut self.events);
        // Boxed: the end's waits are larger than a turn's, and inline they would size the
        // future every open connection holds for its whole life.
        Box::pin(self.finish()).await;
        debug!("finished");
    }

    /// The end of [`run`](Self::run): the socket's shutdown, then what the receiver had no
    /// room for, `Closed` last.
    async fn finish(mut self: Box<Self>) {
        self.io.shutdown().await;
        let Driver { events, io, .. } = *self;
        drop(io);
        for event in events.held {
            if events.tx.send(event).await.is_err() {
                break;
            }
        }
    }

    /// No command will be taken any more: close both channels and drop what they hold, so
    /// callers waiting on a reply get `Closed` instead of waiting forever.
    fn refuse_commands(&mut self) {
        self.shared.status.set_state(State::Closed);
        for channel in [&mut self.data, &mut self.control] {
            channel.close();
            while channel.try_recv().is_ok() {}
        }
    }

    /// Takes everything the core has for us: events first (answering an upgrade queues
    /// bytes), then bytes, then the next deadline. `now` is when the turn woke: the clock is
    /// read once per turn.
    fn drain(&mut self, now: Instant) {
        self.shared.status.set_state(self.conn.state());
        self.report(now);
        self.dispatch.drain(now, &mut self.conn, &mut self.events);
        self.report(now);
        self.io
            .drain_at(now, &mut self.conn, self.dispatch.deadline());
        self.report(now);
        // The read gate the transport keeps, as of everything reported.
        self.io
            .drain_at(now, &mut self.conn, self.dispatch.deadline());
        self.held.report(self.conn.held());
    }

    /// Tells the core what is held outside it: messages the receiver has not taken, bytes
    /// taken for the socket and not written.
    fn report(&mut self, now: std::time::Instant) {
        let handling = self.shared.inbox_bytes.load(Ordering::Acquire);
        self.reported_handling = handling;
        let outside = Held {
            input: 0,
            handling,
            unwritten: self.io.queued(),
        };
        self.conn.set_outside(now, outside);
        if !self.events.held.is_empty() {
            // Not read while the receiver is behind (see `step`): the peer's silence is ours.
            self.conn.set_reading(now, false);
        }
    }

    /// Waits for one thing to happen and feeds it to the core; returns when that was.
    async fn step(&mut self) -> io::Result<Instant> {
        let running = self.dispatch.running();
        let room = self.io.has_room(&self.conn);
        let held = !self.events.held.is_empty();
        // Held events pause reading: the receiver is behind. Once the core is closed, input
        // is ignored anyway, and reading is how a client sees the server's EOF.
        let reading = !held || self.conn.state() == State::Closed;
        let io_active = self.io.is_active(reading);
        let take_control = running && self.control_open;
        let take_data = running && self.data_open && room;
        let watch_stop = running && self.stop.is_some();
        // Past its budget with messages the receiver has not taken: wait for it to take one.
        let over = !held && running && !self.conn.takes_next();
        if !(io_active || held || over || take_control || take_data) {
            self.io.stalled(&mut self.conn);
            return Ok(R::now());
        }
        let waits = Waits {
            io: io_active.then_some(reading),
            delivered: held || over,
            control: take_control,
            data: take_data,
            stop: watch_stop,
        };
        let wake = std::future::poll_fn(|cx| self.poll_wake(cx, &waits)).await;
        let now = R::now();
        match wake {
            Wake::Io(result) => {
                let happened = result?;
                let fired = happened.fired();
                self.io.feed_at(now, &mut self.conn, happened);
                self.dispatch.expire(now);
                if fired {
                    // As the flow frees its buffers then: what a burst grew goes.
                    self.data.release_idle();
                    self.control.release_idle();
                    self.events.tx.release_idle();
                }
            }
            Wake::Delivered => {}
            Wake::Control(Some(command)) => self.command(now, command),
            Wake::Control(None) => self.control_open = false,
            Wake::Data(Some(command)) => {
                // Take what else is waiting in one turn: one drain for many messages.
                self.command(now, command);
                for _ in 1..DATA_BATCH {
                    let Ok(command) = self.data.try_recv() else {
                        break;
                    };
                    self.command(now, command);
                }
                if self.dispatch.wants_demand() && self.shared.wants_demand.load(Ordering::Acquire)
                {
                    // A receiver whose demand found this channel full waits for room.
                    self.events.tx.wake_receiver();
                }
            }
            Wake::Data(None) => self.data_open = false,
            Wake::Stop => {
                self.stop = None;
                debug!("server shutting down; closing");
                // What was sent before goes out before the close, as with a user's close:
                // at most a channel's worth (`DATA_CAPACITY`) beyond the usual room.
                while let Ok(command) = self.data.try_recv() {
                    self.command(now, command);
                }
                // Already closing or closed is fine: that is where we want to be.
                let _ = self
                    .conn
                    .close(now, CloseCode::GOING_AWAY, "server shutting down");
                self.shared.status.set_state(self.conn.state());
            }
        }
        Ok(now)
    }

    /// The first of the turn's waits that is ready. Polled in turn from a source that
    /// moves on by one every poll, so one that is always ready (a flood of reads, of
    /// commands) cannot starve the others. The sources are polled in place, not as futures
    /// made for the turn: a turn then builds nothing, and the driver's future holds none.
    fn poll_wake(&mut self, cx: &mut task::Context<'_>, waits: &Waits) -> Poll<Wake> {
        let first = self.first_source;
        self.first_source = (first + 1) % SOURCES;
        for i in 0..SOURCES {
            let ready = match (first + i) % SOURCES {
                0 => match waits.io {
                    Some(reading) => self.io.poll_wait(cx, reading).map(Wake::Io),
                    None => Poll::Pending,
                },
                1 if waits.delivered && !self.events.held.is_empty() => {
                    self.events.poll_deliver_held(cx).map(|()| Wake::Delivered)
                }
                1 if waits.delivered => self.poll_taken(cx).map(|()| Wake::Delivered),
                2 if waits.control => self.control.poll_recv(cx).map(Wake::Control),
                3 if waits.data => self.data.poll_recv(cx).map(Wake::Data),
                4 if waits.stop => match &mut self.stop {
                    Some(stop) => stop.poll_stopped(cx).map(|_| Wake::Stop),
                    None => Poll::Pending,
                },
                _ => Poll::Pending,
            };
            if ready.is_ready() {
                return ready;
            }
        }
        Poll::Pending
    }

    /// Ready once the receiver took a message since the core was last told what it holds.
    fn poll_taken(&mut self, cx: &mut task::Context<'_>) -> Poll<()> {
        self.shared.taken.register(cx.waker());
        // Registered, then looked: a take after this look wakes us.
        if self.shared.inbox_bytes.load(Ordering::Acquire) != self.reported_handling {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn command(&mut self, now: Instant, command: Command) {
        // A caller that stopped waiting does not undo the command; its reply just has nowhere to go.
        let status = &self.shared.status;
        self.dispatch
            .command(now, &mut self.conn, command, &self.events, status);
    }

    /// Every handle was dropped: nobody can send or read, so close the connection as the
    /// user would have.
    fn abandon_if_unused(&mut self) {
        let unused = !self.data_open && !self.control_open && self.events.tx.is_closed();
        if unused && self.dispatch.abandon(R::now(), &mut self.conn) {
            debug!("all handles dropped; closing");
        }
    }
}
