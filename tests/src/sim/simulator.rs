//! The event loop: nodes, connections and faults in virtual time.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::faults::{outside, Faults, Plan};
use super::net::{Conn, End, Kind};
use super::node::{Ctx, Node, NodeId, Port};
use super::rng::SimRng;

/// Steps after which a run is declared livelocked.
const MAX_STEPS: u64 = 5_000_000;
/// Virtual time after which a run is declared stuck (a clock jump is at most minutes).
const MAX_VIRTUAL_TIME: Duration = Duration::from_secs(3600);

/// What a run did: its trace hash and counters, to print and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The seed the run was drawn from.
    pub seed: u64,
    /// Hash of every byte delivered, every event seen and every fault, in order: the same
    /// seed gives the same hash, byte for byte.
    pub trace: u64,
    /// Steps of the event loop.
    pub steps: u64,
    /// Virtual time the run took.
    pub virtual_time: Duration,
    /// What the nodes counted with [`Ctx::count`], and the network's own counters
    /// (`net.*`: connections, resets, partitions, stalls, crashes, clock jumps).
    pub counters: BTreeMap<&'static str, u64>,
}

impl Outcome {
    /// The value of counter `what` (0 if never counted).
    pub fn counter(&self, what: &str) -> u64 {
        self.counters.get(what).copied().unwrap_or(0)
    }
}

/// A node and what the simulator knows about it.
struct Slot {
    node: Box<dyn Node>,
    up: bool,
    may_crash: bool,
    /// Called since its last check: only such nodes can have changed.
    touched: bool,
    /// Its `poll_timeout`, asked again only after it was called.
    timeout: Option<Instant>,
    /// The crash still to come: when it goes down, when it comes back.
    crash: Option<(Instant, Instant)>,
}

/// What the loop does next; for equal times, the first in this order goes first.
#[derive(Debug, Clone, Copy)]
enum Due {
    Jump,
    Crash(usize),
    Restart(usize),
    Reset(u64),
    Deliver(u64, usize),
    Timeout(usize),
}

/// The simulator: nodes, connections, faults, virtual time, all from one seed.
///
/// Build it, add nodes, run it:
///
/// ```
/// use tether_tests::sim::{Faults, Sim};
/// let sim = Sim::new(7, Faults::default());
/// // sim.add_node(Box::new(MyServer::new())); ...
/// let outcome = sim.run();
/// assert_eq!(outcome.seed, 7);
/// ```
pub struct Sim {
    ctx: Ctx,
    faults: Faults,
    nodes: Vec<Slot>,
    conns: BTreeMap<u64, Conn>,
    /// The clock jump still to come: when, and by how much.
    jump: Option<(Instant, Duration)>,
    steps: u64,
}

impl Sim {
    /// An empty simulation for `seed` with `faults`.
    pub fn new(seed: u64, faults: Faults) -> Sim {
        // The virtual clock needs one real instant as its origin; it never reads the clock again.
        #[allow(clippy::disallowed_methods)]
        let origin = Instant::now();
        Sim {
            ctx: Ctx::new(seed, origin),
            faults,
            nodes: Vec::new(),
            conns: BTreeMap::new(),
            jump: None,
            steps: 0,
        }
    }

    /// The run's randomness, to draw the nodes' own settings from before they are added.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.ctx.rng
    }

    /// The origin of virtual time: `now` when the run starts.
    pub fn origin(&self) -> Instant {
        self.ctx.origin
    }

    /// The fault knobs of this run.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Adds a node; its id is also its address for [`Ctx::connect`].
    pub fn add_node(&mut self, node: Box<dyn Node>) -> NodeId {
        self.nodes.push(Slot {
            node,
            up: true,
            may_crash: false,
            touched: true,
            timeout: None,
            crash: None,
        });
        NodeId(self.nodes.len() - 1)
    }

    /// Lets the faults crash and restart `node` (which implements [`Node::crash`]).
    pub fn may_crash(&mut self, node: NodeId) {
        self.nodes[node.0].may_crash = true;
    }

    /// Draws the faults of the run from the seed: per node a stall and (if it may crash)
    /// a crash, per pair of nodes a partition, and a clock jump.
    fn plan_faults(&mut self) {
        let may_crash: Vec<bool> = self.nodes.iter().map(|slot| slot.may_crash).collect();
        let plan = Plan::draw(&self.faults, self.ctx.origin, &may_crash, &mut self.ctx.rng);
        for (n, slot) in self.nodes.iter_mut().enumerate() {
            slot.crash = plan.crash(NodeId(n));
        }
        self.jump = plan.jump();
        self.ctx.add("net.stalls", plan.stalls.len() as u64);
        self.ctx.add("net.partitions", plan.partitions.len() as u64);
        self.ctx.plan = plan;
        if self.ctx.verbose {
            eprintln!("faults: {:?}", self.ctx.plan);
        }
    }

    /// Runs until nothing is in flight and no deadline is left, checking every node's
    /// invariants after every step; panics (naming the seed) on the first one broken.
    pub fn run(mut self) -> Outcome {
        self.plan_faults();
        for n in 0..self.nodes.len() {
            self.ctx.node = NodeId(n);
            self.nodes[n].node.start(&mut self.ctx);
            self.after_call();
        }
        loop {
            self.flush();
            // A node's state changes only when it is called, so only those are checked;
            // a check that depends on time alone needs a wake-up from `poll_timeout`.
            for (n, slot) in self.nodes.iter_mut().enumerate() {
                if slot.up && slot.touched {
                    self.ctx.node = NodeId(n);
                    slot.node.check(&mut self.ctx);
                    slot.timeout = slot.node.poll_timeout();
                }
                if !slot.up {
                    slot.timeout = None;
                }
                slot.touched = false;
            }
            let Some((at, due)) = self.next_due() else {
                break;
            };
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.ctx
                    .fail(format_args!("no quiet after {MAX_STEPS} steps: livelock"));
            }
            // Time never goes back: a piece due before a clock jump arrives after it.
            self.ctx.now = self.ctx.now.max(at);
            if self.ctx.elapsed() > MAX_VIRTUAL_TIME {
                self.ctx.fail(format_args!(
                    "still busy after {MAX_VIRTUAL_TIME:?} of virtual time"
                ));
            }
            self.ctx.trace.add_u64(self.ctx.elapsed().as_nanos() as u64);
            self.step(due);
            self.after_call();
        }
        for (n, slot) in self.nodes.iter().enumerate() {
            self.ctx.node = NodeId(n);
            slot.node.check_done(&mut self.ctx);
        }
        Outcome {
            seed: self.ctx.seed,
            trace: self.ctx.trace.hash(),
            steps: self.steps,
            virtual_time: self.ctx.elapsed(),
            counters: self.ctx.counters,
        }
    }

    /// When the front of the direction written by `side` of `conn` can be delivered:
    /// after partitions between the two nodes and stalls of the reader.
    fn due(&self, conn: &Conn, side: usize) -> Option<Instant> {
        let at = conn.dirs[side].queue.front()?.at;
        let plan = &self.ctx.plan;
        let partitions = plan.partitions(conn.nodes[0], conn.nodes[1]);
        let stalls = plan.stalls(conn.nodes[1 - side]);
        Some(outside(at, &[partitions, stalls]))
    }

    /// The earliest due thing; ties go to the first in a fixed order.
    fn next_due(&self) -> Option<(Instant, Due)> {
        let mut best: Option<(Instant, Due)> = None;
        let mut consider = |at: Instant, due: Due| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, due));
            }
        };
        if let Some((at, _)) = self.jump {
            consider(at, Due::Jump);
        }
        for (n, slot) in self.nodes.iter().enumerate() {
            match slot.crash {
                Some((down, _)) if slot.up => consider(down, Due::Crash(n)),
                Some((_, up)) => consider(up, Due::Restart(n)),
                None => {}
            }
        }
        for (&id, conn) in &self.conns {
            if let Some(at) = conn.reset_at {
                consider(at, Due::Reset(id));
            }
            for side in 0..2 {
                if let Some(at) = self.due(conn, side) {
                    consider(at, Due::Deliver(id, side));
                }
            }
        }
        for (n, slot) in self.nodes.iter().enumerate() {
            if let Some(at) = slot.timeout {
                consider(at, Due::Timeout(n));
            }
        }
        best
    }

    fn step(&mut self, due: Due) {
        match due {
            Due::Jump => {
                let Some((_, by)) = self.jump.take() else {
                    return;
                };
                self.ctx.now += by;
                self.ctx.trace.add(b"jump");
                self.ctx.log(format_args!("the clock jumps {by:?}"));
                self.ctx.count("net.clock_jumps");
                for n in 0..self.nodes.len() {
                    if self.nodes[n].up {
                        self.nodes[n].touched = true;
                        self.ctx.node = NodeId(n);
                        self.nodes[n].node.handle_timeout(&mut self.ctx);
                        self.after_call();
                    }
                }
            }
            Due::Crash(n) => self.crash(n),
            Due::Restart(n) => {
                let slot = &mut self.nodes[n];
                slot.up = true;
                slot.touched = true;
                slot.crash = None;
                self.ctx.trace.add(b"restart");
                self.ctx.node = NodeId(n);
                self.ctx.log(format_args!("restarts"));
                slot.node.restart(&mut self.ctx);
            }
            Due::Reset(id) => {
                if let Some(conn) = self.conns.get_mut(&id) {
                    self.ctx.log(format_args!("network resets connection {id}"));
                    self.ctx.trace.add(b"reset");
                    self.ctx.trace.add_u64(id);
                    self.ctx.count("net.resets");
                    self.ctx
                        .broken
                        .push((self.ctx.now, conn.nodes[0], conn.nodes[1]));
                    conn.reset(self.ctx.now, &mut self.ctx.rng);
                }
            }
            Due::Deliver(id, side) => self.deliver(id, side),
            Due::Timeout(n) => {
                self.nodes[n].touched = true;
                self.ctx.node = NodeId(n);
                self.nodes[n].node.handle_timeout(&mut self.ctx);
            }
        }
    }

    /// Node `n` crashes: its ends die (peers get a reset), then it forgets everything.
    fn crash(&mut self, n: usize) {
        let node = NodeId(n);
        self.ctx.node = node;
        self.ctx.log(format_args!("crashes"));
        self.ctx.trace.add(b"crash");
        self.ctx.trace.add_u64(n as u64);
        self.ctx.count("net.crashes");
        self.nodes[n].up = false;
        for conn in self.conns.values_mut() {
            for side in 0..2 {
                if conn.nodes[side] == node {
                    conn.kill(side, self.ctx.now, &mut self.ctx.rng);
                }
            }
        }
        self.ctx.node = node;
        self.nodes[n].node.crash(&mut self.ctx);
    }

    /// Delivers the front of the direction written by `side` of connection `id`.
    fn deliver(&mut self, id: u64, side: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(piece) = conn.pop(side) else {
            return;
        };
        let to = 1 - side;
        let port = conn.port(to);
        let n = conn.nodes[to].0;
        let now = self.ctx.now;
        self.ctx.node = NodeId(n);
        self.ctx.trace.add_u64(port.0);
        if self.ctx.verbose {
            let what = match &piece.kind {
                Kind::Data(data) => format!("{} bytes", data.len()),
                other => format!("{other:?}"),
            };
            self.ctx.log(format_args!("{port} gets {what}"));
        }
        let slot = &mut self.nodes[n];
        slot.touched = true;
        match piece.kind {
            Kind::Syn => {
                let accepted = slot.up && slot.node.handle_accept(&mut self.ctx, port);
                self.ctx
                    .trace
                    .add(if accepted { b"accept" } else { b"refuse" });
                let conn = self
                    .conns
                    .get_mut(&id)
                    .expect("the connection being delivered");
                if accepted {
                    conn.ends[to] = End::Open;
                    conn.push(to, Kind::Open, now, &mut self.ctx.rng);
                } else {
                    self.ctx.count("net.refused");
                    self.ctx.broken.push((now, conn.nodes[0], conn.nodes[1]));
                    conn.ends[to] = End::Gone;
                    conn.push(to, Kind::Reset, now, &mut self.ctx.rng);
                }
            }
            Kind::Open => match conn.ends[to] {
                End::Waiting => {
                    conn.ends[to] = End::Open;
                    self.ctx.trace.add(b"open");
                    slot.node.handle_connected(&mut self.ctx, port);
                }
                // The dialer gave up before the answer came: its kernel resets.
                End::Closed => conn.refuse(to, now, &mut self.ctx.rng),
                End::Open | End::Gone => {}
            },
            Kind::Data(data) => match conn.ends[to] {
                End::Open => {
                    self.ctx.trace.add(&data);
                    slot.node.handle_input(&mut self.ctx, port, &data);
                }
                End::Closed => conn.refuse(to, now, &mut self.ctx.rng),
                End::Waiting | End::Gone => {}
            },
            Kind::Eof => {
                if conn.ends[to] == End::Open {
                    self.ctx.trace.add(b"eof");
                    slot.node.handle_eof(&mut self.ctx, port);
                }
            }
            Kind::Reset => {
                let was = conn.ends[to];
                conn.ends[to] = End::Gone;
                if matches!(was, End::Open | End::Waiting) {
                    self.ctx.trace.add(b"rst");
                    slot.node.handle_reset(&mut self.ctx, port);
                }
            }
        }
    }

    /// Opens the connections asked for during the last call.
    fn after_call(&mut self) {
        let dials = std::mem::take(&mut self.ctx.dials);
        for (from, to, id) in dials {
            self.ctx.count("net.connections");
            self.ctx
                .log(format_args!("{from} dials {to}: connection {id}"));
            let conn = Conn::dial(
                id,
                from,
                to,
                self.ctx.now,
                self.ctx.origin,
                &self.faults,
                &mut self.ctx.rng,
            );
            if conn.is_slow() {
                self.ctx.count("net.slow_links");
            }
            self.conns.insert(id, conn);
        }
    }

    /// Takes what every node wrote while its connection has room, and closes the ends
    /// their nodes are done with; forgets connections that are over.
    fn flush(&mut self) {
        let now = self.ctx.now;
        for conn in self.conns.values_mut() {
            // An untouched node has nothing new to write, unless its window freed up.
            let idle = |n: NodeId| !self.nodes[n.0].touched;
            if !conn.dirty && idle(conn.nodes[0]) && idle(conn.nodes[1]) {
                continue;
            }
            conn.dirty = false;
            for side in 0..2 {
                let slot = &mut self.nodes[conn.nodes[side].0];
                if !slot.up {
                    continue;
                }
                let port: Port = conn.port(side);
                while conn.writable(side) {
                    let Some(bytes) = slot.node.poll_transmit(port) else {
                        break;
                    };
                    slot.touched = true;
                    conn.write(side, &bytes, now, &mut self.ctx.rng);
                    if self.ctx.verbose {
                        eprintln!(
                            "[{:>12?}] {}: {port} writes {} bytes",
                            now - self.ctx.origin,
                            conn.nodes[side],
                            bytes.len()
                        );
                    }
                    if !conn.writable(side) {
                        self.ctx.log(format_args!("{port}: window full"));
                        self.ctx.count("net.window_full");
                    }
                }
                // A dialer may give up before its connection opens.
                let closable =
                    conn.ends[side] == End::Open || (side == 0 && conn.ends[side] == End::Waiting);
                if closable && slot.node.port_finished(port) {
                    slot.touched = true;
                    self.ctx
                        .log(format_args!("{} closes {port}", conn.nodes[side]));
                    conn.ends[side] = End::Closed;
                    conn.push(side, Kind::Eof, now, &mut self.ctx.rng);
                }
            }
        }
        self.conns.retain(|_, conn| !conn.is_over());
    }
}
