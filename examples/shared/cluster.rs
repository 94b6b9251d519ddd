//! The body of every adapter's `cluster` example: three nodes of a replicated key-value
//! map on loopback, linked by a `Peers` pool each, calling each other by node id.
//!
//! Nodes 1 and 2 call each other over one link; a client node (100, which listens
//! nowhere) writes through `Replicas` (a quorum of the three); node 3 stops; a write still
//! reaches a majority and names node 3, a read fails over past it, and the client's view
//! of its peers is printed as a table.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::adapter::pool::{NodeId, Peers, PeersConfig, ReplicaConfig, Replicas};
use super::adapter::rpc::{ErrorObject, Router};

type Store = Arc<Mutex<BTreeMap<String, String>>>;

/// A node's methods: `kv/put [key, value]`, `kv/get [key]`, `whoami`.
fn methods(node: u64, store: Store) -> Router {
    let mut router = Router::default();
    let put = store.clone();
    router.insert("kv/put", move |(key, value): (String, String)| {
        let store = put.clone();
        async move {
            store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, value);
            Ok::<_, ErrorObject>(node)
        }
    });
    router.insert("kv/get", move |(key,): (String,)| {
        let store = store.clone();
        async move {
            let store = store.lock().unwrap_or_else(PoisonError::into_inner);
            Ok::<_, ErrorObject>(store.get(&key).cloned())
        }
    });
    router.insert(
        "whoami",
        move |_: ()| async move { Ok::<_, ErrorObject>(node) },
    );
    router
}

/// Starts three nodes and a client node, writes and reads through the client, stops node
/// 3, writes and reads again, and prints the client's stats.
pub async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut nodes = Vec::new();
    for id in 1..=3 {
        let store = Store::default();
        let config = PeersConfig::new(NodeId(id));
        let peers = Peers::bind("127.0.0.1:0", config, methods(id, store)).await?;
        println!("node {id} listening on ws://{}", address(&peers)?);
        nodes.push(peers);
    }
    // Every node knows where the others are.
    for from in &nodes {
        for to in &nodes {
            if from.node() != to.node() {
                from.add_peer(to.node(), &format!("ws://{}/", address(to)?))?;
            }
        }
    }
    let (one, two) = (nodes[0].clone(), nodes[1].clone());
    let who: u64 = one.call(NodeId(2), "whoami", &()).await?;
    println!("node 1 called node 2, which says it is node {who}");
    let back: u64 = two.call(NodeId(1), "whoami", &()).await?;
    println!(
        "node 2 called node {back} back over the same link (links: node 1 holds {}, node 2 {})",
        one.stats().links,
        two.stats().links
    );

    let client = Peers::new(PeersConfig::new(NodeId(100)), Router::default())?;
    for node in &nodes {
        client.add_peer(node.node(), &format!("ws://{}/", address(node)?))?;
    }
    let all = [1, 2, 3].map(NodeId);
    let replicas = Replicas::new(client.clone(), all, ReplicaConfig::default());
    let written = replicas
        .write::<_, u64>("kv/put", &("color", "green"))
        .await?;
    println!(
        "quorum write: {:?}, answered by {:?}",
        written.verdict,
        written.answers.iter().map(|(n, _)| n.0).collect::<Vec<_>>()
    );

    println!("stopping node 3");
    let three = nodes.pop().ok_or("three nodes")?;
    three.shutdown(Duration::from_secs(1)).await;
    drop(three);
    let config = ReplicaConfig {
        grace: Some(Duration::from_secs(1)),
        ..ReplicaConfig::default()
    };
    let replicas = Replicas::new(client.clone(), [1, 2, 3].map(NodeId), config);
    let written = replicas
        .write::<_, u64>("kv/put", &("shape", "round"))
        .await?;
    println!(
        "quorum write with node 3 down: {:?}, failed: {:?}",
        written.verdict,
        written.failed().iter().map(|n| n.0).collect::<Vec<_>>()
    );
    let read = Replicas::new(
        client.clone(),
        [3, 2].map(NodeId),
        ReplicaConfig {
            order: super::adapter::pool::Order::Given,
            ..ReplicaConfig::default()
        },
    );
    let shape: Option<String> = read.read("kv/get", &("shape",)).await?;
    println!("failover read past node 3: shape = {shape:?}");

    println!("\nthe client's peers:");
    println!(
        "{:<6} {:<8} {:>6} {:>9} {:>10} {:>10}  last error",
        "node", "state", "calls", "failures", "rtt p50", "call p50"
    );
    for peer in client.stats().peers {
        println!(
            "{:<6} {:<8} {:>6} {:>9} {:>10} {:>10}  {}",
            peer.node.0,
            format!("{:?}", peer.state),
            peer.calls,
            peer.failures,
            micros(peer.rtt_p50),
            micros(peer.latency_p50),
            peer.last_error
                .map_or_else(|| "-".into(), |e| format!("{e:?}")),
        );
    }
    client.shutdown(Duration::from_secs(1)).await;
    for node in nodes {
        node.shutdown(Duration::from_secs(1)).await;
    }
    Ok(())
}

fn address(peers: &Peers) -> Result<std::net::SocketAddr, &'static str> {
    peers.local_addr().ok_or("bound")
}

fn micros(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{} us", d.as_micros()))
}
