#!/usr/bin/env bash
# RFC 6455 conformance: runs the Autobahn|Testsuite (../shared/tools/autobahn.sh) against the
# tokio echo server (wstest as client) and the tokio Autobahn client (wstest as server), then
# fails unless every case is OK or INFORMATIONAL: no FAILED, no NON-STRICT, none missing.
# Reports land in target/autobahn/<runtime>-<role>/; EXCLUDE and CASES pass through.
#
#   scripts/autobahn.sh            cases 1.* to 11.* (the tool's default), compression off
#   scripts/autobahn.sh --deflate  cases 12.* and 13.* (permessage-deflate), with both examples
#                                  started with TETHER_DEFLATE=1; reports in
#                                  target/autobahn-deflate/. Opt-in: it takes far longer than
#                                  the default run (see CONFORMANCE.md), so CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh
tool=${AUTOBAHN_TOOL:-../shared/tools/autobahn.sh}
out=target/autobahn
case "${1:-}" in
  "") ;;
  --deflate)
    export TETHER_DEFLATE=1
    export CASES=${CASES:-12.*,13.*}
    export EXCLUDE=${EXCLUDE-}
    out=target/autobahn-deflate
    ;;
  *) echo "usage: $0 [--deflate]" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out"

cargo build --release --locked -p tether-tokio --example echo_server --example autobahn_client

start_server target/release/examples/echo_server 127.0.0.1:0
url=$SERVER_URL

OUT="$out/tokio-server" bash "$tool" client "$url"
OUT="$out/tokio-client" AGENT=tether-tokio bash "$tool" server target/release/examples/autobahn_client

python3 scripts/autobahn_report.py "$out/tokio-server" "$out/tokio-client"
