//! The scenarios over tether-async-std, on async-std's executor.

use std::future::Future;

pub use tether_async_std as adapter;

// The same scenario files are compiled once per adapter, on purpose (see `crate::runtime`).
#[allow(clippy::duplicate_mod)]
#[path = "../interop.rs"]
pub mod interop;
#[allow(clippy::duplicate_mod)]
#[path = "../loopback.rs"]
pub mod loopback;

/// Runs `scenario` with async-std's `block_on`.
pub fn block_on<F: Future>(scenario: F) -> F::Output {
    async_std::task::block_on(Box::pin(scenario))
}
