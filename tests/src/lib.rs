//! Shared helpers for tether's scenario tests.
//!
//! - [`certs`]: a throwaway CA and certificates for the TLS tests, as PEM files.
//! - [`purity`]: the source scan that keeps `tether-core` sans-IO.
//! - [`payload`]: deterministic payloads that the peers generate the same way.
//! - [`peer`]: the Python `websockets` and Node `ws` peers in `peers/` as child processes
//!   (installed into `.deps/` by `scripts/install-peers.sh`).
//! - [`runtime`]: the adapters and executors scenarios run on; each of its modules holds
//!   the `interop` and `interop_tls` scenarios (run per peer by `tests/interop_*.rs`) and
//!   the `loopback` ones (`tests/loopback.rs`), compiled for that module's adapter.
//! - [`certs`]: a test CA and certificates made with `rcgen` for the TLS tests.
//! - [`interop_deflate`]: the interop scenarios with permessage-deflate on (tokio), run by
//!   `tests/interop_{python,node}.rs`.
//! - [`rpc`]: the in-process tether JSON-RPC server of `tests/rpc_*.rs`.
//! - [`sim`]: the deterministic simulator of RPC channels over a faulty network.

use std::path::PathBuf;

pub mod certs;
pub mod interop_deflate;
pub mod payload;
pub mod peer;
pub mod purity;
pub mod rpc;
pub mod runtime;
pub mod sim;

/// The workspace root (the folder holding `core/`, `tests/`, `scripts/`), found from this
/// crate's manifest directory so tests work from any current directory.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}
