//! The crate's examples as processes: finding them built and current ([`example`]), and a
//! `node` process with its address ([`NodeProcess`]).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use tether_raft::kv::{self, Init};

/// `target/<profile>`, from this test's own path (`target/<profile>/deps/demo-…`).
pub fn profile_dir() -> PathBuf {
    let me = std::env::current_exe().expect("the test's path");
    me.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .to_owned()
}

/// The `demo` example, and the `node` beside it, as current as this crate's sources: the
/// path of `name`, one of them.
///
/// `cargo test` builds every example along with the tests, so normally they are there and
/// new. `cargo test --test demo` builds no example: then, or when a file of this crate is
/// newer than them, they are built here, with this test's profile.
pub fn example(name: &str) -> PathBuf {
    let profile = &profile_dir();
    let examples = profile.join("examples");
    let exe = |name: &str| examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = [exe("demo"), exe("node")]
        .iter()
        .map(|path| modified(path))
        .min()
        .flatten();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sources = newest(&manifest.join("src"))
        .max(newest(&manifest.join("examples")))
        .max(modified(&manifest.join("Cargo.toml")));
    if built.is_none() || built < sources {
        eprintln!("building the examples: they are missing or older than the sources");
        let started = Instant::now();
        build_examples(profile);
        eprintln!("built in {:?}", started.elapsed());
    }
    exe(name)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of the files under `dir`.
fn newest(dir: &Path) -> Option<SystemTime> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                newest(&path)
            } else {
                modified(&path)
            }
        })
        .max()
}

/// `cargo build -p tether-raft --examples`, with the profile this test was built with.
fn build_examples(profile: &Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "-p", "tether-raft", "--examples"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    // What cargo sets for this test alone: left in, build scripts that watch them (ring's)
    // would see them change, and the dependencies would be built again, here and after.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "OUT_DIR",
            ]
            .contains(&&*name)
        {
            build.env_remove(&*name);
        }
    }
    match profile.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            build.arg("--release");
        }
        Some(other) => {
            build.args(["--profile", other]);
        }
    }
    let built = build.output().expect("run cargo");
    assert!(
        built.status.success(),
        "cargo build -p tether-raft --examples failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
}

/// A `node` example process, killed when dropped (and stopped by its standard input
/// closing, should the test die first).
pub struct NodeProcess {
    child: Child,
    /// Held: closed, it stops the node (`--watch-stdin`).
    _stdin: Option<ChildStdin>,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl NodeProcess {
    /// Starts node `id` on `listen` with `args`, and waits for its `listening on` line.
    /// Its other lines go to this test's output, prefixed with the node's id.
    pub fn start(id: u64, listen: &str, args: &[&str]) -> NodeProcess {
        let binary = example("node");
        let mut child = Command::new(&binary)
            .arg(id.to_string())
            .arg(listen)
            .arg("--watch-stdin")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || relay(id, stdout, Some(tx)));
        std::thread::spawn(move || relay(id, stderr, None));
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("node {id} did not listen: {e}"));
        NodeProcess {
            _stdin: child.stdin.take(),
            child,
            addr: url.trim_start_matches("ws://").to_owned(),
        }
    }

    /// `ws://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // SIGKILL: the node gets no chance to close its links.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn relay(id: u64, from: impl Read, mut listening: Option<mpsc::Sender<String>>) {
    for line in BufReader::new(from).lines() {
        let Ok(line) = line else { break };
        if let Some(url) = line.strip_prefix("listening on ") {
            if let Some(tx) = listening.take() {
                let _ = tx.send(url.to_owned());
                continue;
            }
        }
        eprintln!("node {id}: {line}");
    }
}

/// `GET path` on `addr` with HTTP/1.1: the status and the body. Panics on anything that is
/// not a well-formed response (the node's pages are the thing under test).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    let text = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {text:?}"));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    if let Some(length) = length {
        assert_eq!(body.len(), length, "Content-Length and the body disagree");
    }
    (status, body.to_owned())
}

/// A client of each node, after `mgmt/init` on node 1 made them the cluster's voters.
pub async fn init_cluster(
    nodes: &BTreeMap<u64, NodeProcess>,
) -> BTreeMap<u64, tether_tokio::rpc::Client> {
    let members: BTreeMap<u64, String> = nodes.iter().map(|(id, n)| (*id, n.url())).collect();
    let mut clients = BTreeMap::new();
    for (id, url) in &members {
        let client =
            tether_tokio::rpc::Client::connect(url, tether_tokio::rpc::ClientConfig::default())
                .await
                .unwrap_or_else(|e| panic!("connect to node {id}: {e}"));
        clients.insert(*id, client);
    }
    let () = clients[&1]
        .call(kv::INIT, &Init { nodes: members })
        .await
        .expect("mgmt/init");
    clients
}
