//! The `session` target: a [`Session`] driven by a script read from the fuzzer's bytes
//! with `arbitrary` (structure-aware), against a real server [`Channel`] per transport.
//!
//! The script mixes the adapter's inputs (transports opening, failing, closing; bytes
//! delivered either way in any amounts, or injected; inputs naming stale attempts),
//! timers (time passing) and commands (call, notify, cancel, close), and what the server
//! does (answer, fail, notify, ask, ping, close). Checked throughout: no panic; every call
//! ends exactly once, and an answer carries its own call's params; states move along the
//! documented edges ([`State::can_become`]); after `handle_timeout(now)` no deadline is
//! left at or before `now`; the queue stays within its limits (plus re-queued calls). At
//! the end the session is closed and time runs on: every call must have ended, without a
//! timer livelock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use serde_json::value::RawValue;

use crate::frame::CloseCode;
use crate::handshake::ClientRequest;
use crate::rpc::{self, Channel, ErrorObject, ReplyTo};
use crate::session::{
    Attempt, Backoff, CallId, CallOptions, Config, EndReason, Event, Heartbeat, HeartbeatMode,
    QueueLimits, Retry, Session, State,
};
use crate::ws;

use super::script::{self, Ledger};

/// Operations read from one input at most.
const MAX_OPS: usize = 512;

/// The session's settings, small so that limits and timers are reached.
#[derive(Debug, Arbitrary)]
struct Setup {
    connect_timeout_ms: u16,
    backoff_base_ms: u8,
    backoff_max_ms: u16,
    max_attempts: Option<u8>,
    /// Interval and timeout in ms, and the mode (`true`: `AnyInput`).
    heartbeat: Option<(u16, u16, bool)>,
    max_messages: u8,
    max_bytes: u16,
    max_in_flight: u8,
    fragment_size: u16,
}

/// One step of the script.
#[derive(Debug, Arbitrary)]
enum Op {
    /// Time passes (ms); timers fire.
    Wait(u16),
    /// The transport the session asked for opens.
    Open,
    /// The current transport fails (reset, refused).
    Fail,
    /// The server closes its side of the current transport.
    Eof,
    /// Everything in flight is delivered, both ways, until both sides are quiet.
    Flush,
    /// Up to this many bytes travel client → server.
    ToServer(u16),
    /// Up to this many bytes travel server → client.
    ToClient(u16),
    /// These bytes reach the client as if from the server.
    Inject(Vec<u8>),
    /// Input naming an attempt other than the current one (an older or a future one).
    Stale(i8, Vec<u8>),
    /// The application calls `echo`: timeout (ms), re-sends, padding.
    Call(u16, u8, u8),
    /// The application sends a notification of this padding.
    Notify(u8),
    /// The application cancels the n-th call it made.
    Cancel(u8),
    /// The application closes the session.
    Close,
    /// The server answers the n-th request it holds with its params.
    Answer(u8),
    /// The server answers the n-th request it holds with an error.
    AnswerError(u8),
    /// The server sends a notification.
    ServerNotify,
    /// The server calls a method on the client.
    ServerCall,
    /// The server pings.
    ServerPing,
    /// The server closes the WebSocket with this code.
    ServerClose(u16),
}

/// The server end of the current transport, and the bytes in flight both ways.
struct Transport {
    attempt: Attempt,
    server: Channel,
    to_server: VecDeque<u8>,
    to_client: VecDeque<u8>,
    /// Requests the server holds, to answer in any order.
    requests: Vec<(ReplyTo, Option<Box<RawValue>>)>,
}

/// The harness: the session, its current transport, and the ledger.
struct Harness {
    origin: Instant,
    now: Instant,
    session: Session,
    max_in_flight: usize,
    limits: QueueLimits,
    /// The attempt of the latest `Connect` not yet opened.
    asked: Option<Attempt>,
    transport: Option<Transport>,
    calls: Ledger<CallId>,
    state: State,
    closed: bool,
    serial: u64,
    report: SessionReport,
}

/// Runs the script in `data` against a session. Panics only when an invariant breaks.
pub fn session(origin: Instant, data: &[u8]) {
    session_report(origin, data);
}

/// How far a script got, so the corpus replay can show its seeds reach deep states.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SessionReport {
    /// Operations run.
    pub ops: usize,
    /// Links that reached `Connected`.
    pub connected: u64,
    /// Calls answered.
    pub answered: u64,
    /// Calls that ended without an answer.
    pub ended: u64,
    /// Heartbeat timeouts.
    pub heartbeat_timeouts: u64,
}

/// [`session`], returning how far the script got.
pub fn session_report(origin: Instant, data: &[u8]) -> SessionReport {
    let start = |setup: Setup| {
        let mut harness = Harness::new(origin, &setup)?;
        harness.session.start(origin);
        harness.settle();
        Some(harness)
    };
    let step = |harness: &mut Harness, op: Op| {
        harness.report.ops += 1;
        harness.apply(op);
        harness.settle();
    };
    let Some(mut harness) = script::run(data, MAX_OPS, start, step) else {
        return SessionReport::default();
    };
    harness.finish();
    harness.report
}

impl Harness {
    fn new(origin: Instant, setup: &Setup) -> Option<Harness> {
        let ms = |n: u64| Duration::from_millis(n);
        let limits = QueueLimits {
            max_messages: usize::from(setup.max_messages),
            max_bytes: usize::from(setup.max_bytes),
        };
        let max_in_flight = usize::from(setup.max_in_flight);
        let config = Config {
            ws: ws::Config {
                fragment_size: usize::from(setup.fragment_size),
                max_message_size: 1 << 16,
                max_frame_size: 1 << 16,
                ..ws::Config::default()
            },
            rpc: rpc::Config {
                max_in_flight,
                ..rpc::Config::default()
            },
            connect_timeout: ms(u64::from(setup.connect_timeout_ms)),
            backoff: Backoff {
                base: ms(u64::from(setup.backoff_base_ms)),
                max: ms(u64::from(setup.backoff_max_ms)),
                max_attempts: setup.max_attempts.map(u32::from),
            },
            heartbeat: setup
                .heartbeat
                .map(|(interval, timeout, any_input)| Heartbeat {
                    interval: ms(u64::from(interval)),
                    timeout: ms(u64::from(timeout)),
                    mode: if any_input {
                        HeartbeatMode::AnyInput
                    } else {
                        HeartbeatMode::Pong
                    },
                }),
            queue: limits,
        };
        let request = ClientRequest {
            host: "fuzz".into(),
            path: "/".into(),
            ..Default::default()
        };
        let session = Session::new(origin, config, request, [7; 32]).ok()?;
        Some(Harness {
            origin,
            now: origin,
            session,
            max_in_flight,
            limits,
            asked: None,
            transport: None,
            calls: Ledger::default(),
            state: State::Disconnected,
            closed: false,
            serial: 0,
            report: SessionReport::default(),
        })
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Wait(ms) => {
                self.now += Duration::from_millis(u64::from(ms));
                self.session.handle_timeout(self.now);
                if let Some(next) = self.session.poll_timeout() {
                    assert!(next > self.now, "a deadline left due after handle_timeout");
                }
                if let Some(t) = self.transport.as_mut() {
                    t.server.handle_timeout(self.now);
                }
            }
            Op::Open => {
                if let Some(attempt) = self.asked.take() {
                    let server = Channel::server(
                        now,
                        ws::Config::default(),
                        rpc::Config::default(),
                        [9; 32],
                    );
                    self.transport = Some(Transport {
                        attempt,
                        server,
                        to_server: VecDeque::new(),
                        to_client: VecDeque::new(),
                        requests: Vec::new(),
                    });
                    self.session.transport_open(now, attempt);
                }
            }
            Op::Fail => {
                if let Some(t) = self.transport.take() {
                    self.session.transport_failed(now, t.attempt);
                } else if let Some(attempt) = self.asked.take() {
                    self.session.transport_failed(now, attempt);
                }
            }
            Op::Eof => {
                if let Some(t) = self.transport.as_ref() {
                    self.session.handle_eof(now, t.attempt);
                }
            }
            Op::Flush => {
                for _ in 0..8 {
                    let Some(t) = self.transport.as_mut() else {
                        break;
                    };
                    if t.to_server.is_empty() && t.to_client.is_empty() {
                        break;
                    }
                    let up: Vec<u8> = t.to_server.drain(..).collect();
                    t.server.handle_input(now, &up);
                    let down: Vec<u8> = t.to_client.drain(..).collect();
                    let attempt = t.attempt;
                    self.session.handle_input(now, attempt, &down);
                    self.settle();
                }
            }
            Op::ToServer(n) => {
                if let Some(t) = self.transport.as_mut() {
                    let n = usize::from(n).min(t.to_server.len());
                    let bytes: Vec<u8> = t.to_server.drain(..n).collect();
                    t.server.handle_input(now, &bytes);
                }
            }
            Op::ToClient(n) => {
                if let Some(t) = self.transport.as_mut() {
                    let n = usize::from(n).min(t.to_client.len());
                    let bytes: Vec<u8> = t.to_client.drain(..n).collect();
                    self.session.handle_input(now, t.attempt, &bytes);
                }
            }
            Op::Inject(bytes) => {
                if let Some(t) = self.transport.as_ref() {
                    self.session.handle_input(now, t.attempt, &bytes);
                }
            }
            Op::Stale(offset, bytes) => {
                if let Some(current) = self.session.current_attempt() {
                    let stale = shift(current, offset);
                    if stale != current {
                        self.session.handle_input(now, stale, &bytes);
                        self.session.handle_eof(now, stale);
                        self.session.transport_failed(now, stale);
                        self.session.transport_open(now, stale);
                        // Another transport's inputs change nothing.
                        assert!(
                            self.session.poll_event().is_none(),
                            "inputs for {stale} (current {current}) had an effect"
                        );
                    }
                }
            }
            Op::Call(timeout, resends, pad) => self.call(timeout, resends, pad),
            Op::Notify(pad) => {
                let params = format!(r#"{{"pad":"{}"}}"#, "n".repeat(usize::from(pad)));
                if let Ok(raw) = RawValue::from_string(params) {
                    let _ = self.session.notify(now, "note", Some(&raw));
                }
            }
            Op::Cancel(n) => {
                if let Some(&id) = self.calls.order().get(usize::from(n)) {
                    let open = self.calls.is_open(&id);
                    let cancelled = self.session.cancel(now, id);
                    assert_eq!(cancelled, open, "cancel({id}) disagrees with the ledger");
                }
            }
            Op::Close => {
                self.closed = true;
                self.session.close(now);
            }
            Op::Answer(n) | Op::AnswerError(n) => {
                let error = matches!(op, Op::AnswerError(_));
                if let Some(t) = self.transport.as_mut() {
                    if !t.requests.is_empty() {
                        let (reply, params) = t.requests.remove(usize::from(n) % t.requests.len());
                        let failure = ErrorObject::internal("fuzz");
                        let result = match (&params, error) {
                            (Some(params), false) => Ok(&**params),
                            _ => Err(&failure),
                        };
                        let _ = t.server.respond(now, reply, result);
                    }
                }
            }
            Op::ServerNotify | Op::ServerCall => {
                if let Some(t) = self.transport.as_mut() {
                    if matches!(op, Op::ServerNotify) {
                        let _ = t.server.notify(now, "hello", None);
                    } else {
                        let _ = t.server.call(now, "who", None, None);
                    }
                }
            }
            Op::ServerPing => {
                if let Some(t) = self.transport.as_mut() {
                    let _ = t.server.ping(now, bytes::Bytes::from_static(b"srv"));
                }
            }
            Op::ServerClose(code) => {
                if let Some(t) = self.transport.as_mut() {
                    let _ = t.server.close(now, CloseCode(code), "bye");
                }
            }
        }
    }

    fn call(&mut self, timeout: u16, resends: u8, pad: u8) {
        self.serial += 1;
        let params = format!(
            r#"{{"n":{},"pad":"{}"}}"#,
            self.serial,
            "p".repeat(usize::from(pad))
        );
        let Ok(raw) = RawValue::from_string(params.clone()) else {
            return;
        };
        let options = CallOptions {
            timeout: Some(Duration::from_millis(u64::from(timeout))),
            retry: match resends % 4 {
                0 => Retry::Never,
                max => Retry::Resend {
                    max: u32::from(max),
                },
            },
        };
        if let Ok(id) = self.session.call(self.now, "echo", Some(&raw), options) {
            self.calls.made(id, params);
        }
    }

    /// Moves bytes out of both machines, handles the server's and the session's events,
    /// and checks the bounds.
    fn settle(&mut self) {
        let now = self.now;
        if let Some(t) = self.transport.as_mut() {
            while let Some(bytes) = self.session.poll_transmit_for(t.attempt) {
                t.to_server.extend(bytes.iter());
            }
            while let Some(event) = t.server.poll_event() {
                match event {
                    rpc::Event::Upgrade(_) => {
                        let _ = t.server.accept(now, None, &[]);
                    }
                    rpc::Event::Request { reply, params, .. } => t.requests.push((reply, params)),
                    _ => {}
                }
            }
            while let Some(bytes) = t.server.poll_transmit() {
                t.to_client.extend(bytes.iter());
            }
        }
        // Bytes of abandoned transports go nowhere.
        while self.session.poll_transmit().is_some() {}
        while let Some(event) = self.session.poll_event() {
            self.on_event(event);
        }
        let metrics = self.session.metrics(now);
        assert!(
            metrics.queue_depth <= self.limits.max_messages + self.max_in_flight,
            "queue of {} items, limit {} (+{} re-queued)",
            metrics.queue_depth,
            self.limits.max_messages,
            self.max_in_flight
        );
        assert!(
            metrics.in_flight <= self.max_in_flight.max(1),
            "{} calls in flight, max {}",
            metrics.in_flight,
            self.max_in_flight
        );
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connect { attempt } => {
                assert!(!self.closed, "Connect after close");
                self.asked = Some(attempt);
            }
            Event::Disconnect { attempt } => {
                if self
                    .transport
                    .as_ref()
                    .is_some_and(|t| t.attempt == attempt)
                {
                    self.transport = None;
                }
                if self.asked == Some(attempt) {
                    self.asked = None;
                }
            }
            Event::State(state) => {
                let max_attempts = self.session.config().backoff.max_attempts;
                assert!(
                    self.state.can_become(state, max_attempts),
                    "state {:?} -> {state:?} (max_attempts {max_attempts:?})",
                    self.state
                );
                self.state = state;
                self.report.connected += u64::from(state == State::Connected);
            }
            Event::Response { id, result } => {
                self.report.answered += 1;
                let made = self.calls.end(&id);
                if let Ok(raw) = result {
                    assert_eq!(raw.get(), made, "{id} got another call's answer");
                }
            }
            Event::Ended { id, reason } => {
                self.report.ended += 1;
                self.calls.end(&id);
                if reason == EndReason::Closed {
                    assert!(self.closed, "{id} ended Closed before close");
                }
            }
            Event::HeartbeatTimeout { .. } => self.report.heartbeat_timeouts += 1,
            Event::Notification { .. } => {}
        }
    }

    /// Marks call `id` ended; returns its params.
    /// Closes the session and lets time run: every call must end, and the timers must
    /// keep moving forward.
    fn finish(&mut self) {
        self.closed = true;
        self.session.close(self.now);
        self.settle();
        for _ in 0..10_000 {
            // The server answers nothing more, but finishes the close handshake.
            if let Some(t) = self.transport.as_mut() {
                let bytes: Vec<u8> = t.to_server.drain(..).collect();
                t.server.handle_input(self.now, &bytes);
            }
            self.settle();
            if let Some(t) = self.transport.as_mut() {
                let bytes: Vec<u8> = t.to_client.drain(..).collect();
                let attempt = t.attempt;
                self.session.handle_input(self.now, attempt, &bytes);
                if t.server.is_finished() {
                    self.session.handle_eof(self.now, attempt);
                }
            }
            self.settle();
            let Some(next) = self.session.poll_timeout() else {
                break;
            };
            assert!(next > self.now, "a deadline at or before now");
            self.now = next;
            self.session.handle_timeout(self.now);
            if let Some(t) = self.transport.as_mut() {
                t.server.handle_timeout(self.now);
            }
        }
        self.settle();
        let open = self.calls.open();
        assert!(
            open.is_empty(),
            "calls {open:?} never ended, {:?} after the start (state {:?})",
            self.now - self.origin,
            self.state
        );
    }
}

/// The attempt `offset` away from `attempt`, as inputs for a transport that is not the
/// current one would name it.
fn shift(attempt: Attempt, offset: i8) -> Attempt {
    Attempt(attempt.0.saturating_add_signed(i64::from(offset)))
}
