//! The density parts of the `runtimes` bench: many idle connections held open to a server
//! ([`IdleConns`]), the server's resident memory ([`vm_rss_kib`]), and the time of one
//! connect and upgrade ([`handshake_time`]).
//!
//! Idle connections live on a thread of their own with a single-threaded tokio runtime, so
//! that the load client of a timed run, on the bench's main thread, keeps its runtime to
//! itself while they are open. They answer the server's pings (tether pings every 20 s by
//! default and drops a peer that stays silent), as a real idle client does, and read
//! nothing else.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tether_core::frame::{encode_frame, OpCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::echo::client_handshake;
use crate::CLIENT_MASK;

/// Connections opened at once while [`IdleConns::open`] fills up: enough to keep the
/// server's accept loop busy, few enough to stay inside its listen backlog (128 for a
/// tokio `TcpListener`). Past the backlog the kernel drops the handshake's last ACK and
/// the connection waits a second or more for a retransmission.
const OPEN_AT_ONCE: usize = 64;

/// `count` WebSocket connections to one server, upgraded and then idle, answering pings,
/// until dropped (which closes them all at once).
pub struct IdleConns {
    count: usize,
    alive: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IdleConns {
    /// Opens `count` connections to `addr` (`OPEN_AT_ONCE` at a time), upgrades each with
    /// the fixed request and waits for every `101`. Returns once all are open.
    ///
    /// # Panics
    /// If a connection or an upgrade fails (a server's connection limit, say).
    pub fn open(addr: SocketAddr, count: usize) -> IdleConns {
        let alive = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let counter = alive.clone();
        let thread = std::thread::Builder::new()
            .name("idle-conns".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("idle connections' runtime");
                runtime.block_on(async move {
                    let opened = open_all(addr, count, &counter).await;
                    let failed = opened.is_err();
                    let _ = ready_tx.send(opened);
                    if !failed {
                        let _ = stop_rx.await;
                    }
                });
                // Dropping the runtime drops every connection's task and socket.
            })
            .expect("spawn the idle connections' thread");
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("opening {count} idle connections to {addr}: {e}"),
            Err(_) => panic!("opening {count} idle connections to {addr}: the thread died"),
        }
        IdleConns {
            count,
            alive,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// How many were opened.
    pub fn count(&self) -> usize {
        self.count
    }

    /// How many are still open: the server has closed none of the others if this equals
    /// [`IdleConns::count`].
    pub fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }
}

impl Drop for IdleConns {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn open_all(addr: SocketAddr, count: usize, alive: &Arc<AtomicUsize>) -> Result<(), String> {
    let mut opened = 0;
    while opened < count {
        let batch = OPEN_AT_ONCE.min(count - opened);
        let mut upgrades = JoinSet::new();
        for _ in 0..batch {
            upgrades.spawn(async move {
                let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                client_handshake(&mut stream, addr).await;
                Ok::<TcpStream, String>(stream)
            });
        }
        while let Some(upgraded) = upgrades.join_next().await {
            let stream = upgraded.map_err(|e| e.to_string())??;
            alive.fetch_add(1, Ordering::Relaxed);
            let alive = alive.clone();
            tokio::spawn(async move {
                hold(stream).await;
                alive.fetch_sub(1, Ordering::Relaxed);
            });
        }
        opened += batch;
    }
    Ok(())
}

/// Keeps one connection: answers pings with pongs, returns when the server closes it.
async fn hold(mut stream: TcpStream) {
    let mut buf = BytesMut::new();
    loop {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let Some((opcode, start, end)) = server_frame(&buf) {
            match opcode {
                0x9 => {
                    let mut pong = BytesMut::new();
                    encode_frame(
                        &mut pong,
                        true,
                        OpCode::Pong,
                        Some(CLIENT_MASK),
                        &buf[start..end],
                    );
                    if stream.write_all(&pong).await.is_err() {
                        return;
                    }
                }
                0x8 => return,
                _ => {}
            }
            let _ = buf.split_to(end);
        }
    }
}

/// The opcode and payload range of the complete unmasked server frame at the start of
/// `buf`, or `None` while it is incomplete.
fn server_frame(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (&first, rest) = buf.split_first()?;
    let (&second, _) = rest.split_first()?;
    let (header, len) = match second & 0x7f {
        126 => (4, u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize),
        127 => {
            let bytes: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (10, u64::from_be_bytes(bytes) as usize)
        }
        short => (2, short as usize),
    };
    let end = header + len;
    (buf.len() >= end).then_some((first & 0x0f, header, end))
}

/// The resident memory of process `pid` (`VmRSS` of `/proc/PID/status`), in KiB.
///
/// # Panics
/// If the process is gone or the line is missing.
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    parse_vm_rss(&status).unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// One connect and upgrade, timed from before the TCP connect to the end of the `101`
/// response head. The connection is closed after the clock stops.
///
/// # Panics
/// If the connection or the upgrade fails.
pub async fn handshake_time(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect to server");
    stream.set_nodelay(true).expect("set TCP_NODELAY");
    // Formatting the request inside the clock costs well under a microsecond of the tens
    // the handshake takes.
    client_handshake(&mut stream, addr).await;
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_of_a_status_file() {
        let status = "Name:\techo_server\nVmPeak:\t  12345 kB\nVmRSS:\t    4321 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(4321));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn server_frames_complete_and_not() {
        // A ping with a 3-byte payload, then the start of a 200-byte binary frame.
        let mut buf = vec![0x89, 3, b'a', b'b', b'c', 0x82, 126, 0, 200];
        assert_eq!(server_frame(&buf), Some((0x9, 2, 5)));
        buf.drain(..5);
        assert_eq!(server_frame(&buf), None);
        buf.extend(std::iter::repeat_n(0u8, 200));
        assert_eq!(server_frame(&buf), Some((0x2, 4, 204)));
        assert_eq!(server_frame(&[0x89]), None);
    }
}
