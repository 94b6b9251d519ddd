//! The two RPC node kinds: clients that call `echo` with unique params and check every
//! answer, and servers that echo the params back after a random virtual delay.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;
use tether_core::frame::{CloseCode, MAX_HEADER_LEN};
use tether_core::rpc::{EndReason, Endpoint, Event, ReplyTo, RequestId};
use tether_core::ws::State;

use super::node::{Ctx, Node};

/// Checks every machine must pass after `handle_timeout(now)`: no deadline left due, so
/// a driver cannot spin on the timer.
fn check_timer(ctx: &Ctx, who: &str, port: usize, endpoint: &Endpoint) {
    if let Some(next) = endpoint.poll_timeout() {
        if next <= ctx.now {
            ctx.fail(format_args!(
                "{who} port {port}: poll_timeout() is {:?} after handle_timeout(now), not later than now",
                next.saturating_duration_since(ctx.origin)
            ));
        }
    }
}

/// The input a peer can make us hold is bounded by one message plus one frame header
/// (or, before the upgrade, by the handshake head limit).
fn check_buffered(ctx: &Ctx, who: &str, port: usize, endpoint: &Endpoint) {
    let config = endpoint.connection().config();
    // Before the upgrade the head limit applies; after it, one message and one header.
    let bound = match endpoint.state() {
        State::Handshaking => config.max_handshake_size,
        _ => config.max_message_size + MAX_HEADER_LEN,
    };
    let held = endpoint.connection().buffered_input();
    if held > bound {
        ctx.fail(format_args!(
            "{who} port {port}: buffered_input() = {held} exceeds its bound {bound} (state {:?})",
            endpoint.state()
        ));
    }
}

/// The start of `text`, so a failure message stays readable with long padding.
fn short(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}

/// Mixes one event into the trace, tagged with who saw it.
fn trace_event(ctx: &mut Ctx, who: &str, port: usize, event: &Event) {
    ctx.trace.add(who.as_bytes());
    ctx.trace.add_u64(port as u64);
    ctx.trace.add(format!("{event:?}").as_bytes());
}

/// A call a client will make later.
#[derive(Debug)]
struct Planned {
    at: Instant,
    port: usize,
    timeout: Duration,
    pad: usize,
    /// Give up on the call this long after making it, if drawn.
    cancel_after: Option<Duration>,
}

/// One call a client made, kept after it ends so a second ending is caught.
#[derive(Debug)]
struct Made {
    /// The params sent: the echo must be exactly this text.
    params: String,
    /// How it ended, once it has.
    ended: Option<&'static str>,
}

/// What the clients of a run counted (kept in [`Ctx::calls`]), for its summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ClientStats {
    /// Calls `call` accepted.
    pub made: u64,
    /// Calls `call` refused (the connection was closing or closed).
    pub refused: u64,
    /// Calls answered with their own echo.
    pub answered: u64,
    /// Calls that ended at their deadline.
    pub timed_out: u64,
    /// Calls that ended because the connection was lost.
    pub lost: u64,
    /// Calls we cancelled before they ended.
    pub cancelled: u64,
}

/// An RPC client: one [`Endpoint`] per server, calls planned up front from the seed.
#[derive(Debug)]
pub struct ClientNode {
    index: usize,
    ports: Vec<Endpoint>,
    planned: VecDeque<Planned>,
    /// Every call made, by (port, id): ids are only unique per endpoint.
    calls: BTreeMap<(usize, RequestId), Made>,
    serial: u64,
    closing: bool,
    /// Cancels to do, by (due time, serial): a BTreeMap, so ties fire in a fixed order.
    cancels: BTreeMap<(Instant, u64), (usize, RequestId)>,
}

impl ClientNode {
    /// Client number `index` over `ports` (client endpoints, handshake queued), making
    /// `calls` calls spread over `window` from `start`, drawing the plan from `rng`.
    pub fn new(
        index: usize,
        ports: Vec<Endpoint>,
        calls: usize,
        start: Instant,
        window: Duration,
        rng: &mut super::rng::SimRng,
    ) -> ClientNode {
        let mut planned: Vec<Planned> = (0..calls)
            .map(|_| Planned {
                at: start + Duration::from_millis(rng.range(0, window.as_millis() as u64)),
                port: rng.range(0, ports.len() as u64 - 1) as usize,
                // Some timeouts are shorter than the servers' slowest answers, so both
                // endings race.
                timeout: Duration::from_millis(rng.range(20, 800)),
                pad: rng.range(0, 3000) as usize,
                cancel_after: rng
                    .chance(10)
                    .then(|| Duration::from_millis(rng.range(0, 400))),
            })
            .collect();
        // Stable sort: equal times keep their drawn order, so the plan is deterministic.
        planned.sort_by_key(|p| p.at);
        ClientNode {
            index,
            ports,
            planned: planned.into(),
            calls: BTreeMap::new(),
            serial: 0,
            closing: false,
            cancels: BTreeMap::new(),
        }
    }

    fn drain(&mut self, ctx: &mut Ctx, port: usize) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.ports[port].poll_event() {
            trace_event(ctx, &self.name(), port, &event);
            events.push(event);
        }
        events
    }

    /// Handles what `port` reported; returns the reasons of the calls that ended.
    fn react(&mut self, ctx: &mut Ctx, port: usize) -> Vec<EndReason> {
        let mut reasons = Vec::new();
        for event in self.drain(ctx, port) {
            match event {
                Event::Response { id, result } => {
                    let made = self.end_call(ctx, port, id, "Response");
                    let got = match &result {
                        Ok(raw) => raw.get().to_owned(),
                        Err(error) => ctx.fail(format_args!(
                            "client {} port {port}: call {id} got an error {error:?}; servers only echo",
                            self.index
                        )),
                    };
                    if got != made {
                        ctx.fail(format_args!(
                            "client {} port {port}: call {id} got the answer of another call\n  sent: {}\n  got:  {}",
                            self.index,
                            short(&made),
                            short(&got)
                        ));
                    }
                    ctx.calls.answered += 1;
                }
                Event::Ended { id, reason } => {
                    let what = match reason {
                        EndReason::TimedOut => "TimedOut",
                        EndReason::Cancelled => "Cancelled",
                        EndReason::ConnectionLost { .. } => "ConnectionLost",
                    };
                    self.end_call(ctx, port, id, what);
                    match reason {
                        EndReason::TimedOut => ctx.calls.timed_out += 1,
                        EndReason::ConnectionLost { .. } => ctx.calls.lost += 1,
                        EndReason::Cancelled => ctx.calls.cancelled += 1,
                    }
                    reasons.push(reason);
                }
                Event::Open { .. } => {
                    // Closing was decided while this port still shook hands: close it now.
                    if self.closing {
                        let _ = self.ports[port].close(ctx.now, CloseCode::NORMAL, "done");
                    }
                }
                Event::Closed(_) => {
                    // "Every call still pending has ended before this event."
                    if let Some(id) = self.open_call(port) {
                        ctx.fail(format_args!(
                            "client {} port {port}: Closed reported while call {id} is still open",
                            self.index
                        ));
                    }
                }
                // Faults (reset mid-handshake, a partition past the handshake timeout)
                // legitimately end in protocol errors; they are in the trace.
                Event::WsError(_) | Event::Pong(_) => {}
                other => ctx.fail(format_args!(
                    "client {} port {port}: unexpected event {other:?}",
                    self.index
                )),
            }
        }
        self.maybe_close(ctx);
        reasons
    }

    /// Marks call `id` ended and returns its params; fails if it is unknown or already ended.
    fn end_call(&mut self, ctx: &Ctx, port: usize, id: RequestId, how: &'static str) -> String {
        let index = self.index;
        let Some(made) = self.calls.get_mut(&(port, id)) else {
            ctx.fail(format_args!(
                "client {index} port {port}: {how} for call {id}, which this endpoint never made"
            ))
        };
        if let Some(before) = made.ended {
            ctx.fail(format_args!(
                "client {index} port {port}: call {id} ended twice: {before}, then {how}"
            ));
        }
        made.ended = Some(how);
        made.params.clone()
    }

    fn open_call(&self, port: usize) -> Option<RequestId> {
        self.calls
            .iter()
            .find(|((p, _), made)| *p == port && made.ended.is_none())
            .map(|((_, id), _)| *id)
    }

    /// Once every planned call is made and has ended, close every connection.
    fn maybe_close(&mut self, ctx: &mut Ctx) {
        if self.closing || !self.planned.is_empty() {
            return;
        }
        if self.calls.values().any(|m| m.ended.is_none()) {
            return;
        }
        self.closing = true;
        for endpoint in &mut self.ports {
            if endpoint.state() == State::Open {
                let _ = endpoint.close(ctx.now, CloseCode::NORMAL, "done");
            }
        }
    }

    /// Cancels that are due. `cancel` must say true exactly when the call is still open
    /// in our ledger, and then the call ends with `Cancelled` (checked in `react`).
    fn cancel_due(&mut self, ctx: &mut Ctx) {
        while let Some(entry) = self.cancels.first_entry() {
            if entry.key().0 > ctx.now {
                break;
            }
            let (port, id) = entry.remove();
            let open = self
                .calls
                .get(&(port, id))
                .is_some_and(|made| made.ended.is_none());
            let cancelled = self.ports[port].cancel(ctx.now, id);
            ctx.trace
                .add(if cancelled { b"cancel+" } else { b"cancel-" });
            if cancelled != open {
                ctx.fail(format_args!(
                    "client {} port {port}: cancel({id}) returned {cancelled} but the call is {}",
                    self.index,
                    if open { "open" } else { "over" }
                ));
            }
            let reasons = self.react(ctx, port);
            if cancelled && reasons != [EndReason::Cancelled] {
                ctx.fail(format_args!(
                    "client {} port {port}: cancel({id}) returned true, then the calls that ended were {reasons:?}",
                    self.index
                ));
            }
        }
    }

    fn make_due_calls(&mut self, ctx: &mut Ctx) {
        while self.planned.front().is_some_and(|p| p.at <= ctx.now) {
            let Some(plan) = self.planned.pop_front() else {
                break;
            };
            self.serial += 1;
            // Client index and serial make the params unique in the run, so an answer
            // proves which call it belongs to; the padding varies frame sizes.
            let params = format!(
                r#"{{"client":{},"call":{},"pad":"{}"}}"#,
                self.index,
                self.serial,
                "x".repeat(plan.pad)
            );
            let raw =
                RawValue::from_string(params.clone()).expect("the simulator builds valid JSON");
            match self.ports[plan.port].call(ctx.now, "echo", Some(&raw), Some(plan.timeout)) {
                Ok(id) => {
                    ctx.trace.add(b"call");
                    ctx.trace.add(params.as_bytes());
                    let made = Made {
                        params,
                        ended: None,
                    };
                    if self.calls.insert((plan.port, id), made).is_some() {
                        ctx.fail(format_args!(
                            "client {} port {}: call() returned id {id} twice",
                            self.index, plan.port
                        ));
                    }
                    ctx.calls.made += 1;
                    if let Some(after) = plan.cancel_after {
                        self.cancels
                            .insert((ctx.now + after, self.serial), (plan.port, id));
                    }
                }
                Err(error) => {
                    ctx.trace.add(format!("refused {error:?}").as_bytes());
                    ctx.calls.refused += 1;
                }
            }
        }
    }
}

impl Node for ClientNode {
    fn name(&self) -> String {
        format!("client {}", self.index)
    }

    fn ports(&self) -> usize {
        self.ports.len()
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: usize, data: &[u8]) {
        self.ports[port].handle_input(ctx.now, data);
        self.react(ctx, port);
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: usize) {
        let open_before: Vec<RequestId> = self
            .calls
            .iter()
            .filter(|((p, _), m)| *p == port && m.ended.is_none())
            .map(|((_, id), _)| *id)
            .collect();
        self.ports[port].handle_eof(ctx.now);
        let reasons = self.react(ctx, port);
        // The transport is gone: every call in flight on it must have ended, and only
        // with ConnectionLost (an EOF carries no answers and no deadline passed).
        if let Some(id) = self.open_call(port) {
            ctx.fail(format_args!(
                "client {} port {port}: call {id} still open after EOF",
                self.index
            ));
        }
        if reasons.len() != open_before.len()
            || reasons
                .iter()
                .any(|r| !matches!(r, EndReason::ConnectionLost { .. }))
        {
            ctx.fail(format_args!(
                "client {} port {port}: {} calls in flight at EOF ended as {reasons:?}, expected all ConnectionLost",
                self.index,
                open_before.len()
            ));
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        let name = self.name();
        for port in 0..self.ports.len() {
            self.ports[port].handle_timeout(ctx.now);
            check_timer(ctx, &name, port, &self.ports[port]);
            self.react(ctx, port);
        }
        self.make_due_calls(ctx);
        self.cancel_due(ctx);
        self.maybe_close(ctx);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let machines = self.ports.iter().filter_map(Endpoint::poll_timeout);
        let cancel = self.cancels.keys().next().map(|k| k.0);
        machines
            .chain(self.planned.front().map(|p| p.at))
            .chain(cancel)
            .min()
    }

    fn poll_transmit(&mut self, port: usize) -> Option<Bytes> {
        self.ports[port].poll_transmit()
    }

    fn port_finished(&self, port: usize) -> bool {
        self.ports[port].is_finished()
    }

    fn check(&self, ctx: &Ctx) {
        let name = self.name();
        for (port, endpoint) in self.ports.iter().enumerate() {
            check_buffered(ctx, &name, port, endpoint);
        }
    }

    fn check_done(&self, ctx: &Ctx) {
        if !self.planned.is_empty() {
            ctx.fail(format_args!(
                "client {}: run ended with {} calls never made",
                self.index,
                self.planned.len()
            ));
        }
        for ((port, id), made) in &self.calls {
            if made.ended.is_none() {
                ctx.fail(format_args!(
                    "client {} port {port}: call {id} never ended",
                    self.index
                ));
            }
        }
        for (port, endpoint) in self.ports.iter().enumerate() {
            if !endpoint.is_finished() {
                ctx.fail(format_args!(
                    "client {} port {port}: not finished at the end (state {:?})",
                    self.index,
                    endpoint.state()
                ));
            }
        }
    }
}

/// An answer a server will send later.
#[derive(Debug)]
struct Reply {
    port: usize,
    to: ReplyTo,
    params: Box<RawValue>,
}

/// An RPC server: one [`Endpoint`] per client, answers `echo` with its params after a
/// random virtual delay.
#[derive(Debug)]
pub struct ServerNode {
    index: usize,
    ports: Vec<Endpoint>,
    /// Answers by (due time, arrival order): a BTreeMap, so ties fire in a fixed order.
    replies: BTreeMap<(Instant, u64), Reply>,
    arrivals: u64,
    /// Largest answer delay, drawn per request.
    max_delay: Duration,
}

impl ServerNode {
    /// Server number `index` over `ports` (server endpoints), answering within `max_delay`.
    pub fn new(index: usize, ports: Vec<Endpoint>, max_delay: Duration) -> ServerNode {
        ServerNode {
            index,
            ports,
            replies: BTreeMap::new(),
            arrivals: 0,
            max_delay,
        }
    }

    fn react(&mut self, ctx: &mut Ctx, port: usize) {
        let name = self.name();
        while let Some(event) = self.ports[port].poll_event() {
            trace_event(ctx, &name, port, &event);
            match event {
                Event::Upgrade(_) => {
                    if let Err(error) = self.ports[port].accept(ctx.now, None, &[]) {
                        ctx.fail(format_args!("{name} port {port}: accept failed: {error:?}"));
                    }
                }
                Event::Request {
                    reply,
                    method,
                    params,
                } => {
                    if method != "echo" {
                        ctx.fail(format_args!(
                            "{name} port {port}: unknown method {method:?}"
                        ));
                    }
                    let Some(params) = params else {
                        ctx.fail(format_args!("{name} port {port}: echo without params"))
                    };
                    let delay = ctx.rng.range(0, self.max_delay.as_millis() as u64);
                    let at = ctx.now + Duration::from_millis(delay);
                    self.arrivals += 1;
                    self.replies.insert(
                        (at, self.arrivals),
                        Reply {
                            port,
                            to: reply,
                            params,
                        },
                    );
                }
                Event::Open { .. } | Event::Closed(_) | Event::WsError(_) | Event::Pong(_) => {}
                other => ctx.fail(format_args!(
                    "{name} port {port}: unexpected event {other:?}"
                )),
            }
        }
    }
}

impl Node for ServerNode {
    fn name(&self) -> String {
        format!("server {}", self.index)
    }

    fn ports(&self) -> usize {
        self.ports.len()
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: usize, data: &[u8]) {
        self.ports[port].handle_input(ctx.now, data);
        self.react(ctx, port);
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: usize) {
        self.ports[port].handle_eof(ctx.now);
        self.react(ctx, port);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        let name = self.name();
        for port in 0..self.ports.len() {
            self.ports[port].handle_timeout(ctx.now);
            check_timer(ctx, &name, port, &self.ports[port]);
            self.react(ctx, port);
        }
        while let Some(entry) = self.replies.first_entry() {
            if entry.key().0 > ctx.now {
                break;
            }
            let reply = entry.remove();
            let port = reply.port;
            match self.ports[port].respond(ctx.now, reply.to, Ok(&reply.params)) {
                Ok(()) => ctx.trace.add(b"answered"),
                // The connection died while the answer waited: the client's call has
                // ended (or will) with ConnectionLost, which the client checks.
                Err(error) => ctx
                    .trace
                    .add(format!("answer dropped {error:?}").as_bytes()),
            }
            self.react(ctx, port);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let machines = self.ports.iter().filter_map(Endpoint::poll_timeout);
        machines
            .chain(self.replies.keys().next().map(|k| k.0))
            .min()
    }

    fn poll_transmit(&mut self, port: usize) -> Option<Bytes> {
        self.ports[port].poll_transmit()
    }

    fn port_finished(&self, port: usize) -> bool {
        self.ports[port].is_finished()
    }

    fn check(&self, ctx: &Ctx) {
        let name = self.name();
        for (port, endpoint) in self.ports.iter().enumerate() {
            check_buffered(ctx, &name, port, endpoint);
        }
    }

    fn check_done(&self, ctx: &Ctx) {
        let name = self.name();
        for (port, endpoint) in self.ports.iter().enumerate() {
            if !endpoint.is_finished() {
                ctx.fail(format_args!(
                    "{name} port {port}: not finished at the end (state {:?})",
                    endpoint.state()
                ));
            }
        }
    }
}
