//! Shared helpers for tether's scenario tests.
//!
//! - [`purity`]: the source scan that keeps `tether-core` sans-IO.
//! - [`payload`]: deterministic payloads that the peers generate the same way.
//! - [`peer`]: the Python `websockets` and Node `ws` peers in `peers/` as child processes
//!   (installed into `.deps/` by `scripts/install-peers.sh`).
//! - [`interop`]: the interop scenarios, run per peer by `tests/interop_*.rs`.
//! - [`interop_deflate`]: the same with permessage-deflate on, run by the same files.
//! - [`rpc`]: the in-process tether JSON-RPC server of `tests/rpc_*.rs`.
//! - [`sim`]: the deterministic simulator of RPC endpoints over a faulty network.

use std::path::PathBuf;

pub mod interop;
pub mod interop_deflate;
pub mod payload;
pub mod peer;
pub mod purity;
pub mod rpc;
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
