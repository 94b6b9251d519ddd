//! The main demo: a replicated key-value store on openraft and tether, three `node`
//! processes on loopback, driven over JSON-RPC and told as it happens.
//!
//! ```text
//! cargo build --release -p tether-raft --examples
//! target/release/examples/demo [--quiet] [--stay] [--writes N] [--snapshot-every N] [--node PATH]
//! ```
//!
//! Three nodes start, each on a free port; `mgmt/init` makes them one cluster and they elect
//! a leader; writes go in through every node (followers forward them to the leader); the
//! leader's process is killed (SIGKILL); the other two elect a new leader and writes go on;
//! the old leader's process starts again on its old address with an empty store (it keeps
//! everything in memory) and catches up from the new leader, by snapshot when the leader
//! has purged its log (`--snapshot-every N`, default 50; 0 leaves it to the log); every
//! acknowledged write is read back from every node (linearizable reads served from each
//! node's own copy); and each node's pool shows its peers (`mgmt/peers`).
//!
//! It exits 0 if every step worked in time and no acknowledged write was lost, 1 otherwise,
//! and within 60 s either way. The node binary is `node` beside this one (both are examples
//! of this crate), or `--node PATH`. Lines that start `node N:` come from the nodes;
//! `--quiet` hides them.
//!
//! Every node serves a dashboard on its own port (`http://ADDR/`, printed as the nodes
//! start; `/metrics` and `/health` beside it). `--stay` keeps the cluster running after
//! the story, until Ctrl-C, to look at it there.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tether_raft::kv::{self, Metrics, PeerStats, PoolStats, Request, Value, Write, Written};
use tether_tokio::rpc::{CallError, Client, ClientConfig};

const USAGE: &str =
    "usage: demo [--quiet] [--stay] [--writes N] [--snapshot-every N] [--node PATH]";
/// The whole demo, every wait included.
const DEADLINE: Duration = Duration::from_secs(60);
/// One step that waits on the cluster (an election, a catch-up, one write).
const STEP: Duration = Duration::from_secs(15);
/// One JSON-RPC call.
const CALL: Duration = Duration::from_secs(5);

static START: OnceLock<Instant> = OnceLock::new();

/// Seconds since the demo started.
fn elapsed() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Prints one line of the story, with the time since the start.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("[{:>6.2}s] {}", elapsed(), format_args!($($arg)*))
    };
}
#[tokio::main]
async fn main() -> ExitCode {
    let started = *START.get_or_init(Instant::now);
    let options = match Options::parse() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let mut cluster = Cluster::default();
    let outcome = tokio::time::timeout(DEADLINE, run(&options, &mut cluster)).await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some(format!("the demo took longer than {DEADLINE:?}")),
    };
    if failure.is_none() && options.stay {
        stay(&cluster).await;
    }
    // Stops the nodes before the verdict, so no node line comes after it.
    drop(cluster);
    match failure {
        None => {
            say!(
                "demo OK in {:.1} s: every step in time, no acknowledged write lost",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Some(e) => {
            if options.quiet {
                println!("the nodes' last lines:");
                for line in recent().lock().map(|l| l.clone()).unwrap_or_default() {
                    println!("    {line}");
                }
            }
            say!("demo FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the command line chose.
struct Options {
    quiet: bool,
    /// Keep the cluster up after the story, until Ctrl-C.
    stay: bool,
    writes: usize,
    snapshot_every: u64,
    node: PathBuf,
}

impl Options {
    fn parse() -> Result<Options, String> {
        let mut options = Options {
            quiet: false,
            stay: false,
            writes: 100,
            snapshot_every: 50,
            node: beside_me("node")?,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| USAGE.to_owned());
            match arg.as_str() {
                "--quiet" => options.quiet = true,
                "--stay" => options.stay = true,
                "--writes" => options.writes = value()?.parse().map_err(|_| USAGE)?,
                "--snapshot-every" => {
                    options.snapshot_every = value()?.parse().map_err(|_| USAGE)?;
                }
                "--node" => options.node = value()?.into(),
                _ => return Err(USAGE.into()),
            }
        }
        if options.writes < 4 {
            return Err("--writes: at least 4".into());
        }
        if !options.node.exists() {
            return Err(format!(
                "no node binary at {} (build it: cargo build --release -p tether-raft --examples)",
                options.node.display()
            ));
        }
        Ok(options)
    }
}

/// The executable `name` in this one's folder.
fn beside_me(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let dir = me.parent().ok_or("where am I: no folder")?;
    Ok(dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX)))
}

/// The nodes' last lines, shown when the demo fails in `--quiet`.
fn recent() -> &'static Mutex<VecDeque<String>> {
    static RECENT: OnceLock<Mutex<VecDeque<String>>> = OnceLock::new();
    RECENT.get_or_init(Mutex::default)
}

/// The node processes, and a client of each.
#[derive(Default)]
struct Cluster {
    nodes: BTreeMap<u64, Process>,
    clients: BTreeMap<u64, Client>,
}

/// A node process. Dropped, it is killed; its standard input closing stops it too
/// (`--watch-stdin`), should this process die first.
struct Process {
    child: Child,
    /// `ws://127.0.0.1:PORT/`
    url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    /// Starts node `id` on `listen` and waits for its `listening on` line.
    async fn start(options: &Options, id: u64, listen: &str) -> Result<Process, String> {
        let mut command = Command::new(&options.node);
        command
            .arg(id.to_string())
            .arg(listen)
            .arg("--watch-stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if options.snapshot_every > 0 {
            command
                .arg("--snapshot-every")
                .arg(options.snapshot_every.to_string());
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", options.node.display()))?;
        let (listening, url) = tokio::sync::oneshot::channel();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let quiet = options.quiet;
        std::thread::spawn(move || relay(stdout, quiet, Some(listening), ""));
        std::thread::spawn(move || relay(stderr, quiet, None, &format!("node {id} (stderr): ")));
        // Killed if it does not listen in time.
        let mut process = Process {
            child,
            url: String::new(),
        };
        match tokio::time::timeout(Duration::from_secs(10), url).await {
            Ok(Ok(url)) => {
                process.url = format!("{url}/");
                Ok(process)
            }
            Ok(Err(_)) => Err(format!("node {id} exited before it listened")),
            Err(_) => Err(format!("node {id} did not listen within 10 s")),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `127.0.0.1:PORT`
    fn addr(&self) -> &str {
        self.url.trim_start_matches("ws://").trim_end_matches('/')
    }
}

/// Passes a node's output on, line by line: the first `listening on` line to `listening`,
/// the rest to our stdout (unless `quiet`) and to [`recent`].
fn relay(
    from: impl Read,
    quiet: bool,
    mut listening: Option<tokio::sync::oneshot::Sender<String>>,
    prefix: &str,
) {
    for line in BufReader::new(from).lines() {
        let Ok(line) = line else { break };
        if let Some(url) = line.strip_prefix("listening on ") {
            if let Some(listening) = listening.take() {
                let _ = listening.send(url.to_owned());
                continue;
            }
        }
        if let Ok(mut recent) = recent().lock() {
            if recent.len() == 40 {
                recent.pop_front();
            }
            recent.push_back(format!("{prefix}{line}"));
        }
        if !quiet {
            say!("    {prefix}{line}");
        }
    }
}

/// One call with [`CALL`] as its deadline.
async fn call<P: Serialize, T: DeserializeOwned>(
    client: &Client,
    method: &str,
    params: &P,
) -> Result<T, CallError> {
    client.call_with_timeout(method, params, CALL).await
}

/// Asks `check` every 50 ms until it gives something, for [`STEP`] at most.
async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> Result<T, String> {
    let end = Instant::now() + STEP;
    loop {
        if let Some(found) = check().await {
            return Ok(found);
        }
        if Instant::now() > end {
            return Err(format!("{what}: nothing after {STEP:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The leader, and its term, once every client's node names the same one, one of them,
/// other than `not`.
async fn agreed_leader(clients: &BTreeMap<u64, Client>, not: Option<u64>) -> Option<(u64, u64)> {
    let mut seen = Vec::new();
    for client in clients.values() {
        let metrics: Metrics = call(client, kv::METRICS, &()).await.ok()?;
        seen.push((metrics.leader?, metrics.term));
    }
    seen.dedup();
    let [(leader, term)] = seen[..] else {
        return None;
    };
    (clients.contains_key(&leader) && Some(leader) != not).then_some((leader, term))
}

async fn run(options: &Options, cluster: &mut Cluster) -> Result<(), String> {
    say!(
        "tether Raft demo: 3 nodes of a replicated key-value store, each its own process ({}), on loopback",
        options.node.display()
    );

    // 1. Three nodes, each on a port of its own choosing.
    for id in 1..=3 {
        let node = Process::start(options, id, "127.0.0.1:0").await?;
        say!("node {id} listening on {} (pid {})", node.url, node.pid());
        cluster.nodes.insert(id, node);
    }
    say!(
        "dashboard: http://{}/ (every node serves one, with /metrics and /health beside it; --stay keeps the cluster up)",
        cluster.nodes[&1].addr()
    );
    for (id, node) in &cluster.nodes {
        let client = Client::connect(&node.url, ClientConfig::default())
            .await
            .map_err(|e| format!("connecting to node {id}: {e}"))?;
        cluster.clients.insert(*id, client);
    }

    // 2. One cluster, one leader.
    let members: BTreeMap<u64, String> = cluster
        .nodes
        .iter()
        .map(|(id, node)| (*id, node.url.clone()))
        .collect();
    let init = Instant::now();
    let () = call(&cluster.clients[&1], kv::INIT, &kv::Init { nodes: members })
        .await
        .map_err(|e| format!("mgmt/init: {e}"))?;
    say!("mgmt/init on node 1: nodes 1, 2 and 3 are the voters; waiting for an election");
    let (leader, term) = wait_for("a leader", async || {
        agreed_leader(&cluster.clients, None).await
    })
    .await?;
    say!(
        "node {leader} is the leader, term {term} (elected {} after mgmt/init)",
        ms(init.elapsed())
    );

    // 3. Writes through every node.
    let mut acknowledged = BTreeMap::new();
    let first = options.writes;
    write(&cluster.clients, 0..first, &mut acknowledged).await?;

    // 4. The leader dies.
    let old = cluster
        .nodes
        .remove(&leader)
        .ok_or("the leader is not ours")?;
    cluster.clients.remove(&leader);
    let (old_addr, old_pid) = (old.addr().to_owned(), old.pid());
    let killed = Instant::now();
    drop(old);
    say!(
        "SIGKILL to node {leader}, the leader (pid {old_pid}); the others elect a new one once its \
         heartbeats have been missing for an election timeout (1-2 s) and its lease (2 s) has run out"
    );
    let (new_leader, new_term) = wait_for("a new leader", async || {
        agreed_leader(&cluster.clients, Some(leader)).await
    })
    .await?;
    say!(
        "node {new_leader} is the new leader, term {new_term}: elected {} after the kill",
        ms(killed.elapsed())
    );

    // 5. Writes go on without it.
    let second = first + options.writes;
    write(&cluster.clients, first..second, &mut acknowledged).await?;

    // 6. The old leader comes back, empty, and catches up.
    let target: Metrics = call(&cluster.clients[&new_leader], kv::METRICS, &())
        .await
        .map_err(|e| format!("metrics of node {new_leader}: {e}"))?;
    let restarted = Instant::now();
    let node = Process::start(options, leader, &old_addr).await?;
    say!(
        "node {leader} restarted on the same address, {} (pid {}): its log and store were in memory, so it starts empty",
        node.url,
        node.pid()
    );
    let url = node.url.clone();
    cluster.nodes.insert(leader, node);
    let client = Client::connect(&url, ClientConfig::default())
        .await
        .map_err(|e| format!("connecting to node {leader}: {e}"))?;
    let last = target.last_log_index.unwrap_or(0);
    if let Some(purged) = target.purged {
        say!(
            "node {new_leader}'s log is purged up to index {purged} (it is in a snapshot) and goes on to {last}"
        );
    }
    let caught_up: Metrics = wait_for("the restarted node to catch up", async || {
        let m: Metrics = call(&client, kv::METRICS, &()).await.ok()?;
        (m.last_applied >= Some(last) && m.leader == Some(new_leader)).then_some(m)
    })
    .await?;
    let how = match caught_up.installed_snapshot {
        Some(index) => format!(
            "by snapshot: it installed node {new_leader}'s snapshot up to index {index} (sent in chunks on the bulk lane), then took entries {}..{} from the log",
            index + 1,
            caught_up.last_applied.unwrap_or(0)
        ),
        None => format!(
            "by the log: node {new_leader} replicated entries 1..{}",
            caught_up.last_applied.unwrap_or(0)
        ),
    };
    say!(
        "node {leader} caught up in {}, {how}",
        ms(restarted.elapsed())
    );
    cluster.clients.insert(leader, client);

    // 7. Writes through the restarted node, forwarded to the leader.
    let third = second + options.writes / 4;
    let only_back: BTreeMap<u64, Client> = [(leader, cluster.clients[&leader].clone())].into();
    write(&only_back, second..third, &mut acknowledged).await?;

    // 8. Everything acknowledged, read back from every node.
    read_back(&cluster.clients, &acknowledged, new_leader).await?;

    // 9. What each node's pool saw.
    stats_table(&cluster.clients).await
}

/// Keeps the cluster up until Ctrl-C, saying where its dashboards are.
async fn stay(cluster: &Cluster) {
    for (id, node) in &cluster.nodes {
        say!("node {id}: dashboard at http://{}/", node.addr());
    }
    say!("the cluster stays up; Ctrl-C stops it");
    let _ = tokio::signal::ctrl_c().await;
}

/// Writes keys `range` one at a time, in turn through each client's node, retrying each
/// until it is acknowledged (for [`STEP`] at most), and tells their latencies.
async fn write(
    clients: &BTreeMap<u64, Client>,
    range: std::ops::Range<usize>,
    acknowledged: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let through: Vec<u64> = clients.keys().copied().collect();
    let names = list(&through);
    say!(
        "writing key{:03}..key{:03} one at a time through node{} {names}{}",
        range.start,
        range.end - 1,
        if through.len() > 1 { "s" } else { "" },
        " (a follower forwards each write to the leader)"
    );
    let batch = range.len().div_ceil(4);
    let started = Instant::now();
    let mut all = Vec::new();
    let mut latencies = Vec::new();
    let mut indexes = Vec::new();
    let mut retries = 0;
    for (n, i) in range.clone().enumerate() {
        let node = through[n % through.len()];
        let (key, value) = (format!("key{i:03}"), format!("value{i:03}"));
        let params = Write {
            request: Request::Set {
                key: key.clone(),
                value: value.clone(),
            },
            forwarded: false,
        };
        let end = Instant::now() + STEP;
        let written = loop {
            let sent = Instant::now();
            match call::<_, Written>(&clients[&node], kv::WRITE, &params).await {
                Ok(written) => {
                    latencies.push(sent.elapsed());
                    break written;
                }
                Err(e) if Instant::now() > end => {
                    return Err(format!("{key} through node {node}: {e}, for {STEP:?}"));
                }
                Err(_) => {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        acknowledged.insert(key, value);
        indexes.push(written.index);
        if latencies.len() == batch || n + 1 == range.len() {
            say!(
                "  key{:03}..key{i:03} acknowledged by leader {}: log index {}..{}, latency {}",
                i + 1 - latencies.len(),
                written.leader,
                indexes[0],
                written.index,
                spread(&mut latencies)
            );
            all.append(&mut latencies);
            indexes.clear();
        }
    }
    let took = started.elapsed();
    say!(
        "{} writes acknowledged in {} ({:.0} writes/s one at a time{}), latency {}",
        range.len(),
        ms(took),
        range.len() as f64 / took.as_secs_f64(),
        if retries > 0 {
            format!(", {retries} retried")
        } else {
            String::new()
        },
        spread(&mut all)
    );
    Ok(())
}

/// Reads every acknowledged key from every node and checks its value.
async fn read_back(
    clients: &BTreeMap<u64, Client>,
    acknowledged: &BTreeMap<String, String>,
    leader: u64,
) -> Result<(), String> {
    say!(
        "reading all {} acknowledged keys back from every node: linearizable (each node gets the leader's read index, waits until it has applied that far, and answers from its own copy)",
        acknowledged.len()
    );
    let mut lost = Vec::new();
    for (node, client) in clients {
        let mut latencies = Vec::new();
        let mut right = 0;
        for (key, value) in acknowledged {
            let sent = Instant::now();
            let read = kv::Read { key: key.clone() };
            let got: Value = call(client, kv::READ, &read)
                .await
                .map_err(|e| format!("kv/read {key} on node {node}: {e}"))?;
            latencies.push(sent.elapsed());
            if got.value.as_deref() == Some(value.as_str()) {
                right += 1;
            } else {
                lost.push(format!(
                    "node {node}: {key} is {:?}, not {value}",
                    got.value
                ));
            }
        }
        let role = if *node == leader {
            "leader"
        } else {
            "follower"
        };
        say!(
            "  node {node} ({role}): {right} of {} as written, read latency {}",
            acknowledged.len(),
            spread(&mut latencies)
        );
    }
    if lost.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} acknowledged writes not read back: {}",
            lost.len(),
            lost.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ))
    }
}

/// Each node's view of its peers (`mgmt/peers`), one row per peer.
async fn stats_table(clients: &BTreeMap<u64, Client>) -> Result<(), String> {
    // Links opened in the last second (since the election, the restart) have not sent
    // their first ping yet: give them up to 2 s, so the table has round trips.
    let end = Instant::now() + Duration::from_secs(2);
    let mut told = false;
    let pools = loop {
        let mut pools = Vec::new();
        for (node, client) in clients {
            let stats: PoolStats = call(client, kv::PEERS, &())
                .await
                .map_err(|e| format!("mgmt/peers on node {node}: {e}"))?;
            pools.push(stats);
        }
        let unmeasured = pools
            .iter()
            .flat_map(|pool| &pool.peers)
            .any(|peer| peer.state == "up" && peer.rtt_p50_us.is_none());
        if !unmeasured || Instant::now() > end {
            break pools;
        }
        if !told {
            say!("waiting for the newest links' first heartbeat ping (one a second), for their round trips");
            told = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    say!("each node's view of its peers, from its pool (mgmt/peers):");
    let header = [
        "node",
        "peer",
        "state",
        "calls",
        "failed",
        "rtt p50",
        "call p50",
        "call p99",
        "reconn",
        "bytes in",
        "bytes out",
        "last error",
    ];
    let mut rows = vec![header.map(String::from).to_vec()];
    for pool in &pools {
        for peer in &pool.peers {
            rows.push(row(pool.node, peer));
        }
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let mut line = String::from("  ");
        for (c, cell) in row.iter().enumerate() {
            // Names left, numbers right.
            if c <= 2 || c == row.len() - 1 {
                let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
            } else {
                let _ = write!(line, "{cell:>w$}  ", w = widths[c]);
            }
        }
        println!("{}", line.trim_end());
        if n == 0 {
            println!(
                "  {}",
                "-".repeat(widths.iter().map(|w| w + 2).sum::<usize>() - 2)
            );
        }
    }
    println!(
        "  calls: made by the node to the peer; failed: ended without an answer; rtt: heartbeat \
         ping round trip;\n  call: from a call to its answer; reconn: links opened after the \
         first (a bulk lane's too); last error: why its last link failed"
    );
    Ok(())
}

fn row(node: u64, peer: &PeerStats) -> Vec<String> {
    vec![
        node.to_string(),
        peer.node.to_string(),
        peer.state.clone(),
        peer.calls.to_string(),
        peer.failures.to_string(),
        micros(peer.rtt_p50_us),
        micros(peer.call_p50_us),
        micros(peer.call_p99_us),
        peer.reconnects.to_string(),
        bytes(peer.bytes_in),
        bytes(peer.bytes_out),
        peer.last_error.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// "p50 0.41 ms, p99 1.20 ms, max 2.03 ms"
fn spread(latencies: &mut [Duration]) -> String {
    if latencies.is_empty() {
        return "-".into();
    }
    latencies.sort_unstable();
    let at = |q: usize| latencies[((latencies.len() - 1) * q).div_ceil(100)];
    format!(
        "p50 {}, p99 {}, max {}",
        ms(at(50)),
        ms(at(99)),
        ms(latencies[latencies.len() - 1])
    )
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn micros(us: Option<u64>) -> String {
    us.map_or_else(|| "-".into(), |us| ms(Duration::from_micros(us)))
}

fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// "1, 2 and 3"
fn list(ids: &[u64]) -> String {
    let names: Vec<String> = ids.iter().map(u64::to_string).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    }
}
