//! A JSON-RPC client node over bare [`Channel`]s: one connection per server, dialed again
//! (a new channel) when one is lost, calls `echo` with unique params and checks every
//! ending against its own ledger.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::RawValue;
use tether_core::frame::CloseCode;
use tether_core::handshake::ClientRequest;
use tether_core::rpc::{self, Channel, EndReason, Event, RequestId};
use tether_core::ws::{self, State};

use super::checks::{self, short};
use super::node::{Ctx, Node, NodeId, Port};
use super::rng::SimRng;

/// A call the client will make later.
#[derive(Debug)]
struct Planned {
    at: Instant,
    server: usize,
    timeout: Duration,
    pad: usize,
    /// Give up on the call this long after making it, if drawn.
    cancel_after: Option<Duration>,
}

/// One call made, kept after it ends so a second ending is caught.
#[derive(Debug)]
struct Made {
    /// The params sent: the echo must be exactly this text.
    params: String,
    /// How it ended, once it has.
    ended: Option<&'static str>,
}

/// The connection to one server: its port and channel, whether its transport is gone.
#[derive(Debug)]
struct Link {
    port: Port,
    channel: Channel,
    transport_done: bool,
}

/// Settings of an [`RpcClient`], drawn by the scenario.
#[derive(Debug, Clone)]
pub struct RpcClientConfig {
    /// WebSocket settings of every channel.
    pub ws: ws::Config,
    /// RPC settings of every channel.
    pub rpc: rpc::Config,
    /// Calls to make.
    pub calls: usize,
    /// The calls are spread over this long from the start.
    pub window: Duration,
    /// Longest `pad` in a call's params.
    pub max_pad: usize,
}

/// An RPC client: one [`Channel`] per server, calls planned up front from the seed.
#[derive(Debug)]
pub struct RpcClient {
    index: usize,
    config: RpcClientConfig,
    servers: Vec<NodeId>,
    links: Vec<Option<Link>>,
    /// When to dial a server again after its link was lost.
    redial: Vec<Option<Instant>>,
    planned: VecDeque<Planned>,
    /// Every call made, by (port, id): ids are only unique per channel.
    calls: BTreeMap<(Port, RequestId), Made>,
    serial: u64,
    closing: bool,
    /// Cancels to do, by (due time, serial): a BTreeMap, so ties fire in a fixed order.
    cancels: BTreeMap<(Instant, u64), (Port, RequestId)>,
    high: checks::HighWater,
}

/// Encoded size bound of one `echo` request with `pad` bytes of padding.
pub fn max_call_len(max_pad: usize) -> usize {
    max_pad + 256
}

impl RpcClient {
    /// Client number `index` calling `servers`, its plan drawn from `rng`.
    pub fn new(
        index: usize,
        servers: Vec<NodeId>,
        config: RpcClientConfig,
        origin: Instant,
        rng: &mut SimRng,
    ) -> RpcClient {
        let window_ms = config.window.as_millis() as u64;
        let mut planned: Vec<Planned> = (0..config.calls)
            .map(|_| Planned {
                at: origin + Duration::from_millis(rng.range(0, window_ms)),
                server: rng.range(0, servers.len() as u64 - 1) as usize,
                // Some timeouts are shorter than the servers' slowest answers, so both
                // endings race.
                timeout: Duration::from_millis(rng.range(20, 800)),
                // Mostly small params, some long enough to need many frames.
                pad: if rng.chance(20) {
                    rng.range(0, config.max_pad as u64) as usize
                } else {
                    rng.range(0, 64) as usize
                },
                cancel_after: rng
                    .chance(10)
                    .then(|| Duration::from_millis(rng.range(0, 400))),
            })
            .collect();
        // Stable sort: equal times keep their drawn order, so the plan is deterministic.
        planned.sort_by_key(|p| p.at);
        let n = servers.len();
        RpcClient {
            index,
            config,
            servers,
            links: (0..n).map(|_| None).collect(),
            redial: vec![None; n],
            planned: planned.into(),
            calls: BTreeMap::new(),
            serial: 0,
            closing: false,
            cancels: BTreeMap::new(),
            high: checks::HighWater::default(),
        }
    }

    fn dial(&mut self, ctx: &mut Ctx, server: usize) {
        let request = ClientRequest {
            host: format!("server-{server}"),
            path: "/rpc".into(),
            ..Default::default()
        };
        let channel = Channel::client(
            ctx.now,
            self.config.ws.clone(),
            self.config.rpc.clone(),
            request,
            ctx.rng.seed32(),
        )
        .expect("the simulator's upgrade request is valid");
        // The upgrade request waits in the channel until the connection opens.
        let port = ctx.connect(self.servers[server]);
        self.links[server] = Some(Link {
            port,
            channel,
            transport_done: false,
        });
    }

    fn server_of(&self, port: Port) -> Option<usize> {
        self.links
            .iter()
            .position(|l| l.as_ref().is_some_and(|l| l.port == port))
    }

    /// Handles what the link of `server` reported; returns the reasons of calls that ended.
    fn react(&mut self, ctx: &mut Ctx, server: usize) -> Vec<EndReason> {
        let name = self.name();
        let mut reasons = Vec::new();
        let Some(link) = self.links[server].as_mut() else {
            return reasons;
        };
        let port = link.port;
        let mut events = Vec::new();
        while let Some(event) = link.channel.poll_event() {
            ctx.trace.add(name.as_bytes());
            let text = format!("{event:?}");
            ctx.log(format_args!("{name}: {}", short(&text)));
            ctx.trace.add(text.as_bytes());
            events.push(event);
        }
        for event in events {
            match event {
                Event::Response { id, result } => {
                    let made = end_call(ctx, &name, &mut self.calls, port, id, "Response");
                    let got = match &result {
                        Ok(raw) => raw.get().to_owned(),
                        Err(error) => ctx.fail(format_args!(
                            "{name} {port}: call {id} got an error {error:?}; servers only echo"
                        )),
                    };
                    if got != made {
                        ctx.fail(format_args!(
                            "{name} {port}: call {id} got the answer of another call\n  sent: {}\n  got:  {}",
                            short(&made),
                            short(&got)
                        ));
                    }
                    ctx.count("rpc.answered");
                }
                Event::Ended { id, reason } => {
                    let what = match reason {
                        EndReason::TimedOut => "rpc.timed_out",
                        EndReason::Cancelled => "rpc.cancelled",
                        EndReason::ConnectionLost { .. } => "rpc.lost",
                        EndReason::Failed | EndReason::Closed | EndReason::Unreachable => ctx.fail(format_args!(
                            "{name} {port}: call {id} ended {reason:?}; only a session or a pool ends calls so"
                        )),
                    };
                    end_call(ctx, &name, &mut self.calls, port, id, what);
                    ctx.count(what);
                    reasons.push(reason);
                }
                Event::Open { .. } => {
                    // Closing was decided while this link still shook hands: close it now.
                    if self.closing {
                        if let Some(link) = self.links[server].as_mut() {
                            let _ = link.channel.close(ctx.now, CloseCode::NORMAL, "done");
                        }
                    }
                }
                Event::Closed(_) => {
                    // "Every call still pending has ended before this event."
                    if let Some(id) = self.open_call(port) {
                        ctx.fail(format_args!(
                            "{name} {port}: Closed reported while call {id} is still open"
                        ));
                    }
                }
                // Faults (reset mid-handshake, a partition past the handshake timeout)
                // legitimately end in protocol errors; they are in the trace.
                Event::WsError(_) | Event::Pong(_) => {}
                other => ctx.fail(format_args!("{name} {port}: unexpected event {other:?}")),
            }
        }
        self.retire(ctx, server);
        self.maybe_close(ctx);
        reasons
    }

    /// A finished link is forgotten; if calls remain, its server is dialed again soon.
    fn retire(&mut self, ctx: &mut Ctx, server: usize) {
        let finished = self.links[server]
            .as_ref()
            .is_some_and(|l| l.channel.is_finished());
        if finished {
            self.links[server] = None;
            if !self.closing && !self.planned.is_empty() {
                self.redial[server] = Some(ctx.now + Duration::from_millis(ctx.rng.range(10, 300)));
            }
        }
    }

    fn open_call(&self, port: Port) -> Option<RequestId> {
        self.calls
            .iter()
            .find(|((p, _), made)| *p == port && made.ended.is_none())
            .map(|((_, id), _)| *id)
    }

    /// Once every planned call is made and has ended, close every link.
    fn maybe_close(&mut self, ctx: &mut Ctx) {
        if self.closing || !self.planned.is_empty() {
            return;
        }
        if self.calls.values().any(|m| m.ended.is_none()) {
            return;
        }
        self.closing = true;
        self.redial.fill(None);
        for link in self.links.iter_mut().flatten() {
            if link.channel.state() == State::Open {
                let _ = link.channel.close(ctx.now, CloseCode::NORMAL, "done");
            }
        }
    }

    /// The transport of `port` is gone (EOF or reset): every call in flight on it must end,
    /// and only with `ConnectionLost` (an EOF carries no answers and no deadline passed).
    fn transport_gone(&mut self, ctx: &mut Ctx, port: Port) {
        let Some(server) = self.server_of(port) else {
            return;
        };
        let name = self.name();
        let Some(link) = self.links[server].as_mut() else {
            return;
        };
        if link.transport_done {
            return;
        }
        link.transport_done = true;
        let open_before: Vec<RequestId> = self
            .calls
            .iter()
            .filter(|((p, _), m)| *p == port && m.ended.is_none())
            .map(|((_, id), _)| *id)
            .collect();
        link.channel.handle_eof(ctx.now);
        let reasons = self.react(ctx, server);
        if let Some(id) = self.open_call(port) {
            ctx.fail(format_args!(
                "{name} {port}: call {id} still open after EOF"
            ));
        }
        if reasons.len() != open_before.len()
            || reasons
                .iter()
                .any(|r| !matches!(r, EndReason::ConnectionLost { .. }))
        {
            ctx.fail(format_args!(
                "{name} {port}: {} calls in flight at EOF ended as {reasons:?}, expected all ConnectionLost",
                open_before.len()
            ));
        }
    }

    /// Cancels that are due. `cancel` must say true exactly when the call is still open
    /// in our ledger, and then the call ends with `Cancelled` (checked in `react`).
    fn cancel_due(&mut self, ctx: &mut Ctx) {
        let name = self.name();
        while let Some(entry) = self.cancels.first_entry() {
            if entry.key().0 > ctx.now {
                break;
            }
            let (port, id) = entry.remove();
            let Some(server) = self.server_of(port) else {
                // The link is gone, so the call has ended already.
                continue;
            };
            let open = self
                .calls
                .get(&(port, id))
                .is_some_and(|made| made.ended.is_none());
            let cancelled = self.links[server]
                .as_mut()
                .is_some_and(|l| l.channel.cancel(ctx.now, id));
            ctx.trace
                .add(if cancelled { b"cancel+" } else { b"cancel-" });
            if cancelled != open {
                ctx.fail(format_args!(
                    "{name} {port}: cancel({id}) returned {cancelled} but the call is {}",
                    if open { "open" } else { "over" }
                ));
            }
            let reasons = self.react(ctx, server);
            if cancelled && reasons != [EndReason::Cancelled] {
                ctx.fail(format_args!(
                    "{name} {port}: cancel({id}) returned true, then the calls that ended were {reasons:?}"
                ));
            }
        }
    }

    fn make_due_calls(&mut self, ctx: &mut Ctx) {
        let name = self.name();
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
            let Some(link) = self.links[plan.server].as_mut() else {
                ctx.trace.add(b"no link");
                ctx.count("rpc.refused");
                continue;
            };
            let port = link.port;
            match link
                .channel
                .call(ctx.now, "echo", Some(&raw), Some(plan.timeout))
            {
                Ok(id) => {
                    ctx.trace.add(b"call");
                    ctx.trace.add(params.as_bytes());
                    let made = Made {
                        params,
                        ended: None,
                    };
                    if self.calls.insert((port, id), made).is_some() {
                        ctx.fail(format_args!("{name} {port}: call() returned id {id} twice"));
                    }
                    ctx.count("rpc.made");
                    if let Some(after) = plan.cancel_after {
                        self.cancels
                            .insert((ctx.now + after, self.serial), (port, id));
                    }
                }
                Err(error) => {
                    ctx.trace.add(format!("refused {error:?}").as_bytes());
                    ctx.count("rpc.refused");
                }
            }
        }
    }
}

/// Marks call `id` ended and returns its params; fails if it is unknown or already ended.
fn end_call(
    ctx: &Ctx,
    name: &str,
    calls: &mut BTreeMap<(Port, RequestId), Made>,
    port: Port,
    id: RequestId,
    how: &'static str,
) -> String {
    let Some(made) = calls.get_mut(&(port, id)) else {
        ctx.fail(format_args!(
            "{name} {port}: {how} for call {id}, which this channel never made"
        ))
    };
    if let Some(before) = made.ended {
        ctx.fail(format_args!(
            "{name} {port}: call {id} ended twice: {before}, then {how}"
        ));
    }
    made.ended = Some(how);
    made.params.clone()
}

impl Node for RpcClient {
    fn name(&self) -> String {
        format!("rpc client {}", self.index)
    }

    fn start(&mut self, ctx: &mut Ctx) {
        for server in 0..self.servers.len() {
            self.dial(ctx, server);
        }
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: Port, data: &[u8]) {
        let Some(server) = self.server_of(port) else {
            return;
        };
        if let Some(link) = self.links[server].as_mut() {
            link.channel.handle_input(ctx.now, data);
        }
        self.react(ctx, server);
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: Port) {
        self.transport_gone(ctx, port);
    }

    fn handle_reset(&mut self, ctx: &mut Ctx, port: Port) {
        self.transport_gone(ctx, port);
        // Nothing can be written any more: drop what the channel still holds, as an
        // adapter whose writes fail would, so it finishes and the server is dialed again.
        if let Some(server) = self.server_of(port) {
            if let Some(link) = self.links[server].as_mut() {
                while link.channel.poll_transmit().is_some() {}
            }
            self.retire(ctx, server);
        }
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        let name = self.name();
        for server in 0..self.links.len() {
            if let Some(link) = self.links[server].as_mut() {
                link.channel.handle_timeout(ctx.now);
                checks::timer_not_due(ctx, &name, link.port, &link.channel);
                self.react(ctx, server);
            }
            if self.redial[server].is_some_and(|at| at <= ctx.now) {
                self.redial[server] = None;
                self.dial(ctx, server);
            }
        }
        self.make_due_calls(ctx);
        self.cancel_due(ctx);
        self.maybe_close(ctx);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let machines = self
            .links
            .iter()
            .flatten()
            .filter_map(|l| l.channel.poll_timeout());
        let cancel = self.cancels.keys().next().map(|k| k.0);
        machines
            .chain(self.planned.front().map(|p| p.at))
            .chain(cancel)
            .chain(self.redial.iter().flatten().copied())
            .min()
    }

    fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
        let server = self.server_of(port)?;
        self.links[server].as_mut()?.channel.poll_transmit()
    }

    fn port_finished(&self, port: Port) -> bool {
        self.server_of(port).is_none()
    }

    fn check(&self, ctx: &mut Ctx) {
        let name = self.name();
        let max_in_flight = self.config.rpc.max_in_flight;
        let bound = max_in_flight * max_call_len(self.config.max_pad) + checks::CONTROL_SLACK;
        for link in self.links.iter().flatten() {
            let conn = link.channel.connection();
            let input = checks::input_bounded(ctx, &name, link.port, conn);
            let output = checks::output_bounded(ctx, &name, link.port, conn, bound);
            self.high.see(input, output);
            let in_flight = link.channel.stats().in_flight;
            if in_flight > max_in_flight {
                ctx.fail(format_args!(
                    "{name} {}: {in_flight} calls in flight, over max_in_flight {max_in_flight}",
                    link.port
                ));
            }
        }
    }

    fn check_done(&self, ctx: &mut Ctx) {
        self.high.report(ctx);
        let name = self.name();
        if !self.planned.is_empty() {
            ctx.fail(format_args!(
                "{name}: run ended with {} calls never made",
                self.planned.len()
            ));
        }
        for ((port, id), made) in &self.calls {
            if made.ended.is_none() {
                ctx.fail(format_args!("{name} {port}: call {id} never ended"));
            }
        }
        for link in self.links.iter().flatten() {
            if !link.channel.is_finished() {
                ctx.fail(format_args!(
                    "{name} {}: not finished at the end (state {:?})",
                    link.port,
                    link.channel.state()
                ));
            }
        }
    }
}
