//! A node of the cluster layer: one [`Pool`] on the simulated network, with a workload of
//! calls to random peers, answering its peers' calls itself after a delay. It may crash
//! (its pool, transports and pending answers are gone) and restarts with a fresh pool
//! under the same [`pool::NodeId`].
//!
//! The wiring is a driver's: `Connect` dials the peer's node (its `accept` takes the
//! connection, or the dial is refused when it is down), the transport's fate goes back as
//! `transport_open` / `transport_failed`, bytes are taken only from links announced by
//! `poll_ready` (until `poll_transmit` says `None`), a message handed out to be parsed
//! (`Event::Parse`) comes back with `handle_parsed` a few milliseconds later, a reset
//! transport is `release`d (its last bytes thrown away), and a link the pool says is
//! finished closes its port. Half the
//! large calls go on the bulk lane (`call_on(Lane::Bulk)`), the rest on the control link.
//!
//! The run's script: calls while faults may strike; once they are over, a calm period in
//! which every node calls every other every [`CALM_GAP`]; a snapshot of every node's links
//! at one instant; then `shutdown`. Invariants, each failing with its name (see
//! [`super::pool_checks`]):
//! 1. every call ends exactly once (`Response` or `Ended`, or silently after a `cancel`
//!    that returned true), by the end of the run unless its node crashed; a `Response`
//!    carries its own answer: the answering node echoes the caller's node, incarnation and
//!    call tag and names itself, and it must be the node called; a request comes on a
//!    link registered to the node that sent it (or to none, once replaced);
//! 2. no live, busy link is declared dead: a control link ends with [`Fault::Silent`]
//!    only if nothing was delivered to its port for the heartbeat's `timeout` before (a
//!    bulk link's fault shows in no event, so it goes unchecked);
//! 3. one link per peer pair once calm: at the snapshot every pair of nodes holds exactly
//!    one open control link to each other, the two ends of one transport, and at most one
//!    open bulk link each; and every calm call was answered;
//! 4. the pool's [`Stats`](tether_core::pool::Stats) agree with the workload's own counts
//!    (calls, failures, per peer), and calls in flight and queued per peer are calls
//!    still open;
//! 5. `Unreachable` only when the net failed the pair during the call's link attempt.
//! 6. the pool's observations ([`pool::Observation`]) are what happened: one `CallEnded`
//!    per call that ended, failures among them as the workload counted them, and each link
//!    observed open at most once and closed at most once, never open after closed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tether_core::handshake::ClientRequest;
use tether_core::pool::{
    self, CallOutcome, Config, Event, Fault, Lane, LinkId, Observation, PeerState, Pool,
};
use tether_core::rpc::{EndReason, ErrorObject, Refused, Unparsed};
use tether_core::session::CallId;
use tether_core::ws;

use super::checks;
use super::node::{Ctx, Node, NodeId, Port};
use super::pool_checks::{self, Board, View};
use super::pool_writes::{Member, Writes};
use super::rng::SimRng;

/// Time between the calm period's rounds of calls.
pub const CALM_GAP: Duration = Duration::from_millis(500);
/// How long after the faults the calm period starts: a slow link's last bytes are through.
const SETTLE: Duration = Duration::from_millis(1500);
/// How long the calm period lasts before the snapshot.
const CALM: Duration = Duration::from_secs(3);
/// From the snapshot to `shutdown`: the last calm calls are answered.
const WIND_DOWN: Duration = Duration::from_millis(1500);
/// How long `shutdown` waits for calls in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The timeout of a calm call: it must be answered.
const CALM_TIMEOUT: Duration = Duration::from_secs(5);
/// The application error code of a refusal by design (an answer, not a failure).
const REFUSED_BY_DESIGN: i64 = 1000;

/// The pool's name of simulated node `n`: `n + 1` (ids start at 1, as Raft's).
pub fn pool_id(node: NodeId) -> pool::NodeId {
    pool::NodeId(node.0 as u64 + 1)
}

/// The simulated node a pool's node id names.
pub fn sim_id(node: pool::NodeId) -> NodeId {
    NodeId(node.0.saturating_sub(1) as usize)
}

/// A harness-side fault, to show a checker catches what it claims to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sabotage {
    /// None: the harness plays fair.
    #[default]
    None,
    /// The answering node echoes a wrong call tag now and then: invariant 1 must catch it.
    WrongTag,
}

/// What a pool node does, drawn by the scenario.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Calls made while faults may strike.
    pub calls: usize,
    /// They are spread over this long from the start.
    pub window: Duration,
    /// Longest padding of a call's params (a bulk answer echoes it).
    pub max_pad: usize,
    /// Longest delay before a request is answered.
    pub max_answer_delay: Duration,
    /// The harness's own fault, if any.
    pub sabotage: Sabotage,
}

/// A call the node will make later.
#[derive(Debug)]
struct Planned {
    at: Instant,
    target: pool::NodeId,
    timeout: Duration,
    pad: usize,
    bulk: bool,
    lane: Lane,
    cancel_after: Option<Duration>,
}

/// One call made, kept after it ends so a second ending is caught.
#[derive(Debug, Clone, Copy)]
struct Made {
    target: pool::NodeId,
    tag: u64,
    pad: usize,
    bulk: bool,
    /// The earliest instant the link attempt this call may wait on began, less one
    /// connect timeout (a crossing dial it may be told to wait for): invariant 5's window.
    attempt_from: Instant,
    calm: bool,
    /// A calm call made again after a race with an idle close.
    retry: bool,
    /// Its place in a replicated write (calls made while faults may strike).
    write: Option<Member>,
    ended: Option<&'static str>,
}

/// Whether a call belongs to the calm period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calm {
    /// Made while faults may strike.
    No,
    /// A calm round's call: it must be answered.
    Round,
    /// A calm call made again after its link was closed idle as it went out.
    Retry,
}

/// An answer the node will send later.
#[derive(Debug)]
struct Answer {
    link: LinkId,
    reply: tether_core::rpc::ReplyTo,
    body: String,
    error: bool,
}

/// The params of a call: who calls, in which life, which call; `pad` to make it large,
/// `bulk` to have it echoed back.
#[derive(Debug, Deserialize)]
struct Ask {
    from: u64,
    inc: u64,
    tag: u64,
    bulk: bool,
    pad: String,
}

/// The answer: the caller's fields echoed, and the answering node.
#[derive(Debug, Deserialize)]
struct Echo {
    node: u64,
    from: u64,
    inc: u64,
    tag: u64,
    pad: String,
}

/// What the workload counted, for one life of the node (a restart starts again).
#[derive(Debug, Default)]
struct Counted {
    calls: u64,
    failures: u64,
    per_peer: BTreeMap<pool::NodeId, (u64, u64)>,
    /// The pool's `CallEnded` observations per peer: calls ended, and of those failed.
    observed: BTreeMap<pool::NodeId, (u64, u64)>,
    /// Links the pool observed open, and closed.
    opened: BTreeSet<LinkId>,
    closed: BTreeSet<LinkId>,
}

/// Where the node is in the run's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Planned calls, faults may strike.
    Running,
    /// Faults are over: rounds of calls to every peer.
    Calm,
    /// The snapshot is taken; the last calm calls are answered.
    WindDown,
    /// `shutdown` was called.
    Stopping,
}

/// Instants of the script, known once the run starts (from the fault plan).
#[derive(Debug, Clone, Copy)]
struct Script {
    calm_at: Instant,
    snap_at: Instant,
    stop_at: Instant,
}

/// A simulated cluster node holding one [`Pool`].
pub struct PoolNode {
    me: NodeId,
    peers: Vec<pool::NodeId>,
    config: Config,
    workload: Workload,
    board: Board,
    pool: Option<Pool>,
    /// 0 at the start, one more per restart.
    incarnation: u64,
    ports: BTreeMap<Port, LinkId>,
    link_ports: BTreeMap<LinkId, Port>,
    /// Links announced by `poll_ready`, drained until `poll_transmit` says `None`.
    writable: BTreeSet<LinkId>,
    /// Ports the network reset: nothing more can be written on them.
    dead: BTreeSet<Port>,
    /// When bytes were last delivered to each port: the network's word for invariant 2.
    last_input: BTreeMap<Port, Instant>,
    plan: VecDeque<Planned>,
    calls: BTreeMap<CallId, Made>,
    /// Call tags, unique over the whole run (not per life).
    next_tag: u64,
    cancels: BTreeMap<(Instant, CallId), ()>,
    answers: BTreeMap<(Instant, u64), Answer>,
    answers_made: u64,
    /// Large messages handed out to be parsed (`Event::Parse`), each parsed a little
    /// later, as a driver does outside the pool's lock.
    parses: BTreeMap<(Instant, u64), (LinkId, Unparsed)>,
    parses_made: u64,
    counted: Counted,
    /// The replicated writes the calls of this life make up (invariant 6).
    writes: Writes,
    /// Peer states from `Event::Peer` (their control links), and when each last began
    /// `Connecting`.
    peer_state: BTreeMap<pool::NodeId, PeerState>,
    connecting_since: BTreeMap<pool::NodeId, Instant>,
    /// Per peer, the first bulk call since one was last answered: no bulk link attempt
    /// under way began earlier (the bulk lane has no state events).
    bulk_since: BTreeMap<pool::NodeId, Instant>,
    /// Bulk calls open, to know which answers are bulk ones.
    bulk_open: BTreeSet<CallId>,
    /// In the events being drained: links that ended, and peers that went `Down`.
    ended_links: Vec<LinkId>,
    went_down: BTreeSet<pool::NodeId>,
    /// Each peer's `last_error` as of the last batch of events judged.
    last_errors: BTreeMap<pool::NodeId, Option<Fault>>,
    /// In the events being drained: peers whose link closed cleanly (`Idle`), and calm
    /// calls lost on a link, judged once the batch is read.
    went_idle: BTreeSet<pool::NodeId>,
    calm_lost: Vec<(CallId, pool::NodeId)>,
    /// Calm calls lost to a peer's idle close and made again.
    calm_retries: usize,
    phase: Phase,
    script: Option<Script>,
    next_round: Option<Instant>,
    /// The latest `now` the node saw, to keep its checks honest about time.
    last_now: Instant,
}

/// Draws the pool settings of a run (every node gets the same, its own `node`).
pub fn draw_config(rng: &mut SimRng) -> Config {
    let ms = Duration::from_millis;
    let size = 64 << 10;
    let mut config = Config::new(pool::NodeId(0));
    config.ws = ws::Config {
        max_message_size: size,
        max_frame_size: size,
        fragment_size: rng.range(512, 16 << 10) as usize,
        ..ws::Config::default()
    };
    config.rpc.max_in_flight = rng.range(2, 32) as usize;
    // Messages past this are handed out to be parsed (`Event::Parse`): small enough here
    // that the large calls and answers take that path.
    config.rpc.parse_aside = Some(rng.log_range(4 << 10, 64 << 10) as usize);
    config.connect_timeout = ms(rng.range(1500, 4000));
    // Any input is a sign of life (the pool's default mode); the timeout outlasts an
    // interval plus a round trip (at most 540 ms, on a slow link), as the pool's docs ask,
    // so an idle link whose peer answers is never dropped.
    config.heartbeat = (!rng.chance(10)).then(|| {
        let interval = ms(rng.range(100, 1000));
        tether_core::session::Heartbeat {
            interval,
            timeout: interval + ms(rng.range(600, 2000)),
            mode: tether_core::session::HeartbeatMode::AnyInput,
        }
    });
    // Longer than a calm round, so links stay up through the calm period.
    config.idle_timeout = match rng.range(0, 9) {
        0 | 1 => None,
        2..=5 => Some(ms(rng.range(1000, 3000))),
        _ => Some(Duration::from_secs(60)),
    };
    config.queue = tether_core::session::QueueLimits {
        max_messages: rng.range(4, 64) as usize,
        max_bytes: rng.log_range(64 << 10, 1 << 20) as usize,
    };
    // Checked by invariant 6; drawn from nothing, so the seeds' runs stay as they were.
    config.observe = true;
    config
}

impl PoolNode {
    /// Simulated node `me` of a cluster of `nodes`, with `config` (its `node` is set here)
    /// and `workload`, its plan drawn from `rng`; snapshots go to `board`.
    pub fn new(
        me: NodeId,
        nodes: usize,
        mut config: Config,
        workload: Workload,
        board: Board,
        origin: Instant,
        rng: &mut SimRng,
    ) -> PoolNode {
        config.node = pool_id(me);
        let peers: Vec<pool::NodeId> = (0..nodes)
            .filter(|&n| n != me.0)
            .map(|n| pool_id(NodeId(n)))
            .collect();
        let window_ms = workload.window.as_millis() as u64;
        let mut plan: Vec<Planned> = (0..workload.calls)
            .map(|_| {
                let pad = match rng.range(0, 9) {
                    0 => rng.range(8 << 10, workload.max_pad as u64) as usize,
                    1 | 2 => rng.range(64, 2048) as usize,
                    _ => rng.range(0, 64) as usize,
                };
                // Half the large calls go on the bulk lane, as a snapshot chunk would.
                let lane = if pad >= 8 << 10 && rng.chance(50) {
                    Lane::Bulk
                } else {
                    Lane::Control
                };
                Planned {
                    lane,
                    at: origin + Duration::from_millis(rng.range(0, window_ms)),
                    target: peers[rng.range(0, peers.len() as u64 - 1) as usize],
                    timeout: Duration::from_millis(rng.range(50, 3000)),
                    pad,
                    bulk: rng.chance(20),
                    cancel_after: rng
                        .chance(10)
                        .then(|| Duration::from_millis(rng.range(0, 400))),
                }
            })
            .collect();
        plan.sort_by_key(|p| p.at);
        let pool = Pool::new(config.clone(), rng.seed32());
        PoolNode {
            me,
            peers,
            config,
            workload,
            board,
            pool: Some(pool),
            incarnation: 0,
            ports: BTreeMap::new(),
            link_ports: BTreeMap::new(),
            writable: BTreeSet::new(),
            dead: BTreeSet::new(),
            last_input: BTreeMap::new(),
            plan: plan.into(),
            calls: BTreeMap::new(),
            next_tag: 1,
            cancels: BTreeMap::new(),
            answers: BTreeMap::new(),
            answers_made: 0,
            parses: BTreeMap::new(),
            parses_made: 0,
            counted: Counted::default(),
            writes: Writes::default(),
            peer_state: BTreeMap::new(),
            connecting_since: BTreeMap::new(),
            bulk_since: BTreeMap::new(),
            bulk_open: BTreeSet::new(),
            ended_links: Vec::new(),
            went_down: BTreeSet::new(),
            last_errors: BTreeMap::new(),
            went_idle: BTreeSet::new(),
            calm_lost: Vec::new(),
            calm_retries: 0,
            phase: Phase::Running,
            script: None,
            next_round: None,
            last_now: origin,
        }
    }

    fn name(&self) -> String {
        format!("pool {}", pool_id(self.me).0)
    }

    /// Drains the pool: links with bytes, then events, each checked. Call after every
    /// input or command.
    fn react(&mut self, ctx: &mut Ctx) {
        let mut ended = false;
        loop {
            let Some(pool) = self.pool.as_mut() else {
                return;
            };
            while let Some(link) = pool.poll_ready() {
                self.writable.insert(link);
            }
            let Some(event) = pool.poll_event() else {
                break;
            };
            let text = summary(&event);
            ctx.trace.add(text.as_bytes());
            ctx.log(format_args!("{}: {text}", self.name()));
            match event {
                Event::Connect { link, node } => {
                    let port = ctx.connect(sim_id(node));
                    self.ports.insert(port, link);
                    self.link_ports.insert(link, port);
                    ctx.count("pool.dials");
                }
                Event::Disconnect { link } => {
                    self.ended_links.push(link);
                    match self.link_ports.get(&link) {
                        // Its transport is gone: what is left to write goes nowhere.
                        Some(port) if self.dead.contains(port) => self.discard(link),
                        _ => {
                            self.writable.insert(link);
                        }
                    }
                }
                Event::Peer { node, state } => {
                    if state == PeerState::Connecting {
                        self.connecting_since.insert(node, ctx.now);
                    }
                    if state == PeerState::Idle {
                        self.went_idle.insert(node);
                    }
                    if state == PeerState::Down {
                        self.went_down.insert(node);
                    }
                    self.peer_state.insert(node, state);
                }
                Event::Response { call, node, result } => {
                    ended = true;
                    self.on_response(ctx, call, node, result);
                }
                Event::Ended { call, node, reason } => {
                    ended = true;
                    self.on_ended(ctx, call, node, reason);
                }
                Event::Request {
                    link,
                    node,
                    reply,
                    method,
                    params,
                } => self.on_request(ctx, link, node, reply, &method, params.as_deref()),
                Event::Parse { link, unparsed } => {
                    let delay = rng_ms(ctx, 0, 5);
                    self.parses_made += 1;
                    self.parses
                        .insert((ctx.now + delay, self.parses_made), (link, unparsed));
                    ctx.count("pool.parsed_aside");
                }
                Event::Notification { method, .. } => ctx.fail(format_args!(
                    "{}: a notification {method:?}, and nobody sends any",
                    self.name()
                )),
                Event::Upgrade { link, .. } => ctx.fail(format_args!(
                    "{}: the upgrade of {link} held, and no pool here holds them",
                    self.name()
                )),
            }
        }
        self.observe(ctx);
        if ended {
            self.check_stats(ctx);
        }
        self.judge_silence(ctx);
        self.judge_calm_losses(ctx);
    }

    /// A calm call lost with its link is a race with the peer's idle close (it closed the
    /// link as ours went out; the close needs no handshake, so the race is the protocol's):
    /// made again, once. Lost any other way, faults being over, it breaks invariant 3.
    fn judge_calm_losses(&mut self, ctx: &mut Ctx) {
        let went_idle = std::mem::take(&mut self.went_idle);
        for (call, target) in std::mem::take(&mut self.calm_lost) {
            let retry = self.calls.get(&call).is_some_and(|m| m.retry);
            if !went_idle.contains(&target) || retry {
                let why = if retry {
                    "the retry of a call lost to an idle close"
                } else {
                    "its link not closed for idleness"
                };
                ctx.fail(format_args!(
                    "invariant 3 (one link per peer pair once calm): {}: calm call {call:?} to {target} lost with its link ({why}), faults were over",
                    self.name()
                ));
            }
            ctx.count("pool.calm_idle_races");
            self.calm_retries += 1;
            self.call(
                ctx,
                target,
                CALM_TIMEOUT,
                16,
                false,
                Lane::Control,
                Calm::Retry,
                None,
            );
        }
    }

    /// Throws away what a link whose transport is gone still has to write.
    fn discard(&mut self, link: LinkId) {
        self.writable.remove(&link);
        if let Some(pool) = self.pool.as_mut() {
            while pool.poll_transmit(link).is_some() {}
        }
    }

    /// Invariant 2, once a batch of events is read. Which link a fault belongs to is in
    /// no event, and `last_error` is read after the whole batch (a clock jump can end a
    /// control link unopened and then a silent bulk link, in one `handle_timeout`). So: a
    /// peer whose `last_error` became `Silent` in this batch (it went `Down`, or the error
    /// changed) had some link declared silent among those that ended in it, and at least
    /// one of those that had opened must have gone the heartbeat's `timeout` without a
    /// byte delivered.
    fn judge_silence(&mut self, ctx: &mut Ctx) {
        let ended = std::mem::take(&mut self.ended_links);
        let went_down = std::mem::take(&mut self.went_down);
        if ended.is_empty() && went_down.is_empty() {
            return;
        }
        let Some(pool) = self.pool.as_ref() else {
            return;
        };
        let name = self.name();
        for peer in pool.stats().peers {
            let before = self.last_errors.insert(peer.node, peer.last_error.clone());
            let changed = before.as_ref() != Some(&peer.last_error);
            if went_down.contains(&peer.node) {
                ctx.count(match &peer.last_error {
                    Some(Fault::Silent) => "pool.down_silent",
                    Some(Fault::Unreachable) => "pool.down_unreachable",
                    Some(Fault::Refused(_)) => "pool.down_refused",
                    Some(Fault::Lost) => "pool.down_lost",
                    Some(Fault::Protocol(_)) => "pool.down_protocol",
                    None => "pool.down_no_error",
                });
            }
            if peer.last_error != Some(Fault::Silent)
                || !(changed || went_down.contains(&peer.node))
            {
                continue;
            }
            ctx.count("pool.silent");
            let Some(heartbeat) = self.config.heartbeat else {
                ctx.fail(format_args!(
                    "invariant 2 (no live, busy link declared dead): {name} declared a link to {} silent with no heartbeat configured",
                    peer.node
                ));
            };
            // Links that ended now and had opened (bytes came), with how long they were
            // quiet.
            let quiet: Vec<(LinkId, Duration)> = ended
                .iter()
                .filter_map(|link| {
                    let port = self.link_ports.get(link)?;
                    let last = self.last_input.get(port)?;
                    Some((*link, ctx.now.saturating_duration_since(*last)))
                })
                .collect();
            pool_checks::silent_link(ctx, &name, peer.node, &quiet, heartbeat.timeout);
        }
    }

    fn on_response(
        &mut self,
        ctx: &mut Ctx,
        call: CallId,
        node: pool::NodeId,
        result: Result<Box<RawValue>, ErrorObject>,
    ) {
        let name = self.name();
        let made = self.end(ctx, call, "answered");
        if let Some(member) = made.write {
            self.writes.record(ctx, &name, member, result.is_ok());
        }
        if self.bulk_open.remove(&call) {
            // A bulk link was open: attempts after this begin later.
            self.bulk_since.remove(&node);
            ctx.count("pool.bulk_answered");
        }
        if made.target != node {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: {call:?} to {} answered as from {node}",
                made.target
            ));
        }
        let body = match &result {
            Ok(raw) => raw.get(),
            Err(error) => {
                if error.code != REFUSED_BY_DESIGN {
                    ctx.fail(format_args!(
                        "invariant 1 (every call ends once, with its own answer): {name}: {call:?} answered with an error nobody sends: {error:?}"
                    ));
                }
                error.data.as_deref().map_or("", RawValue::get)
            }
        };
        let echo: Option<Echo> = serde_json::from_str(body).ok();
        let expected = (
            made.target.0,
            pool_id(self.me).0,
            self.incarnation,
            made.tag,
        );
        let good = echo.as_ref().is_some_and(|e| {
            (e.node, e.from, e.inc, e.tag) == expected
                && e.pad.len() == if made.bulk { made.pad } else { 0 }
        });
        if !good {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: {call:?} (tag {}, to {}) got someone else's answer: {}",
                made.tag,
                made.target,
                checks::short(body)
            ));
        }
        ctx.count(if result.is_ok() {
            "pool.answered"
        } else {
            "pool.answered_error"
        });
    }

    fn on_ended(&mut self, ctx: &mut Ctx, call: CallId, node: pool::NodeId, reason: EndReason) {
        let name = self.name();
        let made = self.end(ctx, call, "ended");
        if let Some(member) = made.write {
            self.writes.record(ctx, &name, member, false);
        }
        self.bulk_open.remove(&call);
        if made.target != node {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: {call:?} to {} ended as a call to {node}",
                made.target
            ));
        }
        let (target, from, calm) = (made.target, made.attempt_from, made.calm);
        self.counted.failures += 1;
        self.counted.per_peer.entry(target).or_default().1 += 1;
        if calm {
            if let EndReason::ConnectionLost { .. } = reason {
                self.calm_lost.push((call, target));
            } else {
                ctx.fail(format_args!(
                    "invariant 3 (one link per peer pair once calm): {name}: calm call {call:?} to {target} ended {reason:?}, faults were over"
                ));
            }
        }
        match reason {
            EndReason::Unreachable => {
                ctx.count("pool.unreachable");
                let stop = self.script.map(|s| s.stop_at);
                pool_checks::unreachable(ctx, &name, sim_id(target), from, stop);
            }
            EndReason::TimedOut => ctx.count("pool.timed_out"),
            EndReason::ConnectionLost { sent: true } => ctx.count("pool.lost_sent"),
            EndReason::ConnectionLost { sent: false } => ctx.count("pool.lost_unsent"),
            EndReason::Closed => ctx.count("pool.closed"),
            EndReason::Cancelled | EndReason::Failed => ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: {call:?} ended {reason:?}, which a pool never says"
            )),
        }
    }

    /// Marks `call` ended `how` and returns it; fails if unknown or ended already.
    fn end(&mut self, ctx: &Ctx, call: CallId, how: &'static str) -> Made {
        let name = self.name();
        let Some(made) = self.calls.get_mut(&call) else {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: {how} for {call:?}, which was never made"
            ));
        };
        if let Some(before) = made.ended {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: {call:?} ended twice: {before}, then {how}"
            ));
        }
        made.ended = Some(how);
        *made
    }

    fn on_request(
        &mut self,
        ctx: &mut Ctx,
        link: LinkId,
        node: Option<pool::NodeId>,
        reply: tether_core::rpc::ReplyTo,
        method: &str,
        params: Option<&RawValue>,
    ) {
        let name = self.name();
        let ask: Option<Ask> = params.and_then(|p| serde_json::from_str(p.get()).ok());
        let Some(ask) = ask.filter(|_| method == "echo") else {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: a request {method:?} that nobody made: {:?}",
                params.map(|p| checks::short(p.get()))
            ));
        };
        match node {
            Some(node) if node.0 != ask.from => ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: a call from node {} came on {link}, registered to {node}",
                ask.from
            )),
            Some(_) => {}
            None => ctx.count("pool.requests_unnamed"),
        }
        let mut tag = ask.tag;
        if self.workload.sabotage == Sabotage::WrongTag && ctx.rng.chance(5) {
            tag += 1;
        }
        let pad = if ask.bulk { ask.pad.as_str() } else { "" };
        let body = format!(
            r#"{{"node":{},"from":{},"inc":{},"tag":{tag},"pad":"{pad}"}}"#,
            pool_id(self.me).0,
            ask.from,
            ask.inc,
        );
        let max = self.workload.max_answer_delay.as_millis() as u64;
        let delay = if ctx.rng.chance(5) {
            // Now and then a slow one: the link is busy with nothing on the wire.
            rng_ms(ctx, max, 4 * max)
        } else {
            rng_ms(ctx, 0, max)
        };
        self.answers_made += 1;
        let answer = Answer {
            link,
            reply,
            body,
            error: ctx.rng.chance(10),
        };
        self.answers
            .insert((ctx.now + delay, self.answers_made), answer);
    }

    /// Hands back the messages whose parse is done.
    fn parse(&mut self, ctx: &mut Ctx) {
        while let Some(entry) = self.parses.first_entry() {
            if entry.key().0 > ctx.now {
                break;
            }
            let (link, unparsed) = entry.remove();
            let Some(pool) = self.pool.as_mut() else {
                return;
            };
            pool.handle_parsed(ctx.now, link, unparsed.parse());
            self.react(ctx);
        }
    }

    /// Sends the answers that are due.
    fn answer(&mut self, ctx: &mut Ctx) {
        while let Some(entry) = self.answers.first_entry() {
            if entry.key().0 > ctx.now {
                break;
            }
            let answer = entry.remove();
            let Some(pool) = self.pool.as_mut() else {
                return;
            };
            let raw = RawValue::from_string(answer.body).expect("the node builds valid JSON");
            let result = if answer.error {
                let error = ErrorObject {
                    code: REFUSED_BY_DESIGN,
                    message: "refused by design".into(),
                    data: Some(raw),
                };
                pool.respond(ctx.now, answer.link, answer.reply, Err(&error))
            } else {
                pool.respond(ctx.now, answer.link, answer.reply, Ok(&raw))
            };
            // A link that went meanwhile: the caller's call ends (ConnectionLost), which
            // the caller checks.
            ctx.trace
                .add(if result.is_ok() { b"answer" } else { b"unsent" });
            if result.is_err() {
                ctx.count("pool.answers_unsent");
            }
            self.react(ctx);
        }
    }

    /// Makes one call to `target`; false if the pool refused it.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        ctx: &mut Ctx,
        target: pool::NodeId,
        timeout: Duration,
        pad: usize,
        bulk: bool,
        lane: Lane,
        calm: Calm,
        cancel_after: Option<Duration>,
    ) -> bool {
        let (retry, calm) = (calm == Calm::Retry, calm != Calm::No);
        let tag = self.next_tag;
        self.next_tag += 1;
        let params = format!(
            r#"{{"from":{},"inc":{},"tag":{tag},"bulk":{bulk},"pad":"{}"}}"#,
            pool_id(self.me).0,
            self.incarnation,
            "x".repeat(pad)
        );
        let raw = RawValue::from_string(params).expect("the node builds valid JSON");
        // The attempt this call may wait on: begun now, or earlier if one is under way.
        let state = self.peer_state.get(&target).copied().unwrap_or_default();
        let attempt = match (lane, state) {
            (Lane::Bulk, _) => *self.bulk_since.entry(target).or_insert(ctx.now),
            (Lane::Control, PeerState::Idle | PeerState::Up) => ctx.now,
            (Lane::Control, PeerState::Connecting | PeerState::Down) => self
                .connecting_since
                .get(&target)
                .map_or(ctx.now, |&at| at.min(ctx.now)),
        };
        let attempt_from = attempt
            .checked_sub(self.config.connect_timeout)
            .unwrap_or(ctx.origin);
        let Some(pool) = self.pool.as_mut() else {
            return false;
        };
        let result = pool.call_on(ctx.now, target, lane, "echo", Some(&raw), Some(timeout));
        ctx.trace
            .add(format!("call {tag} {target} {result:?}").as_bytes());
        let id = match result {
            Ok(id) => id,
            Err(refused) => {
                ctx.count(match refused {
                    Refused::QueueFull { .. } => "pool.refused_queue_full",
                    _ => "pool.refused_other",
                });
                if calm {
                    ctx.fail(format_args!(
                        "invariant 3 (one link per peer pair once calm): {}: calm call to {target} refused: {refused:?}",
                        self.name()
                    ));
                }
                return false;
            }
        };
        let made = Made {
            target,
            tag,
            pad,
            bulk,
            attempt_from,
            calm,
            retry,
            write: (!calm).then(|| self.writes.join(ctx.now)),
            ended: None,
        };
        if self.calls.insert(id, made).is_some() {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {}: call() returned {id:?} twice",
                self.name()
            ));
        }
        self.counted.calls += 1;
        self.counted.per_peer.entry(target).or_default().0 += 1;
        if lane == Lane::Bulk {
            self.bulk_open.insert(id);
            ctx.count("pool.bulk_calls");
        }
        ctx.count(if calm {
            "pool.calm_calls"
        } else {
            "pool.calls"
        });
        if let Some(after) = cancel_after {
            self.cancels.insert((ctx.now + after, id), ());
        }
        self.react(ctx);
        true
    }

    /// Cancels the calls whose cancel time came, if still open.
    fn cancel(&mut self, ctx: &mut Ctx) {
        while let Some(entry) = self.cancels.first_entry() {
            if entry.key().0 > ctx.now {
                break;
            }
            let (_, id) = *entry.key();
            entry.remove();
            let open = self.calls.get(&id).is_some_and(|m| m.ended.is_none());
            let Some(pool) = self.pool.as_mut() else {
                return;
            };
            let cancelled = pool.cancel(ctx.now, id);
            if cancelled != open {
                ctx.fail(format_args!(
                    "invariant 1 (every call ends once, with its own answer): {}: cancel({id:?}) returned {cancelled} for a call that is {}",
                    self.name(),
                    if open { "open" } else { "over" }
                ));
            }
            if cancelled {
                let made = self.end(ctx, id, "cancelled");
                if let Some(member) = made.write {
                    let name = self.name();
                    self.writes.record(ctx, &name, member, false);
                }
                ctx.count("pool.cancelled");
            }
            self.react(ctx);
            self.check_stats(ctx);
        }
    }

    /// The planned calls that are due (while faults may strike), and the calm rounds.
    fn act(&mut self, ctx: &mut Ctx) {
        while self.plan.front().is_some_and(|p| p.at <= ctx.now) {
            let Some(p) = self.plan.pop_front() else {
                break;
            };
            self.call(
                ctx,
                p.target,
                p.timeout,
                p.pad,
                p.bulk,
                p.lane,
                Calm::No,
                p.cancel_after,
            );
        }
        let Some(script) = self.script else {
            return;
        };
        if self.phase == Phase::Running && ctx.now >= script.calm_at {
            self.phase = Phase::Calm;
            self.next_round = Some(script.calm_at);
        }
        while let Some(round) = self.next_round.filter(|&r| r <= ctx.now) {
            self.next_round = Some(round + CALM_GAP).filter(|&r| r < script.snap_at);
            for target in self.peers.clone() {
                self.call(
                    ctx,
                    target,
                    CALM_TIMEOUT,
                    16,
                    false,
                    Lane::Control,
                    Calm::Round,
                    None,
                );
            }
        }
        if self.phase < Phase::Stopping && ctx.now >= script.stop_at {
            self.phase = Phase::Stopping;
            if let Some(pool) = self.pool.as_mut() {
                pool.shutdown(ctx.now, SHUTDOWN_GRACE);
            }
            self.react(ctx);
        }
    }

    /// Records this node's view of its links to every peer, for invariant 3.
    fn snapshot(&mut self) {
        let Some(pool) = self.pool.as_ref() else {
            return;
        };
        let stats = pool.stats();
        let mut views = BTreeMap::new();
        for &peer in &self.peers {
            let current = stats
                .peers
                .iter()
                .find(|p| p.node == peer)
                .and_then(|p| p.link);
            let conn = current
                .and_then(|l| self.link_ports.get(&l))
                .map(|p| p.conn());
            let open = current.is_some_and(|l| pool.link_state(l) == ws::State::Open);
            let open_on = |lane: Lane| {
                self.ports
                    .values()
                    .filter(|&&l| pool.link_node(l) == Some(peer))
                    .filter(|&&l| pool.link_lane(l) == Some(lane))
                    .filter(|&&l| pool.link_state(l) == ws::State::Open)
                    .count()
            };
            views.insert(
                sim_id(peer),
                View {
                    link: current.map(|l| l.to_string()),
                    conn,
                    open,
                    open_links: open_on(Lane::Control),
                    open_bulk_links: open_on(Lane::Bulk),
                },
            );
        }
        self.board.record(self.me, views);
    }

    /// Drains the pool's observations; invariant 6 (what the pool observes is what
    /// happened): a link is observed open at most once and closed at most once, never
    /// open after closed.
    fn observe(&mut self, ctx: &mut Ctx) {
        let name = self.name();
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        while let Some(observation) = pool.poll_observation() {
            let fail = |what: &str| {
                ctx.fail(format_args!(
                    "invariant 6 (observations are what happened): {name}: {what}: {observation:?}"
                ))
            };
            match &observation {
                Observation::CallEnded { node, outcome, .. } => {
                    let seen = self.counted.observed.entry(*node).or_default();
                    seen.0 += 1;
                    if matches!(outcome, CallOutcome::Ended(reason) if *reason != EndReason::Cancelled)
                    {
                        seen.1 += 1;
                    }
                }
                Observation::LinkOpened { link, .. } => {
                    if self.counted.closed.contains(link) || !self.counted.opened.insert(*link) {
                        fail("a link opened twice, or after it closed");
                    }
                }
                Observation::LinkClosed { link, .. } => {
                    if !self.counted.closed.insert(*link) {
                        fail("a link closed twice");
                    }
                }
                Observation::RoundTrip { .. } | Observation::HeartbeatMissed { .. } => {}
            }
        }
    }

    /// Invariant 4: the pool's counters are the workload's; invariant 6: so are the calls'
    /// ends the pool observed.
    fn check_stats(&self, ctx: &mut Ctx) {
        let Some(pool) = self.pool.as_ref() else {
            return;
        };
        let stats = pool.stats();
        let name = self.name();
        if (stats.calls, stats.failures) != (self.counted.calls, self.counted.failures) {
            ctx.fail(format_args!(
                "invariant 4 (stats agree with the workload): {name}: stats say {} calls, {} failures; the workload made {} and saw {} fail",
                stats.calls, stats.failures, self.counted.calls, self.counted.failures
            ));
        }
        for peer in &stats.peers {
            let (calls, failures) = self
                .counted
                .per_peer
                .get(&peer.node)
                .copied()
                .unwrap_or_default();
            if (peer.calls, peer.failures) != (calls, failures) {
                ctx.fail(format_args!(
                    "invariant 4 (stats agree with the workload): {name}: stats of {} say {} calls, {} failures; the workload made {calls} and saw {failures} fail",
                    peer.node, peer.calls, peer.failures
                ));
            }
            let open = self
                .calls
                .values()
                .filter(|m| m.target == peer.node && m.ended.is_none())
                .count();
            if peer.in_flight + peer.queued > open {
                ctx.fail(format_args!(
                    "invariant 4 (stats agree with the workload): {name}: stats of {} say {} in flight and {} queued, but only {open} calls to it are open",
                    peer.node, peer.in_flight, peer.queued
                ));
            }
        }
        for (node, &(ended, failed)) in &self.counted.observed {
            let made = self
                .calls
                .values()
                .filter(|m| m.target == *node && m.ended.is_some())
                .count() as u64;
            let failures = self.counted.per_peer.get(node).map_or(0, |c| c.1);
            if (ended, failed) != (made, failures) {
                ctx.fail(format_args!(
                    "invariant 6 (observations are what happened): {name}: {ended} calls to {node} observed ended, {failed} failed; the workload saw {made} end, {failures} fail"
                ));
            }
        }
        for (node, &(calls, _)) in &self.counted.per_peer {
            if calls > 0 && !stats.peers.iter().any(|p| p.node == *node) {
                ctx.fail(format_args!(
                    "invariant 4 (stats agree with the workload): {name}: {calls} calls to {node}, which its stats do not list"
                ));
            }
        }
    }

    /// The pool is done: shut down and every link gone.
    fn finished(&self) -> bool {
        self.pool.as_ref().is_some_and(Pool::is_finished)
    }
}

/// A delay in `lo..=hi` milliseconds from the run's randomness.
fn rng_ms(ctx: &mut Ctx, lo: u64, hi: u64) -> Duration {
    Duration::from_millis(ctx.rng.range(lo, hi))
}

/// A short description of an event, for the trace and the log (params can be long).
fn summary(event: &Event) -> String {
    match event {
        Event::Connect { link, node } => format!("Connect {link} to {node}"),
        Event::Disconnect { link } => format!("Disconnect {link}"),
        Event::Peer { node, state } => format!("Peer {node} {state:?}"),
        Event::Response { call, node, result } => format!(
            "Response {call:?} from {node}: {}",
            match result {
                Ok(raw) => checks::short(raw.get()),
                Err(error) => format!("error {}", error.code),
            }
        ),
        Event::Ended { call, node, reason } => format!("Ended {call:?} to {node}: {reason:?}"),
        Event::Request {
            link,
            node,
            method,
            params,
            ..
        } => format!(
            "Request {method} on {link} from {node:?}: {}",
            params
                .as_deref()
                .map_or(String::new(), |p| checks::short(p.get()))
        ),
        Event::Notification { link, method, .. } => format!("Notification {method} on {link}"),
        Event::Parse { link, unparsed } => format!("Parse {} bytes on {link}", unparsed.len()),
        Event::Upgrade { link, request } => format!("Upgrade {} on {link}", request.path),
    }
}

impl Node for PoolNode {
    fn name(&self) -> String {
        PoolNode::name(self)
    }

    fn start(&mut self, ctx: &mut Ctx) {
        let calm_at = ctx.plan().quiet_at() + SETTLE;
        let snap_at = calm_at + CALM;
        self.script = Some(Script {
            calm_at,
            snap_at,
            stop_at: snap_at + WIND_DOWN,
        });
        self.last_now = ctx.now;
        self.act(ctx);
    }

    fn handle_accept(&mut self, ctx: &mut Ctx, port: Port) -> bool {
        self.last_now = ctx.now;
        let Some(pool) = self.pool.as_mut() else {
            return false;
        };
        match pool.accept(ctx.now) {
            Ok(link) => {
                self.ports.insert(port, link);
                self.link_ports.insert(link, port);
                self.react(ctx);
                true
            }
            Err(_) => {
                ctx.count("pool.accept_refused");
                false
            }
        }
    }

    fn handle_connected(&mut self, ctx: &mut Ctx, port: Port) {
        self.last_now = ctx.now;
        let Some(&link) = self.ports.get(&port) else {
            return;
        };
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        let request = ClientRequest {
            host: format!("node-{}", port.conn()),
            path: "/cluster".into(),
            ..Default::default()
        };
        pool.transport_open(ctx.now, link, request);
        self.react(ctx);
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: Port, data: &[u8]) {
        self.last_now = ctx.now;
        self.last_input.insert(port, ctx.now);
        let Some(&link) = self.ports.get(&port) else {
            return;
        };
        if let Some(pool) = self.pool.as_mut() {
            pool.handle_input(ctx.now, link, data);
        }
        self.react(ctx);
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: Port) {
        self.last_now = ctx.now;
        let Some(&link) = self.ports.get(&port) else {
            return;
        };
        if let Some(pool) = self.pool.as_mut() {
            pool.handle_eof(ctx.now, link);
        }
        self.react(ctx);
    }

    fn handle_reset(&mut self, ctx: &mut Ctx, port: Port) {
        self.last_now = ctx.now;
        let Some(&link) = self.ports.get(&port) else {
            return;
        };
        // The socket is gone for good: the pool ends the link and drops its unsent bytes.
        self.dead.insert(port);
        if let Some(pool) = self.pool.as_mut() {
            pool.release(ctx.now, link);
        }
        self.discard(link);
        self.react(ctx);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        self.last_now = ctx.now;
        if let Some(script) = self.script {
            // One instant for every node, before anything else happens at it.
            if self.phase == Phase::Calm && ctx.now >= script.snap_at {
                self.snapshot();
                self.phase = Phase::WindDown;
            }
        }
        if let Some(pool) = self.pool.as_mut() {
            pool.handle_timeout(ctx.now);
            if let Some(next) = pool.poll_timeout() {
                if next <= ctx.now {
                    ctx.fail(format_args!(
                        "{}: poll_timeout() is {:?} after handle_timeout(now), not later than now",
                        self.name(),
                        next.saturating_duration_since(ctx.origin)
                    ));
                }
            }
        }
        self.react(ctx);
        self.parse(ctx);
        self.answer(ctx);
        self.cancel(ctx);
        self.act(ctx);
        // Forget the ports the pool is done with: the network has closed them.
        if let Some(pool) = self.pool.as_ref() {
            let done: Vec<(Port, LinkId)> = self
                .ports
                .iter()
                .filter(|(_, &l)| {
                    pool.is_link_finished(l) && pool.link_state(l) == ws::State::Closed
                })
                .map(|(&p, &l)| (p, l))
                .collect();
            for (port, link) in done {
                if !self.writable.contains(&link) {
                    self.ports.remove(&port);
                    self.link_ports.remove(&link);
                    self.last_input.remove(&port);
                    self.dead.remove(&port);
                }
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let pool = if self.finished() {
            None
        } else {
            self.pool.as_ref().and_then(Pool::poll_timeout)
        };
        let script = self.script.and_then(|s| match self.phase {
            Phase::Running => Some(s.calm_at),
            Phase::Calm => Some(s.snap_at),
            Phase::WindDown => Some(s.stop_at),
            Phase::Stopping => None,
        });
        [
            pool,
            self.plan.front().map(|p| p.at),
            self.cancels.keys().next().map(|k| k.0),
            self.answers.keys().next().map(|k| k.0),
            self.parses.keys().next().map(|k| k.0),
            self.next_round,
            script,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
        let link = *self.ports.get(&port)?;
        if !self.writable.contains(&link) {
            return None;
        }
        let bytes = self.pool.as_mut()?.poll_transmit(link);
        if bytes.is_none() {
            self.writable.remove(&link);
        }
        bytes
    }

    fn port_finished(&self, port: Port) -> bool {
        let Some(pool) = self.pool.as_ref() else {
            return true;
        };
        self.ports
            .get(&port)
            .is_none_or(|&link| pool.is_link_finished(link))
    }

    fn crash(&mut self, ctx: &mut Ctx) {
        let open = self.calls.values().filter(|m| m.ended.is_none()).count();
        ctx.add("pool.died_with_node", open as u64);
        for made in self.calls.values_mut() {
            made.ended.get_or_insert("died with its node");
        }
        ctx.add("pool.answers_lost", self.answers.len() as u64);
        self.pool = None;
        self.ports.clear();
        self.link_ports.clear();
        self.writable.clear();
        self.dead.clear();
        self.last_input.clear();
        self.cancels.clear();
        self.answers.clear();
        self.parses.clear();
        self.peer_state.clear();
        self.connecting_since.clear();
        self.bulk_since.clear();
        self.bulk_open.clear();
        self.ended_links.clear();
        self.went_down.clear();
        self.last_errors.clear();
        self.went_idle.clear();
        self.calm_lost.clear();
        self.counted = Counted::default();
        self.writes = Writes::default();
    }

    fn restart(&mut self, ctx: &mut Ctx) {
        self.last_now = ctx.now;
        self.incarnation += 1;
        self.calls.clear();
        self.pool = Some(Pool::new(self.config.clone(), ctx.rng.seed32()));
        // Calls planned while it was down were never made.
        while self.plan.front().is_some_and(|p| p.at < ctx.now) {
            self.plan.pop_front();
        }
        ctx.count("pool.restarts");
    }

    fn check_done(&self, ctx: &mut Ctx) {
        let name = self.name();
        if let Some((id, made)) = self.calls.iter().find(|(_, m)| m.ended.is_none()) {
            ctx.fail(format_args!(
                "invariant 1 (every call ends once, with its own answer): {name}: {id:?} (tag {}, to {}) never ended",
                made.tag, made.target
            ));
        }
        if self.phase != Phase::Stopping || !self.finished() {
            let held: Vec<String> = self.pool.as_ref().map_or(Vec::new(), |pool| {
                self.ports
                    .iter()
                    .map(|(port, &link)| {
                        format!(
                            "{port} {link} {:?} pending {}",
                            pool.link_state(link),
                            pool.pending_transmit(link)
                        )
                    })
                    .collect()
            });
            ctx.fail(format_args!(
                "{name}: the run ended in phase {:?} with the pool {} ({} links; ports {held:?})",
                self.phase,
                if self.finished() {
                    "finished"
                } else {
                    "not finished"
                },
                self.pool.as_ref().map_or(0, |p| p.stats().links),
            ));
        }
        self.check_stats(ctx);
        let calm_calls = self.calls.values().filter(|m| m.calm).count();
        let rounds = (CALM.as_millis() / CALM_GAP.as_millis()) as usize;
        let want = self.peers.len() * rounds + self.calm_retries;
        if calm_calls != want {
            ctx.fail(format_args!(
                "invariant 3 (one link per peer pair once calm): {name}: {calm_calls} calm calls made, {want} planned"
            ));
        }
        pool_checks::one_link_per_pair(ctx, &self.board, self.me, self.peers.len() + 1);
    }
}
