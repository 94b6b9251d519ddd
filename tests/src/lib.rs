//! Shared helpers for tether's scenario tests.

use std::path::PathBuf;

pub mod purity;

/// The workspace root (the folder holding `core/`, `tests/`, `scripts/`), found from this
/// crate's manifest directory so tests work from any current directory.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("tests/ has a parent folder")
        .to_path_buf()
}
