//! The tether JSON-RPC server the RPC interop tests talk to, run in-process on 127.0.0.1:0.
//! Compiled once per adapter (see [`crate::runtime`]) against that module's `adapter`, and
//! served by a task of that module's runtime (`rt::spawn_task`).
//!
//! It serves the methods of the adapters' `rpc_server` example, built the same way through
//! the public `rpc::Server` API:
//!
//! - `echo`: returns its params unchanged;
//! - `add`: `[a, b]` (integers) -> `a + b`;
//! - `sleep`: `{"ms": N}` -> waits N ms, then returns N;
//! - `fail`: answers the error [`FAIL_CODE`] with [`FAIL_MESSAGE`];
//!
//! and one more for the tests, `note`, which counts its calls ([`RpcServer::notes`]) and
//! returns `null`, so a test can tell that notifications reached the handler.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::adapter::rpc::{ErrorObject, Server, ServerConfig};
use super::rt;
use crate::peer::STEP_TIMEOUT;
use crate::runtime::{timeout, Task};

/// The error code `fail` answers with (an application code, outside the reserved range).
pub const FAIL_CODE: i64 = 1000;
/// The error message `fail` answers with.
pub const FAIL_MESSAGE: &str = "fail was called";

/// The params of `sleep`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct SleepParams {
    /// How long to wait before answering, in milliseconds.
    pub ms: u64,
}

/// Adds the example's four methods (`echo`, `add`, `sleep`, `fail`) to `server`.
pub fn with_example_methods(server: Server) -> Server {
    server
        .route("echo", |params: Value| async move {
            Ok::<Value, ErrorObject>(params)
        })
        .route("add", |(a, b): (i64, i64)| async move {
            Ok::<i64, ErrorObject>(a + b)
        })
        .route("sleep", |p: SleepParams| async move {
            rt::sleep(Duration::from_millis(p.ms)).await;
            Ok::<u64, ErrorObject>(p.ms)
        })
        .route("fail", |_: Value| async move {
            Err::<Value, ErrorObject>(ErrorObject::new(FAIL_CODE, FAIL_MESSAGE))
        })
}

/// A tether RPC server serving the example methods and `note` on 127.0.0.1, stopped when
/// dropped.
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    notes: Arc<AtomicU64>,
    task: Task<io::Result<()>>,
}

impl RpcServer {
    /// Binds 127.0.0.1:0 with `config` and serves in a task of this module's runtime.
    pub async fn start(config: ServerConfig) -> RpcServer {
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address");
        let server = timeout(STEP_TIMEOUT, Server::bind(loopback, config))
            .await
            .expect("binding the tether RPC server took too long")
            .expect("bind 127.0.0.1:0");
        let addr = server.local_addr().expect("local_addr");
        let notes = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&notes);
        let server = with_example_methods(server).route("note", move |_: Value| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<Value, ErrorObject>(Value::Null)
            }
        });
        let task = rt::spawn_task(server.serve());
        RpcServer { addr, notes, task }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// How many times `note` ran so far (as a call or as a notification).
    pub fn notes(&self) -> u64 {
        self.notes.load(Ordering::SeqCst)
    }

    /// Waits, bounded by [`STEP_TIMEOUT`], until `note` has run at least `n` times, and
    /// returns the count then. Notifications get no answer, so a client cannot know when
    /// their handlers have run; this lets a test wait for them without guessing a delay.
    pub async fn wait_for_notes(&self, n: u64) -> u64 {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let seen = self.notes();
            if seen >= n || Instant::now() >= deadline {
                return seen;
            }
            rt::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Panics if the serving task has ended (with an error or a panic) before the test.
    pub fn assert_serving(&self) {
        assert!(
            !self.task.is_finished(),
            "the tether RPC server stopped serving during the test"
        );
    }
}

impl Drop for RpcServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
