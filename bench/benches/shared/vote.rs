//! The params and result of the JSON-RPC `echo` the `rpc` bench and the `rpc_load` example
//! call: what a Raft `RequestVote` carries, about 80 bytes of JSON. Included by both with
//! `#[path]` (the bench library has serde only as a dev-dependency).

use jsonrpsee::core::traits::ToRpcParams;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRequest {
    pub term: u64,
    pub candidate: String,
    pub last_log_index: u64,
    pub last_log_term: u64,
}

/// The request every call sends.
pub fn vote() -> VoteRequest {
    VoteRequest {
        term: 7,
        candidate: "node-3".to_owned(),
        last_log_index: 1234,
        last_log_term: 6,
    }
}

/// jsonrpsee takes params through its own trait; this hands it the same serde value the
/// tether client serializes.
pub struct Params<'a>(pub &'a VoteRequest);

impl ToRpcParams for Params<'_> {
    fn to_rpc_params(self) -> Result<Option<Box<RawValue>>, serde_json::Error> {
        serde_json::value::to_raw_value(self.0).map(Some)
    }
}
