//! The scenarios over tether-async-std (the same compiled scenarios as
//! [`super::async_std`]), on smol's executor.

use std::future::Future;

pub use super::async_std::{
    adapter, cross_runtime, edge, hostile, interop, interop_deflate, interop_serve, interop_tls,
    loopback, notifications, pool, pool_metrics, pool_tracing, rpc, rpc_jsonrpsee, rpc_loopback,
    rpc_python, rt, session, session_python, tls,
};

/// Runs `scenario` with smol's `block_on`.
pub fn block_on<F: Future>(scenario: F) -> F::Output {
    smol::block_on(scenario)
}
