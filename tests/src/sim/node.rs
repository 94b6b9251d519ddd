//! What the simulator drives: a [`Node`] owns state machines, one per [`Port`] (one end of
//! a simulated connection), plus whatever application logic it plays. Kinds of nodes
//! (RPC clients, echo servers, sessions, a user's own) plug in by implementing the trait;
//! the network only knows nodes and ports.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::faults::Plan;
use super::rng::{SimRng, Trace};

/// A node of the simulation, as [`Sim::add_node`](super::Sim::add_node) numbered it. It is
/// also the node's address: [`Ctx::connect`] dials it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub usize);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {}", self.0)
    }
}

/// One end of a simulated connection. Connection `c` has port `2c` at the node that dialed
/// and `2c + 1` at the node that accepted; ports are never reused within a run, so a port
/// of a dropped connection can never address a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u64);

impl Port {
    /// The connection this port is an end of.
    pub fn conn(self) -> u64 {
        self.0 / 2
    }

    /// 0 at the dialing end, 1 at the accepting end.
    pub fn side(self) -> usize {
        (self.0 % 2) as usize
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port {}", self.0)
    }
}

/// What a node may use while it handles an input: the virtual time, the run's one source
/// of randomness, the trace every observation goes into, counters for the run's summary,
/// and the network's one command, [`connect`](Ctx::connect).
#[derive(Debug)]
pub struct Ctx {
    /// The seed of this run, named in every failure.
    pub seed: u64,
    /// The fixed origin of virtual time (the one real `Instant` a run reads).
    pub origin: Instant,
    /// Virtual time now; only the simulator moves it.
    pub now: Instant,
    /// The run's randomness; nodes draw from it in the simulator's fixed order.
    pub rng: SimRng,
    /// Hash of all bytes delivered and events seen.
    pub trace: Trace,
    /// The node being called.
    pub(super) node: NodeId,
    /// Connections asked for during this call: (dialer, target, connection number).
    pub(super) dials: Vec<(NodeId, NodeId, u64)>,
    pub(super) next_conn: u64,
    pub(super) counters: BTreeMap<&'static str, u64>,
    pub(super) plan: Plan,
    /// Connections the network reset or whose dial was refused: when, and between whom.
    pub(super) broken: Vec<(Instant, NodeId, NodeId)>,
    /// Print what happens (`SIM_LOG=1`), to read a failing seed's story.
    pub(super) verbose: bool,
}

impl Ctx {
    pub(super) fn new(seed: u64, origin: Instant) -> Ctx {
        Ctx {
            seed,
            origin,
            now: origin,
            rng: SimRng::new(seed),
            trace: Trace::default(),
            node: NodeId(0),
            dials: Vec::new(),
            next_conn: 0,
            counters: BTreeMap::new(),
            plan: Plan::new(origin),
            broken: Vec::new(),
            verbose: std::env::var_os("SIM_LOG").is_some_and(|v| v != "0"),
        }
    }

    /// Virtual time since the start of the run.
    pub fn elapsed(&self) -> Duration {
        self.now.saturating_duration_since(self.origin)
    }

    /// The faults drawn for this run (fixed when it starts): to check what a node must
    /// notice, and to know when faults are over.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Whether the network reset a connection between `a` and `b` (either way), or refused
    /// a dial between them (the target was down or did not accept), at an instant in
    /// `[from, to]`. With the [plan](Ctx::plan), what the network did to a pair of nodes.
    pub fn conn_broken_between(&self, a: NodeId, b: NodeId, from: Instant, to: Instant) -> bool {
        self.broken
            .iter()
            .any(|&(at, x, y)| (from..=to).contains(&at) && ((x, y) == (a, b) || (x, y) == (b, a)))
    }

    /// The node being called.
    pub fn me(&self) -> NodeId {
        self.node
    }

    /// Opens a connection from the calling node to `to`. The returned port is this node's
    /// end: after the network's latency the node gets [`Node::handle_connected`] for it,
    /// or [`Node::handle_reset`] if `to` is down or does not accept. Write nothing on it
    /// before `handle_connected`: the simulator does not take bytes from it until then.
    pub fn connect(&mut self, to: NodeId) -> Port {
        let conn = self.next_conn;
        self.next_conn += 1;
        self.dials.push((self.node, to, conn));
        self.trace.add(b"dial");
        self.trace.add_u64(conn);
        Port(conn * 2)
    }

    /// Adds one to the run's counter `what` (reported in [`Outcome::counters`](super::Outcome::counters)).
    pub fn count(&mut self, what: &'static str) {
        self.add(what, 1);
    }

    /// Adds `n` to the run's counter `what`.
    pub fn add(&mut self, what: &'static str, n: u64) {
        *self.counters.entry(what).or_default() += n;
    }

    /// Raises counter `what` to `value` if it is lower: a high-water mark. Name such
    /// counters `*_max`, so summaries over many runs take their maximum, not their sum.
    pub fn record_max(&mut self, what: &'static str, value: u64) {
        let entry = self.counters.entry(what).or_default();
        *entry = (*entry).max(value);
    }

    /// The value of counter `what` so far.
    pub fn counter(&self, what: &str) -> u64 {
        self.counters.get(what).copied().unwrap_or(0)
    }

    /// Prints `what` with the virtual time and the node, if the run is verbose
    /// (`SIM_LOG=1` in the environment). Logs never change the run.
    pub fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.verbose {
            eprintln!("[{:>12?}] {}: {what}", self.elapsed(), self.node);
        }
    }

    /// Fails the run: panics with the seed, the virtual time and how to replay it.
    #[track_caller]
    pub fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        panic!(
            "simulation seed {} failed at t={:?} ({}): {what}\nreplay with: SIM_SEED={} cargo test -p tether-tests --test simulation",
            self.seed,
            self.elapsed(),
            self.node,
            self.seed
        )
    }
}

/// A participant in the simulation.
///
/// The simulator calls one input method at a time with `ctx.now` set, then takes what the
/// node wrote with [`poll_transmit`](Node::poll_transmit) on each of its ports while the
/// network has room, like the run loop in the crate docs of `tether-core`. A node drains
/// its machines' events itself and checks its own invariants, failing through
/// [`Ctx::fail`]. Only [`handle_input`](Node::handle_input),
/// [`handle_eof`](Node::handle_eof), [`handle_timeout`](Node::handle_timeout),
/// [`poll_timeout`](Node::poll_timeout), [`poll_transmit`](Node::poll_transmit) and
/// [`port_finished`](Node::port_finished) must be written; the rest have defaults for
/// nodes that never dial, never accept or never crash.
pub trait Node {
    /// A short name for traces and failures ("client 1").
    fn name(&self) -> String;

    /// Called once when the run starts, at the origin of virtual time: dial here.
    fn start(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// A peer dialed this node; `port` is this node's end. Return false to refuse (the
    /// dialer gets a reset): the default, for nodes that do not listen.
    fn handle_accept(&mut self, ctx: &mut Ctx, port: Port) -> bool {
        let _ = (ctx, port);
        false
    }

    /// A connection this node dialed with [`Ctx::connect`] is established.
    fn handle_connected(&mut self, ctx: &mut Ctx, port: Port) {
        let _ = (ctx, port);
    }

    /// Bytes arrived on `port`, in order, cut anywhere.
    fn handle_input(&mut self, ctx: &mut Ctx, port: Port, data: &[u8]);

    /// The peer of `port` closed its write side: nothing more arrives on it.
    fn handle_eof(&mut self, ctx: &mut Ctx, port: Port);

    /// The connection of `port` was reset, or (before
    /// [`handle_connected`](Node::handle_connected)) refused: it is gone, bytes in flight
    /// are lost, and the network forgets the port. The default treats it as an EOF.
    fn handle_reset(&mut self, ctx: &mut Ctx, port: Port) {
        self.handle_eof(ctx, port);
    }

    /// Fires every deadline at or before `ctx.now`: the machines' and the node's own.
    /// Harmless when called early (a clock jump calls it on every node).
    fn handle_timeout(&mut self, ctx: &mut Ctx);

    /// The earliest instant the node wants `handle_timeout`.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The next bytes the node writes on `port`. Not called while the network is full
    /// (a slow reader on the other side): the node's own queue grows instead.
    fn poll_transmit(&mut self, port: Port) -> Option<Bytes>;

    /// The node is done with `port` (its machine is finished, or it gave the transport
    /// up): the network closes it after the bytes already taken, the peer reads EOF, and
    /// the port gets no more calls. A port the node does not know should answer true.
    fn port_finished(&self, port: Port) -> bool;

    /// The process crashed: forget every port and everything in memory. The network has
    /// already reset its connections (peers get a reset) and refuses dials until
    /// [`restart`](Node::restart). Only nodes marked with
    /// [`Sim::may_crash`](super::Sim::may_crash) are crashed.
    fn crash(&mut self, ctx: &mut Ctx) {
        ctx.fail(format_args!("{} cannot crash", self.name()))
    }

    /// The process starts again after a crash, with fresh state machines.
    fn restart(&mut self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// Checks that hold at every step: called after every step in which the node was
    /// called (an input, a timeout, bytes taken from it), as only those can change it.
    /// A condition that breaks with time alone (a deadline passed) needs a wake-up:
    /// return its instant from [`poll_timeout`](Node::poll_timeout).
    fn check(&self, ctx: &mut Ctx) {
        let _ = ctx;
    }

    /// Checks that hold once the run has gone quiet (nothing in flight, no deadline left).
    fn check_done(&self, ctx: &mut Ctx) {
        let _ = ctx;
    }
}
