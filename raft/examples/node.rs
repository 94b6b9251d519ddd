//! A node of the replicated key-value store, on tokio.
//!
//! ```text
//! cargo run --release -p tether-raft --example node -- ID ADDR [ID=URL ...] [--init] [--snapshot-every N] [--watch-stdin]
//! cargo run --release -p tether-raft --example node -- 1 127.0.0.1:7001 2=ws://127.0.0.1:7002/ 3=ws://127.0.0.1:7003/ --init
//! ```
//!
//! It serves the Raft, management and store methods on `ADDR` (see `tether_raft::kv`;
//! port 0 picks a free one), prints `listening on ws://ADDR` once it does, and then a line
//! starting `node ID:` whenever its view of the cluster changes (state, term, leader) or it
//! builds or installs a snapshot. Its log and store are in memory: restarted, it comes back
//! empty, on the same port at once, and catches up from the leader.
//!
//! - `--init` makes this node and the peers named the first members once every peer
//!   answers (or call `mgmt/init`).
//! - `--snapshot-every N` builds a snapshot every N entries and purges the log up to it,
//!   so a node that comes back after more than N entries catches up by snapshot (default:
//!   every 5 000 entries, keeping 1 000 behind the snapshot).
//! - `--watch-stdin` stops the node when its standard input closes: a parent that holds
//!   the other end (the `demo` example) takes its nodes with it even if it is killed.
//!
//! Beside the WebSocket upgrades, its port answers plain HTTP: `/` is a dashboard of the
//! cluster (live over JSON-RPC on the browser's WebSocket), `/metrics` the pool's metrics
//! as Prometheus text, `/health` where its Raft is. Logs go to stderr, filtered by
//! `RUST_LOG` (`RUST_LOG=tether_adapter=debug` shows every link and call).
//!
//! Ctrl-C stops it.

use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use tether_raft::kv::{self, KvNode, NodeConfig};
use tether_raft::openraft::{self, TokioRuntime};
use tether_tokio::pool::NodeId;
use tether_tokio::{Admission, Tokio};
use tracing_subscriber::EnvFilter;

#[path = "node/pages.rs"]
mod pages;

const USAGE: &str =
    "usage: node ID ADDR [ID=URL ...] [--init] [--snapshot-every N] [--watch-stdin]";

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
    let mut snapshot_every = None;
    let mut watch_stdin = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--init" => init = true,
            "--watch-stdin" => watch_stdin = true,
            "--snapshot-every" => {
                let n = args.next().ok_or(USAGE)?;
                snapshot_every = Some(n.parse::<u64>().map_err(|_| USAGE)?);
            }
            _ => {
                let (peer, url) = arg.split_once('=').ok_or(USAGE)?;
                peers.insert(peer.parse::<u64>().map_err(|_| USAGE)?, url.to_owned());
            }
        }
    }

    let mut config = NodeConfig {
        peers: peers.clone(),
        ..NodeConfig::new(id, listen)
    };
    if let Some(n) = snapshot_every {
        config.raft.snapshot_policy = openraft::SnapshotPolicy::LogsSinceLast(n);
        config.raft.max_in_snapshot_log_to_keep = 0;
    }
    // Before the pool starts: it takes its handles to the series from this recorder.
    let prometheus = pages::install_recorder()?;
    // The port answers the pages itself, beside the upgrades (the upgrade hook).
    let cell = pages::NodeCell::default();
    config.pool.admission = Admission {
        hook: Some(pages::hook(cell.clone(), prometheus)),
        ..Admission::default()
    };
    let node = Arc::new(KvNode::<Tokio, TokioRuntime>::start(config).await?);
    let _ = cell.set(node.clone());
    let addr = node.url().trim_start_matches("ws://").trim_end_matches('/');
    println!("listening on {}", node.url().trim_end_matches('/'));
    println!("node {id}: dashboard at http://{addr}/ (and /metrics, /health)");

    tokio::spawn(report(
        node.raft().clone(),
        node.state_machine().clone(),
        id,
    ));
    if init {
        initialise(&node, &peers).await?;
    }
    let stdin_closed = async {
        if watch_stdin {
            stdin_eof().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        signal = tokio::signal::ctrl_c() => signal?,
        () = stdin_closed => {}
    }
    println!("node {id}: stopping");
    node.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

/// Resolves once standard input reaches its end (or fails).
async fn stdin_eof() {
    let (closed, wait) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed.send(());
    });
    let _ = wait.await;
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

/// Prints a line whenever this node's state, term or leader changes, and when it builds or
/// installs a snapshot.
async fn report(
    raft: openraft::Raft<kv::KvTokio, kv::StateMachine>,
    state_machine: kv::StateMachine,
    id: u64,
) {
    let mut metrics = raft.metrics();
    let mut last = None;
    let mut last_snapshot = None;
    loop {
        let (now, snapshot) = {
            let m = metrics.borrow_watched();
            (
                (m.state, m.current_term, m.current_leader),
                m.snapshot.as_ref().map(|id| id.index),
            )
        };
        if last != Some(now) {
            let (state, term, leader) = now;
            let leader = leader.map_or("none".to_owned(), |l| l.to_string());
            println!("node {id}: {state:?}, term {term}, leader {leader}");
            last = Some(now);
        }
        if snapshot != last_snapshot {
            if let Some(index) = snapshot {
                if state_machine.installed_snapshot() == Some(index) {
                    println!("node {id}: installed the leader's snapshot up to index {index}");
                } else {
                    println!("node {id}: built a snapshot up to index {index}");
                }
            }
            last_snapshot = snapshot;
        }
        if metrics.changed().await.is_err() {
            break;
        }
    }
}
