//! [`KvNode`]: a store node, its Raft and its pool on one port.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::network::NetSnapshot;
use openraft::{AsyncRuntime, Raft, RaftNetworkFactory};
use tether_adapter::pool::{NodeId, Peers, PeersConfig};
use tether_adapter::rpc::Router;
use tether_adapter::Runtime;

use super::api::{self, App};
use super::{Kv, LogStore, Metrics, StateMachine};
use crate::{Network, NetworkConfig, RaftCell, SnapshotInbox};

/// How a store node starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id.
    pub id: u64,
    /// Where it listens (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// Peers known at start, by id: their `ws://` URLs. `mgmt/init` without params makes
    /// them and this node the first members.
    pub peers: BTreeMap<u64, String>,
    /// openraft's settings.
    pub raft: openraft::Config,
    /// How the network uses the pool.
    pub network: NetworkConfig,
    /// The pool's settings; its node id is set to `id`.
    pub pool: PeersConfig,
    /// The largest snapshot this node accepts from a leader (default 1 GiB).
    pub max_snapshot: u64,
}

impl NodeConfig {
    /// Node `id` listening on `listen`, with the demo's Raft timings: heartbeats every
    /// 100 ms, elections after 1 to 2 s of silence, a snapshot every 5 000 entries, 10 s
    /// per snapshot chunk of at most 1 MiB; and a follower's log may go back to empty (a
    /// node restarted in memory).
    pub fn new(id: u64, listen: impl Into<String>) -> NodeConfig {
        NodeConfig {
            id,
            listen: listen.into(),
            peers: BTreeMap::new(),
            raft: openraft::Config {
                cluster_name: "tether-kv".into(),
                heartbeat_interval: 100,
                election_timeout_min: 1000,
                election_timeout_max: 2000,
                install_snapshot_timeout: 10_000,
                snapshot_max_chunk_size: 1 << 20,
                // The store is in memory: a follower that restarts comes back with an
                // empty log, and the leader must start its replication over rather than
                // panic at the "reverted" log. (What it acknowledged before is gone with
                // it, as with every in-memory node: the demo's caveat, not a database's.)
                allow_log_reversion: Some(true),
                ..Default::default()
            },
            network: NetworkConfig::default(),
            pool: PeersConfig::new(NodeId(id)),
            max_snapshot: 1 << 30,
        }
    }
}

/// A running store node: its [`Peers`] (the port, the links to the other nodes), its
/// [`Raft`], and the state machine both serve from.
///
/// `R` is tether's runtime and `Rt` openraft's; they must be the same executor
/// (`KvNode<Tokio, TokioRuntime>`).
pub struct KvNode<R: Runtime, Rt: AsyncRuntime> {
    app: Arc<App<R, Rt>>,
    url: String,
}

impl<R: Runtime, Rt: AsyncRuntime> KvNode<R, Rt> {
    /// Binds the port, serves the methods, and starts the Raft (uninitialised until
    /// `mgmt/init`, or until a leader adds it).
    pub async fn start(config: NodeConfig) -> io::Result<KvNode<R, Rt>> {
        let network = config.network.clone();
        Self::start_with(config, |peers| Network::new(peers.clone(), network)).await
    }

    /// As [`start`](Self::start), but the Raft talks to the other nodes over the network
    /// `network` makes, given the node's pool: the same node, log, state machine and
    /// methods on any openraft network. The pool still serves the `raft/*`, `mgmt/*` and
    /// `kv/*` methods; the members' `BasicNode::addr` (what `mgmt/init` is given) is what
    /// that network dials. The benchmark (`cargo bench -p tether-bench --bench raft`) runs
    /// the node this way over HTTP/1.1 and gRPC.
    pub async fn start_with<N>(
        config: NodeConfig,
        network: impl FnOnce(&Peers<R>) -> N,
    ) -> io::Result<KvNode<R, Rt>>
    where
        N: RaftNetworkFactory<Kv<Rt>>,
        N::Network: NetSnapshot<Kv<Rt>, SnapshotData = Vec<u8>>,
    {
        let raft_cell = RaftCell::<Kv<Rt>, StateMachine>::default();
        let app_cell = api::AppCell::<R, Rt>::default();
        let mut router = Router::default();
        let inbox = Arc::new(SnapshotInbox::new(config.max_snapshot));
        crate::route(&mut router, raft_cell.clone(), inbox);
        api::route(&mut router, &app_cell);

        let mut pool = config.pool;
        pool.pool.node = NodeId(config.id);
        let peers = Peers::<R>::bind(config.listen.as_str(), pool, router).await?;
        for (id, url) in &config.peers {
            peers
                .add_peer(NodeId(*id), url)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let addr = peers
            .local_addr()
            .ok_or_else(|| io::Error::other("the pool is not listening"))?;
        let url = format!("ws://{addr}/");
        let mut initial = config.peers.clone();
        initial.insert(config.id, url.clone());

        let raft_config = config
            .raft
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let state = StateMachine::default();
        let network = network(&peers);
        let raft = Raft::new(
            config.id,
            Arc::new(raft_config),
            network,
            LogStore::<Kv<Rt>>::default(),
            state.clone(),
        )
        .await
        .map_err(io::Error::other)?;
        raft_cell.set(raft.clone());
        let app = Arc::new(App {
            id: config.id,
            raft,
            peers,
            state,
            initial,
        });
        let _ = app_cell.set(app.clone());
        Ok(KvNode { app, url })
    }

    /// This node's id.
    pub fn id(&self) -> u64 {
        self.app.id
    }

    /// The URL peers and clients reach it at.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its Raft.
    pub fn raft(&self) -> &Raft<Kv<Rt>, StateMachine> {
        &self.app.raft
    }

    /// Its pool: the links to the other nodes, and their stats.
    pub fn peers(&self) -> &Peers<R> {
        &self.app.peers
    }

    /// Its state machine, as applied here.
    pub fn state_machine(&self) -> &StateMachine {
        &self.app.state
    }

    /// Where its Raft is: what `mgmt/metrics` answers.
    pub fn metrics(&self) -> Metrics {
        api::metrics(&self.app)
    }

    /// Stops the node: its Raft, then its pool (calls in flight get `grace` to finish).
    /// Peers see its links close and the node become unreachable.
    pub async fn shutdown(&self, grace: Duration) {
        if let Err(error) = self.app.raft.shutdown().await {
            tracing::warn!(%error, "raft did not stop cleanly");
        }
        self.app.peers.shutdown(grace).await;
    }
}
