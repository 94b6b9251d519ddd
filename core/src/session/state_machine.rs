//! The session state machine: links come and go, calls and the queue stay.
//!
//! This file holds the [`Session`] itself, its inputs, outputs and getters; what they do
//! to the link is in `links.rs`, and what they do to calls in `calls.rs`.

mod calls;
mod links;

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;

use super::call::{Call, Place, Request};
use super::metrics::Counters;
use super::queue::{Item, Queue};
use super::{
    Attempt, CallId, CallOptions, Config, EndReason, Event, Link, Metrics, Refused, Retry, State,
};
use crate::frame::CloseCode;
use crate::handshake::{ClientRequest, HandshakeError};
use crate::heartbeat::Beat;
use crate::rng::{Rng, Seed};
use crate::rpc::message::encoded_request_len;
use crate::rpc::pending::Pending;
use crate::rpc::{Channel, RequestId};
use crate::ws;

/// The current transport and, once it is open, its WebSocket.
#[derive(Debug)]
struct LinkSlot {
    attempt: Attempt,
    /// `None` until the owner reports the transport open.
    channel: Option<Channel>,
    /// Until the WebSocket opens.
    connect_deadline: Option<Instant>,
    /// The WebSocket opened on this link.
    opened: bool,
    /// Since when it has been open, until it closes.
    up_since: Option<Instant>,
    beat: Option<Beat>,
    /// The WebSocket is closed or closing: nothing more is written; the transport is
    /// dropped once the channel is finished.
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
///   [`close`](Self::close), [`set_reading`](Self::set_reading);
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
    /// Consecutive failed attempts: the k of the backoff, and what `max_attempts` bounds.
    failures: u32,
    /// What the current attempt's WebSocket reported before it opened (see `attempt_error`).
    attempt_error: Option<ws::ProtocolError>,
    backoff_at: Option<Instant>,
    next_call: u64,
    calls: Pending<CallId, Call>,
    /// Calls in flight on the current link, by the request id on the wire.
    wire: BTreeMap<RequestId, CallId>,
    queue: Queue,
    events: VecDeque<Event>,
    counters: Counters,
    /// The owner reads the current transport (see [`set_reading`](Session::set_reading)).
    reading: bool,
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
            attempt_error: None,
            backoff_at: None,
            next_call: 1,
            calls: Pending::default(),
            wire: BTreeMap::new(),
            queue: Queue::default(),
            events: VecDeque::new(),
            counters: Counters::default(),
            reading: true,
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

    /// Why the latest attempt failed before its WebSocket opened, when its WebSocket said
    /// why: the server refused the upgrade (an HTTP status), answered something that is no
    /// upgrade, or broke the protocol. For owners that report a first failure to their
    /// user. `None` for what the owner saw itself (a transport that could not be opened),
    /// for a connect timeout, and once the next attempt starts.
    pub fn attempt_error(&self) -> Option<&ws::ProtocolError> {
        self.attempt_error.as_ref()
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
        if link.channel.is_some() {
            return;
        }
        let mut seed = [0u8; 32];
        self.rng.fill(&mut seed);
        let channel = Channel::client(
            now,
            self.config.ws.clone(),
            self.config.rpc.clone(),
            self.request.clone(),
            seed,
        );
        match channel {
            Ok(channel) => link.channel = Some(channel),
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
        let Some(channel) = link.channel.as_mut() else {
            return;
        };
        let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        self.counters.bytes_received = self.counters.bytes_received.saturating_add(len);
        if let Some(beat) = link.beat.as_mut() {
            beat.on_input(now);
        }
        channel.handle_input(now, data);
        self.after_input(now);
    }

    /// The peer closed its write side of the transport of `attempt`.
    pub fn handle_eof(&mut self, now: Instant, attempt: Attempt) {
        self.touch(now);
        let Some(link) = self.link.as_mut().filter(|link| link.attempt == attempt) else {
            return;
        };
        match link.channel.as_mut() {
            Some(channel) => {
                channel.handle_eof(now);
                self.after_input(now);
            }
            None => self.link_failed(now),
        }
    }

    /// Frees the spare capacity of the queues that are empty now, and the open link's:
    /// see [`Machine::release_idle`](crate::Machine::release_idle).
    pub fn release_idle(&mut self) {
        if self.farewell.is_empty() {
            self.farewell = VecDeque::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        self.queue.release_idle();
        self.rng.release_idle();
        if let Some(channel) = self.link.as_mut().and_then(|link| link.channel.as_mut()) {
            channel.release_idle();
        }
    }

    /// Fires everything due at or before `now`: the link's timers, the connect timeout,
    /// the heartbeat, the backoff and call deadlines. Calling it early is harmless; after
    /// it, [`poll_timeout`](Self::poll_timeout) is `None` or later than `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        // Each round can only arm timers later than `now`, except through the channel's
        // own settings (a zero close timeout); a few rounds settle those too.
        for _ in 0..4 {
            self.fire_timers(now);
            if self.poll_timeout().is_none_or(|at| at > now) {
                break;
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        if let Some(channel) = self.link.as_mut().and_then(|l| l.channel.as_mut()) {
            channel.handle_timeout(now);
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
    ) -> Result<CallId, Refused> {
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
    ) -> Result<(), Refused> {
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

    /// Tells the session whether its owner reads the current transport; `true` until said
    /// otherwise, for every link to come as well.
    ///
    /// An owner may stop reading to hold the server back while something downstream of it
    /// is full (a consumer of notifications, say): the peer then waits in the transport,
    /// nothing is dropped. Meanwhile the peer seems silent, but the silence is the owner's,
    /// so the heartbeat sends no ping and declares no link dead. Once the owner reads
    /// again, the pings sent before are forgotten and the peer has a whole
    /// [`Heartbeat::timeout`](super::Heartbeat::timeout) from `now` to show a sign of
    /// life; a ping that fell due meanwhile is due at once. Other deadlines (calls,
    /// connect, close) run on.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use tether_core::handshake::ClientRequest;
    /// use tether_core::session::{Config, Session};
    ///
    /// let now = Instant::now();
    /// let request = ClientRequest { host: "node-2:7000".into(), path: "/rpc".into(), ..Default::default() };
    /// let mut session = Session::new(now, Config::default(), request, [1; 32]).unwrap();
    /// // The consumer of the server's notifications is full: stop reading for a while.
    /// session.set_reading(now, false);
    /// // It took some: read again, and the heartbeat counts from here.
    /// session.set_reading(now + Duration::from_secs(60), true);
    /// ```
    pub fn set_reading(&mut self, now: Instant, reading: bool) {
        self.touch(now);
        if self.reading == reading {
            return;
        }
        self.reading = reading;
        if reading {
            if let Some(beat) = self.link.as_mut().and_then(|link| link.beat.as_mut()) {
                beat.resume(now);
            }
        }
    }

    /// Closes the session: queued calls end with [`EndReason::Closed`], the open link (if
    /// any) is closed with 1000 and calls still in flight end when it is closed
    /// ([`EndReason::ConnectionLost`]); then the transport is dropped
    /// ([`Event::Disconnect`]) and the state is `Disconnected`. No reconnects; further
    /// calls fail with [`Refused::Closed`]. Closing again, or a `Failed` session, does
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
            if let Some(channel) = link.channel.as_mut() {
                // Open, so the close is accepted; if not, the link is ending anyway.
                let _ = channel.close(now, CloseCode::NORMAL, "");
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
                .and_then(|link| link.channel.as_mut())
                .and_then(Channel::poll_transmit),
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
                link.channel.as_ref().and_then(Channel::poll_timeout),
                link.connect_deadline.filter(|_| !link.opened),
                // Paused while the owner does not read (see `set_reading`).
                link.beat
                    .as_ref()
                    .filter(|_| self.reading)
                    .and_then(Beat::next),
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
            .and_then(|link| link.channel.as_ref())
            .map_or(0, |channel| channel.connection().pending_transmit())
    }

    /// Whether the transport of `attempt` should be read: the current link's channel holds
    /// less than its budget (see [`crate::budget`]). Any other transport reads (for its EOF).
    pub fn wants_input_for(&self, attempt: Attempt) -> bool {
        if !self.is_current(attempt) {
            return true;
        }
        self.link
            .as_ref()
            .and_then(|link| link.channel.as_ref())
            .is_none_or(Channel::wants_input)
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
                .channel
                .as_ref()
                .map_or(ws::State::Handshaking, Channel::state),
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

    // ---- helpers for the inputs, links and calls alike ----

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

    fn count_sent(&mut self, bytes: &Bytes) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.counters.bytes_sent = self.counters.bytes_sent.saturating_add(len);
    }
}
