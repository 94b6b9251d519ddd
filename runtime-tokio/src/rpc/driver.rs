//! The one task that owns a socket and its [`Endpoint`], for either role.
//!
//! Our calls come in as [`Command`]s and their waiters are kept by request id until the
//! core ends them (answer, timeout, cancel, connection lost: exactly once). The peer's
//! requests go to the [`Router`]; each handler runs as a task of its own in a `JoinSet`,
//! so a slow one blocks nobody, and its answer comes back here to be written. While
//! `max_handlers` are running, the driver takes no more events and reads no more bytes:
//! the peer waits, nothing is refused.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::value::RawValue;
use tether_core::rpc::{Endpoint, ErrorObject, Event, ReplyTo, RequestId, Stats};
use tether_core::ws::ProtocolError;
use tether_core::{frame::CloseCode, ws::State};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::debug;

use super::router::{Outcome, Router};
use super::CallError;
use crate::driver::{now, OpenError};
use crate::stream::Stream;
use crate::transport::Transport;

/// Commands waiting for the driver; past this, callers wait for room.
const COMMAND_CAPACITY: usize = 256;
/// Commands taken per turn of the loop: one drain for many calls.
const COMMAND_BATCH: usize = 64;

/// Where a call's outcome goes: its raw result, or why there is none.
pub(crate) type Done = oneshot::Sender<Result<Box<RawValue>, CallError>>;

/// What a [`Client`](super::Client) asks the driver to do.
#[derive(Debug)]
pub(crate) enum Command {
    Call {
        /// The caller's name for the call, which it uses to cancel it (the request id is
        /// the core's to choose).
        key: u64,
        method: String,
        params: Option<Box<RawValue>>,
        timeout: Option<Duration>,
        done: Done,
    },
    Notify {
        method: String,
        params: Option<Box<RawValue>>,
        done: oneshot::Sender<Result<(), CallError>>,
    },
    Close,
}

/// What the handles can learn without asking the driver.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The endpoint's counters as of the driver's last turn.
    pub(crate) stats: Mutex<Stats>,
    /// Mints call keys.
    pub(crate) next_key: AtomicU64,
}

/// The client's side of the driver's channels.
#[derive(Debug)]
pub(crate) struct Handles {
    pub(crate) commands: mpsc::Sender<Command>,
    /// Unbounded, so a dropped call future can always say so without waiting.
    pub(crate) cancels: mpsc::UnboundedSender<u64>,
    pub(crate) shared: Arc<Shared>,
    /// Never written; it closes when the driver finishes.
    pub(crate) finished: watch::Receiver<()>,
}

/// A call of ours waiting for its end.
#[derive(Debug)]
struct Waiter {
    key: u64,
    done: Done,
}

/// Owns one socket and one [`Endpoint`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver {
    endpoint: Endpoint,
    io: Transport,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    cancels: mpsc::UnboundedReceiver<u64>,
    cancels_open: bool,
    calls: HashMap<RequestId, Waiter>,
    keys: HashMap<u64, RequestId>,
    router: Arc<Router>,
    /// Handlers running for the peer's requests (`None`: a notification, no answer).
    handlers: JoinSet<(Option<ReplyTo>, Outcome)>,
    max_handlers: usize,
    opened: bool,
    /// The last protocol error before `Open`, reported if the handshake fails.
    failure: Option<ProtocolError>,
    /// Every handle is gone and we started closing on their behalf.
    abandoned: bool,
    shared: Arc<Shared>,
    _finished: watch::Sender<()>,
}

impl Driver {
    /// A driver for `endpoint` over `stream`, serving `router` with at most `max_handlers`
    /// running at once, and the handles a client is built from. `linger` bounds the final
    /// flush.
    pub(crate) fn new(
        endpoint: Endpoint,
        stream: Stream,
        linger: Duration,
        router: Arc<Router>,
        max_handlers: usize,
    ) -> (Driver, Handles) {
        let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
        let (cancels_tx, cancels) = mpsc::unbounded_channel();
        let (finished_tx, finished) = watch::channel(());
        let shared = Arc::new(Shared::default());
        let driver = Driver {
            endpoint,
            io: Transport::new(stream, linger),
            commands,
            commands_open: true,
            cancels,
            cancels_open: true,
            calls: HashMap::new(),
            keys: HashMap::new(),
            router,
            handlers: JoinSet::new(),
            // Zero would never take an event again.
            max_handlers: max_handlers.max(1),
            opened: false,
            failure: None,
            abandoned: false,
            shared: shared.clone(),
            _finished: finished_tx,
        };
        let handles = Handles {
            commands: commands_tx,
            cancels: cancels_tx,
            shared,
            finished,
        };
        (driver, handles)
    }

    /// Client role: runs the opening handshake until the connection is open. On failure,
    /// what the core still has to write goes out first.
    pub(crate) async fn open(&mut self) -> Result<(), OpenError> {
        loop {
            self.drain();
            if self.opened {
                return Ok(());
            }
            if self.io.finished(&self.endpoint) {
                self.io.shutdown().await;
                return Err(self
                    .failure
                    .take()
                    .map_or(OpenError::Closed, OpenError::Protocol));
            }
            self.io
                .step(&mut self.endpoint, true)
                .await
                .map_err(OpenError::Io)?;
        }
    }

    /// Drives the connection until it is closed and flushed. Every call still waiting has
    /// had its end by then: the core ends them all when the connection closes.
    pub(crate) async fn run(mut self) {
        debug!("open");
        loop {
            self.drain();
            if self.io.finished(&self.endpoint) {
                self.io.shutdown().await;
                break;
            }
            if let Err(error) = self.step().await {
                debug!(%error, "socket error");
                self.io.fail(&mut self.endpoint);
                self.drain();
                break;
            }
            self.abandon_if_unused();
        }
        debug!("finished");
    }

    /// Takes events (while handlers may start), then bytes and the next deadline.
    fn drain(&mut self) {
        while self.handlers.len() < self.max_handlers {
            let Some(event) = self.endpoint.poll_event() else {
                break;
            };
            self.on_event(event);
        }
        self.io.drain(&mut self.endpoint, None);
        let stats = self.endpoint.stats();
        *self
            .shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = stats;
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Upgrade(request) => {
                debug!(path = %request.path, "upgrade request");
                if let Err(error) = self.endpoint.accept(now(), None, &[]) {
                    debug!(%error, "cannot accept upgrade");
                    let _ = self.endpoint.reject(now(), 500);
                }
            }
            Event::Open { .. } => self.opened = true,
            Event::Response { id, result } => self.finish(id, result.map_err(CallError::Rpc)),
            Event::Ended { id, reason } => self.finish(id, Err(reason.into())),
            Event::Request {
                reply,
                method,
                params,
            } => self.serve(Some(reply), &method, params),
            Event::Notification { method, params } => self.serve(None, &method, params),
            Event::Invalid(error) => debug!(%error, "invalid message from the peer"),
            Event::Pong(_) => {}
            Event::WsError(error) => {
                debug!(%error, "protocol error");
                if !self.opened {
                    self.failure = Some(error);
                }
            }
            Event::Closed(info) => debug!(code = info.code.0, clean = info.clean, "closed"),
        }
    }

    /// Hands a call's end to its waiter, if it still waits.
    fn finish(&mut self, id: RequestId, result: Result<Box<RawValue>, CallError>) {
        if let Some(waiter) = self.calls.remove(&id) {
            self.keys.remove(&waiter.key);
            // A caller that is gone has already cancelled, or is about to: nothing to do.
            let _ = waiter.done.send(result);
        }
    }

    /// Starts the handler for a request or notification, or answers an unknown method.
    fn serve(&mut self, reply: Option<ReplyTo>, method: &str, params: Option<Box<RawValue>>) {
        match (self.router.dispatch(method, params), reply) {
            (Some(running), reply) => {
                self.handlers.spawn(async move { (reply, running.await) });
            }
            (None, Some(reply)) => self.respond(reply, Err(ErrorObject::method_not_found())),
            (None, None) => debug!(method, "notification for an unknown method dropped"),
        }
    }

    fn respond(&mut self, reply: ReplyTo, outcome: Outcome) {
        let result = match &outcome {
            Ok(value) => Ok(&**value),
            Err(error) => Err(error),
        };
        if let Err(error) = self.endpoint.respond(now(), reply, result) {
            debug!(%error, "reply dropped");
        }
    }

    /// Waits for one thing to happen and feeds it to the core.
    async fn step(&mut self) -> io::Result<()> {
        // At the bound, the peer's next requests wait in the socket, not in our memory.
        let reading = self.handlers.len() < self.max_handlers;
        let room = self.io.has_room(&self.endpoint);
        tokio::select! {
            result = self.io.step(&mut self.endpoint, reading), if self.io.is_active(reading) => {
                result?;
            }
            Some(joined) = self.handlers.join_next(), if !self.handlers.is_empty() => {
                match joined {
                    Ok((Some(reply), outcome)) => self.respond(reply, outcome),
                    Ok((None, _)) => {}
                    // Handlers never panic out of their task (the router catches it), so
                    // this is a runtime shutting down: nobody waits for the answer.
                    Err(error) => debug!(%error, "handler task failed"),
                }
            }
            key = self.cancels.recv(), if self.cancels_open => match key {
                Some(key) => self.cancel(key),
                None => self.cancels_open = false,
            },
            command = self.commands.recv(), if self.commands_open && room => match command {
                Some(command) => {
                    // Take what else is waiting in one turn: one drain for many calls.
                    self.command(command);
                    for _ in 1..COMMAND_BATCH {
                        let Ok(command) = self.commands.try_recv() else { break };
                        self.command(command);
                    }
                }
                None => self.commands_open = false,
            },
            else => self.io.stalled(),
        }
        Ok(())
    }

    fn command(&mut self, command: Command) {
        let now = now();
        match command {
            Command::Call {
                key,
                method,
                params,
                timeout,
                done,
            } => {
                // The caller dropped its future before we got here (it closes its end
                // before it sends the cancel): do not send what nobody waits for.
                if done.is_closed() {
                    return;
                }
                match self.endpoint.call(now, &method, params.as_deref(), timeout) {
                    Ok(id) => {
                        self.keys.insert(key, id);
                        self.calls.insert(id, Waiter { key, done });
                    }
                    Err(error) => {
                        let _ = done.send(Err(error.into()));
                    }
                }
            }
            Command::Notify {
                method,
                params,
                done,
            } => {
                let result = self.endpoint.notify(now, &method, params.as_deref());
                let _ = done.send(result.map_err(CallError::from));
            }
            Command::Close => {
                debug!("closing");
                // Closing twice, or after the peer, is where we want to be anyway.
                let _ = self.endpoint.close(now, CloseCode::NORMAL, "");
            }
        }
    }

    /// A caller dropped its call: the core ends it as cancelled and drops a late answer.
    fn cancel(&mut self, key: u64) {
        if let Some(id) = self.keys.remove(&key) {
            self.calls.remove(&id);
            self.endpoint.cancel(now(), id);
        }
    }

    /// Every client handle was dropped: nobody can call any more, so close as the user
    /// would have. Only a client has handles; a server's driver keeps its own alive.
    fn abandon_if_unused(&mut self) {
        if !self.abandoned && !self.commands_open && !self.cancels_open {
            debug!("all handles dropped; closing");
            self.abandoned = true;
            if self.endpoint.state() != State::Closed {
                let _ = self.endpoint.close(now(), CloseCode::NORMAL, "");
            }
        }
    }
}
