//! The server side of the network: the `raft/*` methods on a node's router, answered by
//! its [`Raft`].

use std::fmt::Display;
use std::sync::{Arc, OnceLock};

use openraft::raft::{TransferLeaderRequest, VoteRequest};
use openraft::storage::RaftStateMachine;
use openraft::{Raft, RaftTypeConfig};
use serde::Serialize;
use tether_adapter::rpc::{ErrorObject, Router};

use crate::methods::{self, code};
use crate::snapshot::{Received, SnapshotChunk, SnapshotInbox};

/// A node's [`Raft`], set once it is built.
///
/// The `raft/*` methods must be on the router before the pool is bound, and the pool before
/// the Raft (its network is the pool): the handlers hold this cell, and answer
/// [`code::NOT_READY`] until [`set`](Self::set) fills it.
pub struct RaftCell<C: RaftTypeConfig, SM: RaftStateMachine<C>> {
    raft: Arc<OnceLock<Raft<C, SM>>>,
}

impl<C: RaftTypeConfig, SM: RaftStateMachine<C>> Clone for RaftCell<C, SM> {
    fn clone(&self) -> Self {
        RaftCell {
            raft: self.raft.clone(),
        }
    }
}

impl<C: RaftTypeConfig, SM: RaftStateMachine<C>> Default for RaftCell<C, SM> {
    fn default() -> Self {
        RaftCell {
            raft: Arc::new(OnceLock::new()),
        }
    }
}

impl<C: RaftTypeConfig, SM: RaftStateMachine<C>> RaftCell<C, SM> {
    /// Fills the cell; `false` if it was already full (the cell keeps its first Raft).
    pub fn set(&self, raft: Raft<C, SM>) -> bool {
        self.raft.set(raft).is_ok()
    }

    /// The Raft, or the error a handler answers while there is none.
    pub fn get(&self) -> Result<&Raft<C, SM>, ErrorObject> {
        self.raft
            .get()
            .ok_or_else(|| ErrorObject::new(code::NOT_READY, "raft not started"))
    }
}

/// A Raft error as the error object a handler answers with: [`code::FATAL`], the error
/// itself as `data`. The `raft/*` methods fail only when the node's Raft has stopped.
pub fn fatal<T: Serialize + Display>(error: &T) -> ErrorObject {
    let mut object = ErrorObject::new(code::FATAL, error.to_string());
    object.data = serde_json::value::to_raw_value(error).ok();
    object
}

/// Serves the `raft/*` methods ([`methods`]) on `router`, answered by the Raft in `raft`;
/// snapshot chunks are put together in `inbox`.
pub fn route<C, SM>(router: &mut Router, raft: RaftCell<C, SM>, inbox: Arc<SnapshotInbox<C>>)
where
    C: RaftTypeConfig,
    SM: RaftStateMachine<C, SnapshotData = Vec<u8>>,
{
    let cell = raft.clone();
    router.insert(methods::VOTE, move |req: VoteRequest<C>| {
        let cell = cell.clone();
        async move { cell.get()?.vote(req).await.map_err(|e| fatal(&e)) }
    });
    let cell = raft.clone();
    router.insert(methods::PRE_VOTE, move |req: VoteRequest<C>| {
        let cell = cell.clone();
        async move { cell.get()?.pre_vote(req).await.map_err(|e| fatal(&e)) }
    });
    let cell = raft.clone();
    router.insert(methods::APPEND, move |req| {
        let cell = cell.clone();
        async move { cell.get()?.append_entries(req).await.map_err(|e| fatal(&e)) }
    });
    let cell = raft.clone();
    router.insert(
        methods::TRANSFER_LEADER,
        move |req: TransferLeaderRequest<C>| {
            let cell = cell.clone();
            async move {
                let raft = cell.get()?;
                raft.handle_transfer_leader(req)
                    .await
                    .map_err(|e| fatal(&e))
            }
        },
    );
    let cell = raft;
    router.insert(methods::SNAPSHOT, move |chunk: SnapshotChunk<C>| {
        let cell = cell.clone();
        let inbox = inbox.clone();
        async move {
            let raft = cell.get()?;
            match inbox.receive(chunk)? {
                Received::More => Ok(None),
                Received::Complete(vote, snapshot) => raft
                    .install_full_snapshot(vote, snapshot)
                    .await
                    .map(Some)
                    .map_err(|e| fatal(&e)),
            }
        }
    });
}
