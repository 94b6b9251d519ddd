//! A server under test on its own OS thread with its own single-threaded tokio runtime, so
//! servers and the load client never share a scheduler.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

/// How long a server may take to report that it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server; stopped and joined on drop, so the process ends cleanly.
#[derive(Debug)]
pub struct ServerThread {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Runs `serve(listening, stop)` on a fresh thread named after `name` and waits until
    /// it sends its address on `listening`. `serve` returns once `stop` fires.
    pub fn spawn<F, Fut>(name: &str, serve: F) -> ServerThread
    where
        F: FnOnce(mpsc::Sender<SocketAddr>, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("server {name}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(serve(addr_tx, stop_rx));
            })
            .expect("spawn server thread");
        let addr = addr_rx
            .recv_timeout(START_TIMEOUT)
            .expect("server reports its address");
        ServerThread {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// 127.0.0.1 on a port the OS picks.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
