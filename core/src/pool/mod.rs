//! The cluster layer: one link per peer node, addressed by [`NodeId`], in a [`Pool`].
//!
//! A pool is a node's side of the cluster. Calls name a node, not a connection: the
//! pool opens a link to the node on first use (a thousand calls to a new node make one
//! [`Event::Connect`]), shares it among every call, and forgets it when it fails, goes
//! silent or idles; the next call opens another. Peers that connect to us name their node
//! in the upgrade ([`NODE_ID_HEADER`]) and their link is registered as theirs, so either
//! side calls the other over one connection; two nodes that dial each other at once keep
//! the lower id's dial (the other is refused with 409 and waits for it, up to
//! [`Config::connect_timeout`], then dials again if calls still wait).
//!
//! - Links are named by [`LinkId`]s that carry a generation: an id of a link that is gone
//!   never reaches the one that took its slot.
//! - Calls wait in their node's queue (bounded by [`Config::queue`]) until its link is
//!   open and has room under `rpc.max_in_flight`. Every call ends exactly once:
//!   [`Event::Response`], or [`Event::Ended`] with [`EndReason::Unreachable`] (no link
//!   could be opened: back off), [`EndReason::ConnectionLost`] (the link was lost; `sent`
//!   says whether the node may have run it), [`EndReason::TimedOut`] or
//!   [`EndReason::Closed`] (shut down before it was sent).
//! - Liveness: pings on every open link; a link that stays silent past the heartbeat's
//!   timeout is dead, and goes at once: what it still had to write is dropped (as is a
//!   link's that did not open in time). By default any input is a sign of life, so a link
//!   busy receiving a large message is never declared dead. A link with nothing under way
//!   for `idle_timeout` closes.
//! - Deadlines of every link, waiting call and node sit in one heap, and links with bytes
//!   to write in a ready queue ([`Pool::poll_ready`]): no event scans every peer.
//!
//! # Run loop
//!
//! As for a [`Channel`](crate::rpc::Channel), with links named:
//!
//! 1. Feed one input: bytes read from a link ([`handle_input`](Pool::handle_input)), its
//!    EOF, its transport's fate ([`transport_open`](Pool::transport_open),
//!    [`transport_failed`](Pool::transport_failed)), a new connection
//!    ([`accept`](Pool::accept)), a deadline ([`handle_timeout`](Pool::handle_timeout)), or
//!    a command ([`call`](Pool::call), [`notify`](Pool::notify), [`respond`](Pool::respond),
//!    [`cancel`](Pool::cancel), [`shutdown`](Pool::shutdown)).
//! 2. For each link from [`poll_ready`](Pool::poll_ready), drain
//!    [`poll_transmit`](Pool::poll_transmit) into its transport.
//! 3. Drain [`poll_event`](Pool::poll_event): dial on `Connect`, drop the transport on
//!    `Disconnect` (after its last bytes), hand answers to their callers, serve requests.
//! 4. Sleep until [`poll_timeout`](Pool::poll_timeout) or the next input.
//!
//! [`EndReason::Unreachable`]: crate::rpc::EndReason::Unreachable
//! [`EndReason::ConnectionLost`]: crate::rpc::EndReason::ConnectionLost
//! [`EndReason::TimedOut`]: crate::rpc::EndReason::TimedOut
//! [`EndReason::Closed`]: crate::rpc::EndReason::Closed

mod config;
mod event;
mod lane;
mod link;
mod node;
mod observation;
mod slab;
mod state_machine;
mod stats;
mod timers;
mod view;

pub use config::Config;
pub use event::{Admission, Event};
pub use lane::{Lane, LANE_HEADER};
pub use node::{NodeId, NODE_ID_HEADER};
pub use observation::{CallOutcome, Observation};
pub use slab::LinkId;
pub use state_machine::Pool;
pub use stats::{Fault, PeerState, PeerStats, Stats};
pub use view::LinkView;
