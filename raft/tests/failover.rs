//! Three store nodes over real sockets on loopback: they form a cluster, take writes, lose
//! their leader, elect another, and take writes again; no acknowledged write is lost.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{agreed_leader, read, write};
use tether_adapter::rpc::{Client, ClientConfig};
use tether_adapter::Runtime;
use tether_raft::kv::{self, KvNode, NodeConfig};
use tether_raft::openraft::{AsyncRuntime, TokioRuntime};
use tether_raft::SmolRuntime;

#[test]
fn tokio_leader_killed_new_leader_elected_no_acknowledged_write_lost() {
    common::on_tokio(failover::<tether_tokio::Tokio, TokioRuntime>());
}

#[test]
fn smol_leader_killed_new_leader_elected_no_acknowledged_write_lost() {
    common::on_smol(failover::<tether_async_std::AsyncStd, SmolRuntime>());
}

async fn failover<R: Runtime, Rt: AsyncRuntime>() {
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        let config = NodeConfig::new(id, "127.0.0.1:0");
        let node = KvNode::<R, Rt>::start(config).await.expect("start");
        nodes.insert(id, node);
    }
    let mut clients = BTreeMap::new();
    for (id, node) in &nodes {
        let client = Client::<R>::connect(node.url(), ClientConfig::default())
            .await
            .expect("connect");
        clients.insert(*id, client);
    }

    // Initialise through node 1's management method, naming every member.
    let members = nodes
        .iter()
        .map(|(id, node)| (*id, node.url().to_owned()))
        .collect();
    let () = clients[&1]
        .call(kv::INIT, &kv::Init { nodes: members })
        .await
        .expect("init");
    let leader = agreed_leader(&clients).await;
    eprintln!("leader: {leader}");

    // Writes through every node: a follower forwards them to the leader.
    let mut acknowledged = BTreeMap::new();
    for i in 0..30u32 {
        let through = 1 + u64::from(i % 3);
        let (key, value) = (format!("k{}", i % 10), format!("v{i}"));
        let written = write(&clients[&through], &key, &value).await;
        assert_eq!(written.leader, leader, "committed by the leader");
        acknowledged.insert(key, value);
    }
    // Linearizable reads, from a node that is not the leader.
    let follower = *clients
        .keys()
        .find(|id| **id != leader)
        .expect("a follower");
    for (key, value) in &acknowledged {
        assert_eq!(
            read(&clients[&follower], key).await.as_deref(),
            Some(value.as_str())
        );
    }

    // Kill the leader: its Raft stops and its port closes.
    let old = nodes.remove(&leader).expect("leader node");
    clients.remove(&leader);
    old.shutdown(Duration::from_millis(200)).await;
    drop(old);

    let new_leader = agreed_leader(&clients).await;
    assert_ne!(new_leader, leader);
    eprintln!("new leader: {new_leader}");

    for i in 30..60u32 {
        let through = *clients.keys().nth(i as usize % 2).expect("a survivor");
        let (key, value) = (format!("k{}", i % 15), format!("v{i}"));
        write(&clients[&through], &key, &value).await;
        acknowledged.insert(key, value);
    }
    for client in clients.values() {
        for (key, value) in &acknowledged {
            assert_eq!(
                read(client, key).await.as_deref(),
                Some(value.as_str()),
                "{key}"
            );
        }
    }
    for node in nodes.values() {
        node.shutdown(Duration::from_millis(200)).await;
    }
}
