//! A server run on a thread of its own with its own executor, for the cross-runtime tests
//! (`tests/cross_runtime.rs`): what the server halves of
//! [`cross_runtime`](crate::runtime::tokio::cross_runtime) report, and how a test starts
//! and stops them. Written once: these types are the same for every adapter.

use std::net::SocketAddr;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use tether_tokio::CloseInfo;

/// What a client half gets from a server running on another thread.
#[derive(Debug)]
pub struct Serving {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// What the server saw, in order.
    pub seen: async_channel::Receiver<Seen>,
}

/// What a server saw, reported to the test.
#[derive(Debug)]
pub enum Seen {
    /// A WebSocket connection ended with this close (the same `CloseInfo` type in every
    /// adapter).
    Closed(Option<CloseInfo>),
    /// A `note` notification arrived with these params.
    Note(serde_json::Value),
}

/// The channels a server half is given: where to send its address, where to report what
/// it sees, and the one that closes when it must stop.
#[derive(Debug)]
pub struct Channels {
    /// Receives the server's address once it listens.
    pub ready: async_channel::Sender<SocketAddr>,
    /// Receives what the server sees.
    pub seen: async_channel::Sender<Seen>,
    /// Closed when the server must stop.
    pub stop: async_channel::Receiver<()>,
}

/// A server on a thread of its own: its address, what it saw, and how to stop it.
#[derive(Debug)]
pub struct ServerThread {
    serving: Option<Serving>,
    stop: async_channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Runs `serve` on a new thread (it blocks on its own executor until its `stop`
    /// channel closes) and waits for the server's address.
    pub fn start(serve: impl FnOnce(Channels) + Send + 'static) -> ServerThread {
        let (ready, addr) = async_channel::bounded(1);
        let (seen, seen_rx) = async_channel::unbounded();
        let (stop, stopped) = async_channel::bounded(1);
        let channels = Channels {
            ready,
            seen,
            stop: stopped,
        };
        let thread = thread::spawn(move || serve(channels));
        let addr = addr
            .recv_blocking()
            .expect("the server thread sends its address");
        ServerThread {
            serving: Some(Serving {
                addr,
                seen: seen_rx,
            }),
            stop,
            thread: Some(thread),
        }
    }

    /// What the client half needs; once.
    pub fn serving(&mut self) -> Serving {
        self.serving.take().expect("one client per server")
    }

    /// Stops the server and waits (bounded) for its thread to end.
    pub fn stop(mut self) {
        self.stop.close();
        let thread = self.thread.take().expect("stopped once");
        for _ in 0..500 {
            if thread.is_finished() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        assert!(thread.is_finished(), "the server thread did not stop");
        thread.join().expect("the server thread");
    }
}
