//! The one task that owns a server connection's socket and its [`Channel`].
//!
//! The peer's requests go to the [`Router`], and each handler runs as a task of its own,
//! so a slow one blocks nobody; its answer comes back here to be written. While
//! `max_handlers` are running, the driver takes no more events and reads no more bytes:
//! the peer waits, nothing is refused. Each turn it waits for the first of: the socket, a
//! handler finishing. (A client's task is the [`session`](super::session) driver: clients
//! are reconnecting sessions.)

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver as Rx, Sender as Tx};
use futures_lite::future;
use serde_json::value::RawValue;
use tether_core::frame::CloseCode;
use tether_core::rpc::{Channel, ErrorObject, Event, ReplyTo};
use tether_core::ws::State;
use tokio::sync::watch;
use tracing::debug;

use super::router::{Outcome, Router, Running};
use crate::edge::Gate;
use crate::runtime::branch;
use crate::stream::Stream;
use crate::transport::{Happened, Transport};
use crate::{Context, Identity, Runtime};

/// A handler's end: where the answer goes (none for a notification), and the answer.
type Finished = (Option<ReplyTo>, Outcome);

/// What woke the driver.
enum Wake {
    Io(io::Result<Happened>),
    Handler(Option<Finished>),
    /// The server is shutting down; handlers may finish until then.
    Stop(Option<Instant>),
}

/// Owns one socket and one server [`Channel`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver<R: Runtime> {
    channel: Channel,
    io: Transport<R>,
    router: Arc<Router>,
    /// Decides the upgrade.
    gate: Gate,
    /// Who the peer is, once its upgrade is accepted: what every handler is given.
    context: Option<Context>,
    max_handlers: usize,
    /// Handlers started and not finished yet.
    running: usize,
    finished_tx: Tx<Finished>,
    finished: Rx<Finished>,
    /// Never written: it closes when the driver is dropped, which ends the handlers still
    /// running, since nobody could read their answers.
    alive: Rx<()>,
    _alive: Tx<()>,
    /// Where it hears that the server shuts down; `None` once heard.
    stop: Option<watch::Receiver<Option<Instant>>>,
    /// Once the server shuts down: the socket is not read (no new request is taken), and
    /// the handlers running may finish until this deadline; then the connection closes.
    winding_down: Option<Instant>,
    /// The close that ends a winding down went out.
    closed_for_stop: bool,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Driver<R> {
    /// A driver for `channel` over `stream`, whose upgrade `gate` decides, serving
    /// `router` with at most `max_handlers` running at once. `linger` bounds the final
    /// flush.
    pub(crate) fn new(
        channel: Channel,
        stream: Stream<R>,
        linger: Duration,
        gate: Gate,
        router: Arc<Router>,
        max_handlers: usize,
    ) -> Driver<R> {
        let (finished_tx, finished) = async_channel::unbounded();
        let (alive_tx, alive) = async_channel::bounded(1);
        Driver {
            channel,
            io: Transport::new(stream, linger),
            router,
            gate,
            context: None,
            // Zero would never take an event again.
            max_handlers: max_handlers.max(1),
            running: 0,
            finished_tx,
            finished,
            alive,
            _alive: alive_tx,
            stop: None,
            winding_down: None,
            closed_for_stop: false,
            runtime: PhantomData,
        }
    }

    /// Winds the connection down once `stop` says the server shuts down (see
    /// [`ServerHandle::shutdown`](crate::ServerHandle::shutdown)).
    pub(crate) fn stop_with(mut self, stop: watch::Receiver<Option<Instant>>) -> Driver<R> {
        self.stop = Some(stop);
        self
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

    /// Whether another request may start: below `max_handlers`. At the bound, the peer's
    /// next requests wait in the socket, not in our memory.
    fn taking(&self) -> bool {
        self.running < self.max_handlers
    }

    /// Whether the socket is read: while requests may start, and not while winding down
    /// (until our close is out, after which only the peer's close matters).
    fn reading(&self) -> bool {
        self.taking() && (self.winding_down.is_none() || self.closed_for_stop)
    }

    /// Takes events (while handlers may start), then bytes and the next deadline.
    fn drain(&mut self) {
        while self.taking() {
            let Some(event) = self.channel.poll_event() else {
                break;
            };
            self.on_event(event);
        }
        self.close_if_wound_down();
        let deadline = self.winding_down.filter(|_| !self.closed_for_stop);
        self.io.drain(&mut self.channel, deadline);
    }

    /// Closes with 1001 once winding down is over: every handler done, or its deadline
    /// passed (the answers of handlers still running are then lost).
    fn close_if_wound_down(&mut self) {
        let Some(deadline) = self.winding_down else {
            return;
        };
        if self.closed_for_stop || (self.running > 0 && R::now() < deadline) {
            return;
        }
        self.closed_for_stop = true;
        debug!(running = self.running, "server shutting down; closing");
        // Already closing or closed is fine: that is where we want to be.
        let _ = self
            .channel
            .close(R::now(), CloseCode::GOING_AWAY, "server shutting down");
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Upgrade(request) => {
                debug!(method = %request.method, path = %request.path, "request");
                let (_, verdict) = self.gate.decide(request);
                self.context = verdict.apply(R::now(), &mut self.channel, None);
            }
            Event::Open { .. } => debug!("open"),
            // This channel is the driver's alone, so a message handed out (were
            // `parse_aside` set) is parsed right here.
            Event::Parse(unparsed) => {
                let parsed = unparsed.parse();
                self.channel.handle_parsed(R::now(), parsed);
            }
            Event::Request {
                reply,
                method,
                params,
            } => self.serve(Some(reply), &method, params),
            Event::Notification { method, params } => self.serve(None, &method, params),
            // Already answered by the core where the spec says so; the connection goes on.
            Event::Invalid(error) => debug!(%error, "invalid message from the peer"),
            Event::WsError(error) => debug!(%error, "protocol error"),
            Event::Closed(info) => debug!(code = info.code.0, clean = info.clean, "closed"),
            // A server makes no calls, so answers to them never come; pongs only answer
            // pings it never sends.
            Event::Response { .. } | Event::Ended { .. } | Event::Pong(_) => {}
        }
    }

    /// Starts the handler for a request or notification, or answers an unknown method
    /// (a notification for one is dropped).
    fn serve(&mut self, reply: Option<ReplyTo>, method: &str, params: Option<Box<RawValue>>) {
        if self.closed_for_stop {
            // Sent before the peer saw our close; it cannot be answered any more.
            return debug!(method, "request after the shutdown close dropped");
        }
        // Requests only come once the upgrade is accepted, which set the context.
        let context = self
            .context
            .clone()
            .unwrap_or_else(|| Context::new(Identity::anonymous(), None, self.gate.connection()));
        match (self.router.dispatch(method, params, context), reply) {
            (Some(handler), reply) => self.start(reply, handler),
            (None, Some(reply)) => self.respond(reply, Err(ErrorObject::method_not_found())),
            (None, None) => debug!(method, "notification for an unknown method dropped"),
        }
    }

    /// Runs `handler` in a task of its own; its outcome comes back on `finished`.
    fn start(&mut self, reply: Option<ReplyTo>, handler: Running) {
        self.running += 1;
        let finished = self.finished_tx.clone();
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

    /// Writes a handler's answer (dropped if the connection is closing).
    fn respond(&mut self, reply: ReplyTo, outcome: Outcome) {
        let result = match &outcome {
            Ok(value) => Ok(&**value),
            Err(error) => Err(error),
        };
        if let Err(error) = self.channel.respond(R::now(), reply, result) {
            debug!(%error, "reply dropped");
        }
    }

    /// A handler ended: its answer goes out (a notification's has nowhere to go).
    fn finish(&mut self, (reply, outcome): Finished) {
        self.running -= 1;
        if let Some(reply) = reply {
            self.respond(reply, outcome);
        }
    }

    /// Waits for one thing to happen and feeds it to the core.
    async fn step(&mut self) -> io::Result<()> {
        let reading = self.reading();
        let io_active = self.io.is_active(reading);
        let handlers = self.running > 0;
        if !(io_active || handlers) {
            self.io.stalled(&mut self.channel);
            return Ok(());
        }
        let watch_stop = self.stop.is_some();
        let Driver {
            io, finished, stop, ..
        } = &mut *self;
        let io_step = branch(io_active, async { Wake::Io(io.wait(reading).await) });
        let handler = branch(handlers, async {
            Wake::Handler(finished.recv().await.ok())
        });
        let stopped = branch(watch_stop, async {
            let deadline = match stop {
                Some(stop) => stop.wait_for(Option::is_some).await.ok().map(|d| *d),
                None => None,
            };
            match deadline {
                Some(deadline) => Wake::Stop(deadline),
                // A server gone without a shutdown stops nobody.
                None => std::future::pending().await,
            }
        });
        // `race` picks at random which to poll first, so none can starve the others.
        match future::race(future::race(io_step, handler), stopped).await {
            Wake::Stop(deadline) => {
                self.stop = None;
                // A connection still in its handshake is answered 503 by its gate.
                if self.channel.connection().state() != State::Handshaking {
                    self.winding_down = deadline;
                }
            }
            Wake::Io(result) => self.io.feed(&mut self.channel, result?),
            Wake::Handler(Some(done)) => {
                self.finish(done);
                // Take the other answers that are in: one drain for many.
                while let Ok(done) = self.finished.try_recv() {
                    self.finish(done);
                }
            }
            // The driver holds a sender of its own.
            Wake::Handler(None) => {}
        }
        Ok(())
    }
}
