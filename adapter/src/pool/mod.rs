//! The cluster layer on a runtime: a node's [`Peers`], one link per peer node.
//!
//! The core's [`Pool`](tether_core::pool::Pool) decides everything (which link a call
//! goes on, when a link opens, is dead, idles, or closes, which of two crossing dials
//! stays); this module runs it: one task per transport that moves bytes, one ticker for
//! every deadline, the pool itself shared behind a lock that is never held across an
//! await (see `driver`). The wire format and the node-id handshake are in PROTOCOL.md.
//!
//! Calls end with their result or a [`NodeError`] naming the node and what happened.

mod config;
mod driver;
mod error;
mod in_flight;
mod link;
#[cfg(feature = "metrics")]
mod metrics;
mod observe;
mod peers;
mod replicas;

pub use config::{MetricsConfig, PeersConfig};
pub use error::NodeError;
pub use peers::Peers;
pub use replicas::{NodeOutcome, ReadError, ReplicaConfig, Replicas, WriteError, WriteReport};
pub use tether_core::pool::{
    CallOutcome, Config as PoolConfig, Fault, Lane, LinkId, NodeId, Observation, PeerState,
    PeerStats, Stats, LANE_HEADER, NODE_ID_HEADER,
};
pub use tether_core::replica::{HedgeBudget, Order, Outcome, RetryBudget, RetryPolicy, Verdict};
