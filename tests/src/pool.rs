//! The cluster layer over real loopback sockets: nodes of `Peers` calling each other by
//! node id, both ways over one link; a peer killed mid-traffic (behind a proxy) marked
//! down and linked again when it returns; a silent one found by the heartbeat; shutdown
//! losing no call in flight; 64 tasks calling 8 peers through one pool; a plain JSON-RPC
//! client calling a node. Compiled once per adapter (see [`crate::runtime`]) and run by
//! `tests/pool.rs`.
//!
//! No wall-clock bound is asserted: every wait is on an event, bounded by `LIMIT` only
//! so that a bug fails the test instead of hanging it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::adapter::pool::{
    Fault, Lane, NodeId, Order, Outcome, PeerState, Peers, PeersConfig, ReplicaConfig, Replicas,
    RetryPolicy, Verdict,
};
use super::adapter::rpc::HeartbeatMode;
use super::adapter::rpc::{CallError, Client, ClientConfig, ErrorObject, Heartbeat, Router};
use super::rt;
use crate::closed_port::ClosedPort;
use crate::proxy::Proxy;
use crate::runtime::timeout;

/// Bound on each wait of a scenario.
const LIMIT: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(LIMIT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {LIMIT:?}"))
}

/// Methods every test node serves: `whoami` (its node id and the params), `slow` (the
/// same after a pause), and `count` (counts calls in `served`).
fn router(node: u64, served: Arc<AtomicUsize>) -> Router {
    let mut router = Router::default();
    router.insert("whoami", move |params: Value| async move {
        Ok::<_, ErrorObject>(json!({ "node": node, "params": params }))
    });
    router.insert("slow", move |params: Value| async move {
        rt::sleep(Duration::from_millis(300)).await;
        Ok::<_, ErrorObject>(json!({ "node": node, "params": params }))
    });
    router.insert("count", move |_: Value| {
        let served = served.clone();
        async move { Ok::<_, ErrorObject>(served.fetch_add(1, Ordering::SeqCst) + 1) }
    });
    router
}

fn config(node: u64) -> PeersConfig {
    PeersConfig::new(NodeId(node))
}

/// Node `id` listening on a free loopback port.
async fn node_with(id: u64, config: PeersConfig) -> Peers {
    Peers::bind("127.0.0.1:0", config, router(id, Arc::default()))
        .await
        .expect("bind")
}

async fn node(id: u64) -> Peers {
    node_with(id, config(id)).await
}

fn url(peers: &Peers) -> String {
    format!("ws://{}/", peers.local_addr().expect("bound"))
}

async fn whoami(from: &Peers, to: u64, n: u64) -> Result<Value, super::adapter::pool::NodeError> {
    from.call(NodeId(to), "whoami", &[n]).await
}

/// Two nodes call each other over the one link the first call opened: the second node
/// does not even know the first one's address.
pub async fn calls_flow_both_ways_over_one_link() {
    let (one, two) = (node(1).await, node(2).await);
    one.add_peer(NodeId(2), &url(&two)).expect("url");
    let answer = bounded("1 calls 2", whoami(&one, 2, 7))
        .await
        .expect("answer");
    assert_eq!(answer, json!({"node": 2, "params": [7]}));
    let answer = bounded("2 calls 1", whoami(&two, 1, 8))
        .await
        .expect("answer");
    assert_eq!(answer, json!({"node": 1, "params": [8]}));
    assert_eq!((one.stats().links, two.stats().links), (1, 1));
    assert_eq!(two.peer_state(NodeId(1)), PeerState::Up);
    let stats = one.stats();
    assert_eq!((stats.calls, stats.failures), (1, 0));
    assert_eq!(stats.peers[0].node, NodeId(2));
    assert!(stats.peers[0].bytes_in > 0 && stats.peers[0].bytes_out > 0);
}

/// 64 tasks make calls to 8 peers through one pool at once; every call gets its own
/// answer (the node it asked, its own params), over one link per peer.
pub async fn sixty_four_tasks_calling_eight_peers_get_their_own_answers() {
    let hub = node(100).await;
    let mut peers = Vec::new();
    for id in 1..=8 {
        let peer = node(id).await;
        hub.add_peer(NodeId(id), &url(&peer)).expect("url");
        peers.push(peer);
    }
    let tasks: Vec<_> = (0..64u64)
        .map(|task| {
            let hub = hub.clone();
            rt::spawn_task(async move {
                for k in 0..20u64 {
                    let to = 1 + (task + k) % 8;
                    let n = task * 1000 + k;
                    let answer = whoami(&hub, to, n).await.expect("answer");
                    assert_eq!(
                        answer,
                        json!({"node": to, "params": [n]}),
                        "task {task} call {k}"
                    );
                }
            })
        })
        .collect();
    for task in tasks {
        bounded("a task's calls", task.join()).await;
    }
    let stats = hub.stats();
    assert_eq!((stats.calls, stats.failures, stats.links), (1280, 0, 8));
    assert!(stats
        .peers
        .iter()
        .all(|p| p.calls == 160 && p.reconnects == 0));
}

/// A peer behind a proxy that dies mid-traffic: calls in flight end as lost, the peer is
/// `Down`; once it is reachable again the next call links it again.
pub async fn a_killed_peer_is_marked_down_and_linked_again_when_it_returns() {
    let (one, two) = (node(1).await, node(2).await);
    let addr = two.local_addr().expect("bound");
    let proxy = Proxy::start(addr);
    one.add_peer(NodeId(2), &proxy.url()).expect("url");
    bounded("first call", whoami(&one, 2, 0))
        .await
        .expect("answer");
    let in_flight = {
        let one = one.clone();
        rt::spawn_task(async move { one.call::<_, Value>(NodeId(2), "slow", &[1]).await })
    };
    // The call is written once the link counts it in flight.
    bounded("the slow call in flight", async {
        while one.stats().peers[0].in_flight == 0 {
            rt::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    proxy.kill();
    let error = bounded("the call in flight", in_flight.join())
        .await
        .expect_err("lost");
    assert_eq!(error.node, NodeId(2));
    assert!(
        matches!(error.error, CallError::ConnectionLost { sent: true }),
        "{error}"
    );
    assert_eq!(one.peer_state(NodeId(2)), PeerState::Down);
    assert_eq!(one.stats().peers[0].last_error, Some(Fault::Lost));
    // Unreachable while it is away: the proxy no longer listens.
    let error = bounded("a call while away", whoami(&one, 2, 2))
        .await
        .expect_err("away");
    assert!(matches!(error.error, CallError::Unreachable), "{error}");
    let back = Proxy::start(addr);
    one.add_peer(NodeId(2), &back.url()).expect("url");
    let answer = bounded("a call once back", whoami(&one, 2, 3))
        .await
        .expect("answer");
    assert_eq!(answer, json!({"node": 2, "params": [3]}));
    assert_eq!(one.peer_state(NodeId(2)), PeerState::Up);
    assert_eq!(one.stats().peers[0].reconnects, 1);
}

/// Behind a proxy that stops forwarding (no close, no reset), the heartbeat finds the
/// link dead: the peer is `Down`, for silence.
pub async fn a_silent_peer_is_found_by_the_heartbeat() {
    let mut quick = config(1);
    quick.pool.heartbeat = Some(Heartbeat {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        mode: HeartbeatMode::AnyInput,
    });
    let one = node_with(1, quick).await;
    let two = node(2).await;
    let proxy = Proxy::start(two.local_addr().expect("bound"));
    one.add_peer(NodeId(2), &proxy.url()).expect("url");
    bounded("first call", whoami(&one, 2, 0))
        .await
        .expect("answer");
    proxy.set_forwarding(false);
    bounded("the peer marked down", async {
        while one.peer_state(NodeId(2)) != PeerState::Down {
            rt::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(one.stats().peers[0].last_error, Some(Fault::Silent));
}

/// Shutdown with calls in flight: every one of them gets its answer, later calls are
/// refused, and it returns once every link is gone.
pub async fn shutdown_loses_no_call_in_flight() {
    let (one, two) = (node(1).await, node(2).await);
    one.add_peer(NodeId(2), &url(&two)).expect("url");
    bounded("first call", whoami(&one, 2, 0))
        .await
        .expect("answer");
    let calls: Vec<_> = (0..20u64)
        .map(|n| {
            let one = one.clone();
            rt::spawn_task(async move { one.call::<_, Value>(NodeId(2), "slow", &[n]).await })
        })
        .collect();
    bounded("every call in flight", async {
        while one.stats().peers[0].in_flight < 20 {
            rt::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    bounded("shutdown", one.shutdown(Duration::from_secs(10))).await;
    for (n, call) in calls.into_iter().enumerate() {
        let answer = bounded("a call in flight", call.join())
            .await
            .expect("answered");
        assert_eq!(answer, json!({"node": 2, "params": [n]}));
    }
    assert_eq!(one.stats().links, 0);
    let error = whoami(&one, 2, 99).await.expect_err("shut down");
    assert!(matches!(error.error, CallError::Closed), "{error}");
    // The other side saw the link go.
    bounded("node 2 sees the link closed", async {
        while two.stats().links > 0 {
            rt::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// A node with no address for a peer, and no link from it, cannot reach it; one with an
/// address nobody listens on finds it unreachable.
pub async fn an_unreachable_node_is_named_in_the_error() {
    let one = node(1).await;
    let closed = ClosedPort::new();
    one.add_peer(NodeId(5), &closed.url()).expect("url");
    for node in [5, 6] {
        let error = bounded("a call", whoami(&one, node, 1))
            .await
            .expect_err("unreachable");
        assert_eq!(error.node, NodeId(node));
        assert!(matches!(error.error, CallError::Unreachable), "{error}");
        assert_eq!(one.peer_state(NodeId(node)), PeerState::Down);
    }
    assert_eq!(one.stats().failures, 2);
}

/// A plain JSON-RPC client (tether's reconnecting `rpc::Client`, which names no node)
/// calls a node's methods on its port.
pub async fn a_plain_client_calls_a_node() {
    let served = Arc::new(AtomicUsize::new(0));
    let node = Peers::bind("127.0.0.1:0", config(1), router(1, served.clone()))
        .await
        .expect("bind");
    let client = Client::connect(&url(&node), ClientConfig::default())
        .await
        .expect("connect");
    for k in 1..=3 {
        let count: usize = bounded("count", client.call("count", &()))
            .await
            .expect("answer");
        assert_eq!(count, k);
    }
    assert_eq!(served.load(Ordering::SeqCst), 3);
    assert_eq!(node.stats().links, 1);
    assert!(node.stats().peers.is_empty(), "a client is no node");
}

/// A hub with replicas 1..=3, of which those in `down` have no server (their ports held
/// closed as long as the peers are).
async fn replicas(down: &[u64], config: ReplicaConfig) -> (Replicas, Peers3) {
    let hub = node(100).await;
    let mut up = Vec::new();
    let mut closed = Vec::new();
    for id in 1..=3 {
        if down.contains(&id) {
            let port = ClosedPort::new();
            hub.add_peer(NodeId(id), &port.url()).expect("url");
            closed.push(port);
        } else {
            let peer = node(id).await;
            hub.add_peer(NodeId(id), &url(&peer)).expect("url");
            up.push(peer);
        }
    }
    let replicas = Replicas::new(hub, [1, 2, 3].map(NodeId), config);
    (replicas, (up, closed))
}

/// The replicas that serve, and the ports of those that do not.
type Peers3 = (Vec<Peers>, Vec<ClosedPort>);

/// One replica of three down: the write succeeds on the other two and its report names
/// the one that failed, and why.
pub async fn a_quorum_write_with_one_of_three_down_succeeds_and_names_it() {
    let config = ReplicaConfig {
        grace: Some(Duration::from_secs(5)),
        ..ReplicaConfig::default()
    };
    let (replicas, _up) = replicas(&[2], config).await;
    let report = bounded("write", replicas.write::<_, Value>("whoami", &["k"]))
        .await
        .expect("a majority");
    assert_eq!(report.verdict, Verdict::Succeeded);
    assert_eq!(report.failed(), vec![NodeId(2)]);
    let two = report.outcomes.iter().find(|(n, _)| *n == NodeId(2));
    assert!(
        matches!(
            two,
            Some((_, Some(Outcome::Failed(CallError::Unreachable))))
        ),
        "{two:?}"
    );
    let mut answered: Vec<u64> = report.answers.iter().map(|(n, _)| n.0).collect();
    answered.sort_unstable();
    assert_eq!(answered, vec![1, 3]);
    for (node, answer) in &report.answers {
        assert_eq!(answer, &json!({"node": node.0, "params": ["k"]}));
    }
}

/// Two replicas of three down: the write fails as soon as both have failed, long before
/// its 60 s deadline (the wait is bounded at 20 s), without retrying.
pub async fn a_quorum_write_with_two_of_three_down_fails_fast() {
    let config = ReplicaConfig {
        write_timeout: Duration::from_secs(60),
        retry: RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        },
        ..ReplicaConfig::default()
    };
    let (replicas, _up) = replicas(&[2, 3], config).await;
    let error = bounded("write", replicas.write::<_, Value>("whoami", &["k"]))
        .await
        .expect_err("no majority");
    assert_eq!(error.report.verdict, Verdict::Failed);
    assert_eq!(error.report.attempts, 1);
    let mut failed = error.report.failed();
    failed.sort_unstable();
    assert_eq!(failed, vec![NodeId(2), NodeId(3)]);
}

/// A read asks the replicas in the order given; the first is dead, so it moves on to the
/// next, which answers.
pub async fn a_failover_read_skips_a_dead_replica() {
    let config = ReplicaConfig {
        order: Order::Given,
        ..ReplicaConfig::default()
    };
    let (replicas, _up) = replicas(&[1], config).await;
    let answer: Value = bounded("read", replicas.read("whoami", &["r"]))
        .await
        .expect("an answer");
    assert_eq!(answer, json!({"node": 2, "params": ["r"]}));
}

/// A call on the bulk lane opens a second link to the node; the control link stays the
/// node's link, and both carry calls.
pub async fn a_bulk_call_gets_a_link_of_its_own() {
    let (one, two) = (node(1).await, node(2).await);
    one.add_peer(NodeId(2), &url(&two)).expect("url");
    bounded("control call", whoami(&one, 2, 1))
        .await
        .expect("answer");
    let big = "x".repeat(1 << 20);
    let answer: Value = bounded(
        "bulk call",
        one.call_on(NodeId(2), Lane::Bulk, "whoami", &[&big], None),
    )
    .await
    .expect("answer");
    assert_eq!(answer["params"][0].as_str().map(str::len), Some(1 << 20));
    assert_eq!((one.stats().links, two.stats().links), (2, 2));
    let stats = one.stats();
    assert_eq!(stats.peers.len(), 1);
    assert_eq!(stats.peers[0].calls, 2);
}

/// Two nodes that know each other's address call each other at the same moment, many
/// times: every call is answered, and they end up sharing one link.
pub async fn two_nodes_calling_each_other_at_once_end_with_one_link() {
    let (one, two) = (node(1).await, node(2).await);
    one.add_peer(NodeId(2), &url(&two)).expect("url");
    two.add_peer(NodeId(1), &url(&one)).expect("url");
    let calls: Vec<_> = (0..32u64)
        .map(|n| {
            let (from, to) = if n % 2 == 0 {
                (one.clone(), 2)
            } else {
                (two.clone(), 1)
            };
            rt::spawn_task(async move { (to, n, whoami(&from, to, n).await) })
        })
        .collect();
    for call in calls {
        let (to, n, answer) = bounded("a call", call.join()).await;
        assert_eq!(
            answer.expect("answered"),
            json!({"node": to, "params": [n]})
        );
    }
    bounded("one link each", async {
        while one.stats().links != 1 || two.stats().links != 1 {
            rt::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(one.peer_state(NodeId(2)), PeerState::Up);
    assert_eq!(two.peer_state(NodeId(1)), PeerState::Up);
}
