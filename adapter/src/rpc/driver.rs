//! The one task that owns a server connection's socket and its [`Channel`].
//!
//! Routing (the peer's requests to the router, the bound on handlers) is [`Dispatch`]'s.
//! This file moves bytes, runs each handler as a task of its own, and waits for the first
//! of: the socket, a handler finishing. (A client's task is the
//! [`session`](super::session) driver: clients are reconnecting sessions.)

use std::io;
use std::time::Duration;

use async_channel::{Receiver as Rx, Sender as Tx};
use futures_lite::future;
use tether_core::rpc::{Channel, ReplyTo};
use tracing::debug;

use super::dispatch::{self, Dispatch, Handlers};
use super::router::{Outcome, Running};
use crate::stream::Stream;
use crate::transport::Transport;
use crate::Runtime;

/// A handler's end: where the answer goes, and the answer.
type Finished = (Option<ReplyTo>, Outcome);

/// The handlers running for the peer's requests, a task each.
#[derive(Debug)]
struct Tasks<R> {
    running: usize,
    finished: Tx<Finished>,
    /// Never written; it closes when the driver finishes, which ends the handlers still
    /// running: nobody could read their answers.
    alive: Rx<()>,
    runtime: std::marker::PhantomData<fn() -> R>,
}

impl<R: Runtime> Handlers for Tasks<R> {
    fn len(&self) -> usize {
        self.running
    }

    fn start(&mut self, reply: Option<ReplyTo>, handler: Running) {
        self.running += 1;
        let finished = self.finished.clone();
        let alive = self.alive.clone();
        R::spawn(async move {
            let outcome = future::or(async { Some(handler.await) }, async {
                let _ = alive.recv().await;
                None
            })
            .await;
            if let Some(outcome) = outcome {
                let _ = finished.try_send((reply, outcome));
            }
        });
    }
}

/// What woke the driver.
enum Wake {
    Io(io::Result<()>),
    Handler(Option<Finished>),
}

/// Owns one socket and one server [`Channel`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver<R: Runtime> {
    channel: Channel,
    io: Transport<R>,
    dispatch: Dispatch,
    tasks: Tasks<R>,
    finished: Rx<Finished>,
    /// Dropped with the driver: see [`Tasks::alive`].
    _alive: Tx<()>,
}

impl<R: Runtime> Driver<R> {
    /// A driver for `channel` over `stream`, serving with `dispatch`. `linger` bounds the
    /// final flush.
    pub(crate) fn new(
        channel: Channel,
        stream: Stream<R>,
        linger: Duration,
        dispatch: Dispatch,
    ) -> Driver<R> {
        let (finished_tx, finished) = async_channel::unbounded();
        let (alive_tx, alive) = async_channel::bounded(1);
        Driver {
            channel,
            io: Transport::new(stream, linger),
            dispatch,
            tasks: Tasks {
                running: 0,
                finished: finished_tx,
                alive,
                runtime: std::marker::PhantomData,
            },
            finished,
            _alive: alive_tx,
        }
    }

    /// Drives the connection until it is closed and flushed.
    pub(crate) async fn run(mut self) {
        loop {
            self.drain();
            if self.io.finished(&self.channel) {
                self.io.shutdown().await;
                break;
            }
            if let Err(error) = self.step().await {
                debug!(%error, "socket error");
                self.io.fail(&mut self.channel);
                self.drain();
                break;
            }
        }
        debug!("finished");
    }

    /// Takes events (while handlers may start), then bytes and the next deadline.
    fn drain(&mut self) {
        self.dispatch
            .drain(R::now(), &mut self.channel, &mut self.tasks);
        self.io.drain(&mut self.channel, None);
    }

    /// Waits for one thing to happen and feeds it to the core.
    async fn step(&mut self) -> io::Result<()> {
        let reading = self.dispatch.reading(&self.tasks);
        let io_active = self.io.is_active(reading);
        let handlers = self.tasks.running > 0;
        if !(io_active || handlers) {
            self.io.stalled();
            return Ok(());
        }
        let Driver {
            io,
            channel,
            finished,
            ..
        } = &mut *self;
        let io_step = async {
            match io_active {
                true => Wake::Io(io.step(channel, reading).await),
                false => future::pending().await,
            }
        };
        let handler = async {
            match handlers {
                true => Wake::Handler(finished.recv().await.ok()),
                false => future::pending().await,
            }
        };
        // `race` picks at random which to poll first, so neither can starve the other.
        match future::race(io_step, handler).await {
            Wake::Io(result) => result?,
            Wake::Handler(Some(finished)) => {
                self.answer(finished);
                // Take the other answers that are in: one drain for many.
                while let Ok(finished) = self.finished.try_recv() {
                    self.answer(finished);
                }
            }
            // The driver holds a sender of its own.
            Wake::Handler(None) => {}
        }
        Ok(())
    }

    /// A handler ended: its answer goes out (a notification's has nowhere to go).
    fn answer(&mut self, (reply, outcome): Finished) {
        self.tasks.running -= 1;
        if let Some(reply) = reply {
            dispatch::respond(R::now(), &mut self.channel, reply, outcome);
        }
    }
}
