#!/usr/bin/env bash
# Packs the trees packaging/build.sh staged into RPMs with rpmbuild:
#   build-rpm.sh STAGE OUT VERSION [PAYLOAD]
# Each tree STAGE/<package> becomes OUT/<package>-VERSION-1.<arch>.rpm; its
# files under /etc are %config(noreplace), like the Debian conffiles.
# PAYLOAD is rpm's payload compression (e.g. w1.gzdio for test builds);
# rpmbuild's default when not given.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ $# -eq 3 ] || [ $# -eq 4 ] || { echo "build-rpm.sh: usage: build-rpm.sh STAGE OUT VERSION [PAYLOAD]" >&2; exit 2; }
stage="$1" out="$2" version="$3" payload="${4:-}"
payload_define=()
[ -z "$payload" ] || payload_define=(--define "_binary_payload $payload")
command -v rpmbuild >/dev/null 2>&1 || { echo "build-rpm.sh: rpmbuild not found (Debian package rpm)" >&2; exit 1; }
arch="$(uname -m)"

# files ROOT: the %files list of a staged tree, with modes and owners.
files() {
    local root="$1" path rel mode
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print -o -type l -print | sort) | while read -r path; do
        rel="${path#.}"
        mode="$(stat -c '%a' "$root$rel")"
        case "$rel" in
        /etc/*) echo "%config(noreplace) %attr($mode,root,root) $rel" ;;
        *) echo "%attr($mode,root,root) $rel" ;;
        esac
    done
    echo "%dir /etc/atalaya"
}

collector_pre='getent group atalaya >/dev/null || groupadd -r atalaya
getent passwd atalaya >/dev/null || useradd -r -g atalaya -d /var/lib/atalaya-collector -s /sbin/nologin -c "Atalaya collector" atalaya'
collector_post='systemd-tmpfiles --create /usr/lib/tmpfiles.d/atalaya-collector.conf 2>/dev/null || install -d -m 0700 -o atalaya -g atalaya /var/lib/atalaya-collector
chown root:atalaya /etc/atalaya/collector.toml /etc/atalaya/rules.toml
chmod 0640 /etc/atalaya/collector.toml /etc/atalaya/rules.toml
if [ "$1" -eq 1 ]; then
    systemctl --quiet enable atalaya-collector.service 2>/dev/null || true
    if [ -d /run/systemd/system ]; then systemctl daemon-reload; systemctl start atalaya-collector.service; fi
fi'
agent_post='systemd-tmpfiles --create /usr/lib/tmpfiles.d/atalaya-agent.conf 2>/dev/null || { install -d -m 0700 /var/lib/atalaya-agent; install -d -m 0755 /var/spool/atalaya-agent; }
if [ "$1" -eq 1 ]; then
    systemctl --quiet enable atalaya-agent.service atalaya-agent.path 2>/dev/null || true
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl start atalaya-agent.path || true
        [ ! -e /var/lib/atalaya-agent/agent-id ] || systemctl start atalaya-agent.service
    fi
fi'

top="$(mktemp -d)"
trap 'rm -rf "$top"' EXIT
for package in atalaya-agent atalaya-collector; do
    root="$stage/$package"
    [ -d "$root" ] || { echo "build-rpm.sh: no staged tree $root (run build.sh)" >&2; exit 1; }
    summary="$(sed -n 's/^Description: //p' "$root/DEBIAN/control")"
    if [ "$package" = atalaya-collector ]; then pre="$collector_pre" post="$collector_post"; else pre=":" post="$agent_post"; fi
    NAME="$package" VERSION="$version" ARCH="$arch" SUMMARY="$summary" ROOT="$root" PRE="$pre" POST="$post" \
        FILES="$(files "$root")" python3 - "$here/atalaya.spec.in" >"$top/$package.spec" <<'PY'
import os, sys
text = open(sys.argv[1]).read()
for key in ("NAME", "VERSION", "ARCH", "SUMMARY", "ROOT", "PRE", "POST", "FILES"):
    text = text.replace("@%s@" % key, os.environ[key])
sys.stdout.write(text)
PY
    rpmbuild --quiet --define "_topdir $top" --define "_rpmdir $top/rpms" "${payload_define[@]}" -bb "$top/$package.spec" >/dev/null
    cp "$top/rpms/$arch/$package-$version-1.$arch.rpm" "$out/"
    echo "$out/$package-$version-1.$arch.rpm"
done
