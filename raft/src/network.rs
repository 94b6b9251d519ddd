//! openraft's network over tether's [`Peers`]: the factory [`Network`] and the [`Client`]
//! it makes for each peer.
//!
//! Which link each call takes:
//!
//! - votes, pre-votes, heartbeats and small appends: the peer's **control** link;
//! - appends whose encoded request is larger than [`NetworkConfig::bulk_threshold`], and
//!   every snapshot chunk: the peer's **bulk** link.
//!
//! So a heartbeat never waits behind a snapshot chunk or a large append on the same socket
//! (RFC 6455 does not interleave messages), and the leader keeps its followers while a
//! lagging one catches up. openraft replicates to one peer one request at a time, so an
//! append moving between the lanes never overtakes the one before it.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use openraft::error::{RPCError, ReplicationClosed, StreamingError};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::RaftTypeConfig;
use openraft::{BasicNode, OptionalSend, RPCTypes, RaftNetworkFactory, RaftNetworkV2};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;
use tether_adapter::pool::{Lane, NodeId, Peers};
use tether_adapter::Runtime;
use tracing::{debug, warn};

use crate::errors::{rpc_error, streaming_error, Attempt};
use crate::methods;
use crate::snapshot::chunks;

/// How the network uses the pool.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// An append whose encoded request is larger than this many bytes goes on the bulk
    /// lane (default 64 KiB).
    pub bulk_threshold: usize,
    /// The deadline of each snapshot chunk, the last one's install included; `None` (the
    /// default) takes the soft deadline openraft gives the transfer, which it derives from
    /// `Config::install_snapshot_timeout`.
    pub chunk_timeout: Option<Duration>,
    /// The largest snapshot chunk, whatever openraft's `snapshot_max_chunk_size` says
    /// (default 4 MiB; base64 makes it a third larger on the wire).
    pub max_chunk: usize,
    /// The deadline of an append on the bulk lane (default 10 s), when longer than the one
    /// openraft gives. openraft gives every append three quarters of a heartbeat interval,
    /// fit for a heartbeat but not for an append of megabytes, whose time grows with its
    /// size; and it sends a timed-out append again at once, whole, so one that cannot make
    /// the deadline would never get through and its follower never catch up.
    pub bulk_timeout: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            bulk_threshold: 64 << 10,
            chunk_timeout: None,
            max_chunk: 4 << 20,
            bulk_timeout: Duration::from_secs(10),
        }
    }
}

/// openraft's [`RaftNetworkFactory`] over a node's [`Peers`]: one [`Client`] per peer, all
/// sharing the pool's links. A peer's address is its `BasicNode::addr` in the membership,
/// a `ws://` or `wss://` URL.
#[derive(Debug, Clone)]
pub struct Network<R: Runtime> {
    peers: Peers<R>,
    config: Arc<NetworkConfig>,
}

impl<R: Runtime> Network<R> {
    /// The network of the node whose pool is `peers`.
    pub fn new(peers: Peers<R>, config: NetworkConfig) -> Network<R> {
        Network {
            peers,
            config: Arc::new(config),
        }
    }
}

impl<R, C> RaftNetworkFactory<C> for Network<R>
where
    R: Runtime,
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode>,
{
    type Network = Client<R>;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Client<R> {
        // A bad address leaves the peer without one: its calls end `Unreachable`, and
        // openraft backs off; the membership is what has to change.
        if let Err(error) = self.peers.add_peer(NodeId(target), &node.addr) {
            warn!(target, addr = %node.addr, %error, "peer address not usable");
        }
        Client {
            peers: self.peers.clone(),
            target,
            config: self.config.clone(),
            transfers: AtomicU64::new(0),
        }
    }
}

/// openraft's [`RaftNetworkV2`] to one peer, over the pool's links to it.
///
/// Snapshot data is the state machine's bytes (`Vec<u8>`), sent in chunks on the bulk
/// lane (see [`SnapshotChunk`](crate::SnapshotChunk)).
///
/// # Errors
///
/// openraft acts on the kind of error: on [`Unreachable`] it backs off before calling the
/// node again, on [`NetworkError`] it retries at once, on [`Timeout`] it retries at once
/// too (a slow node is no reason to wait longer). tether's [`CallError`] says which one
/// happened:
///
/// | [`CallError`] | openraft | why |
/// |---|---|---|
/// | `Unreachable` | [`Unreachable`] | no link could be opened: back off |
/// | `ConnectionLost { .. }` | [`NetworkError`] | the link broke; the pool dials again on the next call |
/// | `Timeout` | [`Timeout`] | no answer within the deadline |
/// | `Rpc(error)` | [`Unreachable`] carrying the error | the node answered but cannot serve (see below) |
/// | anything else | [`Unreachable`] | local trouble (pool closed, queue full, a reply that does not decode) that an immediate retry would not cure |
///
/// A remote error: openraft 0.10's `RaftNetworkV2` returns `RPCError<C>` whose
/// `RemoteError` variant carries `Infallible`, so it cannot be built; openraft ranks a remote
/// error with `Unreachable` anyway (both back off), and the node's answers that are errors
/// (not started, stopped, a snapshot chunk out of order) all mean "not now". So the error
/// object goes to openraft inside an [`Unreachable`], its code and message kept.
///
/// [`Unreachable`]: openraft::error::Unreachable
/// [`NetworkError`]: openraft::error::NetworkError
/// [`Timeout`]: openraft::error::Timeout
/// [`CallError`]: tether_adapter::rpc::CallError
#[derive(Debug)]
pub struct Client<R: Runtime> {
    peers: Peers<R>,
    target: u64,
    config: Arc<NetworkConfig>,
    /// Numbers this client's snapshot transfers.
    transfers: AtomicU64,
}

impl<R: Runtime> Client<R> {
    /// Calls `method` with `params` (already encoded) on `lane`, within `timeout`.
    async fn call<C, T>(
        &self,
        action: RPCTypes,
        lane: Lane,
        method: &str,
        params: &RawValue,
        timeout: Duration,
    ) -> Result<T, RPCError<C>>
    where
        C: RaftTypeConfig<NodeId = u64>,
        T: DeserializeOwned,
    {
        let attempt = Attempt::<C> {
            action,
            from: self.peers.node().0,
            target: self.target,
            timeout,
        };
        self.peers
            .call_on(NodeId(self.target), lane, method, params, Some(timeout))
            .await
            .map_err(|e| rpc_error(attempt, e))
    }

    /// A small request on the control lane.
    async fn control<C, P, T>(
        &self,
        action: RPCTypes,
        method: &str,
        params: &P,
        option: &RPCOption,
    ) -> Result<T, RPCError<C>>
    where
        C: RaftTypeConfig<NodeId = u64>,
        P: Serialize,
        T: DeserializeOwned,
    {
        let params = encode::<C, _>(params)?;
        self.call(action, Lane::Control, method, &params, option.soft_ttl())
            .await
    }
}

/// Requests as JSON, once: an append's size picks its lane.
fn encode<C: RaftTypeConfig, P: Serialize>(params: &P) -> Result<Box<RawValue>, RPCError<C>> {
    serde_json::value::to_raw_value(params).map_err(|e| {
        // Our own types failing to encode is a bug, not the peer's doing; openraft retries.
        RPCError::Network(openraft::error::NetworkError::new(&e))
    })
}

impl<R, C> RaftNetworkV2<C> for Client<R>
where
    R: Runtime,
    C: RaftTypeConfig<NodeId = u64, Node = BasicNode>,
{
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<C>, RPCError<C>> {
        let params = encode::<C, _>(&rpc)?;
        let (lane, timeout) = if params.get().len() > self.config.bulk_threshold {
            (Lane::Bulk, option.soft_ttl().max(self.config.bulk_timeout))
        } else {
            (Lane::Control, option.soft_ttl())
        };
        self.call(
            RPCTypes::AppendEntries,
            lane,
            methods::APPEND,
            &params,
            timeout,
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.control(RPCTypes::Vote, methods::VOTE, &rpc, &option)
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<C>,
        option: RPCOption,
    ) -> Result<VoteResponse<C>, RPCError<C>> {
        self.control(RPCTypes::Vote, methods::PRE_VOTE, &rpc, &option)
            .await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<C>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<C>, RPCError<C>> {
        self.control(
            RPCTypes::TransferLeader,
            methods::TRANSFER_LEADER,
            &req,
            &option,
        )
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<C>,
        snapshot: SnapshotOf<C, Vec<u8>>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>> {
        let cancelled = async { Err(StreamingError::Closed(cancel.await)) };
        future::or(cancelled, self.send_snapshot(vote, snapshot, &option)).await
    }
}

impl<R: Runtime> Client<R> {
    /// Sends `snapshot` chunk by chunk on the bulk lane, each within its own deadline, and
    /// gives the follower's answer to the last. Dropping the future (openraft cancelling
    /// the transfer) cancels the chunk in flight.
    async fn send_snapshot<C>(
        &self,
        vote: VoteOf<C>,
        snapshot: SnapshotOf<C, Vec<u8>>,
        option: &RPCOption,
    ) -> Result<SnapshotResponse<C>, StreamingError<C>>
    where
        C: RaftTypeConfig<NodeId = u64, Node = BasicNode>,
    {
        let chunk_size = option
            .snapshot_chunk_size()
            .unwrap_or(self.config.max_chunk)
            .clamp(1, self.config.max_chunk);
        let timeout = self.config.chunk_timeout.unwrap_or(option.soft_ttl());
        let transfer = self.transfers.fetch_add(1, Ordering::Relaxed);
        let attempt = Attempt::<C> {
            action: RPCTypes::InstallSnapshot,
            from: self.peers.node().0,
            target: self.target,
            timeout,
        };
        let size = snapshot.snapshot.len();
        debug!(target = self.target, size, chunk_size, "sending snapshot");
        let mut answer = None;
        for chunk in chunks::<C>(&vote, transfer, &snapshot, chunk_size) {
            let node = NodeId(self.target);
            answer = self
                .peers
                .call_on::<_, Option<SnapshotResponse<C>>>(
                    node,
                    Lane::Bulk,
                    methods::SNAPSHOT,
                    &chunk,
                    Some(timeout),
                )
                .await
                .map_err(|e| streaming_error(attempt.clone(), e))?;
        }
        answer.ok_or_else(|| {
            StreamingError::Network(openraft::error::NetworkError::from_string(format!(
                "node {} acknowledged the last chunk without installing",
                self.target
            )))
        })
    }
}
