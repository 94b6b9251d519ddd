//! The one task that owns a server connection's socket and its [`Channel`].
//!
//! The peer's requests go to the [`Router`]. Each handler is polled once here, and one
//! that finishes in that poll is answered at once; one that waits for something runs on
//! as a task of its own, so a slow one blocks nobody, and its answer comes back here to
//! be written. What runs is kept in the core's [`Serving`]: while `max_handlers` are
//! running the driver takes no more events, and a handler past the handler timeout is
//! cancelled and its caller answered `-32000`. What the connection holds for the peer (its input, the requests
//! whose handlers run, the replies not yet written) is counted against its budget by the
//! core, and past it the driver stops reading: the peer waits, nothing is refused or
//! dropped. Each turn it waits for the first of: the socket, a handler finishing, the
//! server shutting down. (A client's task is the [`session`](super::session) driver:
//! clients are reconnecting sessions.)

use std::collections::BTreeMap;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{self, Poll, Waker};
use std::time::{Duration, Instant};

use async_channel::{Receiver as Rx, Sender as Tx};
use futures_lite::future;
use serde_json::value::RawValue;
use tether_core::budget::Held;
use tether_core::frame::CloseCode;
use tether_core::rpc::{Channel, ErrorObject, Event, JobId, ReplyTo, Serving};
use tether_core::ws::State;
use tokio::sync::{oneshot, watch};
use tracing::debug;

use super::router::{Outcome, Router, Running};
use crate::edge::{Gate, StopSignal};
use crate::held::HeldShare;
use crate::runtime::branch;
use crate::stream::Stream;
use crate::transport::{Happened, Transport};
use crate::{Context, Identity, Runtime};

/// A handler's end: which one, and its answer.
type Finished = (JobId, Outcome);

/// What woke the driver.
enum Wake {
    Io(io::Result<Happened>),
    Handler(Option<Finished>),
    /// The server is shutting down; handlers may finish until then.
    Stop(Option<Instant>),
}

/// How a driver runs its connection's handlers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Handlers running at once (0 counts as 1).
    pub(crate) max_handlers: usize,
    /// How long one may run before it is cancelled.
    pub(crate) handler_timeout: Option<Duration>,
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
    /// Handlers started and not finished yet: their count, size and deadlines.
    serving: Serving,
    /// Each running handler's cancel: dropping it ends the handler. The driver holds them
    /// all, so when it is dropped every handler still running ends too: nobody could read
    /// their answers.
    cancels: BTreeMap<JobId, oneshot::Sender<()>>,
    /// Where handlers send their answers: made for the first handler, so a connection that
    /// was never called holds no channel.
    finished: Option<(Tx<Finished>, Rx<Finished>)>,
    /// Where it reports what it holds for the peer.
    held: HeldShare,
    /// Where it hears that the server shuts down; `None` once heard.
    stop: Option<StopSignal>,
    /// Once the server shuts down: the socket is not read (no new request is taken), and
    /// the handlers running may finish until this deadline; then the connection closes.
    winding_down: Option<Instant>,
    /// The close that ends a winding down went out.
    closed_for_stop: bool,
    runtime: PhantomData<fn() -> R>,
}

/// Where [`Driver::run`] is in the connection's opening, for its one yield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpeningStep {
    /// The upgrade request has not been taken yet.
    Upgrade,
    /// Taken: the next step writes the answer.
    Answer,
    /// Answered, and the task yielded once.
    Done,
}

impl<R: Runtime> Driver<R> {
    /// A driver for `channel` over `stream`, whose upgrade `gate` decides, serving
    /// `router` within `limits`. `linger` bounds the final flush; `held` is where it
    /// reports what it holds.
    pub(crate) fn new(
        channel: Channel,
        stream: Stream<R>,
        linger: Duration,
        gate: Gate,
        router: Arc<Router>,
        limits: Limits,
        held: HeldShare,
    ) -> Driver<R> {
        let write_stall = channel.connection().config().write_stall_timeout;
        Driver {
            channel,
            io: Transport::new(stream, linger, write_stall),
            router,
            gate,
            context: None,
            // Zero would never take an event again.
            max_handlers: limits.max_handlers.max(1),
            serving: Serving::new(limits.handler_timeout),
            cancels: BTreeMap::new(),
            finished: None,
            held,
            stop: None,
            winding_down: None,
            closed_for_stop: false,
            runtime: PhantomData,
        }
    }

    /// Winds the connection down once `stop` says the server shuts down (see
    /// [`ServerHandle::shutdown`](crate::ServerHandle::shutdown)).
    pub(crate) fn stop_with(mut self, stop: watch::Receiver<Option<Instant>>) -> Driver<R> {
        self.stop = Some(StopSignal::new(stop));
        self
    }

    /// Drives the connection until it is closed and flushed. Boxed: the task then holds a
    /// pointer, not one copy of the driver before the future starts and one after (an
    /// async fn keeps both), which an idle connection would pay for in memory.
    ///
    /// Its first poll may run on the task that accepted the connection (see
    /// [`spawn_accepted`](crate::listener::spawn_accepted)), which must get back to
    /// accepting: once the step after the upgrade (the one that writes the 101) is done,
    /// the driver gives its thread back once, and what a client sends on goes on in the
    /// connection's own task.
    pub(crate) async fn run(mut self: Box<Self>) {
        let mut opening = OpeningStep::Upgrade;
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
            opening = match opening {
                OpeningStep::Upgrade if self.channel.state() != State::Handshaking => {
                    OpeningStep::Answer
                }
                OpeningStep::Answer => {
                    future::yield_now().await;
                    OpeningStep::Done
                }
                other => other,
            };
        }
        debug!("finished");
    }

    /// Whether another request may start: below `max_handlers`. At the bound, the peer's
    /// next requests wait in the socket, not in our memory.
    fn taking(&self) -> bool {
        self.serving.len() < self.max_handlers
    }

    /// Whether the socket is read: while requests may start, and not while winding down
    /// (until our close is out, after which only the peer's close matters).
    fn reading(&self) -> bool {
        self.taking() && (self.winding_down.is_none() || self.closed_for_stop)
    }

    /// Ends handlers past their deadline, then takes events (while handlers may start),
    /// then bytes and the next deadline, telling the core what it holds outside at each
    /// step.
    fn drain(&mut self) {
        let now = R::now();
        while let Some(expired) = self.serving.expire(now) {
            self.cancels.remove(&expired.job);
            if let Some(reply) = expired.reply {
                debug!("handler timed out; cancelled");
                self.respond(now, reply, Err(ErrorObject::handler_timed_out()));
            }
        }
        loop {
            self.report(now);
            let mut took = false;
            while self.taking() {
                let Some(event) = self.channel.poll_event() else {
                    break;
                };
                took = true;
                self.on_event(now, event);
            }
            // The requests just handed to handlers left the channel's count for ours.
            self.report(now);
            self.close_if_wound_down();
            let deadline = self.deadline();
            self.io.drain(&mut self.channel, deadline);
            // The bytes just taken for the socket left the connection's count for ours;
            // telling it may let in messages that waited, whose events the next round takes.
            self.report(now);
            if !took {
                break;
            }
        }
        // Once more, so the read gate the transport keeps is the one of everything reported.
        let deadline = self.deadline();
        self.io.drain(&mut self.channel, deadline);
        self.held.report(self.channel.held());
    }

    /// The driver's own next deadline: a handler's, or the end of winding down.
    fn deadline(&self) -> Option<Instant> {
        let wind = self.winding_down.filter(|_| !self.closed_for_stop);
        [wind, self.serving.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Tells the core what is held outside it: the requests whose handlers run, and the
    /// bytes taken for the socket and not written yet.
    fn report(&mut self, now: Instant) {
        let outside = Held {
            input: 0,
            handling: self.serving.bytes(),
            unwritten: self.io.queued(),
        };
        self.channel.set_outside(now, outside);
        // At the handler bound or winding down the driver does not read: the peer's
        // silence is ours, not a sign it is gone.
        let reading = self.reading();
        self.channel.set_owner_reading(now, reading);
    }

    /// Closes with 1001 once winding down is over: every handler done, or its deadline
    /// passed (the answers of handlers still running are then lost).
    fn close_if_wound_down(&mut self) {
        let Some(deadline) = self.winding_down else {
            return;
        };
        if self.closed_for_stop || (!self.serving.is_empty() && R::now() < deadline) {
            return;
        }
        self.closed_for_stop = true;
        debug!(
            running = self.serving.len(),
            "server shutting down; closing"
        );
        // Already closing or closed is fine: that is where we want to be.
        let _ = self
            .channel
            .close(R::now(), CloseCode::GOING_AWAY, "server shutting down");
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Upgrade(request) => {
                debug!(method = %request.method, path = %request.path, "request");
                let (_, verdict) = self.gate.decide(request);
                self.context = verdict.apply(now, &mut self.channel, None);
            }
            Event::Open { .. } => debug!("open"),
            // This channel is the driver's alone, so a message handed out (were
            // `parse_aside` set) is parsed right here.
            Event::Parse(unparsed) => {
                let parsed = unparsed.parse();
                self.channel.handle_parsed(now, parsed);
            }
            Event::Request {
                reply,
                method,
                params,
            } => self.serve(now, Some(reply), &method, params),
            Event::Notification { method, params } => self.serve(now, None, &method, params),
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
    fn serve(
        &mut self,
        now: Instant,
        reply: Option<ReplyTo>,
        method: &str,
        params: Option<Box<RawValue>>,
    ) {
        if self.closed_for_stop {
            // Sent before the peer saw our close; it cannot be answered any more.
            return debug!(method, "request after the shutdown close dropped");
        }
        // Requests only come once the upgrade is accepted, which set the context.
        let context = self
            .context
            .clone()
            .unwrap_or_else(|| Context::new(Identity::anonymous(), None, self.gate.connection()));
        let size = method.len() + params.as_ref().map_or(0, |p| p.get().len());
        match (self.router.dispatch(method, params, context), reply) {
            (Some(handler), reply) => self.start(now, reply, size, handler),
            (None, Some(reply)) => self.respond(now, reply, Err(ErrorObject::method_not_found())),
            (None, None) => debug!(method, "notification for an unknown method dropped"),
        }
    }

    /// Runs `handler`: polled once here, and answered at once if that finishes it (most
    /// handlers wait for nothing: a lookup, an echo); otherwise in a task of its own, whose
    /// outcome comes back on `finished` unless it is cancelled first (its deadline passed,
    /// or the driver is gone). A handler done in its first poll costs no task, channel,
    /// cancel or deadline: the per-call cost a busy connection pays most.
    fn start(&mut self, now: Instant, reply: Option<ReplyTo>, size: usize, mut handler: Running) {
        // The task that takes an unfinished handler polls it again at once, with its own
        // waker, so the waker of this first poll is never the one that counts.
        let mut first = task::Context::from_waker(Waker::noop());
        if let Poll::Ready(outcome) = handler.as_mut().poll(&mut first) {
            if let Some(reply) = reply {
                self.respond(now, reply, outcome);
            }
            return;
        }
        let job = self.serving.start(now, reply, size);
        let (cancel, cancelled) = oneshot::channel::<()>();
        self.cancels.insert(job, cancel);
        let finished = self
            .finished
            .get_or_insert_with(async_channel::unbounded)
            .0
            .clone();
        R::spawn(async move {
            let outcome = future::or(async { Some(handler.await) }, async {
                // Dropping the sender is the signal; nothing is ever sent.
                let _ = cancelled.await;
                None
            })
            .await;
            if let Some(outcome) = outcome {
                let _ = finished.try_send((job, outcome));
            }
        });
    }

    /// Writes a handler's answer (dropped if the connection is closing).
    fn respond(&mut self, now: Instant, reply: ReplyTo, outcome: Outcome) {
        let result = match &outcome {
            Ok(value) => Ok(&**value),
            Err(error) => Err(error),
        };
        if let Err(error) = self.channel.respond(now, reply, result) {
            debug!(%error, "reply dropped");
        }
    }

    /// A handler ended: its answer goes out (a notification's has nowhere to go, and one
    /// past its deadline was answered already).
    fn finish(&mut self, now: Instant, (job, outcome): Finished) {
        self.cancels.remove(&job);
        if let Some(Some(reply)) = self.serving.finish(job) {
            self.respond(now, reply, outcome);
        }
    }

    /// Waits for one thing to happen and feeds it to the core.
    async fn step(&mut self) -> io::Result<()> {
        let reading = self.reading();
        let io_active = self.io.is_active(reading);
        let handlers = !self.serving.is_empty();
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
            match finished {
                Some((_, finished)) => Wake::Handler(finished.recv().await.ok()),
                // Handlers run only once the channel exists.
                None => std::future::pending().await,
            }
        });
        let stopped = branch(watch_stop, async {
            match stop {
                Some(stop) => {
                    Wake::Stop(Some(std::future::poll_fn(|cx| stop.poll_stopped(cx)).await))
                }
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
                let now = R::now();
                self.finish(now, done);
                // Take the other answers that are in: one drain for many.
                while let Some(Ok(done)) = self.finished.as_ref().map(|(_, rx)| rx.try_recv()) {
                    self.finish(now, done);
                }
            }
            // The driver holds a sender of its own.
            Wake::Handler(None) => {}
        }
        Ok(())
    }
}
