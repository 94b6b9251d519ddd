//! The pieces of the `runtimes` bench: servers run as child processes (the adapters'
//! release-built `echo_server` and `rpc_server` examples), their CPU time read from
//! `/proc` (the `pool` bench reads its children with the same functions), and a load
//! client that drives many connections at once.
//!
//! The load client is `echo`'s, spread over connections: it does the upgrade by hand, keeps
//! a fixed window of pre-encoded masked frames in flight on every connection, and counts
//! answers by parsing only frame headers ([`FrameCounter`]). All connections are opened,
//! upgraded and primed with one round trip before the clock starts and closed after it
//! stops, so a timed run, and the server CPU time read around it, holds only messages.

use std::cell::Cell;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tether_core::frame::{encode_frame, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::echo::{client_handshake, FrameCounter};
use crate::{masked_binary_frames, masked_close_frame, CLIENT_MASK};

/// How long a server process may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A server under test in a process of its own: started with `127.0.0.1:0` as its only
/// argument, it must print `listening on ws://ADDR` on stdout once it accepts connections.
/// Killed and reaped on drop (also when the bench panics).
#[derive(Debug)]
pub struct ServerProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    program: String,
    child: Child,
}

impl ServerProcess {
    /// Starts `program` with the variables `env` added to its environment and waits for
    /// its address.
    ///
    /// # Panics
    /// If it cannot be started, exits, or does not print its address within 30 s.
    pub fn start(program: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let mut child = Command::new(program)
            .arg("127.0.0.1:0")
            // Logging to stderr only if asked for by name; the benchmark wants none.
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // A thread reads the address so that a server that prints nothing cannot hang us;
        // it then keeps the pipe open (and drained) for as long as the server runs.
        std::thread::spawn(move || read_address(stdout, tx));
        let mut server = ServerProcess {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            program: program.display().to_string(),
            child,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => server.addr = addr,
            Err(_) => panic!(
                "{} did not print `listening on ws://ADDR` (exit status: {:?})",
                server.program,
                server.child.try_wait()
            ),
        }
        server
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server has used so far, user plus system, all its threads, in clock
    /// ticks (see [`clock_ticks_per_second`]).
    ///
    /// # Panics
    /// If the server has exited: its figures would be meaningless.
    pub fn cpu_ticks(&mut self) -> u64 {
        let (user, system) = self.cpu_split();
        user + system
    }

    /// [`cpu_ticks`](Self::cpu_ticks) as its user-space and kernel parts.
    ///
    /// # Panics
    /// If the server has exited.
    pub fn cpu_split(&mut self) -> (u64, u64) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited: {status}", self.program);
        }
        process_cpu_split(self.pid())
    }
}

impl ServerProcess {
    /// Context switches of the server's threads so far, voluntary and not, summed from
    /// `/proc/PID/task/*/status`: how often its threads went to sleep (or were put to
    /// sleep), which is what hand-offs between threads cost. Threads that have exited are
    /// not counted; the example servers keep theirs.
    pub fn context_switches(&self) -> u64 {
        process_context_switches(self.pid())
    }

    /// How many threads the server runs now.
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid()))
            .map(|tasks| tasks.count())
            .unwrap_or(0)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_address(stdout: ChildStdout, tx: mpsc::Sender<SocketAddr>) {
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { return };
        if let Some(addr) = line.trim().strip_prefix("listening on ws://") {
            if let Ok(addr) = addr.trim_end_matches('/').parse() {
                let _ = tx.send(addr);
                break;
            }
        }
    }
    for _ in lines {}
}

/// CPU time process `pid` has used so far, user plus system, all its threads, in clock
/// ticks (see [`clock_ticks_per_second`]).
///
/// # Panics
/// If `/proc/PID/stat` cannot be read or parsed (the process is gone).
pub fn process_cpu_ticks(pid: u32) -> u64 {
    let (user, system) = process_cpu_split(pid);
    user + system
}

/// [`process_cpu_ticks`] as its user-space and kernel parts.
///
/// # Panics
/// If `/proc/PID/stat` cannot be read or parsed (the process is gone).
pub fn process_cpu_split(pid: u32) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    parse_cpu_split(&stat).unwrap_or_else(|| panic!("unexpected /proc stat line: {stat}"))
}

/// Context switches of process `pid`'s threads so far, voluntary and not, summed from
/// `/proc/PID/task/*/status`: how often its threads went to sleep (or were put to sleep).
/// Threads that have exited are not counted. 0 if the process is gone.
pub fn process_context_switches(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(rest) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += rest.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// CPU time this process (the load client) has used so far, in clock ticks, as
/// [`ServerProcess::cpu_ticks`].
pub fn own_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    parse_cpu_ticks(&stat).unwrap_or_else(|| panic!("unexpected /proc stat line: {stat}"))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    parse_cpu_split(stat).map(|(user, system)| user + system)
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/PID/stat` line: CPU time in user
/// space and in the kernel. The command name (field 2) is in parentheses and may hold
/// spaces, so fields are counted after its last `)`.
pub fn parse_cpu_split(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state): utime is field 14, the 12th of `rest`.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// Clock ticks per second of `/proc`'s CPU times, from `getconf CLK_TCK`, and whether it
/// was measured (`false`: `getconf` failed and 100, Linux's usual value, is assumed).
pub fn clock_ticks_per_second() -> (u64, bool) {
    let measured = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&t| t > 0);
    match measured {
        Some(ticks) => (ticks, true),
        None => (100, false),
    }
}

/// What the load sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Binary messages of this many bytes to `echo_server`, echoed back.
    Echo(usize),
    /// JSON-RPC requests `{"jsonrpc":"2.0","method":"echo","params":[1],"id":N}` in text
    /// messages to `rpc_server`, one response each.
    Rpc,
}

/// One workload: what is sent, over how many connections, with how many messages in
/// flight on each.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// What is sent.
    pub kind: Kind,
    /// Connections, all driven at once.
    pub connections: usize,
    /// Messages in flight per connection.
    pub window: usize,
}

impl Workload {
    /// A one-line description, e.g. `echo 20 B, 100 conns x 1 in flight`.
    pub fn label(&self) -> String {
        let what = match self.kind {
            Kind::Echo(len) if len >= 1024 && len % 1024 == 0 => {
                format!("echo {} KiB", len / 1024)
            }
            Kind::Echo(len) => format!("echo {len} B"),
            Kind::Rpc => "rpc echo".to_owned(),
        };
        let conns = if self.connections == 1 {
            "1 conn".to_owned()
        } else {
            format!("{} conns", self.connections)
        };
        format!("{what}, {conns} x {} in flight", self.window)
    }
}

/// The first id of the requests of [`Kind::Rpc`]. Seven digits for every id, so every
/// request frame has the same length.
const FIRST_ID: usize = 1_000_000;

/// A connection's pre-encoded frames: `2 * ring` frames of equal length, where frames `i`
/// and `i + ring` are the same. Any run of up to `ring` frames starting at an index below
/// `ring` is then one slice. For JSON-RPC the `ring` ids are distinct, and with `ring` at
/// least 8 windows no id is reused while an earlier request with it can still be in flight.
struct Frames {
    bytes: Vec<u8>,
    frame_len: usize,
    ring: usize,
}

impl Frames {
    fn new(workload: &Workload) -> Frames {
        let ring = (workload.window * 8).max(64);
        match workload.kind {
            Kind::Echo(len) => {
                let (bytes, frame_len) = masked_binary_frames(2 * ring, len);
                Frames {
                    bytes,
                    frame_len,
                    ring,
                }
            }
            Kind::Rpc => {
                let mut all = BytesMut::new();
                let mut frame_len = 0;
                for i in 0..2 * ring {
                    let before = all.len();
                    encode_frame(
                        &mut all,
                        true,
                        OpCode::Text,
                        Some(CLIENT_MASK),
                        rpc_request(FIRST_ID + i % ring).as_bytes(),
                    );
                    let len = all.len() - before;
                    assert!(frame_len == 0 || frame_len == len, "ids of one width");
                    frame_len = len;
                }
                Frames {
                    bytes: all.to_vec(),
                    frame_len,
                    ring,
                }
            }
        }
    }

    /// Frames `first .. first + count` (`first < ring`, `count <= ring`).
    fn slice(&self, first: usize, count: usize) -> &[u8] {
        &self.bytes[first * self.frame_len..(first + count) * self.frame_len]
    }
}

/// The JSON-RPC request the load sends, with id `id`.
pub fn rpc_request(id: usize) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"echo","params":[1],"id":{id}}}"#)
}

/// What one timed run achieved, summed over its connections.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// Answers received (echoes or responses).
    pub messages: u64,
    /// From the first write to the last answer of the last connection.
    pub elapsed: Duration,
}

/// A connection of the load, upgraded and between runs.
struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    /// The next frame of [`Frames`] to send, below `ring`.
    cursor: usize,
}

/// Open connections to one server, ready for timed runs. The futures of [`Load::run`] and
/// [`Load::close`] spawn local tasks: await them inside a `tokio::task::LocalSet`.
pub struct Load {
    workload: Workload,
    frames: Rc<Frames>,
    conns: Vec<Conn>,
}

impl Load {
    /// Opens `workload.connections` connections to `addr` (`TCP_NODELAY` on), upgrades each
    /// and makes one round trip on each, checking a JSON-RPC answer in full. Nothing of
    /// this is timed.
    pub async fn connect(addr: SocketAddr, workload: Workload) -> Load {
        let frames = Rc::new(Frames::new(&workload));
        let mut conns = Vec::with_capacity(workload.connections);
        for _ in 0..workload.connections {
            let mut stream = TcpStream::connect(addr).await.expect("connect to server");
            stream.set_nodelay(true).expect("set TCP_NODELAY");
            client_handshake(&mut stream, addr).await;
            let (mut rd, mut wr) = stream.into_split();
            // The last frame of the ring: its id is not sent again soon.
            wr.write_all(frames.slice(frames.ring - 1, 1))
                .await
                .expect("write to server");
            let (first_byte, payload) = read_frame(&mut rd).await;
            match workload.kind {
                Kind::Echo(len) => {
                    assert_eq!(first_byte, 0x82, "expected a binary echo");
                    assert_eq!(payload.len(), len, "echo has the wrong size");
                }
                Kind::Rpc => {
                    assert_eq!(first_byte, 0x81, "expected a text response");
                    let text = String::from_utf8_lossy(&payload);
                    let id = FIRST_ID + frames.ring - 1;
                    assert!(
                        text.contains(r#""result":[1]"#) && text.contains(&format!("{id}")),
                        "unexpected response: {text}"
                    );
                }
            }
            conns.push(Conn { rd, wr, cursor: 0 });
        }
        Load {
            workload,
            frames,
            conns,
        }
    }

    /// Runs every connection at once for `duration`, each keeping `workload.window`
    /// messages in flight; the clock stops when the last answer of every connection is in.
    pub async fn run(&mut self, duration: Duration) -> Run {
        let start = Instant::now();
        let deadline = start + duration;
        let tasks: Vec<_> = self
            .conns
            .drain(..)
            .map(|conn| {
                tokio::task::spawn_local(drive(conn, self.frames.clone(), self.workload, deadline))
            })
            .collect();
        let mut messages = 0;
        let mut end = start;
        for task in tasks {
            let (conn, received, finished) = task.await.expect("load task");
            messages += received;
            end = end.max(finished);
            self.conns.push(conn);
        }
        Run {
            messages,
            elapsed: end - start,
        }
    }

    /// Closes every connection politely (close frame, then waiting up to 2 s for the
    /// server's close and end of stream), all at once.
    pub async fn close(self) {
        let tasks: Vec<_> = self
            .conns
            .into_iter()
            .map(|Conn { mut rd, mut wr, .. }| {
                tokio::task::spawn_local(async move {
                    let _ = wr.write_all(&masked_close_frame()).await;
                    let _ = wr.shutdown().await;
                    let mut sink = vec![0u8; 64 << 10];
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        while matches!(rd.read(&mut sink).await, Ok(n) if n > 0) {}
                    })
                    .await;
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// One connection of a timed run, as `echo`'s `run_load`: the writer tops the window up
/// whenever answers return, the reader counts answers; both halves run as futures of one
/// task, sharing plain `Cell`s. Returns the connection, the answers counted and when the
/// last one arrived.
async fn drive(
    mut conn: Conn,
    frames: Rc<Frames>,
    workload: Workload,
    deadline: Instant,
) -> (Conn, u64, Instant) {
    let sent = Cell::new(0u64);
    let received = Cell::new(0u64);
    let writing_done = Cell::new(false);
    let credit = Notify::new();
    let finished = Notify::new();
    let Conn { rd, wr, cursor } = &mut conn;

    let writer = async {
        loop {
            if Instant::now() >= deadline {
                writing_done.set(true);
                finished.notify_one();
                break;
            }
            let in_flight = (sent.get() - received.get()) as usize;
            let free = workload.window - in_flight;
            if free == 0 {
                credit.notified().await;
                continue;
            }
            wr.write_all(frames.slice(*cursor, free))
                .await
                .expect("write to server");
            *cursor = (*cursor + free) % frames.ring;
            sent.set(sent.get() + free as u64);
        }
    };
    let reader = async {
        let mut buf = vec![0u8; 256 << 10];
        let mut counter = match workload.kind {
            Kind::Echo(len) => FrameCounter::binary(len),
            Kind::Rpc => FrameCounter::text(),
        };
        loop {
            if writing_done.get() && received.get() == sent.get() {
                return Instant::now();
            }
            tokio::select! {
                read = rd.read(&mut buf) => {
                    let n = read.expect("read from server");
                    assert!(n > 0, "server closed the connection mid-run");
                    let answered = counter.feed(&buf[..n]);
                    if answered > 0 {
                        received.set(received.get() + answered);
                        credit.notify_one();
                    }
                }
                // Wakes the reader if it sits in `read` with everything already answered
                // at the moment the writer stops.
                _ = finished.notified() => {}
            }
        }
    };
    let ((), end) = tokio::join!(writer, reader);
    let received = received.get();
    (conn, received, end)
}

/// Reads exactly one server frame (header and payload, up to 64 KiB), for the round trip
/// before the timed runs. The server sends nothing else meanwhile, so nothing is over-read
/// as long as reads stop at the frame's end, which they do.
async fn read_frame(rd: &mut OwnedReadHalf) -> (u8, Vec<u8>) {
    let mut head = [0u8; 4];
    rd.read_exact(&mut head[..2]).await.expect("read a frame");
    assert_eq!(head[1] & 0x80, 0, "server frames are never masked");
    let len = match head[1] & 0x7f {
        126 => {
            rd.read_exact(&mut head[2..4]).await.expect("read a frame");
            u16::from_be_bytes([head[2], head[3]]) as usize
        }
        127 => panic!("a priming answer over 64 KiB"),
        short => short as usize,
    };
    let mut payload = vec![0u8; len];
    rd.read_exact(&mut payload).await.expect("read a frame");
    (head[0], payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_of_a_stat_line() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime ...
        let line = "4242 (echo server) S 1 4242 4242 0 -1 4194560 120 0 0 0 37 5 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(line), Some(42));
        assert_eq!(parse_cpu_split(line), Some((37, 5)));
    }

    #[test]
    fn rpc_frames_have_one_length() {
        let workload = Workload {
            kind: Kind::Rpc,
            connections: 1,
            window: 128,
        };
        let frames = Frames::new(&workload);
        assert_eq!(frames.bytes.len(), 2 * frames.ring * frames.frame_len);
        assert_eq!(
            frames.slice(frames.ring, 1),
            frames.slice(0, 1),
            "frame i + ring repeats frame i"
        );
    }

    #[test]
    fn labels() {
        let w = Workload {
            kind: Kind::Echo(16 << 10),
            connections: 10,
            window: 1,
        };
        assert_eq!(w.label(), "echo 16 KiB, 10 conns x 1 in flight");
    }
}
