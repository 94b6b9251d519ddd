#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS_PER_TARGET (default 60), starting from its
# committed seeds (fuzz/seeds/<target>/), then minimises what it reached (cargo fuzz cmin)
# back into fuzz/seeds/<target>/, and prints executions, corpus sizes and findings per
# target. Exits non-zero if any target found a crash, a timeout or an out-of-memory input;
# those are left in target/fuzz/artifacts/<target>/ (target/ is $CARGO_TARGET_DIR if set).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Environment:
#   TARGETS    the targets to run (default: every one, `cargo fuzz list`)
#   JOBS       targets run at once (default 1; each takes one core)
#   SANITIZER  cargo-fuzz's sanitizer (default none: the workspace forbids unsafe code, so
#              the targets hunt panics and broken properties, and run faster without one)
#
# cargo-fuzz needs a nightly compiler; RUSTC_BOOTSTRAP=1 lets the stable one stand in.
# The seeds are replayed on stable by the test command (tests/tests/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
jobs=${JOBS:-1}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
target_dir=$(realpath -m "${CARGO_TARGET_DIR:-target}")
work=$target_dir/fuzz
mkdir -p "$work"
build=(--target-dir "$target_dir/fuzz-build" -s "${SANITIZER:-none}" -O -a)
targets=${TARGETS:-$(cargo fuzz list)}

cargo fuzz build "${build[@]}"

# One target: fuzz from the seeds, minimise, write back, record a summary line.
run_target() {
  local t=$1 corpus=$work/corpus/$1 artifacts=$work/artifacts/$1/ log=$work/$1.log
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  cp fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  local before
  before=$(ls "$corpus" | wc -l)
  # -timeout: an input that takes 20 s is a finding (a livelock), not patience.
  cargo fuzz run "${build[@]}" "$t" "$corpus" -- \
    -max_total_time="$secs" -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$artifacts" >"$log" 2>&1 || true
  local execs reached
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  reached=$(ls "$corpus" | wc -l)
  cargo fuzz cmin "${build[@]}" "$t" "$corpus" >>"$log" 2>&1
  # Hand-made seeds (named, not content hashes) stay; the rest is the minimised corpus.
  find fuzz/seeds/"$t" -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
  local kept=0
  for f in "$corpus"/*; do
    [ -f "fuzz/seeds/$t/$(basename "$f")" ] && continue
    cp "$f" fuzz/seeds/"$t"/
    kept=$((kept + 1))
  done
  local findings
  findings=$(ls "$artifacts" | wc -l)
  printf '%-14s %12s %8s %8s %8s %9s\n' "$t" "${execs:-?}" "$before" "$reached" \
    "$(ls fuzz/seeds/"$t" | wc -l)" "$findings" >"$work/$t.summary"
}

running=0
for t in $targets; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

echo
printf '%-14s %12s %8s %8s %8s %9s\n' target executions seeds reached minimised findings
found=0
for t in $targets; do
  cat "$work/$t.summary"
  if [ -n "$(ls "$work/artifacts/$t")" ]; then
    found=1
    ls "$work/artifacts/$t" | sed "s|^|  $work/artifacts/$t/|"
  fi
done
echo "($secs s per target; logs in $work/<target>.log)"
exit "$found"
