//! The one task behind a [`Client`](super::Client): it owns the core's [`Session`] and
//! the socket of the session's current link, if there is one.
//!
//! The session decides everything that must outlive a socket: the queue of unsent calls,
//! deadlines, backoff, heartbeat, metrics. This task only does what it is told and moves
//! bytes: on [`Event::Connect`] it opens a TCP connection and reports it with
//! `transport_open` or `transport_failed`; it runs the crate's [`Transport`] over that
//! socket with the session's [`Link`](tether_core::session::Link) as the machine; on
//! [`Event::Disconnect`] it hands the socket to [`retire`] and forgets it; while no socket
//! holds the timer it sleeps until the session's next deadline itself; and it hands each
//! call's end to whoever waits for it.
//!
//! Each turn: drain the session (bytes to the socket, then events, repeated while events
//! come, since an event can make more to write), then wait for the first of: the connect
//! in progress, the socket (read, write, its timer), our own timer, a control message, a
//! command.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_channel::{Receiver as Rx, Sender as Tx};
use futures_lite::future;
use serde_json::value::RawValue;
use tether_core::session::{Attempt, CallId, CallOptions, Event, Metrics, Session, State};
use tether_core::Machine;
use tether_tls::ClientTls;
use tokio::sync::mpsc;
use tracing::debug;

use super::watch::{Publisher, States};
use super::CallError;
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

/// The sending end of a one-shot channel: a caller waits on the other end.
#[derive(Debug)]
pub(crate) struct Once<T>(pub(crate) Tx<T>);

impl<T> Once<T> {
    /// A one-shot channel.
    pub(crate) fn channel() -> (Once<T>, Rx<T>) {
        let (tx, rx) = async_channel::bounded(1);
        (Once(tx), rx)
    }

    /// Hands over `value`; a caller that stopped waiting just does not get it.
    pub(crate) fn send(self, value: T) {
        let _ = self.0.try_send(value);
    }

    /// The caller stopped waiting.
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Where a call's outcome goes: its raw result, or why there is none.
pub(crate) type Done = Once<Result<Box<RawValue>, CallError>>;

/// What a [`Client`](super::Client) asks, in order with its other requests.
#[derive(Debug)]
pub(crate) enum Command {
    Call {
        /// The caller's name for the call, which it uses to cancel it (the session picks
        /// the [`CallId`]).
        key: u64,
        method: String,
        params: Option<Box<RawValue>>,
        options: CallOptions,
        done: Done,
    },
    Notify {
        method: String,
        params: Option<Box<RawValue>>,
        done: Once<Result<(), CallError>>,
    },
    Close,
}

/// What a client asks out of band: never waits behind commands or a full socket.
#[derive(Debug)]
pub(crate) enum Control {
    /// The caller of call `key` stopped waiting.
    Cancel(u64),
    Metrics(Once<Metrics>),
}

/// What the handles can learn without asking the driver.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Mints call keys.
    pub(crate) next_key: AtomicU64,
    /// The session's metrics when it was made, then when its driver ended.
    last_metrics: Mutex<Metrics>,
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
    pub(crate) first: Rx<Result<(), ConnectError>>,
}

/// A call of ours waiting for its end.
#[derive(Debug)]
struct Waiter {
    key: u64,
    done: Done,
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
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Driver<R> {
    /// A driver for `session` (not started yet) to `target`, and the handles a client is
    /// built from.
    pub(crate) fn new(
        session: Session,
        target: Target,
        tls: Option<ClientTls>,
        linger: Duration,
        connect_timeout: Duration,
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
    /// socket is gone.
    pub(crate) async fn run(mut self) {
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

    /// Takes what the session has for us: bytes for the socket, then events (which may
    /// make more bytes), then arms the timer.
    fn drain(&mut self) {
        loop {
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
            Event::Response { id, result } => self.finish(id, result.map_err(CallError::Rpc)),
            Event::Ended { id, reason } => self.finish(id, Err(reason.into())),
            Event::Notification { method, .. } => {
                // A client serves nothing; the server's notifications have no taker yet.
                debug!(method, "notification from the server dropped");
            }
        }
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
        let link_active = self
            .link
            .as_ref()
            .is_some_and(|(_, transport)| transport.is_active(true));
        let own_timer = self.link.is_none() && self.deadline.is_some();
        let dialing = self.dialing.is_some();
        let take_control = self.control_open;
        let take_commands = self.commands_open && room;
        if !(dialing || link_active || own_timer || take_control || take_commands) {
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
                    Wake::Link(*attempt, transport.wait(true).await)
                }
                _ => future::pending().await,
            }
        };
        let fired = branch(own_timer, async {
            std::future::poll_fn(|cx| timer.poll_fired(cx)).await;
            Wake::Timer
        });
        let control_msg = branch(take_control, async { Wake::Control(control.recv().await) });
        let command = branch(take_commands, async {
            Wake::Command(commands.recv().await)
        });
        // `race` picks at random which to poll first, so none can starve the others.
        let wake = future::race(
            future::race(dialed, link_step),
            future::race(fired, future::race(control_msg, command)),
        )
        .await;
        match wake {
            Wake::Dialed(attempt, dialed) => {
                self.dialing = None;
                self.dialed(attempt, dialed);
            }
            Wake::Link(attempt, result) => self.link_stepped(attempt, result),
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
                self.link = Some((attempt, Transport::new(socket, self.linger)));
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
        }
    }

    fn command(&mut self, command: Command) {
        let now = R::now();
        match command {
            Command::Call {
                key,
                method,
                params,
                options,
                done,
            } => {
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
            Command::Notify {
                method,
                params,
                done,
            } => {
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
    Control(Option<Control>),
    Command(Option<Command>),
}
