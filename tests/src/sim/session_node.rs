//! A node of reconnecting clients: each [`Session`] talks to one echo server, dialing a
//! new connection whenever it asks (`Event::Connect`) and dropping one when told
//! (`Event::Disconnect`). Calls and numbered notifications are planned from the seed;
//! once the faults are over every session must reconnect, drain its queue, get one last
//! call answered (re-sent if a link still drops just after the faults), send one last
//! notification, and close.
//!
//! Invariants, checked at every step (see [`SessionNode::check`]):
//! - every call ends exactly once: a `Response` carrying exactly its own params (servers
//!   echo), or `Ended` for an honest reason: `TimedOut` only at or after its deadline,
//!   `Cancelled` only right after `cancel` returned true, `ConnectionLost` only when a
//!   link is dropped or its WebSocket is no longer open, `Failed` only once the session
//!   is `Failed`, `Closed` only after `close`;
//! - no call outlives its deadline;
//! - states change only along the documented edges (`State::can_become`), and `Connect`
//!   comes only while connecting;
//! - memory: the queue within its `QueueLimits` (plus the calls written on a lost link
//!   and put back, at most `max_in_flight`), calls in flight within `max_in_flight`,
//!   `pending_transmit` within the queue's byte bound plus what may be in flight;
//! - a link that goes silent (a partition, or a peer that stops reading pings) for longer
//!   than the heartbeat's `interval + timeout` is dropped within that time;
//! - once faults are over, every session that has not given up is `Connected` again
//!   within `connect_timeout + backoff.max + 1 s`, and its queue is empty within that
//!   plus the longest call timeout;
//! - notifications arrive in order, none twice (checked at the server); a number is
//!   missing only where the session changed links between its neighbours, so every gap
//!   was written on a link that was lost; one queued while no link was open is never
//!   missing when the next link to open carried a later one; the last one always arrives.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;
use tether_core::handshake::ClientRequest;
use tether_core::rpc;
use tether_core::session::{
    Attempt, Backoff, CallId, CallOptions, Config, EndReason, Event, Heartbeat, HeartbeatMode,
    QueueLimits, Retry, Session, State,
};
use tether_core::ws;

use super::checks::{short, CONTROL_SLACK};
use super::faults::Plan;
use super::net_session::NetSession;
use super::node::{Ctx, Node, NodeId, Port};
use super::notes::NoteLedger;
use super::rng::SimRng;

/// Longest padding in a session's call or notification params.
pub const SESSION_MAX_PAD: usize = 1500;
/// The longest timeout a planned call gets.
const MAX_CALL_TIMEOUT: Duration = Duration::from_millis(3000);
/// The timeout of the last call, made once faults are over: it must be answered.
const FINAL_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after the faults the last call is made: the faults' last effects (a pong
/// still in flight when a stall ends) may still drop a link just after they stop.
const SETTLE: Duration = Duration::from_secs(1);
/// Bytes a session may write beyond its queue: a farewell close frame of a dropped link.
const FAREWELL: usize = 4 << 10;

/// Something a session will do later.
#[derive(Debug)]
enum Action {
    Call {
        timeout: Duration,
        retry: Retry,
        pad: usize,
        cancel_after: Option<Duration>,
    },
    Notify {
        pad: usize,
    },
}

/// One call made, kept after it ends so a second ending is caught.
#[derive(Debug)]
struct Made {
    params: String,
    deadline: Instant,
    ended: Option<&'static str>,
}

/// Where a session is in the script of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Making its planned calls and notifications.
    Running,
    /// Faults are over: waiting to be connected with an empty queue and no call open.
    Draining,
    /// The last call is out; waiting for its answer.
    Finishing,
    /// The last call was answered; the last notification goes out when the link is open
    /// and the queue empty, then `close`.
    Noting,
    /// `close` was called; waiting for `Disconnected`.
    Closing,
    /// Closed, or gave up (`Failed`).
    Done,
}

/// One session and everything the node checks it against.
struct Slot {
    /// The sender name in params and in the note ledger ("sessions 0/1").
    name: String,
    net: NetSession,
    plan: VecDeque<(Instant, Action)>,
    calls: BTreeMap<CallId, Made>,
    /// Cancels to do, by (due time, call): ties fire in a fixed order.
    cancels: BTreeMap<(Instant, CallId), ()>,
    /// The number of the next notification (1, 2, …; only accepted ones use one up).
    next_note: u64,
    /// Notifications the session queued while no link was open, by number: how many
    /// links had opened then. The next link to open must carry them.
    queued_notes: BTreeMap<u64, usize>,
    serial: u64,
    /// The attempt of the latest `Connect` seen, and its port.
    latest: Option<(Attempt, Port)>,
    /// Links that opened, in order: connection number, and when.
    opened: Vec<(u64, Instant)>,
    /// The link open now: its attempt and when it opened.
    open: Option<(Attempt, Instant)>,
    state: State,
    phase: Phase,
    closed: bool,
    final_call: Option<CallId>,
    /// Windows in which its link shows no sign of life to the heartbeat (from the plan).
    silences: Vec<(Instant, Instant)>,
    /// Instants at which a check must run even if nothing else happens (a silence's
    /// detection deadline, the recovery bounds), sorted.
    wakeups: Vec<Instant>,
}

/// A node of [`Session`]s, each to one echo server.
pub struct SessionNode {
    index: usize,
    slots: Vec<Slot>,
    ledger: NoteLedger,
    /// When faults are over (from the plan, known once the run starts).
    quiet_at: Instant,
    /// The time of the latest call into the node, so wake-ups already past are skipped.
    last_now: Instant,
    /// High-water marks seen by the checks: queue items past `max_messages` (re-queued
    /// calls), and `pending_transmit`.
    over_limit: Cell<usize>,
    pending: Cell<usize>,
}

/// Draws a session's settings: short timers and small bounds, so that reconnects, full
/// queues, heartbeat timeouts and give-ups all happen within a short run.
fn draw_config(rng: &mut SimRng, ws: &ws::Config) -> Config {
    let ms = Duration::from_millis;
    // The timeout outlasts an interval plus a round trip (at most 140 ms here): with
    // `AnyInput`, a shorter one would drop every idle link, since pongs are its only input.
    let heartbeat = (!rng.chance(10)).then(|| {
        let interval = ms(rng.range(100, 1000));
        Heartbeat {
            interval,
            timeout: interval + ms(rng.range(200, 2000)),
            mode: if rng.chance(50) {
                HeartbeatMode::Pong
            } else {
                HeartbeatMode::AnyInput
            },
        }
    });
    Config {
        ws: ws.clone(),
        rpc: rpc::Config {
            max_in_flight: rng.range(1, 16) as usize,
            ..Default::default()
        },
        connect_timeout: ms(rng.range(200, 3000)),
        backoff: Backoff {
            base: ms(rng.range(5, 200)),
            max: ms(rng.range(200, 2000)),
            max_attempts: rng.chance(10).then(|| rng.range(0, 6) as u32),
        },
        heartbeat,
        queue: QueueLimits {
            max_messages: rng.range(2, 64) as usize,
            max_bytes: rng.log_range(512, 64 << 10) as usize,
        },
    }
}

impl SessionNode {
    /// Node number `index` with `sessions` sessions, each to a server drawn from
    /// `servers`, planning `actions` calls and notifications each within `window` of
    /// `origin`; notifications are recorded by the servers in `ledger`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        sessions: usize,
        servers: &[NodeId],
        actions: usize,
        ws: &ws::Config,
        origin: Instant,
        window: Duration,
        ledger: NoteLedger,
        rng: &mut SimRng,
    ) -> SessionNode {
        let slots = (0..sessions)
            .map(|s| {
                let server = servers[rng.range(0, servers.len() as u64 - 1) as usize];
                let config = draw_config(rng, ws);
                let request = ClientRequest {
                    host: format!("server-{}", server.0),
                    path: "/rpc".into(),
                    ..Default::default()
                };
                let session = Session::new(origin, config, request, rng.seed32())
                    .expect("the simulator's upgrade request is valid");
                let mut plan: Vec<(Instant, Action)> = (0..actions)
                    .map(|_| {
                        let at =
                            origin + Duration::from_millis(rng.range(0, window.as_millis() as u64));
                        let pad = if rng.chance(20) {
                            rng.range(0, SESSION_MAX_PAD as u64) as usize
                        } else {
                            rng.range(0, 64) as usize
                        };
                        let action = if rng.chance(40) {
                            Action::Notify { pad }
                        } else {
                            Action::Call {
                                timeout: Duration::from_millis(
                                    rng.range(50, MAX_CALL_TIMEOUT.as_millis() as u64),
                                ),
                                retry: if rng.chance(30) {
                                    Retry::Resend {
                                        max: rng.range(1, 3) as u32,
                                    }
                                } else {
                                    Retry::Never
                                },
                                pad,
                                cancel_after: rng
                                    .chance(10)
                                    .then(|| Duration::from_millis(rng.range(0, 1000))),
                            }
                        };
                        (at, action)
                    })
                    .collect();
                plan.sort_by_key(|(at, _)| *at);
                Slot {
                    name: format!("sessions {index}/{s}"),
                    net: NetSession::new(session, server),
                    plan: plan.into(),
                    calls: BTreeMap::new(),
                    cancels: BTreeMap::new(),
                    next_note: 1,
                    queued_notes: BTreeMap::new(),
                    serial: 0,
                    latest: None,
                    opened: Vec::new(),
                    open: None,
                    state: State::Disconnected,
                    phase: Phase::Running,
                    closed: false,
                    final_call: None,
                    silences: Vec::new(),
                    wakeups: Vec::new(),
                }
            })
            .collect();
        SessionNode {
            index,
            slots,
            ledger,
            quiet_at: origin,
            last_now: origin,
            over_limit: Cell::new(0),
            pending: Cell::new(0),
        }
    }

    /// The session that dialed `port`.
    fn owner(&self, port: Port) -> Option<usize> {
        self.slots.iter().position(|slot| slot.net.owns(port))
    }

    /// The longest a call's encoded request can be: params with the largest padding.
    pub fn max_call_len() -> usize {
        SESSION_MAX_PAD + 256
    }

    /// Drains session `s`'s events and checks each one.
    fn react(&mut self, ctx: &mut Ctx, s: usize) {
        let mut events = Vec::new();
        while let Some(event) = self.slots[s].net.poll_event(ctx) {
            ctx.trace.add(self.slots[s].name.as_bytes());
            let text = format!("{event:?}");
            ctx.log(format_args!("{}: {}", self.slots[s].name, short(&text)));
            ctx.trace.add(text.as_bytes());
            events.push(event);
        }
        if events.is_empty() {
            return;
        }
        let dropped_link = events.iter().any(|e| matches!(e, Event::Disconnect { .. }));
        for event in events {
            self.on_event(ctx, s, event, dropped_link);
        }
        self.advance(ctx, s);
    }

    fn on_event(&mut self, ctx: &mut Ctx, s: usize, event: Event, dropped_link: bool) {
        let slot = &mut self.slots[s];
        let name = slot.name.clone();
        match event {
            Event::Connect { attempt } => {
                // Dialed already by `NetSession::poll_event`.
                if !matches!(slot.state, State::Connecting | State::Reconnecting) || slot.closed {
                    ctx.fail(format_args!(
                        "{name}: Connect for {attempt} in state {:?}{}",
                        slot.state,
                        if slot.closed { " after close" } else { "" }
                    ));
                }
                slot.latest = slot.net.port_of(attempt).map(|port| (attempt, port));
                ctx.count("session.attempts");
            }
            Event::Disconnect { attempt } => {
                if slot.open.is_some_and(|(a, _)| a == attempt) {
                    slot.open = None;
                }
            }
            Event::State(state) => {
                let max_attempts = slot.net.session().config().backoff.max_attempts;
                if !slot.state.can_become(state, max_attempts) {
                    ctx.fail(format_args!(
                        "{name}: state {:?} -> {state:?} (max_attempts {max_attempts:?})",
                        slot.state
                    ));
                }
                if state == State::Disconnected && !slot.closed {
                    ctx.fail(format_args!("{name}: Disconnected without close"));
                }
                slot.state = state;
                match state {
                    State::Connected => {
                        // The link that opens is the one of the latest `Connect`.
                        let Some((attempt, port)) = slot.latest else {
                            ctx.fail(format_args!("{name}: Connected before any Connect"));
                        };
                        slot.opened.push((port.conn(), ctx.now));
                        slot.open = Some((attempt, ctx.now));
                        ctx.count("session.links_opened");
                    }
                    State::Failed => {
                        slot.open = None;
                        ctx.count("session.failed");
                    }
                    _ => slot.open = None,
                }
            }
            Event::HeartbeatTimeout { attempt } => {
                ctx.count("session.heartbeat_timeouts");
                if slot.open.is_none_or(|(open, _)| open != attempt) {
                    ctx.fail(format_args!(
                        "{name}: heartbeat timeout of {attempt}, which is not the open link"
                    ));
                }
            }
            Event::Response { id, result } => {
                // An answer after the deadline means the deadline did not fire.
                if slot.calls.get(&id).is_some_and(|m| ctx.now > m.deadline) {
                    ctx.fail(format_args!("{name}: {id} answered after its deadline"));
                }
                let made = end_call(ctx, &name, &mut slot.calls, id, "Response");
                let got = match &result {
                    Ok(raw) => raw.get().to_owned(),
                    Err(error) => ctx.fail(format_args!(
                        "{name}: {id} got an error {error:?}; servers only echo"
                    )),
                };
                if got != made {
                    ctx.fail(format_args!(
                        "{name}: {id} got the answer of another call\n  sent: {}\n  got:  {}",
                        short(&made),
                        short(&got)
                    ));
                }
                ctx.count("session.answered");
            }
            Event::Ended { id, reason } => {
                let (what, honest) = match reason {
                    // At its deadline (the timer fires on time), or where a clock jump
                    // landed past it.
                    EndReason::TimedOut => (
                        "session.timed_out",
                        slot.calls.get(&id).is_some_and(|m| {
                            ctx.now >= m.deadline
                                && (ctx.now - m.deadline <= Duration::from_millis(1)
                                    || ctx.plan().jump().is_some_and(|(at, by)| at + by == ctx.now))
                        }),
                    ),
                    // Checked where `cancel` is called.
                    EndReason::Cancelled => ("session.cancelled", true),
                    EndReason::ConnectionLost { .. } => (
                        "session.lost",
                        dropped_link || !link_open(slot.net.session()),
                    ),
                    EndReason::Failed => (
                        "session.ended_failed",
                        slot.net.session().state() == State::Failed,
                    ),
                    EndReason::Closed => ("session.ended_closed", slot.closed),
                    // Only a pool ends calls so.
                    EndReason::Unreachable => ("session.ended_unreachable", false),
                };
                if !honest {
                    ctx.fail(format_args!(
                        "{name}: {id} ended {reason:?}, which did not happen (state {:?})",
                        slot.net.session().state()
                    ));
                }
                end_call(ctx, &name, &mut slot.calls, id, what);
                ctx.count(what);
            }
            Event::Notification { method, .. } => {
                ctx.fail(format_args!("{name}: unexpected notification {method:?}"))
            }
        }
    }

    /// Moves session `s` along its script once faults are over.
    fn advance(&mut self, ctx: &mut Ctx, s: usize) {
        let settled = ctx.plan().quiet_at() + SETTLE;
        let slot = &mut self.slots[s];
        if slot.phase != Phase::Done && slot.state == State::Failed {
            slot.phase = Phase::Done;
        }
        let ready = |slot: &Slot, ctx: &Ctx| {
            slot.state == State::Connected
                && slot.net.session().metrics(ctx.now).queue_depth == 0
                && slot.calls.values().all(|m| m.ended.is_some())
        };
        if slot.phase == Phase::Running && slot.plan.is_empty() && ctx.now >= settled {
            slot.phase = Phase::Draining;
        }
        if slot.phase == Phase::Draining && ready(slot, ctx) {
            // The last call: idempotent, so it may be re-sent if a link still drops.
            match call(ctx, slot, FINAL_CALL_TIMEOUT, Retry::Resend { max: 3 }, 16) {
                Ok(id) => slot.final_call = Some(id),
                Err(error) => ctx.fail(format_args!(
                    "{}: the last call was refused: {error}",
                    slot.name
                )),
            }
            slot.phase = Phase::Finishing;
        }
        if slot.phase == Phase::Finishing {
            let ended = slot
                .final_call
                .and_then(|id| slot.calls.get(&id))
                .and_then(|m| m.ended);
            match ended {
                Some("Response") => slot.phase = Phase::Noting,
                Some(how) => ctx.fail(format_args!(
                    "{}: the last call, made after the faults, ended {how}",
                    slot.name
                )),
                None => {}
            }
        }
        if slot.phase == Phase::Noting && ready(slot, ctx) {
            // Written at once on the open link, then the close frame behind it: it must
            // arrive, as the last number.
            let name = slot.name.clone();
            if let Err(error) = notify(ctx, slot, 16) {
                ctx.fail(format_args!(
                    "{name}: the last notification was refused: {error}"
                ));
            }
            slot.closed = true;
            slot.phase = Phase::Closing;
            slot.net.session_mut().close(ctx.now);
            ctx.trace.add(b"close");
            self.react(ctx, s);
            return;
        }
        let slot = &mut self.slots[s];
        if slot.phase == Phase::Closing && slot.state == State::Disconnected {
            slot.phase = Phase::Done;
        }
    }

    /// Runs session `s`'s planned actions and cancels that are due.
    fn act(&mut self, ctx: &mut Ctx, s: usize) {
        let slot = &mut self.slots[s];
        while slot.plan.front().is_some_and(|(at, _)| *at <= ctx.now) {
            let Some((_, action)) = slot.plan.pop_front() else {
                break;
            };
            match action {
                Action::Notify { pad } => match notify(ctx, slot, pad) {
                    Ok(()) => ctx.count("session.notes"),
                    Err(_) => ctx.count("session.refused"),
                },
                Action::Call {
                    timeout,
                    retry,
                    pad,
                    cancel_after,
                } => match call(ctx, slot, timeout, retry, pad) {
                    Ok(id) => {
                        if let Some(after) = cancel_after {
                            slot.cancels.insert((ctx.now + after, id), ());
                        }
                    }
                    Err(_) => ctx.count("session.refused"),
                },
            }
        }
        loop {
            let slot = &mut self.slots[s];
            let Some(entry) = slot.cancels.first_entry() else {
                break;
            };
            if entry.key().0 > ctx.now {
                break;
            }
            let (_, id) = *entry.key();
            entry.remove();
            let open = slot.calls.get(&id).is_some_and(|m| m.ended.is_none());
            let cancelled = slot.net.session_mut().cancel(ctx.now, id);
            ctx.trace
                .add(if cancelled { b"cancel+" } else { b"cancel-" });
            if cancelled != open {
                ctx.fail(format_args!(
                    "{}: cancel({id}) returned {cancelled} but the call is {}",
                    slot.name,
                    if open { "open" } else { "over" }
                ));
            }
            self.react(ctx, s);
            let slot = &self.slots[s];
            if cancelled && slot.calls.get(&id).and_then(|m| m.ended) != Some("session.cancelled") {
                ctx.fail(format_args!(
                    "{}: cancel({id}) returned true but the call ended {:?}",
                    slot.name,
                    slot.calls.get(&id).and_then(|m| m.ended)
                ));
            }
        }
    }

    /// Checks of session `s` against the faults drawn: a silent link is dropped in time,
    /// and a session recovers once faults are over.
    fn check_liveness(&self, ctx: &Ctx, s: usize, queue_depth: usize) {
        let slot = &self.slots[s];
        if let (Some((_, opened_at)), Some(heartbeat)) =
            (slot.open, slot.net.session().config().heartbeat)
        {
            let bound = heartbeat_bound(&heartbeat);
            for &(start, end) in &slot.silences {
                if start >= opened_at && end > start + bound && ctx.now > start + bound {
                    ctx.fail(format_args!(
                        "{}: the link open since {:?} went silent at {:?} (until {:?}) and is still up; the heartbeat ({heartbeat:?}) should have dropped it by {:?}",
                        slot.name,
                        opened_at - ctx.origin,
                        start - ctx.origin,
                        end - ctx.origin,
                        start + bound - ctx.origin
                    ));
                }
            }
        }
        if slot.phase == Phase::Done || slot.state == State::Failed || slot.closed {
            return;
        }
        let (reconnect_by, drained_by) =
            recovery_bounds(slot.net.session().config(), self.quiet_at);
        if ctx.now > reconnect_by && slot.state != State::Connected {
            ctx.fail(format_args!(
                "{}: faults ended at {:?}, and at {:?} the session is still {:?}",
                slot.name,
                self.quiet_at - ctx.origin,
                ctx.elapsed(),
                slot.state
            ));
        }
        if ctx.now > drained_by && queue_depth > 0 {
            ctx.fail(format_args!(
                "{}: faults ended at {:?}, and at {:?} {queue_depth} items are still queued",
                slot.name,
                self.quiet_at - ctx.origin,
                ctx.elapsed()
            ));
        }
    }

    /// Every notification accepted arrived, or was written on a link that was lost: a
    /// missing number lies between two arrivals on different connections (or before the
    /// first arrival, when that came on a later link than the first).
    fn check_notes(&self, ctx: &mut Ctx, s: usize) {
        let slot = &self.slots[s];
        let arrived = self.ledger.arrived(&slot.name);
        let sent = slot.next_note - 1;
        let name = &slot.name;
        let mut before: Option<(u64, u64)> = None;
        for &(n, conn) in &arrived {
            let expected = before.map_or(1, |(m, _)| m + 1);
            if n > expected {
                self.check_queued_notes(ctx, s, expected..n, conn);
                let same_link = match before {
                    Some((_, prev)) => prev == conn,
                    None => slot.opened.first().is_some_and(|&(first, _)| first == conn),
                };
                if same_link {
                    ctx.fail(format_args!(
                        "{name}: notes {expected}..{} never arrived, yet the ones around them came on the same connection {conn}",
                        n - 1
                    ));
                }
            }
            ctx.add("session.notes_lost", n - expected);
            before = Some((n, conn));
        }
        ctx.add("session.notes_arrived", arrived.len() as u64);
        let last = before.map_or(0, |(n, _)| n);
        if slot.state != State::Failed && last != sent {
            ctx.fail(format_args!(
                "{name}: {sent} notes accepted, the last to arrive is {last}"
            ));
        }
    }
}

impl SessionNode {
    /// Notes `missing` never arrived, and the next one came on connection `conn`. One that
    /// was queued goes out, in order, on the first link to open after it was queued: if
    /// that is `conn`, it was written there before the one that arrived, so it is lost
    /// where nothing may be lost.
    fn check_queued_notes(&self, ctx: &Ctx, s: usize, missing: std::ops::Range<u64>, conn: u64) {
        let slot = &self.slots[s];
        let Some(link) = slot.opened.iter().position(|&(c, _)| c == conn) else {
            return;
        };
        for m in missing {
            if slot.queued_notes.get(&m) == Some(&link) {
                ctx.fail(format_args!(
                    "{}: note {m} was queued, and the next link to open (connection {conn}) carried a later note but not note {m}: a queued notification went missing",
                    slot.name
                ));
            }
        }
    }
}

/// One nanosecond: wake-ups go just past a bound, where the check fails.
const NANO: Duration = Duration::from_nanos(1);

/// How long after a link goes silent the heartbeat must have dropped it: the next ping
/// goes out within `interval`, and it goes unanswered for `timeout` (plus a millisecond
/// for the nanosecond steps the session takes between timers).
fn heartbeat_bound(heartbeat: &Heartbeat) -> Duration {
    heartbeat.interval + heartbeat.timeout + Duration::from_millis(1)
}

/// When a session must be `Connected` again after the faults stop at `quiet_at` (a
/// backoff wait, then an attempt that may time out once, plus round trips), and when its
/// queue must be empty (its calls' deadlines have passed by then).
fn recovery_bounds(config: &Config, quiet_at: Instant) -> (Instant, Instant) {
    let reconnect_by =
        quiet_at + config.connect_timeout + config.backoff.max + Duration::from_secs(1);
    (reconnect_by, reconnect_by + MAX_CALL_TIMEOUT)
}

/// Windows in which the link from `me` to `server` shows no sign of life to a heartbeat
/// of `mode`: partitions between them and stalls of `me`, merged (in their union nothing
/// at all is delivered to `me`); and, for `Pong`, each stall of the server on its own (it
/// reads no ping, so answers none; merged with the others it would not do, as pongs
/// written before it stalled may still arrive).
fn silences(
    plan: &Plan,
    me: NodeId,
    server: NodeId,
    mode: HeartbeatMode,
) -> Vec<(Instant, Instant)> {
    let mut nothing_arrives: Vec<(Instant, Instant)> = plan.partitions(me, server).to_vec();
    nothing_arrives.extend_from_slice(plan.stalls(me));
    let mut windows = merge(skip_jump(plan, nothing_arrives));
    if mode == HeartbeatMode::Pong {
        windows.extend(skip_jump(plan, plan.stalls(server).to_vec()));
    }
    windows
}

/// `windows` without the time a clock jump leaps over: a window the jump lands in ends
/// where it took off, as everything held is then delivered at once.
fn skip_jump(plan: &Plan, windows: Vec<(Instant, Instant)>) -> Vec<(Instant, Instant)> {
    let Some((at, by)) = plan.jump() else {
        return windows;
    };
    let landing = at + by;
    windows
        .into_iter()
        .flat_map(|(start, end)| {
            let before = (start < at).then(|| (start, end.min(at)));
            let after = (end > landing).then(|| (start.max(landing), end));
            before.into_iter().chain(after)
        })
        .collect()
}

/// Overlapping or touching windows joined.
fn merge(mut windows: Vec<(Instant, Instant)>) -> Vec<(Instant, Instant)> {
    windows.sort();
    let mut merged: Vec<(Instant, Instant)> = Vec::new();
    for (start, end) in windows {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// The session's current link has an open WebSocket.
fn link_open(session: &Session) -> bool {
    session
        .current_attempt()
        .is_some_and(|a| session.link_state(a) == ws::State::Open)
}

/// Sends the slot's next numbered notification; its number is used up only if accepted.
fn notify(ctx: &mut Ctx, slot: &mut Slot, pad: usize) -> Result<(), tether_core::session::Refused> {
    let params = format!(
        r#"{{"from":"{}","n":{},"pad":"{}"}}"#,
        slot.name,
        slot.next_note,
        "x".repeat(pad)
    );
    let raw = RawValue::from_string(params).expect("the simulator builds valid JSON");
    let depth = slot.net.session().metrics(ctx.now).queue_depth;
    let result = slot.net.session_mut().notify(ctx.now, "note", Some(&raw));
    ctx.trace
        .add(format!("note {} {result:?}", slot.next_note).as_bytes());
    if result.is_ok() {
        // Queued with no link open: it waits for the next one. (Queued behind calls on
        // an open link, it may go out on that link, and be lost with it.)
        if slot.open.is_none() && slot.net.session().metrics(ctx.now).queue_depth > depth {
            slot.queued_notes.insert(slot.next_note, slot.opened.len());
            ctx.count("session.notes_queued");
        }
        slot.next_note += 1;
    }
    result
}

/// Makes a call with unique params; files it in the ledger if accepted.
fn call(
    ctx: &mut Ctx,
    slot: &mut Slot,
    timeout: Duration,
    retry: Retry,
    pad: usize,
) -> Result<CallId, tether_core::session::Refused> {
    slot.serial += 1;
    let params = format!(
        r#"{{"from":"{}","call":{},"pad":"{}"}}"#,
        slot.name,
        slot.serial,
        "x".repeat(pad)
    );
    let raw = RawValue::from_string(params.clone()).expect("the simulator builds valid JSON");
    let options = CallOptions {
        timeout: Some(timeout),
        retry,
    };
    let result = slot
        .net
        .session_mut()
        .call(ctx.now, "echo", Some(&raw), options);
    ctx.trace
        .add(format!("call {} {result:?}", slot.serial).as_bytes());
    if let Ok(id) = result {
        let made = Made {
            params,
            deadline: ctx.now + timeout,
            ended: None,
        };
        if slot.calls.insert(id, made).is_some() {
            ctx.fail(format_args!("{}: call() returned {id} twice", slot.name));
        }
        ctx.count("session.calls");
    }
    result
}

/// Marks call `id` ended and returns its params; fails if unknown or already ended.
fn end_call(
    ctx: &Ctx,
    name: &str,
    calls: &mut BTreeMap<CallId, Made>,
    id: CallId,
    how: &'static str,
) -> String {
    let Some(made) = calls.get_mut(&id) else {
        ctx.fail(format_args!("{name}: {how} for {id}, which was never made"))
    };
    if let Some(before) = made.ended {
        ctx.fail(format_args!(
            "{name}: {id} ended twice: {before}, then {how}"
        ));
    }
    made.ended = Some(how);
    made.params.clone()
}

impl Node for SessionNode {
    fn name(&self) -> String {
        format!("sessions {}", self.index)
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.quiet_at = ctx.plan().quiet_at();
        self.last_now = ctx.now;
        for slot in &mut self.slots {
            let config = slot.net.session().config();
            if let Some(heartbeat) = config.heartbeat {
                slot.silences = silences(ctx.plan(), ctx.me(), slot.net.server(), heartbeat.mode);
                let bound = heartbeat_bound(&heartbeat);
                slot.wakeups
                    .extend(slot.silences.iter().map(|&(start, _)| start + bound + NANO));
            }
            let (reconnect_by, drained_by) = recovery_bounds(config, self.quiet_at);
            slot.wakeups
                .extend([reconnect_by + NANO, drained_by + NANO]);
            slot.wakeups.sort();
        }
        for s in 0..self.slots.len() {
            self.slots[s].net.session_mut().start(ctx.now);
            self.react(ctx, s);
            self.act(ctx, s);
        }
    }

    fn handle_connected(&mut self, ctx: &mut Ctx, port: Port) {
        self.last_now = ctx.now;
        if let Some(s) = self.owner(port) {
            self.slots[s].net.handle_connected(ctx, port);
            self.react(ctx, s);
        }
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: Port, data: &[u8]) {
        self.last_now = ctx.now;
        if let Some(s) = self.owner(port) {
            self.slots[s].net.handle_input(ctx, port, data);
            self.react(ctx, s);
        }
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: Port) {
        self.last_now = ctx.now;
        if let Some(s) = self.owner(port) {
            self.slots[s].net.handle_eof(ctx, port);
            self.react(ctx, s);
        }
    }

    fn handle_reset(&mut self, ctx: &mut Ctx, port: Port) {
        self.last_now = ctx.now;
        if let Some(s) = self.owner(port) {
            self.slots[s].net.handle_reset(ctx, port);
            self.react(ctx, s);
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        self.last_now = ctx.now;
        for s in 0..self.slots.len() {
            let slot = &mut self.slots[s];
            slot.net.session_mut().handle_timeout(ctx.now);
            if let Some(next) = slot.net.session().poll_timeout() {
                if next <= ctx.now {
                    ctx.fail(format_args!(
                        "{}: poll_timeout() is {:?} after handle_timeout(now), not later than now",
                        slot.name,
                        next.saturating_duration_since(ctx.origin)
                    ));
                }
            }
            self.react(ctx, s);
            self.act(ctx, s);
            self.advance(ctx, s);
            self.slots[s].net.forget_abandoned();
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        for slot in &self.slots {
            consider(slot.net.session().poll_timeout());
            consider(slot.plan.front().map(|(at, _)| *at));
            consider(slot.cancels.keys().next().map(|k| k.0));
            // Wake up when faults are over, to start the last part of the script.
            if slot.phase == Phase::Running {
                consider(Some(self.quiet_at + SETTLE));
            }
            if slot.phase != Phase::Done {
                let next = slot.wakeups.partition_point(|&at| at <= self.last_now);
                consider(slot.wakeups.get(next).copied());
            }
        }
        next
    }

    fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
        let s = self.owner(port)?;
        self.slots[s].net.poll_transmit(port)
    }

    fn port_finished(&self, port: Port) -> bool {
        self.owner(port)
            .is_none_or(|s| self.slots[s].net.port_finished(port))
    }

    fn check(&self, ctx: &mut Ctx) {
        for (s, slot) in self.slots.iter().enumerate() {
            let config = slot.net.session().config();
            let metrics = slot.net.session().metrics(ctx.now);
            let limits = config.queue;
            // `call` and `notify` respect the limits; calls put back after a lost link
            // (at most the `max_in_flight` that were written) may go past them.
            let in_flight = config.rpc.max_in_flight;
            if metrics.queue_depth > limits.max_messages + in_flight
                || metrics.queue_bytes > limits.max_bytes + in_flight * Self::max_call_len()
            {
                ctx.fail(format_args!(
                    "{}: queue holds {} items, {} bytes, over its limits {limits:?} plus {in_flight} re-queued calls",
                    slot.name, metrics.queue_depth, metrics.queue_bytes
                ));
            }
            let over = metrics.queue_depth.saturating_sub(limits.max_messages);
            self.over_limit.set(self.over_limit.get().max(over));
            if metrics.in_flight > config.rpc.max_in_flight {
                ctx.fail(format_args!(
                    "{}: {} calls in flight, over max_in_flight {}",
                    slot.name, metrics.in_flight, config.rpc.max_in_flight
                ));
            }
            let held = slot.net.session().pending_transmit();
            self.pending.set(self.pending.get().max(held));
            let bound = limits.max_bytes
                + 2 * config.rpc.max_in_flight * Self::max_call_len()
                + FAREWELL
                + CONTROL_SLACK;
            if held > bound {
                ctx.fail(format_args!(
                    "{}: pending_transmit() = {held} exceeds its bound {bound} (queue limit {} bytes, {} in flight of {} bytes at most)",
                    slot.name,
                    limits.max_bytes,
                    config.rpc.max_in_flight,
                    Self::max_call_len()
                ));
            }
            self.check_liveness(ctx, s, metrics.queue_depth);
        }
    }

    fn check_done(&self, ctx: &mut Ctx) {
        ctx.record_max("session.queue_over_limit_max", self.over_limit.get() as u64);
        ctx.record_max("session.pending_transmit_max", self.pending.get() as u64);
        for (s, slot) in self.slots.iter().enumerate() {
            if let Some((id, _)) = slot.calls.iter().find(|(_, m)| m.ended.is_none()) {
                ctx.fail(format_args!("{}: {id} never ended", slot.name));
            }
            if slot.phase != Phase::Done {
                ctx.fail(format_args!(
                    "{}: the run ended with the session {:?} in phase {:?}",
                    slot.name, slot.state, slot.phase
                ));
            }
            self.check_notes(ctx, s);
            ctx.add(
                "session.reconnections",
                slot.net.session().metrics(ctx.now).reconnections,
            );
        }
    }
}
