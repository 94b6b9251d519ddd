//! The node's own methods: management (`mgmt/*`) and the store (`kv/*`), beside the
//! `raft/*` methods on the same router.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use openraft::error::{ClientWriteError, ForwardToLeader, LinearizableReadError, RaftError};
use openraft::raft::linearizable_read::{Linearizer, ReadLogId};
use openraft::raft::ClientWriteResponse;
use openraft::type_config::alias::LogIdOf;
use openraft::{AsyncRuntime, BasicNode, Raft, ReadPolicy};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_adapter::pool::{Fault, NodeId, PeerState, Peers};
use tether_adapter::rpc::{CallError, ErrorObject, Router};
use tether_adapter::Runtime;

use super::{
    AddLearner, ChangeMembership, Changed, Init, Kv, Metrics, PeerStats, PoolStats, Read,
    StateMachine, Value, Write, Written,
};
use crate::methods::code;
use crate::service::fatal;

/// `kv/write`: a change, committed through the leader.
pub const WRITE: &str = "kv/write";
/// `kv/read`: a key's value, linearizable, from the state machine of the node asked.
pub const READ: &str = "kv/read";
/// `kv/read_index`: the leader's read index, which a follower waits to have applied before
/// it answers a `kv/read` from its own state machine.
pub const READ_INDEX: &str = "kv/read_index";
/// `mgmt/init`: makes the first membership.
pub const INIT: &str = "mgmt/init";
/// `mgmt/add_learner`: a node that follows the log without voting.
pub const ADD_LEARNER: &str = "mgmt/add_learner";
/// `mgmt/change_membership`: the voters from now on.
pub const CHANGE_MEMBERSHIP: &str = "mgmt/change_membership";
/// `mgmt/metrics`: where this node's Raft is.
pub const METRICS: &str = "mgmt/metrics";
/// `mgmt/peers`: this node's pool: each peer's link and calls.
pub const PEERS: &str = "mgmt/peers";

/// How long a follower waits to apply the leader's read index before it answers a read with
/// [`codes::BEHIND`].
const CATCH_UP: Duration = Duration::from_secs(5);

/// The error codes of the `kv/*` and `mgmt/*` methods (beside [`code`]'s).
pub mod codes {
    /// This node is not the leader and did not forward: `data` is `{"leader": id or null}`.
    pub const NOT_LEADER: i64 = 1010;
    /// The leader could not be reached to forward to: `data` is `{"leader": id}`.
    pub const LEADER_UNREACHABLE: i64 = 1011;
    /// openraft refused the request (`data` holds its error): not initialisable, a
    /// membership change in progress, no quorum to read, …
    pub const REFUSED: i64 = 1012;
    /// A follower could not apply the leader's read index in time (it is catching up):
    /// `data` is `{"read_index": n, "applied": n or null}`.
    pub const BEHIND: i64 = 1013;
}

/// What the handlers work on, once the node is up.
pub(crate) struct App<R: Runtime, Rt: AsyncRuntime> {
    pub(crate) id: u64,
    pub(crate) raft: Raft<Kv<Rt>, StateMachine>,
    pub(crate) peers: Peers<R>,
    pub(crate) state: StateMachine,
    /// This node's URL and those of the peers it was started with: `mgmt/init`'s default.
    pub(crate) initial: BTreeMap<u64, String>,
}

/// Filled once the node is up; until then the methods answer [`code::NOT_READY`].
pub(crate) type AppCell<R, Rt> = Arc<OnceLock<Arc<App<R, Rt>>>>;

/// Serves the `kv/*` and `mgmt/*` methods on `router`.
pub(crate) fn route<R: Runtime, Rt: AsyncRuntime>(router: &mut Router, app: &AppCell<R, Rt>) {
    handle(router, app, WRITE, write);
    handle(router, app, READ, read);
    handle(router, app, READ_INDEX, |app, (): ()| async move {
        leader_read_index(&app).await
    });
    handle(router, app, INIT, init);
    handle(router, app, ADD_LEARNER, add_learner);
    handle(router, app, CHANGE_MEMBERSHIP, change_membership);
    handle(router, app, METRICS, |app, (): ()| async move {
        Ok(metrics(&app))
    });
    handle(router, app, PEERS, |app, (): ()| async move {
        Ok(pool_stats(&app))
    });
}

/// Routes `method` to `f`, given the app once it is there.
fn handle<R, Rt, P, T, F, Fut>(router: &mut Router, app: &AppCell<R, Rt>, method: &str, f: F)
where
    R: Runtime,
    Rt: AsyncRuntime,
    P: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
    F: Fn(Arc<App<R, Rt>>, P) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<T, ErrorObject>> + Send + 'static,
{
    let cell = app.clone();
    router.insert(method, move |params: P| {
        let app = cell.get().cloned();
        async move {
            let app = app.ok_or_else(|| ErrorObject::new(code::NOT_READY, "node not started"))?;
            f(app, params).await
        }
    });
}

async fn write<R: Runtime, Rt: AsyncRuntime>(
    app: Arc<App<R, Rt>>,
    write: Write,
) -> Result<Written, ErrorObject> {
    match app.raft.client_write(write.request.clone()).await {
        Ok(done) => Ok(Written {
            index: done.log_id.index,
            leader: app.id,
            response: done.data,
        }),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(to))) if !write.forwarded => {
            let write = Write {
                forwarded: true,
                ..write
            };
            forward(&app, &to, WRITE, &write).await
        }
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(to))) => Err(not_leader(&to)),
        Err(e) => Err(refused(&e)),
    }
}

async fn read<R: Runtime, Rt: AsyncRuntime>(
    app: Arc<App<R, Rt>>,
    read: Read,
) -> Result<Value, ErrorObject> {
    // openraft's follower read: the leader confirms it still leads (a quorum answers a
    // heartbeat) and names its read index, the commit index at that moment; this node,
    // leader or not, answers once its own state machine has applied that far.
    let index = match app.raft.get_read_linearizer(ReadPolicy::ReadIndex).await {
        Ok(linearizer) => *linearizer.read_log_id().log_id(),
        Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(to))) => {
            forward(&app, &to, READ_INDEX, &()).await?
        }
        Err(e) => return Err(refused(&e)),
    };
    let linearizer = Linearizer::<Kv<Rt>>::new(app.id, ReadLogId::from_log_id(index), None);
    match linearizer.try_await_ready(&app.raft, Some(CATCH_UP)).await {
        Ok(Ok(_)) => Ok(Value {
            value: app.state.get(&read.key),
        }),
        Ok(Err(state)) => Err(with_data(
            codes::BEHIND,
            "not caught up with the leader's read index",
            &serde_json::json!({
                "read_index": state.read_log_id().index(),
                "applied": state.applied().map(|id| id.index),
            }),
        )),
        Err(e) => Err(fatal(&e)),
    }
}

/// The read index, if this node leads.
async fn leader_read_index<R: Runtime, Rt: AsyncRuntime>(
    app: &App<R, Rt>,
) -> Result<LogIdOf<Kv<Rt>>, ErrorObject> {
    match app.raft.get_read_linearizer(ReadPolicy::ReadIndex).await {
        Ok(linearizer) => Ok(*linearizer.read_log_id().log_id()),
        Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(to))) => {
            Err(not_leader(&to))
        }
        Err(e) => Err(refused(&e)),
    }
}

async fn init<R: Runtime, Rt: AsyncRuntime>(
    app: Arc<App<R, Rt>>,
    init: Init,
) -> Result<(), ErrorObject> {
    let nodes = if init.nodes.is_empty() {
        app.initial.clone()
    } else {
        init.nodes
    };
    let members: BTreeMap<u64, BasicNode> = nodes
        .into_iter()
        .map(|(id, addr)| (id, BasicNode { addr }))
        .collect();
    app.raft.initialize(members).await.map_err(|e| refused(&e))
}

async fn add_learner<R: Runtime, Rt: AsyncRuntime>(
    app: Arc<App<R, Rt>>,
    add: AddLearner,
) -> Result<Changed, ErrorObject> {
    let node = BasicNode { addr: add.addr };
    let done = app.raft.add_learner(add.node, node, true).await;
    changed(done)
}

async fn change_membership<R: Runtime, Rt: AsyncRuntime>(
    app: Arc<App<R, Rt>>,
    change: ChangeMembership,
) -> Result<Changed, ErrorObject> {
    let members: BTreeSet<u64> = change.members.into_iter().collect();
    changed(app.raft.change_membership(members, false).await)
}

/// What a membership change gave.
type MembershipChange<Rt> =
    Result<ClientWriteResponse<Kv<Rt>>, RaftError<Kv<Rt>, ClientWriteError<Kv<Rt>>>>;

fn changed<Rt: AsyncRuntime>(done: MembershipChange<Rt>) -> Result<Changed, ErrorObject> {
    match done {
        Ok(done) => Ok(Changed {
            index: done.log_id.index,
        }),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(to))) => Err(not_leader(&to)),
        Err(e) => Err(refused(&e)),
    }
}

/// This node's metrics.
pub(crate) fn metrics<R: Runtime, Rt: AsyncRuntime>(app: &App<R, Rt>) -> Metrics {
    use openraft::async_runtime::WatchReceiver;
    let m = app.raft.metrics().borrow_watched().clone();
    Metrics {
        id: m.id,
        state: format!("{:?}", m.state),
        term: m.current_term,
        leader: m.current_leader,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.as_ref().map(|id| id.index),
        snapshot: m.snapshot.as_ref().map(|id| id.index),
        installed_snapshot: app.state.installed_snapshot(),
        purged: m.purged.as_ref().map(|id| id.index),
        voters: m.membership_config.voter_ids().collect(),
        nodes: m
            .membership_config
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect(),
        raft: serde_json::to_value(&m).unwrap_or(serde_json::Value::Null),
    }
}

/// This node's pool, each peer as [`PeerStats`].
pub(crate) fn pool_stats<R: Runtime, Rt: AsyncRuntime>(app: &App<R, Rt>) -> PoolStats {
    let stats = app.peers.stats();
    let now = R::now();
    let micros = |d: Option<Duration>| d.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    let peers = stats
        .peers
        .iter()
        .map(|peer| PeerStats {
            node: peer.node.0,
            state: match peer.state {
                PeerState::Idle => "idle",
                PeerState::Connecting => "connecting",
                PeerState::Up => "up",
                PeerState::Down => "down",
            }
            .to_owned(),
            calls: peer.calls,
            failures: peer.failures,
            reconnects: peer.reconnects,
            bytes_in: peer.bytes_in,
            bytes_out: peer.bytes_out,
            in_flight: peer.in_flight,
            queued: peer.queued,
            last_error: peer.last_error.as_ref().map(|fault| match fault {
                Fault::Unreachable => "unreachable".to_owned(),
                Fault::Refused(status) => format!("refused {status}"),
                Fault::Silent => "silent".to_owned(),
                Fault::Lost => "lost".to_owned(),
                Fault::Protocol(error) => format!("protocol: {error}"),
            }),
            last_seen_us: micros(
                peer.last_seen
                    .map(|seen| now.saturating_duration_since(seen)),
            ),
            rtt_p50_us: micros(peer.rtt_p50),
            rtt_p99_us: micros(peer.rtt_p99),
            call_p50_us: micros(peer.latency_p50),
            call_p95_us: micros(peer.latency_p95),
            call_p99_us: micros(peer.latency_p99),
        })
        .collect();
    PoolStats {
        node: app.id,
        links: stats.links,
        calls: stats.calls,
        failures: stats.failures,
        peers,
    }
}

/// Sends the call on to the leader `to` names, and gives its answer as ours.
async fn forward<R, Rt, P, T>(
    app: &App<R, Rt>,
    to: &ForwardToLeader<Kv<Rt>>,
    method: &str,
    params: &P,
) -> Result<T, ErrorObject>
where
    R: Runtime,
    Rt: AsyncRuntime,
    P: Serialize,
    T: DeserializeOwned,
{
    let Some(leader) = to.leader_id.filter(|leader| *leader != app.id) else {
        return Err(not_leader(to));
    };
    if let Some(node) = &to.leader_node {
        // The membership has the leader's address even if we were not started with it.
        let _ = app.peers.add_peer(NodeId(leader), &node.addr);
    }
    app.peers
        .call(NodeId(leader), method, params)
        .await
        .map_err(|e| match e.error {
            CallError::Rpc(object) => object,
            other => with_data(
                codes::LEADER_UNREACHABLE,
                format!("leader {leader}: {other}"),
                &serde_json::json!({ "leader": leader }),
            ),
        })
}

fn not_leader<Rt: AsyncRuntime>(to: &ForwardToLeader<Kv<Rt>>) -> ErrorObject {
    with_data(
        codes::NOT_LEADER,
        "not the leader",
        &serde_json::json!({ "leader": to.leader_id }),
    )
}

fn refused<E: Serialize + Display>(error: &E) -> ErrorObject {
    with_data(codes::REFUSED, error.to_string(), error)
}

fn with_data(code: i64, message: impl Into<String>, data: &impl Serialize) -> ErrorObject {
    let mut object = ErrorObject::new(code, message);
    object.data = serde_json::value::to_raw_value(data).ok();
    object
}
