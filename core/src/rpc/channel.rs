//! The RPC state machine: JSON-RPC calls and replies over one owned WebSocket connection.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;

use super::batch::Batches;
use super::message::{self, Entry};
use super::pending::{Call, Pending};
use super::{
    Config, EndReason, ErrorObject, Event, Id, Parsed, PeerError, Refused, ReplyTo, Request,
    RequestId, RespondError, Stats, Unparsed,
};
use crate::budget::Held;
use crate::frame::CloseCode;
use crate::handshake::{ClientRequest, HandshakeError, HttpResponse};
use crate::rng::{Rng, Seed};
use crate::ws::{self, Connection, Message, SendError, State};

/// One JSON-RPC channel: many calls multiplexed over one WebSocket connection, which it
/// owns.
///
/// Not an "endpoint": in quinn and elsewhere an endpoint holds many connections, while a
/// channel is one connection's worth of JSON-RPC. A [`Session`](crate::session::Session)
/// reconnects by making a fresh channel per connection.
///
/// Both ends can call and both can serve: the role only says who opens the WebSocket.
/// It keeps the [`Connection`] contract (see the crate docs for the run loop):
/// - inputs: [`handle_input`](Self::handle_input), [`handle_eof`](Self::handle_eof),
///   [`handle_timeout`](Self::handle_timeout);
/// - commands: [`call`](Self::call), [`notify`](Self::notify), [`cancel`](Self::cancel),
///   [`respond`](Self::respond), [`ping`](Self::ping), [`close`](Self::close), and on a
///   server [`accept`](Self::accept) / [`reject`](Self::reject);
/// - outputs, drained after every input or command: [`poll_transmit`](Self::poll_transmit),
///   [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout);
/// - getters: [`state`](Self::state), [`stats`](Self::stats),
///   [`is_finished`](Self::is_finished), [`connection`](Self::connection).
///
/// Every call ends exactly once, with [`Event::Response`] or [`Event::Ended`].
#[derive(Debug)]
pub struct Channel {
    ws: Connection,
    config: Config,
    /// Mints request ids; separate from the connection's so ids do not depend on masks drawn.
    rng: Rng,
    pending: Pending<RequestId, Call>,
    /// Requests and notifications made before the WebSocket opened, written at `Open`.
    unsent: VecDeque<(Option<RequestId>, String)>,
    batches: Batches,
    events: VecDeque<Event>,
    /// A message is out to be parsed (`Event::Parse`) and not back yet.
    aside: bool,
    /// Bytes of the peer's requests and notifications in `events`, and of a message out to
    /// be parsed: what the owner has yet to take.
    queued: usize,
    /// Counters; `in_flight` is filled in by `stats()`.
    stats: Stats,
    /// The owner reads the transport as far as it is concerned (see
    /// [`set_owner_reading`](Self::set_owner_reading)).
    owner_reading: bool,
}

impl Channel {
    /// A client channel; the upgrade request is queued for `poll_transmit` at once.
    /// Calls may be made before it opens: they are written when it does.
    ///
    /// Fails only if `request` holds bytes that cannot be sent in an HTTP head.
    pub fn client(
        now: Instant,
        ws_config: impl Into<Arc<ws::Config>>,
        config: Config,
        request: ClientRequest,
        seed: Seed,
    ) -> Result<Channel, HandshakeError> {
        let (rng, ws_seed) = split_seed(seed);
        let ws = Connection::client(now, ws_config, request, ws_seed)?;
        Ok(Channel::with(ws, config, rng))
    }

    /// A server channel waiting for the client's upgrade request. `ws_config` may be shared
    /// by a server's channels as one `Arc` (see [`Connection::server`]).
    pub fn server(
        now: Instant,
        ws_config: impl Into<Arc<ws::Config>>,
        config: Config,
        seed: Seed,
    ) -> Channel {
        let (rng, ws_seed) = split_seed(seed);
        Channel::with(Connection::server(now, ws_config, ws_seed), config, rng)
    }

    fn with(ws: Connection, config: Config, rng: Rng) -> Channel {
        Channel {
            ws,
            config,
            rng,
            pending: Pending::default(),
            unsent: VecDeque::new(),
            batches: Batches::default(),
            events: VecDeque::new(),
            aside: false,
            queued: 0,
            stats: Stats::default(),
            owner_reading: true,
        }
    }

    /// Where the WebSocket is in its life.
    pub fn state(&self) -> State {
        self.ws.state()
    }

    /// The RPC settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The WebSocket underneath, for its getters (`pending_transmit`, `buffered_input`, …).
    pub fn connection(&self) -> &Connection {
        &self.ws
    }

    /// What this connection holds for its peer, counted against the WebSocket's
    /// [`budget`](crate::ws::Config::budget): the connection's input and output, the
    /// requests not yet taken, the answers waiting for the rest of their batch, and what
    /// the owner said it holds outside ([`set_outside`](Self::set_outside)).
    pub fn held(&self) -> Held {
        let own = Held {
            input: 0,
            handling: self.queued,
            unwritten: self.batches.held(),
        };
        self.ws.held() + own
    }

    /// The owner holds `outside` for the peer, beyond what the channel counts itself:
    /// the requests its handlers run (as `handling`), the bytes it took with
    /// `poll_transmit` and has not written yet (as `unwritten`). Call it whenever that
    /// changes: once under budget again, the channel takes the messages that waited.
    pub fn set_outside(&mut self, now: Instant, outside: Held) {
        self.ws.set_outside(now, outside);
        self.pump(now);
    }

    /// The owner stops (`false`) or resumes (`true`) reading the transport for a reason
    /// of its own, besides the budget (a server at its bound of handlers, or winding
    /// down). The peer's silence meanwhile is ours: the heartbeat does not count it.
    pub fn set_owner_reading(&mut self, now: Instant, reading: bool) {
        self.owner_reading = reading;
        self.pump(now);
    }

    /// Whether the owner should read the transport: the channel holds less than its
    /// budget besides the message in progress (see [`Held::reads`]). Past it, the
    /// peer waits in the transport until what we hold for it drains.
    /// A closed channel reads on: input is ignored then, and only an EOF is of use.
    pub fn wants_input(&self) -> bool {
        let message = self.ws.message_in_progress();
        self.held().reads(message, self.ws.config().budget) || self.ws.state() == State::Closed
    }

    /// Whether the channel takes its next message from the connection: the work already
    /// taken is under budget ([`Held::takes_next`]), or the connection is closed.
    fn takes_next(&self) -> bool {
        self.held().takes_next(self.ws.config().budget) || self.ws.state() == State::Closed
    }

    /// Counters: calls in flight, answers dropped, invalid messages.
    pub fn stats(&self) -> Stats {
        Stats {
            in_flight: self.pending.len(),
            ..self.stats.clone()
        }
    }

    /// Feeds bytes read from the transport.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.ws.handle_input(now, data);
        self.pump(now);
    }

    /// The peer closed its write side.
    pub fn handle_eof(&mut self, now: Instant) {
        self.ws.handle_eof(now);
        self.pump(now);
    }

    /// The transport is gone: ends at once, messages not yet taken included (see
    /// [`Connection::handle_transport_lost`](crate::ws::Connection::handle_transport_lost)).
    pub fn handle_transport_lost(&mut self, now: Instant) {
        self.ws.handle_transport_lost(now);
        self.pump(now);
    }

    /// Frees the spare capacity of the queues that are empty now, and the connection's:
    /// see [`Machine::release_idle`](crate::Machine::release_idle).
    pub fn release_idle(&mut self) {
        if self.unsent.is_empty() {
            self.unsent = VecDeque::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        self.rng.release_idle();
        self.ws.release_idle();
    }

    /// Fires every deadline at or before `now`: the WebSocket's, and calls that ran out of
    /// time (each ends with [`EndReason::TimedOut`]). Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ws.handle_timeout(now);
        self.pump(now);
        while let Some((id, _)) = self.pending.pop_expired(now) {
            self.stats.timed_out += 1;
            self.events.push_back(Event::Ended {
                id,
                reason: EndReason::TimedOut,
            });
        }
    }

    /// Calls `method` and returns the id its answer will carry. The request is written at
    /// once if the WebSocket is open, else when it opens. It waits `timeout`, or the
    /// configured default, for an answer.
    ///
    /// `params` must be a JSON object or array (`serde_json::value::to_raw_value` makes one).
    pub fn call(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
        timeout: Option<Duration>,
    ) -> Result<RequestId, Refused> {
        self.check_open()?;
        self.call_request(now, Request::new(method, params)?, timeout)
    }

    /// [`call`](Self::call) with the request encoded beforehand ([`Request::new`]), so
    /// that the work in proportion to the params' size is done before: this only picks
    /// the id and appends it.
    pub fn call_request(
        &mut self,
        now: Instant,
        request: Request,
        timeout: Option<Duration>,
    ) -> Result<RequestId, Refused> {
        self.check_open()?;
        if self.pending.len() >= self.config.max_in_flight {
            return Err(Refused::Busy(self.pending.len()));
        }
        let id = loop {
            // 122 random bits: a repeat is as good as impossible, but must not merge calls.
            let id = RequestId::generate(&mut self.rng);
            if !self.pending.contains(&id) {
                break id;
            }
        };
        let sent = self.write_or_queue(now, Some(id), request.finish(Some(id)));
        let deadline = now.checked_add(timeout.unwrap_or(self.config.default_timeout));
        self.pending.insert(id, Call { deadline, sent });
        Ok(id)
    }

    /// Sends a notification: a call that gets no answer.
    pub fn notify(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<(), Refused> {
        self.check_open()?;
        self.notify_request(now, Request::new(method, params)?)
    }

    /// [`notify`](Self::notify) with the request encoded beforehand.
    pub fn notify_request(&mut self, now: Instant, request: Request) -> Result<(), Refused> {
        self.check_open()?;
        self.write_or_queue(now, None, request.finish(None));
        Ok(())
    }

    /// Whether [`call_request`](Self::call_request) would take a call now: open (or
    /// opening) and below `max_in_flight`.
    pub fn takes_calls(&self) -> bool {
        self.takes_requests() && self.pending.len() < self.config.max_in_flight
    }

    /// Whether [`notify_request`](Self::notify_request) would take a notification now.
    pub fn takes_requests(&self) -> bool {
        self.check_open().is_ok()
    }

    fn check_open(&self) -> Result<(), Refused> {
        match self.ws.state() {
            State::Handshaking | State::Open => Ok(()),
            State::Closing => Err(Refused::Closing),
            State::Closed => Err(Refused::Closed),
        }
    }

    /// Returns whether the text went to the WebSocket (true) or waits for `Open` (false).
    fn write_or_queue(&mut self, now: Instant, id: Option<RequestId>, text: String) -> bool {
        if self.ws.state() == State::Handshaking {
            self.unsent.push_back((id, text));
            return false;
        }
        // Checked open by the caller, so this succeeds.
        self.ws.send(now, Message::Text(text)).is_ok()
    }

    /// Gives up waiting for call `id`: it ends with [`EndReason::Cancelled`] and a late
    /// answer is dropped. JSON-RPC has no cancel message, so the peer may still run it.
    /// Returns false if the call had already ended.
    pub fn cancel(&mut self, _now: Instant, id: RequestId) -> bool {
        if self.pending.remove(&id).is_none() {
            return false;
        }
        self.events.push_back(Event::Ended {
            id,
            reason: EndReason::Cancelled,
        });
        true
    }

    /// Answers an incoming request, in any order. An answer to a request that came in a
    /// batch is held until the whole batch is answered, then sent as one array.
    ///
    /// Answering an unknown method is the application's job:
    /// `respond(now, reply, Err(&ErrorObject::method_not_found()))`.
    pub fn respond(
        &mut self,
        now: Instant,
        reply: ReplyTo,
        result: Result<&RawValue, &ErrorObject>,
    ) -> Result<(), RespondError> {
        if self.ws.state() != State::Open {
            return Err(RespondError::Closed);
        }
        let text = message::encode_response(&reply.id, result);
        self.reply(now, reply.slot, text)
    }

    /// Sends `text` now, or files it in its batch and sends the batch once complete.
    fn reply(
        &mut self,
        now: Instant,
        slot: Option<(u64, usize)>,
        text: String,
    ) -> Result<(), RespondError> {
        let ready = match slot {
            None => Some(text),
            Some((batch, index)) => self.batches.fill(batch, index, text)?,
        };
        if let Some(text) = ready {
            self.ws
                .send(now, Message::Text(text))
                .map_err(|_| RespondError::Closed)?;
        }
        Ok(())
    }

    /// Server role: accepts the pending upgrade (see [`Connection::accept`]).
    pub fn accept(
        &mut self,
        now: Instant,
        protocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<(), SendError> {
        let result = self.ws.accept(now, protocol, headers);
        self.pump(now);
        result
    }

    /// Server role: refuses the pending upgrade with an HTTP status.
    pub fn reject(&mut self, now: Instant, status: u16) -> Result<(), SendError> {
        let result = self.ws.reject(now, status);
        self.pump(now);
        result
    }

    /// Server role: answers the pending request with a plain HTTP response (see
    /// [`Connection::answer_http`]).
    pub fn answer_http(&mut self, now: Instant, response: &HttpResponse) -> Result<(), SendError> {
        let result = self.ws.answer_http(now, response);
        self.pump(now);
        result
    }

    /// Queues a ping; the answer is an [`Event::Pong`].
    pub fn ping(&mut self, now: Instant, payload: Bytes) -> Result<(), SendError> {
        self.ws.ping(now, payload)
    }

    /// Starts the closing handshake. Calls still pending end with
    /// [`EndReason::ConnectionLost`] when the connection is closed.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        let result = self.ws.close(now, code, reason);
        self.pump(now);
        result
    }

    /// The next bytes to write to the transport.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.ws.poll_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        self.queued = self.queued.saturating_sub(queued_size(&event));
        Some(event)
    }

    /// The next deadline: the WebSocket's or the soonest call's. After
    /// `handle_timeout(now)` it is `None` or later than `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.ws.poll_timeout(), self.pending.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The WebSocket is closed and everything is written: drop the transport.
    pub fn is_finished(&self) -> bool {
        self.ws.is_finished()
    }

    /// Turns what the WebSocket reported into RPC events, while the budget allows: past
    /// it the next message waits (raw, unparsed) in the connection, and so does the peer.
    fn pump(&mut self, now: Instant) {
        // While a message is out to be parsed, the ones after it wait in the connection.
        while !self.aside && self.takes_next() {
            let Some(event) = self.ws.poll_event() else {
                break;
            };
            match event {
                ws::Event::Upgrade(request) => self.events.push_back(Event::Upgrade(request)),
                ws::Event::Open { protocol } => {
                    self.flush_unsent(now);
                    self.events.push_back(Event::Open { protocol });
                }
                ws::Event::Message(Message::Text(text)) => self.on_text(now, text),
                ws::Event::Message(Message::Binary(_)) => {
                    self.stats.binary_messages += 1;
                    self.events.push_back(Event::Invalid(PeerError::Binary));
                }
                // Already answered by the WebSocket layer.
                ws::Event::Ping(_) => {}
                ws::Event::Pong(payload) => self.events.push_back(Event::Pong(payload)),
                ws::Event::Error(error) => self.events.push_back(Event::WsError(error)),
                ws::Event::Closed(info) => {
                    for (id, call) in self.pending.drain() {
                        self.events.push_back(Event::Ended {
                            id,
                            reason: EndReason::ConnectionLost { sent: call.sent },
                        });
                    }
                    self.unsent.clear();
                    self.batches.clear();
                    self.events.push_back(Event::Closed(info));
                }
            }
        }
        // The heartbeat does not count the peer's silence while we do not read it.
        let reading = self.wants_input() && self.owner_reading;
        self.ws.set_reading(now, reading);
    }

    /// Queues an event for the owner, counting the peer's requests in it.
    fn push(&mut self, event: Event) {
        self.queued += queued_size(&event);
        self.events.push_back(event);
    }

    fn flush_unsent(&mut self, now: Instant) {
        while let Some((id, text)) = self.unsent.pop_front() {
            if let Some(id) = id {
                // Cancelled or timed out while waiting: never send it.
                let Some(call) = self.pending.get_mut(&id) else {
                    continue;
                };
                call.sent = true;
            }
            // Just opened, so this succeeds.
            let _ = self.ws.send(now, Message::Text(text));
        }
    }

    fn on_text(&mut self, now: Instant, text: String) {
        if self.config.parse_aside.is_some_and(|at| text.len() >= at) {
            self.aside = true;
            let max_batch = self.config.max_batch_len;
            self.push(Event::Parse(Unparsed { text, max_batch }));
            return;
        }
        let parsed = message::parse(&text, self.config.max_batch_len).into_owned();
        self.on_parsed(now, parsed);
    }

    /// Takes a message handed out with [`Event::Parse`], parsed; then the messages that
    /// came after it.
    pub fn handle_parsed(&mut self, now: Instant, parsed: Parsed) {
        if !self.aside {
            return;
        }
        self.aside = false;
        self.on_parsed(now, parsed.0);
        self.pump(now);
    }

    fn on_parsed(&mut self, now: Instant, parsed: message::Parsed<Box<RawValue>>) {
        match parsed {
            message::Parsed::One(entry) => self.on_entry(now, entry, None),
            message::Parsed::Batch(entries) => {
                let slots = entries.iter().filter(|e| wants_answer(e)).count();
                let batch = (slots > 0).then(|| self.batches.open(slots));
                let mut next_slot = 0;
                for entry in entries {
                    let slot = match batch {
                        Some(batch) if wants_answer(&entry) => {
                            next_slot += 1;
                            Some((batch, next_slot - 1))
                        }
                        _ => None,
                    };
                    self.on_entry(now, entry, slot);
                }
            }
            message::Parsed::NotJson => {
                self.stats.invalid_messages += 1;
                let error = ErrorObject::new(ErrorObject::PARSE_ERROR, "Parse error");
                self.answer_error(now, Id::Null, None, &error);
                self.events.push_back(Event::Invalid(PeerError::NotJson));
            }
            message::Parsed::NotRpc(why) => self.invalid_request(now, Id::Null, None, why),
        }
    }

    fn on_entry(&mut self, now: Instant, entry: Entry<Box<RawValue>>, slot: Option<(u64, usize)>) {
        match entry {
            Entry::Request { id, method, params } => self.push(Event::Request {
                reply: ReplyTo { id, slot },
                method,
                params,
            }),
            Entry::Notification { method, params } => {
                self.push(Event::Notification { method, params });
            }
            Entry::Response { id, result } => {
                #[cfg(feature = "mutants")]
                let id = match id {
                    Some(mine) if crate::mutants::on(crate::mutants::Mutant::WrongAnswer) => {
                        self.pending.other_than(&mine).or(Some(mine))
                    }
                    other => other,
                };
                match id.filter(|id| self.pending.remove(id).is_some()) {
                    Some(id) => self.events.push_back(Event::Response { id, result }),
                    None => self.stats.unknown_responses += 1,
                }
            }
            Entry::InvalidRequest { id, why } => self.invalid_request(now, id, slot, why),
            Entry::InvalidResponse { why } => {
                self.stats.invalid_messages += 1;
                self.events
                    .push_back(Event::Invalid(PeerError::InvalidResponse(why)));
            }
        }
    }

    fn invalid_request(
        &mut self,
        now: Instant,
        id: Id,
        slot: Option<(u64, usize)>,
        why: &'static str,
    ) {
        self.stats.invalid_messages += 1;
        let mut error = ErrorObject::new(ErrorObject::INVALID_REQUEST, "Invalid Request");
        error.data = serde_json::value::to_raw_value(why).ok();
        self.answer_error(now, id, slot, &error);
        self.events
            .push_back(Event::Invalid(PeerError::InvalidRequest(why)));
    }

    fn answer_error(
        &mut self,
        now: Instant,
        id: Id,
        slot: Option<(u64, usize)>,
        error: &ErrorObject,
    ) {
        let text = message::encode_response(&id, Err(error));
        // If we are closing, the peer gets no answer; nothing else to do.
        let _ = self.reply(now, slot, text);
    }
}

/// The bytes of the peer's that `event` holds, as the budget counts them: a request's or
/// notification's method and params, a message to parse.
pub(crate) fn queued_size(event: &Event) -> usize {
    match event {
        Event::Request { method, params, .. } | Event::Notification { method, params } => {
            method.len() + params.as_ref().map_or(0, |p| p.get().len())
        }
        Event::Parse(unparsed) => unparsed.len(),
        _ => 0,
    }
}

/// Entries that take a place in a batch's answer: requests, and invalid requests (answered
/// with `-32600`). Notifications and responses take none.
fn wants_answer<P>(entry: &Entry<P>) -> bool {
    matches!(entry, Entry::Request { .. } | Entry::InvalidRequest { .. })
}

/// One seed feeds both the id generator and the connection (masks, handshake key).
fn split_seed(seed: Seed) -> (Rng, Seed) {
    let mut rng = Rng::from_seed(seed);
    let mut ws_seed = [0u8; 32];
    rng.fill(&mut ws_seed);
    (rng, ws_seed)
}
