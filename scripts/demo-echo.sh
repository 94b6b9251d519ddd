#!/usr/bin/env bash
# The echo demo: starts the echo server on tokio on a free loopback port, runs the echo
# client on smol (tether-async-std) against it, and stops the server. Both are the same
# code (examples/shared/) over the one adapter, each on its own runtime. (The main demo,
# a Raft cluster, is scripts/demo.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh

# One package per build: the two runtime crates' examples share their names.
cargo build --release --locked -p tether-tokio --example echo_server
cargo build --release --locked -p tether-async-std --example echo_client
target=${CARGO_TARGET_DIR:-target}
start_server "$target/release/examples/echo_server" 127.0.0.1:0
url=$SERVER_URL
echo "echo_server (tokio) is $url; echo_client runs on smol"
"$target/release/examples/echo_client" "$url"
