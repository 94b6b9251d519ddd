#!/usr/bin/env bash
# Runs every test of tether on a fresh machine: installs the test peers written by others
# (Python websockets, Node ws) into .deps/, checks format, lints and docs, then runs the
# workspace tests (unit, scenario, interop, doc tests).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test peers"
scripts/install-peers.sh

echo "== format"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The workspace's tests turn the adapter's `metrics` feature on; the adapter alone has it off.
cargo clippy -p tether-adapter --all-targets --locked -- -D warnings

echo "== docs"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked --quiet

echo "== tests"
cargo test --workspace --locked
