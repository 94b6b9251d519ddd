//! The demo: a replicated key-value store on openraft and tether.
//!
//! A node ([`KvNode`]) is one tether port serving three sets of JSON-RPC methods:
//!
//! | methods | what | |
//! |---|---|---|
//! | `raft/vote`, `raft/pre_vote`, `raft/append`, `raft/snapshot`, `raft/transfer_leader` | Raft between the nodes | [`methods`](crate::methods) |
//! | `mgmt/init`, `mgmt/add_learner`, `mgmt/change_membership`, `mgmt/metrics`, `mgmt/peers` | management | [`Init`], [`AddLearner`], [`ChangeMembership`], [`Metrics`], [`PoolStats`] |
//! | `kv/write`, `kv/read`, `kv/read_index` | the store | [`Write`], [`Read`] |
//!
//! `kv/write` commits through the leader: a follower forwards it there and answers with the
//! leader's answer, or, if it knows no leader or the write was already forwarded once,
//! with error [`NOT_LEADER`](codes::NOT_LEADER) naming the leader it knows. `kv/read` is
//! linearizable on every node (openraft's follower read): the leader confirms its
//! leadership with a quorum and names its read index, the commit index at that moment
//! (`Raft::get_read_linearizer`; a follower asks the leader for it with `kv/read_index`);
//! the node asked waits until its own state machine has applied that far and answers from
//! it, or answers [`BEHIND`](codes::BEHIND) if it cannot within 5 s. `mgmt/peers` shows the
//! node's pool ([`PoolStats`]): each peer's link, calls, latencies and bytes.
//!
//! The log ([`LogStore`]) and the map ([`StateMachine`]) live in memory; snapshots are the
//! map as JSON.

mod api;
mod config;
mod log_store;
mod node;
mod state_machine;
mod types;

pub use api::{
    codes, ADD_LEARNER, CHANGE_MEMBERSHIP, INIT, METRICS, PEERS, READ, READ_INDEX, WRITE,
};
pub use config::{Kv, KvTokio};
pub use log_store::LogStore;
pub use node::{KvNode, NodeConfig};
pub use state_machine::StateMachine;
pub use types::{
    AddLearner, ChangeMembership, Changed, Init, Metrics, PeerStats, PoolStats, Read, Request,
    Response, Value, Write, Written,
};
