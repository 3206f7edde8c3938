#!/usr/bin/env bash
# Builds the Debian packages, installs them on this machine and checks them
# as an administrator would meet them: files and their modes, the
# collector's account, the units (systemd-analyze verify), then the
# installed collector run as its unit runs it, an enrollment token made
# with the installed tools, the installed agent enrolled and seen by the
# collector, and finally removal (state kept) and purge (state gone).
#
# Then the upgrade: packages of an older version (the same binaries, packed
# as ATALAYA_PKG_OLD_VERSION, default 0.0.9) installed, the agent enrolled
# and its records spooled while the collector is stopped, the
# configuration edited, and the current packages installed over them:
# identity, spool, edited conffiles, store and CA are kept, and the
# upgraded agent delivers what it had spooled. The upgrade branch of the
# maintainer scripts and of install.sh, and the RPMs' scriptlets (installed,
# upgraded and erased with rpm), run as if under systemd: see under_systemd.
# Last, the packages under systemd as PID 1: this machine's own system,
# under an overlay, booted in a container with systemd-nspawn.
#
# Needs root (it installs packages), dpkg-dev, systemd (systemd-analyze,
# systemd-sysusers, systemd-tmpfiles), systemd-container (systemd-nspawn),
# util-linux (setpriv, unshare, nsenter) and
# binutils (strip); with rpm installed it also builds the RPMs, lists them,
# and (Debian's rpm) installs, upgrades and erases them. scripts/test.sh installs these and runs this script when CI=true or
# ATALAYA_PACKAGE_TESTS=1. Safe to run again: it purges what an earlier run
# left first.
#
# The packages hold the binaries of the cargo profile ATALAYA_PKG_PROFILE:
# under CI (CI=true) by default dev, the test suite's build (the packaging
# is what is tested here, and a release build takes half an hour on two
# cores), otherwise release, as shipped.
#
# The collector and agent listen on loopback ports ATALAYA_PKG_QUIC_PORT
# (default 24433) and ATALAYA_PKG_API_PORT (default 28440).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" -eq 0 ] || { echo "packaging/test.sh: must run as root (it installs packages)" >&2; exit 2; }

profile="${ATALAYA_PKG_PROFILE:-}"
if [ -z "$profile" ]; then
    if [ "${CI:-}" = true ]; then profile=dev; else profile=release; fi
fi
case "$profile" in
release) bin="${CARGO_TARGET_DIR:-$repo/target}/release" ;;
dev | debug) bin="${CARGO_TARGET_DIR:-$repo/target}/debug" ;;
*) echo "packaging/test.sh: ATALAYA_PKG_PROFILE=$profile: expected release or dev" >&2; exit 2 ;;
esac
old_version="${ATALAYA_PKG_OLD_VERSION:-0.0.9}"
quic_port="${ATALAYA_PKG_QUIC_PORT:-24433}"
api_port="${ATALAYA_PKG_API_PORT:-28440}"
work="$(mktemp -d)"
pids=()
passed=0
failed=0

cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    # The container's root (see "under systemd as PID 1").
    if mountpoint -q "$work/sysroot/root" 2>/dev/null; then umount -l "$work/sysroot/root"; fi
    rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local what="$1"
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else fail "$what"; fi
}
# check_log DESCRIPTION LOG COMMAND...: passes when the command succeeds;
# its output goes to LOG, shown when it fails.
check_log() {
    local what="$1" log="$2"
    shift 2
    if "$@" </dev/null >"$log" 2>&1; then ok "$what"; else fail "$what"; cat "$log"; fi
}
# mode_is PATH MODE OWNER:GROUP
mode_is() {
    local got
    got="$(stat -c '%a %U:%G' "$1" 2>/dev/null || echo missing)"
    if [ "$got" = "$2 $3" ]; then ok "$1 is $2 $3"; else fail "$1 is $2 $3 (found: $got)"; fi
}
# wait_for SECONDS COMMAND...: until the command succeeds, or false.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}
# exec_start UNIT: the ExecStart line of an installed unit.
exec_start() { sed -n 's/^ExecStart=//p' "/usr/lib/systemd/system/$1"; }
as_atalaya() { setpriv --reuid=atalaya --regid=atalaya --init-groups "$@"; }
# under_systemd COMMAND...: runs the command as if systemd ran this machine,
# which the CI machine's has not: in a mount namespace whose /run holds
# /run/systemd/system (what scripts test for a running systemd), with a
# stand-in systemctl first on PATH that only writes each call it gets as a
# line of $stand_in/calls (emptied first; its_calls reads them).
stand_in="$work/systemctl-stand-in"
mkdir -p "$stand_in"
printf '#!/bin/sh\necho "$*" >>%s/calls\n' "$stand_in" >"$stand_in/systemctl"
chmod 0755 "$stand_in/systemctl"
under_systemd() {
    : >"$stand_in/calls"
    unshare --mount --propagation private sh -c \
        'mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system && exec "$@"' sh \
        env "PATH=$stand_in:$PATH" "$@"
}
its_calls() { cat "$stand_in/calls" 2>/dev/null; }
# called LINE, not_called LINE, none_called REGEX: about the calls of the
# last under_systemd.
called() { grep -qxF -- "$1" "$stand_in/calls"; }
not_called() { ! called "$1"; }
none_called() { ! grep -Eq -- "$1" "$stand_in/calls"; }

echo "== an earlier run's packages, purged"
dpkg --purge atalaya-agent atalaya-collector >/dev/null 2>&1 || true

echo "== build ($profile profile)"
rpm_flag=()
command -v rpmbuild >/dev/null 2>&1 && rpm_flag=(--rpm)
"$here/build.sh" --profile "$profile" --out "$work/out" "${rpm_flag[@]}"
version="$(cargo pkgid -p atalaya-agent --manifest-path "$repo/Cargo.toml" | sed 's/.*[@#]//')"
arch="$(dpkg --print-architecture)"
agent_deb="$work/out/atalaya-agent_${version}_${arch}.deb"
collector_deb="$work/out/atalaya-collector_${version}_${arch}.deb"
check "agent package built" test -s "$agent_deb"
check "collector package built" test -s "$collector_deb"
check "agent.toml is a conffile" sh -c "dpkg-deb -I '$agent_deb' conffiles | grep -qx /etc/atalaya/agent.toml"
check "collector package holds the atalaya CLI" sh -c "dpkg-deb -c '$collector_deb' | grep -q ' ./usr/bin/atalaya$'"
check "every file in the packages belongs to root" sh -c "! dpkg-deb -c '$agent_deb' '$collector_deb' | awk '{print \$2}' | grep -v '^root/root$'"
if ((${#rpm_flag[@]})); then
    for package in atalaya-agent atalaya-collector; do
        rpm_file="$(ls "$work/out/$package-$version"-*.rpm 2>/dev/null | head -1)"
        check "$package rpm lists its binary and unit" sh -c \
            "rpm -qpl '$rpm_file' | grep -qx /usr/bin/$package && rpm -qpl '$rpm_file' | grep -qx /usr/lib/systemd/system/$package.service"
    done
    agent_rpm="$(ls "$work/out/atalaya-agent-$version"-*.rpm 2>/dev/null | head -1)"
    check "atalaya-agent rpm lists its path unit" sh -c \
        "rpm -qpl '$agent_rpm' | grep -qx /usr/lib/systemd/system/atalaya-agent.path"
fi

echo "== install"
DEBIAN_FRONTEND=noninteractive dpkg -i "$collector_deb" "$agent_deb"
for f in /usr/bin/atalaya-agent /usr/bin/atalaya-collector /usr/bin/atalaya; do
    mode_is "$f" 755 root:root
done
check "atalaya-agent --version answers" /usr/bin/atalaya-agent --version
check "account atalaya exists" getent passwd atalaya
check "account atalaya has no login shell" sh -c "getent passwd atalaya | grep -Eq ':(/usr/sbin/nologin|/sbin/nologin|/bin/false)$'"
mode_is /etc/atalaya 755 root:root
mode_is /etc/atalaya/agent.toml 600 root:root
mode_is /etc/atalaya/collector.toml 640 root:atalaya
mode_is /etc/atalaya/rules.toml 640 root:atalaya
mode_is /var/lib/atalaya-collector 700 atalaya:atalaya
mode_is /var/lib/atalaya-agent 700 root:root
mode_is /var/spool/atalaya-agent 755 root:root
for page in atalaya-agent atalaya-agent-enroll atalaya-collector atalaya-collector-token-create atalaya atalaya-incidents; do
    check "man page $page(1) is roff" sh -c "zcat /usr/share/man/man1/$page.1.gz | grep -q '^\.TH'"
done
check "no man page for the hidden generate-docs" sh -c "! ls /usr/share/man/man1/ | grep -q '^atalaya.*generate'"
for program in atalaya-agent atalaya-collector atalaya; do
    check "$program completions (bash, zsh, fish)" test -s "/usr/share/bash-completion/completions/$program" \
        -a -s "/usr/share/zsh/vendor-completions/_$program" -a -s "/usr/share/fish/vendor_completions.d/$program.fish"
done
check "bash completion offers enroll" grep -q enroll /usr/share/bash-completion/completions/atalaya-agent
check "collector unit enabled" test -L /etc/systemd/system/multi-user.target.wants/atalaya-collector.service
check "agent unit enabled" test -L /etc/systemd/system/multi-user.target.wants/atalaya-agent.service
for unit in atalaya-collector.service atalaya-agent.service atalaya-agent.path; do
    if out="$(systemd-analyze verify "/usr/lib/systemd/system/$unit" 2>&1)" && [ -z "$out" ]; then
        ok "systemd-analyze verify $unit"
    else
        fail "systemd-analyze verify $unit: $out"
    fi
done
check "the agent unit waits for an identity" grep -qx 'ConditionPathExists=/var/lib/atalaya-agent/agent-id' /usr/lib/systemd/system/atalaya-agent.service
check "the agent's path unit starts it once the identity is written" \
    grep -qx 'PathExists=/var/lib/atalaya-agent/agent-id' /usr/lib/systemd/system/atalaya-agent.path
check "agent path unit enabled" test -L /etc/systemd/system/paths.target.wants/atalaya-agent.path
check "the collector unit runs as atalaya" grep -qx 'User=atalaya' /usr/lib/systemd/system/atalaya-collector.service

echo "== the installed collector, run as its unit runs it"
# on_test_ports: the installed collector.toml edited as an administrator
# would, for the loopback ports of this test.
on_test_ports() {
    sed -i -e "s|^listen = \"0.0.0.0:4433\"|listen = \"127.0.0.1:$quic_port\"|" \
        -e "s|^advertise = \"\"|advertise = \"127.0.0.1:$quic_port\"|" \
        -e "s|^listen = \"127.0.0.1:8440\"|listen = \"127.0.0.1:$api_port\"|" /etc/atalaya/collector.toml
}
# start_collector LOG: the installed collector run as its unit runs it,
# its output in LOG (shown if it does not answer its administrator).
start_collector() {
    (umask 0077 && cd / && exec setpriv --reuid=atalaya --regid=atalaya --init-groups "${collector_cmd[@]}") \
        >"$1" 2>&1 &
    pids+=($!)
    wait_for 60 as_atalaya /usr/bin/atalaya-collector token list || { cat "$1"; return 1; }
}
# start_agent LOG: the installed agent run as its unit runs it.
start_agent() {
    (cd / && exec "${agent_cmd[@]}") >"$1" 2>&1 &
    pids+=($!)
}
on_test_ports
check "edited collector.toml passes check-config" as_atalaya /usr/bin/atalaya-collector check-config /etc/atalaya/collector.toml
read -r -a collector_cmd <<<"$(exec_start atalaya-collector.service)"
if start_collector "$work/collector.log"; then
    ok "collector answers its administrator"
else
    fail "collector answers its administrator"
fi
mode_is /var/lib/atalaya-collector/atalaya.redb 600 atalaya:atalaya
token="$(as_atalaya /usr/bin/atalaya-collector token create --ttl 10m --uses 1 || true)"
check "an enrollment token is made with the installed tools" test -n "$token"

echo "== the installed agent, enrolled and run as its unit runs it"
if /usr/bin/atalaya-agent enroll --config /etc/atalaya/agent.toml --token "$token" >"$work/enroll.log" 2>&1; then
    ok "agent enrolls"
else
    fail "agent enrolls"; cat "$work/enroll.log"
fi
mode_is /var/lib/atalaya-agent/agent-id 644 root:root  # its id is no secret; the key is
mode_is /var/lib/atalaya-agent/agent-key.pem 600 root:root
agent_id="$(cat /var/lib/atalaya-agent/agent-id 2>/dev/null || echo none)"
read -r -a agent_cmd <<<"$(exec_start atalaya-agent.service)"
start_agent "$work/agent.log"
# connected: the agent $agent_id is listed as connected by the collector.
connected() {
    as_atalaya /usr/bin/atalaya-collector agent list | AGENT_ID="$agent_id" python3 -c '
import json, os, sys
def found(v):
    if isinstance(v, dict):
        if v.get("id") == os.environ["AGENT_ID"] and v.get("status") == "connected":
            return True
        v = list(v.values())
    return isinstance(v, list) and any(found(x) for x in v)
sys.exit(0 if found(json.load(sys.stdin)) else 1)'
}
if wait_for 60 connected; then
    ok "agent $agent_id is connected in agent list"
else
    fail "agent $agent_id is connected in agent list"
    as_atalaya /usr/bin/atalaya-collector agent list || true
    tail -20 "$work/agent.log" "$work/collector.log"
fi

echo "== the installed agent's inventory under its unit's capabilities"
# What CapabilityBoundingSet= keeps is measured here, not assumed: with only
# the unit's capabilities (as root, the way systemd starts it) the agent's
# inventory is the whole one of unrestricted root, and without
# CAP_SYS_PTRACE it no longer knows which program owns another account's
# listening socket.
unit_caps="$(sed -n 's/^CapabilityBoundingSet=//p' /usr/lib/systemd/system/atalaya-agent.service |
    tr ' ' '\n' | sed 's/^CAP_/+/' | tr 'A-Z' 'a-z' | paste -sd, -)"
probe_port="${ATALAYA_PKG_PROBE_PORT:-24999}"
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(300)' "$probe_port" >/dev/null 2>&1 &
listener=$!
wait_for 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $probe_port), 1)" || true
# inventory_with BOUNDING-SET FILE: the installed agent's inventory, taken
# as root with only these capabilities, into FILE.
inventory_with() {
    setpriv --bounding-set="$1" /usr/bin/atalaya-agent inventory --json >"$2" 2>"$2.log"
}
# owner_of FILE: the program the inventory in FILE names for the probe port.
owner_of() {
    python3 - "$1" "$probe_port" <<'PY'
import json, sys
inv = json.load(open(sys.argv[1]))
for l in inv.get("services", {}).get("listeners", []):
    if l.get("port") == int(sys.argv[2]):
        print(l.get("process") or "-")
        break
else:
    print("not listed")
PY
}
# same_inventory A B: the two inventories are equal but for free space,
# which moves between two reads.
same_inventory() {
    python3 - "$1" "$2" <<'PY'
import json, sys
def steady(v):
    if isinstance(v, dict):
        return {k: steady(x) for k, x in v.items() if k not in ("free_bytes", "used_bytes", "available_bytes")}
    if isinstance(v, list):
        return [steady(x) for x in v]
    return v
a, b = (steady(json.load(open(f))) for f in sys.argv[1:3])
sys.exit(0 if a == b else 1)
PY
}
inventory_with "+all" "$work/inv-root.json"
inventory_with "-all,$unit_caps" "$work/inv-unit.json"
inventory_with "-all,${unit_caps/,+sys_ptrace/}" "$work/inv-no-ptrace.json"
check "the inventory under the unit's capabilities ($unit_caps) is root's whole inventory" \
    same_inventory "$work/inv-root.json" "$work/inv-unit.json"
owner="$(owner_of "$work/inv-unit.json")"
if [ "$owner" = python3 ]; then
    ok "under the unit's capabilities the owner of another account's listening socket is known ($owner)"
else
    fail "under the unit's capabilities the owner of another account's listening socket is known (found: $owner)"
fi
owner="$(owner_of "$work/inv-no-ptrace.json")"
if [ "$owner" = "-" ]; then
    ok "without CAP_SYS_PTRACE that owner is unknown: the capability is needed"
else
    fail "without CAP_SYS_PTRACE that owner is unknown (found: $owner)"
fi
kill "$listener" 2>/dev/null || true
wait "$listener" 2>/dev/null || true

echo "== remove and purge the agent; install.sh on the machine without it"
stop_all() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}
kill "${pids[1]}" && wait "${pids[1]}" 2>/dev/null || true
pids=("${pids[0]}")
dpkg -r atalaya-agent >/dev/null
check "agent binary gone after removal" test ! -e /usr/bin/atalaya-agent
check "agent unit disabled after removal" test ! -e /etc/systemd/system/multi-user.target.wants/atalaya-agent.service
check "agent path unit disabled after removal" test ! -e /etc/systemd/system/paths.target.wants/atalaya-agent.path
check "agent configuration kept after removal" test -e /etc/atalaya/agent.toml
check "agent identity kept after removal" test -e /var/lib/atalaya-agent/agent-id
dpkg --purge atalaya-agent >/dev/null
check "agent configuration gone after purge" test ! -e /etc/atalaya/agent.toml
check "agent state gone after purge" test ! -e /var/lib/atalaya-agent -a ! -e /var/spool/atalaya-agent

bundle="$work/bundle"
mkdir -p "$bundle"
cp "$bin/atalaya-agent" "$here/install.sh" "$here/systemd/atalaya-agent.service" \
    "$repo/config/agent.toml" "$bundle/"
check "install.sh refuses what is not a token" sh -c "! '$bundle/install.sh' not-a-token >/dev/null 2>&1"
check "install.sh says why it refuses it" sh -c "'$bundle/install.sh' not-a-token 2>&1 | grep -q 'not look like an Atalaya enrollment token'"
token="$(as_atalaya /usr/bin/atalaya-collector token create --ttl 10m --uses 1 || true)"
if "$bundle/install.sh" "$token" "127.0.0.1:$quic_port" >"$work/install.log" 2>&1; then
    ok "install.sh installs and enrolls"
else
    fail "install.sh installs and enrolls"; cat "$work/install.log"
fi
mode_is /usr/bin/atalaya-agent 755 root:root
mode_is /etc/atalaya/agent.toml 600 root:root
check "install.sh wrote the collector address" grep -qx "address = \"127.0.0.1:$quic_port\"" /etc/atalaya/agent.toml
first_agent="$agent_id"
agent_id="$(cat /var/lib/atalaya-agent/agent-id 2>/dev/null || echo none)"
check "install.sh enrolled a new agent" test "$agent_id" != none -a "$agent_id" != "$first_agent"
start_agent "$work/agent2.log"
if wait_for 60 connected; then
    ok "the agent install.sh installed is connected"
else
    fail "the agent install.sh installed is connected"; tail -20 "$work/agent2.log"
fi
check "install.sh again keeps the enrollment" sh -c "'$bundle/install.sh' '$token' | grep -q 'already enrolled as $agent_id'"
stop_all
# Its systemd branch: the unit installed, enabled and (re)started.
check_log "install.sh upgrades under systemd" "$work/install-systemd.log" under_systemd "$bundle/install.sh" "$token"
mode_is /etc/systemd/system/atalaya-agent.service 644 root:root
check "install.sh installs the packaged unit" cmp /etc/systemd/system/atalaya-agent.service "$here/systemd/atalaya-agent.service"
check "install.sh under systemd reloads, enables and restarts the agent" test "$(its_calls)" = "daemon-reload
enable atalaya-agent.service
restart atalaya-agent.service"
check "install.sh under systemd keeps the enrollment" grep -q "already enrolled as $agent_id" "$work/install-systemd.log"
rm -rf /usr/bin/atalaya-agent /etc/atalaya/agent.toml /var/lib/atalaya-agent /var/spool/atalaya-agent \
    /etc/systemd/system/atalaya-agent.service

echo "== stop, remove and purge the collector"
dpkg -r atalaya-collector >/dev/null
check "collector binaries gone after removal" test ! -e /usr/bin/atalaya-collector -a ! -e /usr/bin/atalaya
check "collector unit disabled after removal" test ! -e /etc/systemd/system/multi-user.target.wants/atalaya-collector.service
check "collector configuration kept after removal" test -e /etc/atalaya/collector.toml
check "collector store kept after removal" test -e /var/lib/atalaya-collector/atalaya.redb
dpkg --purge atalaya-collector >/dev/null
check "configuration gone after purge" test ! -e /etc/atalaya
check "collector store gone after purge" test ! -e /var/lib/atalaya-collector
check "account atalaya kept after purge (Debian keeps system accounts)" getent passwd atalaya

echo "== upgrade from $old_version: identity, spool, edited configuration and store kept"
"$here/build.sh" --profile "$profile" --version "$old_version" --out "$work/old" >/dev/null
DEBIAN_FRONTEND=noninteractive dpkg -i "$work/old/atalaya-collector_${old_version}_${arch}.deb" \
    "$work/old/atalaya-agent_${old_version}_${arch}.deb" </dev/null >/dev/null
installed_versions() { dpkg-query -W -f '${Version} ' atalaya-collector atalaya-agent; }
check "version $old_version installed" test "$(installed_versions)" = "$old_version $old_version "
on_test_ports
start_collector "$work/collector-old.log" || true
token="$(as_atalaya /usr/bin/atalaya-collector token create --ttl 10m --uses 1 || true)"
if /usr/bin/atalaya-agent enroll --config /etc/atalaya/agent.toml --token "$token" >"$work/enroll-old.log" 2>&1; then
    ok "agent $old_version enrolls"
else
    fail "agent $old_version enrolls"; cat "$work/enroll-old.log"
fi
agent_id="$(cat /var/lib/atalaya-agent/agent-id 2>/dev/null || echo none)"
# The collector is stopped: what the agent collects now waits in its spool.
stop_all
# An administrator's edit: health samples every second (the key may be
# set or commented out in the shipped file).
sed -i 's|^\(# \)\?interval_seconds = 10$|interval_seconds = 1|' /etc/atalaya/agent.toml
check "the administrator's edit is in agent.toml" grep -qx 'interval_seconds = 1' /etc/atalaya/agent.toml
check "the edited agent.toml passes check-config" /usr/bin/atalaya-agent check-config /etc/atalaya/agent.toml
agent_toml="$(sha256sum </etc/atalaya/agent.toml)"
collector_toml="$(sha256sum </etc/atalaya/collector.toml)"
# spooled: "COUNT MAX_SEQ" of the records waiting in the agent's spool.
spooled() {
    python3 - /var/lib/atalaya-agent/spool <<'PY'
import pathlib, struct, sys
spool = pathlib.Path(sys.argv[1])
acked_file = spool / "acked"
acked = int(acked_file.read_text().strip() or 0) if acked_file.exists() else 0
count, top = 0, 0
for seg in sorted(spool.glob("*.seg")):
    data, at = seg.read_bytes(), 0
    while at + 18 <= len(data) and data[at:at + 2] == b"AS":
        length, _crc, seq = struct.unpack_from("<IIQ", data, at + 2)
        at += 18 + length
        if seq > acked:
            count, top = count + 1, max(top, seq)
print(count, top)
PY
}
# spooled_at_least N: N records or more wait in the spool.
spooled_at_least() { [ "$(spooled | cut -d' ' -f1)" -ge "$1" ]; }
start_agent "$work/agent-old.log"
# An inventory and health samples of several seconds.
if wait_for 60 spooled_at_least 5; then
    ok "the agent spools its records while the collector is stopped"
else
    fail "the agent spools its records while the collector is stopped (spooled: $(spooled))"
    tail -20 "$work/agent-old.log"
fi
stop_all
spooled_before_upgrade="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
read -r _ last_spooled <<<"$(spooled)"
# state DIR: every file under DIR with its mode, owner and checksum.
state() { (cd "$1" && find . -type f -printf '%p %m %u:%g\n' | sort | while read -r f rest; do
    echo "$f $rest $(sha256sum <"$f" | cut -d' ' -f1)"; done); }
state /var/lib/atalaya-agent >"$work/agent-state.before"
state /var/lib/atalaya-collector >"$work/collector-state.before"

if DEBIAN_FRONTEND=noninteractive dpkg -i "$collector_deb" "$agent_deb" </dev/null >"$work/upgrade.log" 2>&1; then
    ok "dpkg -i upgrades both packages (no systemd as PID 1 here)"
else
    fail "dpkg -i upgrades both packages (no systemd as PID 1 here)"; cat "$work/upgrade.log"
fi
check "version $version installed" test "$(installed_versions)" = "$version $version "
state /var/lib/atalaya-agent >"$work/agent-state.after"
state /var/lib/atalaya-collector >"$work/collector-state.after"
check "the agent's identity and spool kept (same bytes, modes, owners)" \
    cmp "$work/agent-state.before" "$work/agent-state.after"
check "the agent's identity is there to keep" grep -q '^./agent-key.pem 600 root:root ' "$work/agent-state.after"
check "the agent's spool is there to keep" grep -q '^./spool/.*\.seg ' "$work/agent-state.after"
check "the collector's store, CA and keys kept (same bytes, modes, owners)" \
    cmp "$work/collector-state.before" "$work/collector-state.after"
check "the collector's CA is there to keep" grep -q '^./ca.pem ' "$work/collector-state.after"
check "the edited agent.toml kept" test "$(sha256sum </etc/atalaya/agent.toml)" = "$agent_toml"
check "the edited collector.toml kept" test "$(sha256sum </etc/atalaya/collector.toml)" = "$collector_toml"
check "no .dpkg-dist, .dpkg-new or .dpkg-old beside them" sh -c "! ls /etc/atalaya | grep -q '\.dpkg-'"
mode_is /etc/atalaya/agent.toml 600 root:root
mode_is /etc/atalaya/collector.toml 640 root:atalaya
mode_is /etc/atalaya/rules.toml 640 root:atalaya

echo "== the upgraded collector and agent: the spooled records arrive"
start_collector "$work/collector-new.log" || true
start_agent "$work/agent-new.log"
if wait_for 60 connected; then
    ok "the upgraded agent $agent_id is connected in agent list"
else
    fail "the upgraded agent $agent_id is connected in agent list"
    tail -20 "$work/agent-new.log" "$work/collector-new.log"
fi
# acked_at_least SEQ: the collector acknowledged every record up to SEQ.
acked_at_least() { [ "$(cat /var/lib/atalaya-agent/spool/acked 2>/dev/null || echo 0)" -ge "$1" ]; }
if wait_for 60 acked_at_least "$last_spooled"; then
    ok "the collector acknowledged the $last_spooled records spooled before the upgrade"
else
    fail "the collector acknowledged the $last_spooled records spooled before the upgrade (acked: $(cat /var/lib/atalaya-agent/spool/acked 2>/dev/null))"
fi
# A health sample taken before the upgrade is in the collector's store.
samples_before_upgrade() {
    ATALAYA_SERVER="http://$(cat /var/lib/atalaya-collector/api-address)" \
        ATALAYA_TOKEN="$(cat /var/lib/atalaya-collector/admin-token)" \
        /usr/bin/atalaya metrics "$(hostname)" load.one --from 1h --to "$spooled_before_upgrade" --csv
}
has_sample_before_upgrade() { samples_before_upgrade | grep -q '[0-9]'; }
if wait_for 30 has_sample_before_upgrade; then
    ok "health samples spooled before the upgrade are in the collector"
else
    fail "health samples spooled before the upgrade are in the collector"; samples_before_upgrade || true
fi
stop_all

echo "== the upgrade branch under systemd (a stand-in systemctl in a mount namespace)"
# Installing the same version again runs prerm upgrade and postinst
# configure VERSION: the upgrade branch. /run/systemd/system marks a
# running systemd; systemctl only records what it is asked.
check_log "dpkg -i upgrades under systemd" "$work/upgrade-systemd.log" \
    under_systemd DEBIAN_FRONTEND=noninteractive dpkg -i "$collector_deb" "$agent_deb"
check "on upgrade the collector is restarted on the new binary" called 'restart atalaya-collector.service'
check "on upgrade the enrolled agent is restarted on the new binary" called 'restart atalaya-agent.service'
check "on upgrade the units are reloaded" called 'daemon-reload'
check "on upgrade the agent's path unit is started (it waits for an enrollment)" called 'start atalaya-agent.path'
check "on upgrade nothing is stopped or disabled" none_called '^(stop|disable|--quiet disable) '
check "the agent's identity kept again" test "$(cat /var/lib/atalaya-agent/agent-id 2>/dev/null)" = "$agent_id"

dpkg --purge atalaya-agent atalaya-collector >/dev/null
check "upgraded packages purged" sh -c "! dpkg-query -W -f '\${Status}\n' atalaya-agent atalaya-collector 2>/dev/null | grep -q installed"
check "nothing of them left" test ! -e /etc/atalaya -a ! -e /var/lib/atalaya-agent -a ! -e /var/lib/atalaya-collector

if ((${#rpm_flag[@]})) && rpm --help 2>/dev/null | grep -q -- --force-debian; then
    echo "== the RPMs installed, upgraded and erased with rpm, under systemd"
    # Debian's rpm installs into / only when told to (--force-debian), into
    # its own database here; the scriptlets run with the stand-in systemctl
    # first on their PATH (rpm sets their PATH itself).
    collector_rpm="$(ls "$work/out/atalaya-collector-$version"-*.rpm 2>/dev/null | head -1)"
    rpm_cmd=(rpm --force-debian --nodeps --dbpath "$work/rpmdb"
        --define "_install_script_path $stand_in:/usr/sbin:/usr/bin:/sbin:/bin")
    check_log "rpm -i installs both RPMs" "$work/rpm.log" under_systemd "${rpm_cmd[@]}" -i "$collector_rpm" "$agent_rpm"
        for f in /usr/bin/atalaya-agent /usr/bin/atalaya-collector /usr/bin/atalaya; do
        mode_is "$f" 755 root:root
    done
    mode_is /etc/atalaya/agent.toml 600 root:root
    mode_is /etc/atalaya/collector.toml 640 root:atalaya
    mode_is /var/lib/atalaya-collector 700 atalaya:atalaya
    mode_is /var/lib/atalaya-agent 700 root:root
    check "rpm: the collector is enabled" called '--quiet enable atalaya-collector.service'
    check "rpm: the collector is started" called 'start atalaya-collector.service'
    check "rpm: the agent and its path unit are enabled" called '--quiet enable atalaya-agent.service atalaya-agent.path'
    check "rpm: the agent's path unit is started (it waits for an enrollment)" called 'start atalaya-agent.path'
    check "rpm: the agent is not started before it is enrolled" not_called 'start atalaya-agent.service'
    echo "$agent_id" >/var/lib/atalaya-agent/agent-id
    check_log "rpm -U upgrades both RPMs" "$work/rpm.log" \
        under_systemd "${rpm_cmd[@]}" -U --replacepkgs "$collector_rpm" "$agent_rpm"
        check "rpm: on upgrade the collector is restarted if running" called 'try-restart atalaya-collector.service'
    check "rpm: on upgrade the agent is restarted if running" called 'try-restart atalaya-agent.service'
    check "rpm: on upgrade nothing is stopped or disabled" none_called '^(stop|--quiet disable) '
    check "rpm: the agent's identity kept on upgrade" test "$(cat /var/lib/atalaya-agent/agent-id 2>/dev/null)" = "$agent_id"
    check_log "rpm -e erases both RPMs" "$work/rpm.log" under_systemd "${rpm_cmd[@]}" -e atalaya-agent atalaya-collector
        check "rpm: on erase the agent and its path unit are stopped" called 'stop atalaya-agent.path atalaya-agent.service'
    check "rpm: on erase the agent and its path unit are disabled" called '--quiet disable atalaya-agent.path atalaya-agent.service'
    check "rpm: on erase the collector is stopped" called 'stop atalaya-collector.service'
    check "rpm: on erase the collector is disabled" called '--quiet disable atalaya-collector.service'
    check "rpm: binaries and configuration gone after erase" test ! -e /usr/bin/atalaya-agent -a ! -e /usr/bin/atalaya-collector -a ! -e /etc/atalaya
    check "rpm: state kept after erase (rpm has no purge)" test -e /var/lib/atalaya-agent/agent-id -a -d /var/lib/atalaya-collector
    rm -rf /var/lib/atalaya-agent /var/lib/atalaya-collector /var/spool/atalaya-agent
fi

echo "== under systemd as PID 1: this machine's own system booted in a container"
# The units as systemd runs them, every directive applied: this machine's
# root under an overlay (nothing written there reaches it), booted with
# systemd-nspawn on a network of its own (only loopback), the packages
# installed in it, the collector and the enrolled agent run by systemd.
sysroot="$work/sysroot"
mkdir -p "$sysroot/upper" "$sysroot/work" "$sysroot/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$sysroot/upper,workdir=$sysroot/work" "$sysroot/root"
mkdir -p "$sysroot/root/opt/atalaya-test"
cp "$collector_deb" "$agent_deb" "$sysroot/root/opt/atalaya-test/"
# A service the help desk may restart there.
cat >"$sysroot/root/etc/systemd/system/atalaya-demo.service" <<'UNIT'
[Unit]
Description=A service the help desk may restart (package test)
[Service]
ExecStart=/bin/sleep infinity
UNIT
systemd-nspawn --quiet --directory="$sysroot/root" --machine=atalaya-test --register=no \
    --keep-unit --private-network --boot </dev/null >"$work/nspawn.log" 2>&1 &
nspawn=$!
pids+=("$nspawn")
leader=""
# inside COMMAND...: runs the command in the container.
inside() { nsenter --target "$leader" --all "$@"; }
booted() {
    leader="$(pgrep -P "$nspawn" | head -1)"
    [ -n "$leader" ] && inside systemctl is-system-running 2>/dev/null | grep -Eqx 'running|degraded'
}
main_pid() { inside systemctl show --property=MainPID --value "$1"; }
not() { ! "$@"; }
inside_as_atalaya() { inside setpriv --reuid=atalaya --regid=atalaya --init-groups "$@"; }
inside_connected() { inside_as_atalaya /usr/bin/atalaya-collector agent list | grep -q '"status": "connected"'; }
if wait_for 90 booted; then
    ok "systemd boots this machine's system in a container"
    in_pkgs="/opt/atalaya-test"
    check_log "under systemd: dpkg -i installs both packages" "$work/in-dpkg.log" inside env DEBIAN_FRONTEND=noninteractive \
        dpkg -i "$in_pkgs/$(basename "$collector_deb")" "$in_pkgs/$(basename "$agent_deb")"
    if wait_for 30 inside systemctl is-active --quiet atalaya-collector.service; then
        ok "under systemd: the collector runs under its unit"
    else
        fail "under systemd: the collector runs under its unit"; inside journalctl -u atalaya-collector --no-pager | tail -20
    fi
    check "under systemd: the agent's path unit waits for an enrollment" inside systemctl is-active --quiet atalaya-agent.path
    check "under systemd: the agent is not started before it is enrolled" not inside systemctl is-active --quiet atalaya-agent.service
    # Remote assistance as a machine would allow it: atalaya-demo restarts.
    sed -i -e 's/^restart_services = \[\]$/restart_services = ["atalaya-demo"]/' \
        -e 's/^         "support-bundle"\]$/         "support-bundle", "service-restart"]/' \
        "$sysroot/root/etc/atalaya/agent.toml"
    check "under systemd: agent.toml allows restarting atalaya-demo" \
        inside /usr/bin/atalaya-agent check-config /etc/atalaya/agent.toml
    in_token="$(inside_as_atalaya /usr/bin/atalaya-collector token create --ttl 10m --uses 1 || true)"
    check "under systemd: atalaya-agent enroll" inside /usr/bin/atalaya-agent enroll --config /etc/atalaya/agent.toml --token "$in_token"
    if wait_for 30 inside systemctl is-active --quiet atalaya-agent.service; then
        ok "under systemd: the enrollment starts the agent (its path unit)"
    else
        fail "under systemd: the enrollment starts the agent (its path unit)"; inside journalctl -u atalaya-agent --no-pager | tail -20
    fi
    if wait_for 60 inside_connected; then
        ok "under systemd: the agent is connected to the collector"
    else
        fail "under systemd: the agent is connected to the collector"; inside journalctl -u atalaya-agent -u atalaya-collector --no-pager | tail -20
    fi

    # The inventory under every directive of the agent's unit (a transient
    # service with its [Service] settings) against the unconfined one.
    sandbox=()
    while IFS= read -r line; do sandbox+=(-p "$line"); done < <(
        sed -n '/^\[Service\]/,/^\[/p' "$sysroot/root/usr/lib/systemd/system/atalaya-agent.service" |
            grep -E '^[A-Za-z]+=' | grep -Ev '^(Type|ExecStart|Restart|RestartSec)=')
    inside systemd-run --quiet --wait --pipe --collect "${sandbox[@]}" \
        /usr/bin/atalaya-agent inventory --json >"$work/inv-sandboxed.json" 2>"$work/inv-sandboxed.log" || true
    inside /usr/bin/atalaya-agent inventory --json >"$work/inv-unconfined.json" 2>/dev/null || true
    check "under systemd: the inventory under the agent unit's $((${#sandbox[@]} / 2)) settings is the unconfined one" \
        same_inventory "$work/inv-unconfined.json" "$work/inv-sandboxed.json"

    # Remote assistance under the unit: a service restart the machine allows.
    inside systemctl start atalaya-demo.service
    demo_pid="$(main_pid atalaya-demo.service)"
    in_admin="$(cat "$sysroot/root/var/lib/atalaya-collector/admin-token")"
    in_asset="$(inside_as_atalaya /usr/bin/atalaya-collector agent list |
        python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["asset_id"])' || echo none)"
    in_diag() { inside env "ATALAYA_TOKEN=$in_admin" /usr/bin/atalaya diag "$in_asset" "$@" --wait 60; }
    out="$(in_diag service-restart atalaya-demo 2>&1 || true)"
    if grep -q "service-restart atalaya-demo — completed" <<<"$out"; then
        ok "under systemd: the agent restarts a service the help desk asks for"
    else
        fail "under systemd: the agent restarts a service the help desk asks for"; echo "$out"
    fi
    demo_after="$(main_pid atalaya-demo.service)"
    check "under systemd: the service has a new main process" test "$demo_after" != "$demo_pid" -a "$demo_after" != 0
    out="$(in_diag listening-sockets 2>&1 || true)"
    if grep -q ":4433 .*atalaya-collect" <<<"$out"; then
        ok "under systemd: listening-sockets names the collector's process (another account's)"
    else
        fail "under systemd: listening-sockets names the collector's process (another account's)"; echo "$out"
    fi

    # An upgrade and a purge under systemd.
    collector_pid="$(main_pid atalaya-collector.service)"
    in_agent_id="$(cat "$sysroot/root/var/lib/atalaya-agent/agent-id" 2>/dev/null || echo none)"
    check "under systemd: dpkg -i upgrades both packages" inside env DEBIAN_FRONTEND=noninteractive \
        dpkg -i "$in_pkgs/$(basename "$collector_deb")" "$in_pkgs/$(basename "$agent_deb")"
    collector_after="$(main_pid atalaya-collector.service)"
    check "under systemd: the upgrade restarts the collector" test "$collector_after" != "$collector_pid" -a "$collector_after" != 0
    check "under systemd: the upgraded agent keeps its identity" test "$(cat "$sysroot/root/var/lib/atalaya-agent/agent-id" 2>/dev/null)" = "$in_agent_id"
    if wait_for 60 inside_connected; then
        ok "under systemd: the upgraded agent is connected again"
    else
        fail "under systemd: the upgraded agent is connected again"
    fi
    check "under systemd: dpkg --purge removes both" inside dpkg --purge atalaya-agent atalaya-collector
    check "under systemd: the purged services are stopped" not inside systemctl is-active --quiet atalaya-collector.service atalaya-agent.service
    check "under systemd: their state is gone" test ! -e "$sysroot/root/var/lib/atalaya-agent" -a ! -e "$sysroot/root/var/lib/atalaya-collector"
else
    fail "systemd boots this machine's system in a container"; tail -30 "$work/nspawn.log"
fi

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
