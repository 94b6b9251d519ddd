//! Running the peers in `tests/peers/` as child processes.
//!
//! A peer server is started once per test and killed when its [`PeerServer`] drops; it
//! also exits by itself when its stdin closes, so a test process that dies leaves no
//! orphan. A peer client runs one scenario to completion ([`run_client`]).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::repo_root;

/// How long any single wait on a peer may take before the test fails (the 16 MiB echoes
/// of a debug build are the slowest step, well under this).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a whole peer client scenario may take. The peers give up after 60 s on their
/// own; this is the backstop.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// Which third-party WebSocket implementation plays the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// Python `websockets` (asyncio API), `peers/py_peer.py`.
    Python,
    /// Node `ws`, `peers/node_peer.js`.
    Node,
}

impl PeerKind {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Python => "python websockets",
            PeerKind::Node => "node ws",
        }
    }

    /// The peer's own WebSocket script in `tests/peers/`.
    fn script(self) -> &'static str {
        match self {
            PeerKind::Python => "py_peer.py",
            PeerKind::Node => "node_peer.js",
        }
    }

    /// A command that runs the peer script with `args`, finding its library in `.deps/`.
    /// Panics, saying how to fix it, if the library is not installed there: a missing peer
    /// is a failed test, never a skipped one.
    pub fn command(self, args: &[&str]) -> Command {
        self.script_command(self.script(), args)
    }

    /// Like [`command`](Self::command) for another script in `tests/peers/` written for the
    /// same interpreter and library (`py_rpc_raw.py` for Python, say).
    pub fn script_command(self, script: &str, args: &[&str]) -> Command {
        self.ensure_installed();
        let root = repo_root();
        let peers = root.join("tests/peers");
        let mut cmd = match self {
            PeerKind::Python => {
                let mut cmd = Command::new("python3");
                cmd.arg(peers.join(script))
                    .env("PYTHONPATH", root.join(".deps/python"))
                    // Keep __pycache__ out of the source tree.
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                cmd
            }
            PeerKind::Node => {
                let mut cmd = Command::new("node");
                cmd.arg(peers.join(script))
                    .env("NODE_PATH", root.join(".deps/node/node_modules"));
                cmd
            }
        };
        cmd.args(args);
        cmd
    }

    /// The file whose presence shows the library is installed in `.deps/`.
    fn marker(self) -> PathBuf {
        let deps = repo_root().join(".deps");
        match self {
            PeerKind::Python => deps.join("python/websockets/__init__.py"),
            PeerKind::Node => deps.join("node/node_modules/ws/package.json"),
        }
    }

    /// Panics with the fix if the peer library is missing.
    pub fn ensure_installed(self) {
        let marker = self.marker();
        assert!(
            marker.is_file(),
            "{} is not installed ({} is missing): run scripts/install-peers.sh from the repo root",
            self.name(),
            marker.display()
        );
    }
}

/// Collects a child's output in the background (for results and failure messages).
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    collect_joinable(pipe).0
}

fn collect_joinable(
    mut pipe: impl Read + Send + 'static,
) -> (Arc<Mutex<String>>, thread::JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&buffer);
    let handle = thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&chunk[..n]);
            sink.lock().expect("output buffer").push_str(&text);
        }
    });
    (buffer, handle)
}

fn snapshot(buffer: &Arc<Mutex<String>>) -> String {
    buffer.lock().expect("output buffer").clone()
}

/// A peer in server mode, listening on loopback.
#[derive(Debug)]
pub struct PeerServer {
    kind: PeerKind,
    child: Child,
    /// Held so the peer sees EOF (and exits) if we go away without `Drop`.
    stdin: Option<ChildStdin>,
    /// `ws://127.0.0.1:PORT`, from the peer's `listening on` line.
    base_url: String,
    /// One JSON report per finished connection, in order.
    reports: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl PeerServer {
    /// Starts the peer and waits (bounded) for its `listening on ws://ADDR` line.
    pub fn start(kind: PeerKind) -> PeerServer {
        Self::start_with_env(kind, &[])
    }

    /// Like [`start`](Self::start), with extra environment variables: `PEER_TLS_CERT` and
    /// `PEER_TLS_KEY` make it serve `wss://` (its line then says `wss://ADDR`),
    /// `PEER_TLS_CA` makes it require client certificates from that CA.
    pub fn start_with_env(kind: PeerKind, env: &[(&str, &Path)]) -> PeerServer {
        let mut command = kind.command(&["server"]);
        command.envs(env.iter().copied());
        PeerServer::start_command(kind, command)
    }

    /// Like [`start`](Self::start) for another server script in `tests/peers/`
    /// (`py_rpc_server.py`, say), run with `args`.
    pub fn start_script(kind: PeerKind, script: &str, args: &[&str]) -> PeerServer {
        PeerServer::start_command(kind, kind.script_command(script, args))
    }

    fn start_command(kind: PeerKind, mut command: Command) -> PeerServer {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the {} peer: {e}", kind.name()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        let (lines_tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = PeerServer {
            kind,
            child,
            stdin,
            base_url: String::new(),
            reports: lines,
            stderr,
        };
        let first = server.next_line("its `listening on` line");
        server.base_url = first
            .strip_prefix("listening on ")
            .filter(|url| url.starts_with("ws://127.0.0.1:") || url.starts_with("wss://127.0.0.1:"))
            .unwrap_or_else(|| {
                panic!(
                    "{} peer printed {first:?}, expected `listening on ws[s]://127.0.0.1:PORT`",
                    kind.name()
                )
            })
            .to_owned();
        server
    }

    /// The URL of a scenario path (`/echo`, `/close?code=4001&reason=bye`, …).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The port the peer listens on.
    pub fn port(&self) -> u16 {
        self.base_url
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {}", self.base_url))
    }

    fn next_line(&self, what: &str) -> String {
        match self.reports.recv_timeout(STEP_TIMEOUT) {
            Ok(line) => line,
            Err(e) => self.no_line(what, e),
        }
    }

    fn no_line(&self, what: &str, e: impl std::fmt::Display) -> ! {
        panic!(
            "{} peer server: no {what} within {STEP_TIMEOUT:?} ({e}); its stderr:\n{}",
            self.kind.name(),
            snapshot(&self.stderr)
        )
    }

    /// The report the peer prints when a connection ends: `path`, `ok`, `error`,
    /// `messages` (type, len, fragments), `pong`, and `close` (the close `code` and
    /// `reason` the peer received, 1006 if none; Python adds `rcvd_then_sent`). Checks
    /// `ok`. The wait is async (a short-interval poll on an `async-io` timer, which any
    /// executor can poll), so tether's tasks keep running.
    pub async fn next_report(&self) -> Value {
        let deadline = Instant::now() + STEP_TIMEOUT;
        let line = loop {
            match self.reports.try_recv() {
                Ok(line) => break line,
                Err(mpsc::TryRecvError::Empty) if Instant::now() < deadline => {
                    async_io::Timer::after(Duration::from_millis(20)).await;
                }
                Err(e) => self.no_line("connection report", e),
            }
        };
        let report: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "{} peer server printed {line:?}, not a JSON report: {e}",
                self.kind.name()
            )
        });
        assert_eq!(
            report["ok"],
            Value::Bool(true),
            "{} peer server reported a failure: {report}\nits stderr:\n{}",
            self.kind.name(),
            snapshot(&self.stderr)
        );
        report
    }

    /// What the peer wrote to stderr so far.
    pub fn stderr(&self) -> String {
        snapshot(&self.stderr)
    }

    /// The lines the peer printed since the last look (after its `listening on` line),
    /// without waiting.
    pub fn lines(&self) -> Vec<String> {
        self.reports.try_iter().collect()
    }

    /// Kills the peer at once (SIGKILL: no cleanup, no close frames, like a crash) and
    /// returns the lines it printed that nobody took yet.
    pub fn kill(&mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its stdout is closed now: the reader thread ends once it has passed on the rest.
        let mut rest = Vec::new();
        while let Ok(line) = self.reports.recv_timeout(STEP_TIMEOUT) {
            rest.push(line);
        }
        rest
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a peer client run ended.
#[derive(Debug)]
pub struct ClientRun {
    /// The peer.
    pub kind: PeerKind,
    /// The process's exit status.
    pub status: ExitStatus,
    /// Its one-line JSON result (`Null` if it printed none).
    pub result: Value,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl ClientRun {
    /// The JSON result, after checking the peer exited 0 and said `"ok": true`.
    pub fn success(self) -> Value {
        assert!(
            self.status.success() && self.result["ok"] == Value::Bool(true),
            "{} peer client failed ({}): stdout {:?}\nstderr:\n{}",
            self.kind.name(),
            self.status,
            self.stdout,
            self.stderr
        );
        self.result
    }
}

/// Runs `peer client URL SCENARIO` to completion, bounded by [`CLIENT_TIMEOUT`]. The wait
/// is async (a short-interval poll) so the tether server in the same runtime keeps going.
pub async fn run_client(kind: PeerKind, url: &str, scenario: &str) -> ClientRun {
    run_client_with_env(kind, url, scenario, &[]).await
}

/// Like [`run_client`], with extra environment variables: `PEER_TLS_CA` for the CA to
/// trust on `wss://`, `PEER_TLS_CERT` and `PEER_TLS_KEY` for a client certificate.
pub async fn run_client_with_env(
    kind: PeerKind,
    url: &str,
    scenario: &str,
    env: &[(&str, &Path)],
) -> ClientRun {
    let mut command = kind.command(&["client", url, scenario]);
    command.envs(env.iter().copied());
    run_to_end(kind, command, scenario).await
}

/// Runs a peer process built with [`PeerKind::command`] or [`PeerKind::script_command`]
/// to completion, bounded by [`CLIENT_TIMEOUT`], and collects its exit status, its output
/// and its last JSON line. `scenario` names the run in failure messages.
pub async fn run_to_end(kind: PeerKind, mut command: Command, scenario: &str) -> ClientRun {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the {} peer client: {e}", kind.name()));
    let (stdout, stdout_done) = collect_joinable(child.stdout.take().expect("piped stdout"));
    let (stderr, stderr_done) = collect_joinable(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                async_io::Timer::after(Duration::from_millis(20)).await;
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} peer client `{scenario}` still running after {CLIENT_TIMEOUT:?}; stderr:\n{}",
                    kind.name(),
                    snapshot(&stderr)
                );
            }
            Err(e) => panic!("waiting for the {} peer client: {e}", kind.name()),
        }
    };
    // The pipes close when the process exits, so the readers are done or about to be.
    let _ = stdout_done.join();
    let _ = stderr_done.join();
    let out = snapshot(&stdout);
    let result = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    ClientRun {
        kind,
        status,
        result,
        stdout: out,
        stderr: snapshot(&stderr),
    }
}
