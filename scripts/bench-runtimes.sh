#!/usr/bin/env bash
# The adapters side by side: builds the `echo_server` and `rpc_server` examples of
# tether-tokio ("tokio") and tether-async-std ("smol", as its examples run on smol) in
# release, then runs `cargo bench -p tether-bench --bench runtimes` against them, each
# server in a process of its own.
#
#   scripts/bench-runtimes.sh                        # tokio and smol of this checkout
#   scripts/bench-runtimes.sh before=../wt-before    # ... and tokio-before, smol-before
#
# Each LABEL=CHECKOUT argument adds the two servers of another checkout of tether (a git
# worktree of an older commit, say: `git worktree add ../wt-before edff70f`), built there
# with CARGO_TARGET_DIR=CHECKOUT/target and named tokio-LABEL and smol-LABEL.
# TETHER_BENCH_CHECKOUT=DIR takes "tokio" and "smol" from another checkout than this one
# (a clean worktree while this tree is being edited); the bench itself always builds here.
#
# Both crates' examples are named echo_server and rpc_server, so their binaries land on
# the same paths in target/release/examples/: each crate is built, then its two binaries
# are copied to target/bench-runtimes/NAME/ before the other crate is built.
#
# The bench's knobs pass through: TETHER_BENCH_ECHO_MS, TETHER_BENCH_WARMUP_MS,
# TETHER_BENCH_ROUNDS, TETHER_BENCH_PAIRS (see bench/benches/runtimes.rs).
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

servers=
build "${TETHER_BENCH_CHECKOUT:-$root}" ""
for arg in "$@"; do
    case $arg in
        *=*) build "${arg#*=}" "-${arg%%=*}" ;;
        *) echo "usage: $0 [LABEL=CHECKOUT ...]" >&2; exit 2 ;;
    esac
done

TETHER_BENCH_SERVERS=$servers cargo bench -p tether-bench --bench runtimes
