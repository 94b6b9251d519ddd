#!/usr/bin/env bash
# RFC 6455 conformance: runs the Autobahn|Testsuite (../shared/tools/autobahn.sh) against each
# adapter's echo server (wstest as client) and Autobahn client (wstest as server), then fails
# unless every case is OK or INFORMATIONAL: no FAILED, no NON-STRICT, none missing.
# ADAPTERS picks the adapters (default "tokio async-std"; each name is a tether-NAME crate).
# Reports land in target/autobahn/<adapter>-<role>/ (target/ is $CARGO_TARGET_DIR if set);
# EXCLUDE and CASES pass through.
#
#   scripts/autobahn.sh            cases 1.* to 11.* (the tool's default), compression off
#   scripts/autobahn.sh --deflate  cases 12.* and 13.* (permessage-deflate), tokio only unless
#                                  ADAPTERS says otherwise, with both examples started with
#                                  TETHER_DEFLATE=1; reports in target/autobahn-deflate/.
#                                  Opt-in: it takes far longer than the default run (see
#                                  CONFORMANCE.md), so CI does not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh
tool=${AUTOBAHN_TOOL:-../shared/tools/autobahn.sh}
adapters=${ADAPTERS:-tokio async-std}
target=${CARGO_TARGET_DIR:-target}
out=$target/autobahn
case "${1:-}" in
  "") ;;
  --deflate)
    export TETHER_DEFLATE=1
    export CASES=${CASES:-12.*,13.*}
    export EXCLUDE=${EXCLUDE-}
    # Each role took about 25 minutes on a loaded 2-core machine, near the tool's default
    # limit of 30.
    export WSTEST_TIMEOUT=${WSTEST_TIMEOUT:-5400}
    adapters=${ADAPTERS:-tokio}
    out=$target/autobahn-deflate
    ;;
  *) echo "usage: $0 [--deflate]" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out"

reports=()
for adapter in $adapters; do
  cargo build --release --locked -p "tether-$adapter" --example echo_server --example autobahn_client
  # Each adapter's example binaries land in one folder; copy them before the next build.
  bin="$out/bin-$adapter"
  mkdir -p "$bin"
  cp "$target/release/examples/echo_server" "$target/release/examples/autobahn_client" "$bin/"

  start_server "$bin/echo_server" 127.0.0.1:0
  OUT="$out/$adapter-server" bash "$tool" client "$SERVER_URL"
  kill "$SERVER_PID" 2>/dev/null || true

  OUT="$out/$adapter-client" AGENT="tether-$adapter" bash "$tool" server "$bin/autobahn_client"
  reports+=("$out/$adapter-server" "$out/$adapter-client")
done

python3 scripts/autobahn_report.py "${reports[@]}"
