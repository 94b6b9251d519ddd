#!/usr/bin/env bash
# The main demo: starts the tokio echo server on a free loopback port, runs the echo client
# against it, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p tether-tokio --example echo_server --example echo_client
log=$(mktemp)
target/release/examples/echo_server 127.0.0.1:0 >"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q '^listening on ' "$log" && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$log" | head -n 1)
[ -n "$url" ] || { echo "echo_server did not start" >&2; cat "$log" >&2; exit 1; }
echo "echo_server is $url"
target/release/examples/echo_client "$url"
