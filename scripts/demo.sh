#!/usr/bin/env bash
# The main demo: starts the tokio echo server on a free loopback port, runs the echo client
# against it, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh

cargo build --release --locked -p tether-tokio --example echo_server --example echo_client
start_server target/release/examples/echo_server 127.0.0.1:0
url=$SERVER_URL
echo "echo_server is $url"
target/release/examples/echo_client "$url"
