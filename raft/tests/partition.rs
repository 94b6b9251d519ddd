//! Three store nodes whose links to each other go through a loopback network that can be
//! cut (`common::partition`). The leader, cut off from the other two, cannot commit: the
//! write it takes is never acknowledged and it cannot answer a linearizable read. The two
//! others elect a leader of a later term and commit writes. Once the network heals, the old
//! leader steps down without disturbing the new one, and ends with the majority's log: every
//! acknowledged write, and not the one it took while cut off.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::partition::Network;
use common::{agreed_leader, read, set, until, write};
use tether_adapter::rpc::{Client, ClientConfig};
use tether_adapter::Runtime;
use tether_raft::kv::{self, KvNode, NodeConfig, Read, Value, Written};
use tether_raft::openraft::async_runtime::WatchReceiver;
use tether_raft::openraft::{AsyncRuntime, ServerState, TokioRuntime};
use tether_raft::SmolRuntime;

/// Every wait on a node's metrics ends by then, or the test fails.
const LIMIT: Duration = Duration::from_secs(15);

/// How long a call to the cut-off leader is given before we call it unanswered: longer
/// than a commit takes here (milliseconds), shorter than the test's patience.
const CUT_OFF_CALL: Duration = Duration::from_secs(3);

#[test]
fn tokio_a_partitioned_leader_cannot_commit_and_rejoins() {
    common::on_tokio(partition::<tether_tokio::Tokio, TokioRuntime>());
}

#[test]
fn smol_a_partitioned_leader_cannot_commit_and_rejoins() {
    common::on_smol(partition::<tether_async_std::AsyncStd, SmolRuntime>());
}

async fn partition<R: Runtime, Rt: AsyncRuntime>() {
    let started = Instant::now();
    let network = Network::new();
    let mut nodes = BTreeMap::new();
    let mut members = BTreeMap::new();
    let mut clients = BTreeMap::new();
    for id in 1..=3 {
        let node = KvNode::<R, Rt>::start(NodeConfig::new(id, "127.0.0.1:0"))
            .await
            .expect("start");
        let port = node.peers().local_addr().expect("listening");
        // The other nodes know this one by its proxy; the test's client goes straight in.
        members.insert(id, network.front(id, port));
        let client = Client::<R>::connect(node.url(), ClientConfig::default())
            .await
            .expect("connect");
        clients.insert(id, client);
        nodes.insert(id, node);
    }
    let () = clients[&1]
        .call(kv::INIT, &kv::Init { nodes: members })
        .await
        .expect("init");
    let old = agreed_leader(&clients).await;
    let majority: Vec<u64> = nodes.keys().copied().filter(|id| *id != old).collect();

    let mut acknowledged = BTreeMap::new();
    for i in 0..10u64 {
        let (key, value) = (format!("before{i}"), format!("v{i}"));
        write(&clients[&(1 + i % 3)], &key, &value).await;
        acknowledged.insert(key, value);
    }
    let old_term = nodes[&old].raft().metrics().borrow_watched().current_term;
    eprintln!("leader {old} at term {old_term}; cutting it off from {majority:?}");

    network.isolate(old, majority.iter().copied());
    let cut_at = Instant::now();

    // The cut-off leader takes a write it cannot commit: the call ends unanswered, never
    // acknowledged. (It is still leader in its own eyes: openraft's leader does not step
    // down for want of a quorum, so the write waits in its log.)
    let lost = set("cut-off", "never acknowledged");
    let refused = clients[&old]
        .call_with_timeout::<_, Written>(kv::WRITE, &lost, CUT_OFF_CALL)
        .await
        .expect_err("the cut-off leader acknowledged a write");
    eprintln!("write to the cut-off leader: {refused}");
    let m = nodes[&old].raft().metrics().borrow_watched().clone();
    assert!(
        m.last_log_index > m.last_applied.map(|id| id.index),
        "the cut-off write is in the old leader's log, not applied: {m}"
    );
    assert_eq!(nodes[&old].state_machine().get("cut-off"), None);

    // The two others elect one of them at a later term ...
    let mut new = None;
    for id in &majority {
        let m = until(&nodes[id], LIMIT, "a leader of a later term", |m| {
            m.current_term > old_term && m.current_leader.is_some_and(|l| l != old)
        })
        .await;
        assert!(new.is_none() || new == m.current_leader, "two leaders");
        new = m.current_leader;
    }
    let new = new.expect("a new leader");
    let new_term = nodes[&new].raft().metrics().borrow_watched().current_term;
    eprintln!(
        "node {new} leads at term {new_term}, {:?} after the cut",
        cut_at.elapsed()
    );

    // ... and commit writes through either of them.
    for i in 0..10u64 {
        let (key, value) = (format!("during{i}"), format!("v{i}"));
        let through = majority[i as usize % 2];
        let written = write(&clients[&through], &key, &value).await;
        assert_eq!(written.leader, new, "committed by the new leader");
        acknowledged.insert(key, value);
    }

    // The cut-off node cannot serve a linearizable read: it cannot confirm it leads.
    let stale = Read {
        key: "during0".into(),
    };
    let refused = clients[&old]
        .call_with_timeout::<_, Value>(kv::READ, &stale, CUT_OFF_CALL)
        .await
        .expect_err("the cut-off node answered a linearizable read");
    eprintln!("read from the cut-off node: {refused}");

    network.heal();
    eprintln!("healed {:?} after the cut", cut_at.elapsed());

    // The old leader steps down and follows the new one, at its term: its return caused no
    // election.
    until(&nodes[&old], LIMIT, "following the new leader", |m| {
        m.state == ServerState::Follower && m.current_leader == Some(new)
    })
    .await;
    // A write through the old leader now commits (it forwards to the new one).
    let written = write(&clients[&old], "after", "healed").await;
    assert_eq!(written.leader, new);
    acknowledged.insert("after".into(), "healed".into());
    let leader = until(&nodes[&new], LIMIT, "the write applied", |m| {
        m.last_applied.is_some_and(|id| id.index >= written.index)
    })
    .await;
    assert_eq!(leader.state, ServerState::Leader);
    assert_eq!(leader.current_term, new_term, "an election after the heal");

    // The old leader ends with the majority's log: the same last entry, applied. Its own
    // entry for the cut-off write (at its old term) was replaced.
    let last = leader.last_applied;
    let rejoined = until(&nodes[&old], LIMIT, "the leader's log applied", |m| {
        m.last_applied >= last
    })
    .await;
    assert_eq!(rejoined.last_applied, last);
    assert_eq!(rejoined.last_log_index, leader.last_log_index);
    assert_eq!(rejoined.current_term, new_term);
    assert_eq!(rejoined.current_leader, Some(new));

    // Every node answers every acknowledged write; none has the unacknowledged one.
    for (id, client) in &clients {
        for (key, value) in &acknowledged {
            assert_eq!(
                read(client, key).await.as_deref(),
                Some(value.as_str()),
                "node {id}: {key}"
            );
        }
        assert_eq!(read(client, "cut-off").await, None, "node {id}");
    }
    for (id, node) in &nodes {
        let state = node.state_machine();
        assert_eq!(state.len(), acknowledged.len(), "node {id}'s keys");
        assert_eq!(state.get("cut-off"), None, "node {id}");
    }
    let stats = nodes[&old].peers().stats();
    for peer in &stats.peers {
        eprintln!(
            "node {old} -> {}: {:?}, reconnects {}, failures {}",
            peer.node, peer.state, peer.reconnects, peer.failures
        );
    }
    for node in nodes.values() {
        node.shutdown(Duration::from_millis(200)).await;
    }
    eprintln!("partition scenario: {:?}", started.elapsed());
}
