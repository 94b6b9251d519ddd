#!/usr/bin/env bash
# tether's servers side by side with its peers', each server in a process of its own:
# builds the `echo_server` and `rpc_server` examples of tether-tokio ("tokio") and
# tether-async-std ("smol", as its examples run on smol) and tether-bench's peer servers
# (fastwebsockets 0.10 and tokio-tungstenite 0.30 echo servers, a jsonrpsee 0.26 server
# with an `echo` method) in release, then runs `cargo bench -p tether-bench --bench
# runtimes` against them: throughput and server CPU per message, connect + upgrade time,
# idle memory per connection with 10 000 open, and CPU per message beside 10 000 idle
# connections (issue 14). About 6 minutes with the defaults once built; a quick look
# (about 1.5 minutes):
#
#   TETHER_BENCH_ROUNDS=1 TETHER_BENCH_ECHO_MS=1000 TETHER_BENCH_WARMUP_MS=200 \
#       scripts/bench-runtimes.sh
#
#   scripts/bench-runtimes.sh                        # tokio, smol and the peers
#   scripts/bench-runtimes.sh before=../wt-before    # ... and tokio-before, smol-before
#
# Each LABEL=CHECKOUT argument adds the two servers of another checkout of tether (a git
# worktree of an older commit, say: `git worktree add ../wt-before edff70f`), built there
# with CARGO_TARGET_DIR=CHECKOUT/target and named tokio-LABEL and smol-LABEL (a checkout
# older than the TETHER_MAX_CONNECTIONS knob of the examples refuses the idle connections:
# add TETHER_BENCH_PARTS=throughput,handshake). TETHER_BENCH_CHECKOUT=DIR takes "tokio" and
# "smol" from another checkout than this one (a clean worktree while this tree is being
# edited); the peers and the bench itself always build here. TETHER_BENCH_PEERS=0 leaves
# the peers out.
#
# Both crates' examples are named echo_server and rpc_server, so their binaries land on
# the same paths in target/release/examples/: each crate is built, then its two binaries
# are copied to target/bench-runtimes/NAME/ before the other crate is built. The peers are
# copied there too, as NAME/echo_server or NAME/rpc_server.
#
# The bench's knobs pass through: TETHER_BENCH_ECHO_MS, TETHER_BENCH_WARMUP_MS,
# TETHER_BENCH_ROUNDS, TETHER_BENCH_PAIRS, TETHER_BENCH_PARTS, TETHER_BENCH_CONNECTIONS,
# TETHER_BENCH_HANDSHAKES, TETHER_BENCH_SETTLE_MS (see bench/benches/runtimes/main.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${CARGO_TARGET_DIR:-$root/target}/bench-runtimes

# build CHECKOUT NAME_SUFFIX: the two crates' servers of CHECKOUT, into $out/tokio$SUFFIX
# and $out/smol$SUFFIX.
build() {
    local checkout suffix target crate name
    checkout=$(cd "$1" && pwd)
    suffix=$2
    if [ "$checkout" = "$root" ]; then
        target=${CARGO_TARGET_DIR:-$root/target}
    else
        target=$checkout/target
    fi
    for crate in tokio async-std; do
        case $crate in
            tokio) name=tokio$suffix ;;
            async-std) name=smol$suffix ;;
        esac
        echo "building $name in $checkout ($(git -C "$checkout" rev-parse --short HEAD))" >&2
        (cd "$checkout" && CARGO_TARGET_DIR=$target cargo build --release \
            -p "tether-$crate" --example echo_server --example rpc_server)
        mkdir -p "$out/$name"
        cp "$target/release/examples/echo_server" "$target/release/examples/rpc_server" \
            "$out/$name/"
        servers="${servers:+$servers,}$name=$out/$name"
    done
    # The copies must be two different builds, not one crate's binaries twice.
    if cmp -s "$out/tokio$suffix/echo_server" "$out/smol$suffix/echo_server"; then
        echo "tokio$suffix and smol$suffix have the same echo_server" >&2
        exit 1
    fi
}

# The peers, from tether-bench's examples, listed first: the first server with an
# echo_server (fastwebsockets) and the first with an rpc_server (jsonrpsee) are the
# references of the bench's ratios.
build_peers() {
    local target=${CARGO_TARGET_DIR:-$root/target} peer name example binary
    echo "building the peers' servers" >&2
    cargo build --release -p tether-bench --example fastwebsockets_echo_server \
        --example jsonrpsee_rpc_server --example tungstenite_echo_server
    for peer in fastwebsockets:fastwebsockets_echo_server:echo_server \
        jsonrpsee:jsonrpsee_rpc_server:rpc_server \
        tokio-tungstenite:tungstenite_echo_server:echo_server; do
        IFS=: read -r name example binary <<<"$peer"
        mkdir -p "$out/$name"
        cp "$target/release/examples/$example" "$out/$name/$binary"
        servers="${servers:+$servers,}$name=$out/$name"
    done
}

servers=
if [ "${TETHER_BENCH_PEERS:-1}" != 0 ]; then
    build_peers
fi
build "${TETHER_BENCH_CHECKOUT:-$root}" ""
for arg in "$@"; do
    case $arg in
        *=*) build "${arg#*=}" "-${arg%%=*}" ;;
        *) echo "usage: $0 [LABEL=CHECKOUT ...]" >&2; exit 2 ;;
    esac
done

TETHER_BENCH_SERVERS=$servers cargo bench -p tether-bench --bench runtimes
