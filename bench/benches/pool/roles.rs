//! The parts a child process plays, chosen by the environment: the three nodes the
//! overhead part calls, the hub and the idle peers of the idle part, the peer of the lanes
//! part. Each child is this bench binary again, so no server or peer shares a process
//! (its allocator, its runtime, its CPU time) with the one that measures.
//!
//! A child prints what the bench waits for on stdout (`listening on ws://ADDR ...`,
//! `linked N ...`), answers every line it reads on stdin with one line of figures (see
//! [`report_on_request`]), and exits when its stdin closes, so a bench that dies leaves no
//! process behind.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use tether_tokio::pool::{NodeId, PeerState, Peers, PeersConfig};
use tether_tokio::rpc::{ErrorObject, Router};
use tokio::task::JoinSet;

/// Which part this process plays.
pub const ROLE: &str = "TETHER_BENCH_POOL_ROLE";
/// The node a child links to (the idle peers: the hub's URL).
pub const URL: &str = "TETHER_BENCH_POOL_URL";
/// How many links a child makes or must hold.
pub const COUNT: &str = "TETHER_BENCH_POOL_COUNT";
/// The largest message a child accepts (the lanes part's peer), in bytes.
pub const MAX_MESSAGE: &str = "TETHER_BENCH_POOL_MAX_MESSAGE";

/// The hub's node id in the idle part; its peers are `FIRST_PEER..`.
pub const HUB: NodeId = NodeId(1);
const FIRST_PEER: u64 = 1000;
/// Peers linking to the hub at once (the hub's listen backlog is 1024).
const LINKING: usize = 200;

/// The params and result of `echo`: what a Raft `RequestVote` carries, about 80 bytes of
/// JSON (the `rpc` bench's request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub term: u64,
    pub candidate: String,
    pub last_log_index: u64,
    pub last_log_term: u64,
}

pub fn vote() -> Vote {
    Vote {
        term: 7,
        candidate: "node-3".to_owned(),
        last_log_index: 1234,
        last_log_term: 6,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Three `Peers` nodes (ids 1, 2, 3) on one single-threaded runtime, serving `echo`.
    Nodes,
    /// One `Peers` node (id 1) that keeps every link however idle.
    Hub,
    /// N `Peers` nodes (ids 1000..), each linked to the hub by one call, then idle.
    IdlePeers,
    /// One `Peers` node (id 2) on a two-worker runtime serving `echo` and `len` (the
    /// length of its params), taking messages up to `MAX_MESSAGE` bytes.
    LanePeer,
}

impl Role {
    const ALL: [Role; 4] = [Role::Nodes, Role::Hub, Role::IdlePeers, Role::LanePeer];

    pub fn name(self) -> &'static str {
        match self {
            Role::Nodes => "nodes",
            Role::Hub => "hub",
            Role::IdlePeers => "idle-peers",
            Role::LanePeer => "lane-peer",
        }
    }

    pub fn from_env() -> Option<Role> {
        let name = std::env::var(ROLE).ok()?;
        Role::ALL.into_iter().find(|role| role.name() == name)
    }

    pub fn run(self) {
        report_on_request();
        let runtime = if self == Role::LanePeer {
            // A node as most run one: a runtime with a worker per core (2 here).
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        .expect("runtime");
        runtime.block_on(async move {
            match self {
                Role::Nodes => nodes().await,
                Role::Hub => hub().await,
                Role::IdlePeers => idle_peers().await,
                Role::LanePeer => lane_peer().await,
            }
        });
    }
}

fn env_usize(name: &str) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name} must be set to a number"))
}

/// `echo` returns its params.
pub fn echo_router() -> Router {
    let mut router = Router::default();
    router.insert("echo", |params: Value| async move {
        Ok::<_, ErrorObject>(params)
    });
    router
}

fn url(peers: &Peers) -> String {
    format!("ws://{}/", peers.local_addr().expect("bound"))
}

async fn nodes() {
    let mut nodes = Vec::new();
    for id in 1..=3 {
        let node = Peers::bind("127.0.0.1:0", PeersConfig::new(NodeId(id)), echo_router())
            .await
            .expect("bind");
        nodes.push(node);
    }
    let urls: Vec<String> = nodes.iter().map(url).collect();
    println!("listening on {}", urls.join(" "));
    set_report(move || {
        let links: usize = nodes.iter().map(|node| node.stats().links).sum();
        format!("links {links}")
    });
    std::future::pending::<()>().await;
}

async fn hub() {
    let count = env_usize(COUNT);
    let mut config = PeersConfig::new(HUB);
    // The window must see every link: none closes for being idle, none is refused.
    config.pool.idle_timeout = None;
    config.pool.max_links = count + 64;
    let hub = Peers::bind("127.0.0.1:0", config, echo_router())
        .await
        .expect("bind");
    println!("listening on {}", url(&hub));
    set_report(move || {
        let stats = hub.stats();
        let up = stats
            .peers
            .iter()
            .filter(|peer| peer.state == PeerState::Up)
            .count();
        format!("links {} up {up}", stats.links)
    });
    std::future::pending::<()>().await;
}

async fn idle_peers() {
    let hub_url = std::env::var(URL).expect("the hub's URL");
    let count = env_usize(COUNT);
    let before = rss_kib(std::process::id());
    let mut peers = Vec::with_capacity(count);
    for i in 0..count {
        let mut config = PeersConfig::new(NodeId(FIRST_PEER + i as u64));
        config.pool.idle_timeout = None;
        let node = Peers::new(config, Router::default()).expect("pool");
        node.add_peer(HUB, &hub_url).expect("hub URL");
        peers.push(node);
    }
    // One call each opens its link; LINKING of them at a time.
    let mut linking = JoinSet::new();
    let mut next = 0;
    let mut linked = 0;
    while linked < count {
        while next < count && linking.len() < LINKING {
            let node = peers[next].clone();
            linking.spawn(async move {
                let answer: Vote = node.call(HUB, "echo", &vote()).await.expect("hub call");
                assert_eq!(answer, vote());
            });
            next += 1;
        }
        linking
            .join_next()
            .await
            .expect("a call in flight")
            .expect("call task");
        linked += 1;
    }
    // What the bench subtracts from its own reading of our memory, once linked and settled.
    println!("linked {count} rss_kib {before}");
    let peers = Arc::new(peers);
    set_report(move || {
        let up = peers
            .iter()
            .filter(|node| node.peer_state(HUB) == PeerState::Up)
            .count();
        format!("up {up}")
    });
    std::future::pending::<()>().await;
}

async fn lane_peer() {
    let max = env_usize(MAX_MESSAGE);
    let mut config = PeersConfig::new(NodeId(2));
    config.pool.ws.max_message_size = max;
    config.pool.ws.max_frame_size = max;
    let mut router = echo_router();
    // The params as raw JSON: what a handler that stores a snapshot chunk would keep.
    router.insert("len", |params: Box<RawValue>| async move {
        Ok::<_, ErrorObject>(params.get().len())
    });
    let node = Peers::bind("127.0.0.1:0", config, router)
        .await
        .expect("bind");
    println!("listening on {}", url(&node));
    set_report(move || format!("links {}", node.stats().links));
    std::future::pending::<()>().await;
}

type Report = Box<dyn Fn() -> String + Send + Sync>;

/// What a child answers when asked; set once its nodes exist.
static REPORT: OnceLock<Report> = OnceLock::new();

fn set_report(report: impl Fn() -> String + Send + Sync + 'static) {
    let _ = REPORT.set(Box::new(report));
}

/// Answers every line read on stdin with `report ...` (the figures of [`set_report`], or
/// nothing yet), on a thread of its own, outside the runtime the nodes run on; exits the
/// process when stdin closes.
fn report_on_request() {
    std::thread::spawn(|| {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => std::process::exit(0),
                Ok(_) => {
                    let figures = REPORT.get().map(|report| report()).unwrap_or_default();
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "report {figures}");
                    let _ = out.flush();
                }
            }
        }
    });
}

/// A child process of this bench in a role. Killed and reaped on drop, also when the
/// bench panics.
pub struct ChildProcess {
    role: Role,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl ChildProcess {
    pub fn start(role: Role, env: &[(&str, String)]) -> ChildProcess {
        let exe = std::env::current_exe().expect("current exe");
        let mut command = Command::new(exe);
        command
            .env(ROLE, role.name())
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn a bench child");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        ChildProcess {
            role,
            child,
            stdin,
            stdout,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it.
    pub fn line_starting(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read child output");
            assert!(
                n > 0,
                "the {} child exited before printing {prefix:?}",
                self.role.name()
            );
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// The URLs of `listening on ws://A ws://B ...`.
    pub fn urls(&mut self) -> Vec<String> {
        self.line_starting("listening on ")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// Asks the child for its figures (see [`report_on_request`]).
    pub fn report(&mut self) -> String {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(b"report\n")
            .and_then(|()| stdin.flush())
            .expect("ask the child");
        self.line_starting("report ")
    }

    /// The number after `key` in the child's report, e.g. `links` in `links 3 up 2`.
    pub fn figure(&mut self, key: &str) -> u64 {
        figure(&self.report(), key)
    }
}

/// The number after `key` in a line of `key value` pairs.
pub fn figure(report: &str, key: &str) -> u64 {
    let mut words = report.split_whitespace();
    while let Some(word) = words.next() {
        if word == key {
            if let Some(value) = words.next().and_then(|v| v.parse().ok()) {
                return value;
            }
        }
    }
    panic!("no {key:?} in {report:?}")
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // It exits by itself once stdin closes; give it a moment, then make sure.
        for _ in 0..20 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident memory of process `pid` in KiB (VmRSS of /proc/PID/status).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
