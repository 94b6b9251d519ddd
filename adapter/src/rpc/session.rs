//! The one task behind a [`Client`](super::Client): it owns the core's [`Session`] and
//! the socket of the session's current link, if there is one.
//!
//! The session decides everything that must outlive a socket: the queue of unsent calls,
//! deadlines, backoff, heartbeat, metrics. This task only does what it is told and moves
//! bytes: on [`Event::Connect`] it opens a TCP connection and reports it with
//! `transport_open` or `transport_failed`; it runs the crate's [`Transport`] over that
//! socket with the session's [`Link`](tether_core::session::Link) as the machine; on
//! [`Event::Disconnect`] it hands the socket to [`retire`] and forgets it; while no socket
//! holds the timer it sleeps until the session's next deadline itself; it hands each
//! call's end to whoever waits for it, and the server's notifications to the subscriber
//! ([`Client::notifications`](super::Client::notifications)), if there is one.
//!
//! The subscriber's channel is bounded. A notification it has no room for waits here, in
//! a backlog, and so do the answers that come after it (an answer is never handed over
//! before the notifications the server sent first). While anything waits in the backlog
//! the driver reads no more from the socket (as the server's driver does while its
//! handlers are at their bound) and tells the session so, which pauses the heartbeat: the
//! server is held back, nothing is dropped, and the backlog holds at most what the last
//! read brought (one read buffer's worth). Only a link's opening handshake is read
//! regardless, so a link lost meanwhile can be replaced.
//!
//! Each turn: take the control messages already sent and hand over what the backlog can,
//! drain the session (bytes to the socket, then events, repeated while events come, since
//! an event can make more to write), then wait for the first of: the connect in progress,
//! the socket (read unless paused, write, its timer), our own timer, room in the
//! subscriber's channel, a control message, a command.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_lite::future;
use serde_json::value::RawValue;
use tether_core::session::{Attempt, CallId, CallOptions, Event, Metrics, Session, State};
use tether_core::{ws, Machine};
use tether_tls::ClientTls;
use tokio::sync::mpsc::{self, error::TryRecvError, error::TrySendError};
use tokio::sync::oneshot;
use tracing::debug;

use super::watch::{Publisher, States};
use super::{CallError, Notification};
use crate::retire::retire;
use crate::runtime::{branch, within, Timer};
use crate::stream::{self, Stream};
use crate::transport::{Happened, Transport};
use crate::{ConnectError, OpenError, Runtime, Target};

/// Commands waiting for the driver; past this, callers wait for room.
const COMMAND_CAPACITY: usize = 256;
/// Commands taken per turn of the loop: one drain for many calls.
const COMMAND_BATCH: usize = 64;

/// A connect in progress.
type Dial<R> = Pin<Box<dyn Future<Output = Result<Stream<R>, ConnectError>> + Send>>;

/// The sending end of a one-shot channel: a caller waits on the other end. (tokio's
/// one-shot works on every runtime, and costs a call one small allocation where a
/// bounded `async_channel` cost a queue and its listeners.)
#[derive(Debug)]
pub(crate) struct Once<T>(pub(crate) oneshot::Sender<T>);

impl<T> Once<T> {
    /// A one-shot channel.
    pub(crate) fn channel() -> (Once<T>, oneshot::Receiver<T>) {
        let (tx, rx) = oneshot::channel();
        (Once(tx), rx)
    }

    /// Hands over `value`; a caller that stopped waiting just does not get it.
    pub(crate) fn send(self, value: T) {
        let _ = self.0.send(value);
    }

    /// The caller stopped waiting.
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Where a call's outcome goes: its raw result, or why there is none.
pub(crate) type Done = Once<Result<Box<RawValue>, CallError>>;

/// What a [`Client`](super::Client) asks, in order with its other requests.
///
/// The requests are boxed: a channel slot is as large as the largest command, and the
/// command channel allocates its first 32 slots with it, for every client, idle or not.
#[derive(Debug)]
pub(crate) enum Command {
    Call(Box<CallCommand>),
    Notify(Box<NotifyCommand>),
    Close,
}

/// A call, as [`Command::Call`] carries it.
#[derive(Debug)]
pub(crate) struct CallCommand {
    /// The caller's name for the call, which it uses to cancel it (the session picks the
    /// [`CallId`]).
    pub(crate) key: u64,
    pub(crate) method: String,
    pub(crate) params: Option<Box<RawValue>>,
    pub(crate) options: CallOptions,
    pub(crate) done: Done,
}

/// A notification, as [`Command::Notify`] carries it.
#[derive(Debug)]
pub(crate) struct NotifyCommand {
    pub(crate) method: String,
    pub(crate) params: Option<Box<RawValue>>,
    pub(crate) done: Once<Result<(), CallError>>,
}

/// What a client asks out of band: never waits behind commands or a full socket.
#[derive(Debug)]
pub(crate) enum Control {
    /// The caller of call `key` stopped waiting.
    Cancel(u64),
    Metrics(Once<Metrics>),
    /// From now on the server's notifications go to this channel (and no longer to an
    /// earlier one).
    Subscribe(mpsc::Sender<Notification>),
}

/// What the handles can learn without asking the driver.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Mints call keys.
    pub(crate) next_key: AtomicU64,
    /// The session's metrics when it was made, then when its driver ended.
    last_metrics: Mutex<Metrics>,
    /// The bound of a subscriber's channel.
    pub(crate) notification_buffer: usize,
    /// Notifications dropped because nobody subscribed, or the subscriber had gone.
    pub(crate) notifications_dropped: AtomicU64,
}

impl Shared {
    pub(crate) fn last_metrics(&self) -> Metrics {
        self.last_metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_last_metrics(&self, metrics: Metrics) {
        *self
            .last_metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = metrics;
    }
}

/// The client's side of the driver's channels.
#[derive(Debug)]
pub(crate) struct Handles {
    pub(crate) commands: mpsc::Sender<Command>,
    /// Unbounded, so a dropped call future can always say so without waiting.
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) shared: Arc<Shared>,
    /// The session's state; ends when the driver ends.
    pub(crate) states: States,
    /// The fate of the first attempt: `Ok` once a link is open, or why the first attempt
    /// failed.
    pub(crate) first: oneshot::Receiver<Result<(), ConnectError>>,
}

/// A call of ours waiting for its end.
#[derive(Debug)]
struct Waiter {
    key: u64,
    done: Done,
}

/// What came from the server and waits to be handed over, in the order it came.
#[derive(Debug)]
enum Inbound {
    /// For the subscriber, whose channel had no room.
    Notification(Notification),
    /// For the waiter of this call, behind notifications that came before it.
    Answer(CallId, Result<Box<RawValue>, CallError>),
}

/// The first attempt, until its fate is told.
#[derive(Debug)]
struct First {
    attempt: Option<Attempt>,
    tell: Once<Result<(), ConnectError>>,
}

/// Owns one [`Session`] and its current socket; see the module docs.
pub(crate) struct Driver<R: Runtime> {
    session: Session,
    target: Arc<Target>,
    /// TLS settings for `wss://` targets.
    tls: Option<Arc<ClientTls>>,
    /// How long a socket's last bytes may take to go out.
    linger: Duration,
    connect_timeout: Duration,
    /// The open socket of the current link.
    link: Option<(Attempt, Transport<R>)>,
    /// The connect in progress.
    dialing: Option<(Attempt, Dial<R>)>,
    /// When the latest attempt started.
    started: Option<(Attempt, Instant)>,
    /// Why the latest connect failed, as we saw it (the session only hears "failed").
    dial_error: Option<(Attempt, ConnectError)>,
    /// Our own timer, for the session's deadlines while no socket holds the timer.
    timer: R::Timer,
    deadline: Option<Instant>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    control: mpsc::UnboundedReceiver<Control>,
    control_open: bool,
    waiters: HashMap<CallId, Waiter>,
    keys: HashMap<u64, CallId>,
    /// Where the server's notifications go; `None`: nobody subscribed, so they are dropped.
    subscriber: Option<mpsc::Sender<Notification>>,
    /// Notifications the subscriber had no room for, and the answers that came after them;
    /// nothing more is read while any wait (see the module docs).
    backlog: VecDeque<Inbound>,
    /// Whether the session was last told we read (the backlog was empty).
    reading: bool,
    /// The user closed the client, or dropped every handle.
    closing: bool,
    /// Nothing could ever happen again (a guard against spinning; never seen).
    stalled: bool,
    first: Option<First>,
    state: Publisher,
    shared: Arc<Shared>,
}

impl<R: Runtime> std::fmt::Debug for Driver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("state", &self.session.state())
            .field("link", &self.link.as_ref().map(|(attempt, _)| attempt))
            .field(
                "dialing",
                &self.dialing.as_ref().map(|(attempt, _)| attempt),
            )
            .field("waiters", &self.waiters.len())
            .field("backlog", &self.backlog.len())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Driver<R> {
    /// A driver for `session` (not started yet) to `target`, and the handles a client is
    /// built from; a subscriber's channel will hold `notification_buffer` notifications.
    pub(crate) fn new(
        session: Session,
        target: Target,
        tls: Option<ClientTls>,
        linger: Duration,
        connect_timeout: Duration,
        notification_buffer: usize,
    ) -> (Driver<R>, Handles) {
        // tokio's channels (no runtime in them) take memory in small blocks as messages
        // come; async-channel's bounded one allocates every slot up front, which an idle
        // client would carry for nothing.
        let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let (control_tx, control) = mpsc::unbounded_channel();
        let (state, states) = Publisher::new(session.state());
        let (first_tx, first) = Once::channel();
        let shared = Arc::new(Shared {
            next_key: AtomicU64::new(0),
            last_metrics: Mutex::new(session.metrics(R::now())),
            // Zero would never take a notification (and tokio's channels refuse it).
            notification_buffer: notification_buffer.max(1),
            notifications_dropped: AtomicU64::new(0),
        });
        let driver = Driver {
            session,
            target: Arc::new(target),
            tls: tls.map(Arc::new),
            linger,
            connect_timeout,
            link: None,
            dialing: None,
            started: None,
            dial_error: None,
            // Polled only while `deadline` is set.
            timer: R::timer(R::now()),
            deadline: None,
            commands,
            commands_open: true,
            control,
            control_open: true,
            waiters: HashMap::new(),
            keys: HashMap::new(),
            subscriber: None,
            backlog: VecDeque::new(),
            reading: true,
            closing: false,
            stalled: false,
            first: Some(First {
                attempt: None,
                tell: first_tx,
            }),
            state,
            shared: shared.clone(),
        };
        let handles = Handles {
            commands: commands_tx,
            control: control_tx,
            shared,
            states,
            first,
        };
        (driver, handles)
    }

    /// Starts the session and drives it until it is closed or has failed, and its last
    /// socket is gone. Boxed: the task then holds a pointer, not one copy of the driver
    /// before the future starts and one after (an async fn keeps both).
    pub(crate) async fn run(mut self: Box<Self>) {
        self.session.start(R::now());
        loop {
            self.drain();
            if self.ended() {
                break;
            }
            self.step().await;
            self.close_if_unused();
        }
        self.shared.set_last_metrics(self.session.metrics(R::now()));
        self.hand_over_backlog();
        // Whatever is still in the channels was never taken: its callers learn the end from
        // the state (`Failed` or `Disconnected`) when their reply is dropped, here. Closing
        // alone would keep them, and every client clone keeps the channel alive.
        self.commands.close();
        while self.commands.try_recv().is_ok() {}
        self.control.close();
        while self.control.try_recv().is_ok() {}
        debug!(state = ?self.session.state(), "finished");
    }

    /// Nothing more will ever happen: the session failed or was closed, and no socket is
    /// left.
    fn ended(&self) -> bool {
        let state = self.session.state();
        let over = state == State::Failed || (self.closing && state == State::Disconnected);
        (over && self.link.is_none() && self.dialing.is_none()) || self.stalled
    }

    /// Takes the control messages already sent (so a subscription made before these
    /// events are taken gets them) and hands over what the backlog can; then what the
    /// session has for us: bytes for the socket, then events (which may make more bytes),
    /// then arms the timer.
    fn drain(&mut self) {
        self.take_control();
        self.release();
        loop {
            // Before the timer is armed: reading or not moves the heartbeat's deadlines.
            self.tell_reading();
            if let Some((attempt, transport)) = &mut self.link {
                transport.drain(&mut self.session.link(*attempt), None);
            }
            let Some(event) = self.session.poll_event() else {
                break;
            };
            self.on_event(event);
        }
        if self.link.is_none() {
            // No socket holds the timer, so ours sleeps until the session's next deadline.
            let deadline = self.session.poll_timeout();
            if deadline != self.deadline {
                if let Some(at) = deadline {
                    self.timer.reset(at);
                }
                self.deadline = deadline;
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connect { attempt } => self.dial(attempt),
            Event::Disconnect { attempt } => self.disconnect(attempt),
            Event::State(state) => {
                debug!(?state, "session state");
                if state == State::Connected {
                    self.tell_first(Ok(()));
                }
                self.state.publish(state);
            }
            Event::HeartbeatTimeout { attempt } => {
                debug!(%attempt, "heartbeat timeout; dropping the link");
            }
            Event::Response { id, result } => self.answer(id, result.map_err(CallError::Rpc)),
            // Not the server's word but the session's (a deadline, a lost link …): no
            // reason to wait behind the server's notifications.
            Event::Ended { id, reason } => self.finish(id, Err(reason.into())),
            Event::Notification { method, params } => {
                let note = Notification { method, params };
                if self.backlog.is_empty() {
                    if let Err(note) = self.offer(note) {
                        self.backlog.push_back(Inbound::Notification(note));
                    }
                } else {
                    self.backlog.push_back(Inbound::Notification(note));
                }
            }
        }
    }

    /// The server answered call `id`: the answer is handed over now, or after the
    /// notifications that came before it and still wait.
    fn answer(&mut self, id: CallId, result: Result<Box<RawValue>, CallError>) {
        if self.backlog.is_empty() {
            self.finish(id, result);
        } else if self.waiters.contains_key(&id) {
            self.backlog.push_back(Inbound::Answer(id, result));
        }
    }

    /// Hands `note` to the subscriber, or gives it back if its channel is full. With no
    /// subscriber (none yet, or gone) it is dropped.
    fn offer(&mut self, note: Notification) -> Result<(), Notification> {
        let Some(subscriber) = &self.subscriber else {
            self.drop_notification(&note);
            return Ok(());
        };
        match subscriber.try_send(note) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(note)) => Err(note),
            Err(TrySendError::Closed(note)) => {
                debug!("notifications receiver dropped");
                self.subscriber = None;
                self.drop_notification(&note);
                Ok(())
            }
        }
    }

    fn drop_notification(&self, note: &Notification) {
        debug!(
            method = note.method,
            "notification from the server dropped: no receiver"
        );
        self.shared
            .notifications_dropped
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Hands over the backlog, in order, while the subscriber has room.
    fn release(&mut self) {
        while let Some(inbound) = self.backlog.pop_front() {
            match inbound {
                Inbound::Answer(id, result) => self.finish(id, result),
                Inbound::Notification(note) => {
                    if let Err(note) = self.offer(note) {
                        self.backlog.push_front(Inbound::Notification(note));
                        break;
                    }
                }
            }
        }
    }

    /// Tells the session when we stop or start reading: while the backlog holds anything
    /// we read nothing, and the heartbeat must not take that silence for the server's.
    fn tell_reading(&mut self) {
        let reading = self.backlog.is_empty();
        if reading != self.reading {
            debug!(reading, backlog = self.backlog.len(), "notifications");
            self.reading = reading;
            self.session.set_reading(R::now(), reading);
        }
    }

    /// The driver is ending with a backlog (the session ended while the subscriber was
    /// full): a task of its own hands it over, in order, as the subscriber makes room, so
    /// nothing accepted is dropped and nobody waits for the driver.
    fn hand_over_backlog(&mut self) {
        let mut rest = Vec::with_capacity(self.backlog.len());
        for inbound in self.backlog.drain(..) {
            match inbound {
                Inbound::Notification(note) => rest.push(Ok(note)),
                Inbound::Answer(id, result) => {
                    if let Some(waiter) = self.waiters.remove(&id) {
                        rest.push(Err((waiter.done, result)));
                    }
                }
            }
        }
        if rest.is_empty() {
            return;
        }
        let mut subscriber = self.subscriber.take();
        let shared = self.shared.clone();
        R::spawn(async move {
            for item in rest {
                match item {
                    Ok(note) => {
                        let sent = match &subscriber {
                            Some(tx) => tx.send(note).await.is_ok(),
                            None => false,
                        };
                        if !sent {
                            subscriber = None;
                            shared.notifications_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err((done, result)) => done.send(result),
                }
            }
        });
    }

    /// Opens the socket of `attempt`.
    fn dial(&mut self, attempt: Attempt) {
        debug!(%attempt, "connecting");
        if let Some(first) = self.first.as_mut() {
            first.attempt.get_or_insert(attempt);
        }
        let target = self.target.clone();
        let tls = self.tls.clone();
        // The session times the attempt out as a whole (this is only a backstop).
        let limit = self.connect_timeout;
        // The one place a link's socket is opened.
        let dial: Dial<R> = Box::pin(async move {
            within::<R, _>(limit, stream::connect::<R>(&target, tls.as_deref()))
                .await
                .unwrap_or(Err(ConnectError::Timeout))
        });
        self.dialing = Some((attempt, dial));
        self.started = Some((attempt, R::now()));
    }

    /// Drops the socket of `attempt`, or its connect in progress.
    fn disconnect(&mut self, attempt: Attempt) {
        debug!(%attempt, "disconnecting");
        let had_socket = self.link.as_ref().is_some_and(|(a, _)| *a == attempt);
        if had_socket {
            if let Some((_, transport)) = self.link.take() {
                retire(transport);
            }
        }
        let dialing = self.dialing.as_ref().is_some_and(|(a, ..)| *a == attempt);
        if dialing {
            self.dialing = None;
        }
        let first_failed = self
            .first
            .as_ref()
            .is_some_and(|first| first.attempt == Some(attempt));
        if first_failed {
            let error = self.attempt_error(attempt, had_socket);
            self.tell_first(Err(error));
        }
    }

    /// Why `attempt` ended before its WebSocket opened, as well as we can tell.
    fn attempt_error(&mut self, attempt: Attempt, had_socket: bool) -> ConnectError {
        if let Some((a, error)) = self.dial_error.take() {
            if a == attempt {
                return error;
            }
        }
        if let Some(error) = self.session.attempt_error() {
            return OpenError::Protocol(error.clone()).into();
        }
        let started = self.started.filter(|(a, _)| *a == attempt);
        let timed_out = started.is_some_and(|(_, at)| R::now() >= at + self.connect_timeout);
        // Dropped while still connecting, or the upgrade was never answered in time.
        if timed_out || !had_socket {
            ConnectError::Timeout
        } else {
            ConnectError::ClosedDuringHandshake
        }
    }

    fn tell_first(&mut self, result: Result<(), ConnectError>) {
        if let Some(first) = self.first.take() {
            // `Client::new` does not wait for it.
            first.tell.send(result);
        }
    }

    /// Hands a call's end to its waiter, if it still waits.
    fn finish(&mut self, id: CallId, result: Result<Box<RawValue>, CallError>) {
        if let Some(waiter) = self.waiters.remove(&id) {
            self.keys.remove(&waiter.key);
            // A caller that is gone has already cancelled, or is about to: nothing to do.
            waiter.done.send(result);
        }
    }

    /// Waits for one thing to happen and feeds it to the session.
    async fn step(&mut self) {
        let room = match &mut self.link {
            Some((attempt, transport)) => transport.has_room(&self.session.link(*attempt)),
            // With no link, calls go to the session's queue, which has bounds of its own.
            None => true,
        };
        // Nothing is read while the backlog holds anything, but an opening handshake is:
        // the replacement of a link lost meanwhile must not fail for it.
        let reading = self.backlog.is_empty()
            || self.link.as_ref().is_some_and(|(attempt, _)| {
                self.session.link_state(*attempt) == ws::State::Handshaking
            });
        let link_active = self
            .link
            .as_ref()
            .is_some_and(|(_, transport)| transport.is_active(reading));
        let own_timer = self.link.is_none() && self.deadline.is_some();
        let dialing = self.dialing.is_some();
        let take_control = self.control_open;
        let take_commands = self.commands_open && room;
        // The backlog holds something (for a subscriber whose channel is full): wait until
        // it takes one, or is dropped.
        let subscriber_room = !self.backlog.is_empty() && self.subscriber.is_some();
        if !(dialing
            || link_active
            || own_timer
            || subscriber_room
            || take_control
            || take_commands)
        {
            // Nothing to wait for: no handles, no socket and no deadline. The handles'
            // going closed the session already, so nothing is left to do.
            debug!("nothing left to wait for");
            self.close();
            self.stalled = true;
            return;
        }
        let Driver {
            link,
            dialing: dial,
            timer,
            commands,
            control,
            subscriber,
            ..
        } = &mut *self;
        let dialed = async {
            match dial {
                Some((attempt, dial)) => Wake::Dialed(*attempt, dial.await),
                None => future::pending().await,
            }
        };
        let link_step = async {
            match link {
                Some((attempt, transport)) if link_active => {
                    Wake::Link(*attempt, transport.wait(reading).await)
                }
                _ => future::pending().await,
            }
        };
        let fired = branch(own_timer, async {
            std::future::poll_fn(|cx| timer.poll_fired(cx)).await;
            Wake::Timer
        });
        let room_made = branch(subscriber_room, async {
            if let Some(subscriber) = subscriber {
                // Room (the permit goes back at once: only we send) or the receiver gone;
                // `release` sees which.
                let _ = subscriber.reserve().await;
            }
            Wake::Room
        });
        let control_msg = branch(take_control, async { Wake::Control(control.recv().await) });
        let command = branch(take_commands, async {
            Wake::Command(commands.recv().await)
        });
        // `race` picks at random which to poll first, so none can starve the others.
        let wake = future::race(
            future::race(dialed, link_step),
            future::race(
                future::race(fired, room_made),
                future::race(control_msg, command),
            ),
        )
        .await;
        match wake {
            Wake::Dialed(attempt, dialed) => {
                self.dialing = None;
                self.dialed(attempt, dialed);
            }
            Wake::Link(attempt, result) => self.link_stepped(attempt, result),
            // The next `drain` hands over what now fits.
            Wake::Room => {}
            Wake::Timer => {
                // Spent until re-armed by the next `drain`.
                self.deadline = None;
                self.session.handle_timeout(R::now());
            }
            Wake::Control(Some(control)) => self.control(control),
            Wake::Control(None) => self.control_open = false,
            Wake::Command(Some(command)) => {
                // Take what else is waiting in one turn: one drain for many calls.
                self.command(command);
                for _ in 1..COMMAND_BATCH {
                    let Ok(command) = self.commands.try_recv() else {
                        break;
                    };
                    self.command(command);
                }
            }
            Wake::Command(None) => self.commands_open = false,
        }
    }

    fn dialed(&mut self, attempt: Attempt, dialed: Result<Stream<R>, ConnectError>) {
        match dialed {
            Ok(socket) => {
                debug!(%attempt, "transport open");
                let stall = self.session.config().ws.write_stall_timeout;
                self.link = Some((attempt, Transport::new(socket, self.linger, stall)));
                self.session.transport_open(R::now(), attempt);
            }
            Err(error) => {
                debug!(%attempt, %error, "connect failed");
                self.dial_error = Some((attempt, error));
                self.session.transport_failed(R::now(), attempt);
            }
        }
    }

    fn link_stepped(&mut self, attempt: Attempt, result: io::Result<Happened>) {
        let happened = match result {
            Ok(happened) => happened,
            Err(error) => {
                debug!(%attempt, %error, "socket error");
                // Before the WebSocket opened, this is why the attempt failed.
                self.dial_error = Some((attempt, ConnectError::from_io(error)));
                self.link = None;
                self.session.transport_failed(R::now(), attempt);
                return;
            }
        };
        let Some((_, transport)) = &mut self.link else {
            return;
        };
        let mut link = self.session.link(attempt);
        transport.feed(&mut link, happened);
        // Gave up flushing to a peer that stopped reading, before the session was done
        // with the link. (A link the session abandoned goes at its `Disconnect`.)
        if transport.finished(&link) && !link.is_finished() {
            self.link = None;
            self.session.transport_failed(R::now(), attempt);
        }
    }

    /// Takes the control messages already sent, without waiting.
    fn take_control(&mut self) {
        while self.control_open {
            match self.control.try_recv() {
                Ok(control) => self.control(control),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => self.control_open = false,
            }
        }
    }

    fn control(&mut self, control: Control) {
        match control {
            Control::Cancel(key) => {
                if let Some(id) = self.keys.remove(&key) {
                    self.waiters.remove(&id);
                    self.session.cancel(R::now(), id);
                }
            }
            Control::Metrics(reply) => {
                reply.send(self.session.metrics(R::now()));
            }
            Control::Subscribe(subscriber) => {
                // The earlier receiver, if any, keeps what it has and then ends; the backlog
                // goes to this one.
                debug!("notifications subscribed");
                self.subscriber = Some(subscriber);
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = R::now();
        match command {
            Command::Call(call) => {
                let CallCommand {
                    key,
                    method,
                    params,
                    options,
                    done,
                } = *call;
                // The caller dropped its future before we got here (it closes its end
                // before it sends the cancel): do not send what nobody waits for.
                if done.is_closed() {
                    return;
                }
                match self.session.call(now, &method, params.as_deref(), options) {
                    Ok(id) => {
                        self.keys.insert(key, id);
                        self.waiters.insert(id, Waiter { key, done });
                    }
                    Err(error) => done.send(Err(error.into())),
                }
            }
            Command::Notify(notify) => {
                let NotifyCommand {
                    method,
                    params,
                    done,
                } = *notify;
                let result = self.session.notify(now, &method, params.as_deref());
                done.send(result.map_err(CallError::from));
            }
            Command::Close => self.close(),
        }
    }

    fn close(&mut self) {
        if !self.closing {
            debug!("closing");
            self.closing = true;
            self.session.close(R::now());
        }
        // A failed session does not close (it has nothing to close); a client that never
        // heard from its first attempt will not now.
        self.tell_first(Err(ConnectError::ClosedDuringHandshake));
    }

    /// Every client handle was dropped: nobody can call any more, so close as the user
    /// would have.
    fn close_if_unused(&mut self) {
        if !self.commands_open && !self.control_open && !self.closing {
            debug!("all handles dropped");
            self.close();
        }
    }
}

/// What woke the driver.
enum Wake<R: Runtime> {
    Dialed(Attempt, Result<Stream<R>, ConnectError>),
    Link(Attempt, io::Result<Happened>),
    Timer,
    /// The subscriber made room in its channel, or dropped it.
    Room,
    Control(Option<Control>),
    Command(Option<Command>),
}
