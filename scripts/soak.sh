#!/usr/bin/env bash
# A long run of collector crashes and network partitions, then an exact
# check that every sample and inventory change was stored once. Not part of
# CI (an hour by default): run it before a release.
#
#   scripts/soak.sh          # 60 minutes
#   scripts/soak.sh 10       # 10 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-60}"
cargo build --release --workspace --bins --locked
exec ./target/release/soak --minutes "$minutes"
