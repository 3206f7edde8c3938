#!/usr/bin/env bash
# Fuzzes the wire decoders: `scripts/fuzz.sh [frame|delta|snmp_trap] [SECONDS]`
# (default: both targets, 60 s each). Installs cargo-fuzz when missing.
# cargo-fuzz needs nightly-only compiler flags (sanitizers, coverage
# instrumentation); RUSTC_BOOTSTRAP lets this machine's stable toolchain
# accept them. Crashes are kept in fuzz/artifacts/TARGET/.
#
# The `frame` target decodes any envelope, so every message kind is in
# reach; its corpus starts from the golden frames (one of every kind, see
# common/tests/wire_golden.rs), so each kind's decoder is exercised from
# the first run rather than once the fuzzer guesses a valid payload.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# Writes each golden frame, hex on disk, as a binary seed of the frame corpus.
seed_frames() {
    mkdir -p corpus/frame
    local hex
    for hex in ../common/tests/golden/frame-*.hex; do
        printf '%b' "$(tr -d ' \n' <"$hex" | sed 's/../\\x&/g')" \
            >"corpus/frame/golden-$(basename "$hex" .hex)"
    done
}

# Writes the datagrams net-snmp sent (agent/src/snmp/trap/testdata/*.hex)
# as binary seeds of the snmp_trap corpus.
seed_traps() {
    mkdir -p corpus/snmp_trap
    local hex
    for hex in ../agent/src/snmp/trap/testdata/*.hex; do
        printf '%b' "$(tr -d ' \n' <"$hex" | sed 's/../\\x&/g')" \
            >"corpus/snmp_trap/$(basename "$hex" .hex)"
    done
}

targets=("${1:-frame}")
[ $# -eq 0 ] && targets=(frame delta)
seconds="${2:-60}"
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${seconds}s"
    if [ "$t" = frame ]; then seed_frames; fi
    if [ "$t" = snmp_trap ]; then seed_traps; fi
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" -- -max_total_time="$seconds" -print_final_stats=1
done
