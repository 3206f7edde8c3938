#!/usr/bin/env bash
# Builds the Debian packages, installs them on this machine and checks them
# as an administrator would meet them: files and their modes, the
# collector's account, the units (systemd-analyze verify), then the
# installed collector run as its unit runs it, an enrollment token made
# with the installed tools, the installed agent enrolled and seen by the
# collector, and finally removal (state kept) and purge (state gone).
#
# Needs root (it installs packages), dpkg-dev, systemd (systemd-analyze,
# systemd-sysusers, systemd-tmpfiles) and util-linux (setpriv); with rpm
# installed it also builds the RPMs and lists them. scripts/test.sh installs
# these and runs this script when CI=true or ATALAYA_PACKAGE_TESTS=1.
# Safe to run again: it purges what an earlier run left first.
#
# The collector and agent listen on loopback ports ATALAYA_PKG_QUIC_PORT
# (default 24433) and ATALAYA_PKG_API_PORT (default 28440).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" -eq 0 ] || { echo "packaging/test.sh: must run as root (it installs packages)" >&2; exit 2; }

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

echo "== an earlier run's packages, purged"
dpkg --purge atalaya-agent atalaya-collector >/dev/null 2>&1 || true

echo "== build"
rpm_flag=()
command -v rpmbuild >/dev/null 2>&1 && rpm_flag=(--rpm)
"$here/build.sh" --out "$work/out" "${rpm_flag[@]}"
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
for unit in atalaya-collector.service atalaya-agent.service; do
    if out="$(systemd-analyze verify "/usr/lib/systemd/system/$unit" 2>&1)" && [ -z "$out" ]; then
        ok "systemd-analyze verify $unit"
    else
        fail "systemd-analyze verify $unit: $out"
    fi
done
check "the agent unit waits for an identity" grep -qx 'ConditionPathExists=/var/lib/atalaya-agent/agent-id' /usr/lib/systemd/system/atalaya-agent.service
check "the collector unit runs as atalaya" grep -qx 'User=atalaya' /usr/lib/systemd/system/atalaya-collector.service

echo "== the installed collector, run as its unit runs it"
# As an administrator would: the collector on loopback ports of this test.
sed -i -e "s|^listen = \"0.0.0.0:4433\"|listen = \"127.0.0.1:$quic_port\"|" \
    -e "s|^advertise = \"\"|advertise = \"127.0.0.1:$quic_port\"|" \
    -e "s|^listen = \"127.0.0.1:8440\"|listen = \"127.0.0.1:$api_port\"|" /etc/atalaya/collector.toml
check "edited collector.toml passes check-config" as_atalaya /usr/bin/atalaya-collector check-config /etc/atalaya/collector.toml
read -r -a collector_cmd <<<"$(exec_start atalaya-collector.service)"
(umask 0077 && cd / && exec setpriv --reuid=atalaya --regid=atalaya --init-groups "${collector_cmd[@]}") \
    >"$work/collector.log" 2>&1 &
pids+=($!)
if wait_for 60 as_atalaya /usr/bin/atalaya-collector token list; then
    ok "collector answers its administrator"
else
    fail "collector answers its administrator"; cat "$work/collector.log"
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
(cd / && exec "${agent_cmd[@]}") >"$work/agent.log" 2>&1 &
pids+=($!)
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
check "agent configuration kept after removal" test -e /etc/atalaya/agent.toml
check "agent identity kept after removal" test -e /var/lib/atalaya-agent/agent-id
dpkg --purge atalaya-agent >/dev/null
check "agent configuration gone after purge" test ! -e /etc/atalaya/agent.toml
check "agent state gone after purge" test ! -e /var/lib/atalaya-agent -a ! -e /var/spool/atalaya-agent

bundle="$work/bundle"
mkdir -p "$bundle"
cp "${CARGO_TARGET_DIR:-$repo/target}/release/atalaya-agent" "$here/install.sh" "$here/systemd/atalaya-agent.service" \
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
(cd / && exec "${agent_cmd[@]}") >"$work/agent2.log" 2>&1 &
pids+=($!)
if wait_for 60 connected; then
    ok "the agent install.sh installed is connected"
else
    fail "the agent install.sh installed is connected"; tail -20 "$work/agent2.log"
fi
check "install.sh again keeps the enrollment" sh -c "'$bundle/install.sh' '$token' | grep -q 'already enrolled as $agent_id'"
stop_all
rm -rf /usr/bin/atalaya-agent /etc/atalaya/agent.toml /var/lib/atalaya-agent /var/spool/atalaya-agent

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

echo "packaging: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
