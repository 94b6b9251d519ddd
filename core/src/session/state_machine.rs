//! The session state machine: links come and go, calls and the queue stay.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;

use super::call::{Call, Place, Request};
use super::heartbeat::{Beat, Due};
use super::metrics::Counters;
use super::queue::{Item, Queue};
use super::{
    later, Attempt, CallError, CallId, CallOptions, Config, EndReason, Event, Link, Metrics, Retry,
    State,
};
use crate::frame::CloseCode;
use crate::handshake::{ClientRequest, HandshakeError};
use crate::rng::{Rng, Seed};
use crate::rpc::message::encoded_request_len;
use crate::rpc::pending::Pending;
use crate::rpc::{self, Endpoint, ErrorObject, RequestId};
use crate::ws;

/// An abandoned link's last bytes (a heartbeat close frame) are handed out only if this
/// little is pending: a dead link is not worth encoding a backlog for.
const MAX_FAREWELL_BYTES: usize = 4 << 10;

/// The current transport and, once it is open, its WebSocket.
#[derive(Debug)]
struct LinkSlot {
    attempt: Attempt,
    /// `None` until the owner reports the transport open.
    endpoint: Option<Endpoint>,
    /// Until the WebSocket opens.
    connect_deadline: Option<Instant>,
    /// The WebSocket opened on this link.
    opened: bool,
    /// Since when it has been open, until it closes.
    up_since: Option<Instant>,
    beat: Option<Beat>,
    /// The WebSocket is closed or closing: nothing more is written; the transport is
    /// dropped once the endpoint is finished.
    ending: bool,
}

/// A reconnecting JSON-RPC client link to one server address (see the
/// [module docs](super) for the run loop and the states).
///
/// Methods, as on the other machines of the crate:
/// - inputs: [`start`](Self::start), [`transport_open`](Self::transport_open),
///   [`transport_failed`](Self::transport_failed), [`handle_input`](Self::handle_input),
///   [`handle_eof`](Self::handle_eof), [`handle_timeout`](Self::handle_timeout);
/// - commands: [`call`](Self::call), [`notify`](Self::notify), [`cancel`](Self::cancel),
///   [`close`](Self::close);
/// - outputs, drained after every input or command: [`poll_transmit`](Self::poll_transmit),
///   [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout);
/// - getters: [`state`](Self::state), [`current_attempt`](Self::current_attempt),
///   [`pending_transmit`](Self::pending_transmit), [`metrics`](Self::metrics),
///   [`link`](Self::link).
///
/// Nothing panics on any input; inputs naming an attempt that is not the current one are
/// ignored.
///
/// ```
/// use std::time::Instant;
/// use tether_core::handshake::ClientRequest;
/// use tether_core::session::{CallOptions, Config, Event, Session, State};
///
/// let now = Instant::now();
/// let request = ClientRequest { host: "node-2:7000".into(), path: "/rpc".into(), ..Default::default() };
/// let mut session = Session::new(now, Config::default(), request, [1; 32]).unwrap();
/// // Calls made before the link is up wait in the queue.
/// let id = session.call(now, "status", None, CallOptions::default()).unwrap();
/// session.start(now);
/// let mut events = Vec::new();
/// while let Some(event) = session.poll_event() {
///     events.push(event);
/// }
/// assert!(matches!(events.as_slice(), [Event::State(State::Connecting), Event::Connect { .. }]));
/// assert_eq!(session.metrics(now).queue_depth, 1);
/// # let _ = id;
/// ```
#[derive(Debug)]
pub struct Session {
    config: Config,
    request: ClientRequest,
    rng: Rng,
    state: State,
    started: bool,
    /// The owner closed the session: no more links, no more calls.
    closed: bool,
    ever_connected: bool,
    /// The latest `now` seen, for work done in outputs (which take no time).
    now: Instant,
    next_attempt: u64,
    link: Option<LinkSlot>,
    /// Last bytes of the link just abandoned, handed out before anything newer.
    farewell: VecDeque<(Attempt, Bytes)>,
    /// Consecutive failed attempts, for `max_attempts`.
    failures: u32,
    /// Waits taken since a link was last open: the k of the backoff.
    backoff_step: u32,
    backoff_at: Option<Instant>,
    next_call: u64,
    calls: Pending<CallId, Call>,
    /// Calls in flight on the current link, by the request id on the wire.
    wire: BTreeMap<RequestId, CallId>,
    queue: Queue,
    events: VecDeque<Event>,
    counters: Counters,
}

impl Session {
    /// A session to the server `request` names; nothing happens until
    /// [`start`](Self::start). Fails only if `request` holds bytes that cannot be sent in
    /// an HTTP head (checked once here, so every attempt can send it).
    pub fn new(
        now: Instant,
        config: Config,
        request: ClientRequest,
        seed: Seed,
    ) -> Result<Session, HandshakeError> {
        // Any well-formed key will do: only the other fields are being checked.
        request.encode("dGhlIHNhbXBsZSBub25jZQ==", &mut BytesMut::new())?;
        Ok(Session {
            config,
            request,
            rng: Rng::from_seed(seed),
            state: State::Disconnected,
            started: false,
            closed: false,
            ever_connected: false,
            now,
            next_attempt: 1,
            link: None,
            farewell: VecDeque::new(),
            failures: 0,
            backoff_step: 0,
            backoff_at: None,
            next_call: 1,
            calls: Pending::default(),
            wire: BTreeMap::new(),
            queue: Queue::default(),
            events: VecDeque::new(),
            counters: Counters::default(),
        })
    }

    /// Where the session is in its life.
    pub fn state(&self) -> State {
        self.state
    }

    /// The settings it was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The transport the session works with now, if any: the one inputs must name.
    pub fn current_attempt(&self) -> Option<Attempt> {
        self.link.as_ref().map(|link| link.attempt)
    }

    /// Starts connecting: `Disconnected` → `Connecting`, and an [`Event::Connect`].
    /// Does nothing once started or closed.
    pub fn start(&mut self, now: Instant) {
        self.touch(now);
        if self.started || self.closed {
            return;
        }
        self.started = true;
        self.set_state(State::Connecting);
        self.connect(now);
    }

    /// The transport of `attempt` is open (TCP, and TLS for `wss`): the WebSocket upgrade
    /// request goes out next.
    pub fn transport_open(&mut self, now: Instant, attempt: Attempt) {
        self.touch(now);
        let Some(link) = self.link.as_mut().filter(|link| link.attempt == attempt) else {
            return;
        };
        if link.endpoint.is_some() {
            return;
        }
        let mut seed = [0u8; 32];
        self.rng.fill(&mut seed);
        let endpoint = Endpoint::client(
            now,
            self.config.ws.clone(),
            self.config.rpc.clone(),
            self.request.clone(),
            seed,
        );
        match endpoint {
            Ok(endpoint) => link.endpoint = Some(endpoint),
            // Checked in `new`; kept as a failed attempt rather than a panic.
            Err(_) => self.link_failed(now),
        }
    }

    /// The transport of `attempt` failed: it could not be opened, was reset, or hit an
    /// I/O error. Before the WebSocket opened this is a failed attempt; after, a lost link.
    pub fn transport_failed(&mut self, now: Instant, attempt: Attempt) {
        self.touch(now);
        if self.is_current(attempt) {
            self.link_failed(now);
        }
    }

    /// Bytes read from the transport of `attempt`.
    pub fn handle_input(&mut self, now: Instant, attempt: Attempt, data: &[u8]) {
        self.touch(now);
        let Some(link) = self.link.as_mut().filter(|link| link.attempt == attempt) else {
            return;
        };
        let Some(endpoint) = link.endpoint.as_mut() else {
            return;
        };
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        self.counters.bytes_received = self.counters.bytes_received.saturating_add(len);
        if let Some(beat) = link.beat.as_mut() {
            beat.on_input(now);
        }
        endpoint.handle_input(now, data);
        self.after_input(now);
    }

    /// The peer closed its write side of the transport of `attempt`.
    pub fn handle_eof(&mut self, now: Instant, attempt: Attempt) {
        self.touch(now);
        let Some(link) = self.link.as_mut().filter(|link| link.attempt == attempt) else {
            return;
        };
        match link.endpoint.as_mut() {
            Some(endpoint) => {
                endpoint.handle_eof(now);
                self.after_input(now);
            }
            None => self.link_failed(now),
        }
    }

    /// Fires everything due at or before `now`: the link's timers, the connect timeout,
    /// the heartbeat, the backoff and call deadlines. Calling it early is harmless; after
    /// it, [`poll_timeout`](Self::poll_timeout) is `None` or later than `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        // Each round can only arm timers later than `now`, except through the endpoint's
        // own settings (a zero close timeout); a few rounds settle those too.
        for _ in 0..4 {
            self.fire_timers(now);
            if self.poll_timeout().is_none_or(|at| at > now) {
                break;
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        if let Some(endpoint) = self.link.as_mut().and_then(|l| l.endpoint.as_mut()) {
            endpoint.handle_timeout(now);
            self.pump(now);
        }
        let connect_due = self
            .link
            .as_ref()
            .is_some_and(|link| !link.opened && link.connect_deadline.is_some_and(|at| at <= now));
        if connect_due {
            self.link_failed(now);
        }
        self.beat(now);
        if self.backoff_at.is_some_and(|at| at <= now) {
            self.backoff_at = None;
            self.connect(now);
        }
        while let Some((id, call)) = self.calls.pop_expired(now) {
            self.end_removed(now, id, call, EndReason::TimedOut);
        }
        self.flush(now);
        self.settle(now);
    }

    /// Calls `method` on the server. Written at once if a link is open, nothing is queued
    /// and fewer than `rpc.max_in_flight` calls wait for answers; else queued.
    ///
    /// `params` must be a JSON object or array (`serde_json::value::to_raw_value` makes one).
    pub fn call(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
        options: CallOptions,
    ) -> Result<CallId, CallError> {
        self.touch(now);
        self.check_callable(params)?;
        let size = encoded_request_len(true, method, params);
        let resends = match options.retry {
            Retry::Never => 0,
            Retry::Resend { max } => max,
        };
        let timeout = options.timeout.unwrap_or(self.config.rpc.default_timeout);
        let deadline = now.checked_add(timeout);
        if self.has_room() {
            if let Some(place) = self.write(now, method, params) {
                // Only a call that may be re-sent keeps its request once written.
                let request = (resends > 0).then(|| Request {
                    method: method.to_owned(),
                    params: params.map(ToOwned::to_owned),
                    size,
                });
                return Ok(self.insert(deadline, resends, request, place));
            }
        }
        self.queue.check(&self.config.queue, size)?;
        let request = Request {
            method: method.to_owned(),
            params: params.map(ToOwned::to_owned),
            size,
        };
        let id = self.insert(deadline, resends, Some(request), Place::Queued);
        self.queue.push_back(Item::Call(id), size);
        Ok(id)
    }

    /// Sends a notification: a call that gets no answer. Queued like a call; once written
    /// it is never re-sent.
    pub fn notify(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<(), CallError> {
        self.touch(now);
        self.check_callable(params)?;
        let size = encoded_request_len(false, method, params);
        // Notifications take no slot in flight, but still wait behind queued items.
        if self.writable() && self.queue.is_empty() && self.write_notify(now, method, params) {
            return Ok(());
        }
        self.queue.check(&self.config.queue, size)?;
        let item = Item::Notify {
            method: method.to_owned(),
            params: params.map(ToOwned::to_owned),
            size,
        };
        self.queue.push_back(item, size);
        Ok(())
    }

    /// Gives up call `id`, queued or in flight: it ends with [`EndReason::Cancelled`] and a
    /// late answer is dropped (JSON-RPC has no cancel message: the server may still run
    /// it). Returns false if the call had already ended.
    pub fn cancel(&mut self, now: Instant, id: CallId) -> bool {
        self.touch(now);
        let Some(call) = self.calls.remove(&id) else {
            return false;
        };
        self.end_removed(now, id, call, EndReason::Cancelled);
        self.flush(now);
        true
    }

    /// Closes the session: queued calls end with [`EndReason::Closed`], the open link (if
    /// any) is closed with 1000 and calls still in flight end when it is closed
    /// ([`EndReason::ConnectionLost`]); then the transport is dropped
    /// ([`Event::Disconnect`]) and the state is `Disconnected`. No reconnects; further
    /// calls fail with [`CallError::Closed`]. Closing again, or a `Failed` session, does
    /// nothing.
    pub fn close(&mut self, now: Instant) {
        self.touch(now);
        if self.closed || self.state == State::Failed {
            return;
        }
        self.closed = true;
        self.backoff_at = None;
        self.end_queued(EndReason::Closed);
        let Some(link) = self.link.as_mut() else {
            self.set_state(State::Disconnected);
            return;
        };
        if !link.opened {
            self.abandon(now, false);
            self.set_state(State::Disconnected);
            return;
        }
        if !link.ending {
            link.ending = true;
            link.beat = None;
            if let Some(endpoint) = link.endpoint.as_mut() {
                // Open, so the close is accepted; if not, the link is ending anyway.
                let _ = endpoint.close(now, CloseCode::NORMAL, "");
            }
            self.pump(now);
        }
        self.settle(now);
    }

    /// The next bytes to write to the transport the owner holds: an abandoned link's
    /// last bytes (before its [`Event::Disconnect`] is polled), else the current link's.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let bytes = match self.farewell.pop_front() {
            Some((_, bytes)) => Some(bytes),
            None => self
                .link
                .as_mut()
                .and_then(|link| link.endpoint.as_mut())
                .and_then(Endpoint::poll_transmit),
        };
        match bytes {
            Some(bytes) => {
                self.count_sent(&bytes);
                Some(bytes)
            }
            None => {
                // Everything is written: an ending link may be finished now.
                self.settle(self.now);
                None
            }
        }
    }

    /// The next bytes for the transport of `attempt` only: for owners that hold several
    /// transports at once, or none of the current one yet (see also [`Link`]).
    pub fn poll_transmit_for(&mut self, attempt: Attempt) -> Option<Bytes> {
        if self.farewell.front().is_some_and(|(a, _)| *a == attempt)
            || (self.farewell.is_empty() && self.is_current(attempt))
        {
            return self.poll_transmit();
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next deadline: call [`handle_timeout`](Self::handle_timeout) then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = [self.backoff_at, self.calls.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        if let Some(link) = &self.link {
            let link_timers = [
                link.endpoint.as_ref().and_then(Endpoint::poll_timeout),
                link.connect_deadline.filter(|_| !link.opened),
                link.beat.as_ref().and_then(Beat::next),
            ];
            next = link_timers.into_iter().flatten().chain(next).min();
        }
        next
    }

    /// Bytes waiting for the transport and not yet handed out (for back-pressure).
    pub fn pending_transmit(&self) -> usize {
        let farewell: usize = self.farewell.iter().map(|(_, b)| b.len()).sum();
        farewell.saturating_add(self.link_pending())
    }

    fn link_pending(&self) -> usize {
        self.link
            .as_ref()
            .and_then(|link| link.endpoint.as_ref())
            .map_or(0, |endpoint| endpoint.connection().pending_transmit())
    }

    /// Bytes waiting for the transport of `attempt` and not yet handed out.
    pub fn pending_transmit_for(&self, attempt: Attempt) -> usize {
        if self.is_current(attempt) {
            return self.link_pending();
        }
        self.farewell
            .iter()
            .filter(|(a, _)| *a == attempt)
            .map(|(_, b)| b.len())
            .sum()
    }

    /// Whether the owner may drop the transport of `attempt`: the session abandoned it
    /// (its [`Event::Disconnect`] is out) and its last bytes were handed out.
    pub fn is_abandoned(&self, attempt: Attempt) -> bool {
        !self.is_current(attempt) && !self.farewell.iter().any(|(a, _)| *a == attempt)
    }

    /// The WebSocket state of the transport of `attempt`: `Handshaking` until it opens,
    /// `Closed` once abandoned (or for an attempt never made).
    pub fn link_state(&self, attempt: Attempt) -> ws::State {
        match self.link.as_ref().filter(|link| link.attempt == attempt) {
            Some(link) => link
                .endpoint
                .as_ref()
                .map_or(ws::State::Handshaking, Endpoint::state),
            None => ws::State::Closed,
        }
    }

    /// Counters and gauges at `now`.
    pub fn metrics(&self, now: Instant) -> Metrics {
        let connected_for = self
            .link
            .as_ref()
            .and_then(|link| link.up_since)
            .map(|at| now.saturating_duration_since(at));
        Metrics {
            queue_depth: self.queue.len(),
            queue_bytes: self.queue.bytes(),
            in_flight: self.wire.len(),
            ..self.counters.snapshot(connected_for, self.state)
        }
    }

    /// The transport of `attempt` as a [`Machine`](crate::Machine), for drivers of one
    /// link at a time.
    pub fn link(&mut self, attempt: Attempt) -> Link<'_> {
        Link::new(self, attempt)
    }

    // ---- links ----

    fn is_current(&self, attempt: Attempt) -> bool {
        self.current_attempt() == Some(attempt)
    }

    fn touch(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn set_state(&mut self, state: State) {
        if self.state != state {
            self.state = state;
            self.events.push_back(Event::State(state));
        }
    }

    /// Asks for a new transport, dropping an ending one first.
    fn connect(&mut self, now: Instant) {
        if self.link.is_some() {
            self.abandon(now, false);
        }
        // Last bytes of an older link can no longer be written anywhere.
        self.farewell.clear();
        let attempt = Attempt(self.next_attempt);
        self.next_attempt = self.next_attempt.saturating_add(1);
        self.link = Some(LinkSlot {
            attempt,
            endpoint: None,
            connect_deadline: later(now, self.config.connect_timeout),
            opened: false,
            up_since: None,
            beat: None,
            ending: false,
        });
        self.events.push_back(Event::Connect { attempt });
    }

    /// Drops the current link: its transport goes ([`Event::Disconnect`]), calls in flight
    /// on it are lost. With `farewell`, what it still has to write (a close frame) is
    /// handed out first, if it is little.
    fn abandon(&mut self, now: Instant, farewell: bool) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        if let Some(mut endpoint) = link.endpoint.take() {
            if farewell && endpoint.connection().pending_transmit() <= MAX_FAREWELL_BYTES {
                while let Some(bytes) = endpoint.poll_transmit() {
                    self.farewell.push_back((link.attempt, bytes));
                }
            }
        }
        self.stop_uptime(&mut link, now);
        self.events.push_back(Event::Disconnect {
            attempt: link.attempt,
        });
        self.lose_in_flight();
    }

    fn stop_uptime(&mut self, link: &mut LinkSlot, now: Instant) {
        if let Some(since) = link.up_since.take() {
            let up = now.saturating_duration_since(since);
            let total = &mut self.counters.closed_links_uptime;
            *total = total.saturating_add(up);
        }
    }

    /// The current transport failed or ended before the session was done with it.
    fn link_failed(&mut self, now: Instant) {
        let Some(link) = &self.link else {
            return;
        };
        let (opened, ending) = (link.opened, link.ending);
        self.abandon(now, false);
        if self.closed {
            self.set_state(State::Disconnected);
        } else if !opened {
            self.attempt_failed(now);
        } else if !ending {
            self.schedule_reconnect(now);
        }
        // Opened and ending: the reconnect was scheduled when its WebSocket closed.
    }

    fn attempt_failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.counters.error();
        self.schedule_reconnect(now);
    }

    /// Waits out the backoff before the next attempt, or gives up after `max_attempts`.
    fn schedule_reconnect(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if let Some(max) = self.config.backoff.max_attempts {
            if self.failures >= max {
                self.give_up();
                return;
            }
        }
        self.backoff_step = self.backoff_step.saturating_add(1);
        let delay = self.config.backoff.delay(self.backoff_step, &mut self.rng);
        // A wait too long for `Instant` is forever: the session stays Reconnecting.
        self.backoff_at = later(now, delay);
        self.set_state(if self.ever_connected {
            State::Reconnecting
        } else {
            State::Connecting
        });
    }

    fn give_up(&mut self) {
        self.backoff_at = None;
        self.set_state(State::Failed);
        self.end_queued(EndReason::Failed);
    }

    /// Drops an ending link whose endpoint is finished; finishes a close.
    fn settle(&mut self, now: Instant) {
        let finished = self.link.as_ref().is_some_and(|link| {
            link.ending && link.endpoint.as_ref().is_none_or(Endpoint::is_finished)
        });
        if finished {
            self.abandon(now, false);
            if self.closed {
                self.set_state(State::Disconnected);
            }
        }
    }

    fn after_input(&mut self, now: Instant) {
        self.pump(now);
        self.flush(now);
        self.settle(now);
    }

    /// Handles what the current link's endpoint reported.
    fn pump(&mut self, now: Instant) {
        loop {
            let event = self
                .link
                .as_mut()
                .and_then(|link| link.endpoint.as_mut())
                .and_then(Endpoint::poll_event);
            match event {
                Some(event) => self.on_link_event(now, event),
                None => break,
            }
        }
    }

    fn on_link_event(&mut self, now: Instant, event: rpc::Event) {
        match event {
            rpc::Event::Open { .. } => self.on_open(now),
            rpc::Event::Response { id, result } => self.on_response(now, id, result),
            rpc::Event::Ended { id, reason } => match reason {
                // Every lost call is handled at `Closed`, in submission order.
                rpc::EndReason::ConnectionLost { .. } => {}
                // Our own cancels: already unmapped. The endpoint's deadlines never fire.
                rpc::EndReason::Cancelled | rpc::EndReason::TimedOut => {
                    self.wire.remove(&id);
                }
            },
            rpc::Event::Request { reply, .. } => {
                self.counters.message(now, false);
                if let Some(endpoint) = self.link.as_mut().and_then(|l| l.endpoint.as_mut()) {
                    let error = ErrorObject::method_not_found();
                    // Closing: the server gets no answer, and needs none.
                    let _ = endpoint.respond(now, reply, Err(&error));
                }
            }
            rpc::Event::Notification { method, params } => {
                self.counters.message(now, false);
                self.events
                    .push_back(Event::Notification { method, params });
            }
            rpc::Event::Pong(payload) => {
                let rtt = self
                    .link
                    .as_mut()
                    .and_then(|link| link.beat.as_mut())
                    .and_then(|beat| beat.on_pong(now, &payload));
                if let Some(rtt) = rtt {
                    self.counters.rtt.record(rtt);
                }
            }
            rpc::Event::Invalid(_) => self.counters.error(),
            rpc::Event::WsError(_) => {
                // Before the link opened, the failed attempt is what counts.
                if self.link.as_ref().is_some_and(|link| link.opened) {
                    self.counters.error();
                }
            }
            rpc::Event::Closed(_) => self.on_ws_closed(now),
            // A client is never asked to accept an upgrade.
            rpc::Event::Upgrade(_) => {}
        }
    }

    fn on_open(&mut self, now: Instant) {
        let heartbeat = self.config.heartbeat;
        let Some(link) = self.link.as_mut() else {
            return;
        };
        link.opened = true;
        link.connect_deadline = None;
        link.up_since = Some(now);
        link.beat = heartbeat.map(|config| Beat::new(config, now));
        self.failures = 0;
        self.backoff_step = 0;
        self.ever_connected = true;
        self.counters.links_opened = self.counters.links_opened.saturating_add(1);
        self.set_state(State::Connected);
        self.flush(now);
    }

    /// The link's WebSocket closed: before it opened, the attempt failed; after, the link
    /// is lost and the transport goes once everything is written.
    fn on_ws_closed(&mut self, now: Instant) {
        let Some(mut link) = self.link.take() else {
            return;
        };
        if !link.opened {
            self.link = Some(link);
            self.link_failed(now);
            return;
        }
        let was_ending = link.ending;
        link.ending = true;
        link.beat = None;
        self.stop_uptime(&mut link, now);
        self.link = Some(link);
        self.lose_in_flight();
        if !was_ending {
            self.schedule_reconnect(now);
        }
    }

    /// Runs the heartbeat of the open link.
    fn beat(&mut self, now: Instant) {
        loop {
            let Some(link) = self.link.as_mut().filter(|link| !link.ending) else {
                return;
            };
            let (Some(beat), Some(endpoint)) = (link.beat.as_mut(), link.endpoint.as_mut()) else {
                return;
            };
            match beat.due(now) {
                Due::Nothing => return,
                Due::Ping(payload) => {
                    // Open and not ending, so accepted; a refused ping is just not sent.
                    let _ = endpoint.ping(now, Bytes::copy_from_slice(&payload));
                }
                Due::Dead => {
                    let attempt = link.attempt;
                    // Best effort: the peer is probably not reading any more.
                    let _ = endpoint.close(now, CloseCode::INTERNAL_ERROR, "heartbeat timeout");
                    self.counters.error();
                    self.events.push_back(Event::HeartbeatTimeout { attempt });
                    self.abandon(now, true);
                    self.schedule_reconnect(now);
                    return;
                }
            }
        }
    }

    // ---- calls ----

    fn check_callable(&self, params: Option<&RawValue>) -> Result<(), CallError> {
        if self.closed {
            return Err(CallError::Closed);
        }
        if self.state == State::Failed {
            return Err(CallError::Failed);
        }
        match params.map(|p| p.get().as_bytes().first()) {
            None | Some(Some(b'{' | b'[')) => Ok(()),
            Some(_) => Err(CallError::InvalidParams),
        }
    }

    /// A link is open and taking new messages.
    fn writable(&self) -> bool {
        !self.closed
            && self.link.as_ref().is_some_and(|link| {
                link.opened
                    && !link.ending
                    && link
                        .endpoint
                        .as_ref()
                        .is_some_and(|e| e.state() == ws::State::Open)
            })
    }

    /// A new call may be written at once: nothing waits before it and a slot is free.
    fn has_room(&self) -> bool {
        self.writable() && self.queue.is_empty() && self.wire.len() < self.config.rpc.max_in_flight
    }

    /// Files a new call under a fresh id.
    fn insert(
        &mut self,
        deadline: Option<Instant>,
        resends: u32,
        request: Option<Request>,
        place: Place,
    ) -> CallId {
        let id = CallId(self.next_call);
        self.next_call = self.next_call.saturating_add(1);
        let call = Call {
            deadline,
            resends,
            request,
            place,
        };
        self.calls.insert(id, call);
        if let Place::InFlight { wire, .. } = place {
            self.wire.insert(wire, id);
        }
        id
    }

    /// Writes a call on the current link; `None` if the link refused it.
    fn write(&mut self, now: Instant, method: &str, params: Option<&RawValue>) -> Option<Place> {
        let link = self.link.as_mut()?;
        let endpoint = link.endpoint.as_mut()?;
        // The session keeps the deadline: the endpoint's call never times out.
        let wire = endpoint
            .call(now, method, params, Some(Duration::MAX))
            .ok()?;
        self.counters.message(now, true);
        Some(Place::InFlight {
            wire,
            attempt: link.attempt,
            written_at: now,
        })
    }

    fn write_notify(&mut self, now: Instant, method: &str, params: Option<&RawValue>) -> bool {
        let Some(endpoint) = self.link.as_mut().and_then(|l| l.endpoint.as_mut()) else {
            return false;
        };
        if endpoint.notify(now, method, params).is_err() {
            return false;
        }
        self.counters.message(now, true);
        true
    }

    /// Writes queued items, in order, while the link takes them.
    fn flush(&mut self, now: Instant) {
        while self.writable() {
            let calls = &self.calls;
            let item = self.queue.pop_front(|id| {
                let call = calls.get(&id).filter(|c| c.place == Place::Queued)?;
                Some(call.request.as_ref().map_or(0, |r| r.size))
            });
            let Some(item) = item else {
                return;
            };
            let written = match &item {
                Item::Call(id) => self.write_queued(now, *id),
                Item::Notify { method, params, .. } => {
                    self.write_notify(now, method, params.as_deref())
                }
            };
            if !written {
                let size = match &item {
                    Item::Call(id) => self.queued_size(*id),
                    Item::Notify { size, .. } => *size,
                };
                self.queue.unpop(item, size);
                return;
            }
        }
    }

    fn queued_size(&self, id: CallId) -> usize {
        self.calls
            .get(&id)
            .and_then(|call| call.request.as_ref())
            .map_or(0, |request| request.size)
    }

    /// Writes queued call `id` if a slot is free.
    fn write_queued(&mut self, now: Instant, id: CallId) -> bool {
        if self.wire.len() >= self.config.rpc.max_in_flight {
            return false;
        }
        // Take the request out while writing, so the call table is not borrowed.
        let Some(request) = self.calls.get_mut(&id).and_then(|c| c.request.take()) else {
            return false;
        };
        let place = self.write(now, &request.method, request.params.as_deref());
        let Some(call) = self.calls.get_mut(&id) else {
            return false;
        };
        match place {
            Some(place) => {
                if call.resends > 0 {
                    call.request = Some(request);
                }
                call.place = place;
                if let Place::InFlight { wire, .. } = place {
                    self.wire.insert(wire, id);
                }
                true
            }
            None => {
                call.request = Some(request);
                false
            }
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        wire: RequestId,
        result: Result<Box<RawValue>, ErrorObject>,
    ) {
        self.counters.message(now, false);
        let Some(id) = self.wire.remove(&wire) else {
            return;
        };
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Place::InFlight { written_at, .. } = call.place {
            self.counters
                .latency
                .record(now.saturating_duration_since(written_at));
        }
        self.events.push_back(Event::Response { id, result });
    }

    /// Ends a call already taken out of the table, wherever it was.
    fn end_removed(&mut self, now: Instant, id: CallId, call: Call, reason: EndReason) {
        match call.place {
            Place::Queued => {
                let size = call.request.as_ref().map_or(0, |r| r.size);
                let calls = &self.calls;
                self.queue.forget(size, |item| match item {
                    Item::Call(id) => calls.get(id).is_some_and(|c| c.place == Place::Queued),
                    Item::Notify { .. } => true,
                });
            }
            Place::InFlight { wire, attempt, .. } => {
                self.wire.remove(&wire);
                if let Some(link) = self.link.as_mut().filter(|l| l.attempt == attempt) {
                    if let Some(endpoint) = link.endpoint.as_mut() {
                        endpoint.cancel(now, wire);
                    }
                }
            }
        }
        self.events.push_back(Event::Ended { id, reason });
    }

    /// Every call in flight on the current link lost it: resendable ones go back to the
    /// front of the queue in submission order, the others end.
    fn lose_in_flight(&mut self) {
        let mut lost: Vec<CallId> = std::mem::take(&mut self.wire).into_values().collect();
        lost.sort_unstable();
        let mut requeued = Vec::new();
        for id in lost {
            let resend = !self.closed
                && self
                    .calls
                    .get(&id)
                    .is_some_and(|c| c.resends > 0 && c.request.is_some());
            if resend {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.resends -= 1;
                    call.place = Place::Queued;
                    requeued.push((id, call.request.as_ref().map_or(0, |r| r.size)));
                }
            } else if self.calls.remove(&id).is_some() {
                self.events.push_back(Event::Ended {
                    id,
                    reason: EndReason::ConnectionLost { sent: true },
                });
            }
        }
        for (id, size) in requeued.into_iter().rev() {
            self.queue.push_front(id, size);
        }
    }

    /// Ends every queued call with `reason`, in queue order; queued notifications are dropped.
    fn end_queued(&mut self, reason: EndReason) {
        let items: Vec<Item> = self.queue.drain().collect();
        for item in items {
            let Item::Call(id) = item else {
                continue;
            };
            let queued = self
                .calls
                .get(&id)
                .is_some_and(|c| c.place == Place::Queued);
            if queued && self.calls.remove(&id).is_some() {
                self.events.push_back(Event::Ended { id, reason });
            }
        }
    }

    fn count_sent(&mut self, bytes: &Bytes) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.counters.bytes_sent = self.counters.bytes_sent.saturating_add(len);
    }
}
