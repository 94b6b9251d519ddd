//! A store node in a process of its own: this bench binary again, told by the environment
//! which node it is and which network its Raft uses ([`run`]), and the bench's handle on
//! it ([`NodeProcess`]).
//!
//! Whatever the network, the node is tether-raft's `KvNode` on tokio (a worker per core),
//! with the same log, state machine and openraft `Config` (`NodeConfig::new`), and serves
//! the load client's `kv/write` and `mgmt/*` on its tether port; only the Raft RPCs
//! between the nodes take the network named. It prints `listening on WS_URL RAFT_ADDR`,
//! where `RAFT_ADDR` is what its membership entry must say (its `ws://` URL, or the
//! `http://` address of its HTTP or gRPC server), and exits when its stdin closes.

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tether_raft::kv::{KvNode, NodeConfig};
use tether_raft::openraft::TokioRuntime;
use tether_tokio::Tokio;
use tokio::net::TcpListener;

use crate::wire::{Factory, Service};
use crate::{grpc, http};

/// `ID NETWORK` of the node a child process runs.
const NODE: &str = "TETHER_BENCH_RAFT_NODE";
/// How long a node may take to print its addresses.
const START: Duration = Duration::from_secs(30);

/// The Raft network between the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// tether-raft's own: JSON-RPC over the pool's WebSocket links.
    Tether,
    /// One HTTP/1.1 POST per RPC over a pooled client ([`http`]).
    Http,
    /// One unary gRPC call per RPC over tonic ([`grpc`]).
    Grpc,
    /// As [`Grpc`](Network::Grpc), but appends on one bidirectional stream per session,
    /// pipelined, as openraft's gRPC example sends them.
    GrpcStream,
}

impl Network {
    pub const ALL: [Network; 4] = [
        Network::Tether,
        Network::Http,
        Network::Grpc,
        Network::GrpcStream,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Network::Tether => "tether",
            Network::Http => "http",
            Network::Grpc => "grpc",
            Network::GrpcStream => "grpc-stream",
        }
    }

    /// What the tables call it.
    pub fn label(self) -> &'static str {
        match self {
            Network::Tether => "tether (WebSocket JSON-RPC, pool)",
            Network::Http => "HTTP/1.1 (hyper, pooled client)",
            Network::Grpc => "gRPC (tonic, unary)",
            Network::GrpcStream => "gRPC (tonic, streamed appends)",
        }
    }

    pub fn parse(name: &str) -> Option<Network> {
        Network::ALL.into_iter().find(|n| n.name() == name)
    }
}

/// Runs the node this process was started as, if it was started as one; never returns
/// then.
pub fn run_if_child() {
    let Ok(spec) = std::env::var(NODE) else {
        return;
    };
    let (id, network) = spec
        .split_once(' ')
        .and_then(|(id, network)| Some((id.parse::<u64>().ok()?, Network::parse(network)?)))
        .unwrap_or_else(|| panic!("{NODE}={spec:?}: expected `ID NETWORK`"));
    // Stops with its parent: a bench that dies leaves no node behind.
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        std::process::exit(0);
    });
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(node(id, network));
    std::process::exit(0);
}

async fn node(id: u64, network: Network) {
    let config = NodeConfig::new(id, "127.0.0.1:0");
    let (node, raft_addr) = match network {
        Network::Tether => {
            let node = KvNode::<Tokio, TokioRuntime>::start(config)
                .await
                .expect("start the node");
            let url = node.url().to_owned();
            (node, url)
        }
        Network::Http | Network::Grpc | Network::GrpcStream => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = format!("http://{}", listener.local_addr().expect("bound"));
            let node = if network == Network::Http {
                KvNode::<Tokio, TokioRuntime>::start_with(config, |_| {
                    Factory::new(id, http::HttpDial::new())
                })
                .await
            } else {
                let stream_appends = network == Network::GrpcStream;
                KvNode::<Tokio, TokioRuntime>::start_with(config, |_| {
                    Factory::new(id, grpc::GrpcDial { stream_appends })
                })
                .await
            }
            .expect("start the node");
            let service = Service::new(node.raft().clone());
            if network == Network::Http {
                tokio::spawn(http::serve(listener, service));
            } else {
                tokio::spawn(grpc::serve(listener, service));
            }
            (node, addr)
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {} {raft_addr}", node.url());
        let _ = out.flush();
    }
    std::future::pending::<()>().await;
}

/// A node process. Dropped, its stdin closes (it exits) and it is reaped, killed if it
/// lingers.
pub struct NodeProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its tether port, `ws://127.0.0.1:PORT/`: where the load client calls.
    pub url: String,
    /// Its address in the membership: what its peers' Raft network dials.
    pub raft_addr: String,
}

impl NodeProcess {
    /// Starts node `id` with `network` and waits for its addresses.
    pub fn start(id: u64, network: Network) -> NodeProcess {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .env(NODE, format!("{id} {}", network.name()))
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a node");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the addresses on a thread, so a node that prints nothing cannot hang us,
        // and keeps draining its stdout after.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                let Ok(line) = line else { return };
                if let Some(rest) = line.strip_prefix("listening on ") {
                    let _ = tx.send(rest.to_owned());
                    break;
                }
            }
            for _ in lines {}
        });
        let mut process = NodeProcess {
            child,
            stdin,
            url: String::new(),
            raft_addr: String::new(),
        };
        let line = rx.recv_timeout(START).unwrap_or_else(|_| {
            panic!(
                "node {id} ({}) printed no address (exit status: {:?})",
                network.name(),
                process.child.try_wait()
            )
        });
        let (url, raft_addr) = line.split_once(' ').expect("two addresses");
        process.url = url.to_owned();
        process.raft_addr = raft_addr.to_owned();
        process
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..40 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
