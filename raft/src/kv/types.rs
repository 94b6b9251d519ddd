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
    /// Set by the follower that forwards it.
    #[serde(default)]
    pub forwarded: bool,
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
    /// The voters.
    pub voters: Vec<u64>,
    /// openraft's metrics, as its serde gives them.
    pub raft: serde_json::Value,
}
