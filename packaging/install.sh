#!/bin/sh
# Installs the Atalaya agent on a machine without a package manager and
# enrolls it:
#
#   sudo ./install.sh TOKEN [COLLECTOR]
#
# TOKEN comes from `atalaya-collector token create`; it carries the
# collector's address and the fingerprint of its CA, so enrollment needs
# nothing else. COLLECTOR (host:port) is written to agent.toml as
# [collector] address, for collectors the agent reaches under another
# address than the one the token carries; enrollment itself goes to the
# token's address.
#
# Run it from the folder holding the files it installs:
#   atalaya-agent (the binary, built for this machine's architecture),
#   atalaya-agent.service, agent.toml
# (a checkout after `cargo build --release` works too: they are taken from
# target/release/, packaging/systemd/ and config/ when not beside it).
# ATALAYA_AGENT_BINARY names another binary. Running it again upgrades the
# binary and keeps the configuration and an existing enrollment.
set -eu

die() { echo "install.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: install.sh TOKEN [COLLECTOR]"
token="$1"
collector="${2:-}"
case "$token" in atalaya1.*) ;; *) die "TOKEN does not look like an Atalaya enrollment token (atalaya1.…)" ;; esac
if [ -n "$collector" ]; then
    case "$collector" in
    *:[0-9]*) ;;
    *) die "COLLECTOR must be host:port, e.g. collector.example.org:4433 (got: $collector)" ;;
    esac
fi
[ "$(id -u)" -eq 0 ] || die "run as root: it installs into /usr/bin and /etc"

here="$(cd "$(dirname "$0")" && pwd)"
# first_of FILE...: the first one that exists.
first_of() {
    for f in "$@"; do
        if [ -f "$f" ]; then echo "$f"; return 0; fi
    done
    return 1
}
binary="$(first_of "${ATALAYA_AGENT_BINARY:-$here/atalaya-agent}" "$here/atalaya-agent" \
    "$here/../target/release/atalaya-agent")" || die "no atalaya-agent binary beside this script"
unit="$(first_of "$here/atalaya-agent.service" "$here/systemd/atalaya-agent.service")" ||
    die "no atalaya-agent.service beside this script"
config="$(first_of "$here/agent.toml" "$here/../config/agent.toml")" || die "no agent.toml beside this script"

# The binary must be for this machine: compare its ELF machine with ours.
machine="$(uname -m)"
case "$machine" in
x86_64 | amd64) want="x86-64" ;;
aarch64 | arm64) want="aarch64" ;;
*) die "unsupported architecture $machine (the agent is built for x86_64 and aarch64)" ;;
esac
elf_machine() {
    # e_machine, 2 bytes little-endian at offset 18 of the ELF header.
    od -An -tu2 -j18 -N2 "$1" | tr -d ' '
}
case "$(elf_machine "$binary")" in
62) have="x86-64" ;;
183) have="aarch64" ;;
*) have="unknown" ;;
esac
[ "$have" = "$want" ] || die "$binary is built for $have, this machine is $machine"

echo "installing $binary as /usr/bin/atalaya-agent"
install -m 0755 "$binary" /usr/bin/atalaya-agent.new
mv -f /usr/bin/atalaya-agent.new /usr/bin/atalaya-agent
install -d -m 0755 /etc/atalaya
if [ ! -e /etc/atalaya/agent.toml ]; then
    install -m 0600 "$config" /etc/atalaya/agent.toml
fi
if [ -n "$collector" ]; then
    sed -i "s|^address = \".*\"|address = \"$collector\"|" /etc/atalaya/agent.toml
fi
/usr/bin/atalaya-agent check-config /etc/atalaya/agent.toml >/dev/null ||
    die "/etc/atalaya/agent.toml has errors (see above)"
install -d -m 0700 /var/lib/atalaya-agent
install -d -m 0755 /var/spool/atalaya-agent

if [ -e /var/lib/atalaya-agent/agent-id ]; then
    echo "already enrolled as $(cat /var/lib/atalaya-agent/agent-id); keeping that identity"
else
    /usr/bin/atalaya-agent enroll --config /etc/atalaya/agent.toml --token "$token"
fi

if [ -d /run/systemd/system ]; then
    install -d -m 0755 /etc/systemd/system
    install -m 0644 "$unit" /etc/systemd/system/atalaya-agent.service
    systemctl daemon-reload
    systemctl enable atalaya-agent.service
    systemctl restart atalaya-agent.service
    echo "atalaya-agent is running: systemctl status atalaya-agent"
else
    echo "no systemd here: start the agent with"
    echo "  /usr/bin/atalaya-agent run --config /etc/atalaya/agent.toml"
fi
