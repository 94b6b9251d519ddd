//! A node that joins after the log was compacted catches up by a snapshot, sent in many
//! chunks on the bulk lane, then becomes a voter.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::sleep;
use openraft::async_runtime::WatchReceiver;
use openraft::{AsyncRuntime, SnapshotPolicy, TokioRuntime};
use tether_adapter::rpc::{Client, ClientConfig};
use tether_adapter::Runtime;
use tether_raft::kv::{self, Changed, KvNode, Metrics, NodeConfig, Request, Write, Written};
use tether_raft::{openraft, SmolRuntime};

fn config(id: u64) -> NodeConfig {
    let mut config = NodeConfig::new(id, "127.0.0.1:0");
    // A snapshot every 50 entries, the log purged behind it, and 1 KiB chunks, so the
    // snapshot goes in dozens of calls.
    config.raft.snapshot_policy = SnapshotPolicy::LogsSinceLast(50);
    config.raft.max_in_snapshot_log_to_keep = 0;
    config.raft.snapshot_max_chunk_size = 1024;
    config
}

#[test]
fn tokio_a_late_node_catches_up_by_a_chunked_snapshot() {
    common::on_tokio(late_node::<tether_tokio::Tokio, TokioRuntime>());
}

#[test]
fn smol_a_late_node_catches_up_by_a_chunked_snapshot() {
    common::on_smol(late_node::<tether_async_std::AsyncStd, SmolRuntime>());
}

async fn late_node<R: Runtime, Rt: AsyncRuntime>() {
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        let node = KvNode::<R, Rt>::start(config(id)).await.expect("start");
        nodes.insert(id, node);
    }
    let first = Client::<R>::connect(nodes[&1].url(), ClientConfig::default())
        .await
        .expect("connect");
    let members = [1, 2]
        .map(|id| (id, nodes[&id].url().to_owned()))
        .into_iter()
        .collect();
    let () = first
        .call(kv::INIT, &kv::Init { nodes: members })
        .await
        .expect("init");

    // Writes until the leader has a snapshot and has purged the log behind it.
    let leader = loop {
        let metrics: Metrics = first.call(kv::METRICS, &()).await.expect("metrics");
        if let Some(leader) = metrics.leader {
            break leader;
        }
        sleep(Duration::from_millis(50)).await;
    };
    let client = Client::<R>::connect(nodes[&leader].url(), ClientConfig::default())
        .await
        .expect("connect");
    for i in 0..300 {
        let write = Write {
            request: Request::Set {
                key: format!("key{i:03}"),
                value: format!("{i:0>100}"),
            },
            forwarded: false,
        };
        let _: Written = client.call(kv::WRITE, &write).await.expect("write");
    }
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let m = nodes[&leader].raft().metrics().borrow_watched().clone();
        if m.snapshot.is_some() && m.purged.is_some() {
            break;
        }
        assert!(Instant::now() < end, "no snapshot: {m:?}");
        sleep(Duration::from_millis(50)).await;
    }

    // Node 3 joins: the entries it needs are gone, so it gets the snapshot.
    let add = kv::AddLearner {
        node: 3,
        addr: nodes[&3].url().to_owned(),
    };
    let _: Changed = client.call(kv::ADD_LEARNER, &add).await.expect("learner");
    let change = kv::ChangeMembership {
        members: vec![1, 2, 3],
    };
    let _: Changed = client
        .call(kv::CHANGE_MEMBERSHIP, &change)
        .await
        .expect("voter");

    let third = &nodes[&3];
    let end = Instant::now() + Duration::from_secs(10);
    while third.state_machine().len() < 300 {
        assert!(
            Instant::now() < end,
            "node 3 has {} keys",
            third.state_machine().len()
        );
        sleep(Duration::from_millis(50)).await;
    }
    let m = third.raft().metrics().borrow_watched().clone();
    assert!(m.snapshot.is_some(), "node 3 installed no snapshot: {m:?}");
    assert_eq!(
        third.state_machine().get("key123"),
        Some(format!("{:0>100}", 123))
    );
    let stats = third.peers().stats();
    eprintln!("node 3's peers: {:?}", stats.peers);
    assert!(third.metrics().voters.contains(&3));
    for node in nodes.values() {
        node.shutdown(Duration::from_millis(200)).await;
    }
}
