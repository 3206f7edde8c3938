#!/usr/bin/env bash
# Fuzzes the wire decoders: `scripts/fuzz.sh [frame|delta] [SECONDS]`
# (default: both targets, 60 s each). Installs cargo-fuzz when missing.
# cargo-fuzz needs nightly-only compiler flags (sanitizers, coverage
# instrumentation); RUSTC_BOOTSTRAP lets this machine's stable toolchain
# accept them. Crashes are kept in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=("${1:-frame}")
[ $# -eq 0 ] && targets=(frame delta)
seconds="${2:-60}"
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${seconds}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" -- -max_total_time="$seconds" -print_final_stats=1
done
