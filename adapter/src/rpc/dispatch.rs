//! Where a JSON-RPC driver sends the core's events and how it carries out a client's
//! commands: [`Dispatch`], the part of the driver no runtime shapes.
//!
//! Our calls come in as [`Command`]s and their waiters are kept by request id until the
//! core ends them (answer, timeout, cancel, connection lost: exactly once). The peer's
//! requests go to the [`Router`], and each running handler to the adapter's [`Handlers`]
//! (a task each), whose answer comes back through [`respond`]. While
//! `max_handlers` are running, no more events are taken: the driver stops reading, so the
//! peer waits and nothing is refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tether_core::frame::CloseCode;
use tether_core::rpc::{Endpoint, ErrorObject, Event, ReplyTo, RequestId};
use tether_core::ws::{ProtocolError, State};

use super::router::{Outcome, Router, Running};
use super::CallError;
use crate::OpenError;

/// Where an outcome goes: the caller's end of a one-shot channel.
pub trait Answer<T> {
    /// Hands over the outcome; a caller that stopped waiting just does not get it.
    fn answer(self, value: T);
    /// The caller stopped waiting.
    fn is_closed(&self) -> bool;
}

/// The handlers running for the peer's requests, as the driver keeps them.
pub trait Handlers {
    /// How many are running.
    fn len(&self) -> usize;
    /// Whether none is running.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Runs `handler` in a task of its own; once it ends, its outcome goes to
    /// [`respond`] (if `reply` is some: a notification gets no answer).
    fn start(&mut self, reply: Option<ReplyTo>, handler: Running);
}

/// A call's raw result, or why there is none.
pub type CallResult = Result<Box<RawValue>, CallError>;

/// What a client asks its driver to do.
#[derive(Debug)]
pub enum Command<D, N> {
    /// Call `method`; the outcome goes to `done`.
    Call {
        /// The caller's name for the call, which it uses to cancel it (the request id is
        /// the core's to choose).
        key: u64,
        /// The method.
        method: String,
        /// Its params, an object or an array.
        params: Option<Box<RawValue>>,
        /// Its own deadline, instead of the default.
        timeout: Option<Duration>,
        /// Where the result goes.
        done: D,
    },
    /// Notify `method`; whether it was queued goes to `done`.
    Notify {
        /// The method.
        method: String,
        /// Its params, an object or an array.
        params: Option<Box<RawValue>>,
        /// Where the outcome of queueing goes.
        done: N,
    },
    /// Close the connection.
    Close,
}

/// The routing of one JSON-RPC connection; see the module docs. `D` is where a call's
/// result goes.
pub struct Dispatch<D> {
    /// Our calls' waiters by request id, with the caller's key.
    calls: HashMap<RequestId, (u64, D)>,
    keys: HashMap<u64, RequestId>,
    router: Arc<Router>,
    max_handlers: usize,
    opened: bool,
    /// The last protocol error before `Open`, reported if the handshake fails.
    failure: Option<ProtocolError>,
    /// Every handle is gone and we started closing on their behalf.
    abandoned: bool,
}

impl<D> std::fmt::Debug for Dispatch<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch")
            .field("calls", &self.calls.len())
            .field("router", &self.router)
            .field("max_handlers", &self.max_handlers)
            .field("opened", &self.opened)
            .finish_non_exhaustive()
    }
}

impl<D: Answer<CallResult>> Dispatch<D> {
    /// Routing that serves `router` with at most `max_handlers` running at once (a client
    /// serves an empty router with one).
    pub fn new(router: Arc<Router>, max_handlers: usize) -> Dispatch<D> {
        Dispatch {
            calls: HashMap::new(),
            keys: HashMap::new(),
            router,
            // Zero would never take an event again.
            max_handlers: max_handlers.max(1),
            opened: false,
            failure: None,
            abandoned: false,
        }
    }

    /// Takes the core's events while handlers may start, and routes them.
    pub fn drain(&mut self, now: Instant, endpoint: &mut Endpoint, handlers: &mut impl Handlers) {
        while self.reading(handlers) {
            let Some(event) = endpoint.poll_event() else {
                break;
            };
            self.on_event(now, endpoint, handlers, event);
        }
    }

    /// Whether another request may start: below `max_handlers`. At the bound, the peer's
    /// next requests wait in the socket, not in our memory.
    pub fn reading(&self, handlers: &impl Handlers) -> bool {
        handlers.len() < self.max_handlers
    }

    /// The WebSocket is open.
    pub fn opened(&self) -> bool {
        self.opened
    }

    /// Why a handshake that ended without opening failed.
    pub fn open_error(&mut self) -> OpenError {
        self.failure
            .take()
            .map_or(OpenError::Closed, OpenError::Protocol)
    }

    fn on_event(
        &mut self,
        now: Instant,
        endpoint: &mut Endpoint,
        handlers: &mut impl Handlers,
        event: Event,
    ) {
        match event {
            Event::Upgrade(_) => {
                if endpoint.accept(now, None, &[]).is_err() {
                    let _ = endpoint.reject(now, 500);
                }
            }
            Event::Open { .. } => self.opened = true,
            Event::Response { id, result } => self.finish(id, result.map_err(CallError::Rpc)),
            Event::Ended { id, reason } => self.finish(id, Err(reason.into())),
            Event::Request {
                reply,
                method,
                params,
            } => self.serve(now, endpoint, handlers, Some(reply), &method, params),
            Event::Notification { method, params } => {
                self.serve(now, endpoint, handlers, None, &method, params);
            }
            // Already answered by the core where the spec says so; the connection goes on.
            Event::Invalid(_) | Event::Pong(_) | Event::Closed(_) => {}
            Event::WsError(error) => {
                if !self.opened {
                    self.failure = Some(error);
                }
            }
        }
    }

    /// Hands a call's end to its waiter, if it still waits.
    fn finish(&mut self, id: RequestId, result: CallResult) {
        if let Some((key, done)) = self.calls.remove(&id) {
            self.keys.remove(&key);
            done.answer(result);
        }
    }

    /// Starts the handler for a request or notification, or answers an unknown method
    /// (a notification for one is dropped).
    fn serve(
        &mut self,
        now: Instant,
        endpoint: &mut Endpoint,
        handlers: &mut impl Handlers,
        reply: Option<ReplyTo>,
        method: &str,
        params: Option<Box<RawValue>>,
    ) {
        match (self.router.dispatch(method, params), reply) {
            (Some(running), reply) => handlers.start(reply, running),
            (None, Some(reply)) => {
                respond(now, endpoint, reply, Err(ErrorObject::method_not_found()));
            }
            (None, None) => {}
        }
    }

    /// Carries out a client's command.
    pub fn command<N: Answer<Result<(), CallError>>>(
        &mut self,
        now: Instant,
        endpoint: &mut Endpoint,
        command: Command<D, N>,
    ) {
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
                match endpoint.call(now, &method, params.as_deref(), timeout) {
                    Ok(id) => {
                        self.keys.insert(key, id);
                        self.calls.insert(id, (key, done));
                    }
                    Err(error) => done.answer(Err(error.into())),
                }
            }
            Command::Notify {
                method,
                params,
                done,
            } => {
                let result = endpoint.notify(now, &method, params.as_deref());
                done.answer(result.map_err(CallError::from));
            }
            // Closing twice, or after the peer, is where we want to be anyway.
            Command::Close => {
                let _ = endpoint.close(now, CloseCode::NORMAL, "");
            }
        }
    }

    /// A caller dropped its call: the core ends it as cancelled and drops a late answer.
    pub fn cancel(&mut self, now: Instant, endpoint: &mut Endpoint, key: u64) {
        if let Some(id) = self.keys.remove(&key) {
            self.calls.remove(&id);
            endpoint.cancel(now, id);
        }
    }

    /// Every client handle was dropped: nobody can call any more, so close as the user
    /// would have (once). Returns whether it did so now.
    pub fn abandon(&mut self, now: Instant, endpoint: &mut Endpoint) -> bool {
        if self.abandoned {
            return false;
        }
        self.abandoned = true;
        if endpoint.state() != State::Closed {
            let _ = endpoint.close(now, CloseCode::NORMAL, "");
        }
        true
    }
}

/// Writes a handler's answer (dropped if the connection is closing).
pub fn respond(now: Instant, endpoint: &mut Endpoint, reply: ReplyTo, outcome: Outcome) {
    let result = match &outcome {
        Ok(value) => Ok(&**value),
        Err(error) => Err(error),
    };
    let _ = endpoint.respond(now, reply, result);
}
