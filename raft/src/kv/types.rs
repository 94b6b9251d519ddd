//! What the store's log holds and its state machine answers, and the params of its
//! methods.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A change to the store: an entry of the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Sets `key` to `value`.
    Set {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Removes `key`.
    Delete {
        /// The key.
        key: String,
    },
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Set { key, value } => write!(f, "set {key}={value}"),
            Request::Delete { key } => write!(f, "delete {key}"),
        }
    }
}

/// What applying a [`Request`] gave: the key's value before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The value the key had, if any.
    pub previous: Option<String>,
}

/// The result of `kv/write`: where the write is in the log, and what it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The index of the write's log entry.
    pub index: u64,
    /// The node that committed it (the leader then).
    pub leader: u64,
    /// What the state machine answered.
    pub response: Response,
}

/// The params of `kv/write`: a [`Request`], and whether a follower already forwarded it (a
/// forwarded write is not forwarded again).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Write {
    /// The change.
    #[serde(flatten)]
    pub request: Request,
    /// Set by the follower that forwards it.
    #[serde(default)]
    pub forwarded: bool,
}

/// The params of `kv/read`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Read {
    /// The key.
    pub key: String,
}

/// The result of `kv/read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    /// The key's value, if it has one.
    pub value: Option<String>,
}

/// The params of `mgmt/init`: the first members and their `ws://` URLs. Empty: this node
/// and every peer it was started with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Init {
    /// Node id to URL.
    #[serde(default)]
    pub nodes: BTreeMap<u64, String>,
}

/// The params of `mgmt/add_learner`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddLearner {
    /// The new node.
    pub node: u64,
    /// Its `ws://` URL.
    pub addr: String,
}

/// The params of `mgmt/change_membership`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeMembership {
    /// The voters from now on (learners not named stay learners).
    pub members: Vec<u64>,
}

/// The result of `mgmt/add_learner` and `mgmt/change_membership`: the index of the
/// membership's log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    /// The log index.
    pub index: u64,
}

/// The result of `mgmt/metrics`: the essentials, and openraft's `RaftMetrics` whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metrics {
    /// This node.
    pub id: u64,
    /// `Leader`, `Follower`, `Candidate`, `Learner` or `Shutdown`.
    pub state: String,
    /// The current term.
    pub term: u64,
    /// The leader, if known.
    pub leader: Option<u64>,
    /// The last log index.
    pub last_log_index: Option<u64>,
    /// The last applied log index.
    pub last_applied: Option<u64>,
    /// The last index of this node's current snapshot, built here or installed.
    pub snapshot: Option<u64>,
    /// The last index of the last snapshot this node installed from a leader: set once it
    /// caught up by snapshot.
    pub installed_snapshot: Option<u64>,
    /// The log is purged up to this index (it is in the snapshot).
    pub purged: Option<u64>,
    /// The voters.
    pub voters: Vec<u64>,
    /// Every member, voter or learner, by id: the URL it is reached at.
    #[serde(default)]
    pub nodes: BTreeMap<u64, String>,
    /// openraft's metrics, as its serde gives them.
    pub raft: serde_json::Value,
}

/// The result of `mgmt/peers`: this node's pool as
/// [`Peers::stats`](tether_adapter::pool::Peers::stats) sees it, in JSON's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStats {
    /// The node whose pool this is.
    pub node: u64,
    /// Links it holds: to and from peers on every lane, and from clients.
    pub links: usize,
    /// Calls it made through the pool.
    pub calls: u64,
    /// Of those, ended without an answer.
    pub failures: u64,
    /// Every peer it knows, in node order.
    pub peers: Vec<PeerStats>,
}

/// One peer in [`PoolStats`]: its link and the calls made to it. Durations are in
/// microseconds; `None` where nothing was measured yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStats {
    /// The peer.
    pub node: u64,
    /// Its link: `idle`, `connecting`, `up` or `down`.
    pub state: String,
    /// Calls made to it.
    pub calls: u64,
    /// Of those, ended without an answer (a remote error is an answer).
    pub failures: u64,
    /// Links opened to or from it after its first.
    pub reconnects: u64,
    /// Bytes read from its links.
    pub bytes_in: u64,
    /// Bytes written to its links.
    pub bytes_out: u64,
    /// Calls written and not answered yet.
    pub in_flight: usize,
    /// Calls waiting for its link.
    pub queued: usize,
    /// Why its last link failed, if one did: `unreachable`, `refused 409`, `silent`, `lost`,
    /// `protocol: …`.
    pub last_error: Option<String>,
    /// How long ago its last byte came.
    pub last_seen_us: Option<u64>,
    /// Ping round trip, median.
    pub rtt_p50_us: Option<u64>,
    /// Ping round trip, 99th percentile.
    pub rtt_p99_us: Option<u64>,
    /// Time from call to answer, median.
    pub call_p50_us: Option<u64>,
    /// Time from call to answer, 95th percentile.
    pub call_p95_us: Option<u64>,
    /// Time from call to answer, 99th percentile.
    pub call_p99_us: Option<u64>,
}
