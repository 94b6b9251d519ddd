//! A deterministic simulator: tether's state machines over a simulated network, in
//! virtual time, every choice drawn from one seed (issue 8).
//!
//! # Model
//!
//! A [`Sim`] holds [`Node`]s. A node owns state machines (one per [`Port`], an end of a
//! connection) and the application logic around them. Nodes dial each other by
//! [`NodeId`] with [`Ctx::connect`]; the network delivers the dial after a latency, and
//! the target accepts it ([`Node::handle_accept`], a new port) or refuses it (it is down,
//! or does not listen). Each connection is two ordered byte streams with their own
//! latency and jitter; bytes written are cut at random boundaries; a direction holds at
//! most a window of bytes in flight, after which the writer is not read from, so its own
//! queue grows (back-pressure).
//!
//! Faults ([`Faults`]), all drawn from the seed and all starting inside a fault window:
//! - connection resets (both ends get [`Node::handle_reset`], bytes in flight are lost);
//! - silent partitions between two nodes (nothing is delivered for a while, then
//!   everything is; dials wait too);
//! - slow readers (a node stops reading for a while: bytes pile up in the network, then
//!   in its peers' machines);
//! - crashes of nodes marked [`Sim::may_crash`] (their connections reset, dials refused,
//!   state forgotten via [`Node::crash`]) and their restart ([`Node::restart`]);
//! - one forward clock jump (every node's timers fire);
//! - slow links, when [`Faults::slow_link_percent`] is set (the pool run): a connection
//!   dialed in the fault window gets a bandwidth and a long latency, so a large message
//!   trickles in over seconds (congestion that clears when the fault window ends).
//!
//! The network's own record, for checks that need it: [`Ctx::plan`] (partitions, stalls,
//! crashes, the jump) and [`Ctx::conn_broken_between`] (connections it reset, dials
//! refused).
//!
//! The loop picks the earliest due thing (a fault, a piece of bytes, a node's deadline),
//! hands it to its node, takes what the nodes wrote ([`Node::poll_transmit`]) while the
//! network has room, and runs every node's [`Node::check`]. Nothing reads a clock (one
//! real `Instant` is the origin), the OS's randomness, or iterates a hash map, so a seed
//! replays byte for byte: [`Outcome::trace`] hashes every byte delivered, every event
//! seen and every fault, to show it. A broken invariant panics with the seed and the
//! command that replays it ([`Ctx::fail`]).
//!
//! # The test command's run
//!
//! [`run`] builds [`scenario::build`] from the seed: two [`RpcClient`]s (bare
//! `rpc::Channel`s, one per server, dialed again when lost) and two [`SessionNode`]s of
//! two `session::Session`s each, against two [`EchoServer`]s that may crash. Checked at
//! every step:
//! - every call ends exactly once, and by the end of the run; an answer carries exactly
//!   its own call's params (servers echo them), so none reaches the wrong caller;
//! - endings are honest: `cancel` returns true exactly when the call is open and it then
//!   ends `Cancelled`; an EOF or reset ends the calls in flight on that connection with
//!   `ConnectionLost`; a session's `TimedOut` comes at the deadline, `ConnectionLost`
//!   only with a dropped link, `Failed` and `Closed` only in those states;
//! - after `handle_timeout(now)`, every machine's `poll_timeout()` is `None` or later;
//! - memory: `buffered_input()` within `max_message_size` + a frame header once open (the
//!   head limit before); `pending_transmit()` within what the node may have asked to
//!   send plus the core's bounded control frames; calls in flight within
//!   `max_in_flight`; a session's queue within its limits (plus re-queued calls);
//! - a session's states move along the documented edges; a link silent for longer than
//!   the heartbeat's `interval + timeout` is dropped by then;
//! - numbered notifications arrive in order, none twice, and one is missing only where
//!   the session changed links around it;
//! - after the last fault every session is `Connected` again within a bound, drains its
//!   queue, gets a last call answered and closes; every machine is finished at the end.
//!
//! [`pool_scenario::run`] is the cluster layer's run: four [`PoolNode`]s, each one
//! `pool::Pool` wired to the network as a driver would (dial on `Connect`, `accept` on a
//! dial, bytes only from links `poll_ready` names, large messages parsed aside and handed
//! back, `release` for a reset transport),
//! every node liable to crash and restart with a fresh pool under the same node id, and
//! slow links on top of the usual faults. Each node calls random peers (some calls large,
//! half of those on the bulk lane, some echoed back large, some cancelled) and answers
//! its peers after a delay; once the faults are over, every node calls every other every
//! 500 ms, the nodes' links are compared at one instant, and the pools shut down.
//! Checked, each failure naming its invariant:
//! 1. every call ends exactly once (an answer, an ending, or a `cancel` that returned
//!    true), by the end of the run unless its node crashed; an answer names the node
//!    called and echoes the caller's node, life and call tag; a request comes on a link
//!    registered to its sender;
//! 2. no live, busy link is declared dead: `Fault::Silent` (on a control link) only after
//!    the heartbeat's `timeout` without a byte delivered to that link;
//! 3. one link per peer pair once calm: every calm call answered (one lost to a peer's
//!    idle close is made again), and at the snapshot each pair holds exactly one open
//!    control link to each other, both ends of one connection, and at most one bulk link;
//! 4. `Pool::stats` agree with the workload's counts (calls and failures, in total and
//!    per peer; in flight and queued within the calls still open);
//! 5. `Unreachable` only if, from the start of the link attempt the call waited on (less
//!    one connect timeout, for a crossing dial it was told to wait for) until it ended,
//!    the network failed the pair: the target down, a partition, a stall of either, the
//!    clock jump, a connection between them reset or a dial refused;
//! 6. a quorum counts only successes: the calls a node makes while faults may strike
//!    are taken three at a time as one replicated write (`replica::Quorum`), fed each
//!    call's outcome as it ends; a write is `Succeeded` exactly when two of its calls were
//!    answered with a result, `Failed` exactly when two failed, `Pending` before.
//!
//! # Your own nodes
//!
//! Implement [`Node`] for a type holding your state machines and logic, add instances to
//! a [`Sim`], run it, and check what you expect in [`Node::check`] /
//! [`Node::check_done`] (the helpers in [`checks`] cover the core's own promises;
//! [`NetSession`] wires a reconnecting session to the network). A raw-bytes echo, to show
//! the moves:
//!
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use tether_tests::sim::{Ctx, Faults, Node, NodeId, Port, Sim};
//!
//! /// Echoes whatever arrives, on every connection it accepts.
//! #[derive(Default)]
//! struct Echo {
//!     out: std::collections::BTreeMap<Port, Vec<u8>>,
//! }
//!
//! impl Node for Echo {
//!     fn name(&self) -> String { "echo".into() }
//!     fn handle_accept(&mut self, _: &mut Ctx, port: Port) -> bool {
//!         self.out.insert(port, Vec::new());
//!         true
//!     }
//!     fn handle_input(&mut self, _: &mut Ctx, port: Port, data: &[u8]) {
//!         self.out.entry(port).or_default().extend_from_slice(data);
//!     }
//!     fn handle_eof(&mut self, _: &mut Ctx, port: Port) { self.out.remove(&port); }
//!     fn handle_timeout(&mut self, _: &mut Ctx) {}
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//!     fn poll_transmit(&mut self, port: Port) -> Option<Bytes> {
//!         let out = self.out.get_mut(&port).filter(|o| !o.is_empty())?;
//!         Some(Bytes::from(std::mem::take(out)))
//!     }
//!     fn port_finished(&self, port: Port) -> bool { !self.out.contains_key(&port) }
//! }
//!
//! /// Sends "ping" once connected and expects it back.
//! struct Pinger { server: NodeId, port: Option<Port>, sent: bool, got: Vec<u8> }
//!
//! impl Node for Pinger {
//!     fn name(&self) -> String { "pinger".into() }
//!     fn start(&mut self, ctx: &mut Ctx) { self.port = Some(ctx.connect(self.server)); }
//!     fn handle_input(&mut self, _: &mut Ctx, _: Port, data: &[u8]) {
//!         self.got.extend_from_slice(data);
//!     }
//!     fn handle_eof(&mut self, _: &mut Ctx, _: Port) {}
//!     fn handle_timeout(&mut self, _: &mut Ctx) {}
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//!     fn poll_transmit(&mut self, _: Port) -> Option<Bytes> {
//!         (!std::mem::replace(&mut self.sent, true)).then(|| Bytes::from_static(b"ping"))
//!     }
//!     // Done once the echo is back: the network closes the connection.
//!     fn port_finished(&self, _: Port) -> bool { self.got.len() == 4 }
//!     fn check_done(&self, ctx: &mut Ctx) {
//!         if self.got != b"ping" {
//!             ctx.fail(format_args!("got {:?}", self.got));
//!         }
//!     }
//! }
//!
//! let mut sim = Sim::new(42, Faults::none());
//! let server = sim.add_node(Box::new(Echo::default()));
//! sim.add_node(Box::new(Pinger { server, port: None, sent: false, got: Vec::new() }));
//! let outcome = sim.run();
//! assert!(outcome.steps > 0);
//! ```
//!
//! `tests/examples/sim_kv.rs` is a complete example on tether's own machines: a
//! key-value server over `rpc::Channel`s and clients over sessions, checking every read
//! against what was written; `tests/README.md` walks through it.

mod echo_server;
mod faults;
mod net;
mod net_session;
mod node;
mod notes;
mod pool_node;
mod pool_writes;
mod rng;
mod rpc_client;
mod session_node;
mod simulator;

pub mod checks;
pub mod pool_checks;
pub mod pool_scenario;
pub mod scenario;

pub use echo_server::{EchoServer, NoteSink};
pub use faults::{Faults, Plan};
pub use net_session::NetSession;
pub use node::{Ctx, Node, NodeId, Port};
pub use notes::NoteLedger;
pub use pool_node::{pool_id, sim_id, PoolNode, Sabotage, Workload};
pub use rng::{SimRng, Trace};
pub use rpc_client::{RpcClient, RpcClientConfig};
pub use scenario::run;
pub use session_node::SessionNode;
pub use simulator::{Outcome, Sim};
