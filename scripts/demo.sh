#!/usr/bin/env bash
# The main demo: a replicated key-value store on openraft and tether, three node processes
# on loopback (raft/examples/demo.rs drives raft/examples/node.rs). They form a cluster and
# take writes; the leader is killed (SIGKILL); the other two elect a new one and writes go
# on; the old leader starts again, empty, and catches up from the new leader by snapshot;
# every acknowledged write is read back from every node; each node's view of its peers
# ends it. Exits 0 only if all of that worked, within a minute. Arguments go to the demo
# (`--quiet` hides the nodes' own lines). The echo demo is scripts/demo-echo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building the demo (release; a fresh machine needs a few minutes)"
cargo build --release --locked -p tether-raft --examples
exec "${CARGO_TARGET_DIR:-target}/release/examples/demo" "$@"
