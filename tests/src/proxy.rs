//! A TCP proxy on 127.0.0.1 run on plain threads, so any runtime's scenario can put it
//! between a client and a server: it can stop forwarding without closing anything (a link
//! whose far end froze, or whose route went dark) and it can die with every connection (a
//! server that crashed, from the client's side of the wire).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

/// A TCP proxy to one upstream address. See the module docs.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

/// What the proxy's threads share.
#[derive(Debug, Default)]
struct Shared {
    /// Whether bytes are forwarded; the pumps wait on `gate_changed` while it is `false`.
    forwarding: Mutex<bool>,
    gate_changed: Condvar,
    /// Set by [`Proxy::kill`]: no more connections, and every pump stops.
    killed: AtomicBool,
    /// Every socket of every connection (a clone), to cut them all at once.
    sockets: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 to `upstream`, forwarding. Each connection it
    /// accepts is connected to `upstream` (and closed if that fails), whether it forwards
    /// or not.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            forwarding: Mutex::new(true),
            ..Default::default()
        });
        let accepting = {
            let shared = shared.clone();
            thread::spawn(move || accept(&listener, upstream, &shared))
        };
        Proxy {
            addr,
            shared,
            accepting: Mutex::new(Some(accepting)),
        }
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/` of the proxy.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// Starts (`true`) or stops (`false`) forwarding on every connection, old and new.
    /// Stopped, the proxy neither reads nor writes: bytes stay in the sockets.
    pub fn set_forwarding(&self, on: bool) {
        *self.shared.forwarding.lock().expect("gate") = on;
        self.shared.gate_changed.notify_all();
    }

    /// Stops listening (connecting to the port is refused once this returns) and shuts
    /// every connection down both ways: both ends see EOF, as when a server dies.
    pub fn kill(&self) {
        self.shared.killed.store(true, Ordering::SeqCst);
        self.shared.gate_changed.notify_all();
        if let Some(accepting) = self.accepting.lock().expect("accept thread").take() {
            // Wakes the accept thread, which sees `killed` and drops the listener.
            let _ = TcpStream::connect(self.addr);
            accepting.join().expect("the proxy's accept thread");
        }
        for socket in self.shared.sockets.lock().expect("sockets").drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Shared {
    /// Waits while forwarding is off; `false` once the proxy is killed.
    fn wait_open(&self) -> bool {
        let mut open = self.forwarding.lock().expect("gate");
        while !*open && !self.killed.load(Ordering::SeqCst) {
            open = self.gate_changed.wait(open).expect("gate");
        }
        !self.killed.load(Ordering::SeqCst)
    }

    /// Keeps a clone of `socket` for `kill`.
    fn register(&self, socket: &TcpStream) -> bool {
        let Ok(clone) = socket.try_clone() else {
            return false;
        };
        self.sockets.lock().expect("sockets").push(clone);
        true
    }
}

/// Accepts connections until the proxy is killed, with a pair of pumps for each.
fn accept(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.killed.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(upstream) else {
            continue;
        };
        // Small frames (pings, pongs, replies) must not wait for Nagle's timer here either.
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        if !shared.register(&client) || !shared.register(&server) {
            continue;
        }
        let (Ok(client_read), Ok(server_read)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        let up = shared.clone();
        thread::spawn(move || pump(client_read, server, &up));
        let down = shared.clone();
        thread::spawn(move || pump(server_read, client, &down));
    }
}

/// Copies `from` to `to` while forwarding is on; while it is off, neither reads nor writes.
/// Ends with either side, or when the proxy is killed, and then shuts `to` for writing
/// (the peer reads EOF, as when a half of a socket is dropped).
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        if !shared.wait_open() {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Shut while we were reading: hold what we read until it opens again.
        if !shared.wait_open() {
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
