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
//! - one forward clock jump (every node's timers fire).
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
//! [`run`] builds [`scenario::build`]: [`RpcClient`]s (bare `rpc::Endpoint`s, one per
//! server, dialed again when lost) against [`EchoServer`]s that may crash. Checked at
//! every step:
//! - every call ends exactly once, with `Response` or `Ended`, and by the end of the run;
//! - a `Response` carries exactly the params of its own call (servers echo them), so no
//!   answer reaches the wrong caller;
//! - `cancel` returns true exactly when the call is still open, and it then ends `Cancelled`;
//! - an EOF or reset ends every call in flight on that connection with `ConnectionLost`,
//!   and `Closed` comes only after every pending call ended;
//! - after `handle_timeout(now)`, every machine's `poll_timeout()` is `None` or later;
//! - memory: `buffered_input()` within `max_message_size` + a frame header once open (the
//!   head limit before), `pending_transmit()` within what the node may have asked to send
//!   plus the core's bounded control frames, calls in flight within `max_in_flight`;
//! - once the run goes quiet every machine is finished.
//!
//! # Your own nodes
//!
//! Implement [`Node`] for a type holding your state machines and logic, add instances to
//! a [`Sim`], run it, and check what you expect in [`Node::check`] /
//! [`Node::check_done`] (the helpers in [`checks`] cover the core's own promises).
//! `tests/examples/sim_kv.rs` is a small, complete example; `tests/README.md` walks
//! through it.

mod echo_server;
mod faults;
mod net;
mod net_session;
mod node;
mod notes;
mod rng;
mod rpc_client;
mod session_node;
mod simulator;

pub mod checks;
pub mod scenario;

pub use echo_server::{EchoServer, NoteSink};
pub use faults::{Faults, Plan};
pub use net_session::NetSession;
pub use node::{Ctx, Node, NodeId, Port};
pub use notes::NoteLedger;
pub use rng::{SimRng, Trace};
pub use rpc_client::{RpcClient, RpcClientConfig};
pub use scenario::run;
pub use session_node::SessionNode;
pub use simulator::{Outcome, Sim};
