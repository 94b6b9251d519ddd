#!/usr/bin/env bash
# RFC 6455 conformance: runs the Autobahn|Testsuite (../shared/tools/autobahn.sh) against the
# tokio echo server (wstest as client) and the tokio Autobahn client (wstest as server), then
# fails unless every case is OK or INFORMATIONAL: no FAILED, no NON-STRICT, none missing.
# Reports land in target/autobahn/<runtime>-<role>/; EXCLUDE and CASES pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${AUTOBAHN_TOOL:-../shared/tools/autobahn.sh}
out=target/autobahn
rm -rf "$out"
mkdir -p "$out"

cargo build --release --locked -p tether-tokio --example echo_server --example autobahn_client

log=$(mktemp)
target/release/examples/echo_server 127.0.0.1:0 >"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q '^listening on ' "$log" && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$log" | head -n 1)
[ -n "$url" ] || { echo "echo_server did not start" >&2; exit 1; }

OUT="$out/tokio-server" bash "$tool" client "$url"
OUT="$out/tokio-client" AGENT=tether-tokio bash "$tool" server target/release/examples/autobahn_client

python3 scripts/autobahn_report.py "$out/tokio-server" "$out/tokio-client"
