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
# the trap tests send with its snmptrap and snmpinform; the topology test
# runs lldpd and snmpd in network namespaces made with ip and draws its map
# with Graphviz; the network probe tests cut a veth pair into a namespace;
# the web console tests drive a headless Chromium through chromedriver;
# the package test (packaging/test.sh, run under CI or with
# ATALAYA_PACKAGE_TESTS=1) strips the binaries with strip and builds .deb
# files with dpkg-deb and dpkg-shlibdeps, checks the units with
# systemd-analyze (which opens their man: documentation with man), makes
# the collector's account and folders with systemd-sysusers and
# systemd-tmpfiles, runs the maintainer scripts under a stand-in systemd in
# a mount namespace made with unshare, builds the RPMs with rpmbuild and
# installs, upgrades and erases them with rpm, and boots this machine's own
# system under an overlay with systemd-nspawn to run the packages under
# systemd as PID 1 (entered with nsenter; systemd-run --wait there needs
# the system bus, dbus).
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
/usr/sbin/lldpd lldpd
/usr/sbin/ip iproute2
dot graphviz
snmptrap snmp
snmpinform snmp
chromium chromium
chromedriver chromium-driver
dpkg-deb dpkg
strip binutils
unshare util-linux
dpkg-shlibdeps dpkg-dev
systemd-analyze systemd
systemd-sysusers systemd
systemd-tmpfiles systemd
rpmbuild rpm
man man-db
systemd-nspawn systemd-container
/usr/bin/dbus-daemon dbus
nsenter util-linux
LIST
# Python modules the tests import, as "module package" pairs, checked with
# the system's Python 3 (the one Debian's python3-* packages install into):
# the e-mail tests run an aiosmtpd SMTP server (STARTTLS and login required)
# from collector/tests/smtp_server.py.
while read -r module pkg; do
    /usr/bin/python3 -c "import $module" >/dev/null 2>&1 || needed+=("$pkg")
done <<'LIST'
aiosmtpd python3-aiosmtpd
LIST
if ((${#needed[@]})); then
    echo "installing: ${needed[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${needed[@]}"
fi

# SNMP Simulator serves the device shapes no local daemon has (a switch
# with ENTITY-MIB, a printer…): the Python package snmpsim, pinned with
# what it imports, in a virtual environment of the system's Python 3.
# As root it lives under /opt, where the unprivileged account snmpsim
# switches to can read it; otherwise in the user's cache.
snmpsim_pins="snmpsim==1.2.2 pysnmp==7.1.30 pysmi==2.0.0 pyasn1==0.6.5"
if [ "$(id -u)" -eq 0 ]; then
    snmpsim_venv=/opt/atalaya-test/snmpsim
else
    snmpsim_venv="${XDG_CACHE_HOME:-$HOME/.cache}/atalaya/snmpsim"
fi
if [ ! -x "$snmpsim_venv/bin/snmpsim-command-responder" ]; then
    python=/usr/bin/python3
    [ -x "$python" ] || python=python3
    if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        echo "installing: python3 python3-venv"
        sudo_cmd=""
        [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3 python3-venv
        python=/usr/bin/python3
    fi
    echo "installing: $snmpsim_pins into $snmpsim_venv"
    "$python" -m venv "$snmpsim_venv"
    # shellcheck disable=SC2086 # one argument per pin
    "$snmpsim_venv/bin/pip" install --quiet --disable-pip-version-check $snmpsim_pins
fi
export ATALAYA_SNMPSIM="$snmpsim_venv/bin/snmpsim-command-responder"

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

# The packages, built from the binaries just built, installed on this
# machine, run, upgraded and purged (packaging/test.sh): in every CI run
# (CI=true), or when asked for (ATALAYA_PACKAGE_TESTS=1). It installs
# packages into the system, so it runs as root, or through sudo. The
# packages hold the test build's binaries (ATALAYA_PKG_PROFILE=release
# builds and tests the release ones: half an hour more on two cores).
if [ "${CI:-}" = true ] || [ "${ATALAYA_PACKAGE_TESTS:-}" = 1 ]; then
    echo "== packaging/test.sh"
    export ATALAYA_PKG_PROFILE="${ATALAYA_PKG_PROFILE:-dev}"
    if [ "$(id -u)" -eq 0 ]; then
        packaging/test.sh
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        # cargo (a no-op build here) must find the same toolchain and
        # target directory as root.
        sudo -n env "PATH=$PATH" "HOME=$HOME" "CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}" \
            "RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}" "CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}" \
            "CARGO_INCREMENTAL=$CARGO_INCREMENTAL" "CI=${CI:-}" \
            "ATALAYA_PKG_PROFILE=$ATALAYA_PKG_PROFILE" packaging/test.sh
    else
        echo "packaging/test.sh needs root or sudo without a password (it installs packages)" >&2
        exit 1
    fi
else
    echo "== packaging/test.sh skipped (runs under CI=true or with ATALAYA_PACKAGE_TESTS=1, as root or with sudo)"
fi
