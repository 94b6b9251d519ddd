//! Shared helpers for tether's scenario tests.
//!
//! - [`certs`]: a throwaway CA and certificates for the TLS tests, as PEM files.
//! - [`purity`]: the source scan that keeps `tether-core` sans-IO.
//! - [`payload`]: deterministic payloads that the peers generate the same way.
//! - [`peer`]: the Python `websockets` and Node `ws` peers in `peers/` as child processes
//!   (installed into `.deps/` by `scripts/install-peers.sh`).
//! - [`runtime`]: the adapters and executors scenarios run on; each of its modules holds
//!   every scenario family (`interop`, `interop_deflate`, `interop_serve`, `interop_tls`, `loopback`,
//!   `notifications`, `pool`, `pool_metrics`, `pool_tracing`, `rpc_loopback`, `rpc_python`,
//!   `rpc_jsonrpsee`, `hostile`, `session`, `session_python`, `tls`, `cross_runtime`), compiled for that module's adapter and run
//!   by `tests/<family>.rs` (the interop ones per peer, by `tests/interop_*.rs`), and
//!   `rpc`, the in-process JSON-RPC server of `rpc_python` and `rpc_jsonrpsee`.
//! - [`proxy`]: a TCP proxy on threads that can go silent or die, for any runtime.
//! - [`server_thread`]: a server on a thread with its own executor, for
//!   `tests/cross_runtime.rs`.
//! - [`certs`]: a test CA and certificates made with `rcgen` for the TLS tests.
//! - [`sim`]: the deterministic simulator of RPC channels over a faulty network.
//! - [`trace_recorder`]: a `tracing` layer that keeps spans and events, for
//!   `tests/pool_tracing.rs`.

use std::path::PathBuf;

pub mod certs;
pub mod closed_port;
pub mod payload;
pub mod peer;
pub mod proxy;
pub mod purity;
pub mod runtime;
pub mod server_thread;
pub mod sim;
pub mod trace_recorder;

/// The workspace root (the folder holding `core/`, `tests/`, `scripts/`), found from this
/// crate's manifest directory so tests work from any current directory.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}
