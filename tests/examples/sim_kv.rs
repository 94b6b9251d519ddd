//! Your own logic on tether, tested in the deterministic simulator: a small key-value
//! store. `KvServer` serves `put` and `get` over JSON-RPC channels; each `KvClient`
//! writes and reads its own key through a reconnecting session. The network drops,
//! stalls, resets and delays traffic as the seed says; every client checks that each read
//! returns a value its history allows.
//!
//! ```sh
//! cargo run -p tether-tests --example sim_kv -- 42         # one seed, its story with SIM_LOG=1
//! cargo run -p tether-tests --example sim_kv -- 0 1000     # seeds 0..1000
//! cargo test -p tether-tests --example sim_kv              # 50 seeds, as a test
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::value::{to_raw_value, RawValue};
use serde_json::{json, Value};
use tether_core::handshake::ClientRequest;
use tether_core::rpc::{self, Channel, ErrorObject};
use tether_core::session::{self, CallId, CallOptions, EndReason, Session, State};
use tether_core::ws;
use tether_tests::sim::{Ctx, Faults, NetSession, Node, NodeId, Outcome, Port, Sim};

/// The store: one channel per connection, the data in memory.
#[derive(Default)]
struct KvServer {
    ports: BTreeMap<Port, Channel>,
    data: BTreeMap<String, i64>,
}

impl KvServer {
    /// Answers what the channel of `port` reported.
    fn serve(&mut self, ctx: &mut Ctx, port: Port) {
        let Some(channel) = self.ports.get_mut(&port) else {
            return;
        };
        while let Some(event) = channel.poll_event() {
            match event {
                rpc::Event::Upgrade(_) => {
                    let _ = channel.accept(ctx.now, None, &[]);
                }
                rpc::Event::Request {
                    reply,
                    method,
                    params,
                } => {
                    let params: Value = params
                        .and_then(|p| serde_json::from_str(p.get()).ok())
                        .unwrap_or(Value::Null);
                    let key = params["key"].as_str().unwrap_or_default().to_owned();
                    let answer = match (method.as_str(), params["value"].as_i64()) {
                        ("put", Some(value)) => {
                            self.data.insert(key, value);
                            Ok(json!(true))
                        }
                        ("get", _) => Ok(json!(self.data.get(&key))),
                        _ => Err(ErrorObject::method_not_found()),
                    };
                    let raw = answer.map(|v| to_raw_value(&v).expect("JSON values serialize"));
                    // A connection that closed meanwhile gets no answer; the client copes.
                    let _ = channel.respond(ctx.now, reply, raw.as_deref());
                }
                _ => {}
            }
        }
    }
}

impl Node for KvServer {
    fn name(&self) -> String {
        "kv server".into()
    }

    fn handle_accept(&mut self, ctx: &mut Ctx, port: Port) -> bool {
        let channel = Channel::server(
            ctx.now,
            ws::Config::default(),
            rpc::Config::default(),
            ctx.rng.seed32(),
        );
        self.ports.insert(port, channel);
        true
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: Port, data: &[u8]) {
        if let Some(channel) = self.ports.get_mut(&port) {
            channel.handle_input(ctx.now, data);
        }
        self.serve(ctx, port);
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: Port) {
        if let Some(channel) = self.ports.get_mut(&port) {
            channel.handle_eof(ctx.now);
        }
        self.serve(ctx, port);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        let ports: Vec<Port> = self.ports.keys().copied().collect();
        for port in ports {
            if let Some(channel) = self.ports.get_mut(&port) {
                channel.handle_timeout(ctx.now);
            }
            self.serve(ctx, port);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.ports.values().filter_map(Channel::poll_timeout).min()
    }

    fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
        self.ports.get_mut(&port)?.poll_transmit()
    }

    fn port_finished(&self, port: Port) -> bool {
        self.ports.get(&port).is_none_or(Channel::is_finished)
    }
}

/// What a client's pending call does.
#[derive(Debug, Clone, Copy)]
enum Op {
    Put(i64),
    Get,
}

/// A client of its own key: puts increasing values and reads them back, one call at a
/// time, over a reconnecting session.
struct KvClient {
    key: String,
    net: NetSession,
    ops_left: u32,
    next_op: Instant,
    pending: Option<(CallId, Op)>,
    /// The value of the last acknowledged put.
    acked: Option<i64>,
    /// Puts whose fate is unknown (the link was lost, or the call timed out after it was
    /// written): the server may apply them at any later time.
    maybe: BTreeSet<i64>,
    next_value: i64,
    reads: u32,
}

impl KvClient {
    fn new(index: usize, server: NodeId, now: Instant, seed: [u8; 32]) -> KvClient {
        let config = session::Config {
            connect_timeout: Duration::from_secs(1),
            backoff: session::Backoff {
                max: Duration::from_secs(1),
                ..Default::default()
            },
            heartbeat: Some(session::Heartbeat {
                interval: Duration::from_millis(500),
                timeout: Duration::from_secs(2),
                ..Default::default()
            }),
            ..Default::default()
        };
        let request = ClientRequest {
            host: "kv".into(),
            path: "/".into(),
            ..Default::default()
        };
        let session = Session::new(now, config, request, seed).expect("a valid request");
        KvClient {
            key: format!("key-{index}"),
            net: NetSession::new(session, server),
            ops_left: 40,
            next_op: now,
            pending: None,
            acked: None,
            maybe: BTreeSet::new(),
            next_value: 1,
            reads: 0,
        }
    }

    /// Starts the next operation when it is time and none is pending.
    fn operate(&mut self, ctx: &mut Ctx) {
        if self.pending.is_some() || self.ops_left == 0 || ctx.now < self.next_op {
            return;
        }
        self.ops_left -= 1;
        self.next_op = ctx.now + Duration::from_millis(ctx.rng.range(10, 200));
        let op = if ctx.rng.chance(50) {
            self.next_value += 1;
            Op::Put(self.next_value)
        } else {
            Op::Get
        };
        let (method, params) = match op {
            Op::Put(value) => ("put", json!({ "key": self.key, "value": value })),
            Op::Get => ("get", json!({ "key": self.key })),
        };
        let params = to_raw_value(&params).expect("JSON values serialize");
        let options = CallOptions {
            timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        match self
            .net
            .session_mut()
            .call(ctx.now, method, Some(&params), options)
        {
            Ok(id) => self.pending = Some((id, op)),
            // The queue is full: try again at the next turn.
            Err(_) => self.ops_left += 1,
        }
    }

    /// Handles the session's events: the answer (or end) of the pending call.
    fn react(&mut self, ctx: &mut Ctx) {
        while let Some(event) = self.net.poll_event(ctx) {
            let (id, answer) = match event {
                session::Event::Response { id, result } => (id, Some(result)),
                session::Event::Ended { id, reason } => {
                    if let (
                        Some((_, Op::Put(value))),
                        EndReason::ConnectionLost { .. } | EndReason::TimedOut,
                    ) = (self.pending, reason)
                    {
                        self.maybe.insert(value);
                    }
                    (id, None)
                }
                _ => continue,
            };
            let Some((_, op)) = self.pending.take().filter(|(p, _)| *p == id) else {
                ctx.fail(format_args!(
                    "{}: an answer for {id}, which is not pending",
                    self.key
                ));
            };
            match (op, answer) {
                (Op::Put(value), Some(Ok(_))) => self.acked = Some(value),
                (Op::Get, Some(Ok(raw))) => self.check_read(ctx, &raw),
                (_, Some(Err(error))) => ctx.fail(format_args!("{}: error {error:?}", self.key)),
                (_, None) => {}
            }
        }
        self.operate(ctx);
        if self.ops_left == 0 && self.pending.is_none() {
            self.net.session_mut().close(ctx.now);
        }
    }

    /// A read returns the last acknowledged value, or one of the puts with unknown fate.
    fn check_read(&mut self, ctx: &mut Ctx, raw: &RawValue) {
        let value: Option<i64> = serde_json::from_str(raw.get()).unwrap_or(None);
        self.reads += 1;
        let allowed = value == self.acked || value.is_some_and(|v| self.maybe.contains(&v));
        if !allowed {
            ctx.fail(format_args!(
                "{}: read {value:?}, but the last acknowledged put was {:?} and the unknown ones {:?}",
                self.key, self.acked, self.maybe
            ));
        }
        ctx.count("kv.reads");
    }
}

impl Node for KvClient {
    fn name(&self) -> String {
        format!("kv client {}", self.key)
    }

    fn start(&mut self, ctx: &mut Ctx) {
        self.net.session_mut().start(ctx.now);
        self.react(ctx);
    }

    fn handle_connected(&mut self, ctx: &mut Ctx, port: Port) {
        self.net.handle_connected(ctx, port);
        self.react(ctx);
    }

    fn handle_input(&mut self, ctx: &mut Ctx, port: Port, data: &[u8]) {
        self.net.handle_input(ctx, port, data);
        self.react(ctx);
    }

    fn handle_eof(&mut self, ctx: &mut Ctx, port: Port) {
        self.net.handle_eof(ctx, port);
        self.react(ctx);
    }

    fn handle_reset(&mut self, ctx: &mut Ctx, port: Port) {
        self.net.handle_reset(ctx, port);
        self.react(ctx);
    }

    fn handle_timeout(&mut self, ctx: &mut Ctx) {
        self.net.session_mut().handle_timeout(ctx.now);
        self.react(ctx);
        self.net.forget_abandoned();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let op = (self.pending.is_none() && self.ops_left > 0).then_some(self.next_op);
        [self.net.session().poll_timeout(), op]
            .into_iter()
            .flatten()
            .min()
    }

    fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
        self.net.poll_transmit(port)
    }

    fn port_finished(&self, port: Port) -> bool {
        self.net.port_finished(port)
    }

    fn check_done(&self, ctx: &mut Ctx) {
        if self.ops_left > 0 || self.net.session().state() != State::Disconnected {
            ctx.fail(format_args!(
                "{}: {} operations left, session {:?}",
                self.key,
                self.ops_left,
                self.net.session().state()
            ));
        }
    }
}

/// One run: a server and three clients under the default faults (the server keeps its
/// data in memory, so it is not allowed to crash).
fn run(seed: u64) -> Outcome {
    let mut sim = Sim::new(seed, Faults::default());
    let origin = sim.origin();
    let server = sim.add_node(Box::new(KvServer::default()));
    for index in 0..3 {
        let seed = sim.rng().seed32();
        sim.add_node(Box::new(KvClient::new(index, server, origin, seed)));
    }
    sim.run()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments are numbers: SEED [COUNT]"))
        .collect();
    let (first, count) = (
        args.first().copied().unwrap_or(0),
        args.get(1).copied().unwrap_or(1),
    );
    for seed in first..first + count {
        let outcome = run(seed);
        println!(
            "seed {seed}: trace {:016x}, {} reads checked, {} steps, {:?} virtual",
            outcome.trace,
            outcome.counter("kv.reads"),
            outcome.steps,
            outcome.virtual_time
        );
    }
}

#[test]
fn fifty_seeds() {
    let reads: u64 = (0..50).map(|seed| run(seed).counter("kv.reads")).sum();
    assert!(reads > 0, "no read was checked");
}
