//! Where a server connection's driver sends the core's events: [`Dispatch`], the part of
//! the driver no runtime shapes.
//!
//! The peer's requests go to the [`Router`], and each running handler to the driver's
//! [`Handlers`] (a task each), whose answer comes back through [`respond`]. While
//! `max_handlers` are running, no more events are taken: the driver stops reading, so the
//! peer waits and nothing is refused.

use std::sync::Arc;
use std::time::Instant;

use serde_json::value::RawValue;
use tether_core::rpc::{Channel, ErrorObject, Event, ReplyTo};
use tracing::debug;

use super::router::{Outcome, Router, Running};

/// The handlers running for the peer's requests, as the driver keeps them.
pub(crate) trait Handlers {
    /// How many are running.
    fn len(&self) -> usize;
    /// Runs `handler` in a task of its own; once it ends, its outcome goes to
    /// [`respond`] (if `reply` is some: a notification gets no answer).
    fn start(&mut self, reply: Option<ReplyTo>, handler: Running);
}

/// The routing of one JSON-RPC server connection; see the module docs.
#[derive(Debug)]
pub(crate) struct Dispatch {
    router: Arc<Router>,
    max_handlers: usize,
}

impl Dispatch {
    /// Routing that serves `router` with at most `max_handlers` running at once.
    pub(crate) fn new(router: Arc<Router>, max_handlers: usize) -> Dispatch {
        Dispatch {
            router,
            // Zero would never take an event again.
            max_handlers: max_handlers.max(1),
        }
    }

    /// Takes the core's events while handlers may start, and routes them.
    pub(crate) fn drain(
        &mut self,
        now: Instant,
        channel: &mut Channel,
        handlers: &mut impl Handlers,
    ) {
        while self.reading(handlers) {
            let Some(event) = channel.poll_event() else {
                break;
            };
            self.on_event(now, channel, handlers, event);
        }
    }

    /// Whether another request may start: below `max_handlers`. At the bound, the peer's
    /// next requests wait in the socket, not in our memory.
    pub(crate) fn reading(&self, handlers: &impl Handlers) -> bool {
        handlers.len() < self.max_handlers
    }

    fn on_event(
        &mut self,
        now: Instant,
        channel: &mut Channel,
        handlers: &mut impl Handlers,
        event: Event,
    ) {
        match event {
            Event::Upgrade(request) => {
                debug!(path = %request.path, "upgrade request");
                if channel.accept(now, None, &[]).is_err() {
                    let _ = channel.reject(now, 500);
                }
            }
            Event::Open { .. } => debug!("open"),
            Event::Request {
                reply,
                method,
                params,
            } => self.serve(now, channel, handlers, Some(reply), &method, params),
            Event::Notification { method, params } => {
                self.serve(now, channel, handlers, None, &method, params);
            }
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
        channel: &mut Channel,
        handlers: &mut impl Handlers,
        reply: Option<ReplyTo>,
        method: &str,
        params: Option<Box<RawValue>>,
    ) {
        match (self.router.dispatch(method, params), reply) {
            (Some(running), reply) => handlers.start(reply, running),
            (None, Some(reply)) => {
                respond(now, channel, reply, Err(ErrorObject::method_not_found()));
            }
            (None, None) => debug!(method, "notification for an unknown method dropped"),
        }
    }
}

/// Writes a handler's answer (dropped if the connection is closing).
pub(crate) fn respond(now: Instant, channel: &mut Channel, reply: ReplyTo, outcome: Outcome) {
    let result = match &outcome {
        Ok(value) => Ok(&**value),
        Err(error) => Err(error),
    };
    if let Err(error) = channel.respond(now, reply, result) {
        debug!(%error, "reply dropped");
    }
}
