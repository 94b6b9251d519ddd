//! The scenarios over tether-tokio, on a two-worker tokio runtime.

use std::future::Future;

pub use tether_tokio as adapter;

// The same scenario files are compiled once per adapter, on purpose (see `crate::runtime`).
#[allow(clippy::duplicate_mod)]
#[path = "../cross_runtime.rs"]
pub mod cross_runtime;
#[allow(clippy::duplicate_mod)]
#[path = "../edge.rs"]
pub mod edge;
#[allow(clippy::duplicate_mod)]
#[path = "../hostile.rs"]
pub mod hostile;
#[allow(clippy::duplicate_mod)]
#[path = "../interop.rs"]
pub mod interop;
#[allow(clippy::duplicate_mod)]
#[path = "../interop_deflate.rs"]
pub mod interop_deflate;
#[allow(clippy::duplicate_mod)]
#[path = "../interop_serve.rs"]
pub mod interop_serve;
#[allow(clippy::duplicate_mod)]
#[path = "../interop_tls.rs"]
pub mod interop_tls;
#[allow(clippy::duplicate_mod)]
#[path = "../loopback.rs"]
pub mod loopback;
#[allow(clippy::duplicate_mod)]
#[path = "../notifications.rs"]
pub mod notifications;
#[allow(clippy::duplicate_mod)]
#[path = "../pool.rs"]
pub mod pool;
#[allow(clippy::duplicate_mod)]
#[path = "../pool_metrics.rs"]
pub mod pool_metrics;
#[allow(clippy::duplicate_mod)]
#[path = "../pool_tracing.rs"]
pub mod pool_tracing;
#[allow(clippy::duplicate_mod)]
#[path = "../rpc.rs"]
pub mod rpc;
#[allow(clippy::duplicate_mod)]
#[path = "../rpc_jsonrpsee.rs"]
pub mod rpc_jsonrpsee;
#[allow(clippy::duplicate_mod)]
#[path = "../rpc_loopback.rs"]
pub mod rpc_loopback;
#[allow(clippy::duplicate_mod)]
#[path = "../rpc_python.rs"]
pub mod rpc_python;
#[allow(clippy::duplicate_mod)]
#[path = "../session.rs"]
pub mod session;
#[allow(clippy::duplicate_mod)]
#[path = "../session_python.rs"]
pub mod session_python;
#[allow(clippy::duplicate_mod)]
#[path = "../tls.rs"]
pub mod tls;

/// What the scenarios need of an executor, on tokio: `tokio::spawn` and tokio's timer.
pub mod rt {
    use std::future::Future;
    use std::time::Duration;

    use crate::runtime::Task;

    /// Runs `task` in the background.
    pub fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }

    /// Runs `task` in the background; its [`Task`] says when it ends and with what.
    pub fn spawn_task<T: Send + 'static>(
        task: impl Future<Output = T> + Send + 'static,
    ) -> Task<T> {
        let (run, task) = crate::runtime::task(task);
        spawn(run);
        task
    }

    /// Waits `duration`.
    pub async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Runs `scenario` on a fresh multi-threaded runtime with two workers.
pub fn block_on<F: Future>(scenario: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(scenario)
}
