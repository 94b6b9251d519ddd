//! The JSON-RPC methods of a Raft node's network, and the error codes their handlers
//! answer with.
//!
//! Every method takes one JSON object as params: openraft's own request types, serialized
//! with its `serde` feature, so the wire format follows the openraft release in use.

/// RequestVote: params `VoteRequest`, result `VoteResponse`. Control lane.
pub const VOTE: &str = "raft/vote";
/// Pre-Vote (asks whether a vote would be granted, changes nothing): params and result as
/// [`VOTE`]. Control lane.
pub const PRE_VOTE: &str = "raft/pre_vote";
/// AppendEntries, heartbeats included: params `AppendEntriesRequest`, result
/// `AppendEntriesResponse`. Control lane, or the bulk lane past
/// [`NetworkConfig::bulk_threshold`](crate::NetworkConfig::bulk_threshold).
pub const APPEND: &str = "raft/append";
/// One chunk of a full snapshot: params [`SnapshotChunk`](crate::SnapshotChunk), result
/// `null` for every chunk but the last, and `SnapshotResponse` for the last, answered once
/// the snapshot is installed. Bulk lane.
pub const SNAPSHOT: &str = "raft/snapshot";
/// TransferLeader: params `TransferLeaderRequest`, result `TransferLeaderResponse`. Control
/// lane.
pub const TRANSFER_LEADER: &str = "raft/transfer_leader";

/// The error codes a Raft node's handlers answer with (application codes, outside
/// JSON-RPC's reserved range).
pub mod code {
    /// The node serves the methods but its Raft is not started yet: try later.
    pub const NOT_READY: i64 = 1001;
    /// The node's Raft has stopped (openraft's `Fatal`); `data` holds the error.
    pub const FATAL: i64 = 1002;
    /// A snapshot chunk that does not continue the transfer in progress (a lost or
    /// repeated chunk, or a transfer that restarted): the sender starts over.
    pub const SNAPSHOT_OUT_OF_ORDER: i64 = 1003;
    /// A snapshot larger than the receiver accepts.
    pub const SNAPSHOT_TOO_LARGE: i64 = 1004;
}
