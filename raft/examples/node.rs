//! A node of the replicated key-value store, on tokio.
//!
//! ```text
//! cargo run --release -p tether-raft --example node -- ID ADDR [ID=URL ...] [--init]
//! cargo run --release -p tether-raft --example node -- 1 127.0.0.1:7001 2=ws://127.0.0.1:7002/ 3=ws://127.0.0.1:7003/ --init
//! ```
//!
//! It serves the Raft, management and store methods on `ADDR` (see `tether_raft::kv`),
//! prints `listening on ws://ADDR` once it does, and then one line whenever its view of the
//! cluster changes (state, term, leader). `--init` makes this node and the peers named the
//! first members once every peer answers. Ctrl-C stops it.

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use tether_raft::kv::{self, KvNode, NodeConfig};
use tether_raft::openraft::{self, TokioRuntime};
use tether_tokio::pool::NodeId;
use tether_tokio::Tokio;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: node ID ADDR [ID=URL ...] [--init]";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("node: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let id: u64 = args.next().ok_or(USAGE)?.parse().map_err(|_| USAGE)?;
    let listen = args.next().ok_or(USAGE)?;
    let mut peers = BTreeMap::new();
    let mut init = false;
    for arg in args {
        if arg == "--init" {
            init = true;
            continue;
        }
        let (peer, url) = arg.split_once('=').ok_or(USAGE)?;
        peers.insert(peer.parse::<u64>().map_err(|_| USAGE)?, url.to_owned());
    }

    let config = NodeConfig {
        peers: peers.clone(),
        ..NodeConfig::new(id, listen)
    };
    let node = KvNode::<Tokio, TokioRuntime>::start(config).await?;
    println!("listening on {}", node.url().trim_end_matches('/'));

    tokio::spawn(report(node.raft().clone(), id));
    if init {
        initialise(&node, &peers).await?;
    }
    tokio::signal::ctrl_c().await?;
    println!("node {id}: stopping");
    node.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// Waits until every peer answers, then makes the first membership.
async fn initialise(
    node: &KvNode<Tokio, TokioRuntime>,
    peers: &BTreeMap<u64, String>,
) -> Result<(), Box<dyn Error>> {
    for peer in peers.keys() {
        while node
            .peers()
            .call::<_, kv::Metrics>(NodeId(*peer), kv::METRICS, &())
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut nodes = peers.clone();
    nodes.insert(node.id(), node.url().to_owned());
    node.raft()
        .initialize(
            nodes
                .into_iter()
                .map(|(id, addr)| (id, openraft::BasicNode { addr }))
                .collect::<BTreeMap<_, _>>(),
        )
        .await?;
    println!("node {}: initialised the cluster", node.id());
    Ok(())
}

/// Prints a line whenever this node's state, term or leader changes.
async fn report(raft: openraft::Raft<kv::KvTokio, kv::StateMachine>, id: u64) {
    let mut metrics = raft.metrics();
    let mut last = None;
    loop {
        let now = {
            let m = metrics.borrow_watched();
            (m.state, m.current_term, m.current_leader)
        };
        if last != Some(now) {
            let (state, term, leader) = now;
            let leader = leader.map_or("none".to_owned(), |l| l.to_string());
            println!("node {id}: {state:?}, term {term}, leader {leader}");
            last = Some(now);
        }
        if metrics.changed().await.is_err() {
            break;
        }
    }
}
