//! A node that joins a store of more than 64 MiB after its log was purged installs the
//! store's snapshot, sent in 1 MiB chunks on its bulk lane, while the leader's heartbeats go
//! on on the control lane and the leader stays in place.
//!
//! Three voters take 65 MiB of writes; the leader builds a snapshot while small writes go on
//! and purges its log behind it; node 4 joins as a learner and gets the snapshot. Asserted:
//!
//! - no election, from the writes to node 4's catching up: every voter keeps the term, vote
//!   and leader it had, and a watch every few tens of milliseconds during the transfer never
//!   sees another term, leader or role. openraft's pre-vote is off here, so a vote request
//!   can only come from a node that raised its term: none was sent;
//! - the control lane to node 4 stayed open during the transfer: calls from the leader's
//!   pool to node 4 on it were all answered, each within an election timeout;
//! - every node, node 4 included, acknowledged the leader's heartbeats all along, never an
//!   election timeout apart (as the leader's metrics record them);
//! - node 4 installed that snapshot (at least 64 MiB, at least that much base64 went to it)
//!   and ends with every key and value.
//!
//! The transfer time, the round trips of the control lane, and the leader's pool stats for
//! node 4 are printed (`--nocapture`).

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use common::{agreed_leader, sleep, until, within};
use futures_lite::{future, StreamExt};
use openraft::async_runtime::WatchReceiver;
use openraft::{
    AsyncRuntime, Instant as _, RaftMetrics, ServerState, SnapshotPolicy, TokioRuntime,
};
use tether_adapter::pool::NodeId;
use tether_adapter::rpc::{Client, ClientConfig};
use tether_adapter::Runtime;
use tether_raft::kv::{self, Changed, Kv, KvNode, Metrics, NodeConfig, Request};
use tether_raft::{openraft, SmolRuntime};

/// Each value's size, and how many keys: 260 × 256 KiB = 65 MiB in the state machine.
const VALUE: usize = 256 << 10;
const KEYS: usize = 260;

/// Every wait ends by then, or the test fails.
const LIMIT: Duration = Duration::from_secs(25);

/// The two scenarios keep the machine busy and time heartbeats: under `cargo test`, which
/// runs a file's tests side by side, they take turns (nextest runs them alone, see
/// `.config/nextest.toml`).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn tokio_a_lagging_node_installs_a_64_mib_snapshot_without_an_election() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    common::on_tokio(large_snapshot::<tether_tokio::Tokio, TokioRuntime>());
}

#[test]
fn smol_a_lagging_node_installs_a_64_mib_snapshot_without_an_election() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    common::on_smol(large_snapshot::<tether_async_std::AsyncStd, SmolRuntime>());
}

fn config(id: u64) -> NodeConfig {
    let mut config = NodeConfig::new(id, "127.0.0.1:0");
    // The test decides when the snapshot is taken and the log purged behind it.
    config.raft.snapshot_policy = SnapshotPolicy::Never;
    config.raft.max_in_snapshot_log_to_keep = 0;
    // A follower that falls behind gets at most 16 entries (4 MiB) per append: openraft's
    // default of 300 would make an append of 75 MiB, past the 64 MiB WebSocket message limit.
    config.raft.max_payload_entries = 16;
    assert_ne!(
        config.raft.enable_pre_vote,
        Some(true),
        "see the module docs"
    );
    config
}

fn key(i: usize) -> String {
    format!("key{i:03}")
}

/// 256 KiB of ASCII, different for every key.
fn value(i: usize) -> String {
    let stamp = format!("[{i:03}]abcdefghijklmnopqrstuvwxyz0123456789");
    let mut value = stamp.repeat(VALUE / stamp.len() + 1);
    value.truncate(VALUE);
    value
}

/// What the watch over the transfer saw.
#[derive(Debug, Default)]
struct Watch {
    /// Anything that is not the cluster as it was: a term, leader or role that changed.
    changes: Vec<String>,
    /// For each node but the leader, the distinct times (from the transfer's start) of the
    /// last heartbeat it acknowledged, as the leader's metrics gave them, in order.
    acks: BTreeMap<u64, Vec<Duration>>,
    /// Round trips of calls from the leader to node 4 on its control link.
    probes: Vec<Duration>,
    /// Those calls that failed.
    probe_failures: Vec<String>,
}

async fn large_snapshot<R: Runtime, Rt: AsyncRuntime>() {
    let started = Instant::now();
    let mut nodes = BTreeMap::new();
    for id in 1..=4 {
        let node = KvNode::<R, Rt>::start(config(id)).await.expect("start");
        nodes.insert(id, node);
    }
    let mut clients = BTreeMap::new();
    for id in 1..=3 {
        let client = Client::<R>::connect(nodes[&id].url(), ClientConfig::default())
            .await
            .expect("connect");
        clients.insert(id, client);
    }
    let members = (1..=3)
        .map(|id| (id, nodes[&id].url().to_owned()))
        .collect();
    let () = clients[&1]
        .call(kv::INIT, &kv::Init { nodes: members })
        .await
        .expect("init");
    let leader = agreed_leader(&clients).await;
    let client = &clients[&leader];

    // 65 MiB of writes, committed by the leader, 16 at a time. They go to its Raft
    // directly: `kv/write` is the other scenarios' business, and here its encoding would
    // only add to the time this takes in a debug build.
    let raft = nodes[&leader].raft();
    let keys: Vec<usize> = (0..KEYS).collect();
    let writes = async {
        let mut last = 0;
        for batch in keys.chunks(16) {
            let requests = batch.iter().map(|i| Request::Set {
                key: key(*i),
                value: value(*i),
            });
            let mut results = raft.client_write_many(requests).await.expect("write");
            while let Some(result) = results.next().await {
                last = result.expect("raft").expect("write").log_id.index;
            }
        }
        last
    };
    let last = within(Duration::from_secs(60), "the writes", writes).await;
    eprintln!("{KEYS} writes of {VALUE} bytes: {:?}", started.elapsed());

    // A snapshot of all of it, built while writes go on (as when openraft's policy starts
    // one), then the log purged behind it.
    let term = raft.metrics().borrow_watched().current_term;
    raft.trigger().snapshot().await.expect("snapshot");
    let built = Cell::new(false);
    let building = async {
        let m = until(&nodes[&leader], LIMIT, "the snapshot", |m| {
            m.snapshot.is_some_and(|id| id.index >= last)
        })
        .await;
        built.set(true);
        m
    };
    let writing = async {
        let mut written = 0;
        while !built.get() {
            let request = Request::Set {
                key: format!("while-building{written}"),
                value: "small".into(),
            };
            if let Err(e) = raft.client_write(request).await {
                panic!("a write while the snapshot was built: {e}");
            }
            written += 1;
            sleep(Duration::from_millis(10)).await;
        }
        written
    };
    let (m, also) = within(
        LIMIT,
        "writes while building",
        future::zip(building, writing),
    )
    .await;
    eprintln!("{also} writes while the snapshot was built");
    let snapshot_id = m.snapshot.expect("a snapshot");
    raft.trigger()
        .purge_log(snapshot_id.index)
        .await
        .expect("purge");
    until(&nodes[&leader], LIMIT, "the log purged", |m| {
        m.purged.as_ref() == Some(&snapshot_id)
    })
    .await;
    let size = raft
        .get_snapshot()
        .await
        .expect("get snapshot")
        .expect("a snapshot")
        .snapshot
        .len();
    assert!(size >= 64 << 20, "a snapshot of {size} bytes");
    eprintln!(
        "snapshot of {} MiB at {snapshot_id}: {:?}",
        size >> 20,
        started.elapsed()
    );

    // The cluster before the transfer: still the leader and term of the writes, the
    // snapshot's building disturbed nothing.
    let before: BTreeMap<u64, RaftMetrics<Kv<Rt>>> = (1..=3)
        .map(|id| (id, nodes[&id].raft().metrics().borrow_watched().clone()))
        .collect();
    for (id, m) in &before {
        assert_eq!(m.current_leader, Some(leader), "node {id}: {m}");
        assert_eq!(m.current_term, term, "node {id}: {m}");
    }

    // Node 4 joins as a learner: the entries it needs are purged, so the leader sends the
    // snapshot. `mgmt/add_learner` answers once node 4 has caught up.
    let add = kv::AddLearner {
        node: 4,
        addr: nodes[&4].url().to_owned(),
    };
    let transfer_start = Instant::now();
    let t0 = Rt::Instant::now();
    let done = Cell::new(false);
    let watch = RefCell::new(Watch::default());
    let transfer = async {
        let (added, installed) = future::zip(
            client.call_with_timeout::<_, Changed>(kv::ADD_LEARNER, &add, LIMIT),
            until(&nodes[&4], LIMIT, "the snapshot installed", |m| {
                m.snapshot.as_ref() == Some(&snapshot_id)
                    && m.last_applied.as_ref() >= Some(&snapshot_id)
            }),
        )
        .await;
        done.set(true);
        let end = Rt::Instant::now() - t0;
        (added.expect("add learner"), installed, end)
    };
    let watching = async {
        let leader_node = &nodes[&leader];
        while !done.get() {
            for id in 1..=3 {
                let m = nodes[&id].raft().metrics().borrow_watched().clone();
                let role = if id == leader {
                    ServerState::Leader
                } else {
                    ServerState::Follower
                };
                if m.current_term != term || m.current_leader != Some(leader) || m.state != role {
                    watch.borrow_mut().changes.push(format!(
                        "{:?}: node {id}: {:?} term {} leader {:?}",
                        transfer_start.elapsed(),
                        m.state,
                        m.current_term,
                        m.current_leader
                    ));
                }
            }
            let m = leader_node.raft().metrics().borrow_watched().clone();
            for (id, ack) in m.heartbeat.iter().flatten() {
                let Some(ack) = ack.as_ref().map(|ack| **ack).filter(|ack| *ack >= t0) else {
                    continue;
                };
                let mut w = watch.borrow_mut();
                let acks = w.acks.entry(*id).or_default();
                if acks.last() != Some(&(ack - t0)) {
                    acks.push(ack - t0);
                }
            }
            let probe = Instant::now();
            let answer = leader_node
                .peers()
                .call_with_timeout::<_, Metrics>(
                    NodeId(4),
                    kv::METRICS,
                    &(),
                    Some(Duration::from_secs(5)),
                )
                .await;
            {
                let mut w = watch.borrow_mut();
                match answer {
                    Ok(_) => w.probes.push(probe.elapsed()),
                    // Until openraft opens its stream to node 4, the pool has no address
                    // for it.
                    Err(_) if w.probes.is_empty() => {}
                    Err(e) => w.probe_failures.push(e.to_string()),
                }
            }
            sleep(Duration::from_millis(20)).await;
        }
    };
    let ((added, installed, end), ()) = future::zip(transfer, watching).await;
    let took = transfer_start.elapsed();
    let watch = watch.into_inner();

    // What the transfer looked like from the leader.
    let stats = nodes[&leader].peers().stats();
    let to_4 = stats
        .peers
        .iter()
        .find(|p| p.node == NodeId(4))
        .expect("stats for node 4")
        .clone();
    let mut probes = watch.probes.clone();
    probes.sort();
    let probe_max = probes.last().copied().unwrap_or_default();
    eprintln!("transfer of {} MiB to node 4: {took:?}", size >> 20);
    eprintln!(
        "control-lane calls from the leader to node 4 meanwhile: {} answered (p50 {:?}, max {probe_max:?}), {} failed",
        probes.len(),
        probes.get(probes.len() / 2).copied().unwrap_or_default(),
        watch.probe_failures.len()
    );
    eprintln!(
        "the leader's pool stats for node 4: ping rtt p50 {:?} p99 {:?}, call latency p50 {:?} p99 {:?}, {} calls, {} MiB out",
        to_4.rtt_p50,
        to_4.rtt_p99,
        to_4.latency_p50,
        to_4.latency_p99,
        to_4.calls,
        to_4.bytes_out >> 20
    );
    for peer in &stats.peers {
        eprintln!(
            "the leader's calls to {}: {}, {} failed",
            peer.node, peer.calls, peer.failures
        );
    }
    let mut gaps = BTreeMap::new();
    for id in (1..=4).filter(|id| *id != leader) {
        let acks = watch.acks.get(&id).cloned().unwrap_or_default();
        let mut between: Vec<Duration> = acks.windows(2).map(|w| w[1] - w[0]).collect();
        // The silence between the last acknowledged heartbeat and the end counts too.
        between.extend(acks.last().map(|last| end.saturating_sub(*last)));
        let max_gap = between.iter().max().copied().unwrap_or_default();
        eprintln!(
            "node {id}: {} heartbeats acknowledged to the leader, largest gap {max_gap:?}",
            acks.len()
        );
        gaps.insert(id, (acks, max_gap));
    }

    // No election: every voter has the term, vote and leader it had before, and none was
    // seen in another role or term in between.
    for id in 1..=3 {
        let m = nodes[&id].raft().metrics().borrow_watched().clone();
        assert_eq!(m.current_term, term, "node {id}'s term moved: {m}");
        assert_eq!(m.vote, before[&id].vote, "node {id} voted: {m}");
        assert_eq!(m.current_leader, Some(leader), "node {id}: {m}");
    }
    assert!(
        watch.changes.is_empty(),
        "during the transfer: {:#?}",
        watch.changes
    );
    // The control lane to node 4 stayed open while the snapshot streamed on its bulk lane:
    // every call was answered, each well within an election timeout.
    let election_timeout = Duration::from_millis(config(4).raft.election_timeout_min);
    assert!(
        watch.probe_failures.is_empty(),
        "control-lane calls failed: {:?}",
        watch.probe_failures
    );
    assert!(
        probe_max < election_timeout,
        "control-lane round trips: {probes:?}"
    );
    // And every node, node 4 included, acknowledged the leader's heartbeats all along,
    // never an election timeout apart.
    for (id, (acks, max_gap)) in &gaps {
        assert!(acks.len() >= 2, "node {id}'s acks: {acks:?}");
        assert!(
            *max_gap < election_timeout,
            "node {id}: {max_gap:?} between heartbeats; acks at {acks:?}"
        );
    }

    // Node 4 has every key: the big ones from the snapshot, which went over its links
    // (base64 makes it a third larger), and the log's entries past it.
    let fourth = &nodes[&4];
    assert_eq!(installed.snapshot, Some(snapshot_id));
    until(fourth, LIMIT, "the log past the snapshot applied", |m| {
        m.last_applied.is_some_and(|id| id.index >= added.index)
    })
    .await;
    assert_eq!(fourth.state_machine().len(), KEYS + also);
    for i in 0..KEYS {
        assert_eq!(
            fourth.state_machine().get(&key(i)),
            Some(value(i)),
            "{}",
            key(i)
        );
    }
    assert!(added.index > last);
    assert!(
        to_4.bytes_out >= size as u64 * 4 / 3,
        "{} bytes out to node 4",
        to_4.bytes_out
    );
    for node in nodes.values() {
        node.shutdown(Duration::from_millis(200)).await;
    }
    eprintln!("large snapshot scenario: {:?}", started.elapsed());
}
