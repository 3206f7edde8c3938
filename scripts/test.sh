#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script).
# Works on a fresh Debian machine with only the Rust toolchain: it installs
# the system packages the tests need, then checks formatting and lints and
# runs every test of the workspace against one shared build.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests use, as "command package" pairs: the live-host
# tests compare the agent with dpkg-query and nproc; the filesystem
# incident test mounts a tmpfs into a fixture copy; the user-report test
# runs `atalaya-agent report` as an unprivileged account with setpriv; the
# SNMP poller tests run their own net-snmp snmpd and compare with its tools;
# the network probe tests cut a veth pair into a namespace with ip.
needed=()
while read -r cmd pkg; do
    command -v "$cmd" >/dev/null 2>&1 || needed+=("$pkg")
done <<'LIST'
dpkg-query dpkg
nproc coreutils
mount mount
setpriv util-linux
/usr/sbin/snmpd snmpd
snmpget snmp
/usr/sbin/ip iproute2
LIST
if ((${#needed[@]})); then
    echo "installing: ${needed[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${needed[@]}"
fi

# One clean build: incremental caches would double the target directory.
export CARGO_INCREMENTAL=0

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo build"
# The end-to-end tests run the real binaries of every crate: build them
# first, in the same (debug) profile the tests use.
cargo build --workspace --bins --locked
echo "== cargo test"
cargo test --workspace --locked
