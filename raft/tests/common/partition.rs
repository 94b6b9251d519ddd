//! A loopback network that can be partitioned: a TCP proxy in front of each node's port,
//! on plain threads so any runtime's scenario can use it.
//!
//! Every node reaches node N through N's proxy (its URL is N's address in the membership).
//! The proxy reads the upgrade request of each connection it accepts and takes the dialing
//! node from its `tether-node-id` header, so it knows which pair of nodes the connection
//! joins whichever side dialed, and stops forwarding while that pair is cut apart. A cut is
//! silent, as a partition is: nothing is closed, bytes wait in the sockets, and a new
//! connection between the two sides is accepted but goes nowhere (its dial times out).
//! Connections that name no node (a test's own client) are never cut.
//!
//! tether-tests' `Proxy` cuts a whole upstream; here one node's port is shared by links to
//! several nodes, of which only some are cut, hence the header.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

use tether_adapter::pool::NODE_ID_HEADER;

/// The largest upgrade request read before giving up on a connection.
const MAX_HEAD: usize = 64 << 10;

/// The proxies of a cluster, and which pairs of nodes are cut apart. Dropping it stops
/// every proxy and closes every connection.
#[derive(Debug, Default)]
pub struct Network {
    shared: Arc<Shared>,
    /// Each proxy's address and accept thread.
    fronts: Mutex<Vec<(SocketAddr, JoinHandle<()>)>>,
}

/// What the proxies' threads share.
#[derive(Debug, Default)]
struct Shared {
    /// Pairs of nodes cut apart, smaller id first; pumps wait on `changed` while theirs is.
    cut: Mutex<BTreeSet<(u64, u64)>>,
    changed: Condvar,
    /// Set on drop: every thread ends.
    stopped: AtomicBool,
    /// A clone of every socket, to close them all on drop.
    sockets: Mutex<Vec<TcpStream>>,
}

impl Network {
    /// A network with no proxy yet and no cut.
    pub fn new() -> Network {
        Network::default()
    }

    /// Starts a proxy to `node`'s port at `upstream`, and gives its `ws://` URL: the
    /// address the other nodes must know `node` by.
    pub fn front(&self, node: u64, upstream: SocketAddr) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = self.shared.clone();
        let accepting = thread::spawn(move || {
            for client in listener.incoming() {
                if shared.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let shared = shared.clone();
                thread::spawn(move || serve(client, node, upstream, &shared));
            }
        });
        self.fronts.lock().expect("fronts").push((addr, accepting));
        format!("ws://{addr}/")
    }

    /// Cuts `node` off from each of `others`, both ways, on every connection old and new.
    pub fn isolate(&self, node: u64, others: impl IntoIterator<Item = u64>) {
        let mut cut = self.shared.cut.lock().expect("cut");
        for other in others {
            cut.insert(pair(node, other));
        }
    }

    /// Joins every pair again: held bytes flow on.
    pub fn heal(&self) {
        self.shared.cut.lock().expect("cut").clear();
        self.shared.changed.notify_all();
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        for (addr, accepting) in self.fronts.lock().expect("fronts").drain(..) {
            // Wakes the accept thread, which sees `stopped` and drops the listener.
            let _ = TcpStream::connect(addr);
            let _ = accepting.join();
        }
        for socket in self.shared.sockets.lock().expect("sockets").drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn pair(a: u64, b: u64) -> (u64, u64) {
    (a.min(b), a.max(b))
}

impl Shared {
    /// Waits while `pair` is cut; `false` once the network is dropped.
    fn wait_open(&self, pair: Option<(u64, u64)>) -> bool {
        let mut cut = self.cut.lock().expect("cut");
        while pair.is_some_and(|p| cut.contains(&p)) && !self.stopped.load(Ordering::SeqCst) {
            cut = self.changed.wait(cut).expect("cut");
        }
        !self.stopped.load(Ordering::SeqCst)
    }

    /// Keeps a clone of `socket` to close on drop.
    fn register(&self, socket: &TcpStream) -> Option<TcpStream> {
        let clone = socket.try_clone().ok()?;
        self.sockets.lock().expect("sockets").push(clone);
        socket.try_clone().ok()
    }
}

/// One connection to `node`: reads its upgrade request to learn who dialed, then pumps both
/// ways while that pair is not cut.
fn serve(mut client: TcpStream, node: u64, upstream: SocketAddr, shared: &Shared) {
    let Some(client_read) = shared.register(&client) else {
        return;
    };
    let mut head = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            return;
        }
    }
    let from = dialer(&head);
    let cut_pair = from.map(|from| pair(from, node));
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    // Small frames (heartbeats, votes) must not wait for Nagle's timer here either.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let Some(server_read) = shared.register(&server) else {
        return;
    };
    // The request goes on only while the pair is joined: a dial across a cut hangs.
    if !shared.wait_open(cut_pair) || server.write_all(&head).is_err() {
        return;
    }
    thread::scope(|scope| {
        scope.spawn(|| pump(server_read, client, cut_pair, shared));
        pump(client_read, server, cut_pair, shared);
    });
}

/// The node named in an upgrade request's `tether-node-id` header, if any.
fn dialer(head: &[u8]) -> Option<u64> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case(NODE_ID_HEADER)
            .then(|| value.trim().parse().ok())?
    })
}

/// Copies `from` to `to` while the pair is joined; while it is cut, neither reads nor
/// writes (bytes read just before the cut wait here). Ends with either side, then shuts
/// `to` for writing.
fn pump(mut from: TcpStream, mut to: TcpStream, cut_pair: Option<(u64, u64)>, shared: &Shared) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if !shared.wait_open(cut_pair) {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !shared.wait_open(cut_pair) || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
