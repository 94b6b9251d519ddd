//! The one task that owns a server connection's socket and its [`Endpoint`].
//!
//! The peer's requests go to the [`Router`]; each handler runs as a task of its own in a
//! `JoinSet`, so a slow one blocks nobody, and its answer comes back here to be written.
//! While `max_handlers` are running, the driver takes no more events and reads no more
//! bytes: the peer waits, nothing is refused. (A client's task is the
//! [`session_driver`](super::session_driver): clients are reconnecting sessions.)

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tether_core::rpc::{Endpoint, ErrorObject, Event, ReplyTo};
use tokio::task::JoinSet;
use tracing::debug;

use crate::driver::now;
use crate::stream::Stream;
use crate::transport::Transport;
use tether_adapter::rpc::{Outcome, Router};

/// Owns one socket and one server [`Endpoint`]; see the module docs.
#[derive(Debug)]
pub(crate) struct Driver {
    endpoint: Endpoint,
    io: Transport,
    router: Arc<Router>,
    /// Handlers running for the peer's requests (`None`: a notification, no answer).
    handlers: JoinSet<(Option<ReplyTo>, Outcome)>,
    max_handlers: usize,
}

impl Driver {
    /// A driver for `endpoint` over `stream`, serving `router` with at most `max_handlers`
    /// running at once. `linger` bounds the final flush.
    pub(crate) fn new(
        endpoint: Endpoint,
        stream: Stream,
        linger: Duration,
        router: Arc<Router>,
        max_handlers: usize,
    ) -> Driver {
        Driver {
            endpoint,
            io: Transport::new(stream, linger),
            router,
            handlers: JoinSet::new(),
            // Zero would never take an event again.
            max_handlers: max_handlers.max(1),
        }
    }

    /// Drives the connection until it is closed and flushed.
    pub(crate) async fn run(mut self) {
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
            Event::Open { .. } => debug!("open"),
            Event::Request {
                reply,
                method,
                params,
            } => self.serve(Some(reply), &method, params),
            Event::Notification { method, params } => self.serve(None, &method, params),
            Event::Invalid(error) => debug!(%error, "invalid message from the peer"),
            Event::WsError(error) => debug!(%error, "protocol error"),
            Event::Closed(info) => debug!(code = info.code.0, clean = info.clean, "closed"),
            // A server makes no calls, so answers to them never come; pongs only answer
            // pings it never sends.
            Event::Response { .. } | Event::Ended { .. } | Event::Pong(_) => {}
        }
    }

    /// Starts the handler for a request or notification, or answers an unknown method.
    fn serve(
        &mut self,
        reply: Option<ReplyTo>,
        method: &str,
        params: Option<Box<serde_json::value::RawValue>>,
    ) {
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
            else => self.io.stalled(),
        }
        Ok(())
    }
}
