//! The scenarios over tether-tokio, on a two-worker tokio runtime.

use std::future::Future;

pub use tether_tokio as adapter;

// The same scenario files are compiled once per adapter, on purpose (see `crate::runtime`).
#[allow(clippy::duplicate_mod)]
#[path = "../interop.rs"]
pub mod interop;
#[allow(clippy::duplicate_mod)]
#[path = "../loopback.rs"]
pub mod loopback;

/// Runs `scenario` on a fresh multi-threaded runtime with two workers.
pub fn block_on<F: Future>(scenario: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(scenario)
}
