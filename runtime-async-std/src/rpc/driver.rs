//! The one task that owns a socket and its [`Endpoint`], for either role.
//!
//! Routing (calls and their waiters, the peer's requests to the router, the bound on
//! handlers) is [`Dispatch`]'s, shared with tether-tokio. This file moves bytes, runs
//! each handler as a task of its own, and waits for the first of: the socket, a handler
//! finishing, a cancel, a command.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_channel::{Receiver as Rx, Sender as Tx};
use async_global_executor::Task;
use futures_lite::future;
use tether_adapter::rpc::dispatch::{self, Answer, CallResult, Dispatch, Handlers};
use tether_adapter::rpc::{CallError, Outcome, Router, Running, Stats};
use tether_adapter::OpenError;
use tether_core::rpc::{Endpoint, ReplyTo};
use tracing::debug;

use crate::transport::{now, Stream, Transport};

/// Commands waiting for the driver; past this, callers wait for room.
const COMMAND_CAPACITY: usize = 256;
/// Commands taken per turn of the loop: one drain for many calls.
const COMMAND_BATCH: usize = 64;

/// The sending end of a one-shot channel.
#[derive(Debug)]
pub(crate) struct Once<T>(pub(crate) Tx<T>);

impl<T> Answer<T> for Once<T> {
    fn answer(self, value: T) {
        let _ = self.0.try_send(value);
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// What a [`Client`](super::Client) asks the driver to do.
pub(crate) type Command = dispatch::Command<Once<CallResult>, Once<Result<(), CallError>>>;

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
    pub(crate) commands: Tx<Command>,
    /// Unbounded, so a dropped call future can always say so without waiting.
    pub(crate) cancels: Tx<u64>,
    pub(crate) shared: Arc<Shared>,
    /// Never written; it closes when the driver finishes.
    pub(crate) finished: Rx<()>,
}

/// A handler's end: which task, where the answer goes, and the answer.
type Finished = (u64, Option<ReplyTo>, Outcome);

/// The handlers running for the peer's requests, a task each. Dropping this (the driver
/// finished) cancels those still running: nobody could read their answers.
#[derive(Debug)]
struct Tasks {
    running: HashMap<u64, Task<()>>,
    next: u64,
    finished: Tx<Finished>,
}

impl Handlers for Tasks {
    fn len(&self) -> usize {
        self.running.len()
    }

    fn start(&mut self, reply: Option<ReplyTo>, handler: Running) {
        let id = self.next;
        self.next += 1;
        let finished = self.finished.clone();
        let task = async_global_executor::spawn(async move {
            let outcome = handler.await;
            let _ = finished.try_send((id, reply, outcome));
        });
        self.running.insert(id, task);
    }
}

/// What woke the driver.
enum Wake {
    Io(io::Result<()>),
    Handler(Option<Finished>),
    Cancel(Option<u64>),
    Command(Option<Command>),
}

/// Owns one socket and one [`Endpoint`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver {
    endpoint: Endpoint,
    io: Transport,
    dispatch: Dispatch<Once<CallResult>>,
    tasks: Tasks,
    finished: Rx<Finished>,
    commands: Rx<Command>,
    commands_open: bool,
    cancels: Rx<u64>,
    cancels_open: bool,
    shared: Arc<Shared>,
    _finished: Tx<()>,
}

impl Driver {
    /// A driver for `endpoint` over `stream`, serving `router` with at most `max_handlers`
    /// running at once, and the handles a client is built from. `linger` bounds the final
    /// flush.
    pub(crate) fn new(
        endpoint: Endpoint,
        stream: impl Stream + 'static,
        linger: Duration,
        router: Arc<Router>,
        max_handlers: usize,
    ) -> (Driver, Handles) {
        let (commands_tx, commands) = async_channel::bounded(COMMAND_CAPACITY);
        let (cancels_tx, cancels) = async_channel::unbounded();
        let (finished_tx, finished_rx) = async_channel::bounded(1);
        let (handler_tx, handler_rx) = async_channel::unbounded();
        let shared = Arc::new(Shared::default());
        let driver = Driver {
            endpoint,
            io: Transport::new(stream, linger),
            dispatch: Dispatch::new(router, max_handlers),
            tasks: Tasks {
                running: HashMap::new(),
                next: 0,
                finished: handler_tx,
            },
            finished: handler_rx,
            commands,
            commands_open: true,
            cancels,
            cancels_open: true,
            shared: shared.clone(),
            _finished: finished_tx,
        };
        let handles = Handles {
            commands: commands_tx,
            cancels: cancels_tx,
            shared,
            finished: finished_rx,
        };
        (driver, handles)
    }

    /// Client role: runs the opening handshake until the connection is open. On failure,
    /// what the core still has to write goes out first.
    pub(crate) async fn open(&mut self) -> Result<(), OpenError> {
        loop {
            self.drain();
            if self.dispatch.opened() {
                return Ok(());
            }
            if self.io.finished(&self.endpoint) {
                self.io.shutdown().await;
                return Err(self.dispatch.open_error());
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
        // Counters first: a caller woken by its answer below must not see its call in flight.
        let stats = self.endpoint.stats();
        *self
            .shared
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = stats;
        self.dispatch
            .drain(now(), &mut self.endpoint, &mut self.tasks);
        self.io.drain(&mut self.endpoint, None);
    }

    /// Waits for one thing to happen and feeds it to the core.
    async fn step(&mut self) -> io::Result<()> {
        let reading = self.dispatch.reading(&self.tasks);
        let io_active = self.io.is_active(reading);
        let handlers = !self.tasks.is_empty();
        let take_cancels = self.cancels_open;
        let take_commands = self.commands_open && self.io.has_room(&self.endpoint);
        if !(io_active || handlers || take_cancels || take_commands) {
            self.io.stalled();
            return Ok(());
        }
        let Driver {
            io,
            endpoint,
            finished,
            commands,
            cancels,
            ..
        } = &mut *self;
        let io_step = async {
            match io_active {
                true => Wake::Io(io.step(endpoint, reading).await),
                false => future::pending().await,
            }
        };
        let handler = async {
            match handlers {
                true => Wake::Handler(finished.recv().await.ok()),
                false => future::pending().await,
            }
        };
        let cancel = async {
            match take_cancels {
                true => Wake::Cancel(cancels.recv().await.ok()),
                false => future::pending().await,
            }
        };
        let command = async {
            match take_commands {
                true => Wake::Command(commands.recv().await.ok()),
                false => future::pending().await,
            }
        };
        // `race` picks at random which to poll first, so none can starve the others.
        let wake = future::race(
            future::race(io_step, handler),
            future::race(cancel, command),
        )
        .await;
        let now = now();
        match wake {
            Wake::Io(result) => result?,
            Wake::Handler(Some((id, reply, outcome))) => {
                self.tasks.running.remove(&id);
                if let Some(reply) = reply {
                    dispatch::respond(now, &mut self.endpoint, reply, outcome);
                }
            }
            // The driver holds a sender of its own.
            Wake::Handler(None) => {}
            Wake::Cancel(Some(key)) => self.dispatch.cancel(now, &mut self.endpoint, key),
            Wake::Cancel(None) => self.cancels_open = false,
            Wake::Command(Some(command)) => {
                // Take what else is waiting in one turn: one drain for many calls.
                self.dispatch.command(now, &mut self.endpoint, command);
                for _ in 1..COMMAND_BATCH {
                    let Ok(command) = self.commands.try_recv() else {
                        break;
                    };
                    self.dispatch.command(now, &mut self.endpoint, command);
                }
            }
            Wake::Command(None) => self.commands_open = false,
        }
        Ok(())
    }

    /// Every client handle was dropped: nobody can call any more, so close as the user
    /// would have. Only a client has handles; a server's driver keeps its own alive.
    fn abandon_if_unused(&mut self) {
        let unused = !self.commands_open && !self.cancels_open;
        if unused && self.dispatch.abandon(now(), &mut self.endpoint) {
            debug!("all handles dropped; closing");
        }
    }
}
