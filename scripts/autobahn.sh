#!/usr/bin/env bash
# RFC 6455 conformance: runs the Autobahn|Testsuite (../shared/tools/autobahn.sh) against each
# adapter's echo server (wstest as client) and Autobahn client (wstest as server), then fails
# unless every case is OK or INFORMATIONAL: no FAILED, no NON-STRICT, none missing.
# ADAPTERS picks the adapters (default "tokio async-std"; each name is a tether-NAME crate).
# Reports land in target/autobahn/<adapter>-<role>/ (target/ is $CARGO_TARGET_DIR if set;
# AUTOBAHN_OUT names another folder, so two runs can go side by side); EXCLUDE and CASES
# pass through.
#
#   scripts/autobahn.sh                  cases 1.* to 11.* (the tool's default), compression
#                                        off
#   scripts/autobahn.sh --deflate-quick  a subset of 12.* and 13.* (permessage-deflate) that
#                                        takes a few minutes: every payload kind (12.1-12.5)
#                                        and every offer/answer combination (13.1-13.7), each
#                                        with 1000 messages of 16 B, 1000 of 1 KiB, and 1000
#                                        of 8 KiB fragmented into 256 B frames; both
#                                        adapters; reports in target/autobahn-deflate-quick/.
#                                        CI runs it.
#   scripts/autobahn.sh --deflate        all 216 cases of 12.* and 13.*, tokio only unless
#                                        ADAPTERS says otherwise; reports in
#                                        target/autobahn-deflate/. Opt-in: each role takes
#                                        about 25 minutes here (see CONFORMANCE.md).
# Both deflate modes start the examples with TETHER_DEFLATE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/serve.sh
tool=${AUTOBAHN_TOOL:-../shared/tools/autobahn.sh}
adapters=${ADAPTERS:-tokio async-std}
target=${CARGO_TARGET_DIR:-target}
out=$target/autobahn
case "${1:-}" in
  "") ;;
  --deflate-quick)
    export TETHER_DEFLATE=1
    # Case ids spelled out: wstest matches a pattern with `*` as a prefix, so `12.*.1`
    # would take 12.1.10 to 12.1.18 too.
    quick=()
    for group in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do
      quick+=("$group.1" "$group.4" "$group.11")
    done
    CASES=${CASES:-$(IFS=,; echo "${quick[*]}")}
    export CASES
    export EXCLUDE=${EXCLUDE-}
    out=$target/autobahn-deflate-quick
    ;;
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
  *) echo "usage: $0 [--deflate-quick | --deflate]" >&2; exit 2 ;;
esac
out=${AUTOBAHN_OUT:-$out}
rm -rf "$out"
mkdir -p "$out"

reports=()
for adapter in $adapters; do
  # Every adapter's examples share names in target/release/examples/, where another build
  # (this loop's next one, or a run alongside) may replace them: take each binary from the
  # path cargo reports for this very build instead.
  bin="$out/bin-$adapter"
  mkdir -p "$bin"
  cargo build --release --locked -p "tether-$adapter" --example echo_server \
    --example autobahn_client --message-format=json-render-diagnostics |
    python3 -c '
import json, shutil, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        shutil.copy(m["executable"], sys.argv[1])
' "$bin"

  start_server "$bin/echo_server" 127.0.0.1:0
  OUT="$out/$adapter-server" bash "$tool" client "$SERVER_URL"
  kill "$SERVER_PID" 2>/dev/null || true

  OUT="$out/$adapter-client" AGENT="tether-$adapter" bash "$tool" server "$bin/autobahn_client"
  reports+=("$out/$adapter-server" "$out/$adapter-client")
done

python3 scripts/autobahn_report.py "${reports[@]}"
