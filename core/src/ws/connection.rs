//! The WebSocket connection state machine.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

use super::incoming::{Reader, Received};
use super::outgoing::Outgoing;
use super::{CloseInfo, Config, Event, Initiator, Message, ProtocolError, Role, SendError, State};
use crate::budget::Held;
use crate::deflate::{Compressor, DeflateParams};
use crate::frame::{CloseCode, OpCode};
use crate::handshake::{self, ClientRequest, HandshakeError};
use crate::heartbeat::{Beat, Due};
use crate::rng::{Rng, Seed};
use crate::time::{Timer, TimerTable};

/// Input buffers larger than this are given back once they drain.
const IDLE_INPUT_CAPACITY: usize = 64 << 10;
/// What our heartbeat's pings start with, so their pongs are told from the answers to the
/// owner's own pings (a session's or a pool's, whose payloads are bare counters).
const BEAT_PREFIX: &[u8] = b"hb";

/// Where the opening handshake stands.
#[derive(Debug)]
enum Opening {
    /// Client: waiting for the `101` to a request sent with `key`.
    AwaitResponse { key: String, protocols: Vec<String> },
    /// Server: waiting for the request.
    AwaitRequest,
    /// Server: the request arrived and waits for `accept`, `reject` or `answer_http`.
    AwaitDecision {
        /// For a valid upgrade, its key and the permessage-deflate offer we can take (with
        /// the header value that accepts it); otherwise why it is not an upgrade.
        upgrade: Result<(String, Option<(DeflateParams, String)>), HandshakeError>,
        /// The request was `HEAD`: an answer goes without its body.
        head_only: bool,
    },
    /// Done.
    Done,
}

/// One WebSocket connection, client or server role, as a sans-IO state machine.
///
/// Methods fall in four groups (quinn-proto's shape):
/// - inputs: [`handle_input`](Self::handle_input), [`handle_eof`](Self::handle_eof),
///   [`handle_timeout`](Self::handle_timeout);
/// - commands: [`send`](Self::send), [`ping`](Self::ping), [`close`](Self::close),
///   and on a server [`accept`](Self::accept) / [`reject`](Self::reject) /
///   [`answer_http`](Self::answer_http);
/// - outputs, polled until empty after every input or command:
///   [`poll_transmit`](Self::poll_transmit), [`poll_event`](Self::poll_event),
///   [`poll_timeout`](Self::poll_timeout);
/// - getters: [`state`](Self::state), [`role`](Self::role),
///   [`compression`](Self::compression), [`pending_transmit`](Self::pending_transmit),
///   [`is_finished`](Self::is_finished).
///
/// The crate docs describe the loop that drives it.
///
/// ```
/// use std::time::Instant;
/// use tether_core::handshake::ClientRequest;
/// use tether_core::{Config, Connection, Event, Message};
///
/// let now = Instant::now();
/// let request = ClientRequest { host: "node-2:7000".into(), path: "/".into(), ..Default::default() };
/// let mut client = Connection::client(now, Config::default(), request, [1; 32]).unwrap();
/// let mut server = Connection::server(now, Config::default(), [2; 32]);
///
/// // Carry bytes both ways until nothing moves; answer the upgrade on the way.
/// let mut events = Vec::new();
/// for _ in 0..4 {
///     while let Some(bytes) = client.poll_transmit() { server.handle_input(now, &bytes); }
///     while let Some(event) = server.poll_event() {
///         if let Event::Upgrade(_) = event { server.accept(now, None, &[]).unwrap(); }
///     }
///     while let Some(bytes) = server.poll_transmit() { client.handle_input(now, &bytes); }
///     while let Some(event) = client.poll_event() {
///         if let Event::Open { .. } = event { client.send(now, Message::from("hello")).unwrap(); }
///         events.push(event);
///     }
/// }
/// assert!(events.contains(&Event::Open { protocol: None }));
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    state: State,
    /// Shared: a server's connections all run one configuration, and a copy in each would
    /// cost 144 bytes per connection.
    config: Arc<Config>,
    rng: Rng,
    timers: TimerTable,
    opening: Opening,
    /// Bytes read and not yet consumed by the handshake or frame parser.
    input: BytesMut,
    /// How much of `input` was searched for the blank line that ends an HTTP head, so a
    /// head fed a byte at a time is scanned once, not once per byte.
    head_scanned: usize,
    reader: Reader,
    output: Outgoing,
    /// The permessage-deflate parameters agreed in the handshake, if any.
    deflate: Option<DeflateParams>,
    /// Compresses what we send, once deflate is agreed.
    /// Boxed: most connections agree no compression, and the slot would cost them 160 B.
    compressor: Option<Box<Compressor>>,
    events: VecDeque<Event>,
    /// We queued our close frame (or failed the connection, which sends one).
    close_sent: bool,
    /// The peer's close frame arrived.
    close_received: bool,
    /// Who closed first, once someone did.
    initiator: Option<Initiator>,
    /// The code and reason to report in `Closed`.
    close_code: CloseCode,
    close_reason: String,
    /// The peer broke the protocol and we failed the connection: it did not close cleanly.
    failed: bool,
    /// A protocol error found while parsing, with the time it was found. It takes effect
    /// when its `Error` event is polled, so what the owner sends in answer to the events
    /// before it still goes out ahead of our close frame.
    deferred_failure: Option<(CloseCode, Instant)>,
    /// The transport is done with: EOF seen, or (client) we stopped waiting for it.
    transport_done: bool,
    /// The latest time an input or command carried: parsing that resumes when the owner
    /// takes a message (in `poll_event`) is stamped with it.
    clock: Instant,
    /// Data messages parsed and not yet taken with `poll_event`, and their bytes. Parsing
    /// stops while one waits, so the bytes after it stay raw (and inflate only when their
    /// turn comes): how much a read turns into is decided by the owner taking messages.
    waiting: usize,
    waiting_bytes: usize,
    /// The peer's EOF came while input waited unparsed behind a message not yet taken; it
    /// takes effect once that input is parsed (as messages are taken), so no message the
    /// peer sent before it is lost, and none is inflated before its turn.
    eof_pending: bool,
    /// Our pings and the idle timeout, once open (see [`Config::heartbeat`]).
    beat: Option<Beat>,
    /// The owner reads the transport (see [`set_reading`](Self::set_reading)).
    reading: bool,
    /// What the owner holds for the peer outside the connection (see [`set_outside`](Self::set_outside)).
    outside: Held,
}

impl Connection {
    /// A client connection; the upgrade request is queued for `poll_transmit` at once. With
    /// [`Config::compression`] set, it offers permessage-deflate.
    ///
    /// Fails only if `request` holds bytes that cannot be sent in an HTTP head.
    pub fn client(
        now: Instant,
        config: impl Into<Arc<Config>>,
        mut request: ClientRequest,
        seed: Seed,
    ) -> Result<Connection, HandshakeError> {
        let config = config.into();
        if let Some(deflate) = &config.compression {
            request.headers.push((
                "Sec-WebSocket-Extensions".to_owned(),
                handshake::deflate_offer(deflate),
            ));
        }
        let mut conn = Connection::new(now, Role::Client, config, seed);
        let key = handshake::generate_key(&mut conn.rng);
        let mut head = BytesMut::new();
        request.encode(&key, &mut head)?;
        conn.output.push_urgent_bytes(&head);
        conn.opening = Opening::AwaitResponse {
            key,
            protocols: request.protocols,
        };
        Ok(conn)
    }

    /// A server connection waiting for the client's upgrade request. With
    /// [`Config::compression`] set, [`accept`](Self::accept) takes up a permessage-deflate
    /// offer it can honour.
    ///
    /// `config` may be a [`Config`] or an `Arc<Config>`: a server passes one `Arc` to all
    /// its connections, which then hold a pointer to it rather than a copy.
    pub fn server(now: Instant, config: impl Into<Arc<Config>>, seed: Seed) -> Connection {
        Connection::new(now, Role::Server, config.into(), seed)
    }

    fn new(now: Instant, role: Role, config: Arc<Config>, seed: Seed) -> Connection {
        let mut timers = TimerTable::default();
        timers.set_after(Timer::Handshake, now, config.handshake_timeout);
        Connection {
            role,
            state: State::Handshaking,
            reader: Reader::new(
                role == Role::Server,
                config.max_frame_size,
                config.max_message_size,
            ),
            config,
            rng: Rng::from_seed(seed),
            timers,
            opening: Opening::AwaitRequest,
            input: BytesMut::new(),
            head_scanned: 0,
            output: Outgoing::default(),
            deflate: None,
            compressor: None,
            events: VecDeque::new(),
            close_sent: false,
            close_received: false,
            initiator: None,
            close_code: CloseCode::ABNORMAL,
            close_reason: String::new(),
            failed: false,
            deferred_failure: None,
            transport_done: false,
            clock: now,
            waiting: 0,
            waiting_bytes: 0,
            eof_pending: false,
            beat: None,
            reading: true,
            outside: Held::default(),
        }
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.state
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration this connection was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The permessage-deflate parameters agreed in the opening handshake; `None` before
    /// [`Event::Open`] and when the connection is not compressed.
    pub fn compression(&self) -> Option<&DeflateParams> {
        self.deflate.as_ref()
    }

    /// Feeds bytes read from the transport.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        self.tick(now);
        if self.state == State::Closed || self.deferred_failure.is_some() || self.eof_pending {
            // Nothing after a protocol error is read: the stream can no longer be trusted.
            return;
        }
        if !data.is_empty() {
            if let Some(beat) = &mut self.beat {
                beat.on_input(now);
            }
            self.arm_heartbeat();
        }
        self.input.extend_from_slice(data);
        self.process(now);
        self.shrink_input();
    }

    fn shrink_input(&mut self) {
        if self.input.is_empty() && self.input.capacity() > IDLE_INPUT_CAPACITY {
            self.input = BytesMut::new();
        }
    }

    /// Moves the clock on; an older `now` (inputs out of order) leaves it.
    fn tick(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
    }

    /// The peer closed its write side: no more input will come. Not an error in itself; a
    /// connection that was not closed cleanly ends with code 1006. Messages read before
    /// it are still handed out first: with input left unparsed behind a message not yet
    /// taken, the EOF takes effect once the owner has taken them.
    pub fn handle_eof(&mut self, now: Instant) {
        self.tick(now);
        if self.waiting > 0 && !self.input.is_empty() && self.state != State::Closed {
            // Messages may still be in the input behind the one waiting: they come first.
            self.eof_pending = true;
            return;
        }
        self.eof(now);
    }

    /// The transport is gone (it failed, or the owner gave up on it): nothing more can be
    /// read or written. Unlike [`handle_eof`](Self::handle_eof) this takes effect at once,
    /// even with messages not yet taken: with no transport, replies to them could never be
    /// written, so holding them back would hold the connection (and what it holds) forever.
    pub fn handle_transport_lost(&mut self, now: Instant) {
        self.tick(now);
        self.eof(now);
    }

    fn eof(&mut self, now: Instant) {
        self.eof_pending = false;
        self.transport_done = true;
        if self.state == State::Closed {
            // A client waiting for the server's EOF after the close exchange has it now.
            self.timers.stop(Timer::Close);
            return;
        }
        if self.state == State::Handshaking {
            self.events
                .push_back(Event::Error(ProtocolError::UnexpectedEof));
        }
        self.initiator.get_or_insert(Initiator::Transport);
        if !self.failed {
            self.close_code = CloseCode::ABNORMAL;
            self.close_reason.clear();
        }
        self.finish(now, false);
    }

    /// Frees the spare capacity of the buffers and queues that are empty now: what the
    /// handshake or a burst grew them to. See [`Machine::release_idle`](crate::Machine::release_idle).
    pub fn release_idle(&mut self) {
        // While handshaking, `head_scanned` counts into `input`: leave it be.
        if self.input.is_empty() && self.state != State::Handshaking {
            self.input = BytesMut::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        self.output.release_idle();
        self.rng.release_idle();
    }

    /// Fires every deadline at or before `now`. Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        if self.timers.expire(Timer::Heartbeat, now) {
            self.beat_due(now);
        }
        if self.timers.expire(Timer::Handshake, now) && self.state == State::Handshaking {
            self.events
                .push_back(Event::Error(ProtocolError::HandshakeTimeout));
            self.initiator = Some(Initiator::Transport);
            self.finish(now, false);
            self.transport_done = true;
        }
        if self.timers.expire(Timer::Close, now) {
            // Either the peer never answered our close, or (client) never closed the TCP
            // connection after the close exchange: stop waiting either way.
            if self.state != State::Closed && !self.failed {
                self.close_code = CloseCode::ABNORMAL;
                self.close_reason.clear();
            }
            self.initiator.get_or_insert(Initiator::Transport);
            self.finish(now, false);
            self.transport_done = true;
        }
    }

    /// Server role: accepts the pending upgrade with an optional subprotocol and extra
    /// headers, and the client's permessage-deflate offer if [`Config::compression`] can
    /// honour one.
    ///
    /// A request that is not a valid upgrade (see
    /// [`Request::upgrade`](crate::handshake::Request::upgrade)) cannot be accepted: it is
    /// answered with its error's status, as a server that did not look would have done,
    /// reported as an [`Event::Error`], and the error is returned.
    pub fn accept(
        &mut self,
        now: Instant,
        protocol: Option<&str>,
        headers: &[(String, String)],
    ) -> Result<(), SendError> {
        self.tick(now);
        let Opening::AwaitDecision { upgrade, .. } = &self.opening else {
            return Err(SendError::NoPendingUpgrade);
        };
        let (key, deflate) = match upgrade {
            Ok(upgrade) => upgrade,
            Err(error) => {
                let error = error.clone();
                self.events.push_back(Event::Error(error.clone().into()));
                self.reject_with(now, error.http_status());
                return Err(SendError::Handshake(error));
            }
        };
        let mut head = BytesMut::new();
        let agreed = deflate.as_ref().map(|(params, _)| *params);
        if let Some((_, answer)) = deflate {
            let mut all = headers.to_vec();
            all.push(("Sec-WebSocket-Extensions".to_owned(), answer.clone()));
            handshake::encode_accept(key, protocol, &all, &mut head)?;
        } else {
            handshake::encode_accept(key, protocol, headers, &mut head)?;
        }
        self.output.push_urgent_bytes(&head);
        self.opening = Opening::Done;
        self.enable_deflate(agreed);
        self.open(protocol.map(str::to_owned));
        // Frames the client sent right behind its request.
        self.process(now);
        Ok(())
    }

    /// Server role: refuses the pending request with an HTTP status (and no body).
    pub fn reject(&mut self, now: Instant, status: u16) -> Result<(), SendError> {
        self.tick(now);
        if !matches!(self.opening, Opening::AwaitDecision { .. }) {
            return Err(SendError::NoPendingUpgrade);
        }
        self.reject_with(now, status);
        Ok(())
    }

    /// Server role: answers the pending request, an upgrade or a plain one, with `response`
    /// instead of opening: a refusal with headers (`503` with `Retry-After`) or a page
    /// (`GET /health`). The connection is then closed, as after [`reject`](Self::reject).
    /// An answer that cannot be encoded (see
    /// [`encode_response`](crate::handshake::encode_response)) is an error, and the
    /// request still waits for an answer.
    pub fn answer_http(
        &mut self,
        now: Instant,
        response: &handshake::HttpResponse,
    ) -> Result<(), SendError> {
        let Opening::AwaitDecision { head_only, .. } = self.opening else {
            return Err(SendError::NoPendingUpgrade);
        };
        let mut head = BytesMut::new();
        handshake::encode_response(response, head_only, &mut head)?;
        self.refuse(now, &head);
        Ok(())
    }

    fn reject_with(&mut self, now: Instant, status: u16) {
        let mut head = BytesMut::new();
        handshake::encode_reject(status, &mut head);
        self.refuse(now, &head);
    }

    /// Writes `answer` in place of a `101` and closes.
    fn refuse(&mut self, now: Instant, answer: &[u8]) {
        self.output.push_urgent_bytes(answer);
        self.opening = Opening::Done;
        self.initiator = Some(Initiator::Local);
        self.finish(now, false);
    }

    /// Queues a message. Text and binary payloads longer than `fragment_size` go out as
    /// several frames. With permessage-deflate agreed, a message of at least the
    /// [threshold](crate::deflate::Deflate::threshold) is compressed here, whole, and its
    /// compressed bytes go out in those frames.
    pub fn send(&mut self, now: Instant, message: Message) -> Result<(), SendError> {
        self.tick(now);
        self.check_sendable()?;
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, Bytes::from(text)),
            Message::Binary(bytes) => (OpCode::Binary, bytes),
        };
        match self.compressor.as_mut().and_then(|c| c.compress(&payload)) {
            Some(compressed) => self.output.push_message(opcode, compressed, true),
            None => self.output.push_message(opcode, payload, false),
        }
        Ok(())
    }

    /// Queues a ping; it is written before queued messages. The answer is a
    /// [`Event::Pong`].
    pub fn ping(&mut self, now: Instant, payload: Bytes) -> Result<(), SendError> {
        self.tick(now);
        self.check_sendable()?;
        if payload.len() > 125 {
            return Err(SendError::ControlTooLong(payload.len()));
        }
        let mask = self.mask();
        self.output.push_urgent_frame(OpCode::Ping, &payload, mask);
        Ok(())
    }

    fn check_sendable(&self) -> Result<(), SendError> {
        match self.state {
            State::Handshaking => Err(SendError::NotOpen),
            State::Open => Ok(()),
            State::Closing => Err(SendError::Closing),
            State::Closed => Err(SendError::Closed),
        }
    }

    /// Starts the closing handshake: the close frame goes out after the messages already
    /// queued. Closing again, or after the peer closed, is a no-op.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.tick(now);
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.0));
        }
        if reason.len() + 2 > 125 {
            return Err(SendError::ControlTooLong(reason.len() + 2));
        }
        match self.state {
            State::Closing | State::Closed => Ok(()),
            State::Handshaking => {
                // No WebSocket exists yet to close: drop the transport.
                self.initiator = Some(Initiator::Local);
                self.close_code = code;
                self.close_reason = reason.to_owned();
                self.finish(now, false);
                self.transport_done = true;
                Ok(())
            }
            State::Open => {
                self.initiator = Some(Initiator::Local);
                self.close_code = code;
                self.close_reason = reason.to_owned();
                self.output.push_close(close_payload(Some(code), reason));
                self.close_sent = true;
                self.state = State::Closing;
                self.timers.stop(Timer::Heartbeat);
                self.timers
                    .set_after(Timer::Close, now, self.config.close_timeout);
                Ok(())
            }
        }
    }

    /// The next bytes to write to the transport, in order. A partial socket write keeps the
    /// rest of the returned `Bytes`; nothing is encoded twice.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let rng = match self.role {
            Role::Client => Some(&mut self.rng),
            Role::Server => None,
        };
        self.output.poll(rng, self.config.fragment_size)
    }

    /// The next event.
    ///
    /// When the peer breaks the protocol, parsing stops and an [`Event::Error`] is queued
    /// after the events before it. The connection fails when that event is polled: its
    /// close frame is queued then, after whatever was sent in answer to earlier events.
    ///
    /// At most one parsed message waits here at a time: taking it parses the input after
    /// it (stamped with the time of the latest input), up to the next message.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        match &event {
            Event::Error(_) => {
                if let Some((code, at)) = self.deferred_failure.take() {
                    self.fail(at, code);
                }
            }
            Event::Message(message) => {
                self.waiting = self.waiting.saturating_sub(1);
                self.waiting_bytes = self.waiting_bytes.saturating_sub(message.len());
                if self.waiting == 0 {
                    let now = self.clock;
                    self.process(now);
                    self.shrink_input();
                    if self.eof_pending && self.waiting == 0 {
                        self.eof(now);
                    }
                }
            }
            _ => {}
        }
        Some(event)
    }

    /// The event [`poll_event`](Self::poll_event) would return next, without taking it.
    /// An owner that hands events to another task can hold back an [`Event::Error`] (and
    /// so the failure) until that task has answered the events before it.
    pub fn peek_event(&self) -> Option<&Event> {
        self.events.front()
    }

    /// The next deadline; call [`handle_timeout`](Self::handle_timeout) then. After
    /// `handle_timeout(now)` it is `None` or later than `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Bytes queued for the transport and not yet taken by `poll_transmit`: the owner
    /// stops taking commands while this is high (back-pressure).
    pub fn pending_transmit(&self) -> usize {
        self.output.pending()
    }

    /// Bytes this connection holds for input: unparsed input, a message in progress, and
    /// the parsed message waiting to be taken with `poll_event`.
    pub fn buffered_input(&self) -> usize {
        self.input.len() + self.reader.buffered() + self.waiting_bytes
    }

    /// Closed, nothing left to write, and (for a client after a clean close) the server
    /// has closed the transport or we stopped waiting: the owner may drop the transport.
    pub fn is_finished(&self) -> bool {
        let transport_ok = self.transport_done || self.role == Role::Server || !self.close_received;
        self.state == State::Closed && self.output.is_empty() && transport_ok
    }

    /// What the connection holds for its peer: input not yet taken (raw, being assembled,
    /// or parsed and waiting) and what it has yet to write. Its owner adds what it holds
    /// outside (see [`crate::budget`]).
    pub fn held(&self) -> Held {
        let own = Held {
            input: self.buffered_input(),
            handling: 0,
            unwritten: self.pending_transmit(),
        };
        own + self.outside
    }

    /// The owner holds `outside` for the peer, beyond what the connection counts itself:
    /// messages it took and has not handed on (as `handling`), bytes it took with
    /// `poll_transmit` and has not written (as `unwritten`). Call it whenever that changes.
    pub fn set_outside(&mut self, now: Instant, outside: Held) {
        self.outside = outside;
        let reading = self.wants_input();
        self.set_reading(now, reading);
    }

    /// Whether the owner should read the transport: the connection, with what its owner
    /// holds outside, holds less than its [`budget`](Config::budget) besides the message
    /// in progress ([`Held::reads`]). A closed connection reads on: only an EOF is of use
    /// then.
    pub fn wants_input(&self) -> bool {
        let message = self.message_in_progress();
        self.held().reads(message, self.config.budget) || self.state == State::Closed
    }

    /// The bytes of the message in progress: being assembled, or parsed and waiting to be
    /// taken. The budget always lets it in whole (see [`Held::reads`]).
    pub fn message_in_progress(&self) -> usize {
        self.reader.buffered() + self.waiting_bytes
    }

    /// Whether the owner should take the next message (and so make more work): the work
    /// already taken is under the budget ([`Held::takes_next`]). A closed connection hands
    /// out what is left.
    pub fn takes_next(&self) -> bool {
        self.held().takes_next(self.config.budget) || self.state == State::Closed
    }

    /// The owner stops (`false`) or resumes (`true`) reading the transport, to hold the
    /// peer back while it holds its budget. Meanwhile the peer seems silent, but the
    /// silence is ours: the heartbeat neither pings nor declares the peer idle. Once
    /// reading again, the peer has a whole timeout from `now` to show a sign of life.
    pub fn set_reading(&mut self, now: Instant, reading: bool) {
        self.tick(now);
        if self.reading == reading {
            return;
        }
        self.reading = reading;
        if reading {
            if let Some(beat) = &mut self.beat {
                beat.resume(now);
            }
        }
        self.arm_heartbeat();
    }

    /// Whether the owner reads the transport (see [`set_reading`](Self::set_reading)).
    pub fn is_reading(&self) -> bool {
        self.reading
    }

    /// Sets the heartbeat's timer from its next deadline: only while open and read.
    fn arm_heartbeat(&mut self) {
        let next = self
            .beat
            .as_ref()
            .filter(|_| self.reading && self.state == State::Open)
            .and_then(Beat::next);
        match next {
            Some(at) => self.timers.set(Timer::Heartbeat, at),
            None => self.timers.stop(Timer::Heartbeat),
        }
    }

    /// The heartbeat's timer fired: pings that fell due, or the end of a silent peer.
    fn beat_due(&mut self, now: Instant) {
        if self.state != State::Open || !self.reading {
            return;
        }
        let Some(beat) = &mut self.beat else {
            return;
        };
        match beat.due(now) {
            Due::Nothing => {}
            Due::Ping(counter) => {
                let mut payload = [0u8; 10];
                payload[..2].copy_from_slice(BEAT_PREFIX);
                payload[2..].copy_from_slice(&counter);
                let mask = self.mask();
                self.output.push_urgent_frame(OpCode::Ping, &payload, mask);
            }
            Due::Dead => {
                let error = ProtocolError::IdleTimeout;
                let code = error.close_code();
                self.events.push_back(Event::Error(error));
                self.fail(now, code);
            }
        }
        self.arm_heartbeat();
    }

    /// A pong to one of our heartbeat's pings (swallowed: the owner never asked for it).
    fn is_beat_pong(&mut self, now: Instant, payload: &[u8]) -> bool {
        let (Some(beat), Some(counter)) = (&mut self.beat, payload.strip_prefix(BEAT_PREFIX))
        else {
            return false;
        };
        beat.on_pong(now, counter).is_some()
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        (self.role == Role::Client).then(|| self.rng.next_u32().to_le_bytes())
    }

    /// Sets up both directions for the agreed permessage-deflate parameters, if any.
    fn enable_deflate(&mut self, agreed: Option<DeflateParams>) {
        let (Some(params), Some(settings)) = (agreed, &self.config.compression) else {
            return;
        };
        let peer = match self.role {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        };
        self.compressor = Some(Box::new(Compressor::new(&params, self.role, settings)));
        self.reader.enable_deflate(params.sender(peer).1);
        self.deflate = Some(params);
    }

    fn open(&mut self, protocol: Option<String>) {
        self.state = State::Open;
        self.timers.stop(Timer::Handshake);
        self.beat = self
            .config
            .heartbeat
            .map(|config| Beat::new(config, self.clock));
        self.arm_heartbeat();
        self.events.push_back(Event::Open { protocol });
    }

    /// Runs the parsers over buffered input for as long as they make progress.
    fn process(&mut self, now: Instant) {
        if self.state == State::Handshaking && !self.process_handshake(now) {
            return;
        }
        while matches!(self.state, State::Open | State::Closing)
            && !self.close_received
            && self.deferred_failure.is_none()
            && self.waiting == 0
        {
            match self.reader.next(&mut self.input) {
                Ok(None) => break,
                Ok(Some(received)) => self.on_received(now, received),
                Err(error) => {
                    self.deferred_failure = Some((error.close_code(), now));
                    self.events.push_back(Event::Error(error));
                    self.input.clear();
                }
            }
        }
        if self.state == State::Closed {
            self.input.clear();
        }
    }

    /// Returns whether frames may be read now.
    fn process_handshake(&mut self, now: Instant) -> bool {
        let max = self.config.max_handshake_size;
        let awaiting_head = matches!(
            self.opening,
            Opening::AwaitResponse { .. } | Opening::AwaitRequest
        );
        if awaiting_head && !self.head_complete() && self.input.len() <= max {
            return false;
        }
        match &self.opening {
            Opening::AwaitResponse { key, protocols } => {
                let offered = self.config.compression.as_ref();
                match handshake::parse_response(&self.input, key, protocols, offered, max) {
                    Ok(None) => false,
                    Ok(Some((response, used))) => {
                        let _ = self.input.split_to(used);
                        self.opening = Opening::Done;
                        self.enable_deflate(response.deflate);
                        self.open(response.protocol);
                        true
                    }
                    Err(error) => {
                        self.events.push_back(Event::Error(error.into()));
                        self.initiator = Some(Initiator::Local);
                        self.finish(now, false);
                        self.transport_done = true;
                        false
                    }
                }
            }
            Opening::AwaitRequest => match handshake::parse_request(&self.input, max) {
                Ok(None) => false,
                Ok(Some((request, used))) => {
                    let _ = self.input.split_to(used);
                    let upgrade = match &request.upgrade {
                        Ok(upgrade) => Ok((upgrade.key.clone(), self.deflate_offer(&request))),
                        Err(error) => Err(error.clone()),
                    };
                    self.opening = Opening::AwaitDecision {
                        upgrade,
                        head_only: request.method == "HEAD",
                    };
                    self.events.push_back(Event::Upgrade(Box::new(request)));
                    false
                }
                Err(error) => {
                    let status = error.http_status();
                    self.events.push_back(Event::Error(error.into()));
                    self.reject_with(now, status);
                    false
                }
            },
            Opening::AwaitDecision { .. } => {
                // A client must wait for the 101 before it sends frames; hold at most a
                // handshake's worth of early bytes.
                if self.input.len() > max {
                    self.events
                        .push_back(Event::Error(ProtocolError::DataBeforeAccept));
                    self.reject_with(now, 400);
                }
                false
            }
            Opening::Done => true,
        }
    }

    /// The client's permessage-deflate offer we can take, if any. A declined offer is no
    /// error: the connection opens uncompressed.
    fn deflate_offer(&self, request: &handshake::Request) -> Option<(DeflateParams, String)> {
        let settings = self.config.compression.as_ref()?;
        let offers = request
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
            .map(|(_, value)| value.as_slice());
        handshake::negotiate_deflate(settings, offers).ok()
    }

    /// Whether `input` holds a blank line (`\n\n` or `\n\r\n`): only then can an HTTP
    /// head be complete and worth parsing. Searches only what it has not searched before.
    fn head_complete(&mut self) -> bool {
        let from = self.head_scanned.saturating_sub(2);
        self.head_scanned = self.input.len();
        let tail = self.input.get(from..).unwrap_or_default();
        tail.windows(2)
            .enumerate()
            .any(|(i, w)| w == b"\n\n" || (w == b"\n\r" && tail.get(i + 2) == Some(&b'\n')))
    }

    fn on_received(&mut self, now: Instant, received: Received) {
        match received {
            Received::Message(message) => {
                self.waiting += 1;
                self.waiting_bytes += message.len();
                self.events.push_back(Event::Message(message));
            }
            Received::Ping(payload) => {
                if !self.close_sent {
                    self.output.push_pong(payload.clone());
                }
                self.events.push_back(Event::Ping(payload));
            }
            Received::Pong(payload) => {
                if !self.is_beat_pong(now, &payload) {
                    self.events.push_back(Event::Pong(payload));
                }
            }
            Received::Close(frame) => self.on_close_frame(now, frame),
        }
    }

    fn on_close_frame(&mut self, now: Instant, frame: Option<(CloseCode, String)>) {
        self.close_received = true;
        let (code, reason) = frame
            .clone()
            .unwrap_or((CloseCode::NO_STATUS, String::new()));
        if self.close_sent {
            // The answer to our close: `Closed` reports the code and reason we sent.
            self.finish(now, true);
            return;
        }
        self.initiator = Some(Initiator::Remote);
        self.close_code = code;
        self.close_reason = reason;
        // Echo the peer's code (RFC 6455 §5.5.1); an empty close is answered empty.
        let echo = frame.map(|(code, _)| code);
        self.output.push_close(close_payload(echo, ""));
        self.close_sent = true;
        self.finish(now, true);
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with `code` after what is
    /// already queued (unless our close is already on its way), and done. The owner then
    /// shuts the transport; adapters read on until EOF, so the peer sees our close frame
    /// rather than a reset caused by its unread bytes.
    fn fail(&mut self, now: Instant, code: CloseCode) {
        if self.state == State::Closed {
            // EOF or a timer ended the connection first.
            return;
        }
        self.failed = true;
        self.initiator = Some(Initiator::Local);
        self.close_code = code;
        self.close_reason.clear();
        if !self.close_sent {
            self.output.push_close(close_payload(Some(code), ""));
            self.close_sent = true;
        }
        self.transport_done = true;
        self.finish(now, false);
    }

    /// Moves to `Closed` and reports it, once.
    fn finish(&mut self, now: Instant, clean: bool) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        // No `accept`/`reject` can revive a connection that ended mid-handshake.
        self.opening = Opening::Done;
        self.timers.stop(Timer::Handshake);
        self.timers.stop(Timer::Close);
        self.timers.stop(Timer::Heartbeat);
        if self.role == Role::Client && self.close_received && !self.transport_done {
            // RFC 6455 §7.1.1: the server closes the TCP connection first; wait for its EOF.
            self.timers
                .set_after(Timer::Close, now, self.config.close_timeout);
        }
        self.events.push_back(Event::Closed(CloseInfo {
            code: self.close_code,
            reason: std::mem::take(&mut self.close_reason),
            initiator: self.initiator.unwrap_or(Initiator::Transport),
            clean: clean && !self.failed,
        }));
    }
}

/// The payload of a close frame: nothing, or a code and a reason.
fn close_payload(code: Option<CloseCode>, reason: &str) -> Bytes {
    let Some(code) = code else {
        return Bytes::new();
    };
    let mut payload = BytesMut::with_capacity(2 + reason.len());
    payload.put_u16(code.0);
    payload.extend_from_slice(reason.as_bytes());
    payload.freeze()
}
