#!/usr/bin/env bash
# Every flood of scripts/hostile.py against this checkout's tokio examples, each against a
# fresh server process whose memory (and CPU) is read from /proc by the client: the figures
# of SECURITY.md. About a minute after the release build.
#
#   bash scripts/hostile.sh                 # build, then run every flood
#   SERVERS=DIR bash scripts/hostile.sh     # the rpc_server and echo_server binaries in DIR
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SERVERS:-}" ]; then
    cargo build --release -p tether-tokio --example rpc_server --example echo_server
    SERVERS=${CARGO_TARGET_DIR:-target}/release/examples
fi
rpc=("$SERVERS/rpc_server" 127.0.0.1:0)
echo=("$SERVERS/echo_server" 127.0.0.1:0)
python3 scripts/hostile.py call-flood --seconds 20 --max-mib 400 -- "${rpc[@]}"
python3 scripts/hostile.py invalid-batch-flood --seconds 20 --max-mib 40 -- "${rpc[@]}"
python3 scripts/hostile.py huge-batch --batch-mib 15 -- "${rpc[@]}"
TETHER_DEFLATE=1 python3 scripts/hostile.py deflate-tiny-frames --first-mib 8.5 --frames 200000 -- "${echo[@]}"
