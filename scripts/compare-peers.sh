#!/usr/bin/env bash
# Measures the Atalaya agent against the agents it replaces, on this machine
# and in the same window, and prints one report of figures and ratios:
#
# - steady state: Prometheus node_exporter (scraped every 10 s), Zabbix
#   agent 2 (asked for a like set of items every 10 s, passive checks) and
#   the Atalaya agent (sampling every 10 s) run side by side; each one's CPU
#   time per 10 s cycle and its resident memory at the end;
# - full inventory: wall time and peak RSS of `atalaya-agent inventory
#   --json` and of FusionInventory's `fusioninventory-inventory`.
#
# Not part of CI: it installs Debian packages, takes a few minutes and its
# figures depend on the machine. Run it on an otherwise quiet host; the load
# average printed at the start and end says how quiet it was.
#
#   scripts/compare-peers.sh                      # builds the agent, 120 s window
#   scripts/compare-peers.sh --seconds 300 --agent /usr/bin/atalaya-agent
#
# Needs Debian (or a derivative) and root, or sudo for apt-get. It does not
# need systemd: every daemon is started by hand with a throwaway
# configuration on a free loopback port and stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

seconds=120
runs=3
agent=""

usage() {
    cat <<'EOF'
usage: scripts/compare-peers.sh [--seconds S] [--runs N] [--agent PATH]
  --seconds S   steady-state window, a multiple of 10 (default 120)
  --runs N      timed inventory runs per tool; the median is shown (default 3)
  --agent PATH  an atalaya-agent binary to measure (default: build the release one)
EOF
}

die() {
    echo "compare-peers: $*" >&2
    exit 1
}

while (($#)); do
    case "$1" in
    --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
    --runs) runs="${2:?--runs needs a value}"; shift 2 ;;
    --agent) agent="${2:?--agent needs a path}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]] || ((seconds % 10)); then
    die "--seconds must be a positive multiple of 10, not $seconds"
fi
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive whole number, not $runs"

sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
if [ -n "$sudo_cmd" ]; then
    # Both inventories read less without root (DMI serials, SMBIOS), which
    # would flatter neither; the figures are meant to be taken as root.
    echo "compare-peers: not root; inventories will be partial" >&2
fi

# --- packages -------------------------------------------------------------

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Installs the packages not yet installed. Debian starts a packaged daemon
# from its postinst (through invoke-rc.d, with or without systemd); a
# policy-rc.d that denies every start keeps system-wide instances from
# running beside the measured ones, and is removed again if this script
# put it there.
apt_install() {
    local missing=() pkg policy=/usr/sbin/policy-rc.d ours=""
    for pkg in "$@"; do
        installed "$pkg" || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    echo "installing: ${missing[*]}" >&2
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy" >/dev/null
        $sudo_cmd chmod 755 "$policy"
        ours=1
    fi
    if [ -z "${apt_updated:-}" ]; then
        $sudo_cmd apt-get update -qq
        apt_updated=1
    fi
    local status=0
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_options[@]}" \
        "${missing[@]}" >&2 || status=$?
    if [ -n "$ours" ]; then
        $sudo_cmd rm -f "$policy"
    fi
    return "$status"
}

# node_exporter's and Zabbix's recommends are timers and plugins that play
# no part here; FusionInventory's (dmidecode, hdparm, fdisk, net-tools) are
# what its inventory runs, so it gets them as a default install would.
apt_options=(--no-install-recommends)
apt_install prometheus-node-exporter zabbix-agent2 time curl iproute2
apt_options=()
apt_install fusioninventory-agent

# zabbix_get is the Zabbix server's own passive-check client; Debian 12
# does not ship it, so when it is missing the same protocol is spoken below.
if ! command -v zabbix_get >/dev/null 2>&1 &&
    apt-cache show zabbix-get >/dev/null 2>&1; then
    apt_options=(--no-install-recommends)
    apt_install zabbix-get
fi

node_exporter=/usr/bin/prometheus-node-exporter
zabbix_agent2=/usr/sbin/zabbix_agent2
fusion=/usr/bin/fusioninventory-inventory
for bin in "$node_exporter" "$zabbix_agent2" "$fusion" /usr/bin/time; do
    [ -x "$bin" ] || die "$bin is missing after installing its package"
done

# --- the Atalaya agent ----------------------------------------------------

if [ -z "$agent" ]; then
    # nice: the build must not crowd a shared machine, and it is over
    # before anything is measured.
    nice -n 10 cargo build --release --locked -p atalaya-agent >&2
    agent="${CARGO_TARGET_DIR:-$repo/target}/release/atalaya-agent"
fi
[ -x "$agent" ] || die "$agent is not an executable"

# --- helpers --------------------------------------------------------------

work=$(mktemp -d -t compare-peers.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The first port from $1 on that nothing listens on (TCP, any address).
free_port() {
    local port
    for ((port = $1; port < $1 + 500; port++)); do
        if [ -z "$(ss -Hltn "sport = :$port")" ]; then
            echo "$port"
            return
        fi
    done
    die "no free TCP port from $1"
}

now() { echo "$EPOCHREALTIME"; }

# Sleeps until the wall-clock instant $1 (seconds since the epoch, with
# fractions); a loop that slept a fixed 10 s would drift by each cycle's work.
sleep_until() {
    local left
    left=$(awk -v t="$1" -v n="$EPOCHREALTIME" 'BEGIN { d = t - n; print (d > 0 ? d : 0) }')
    sleep "$left"
}

# CPU time of a process in clock ticks: utime + stime from /proc/PID/stat,
# which include threads that have exited. The fields are counted after the
# command name, which may itself hold spaces.
cpu_ticks() {
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# CPU time of a process in nanoseconds, summed over its live threads from
# the scheduler's own accounting: exact where ticks are 10 ms samples, but
# blind to a thread that exits within the window (the Go daemons keep theirs).
cpu_ns() {
    cat "/proc/$1/task/"*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'
}

status_kib() {
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

alive() {
    kill -0 "$1" 2>/dev/null || die "$2 stopped; its log: $(tail -n 5 "$3" 2>/dev/null)"
}

median() {
    printf '%s\n' "$@" | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# $1 / $2 to two decimals, or "n/a" when $2 is zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# One passive Zabbix check: prints the agent's answer to item key $2 on
# port $1. Without zabbix_get, the protocol by hand: "ZBXD", flags 0x01, the
# key's length as 8 little-endian bytes, the key; the answer comes back
# with the same 13-byte header and the agent closes the connection.
if command -v zabbix_get >/dev/null 2>&1; then
    zabbix_client="zabbix_get"
    zbx() { zabbix_get -s 127.0.0.1 -p "$1" -k "$2"; }
else
    zabbix_client="built-in client (zabbix_get's protocol over bash /dev/tcp)"
    zbx() {
        local fd header len=${#2}
        printf -v header 'ZBXD\\x01\\x%02x\\x%02x\\x00\\x00\\x00\\x00\\x00\\x00' \
            $((len & 255)) $((len >> 8))
        exec {fd}<>"/dev/tcp/127.0.0.1/$1"
        # shellcheck disable=SC2059 # the header is a format of escapes
        printf "$header%s" "$2" >&"$fd"
        # An unsupported item's answer holds a NUL between its two parts.
        tail -c +14 <&"$fd" | tr -d '\0'
        exec {fd}<&-
    }
fi

# --- steady state ---------------------------------------------------------

load_start=$(loadavg)
started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)

ne_port=$(free_port 19100)
ne_log="$work/node_exporter.log"
# Default collectors, as the package runs it; only the address differs.
"$node_exporter" --web.listen-address="127.0.0.1:$ne_port" >"$ne_log" 2>&1 &
ne_pid=$!
pids+=("$ne_pid")

zbx_port=$(free_port 20050)
zbx_log="$work/zabbix_agent2.log"
# Passive checks only, from loopback: no ServerActive (active checks off),
# no plugin configuration, everything it writes under the work directory.
cat >"$work/zabbix_agent2.conf" <<EOF
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=$zbx_port
Hostname=compare-peers
LogType=file
LogFile=$zbx_log
LogFileSize=0
PidFile=$work/zabbix_agent2.pid
ControlSocket=$work/zabbix_agent2.sock
Timeout=10
EOF
"$zabbix_agent2" -c "$work/zabbix_agent2.conf" >>"$zbx_log" 2>&1 &
zbx_pid=$!
pids+=("$zbx_pid")

# `atalaya-agent run` streams to a collector and needs an enrolled
# identity; `metrics` drives the same Sampler on the same 10 s period and
# prints each sample as JSON, where `run` encodes it into the spool. It
# leaves out the spool's fsync and the QUIC uplink, so it is the sampling
# cycle's cost, not the whole daemon's. A few spare samples keep it alive
# past the window; it is stopped at the end.
at_out="$work/atalaya.jsonl"
"$agent" metrics --json --count $((seconds / 10 + 3)) --interval-seconds 10 \
    >"$at_out" 2>"$work/atalaya.log" &
at_pid=$!
pids+=("$at_pid")

ready=""
for _ in $(seq 100); do
    if curl -fs -o /dev/null "http://127.0.0.1:$ne_port/metrics" &&
        [ "$(zbx "$zbx_port" agent.ping 2>/dev/null)" = "1" ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ -n "$ready" ] || die "node_exporter or zabbix_agent2 did not answer within 10 s; logs in $work"

# What an Atalaya health sample holds, as Zabbix items: CPU shares in total
# and per CPU, load, memory and swap, every filesystem, I/O per whole disk,
# traffic per interface (no loopback), process counts and the per-process
# table (proc.get's summary is the nearest thing to a top-N list; an agent
# without proc.get is asked proc.mem[], which reads every process too, but
# not proc.cpu.util[], whose answer needs a collector sampling every process
# each second: a cost no stock Zabbix template asks of the agent).
items=(
    "system.cpu.util[,user]" "system.cpu.util[,system]" "system.cpu.util[,iowait]"
    "system.cpu.util[,idle]" "system.cpu.util[,steal]"
    "system.cpu.load[all,avg1]" "system.cpu.load[all,avg5]" "system.cpu.load[all,avg15]"
    "vm.memory.size[total]" "vm.memory.size[available]" "vm.memory.size[used]"
    "vm.memory.size[cached]" "vm.memory.size[buffers]"
    "system.swap.size[,total]" "system.swap.size[,free]"
    "vfs.fs.get" "proc.num[]" "proc.num[,,run]" "proc.get[,,,summary]" "proc.mem[]" "system.uptime"
)
for ((cpu = 0; cpu < $(nproc); cpu++)); do
    items+=("system.cpu.util[$cpu,idle]" "system.cpu.util[$cpu,iowait]")
done
for dev in /sys/block/*; do
    dev=${dev##*/}
    case "$dev" in loop* | ram* | zram*) continue ;; esac
    items+=("vfs.dev.read[$dev,sectors]" "vfs.dev.write[$dev,sectors]"
        "vfs.dev.read[$dev,operations]" "vfs.dev.write[$dev,operations]")
done
while read -r iface _; do
    iface=${iface%:}
    [ "$iface" = lo ] && continue
    items+=("net.if.in[$iface,bytes]" "net.if.out[$iface,bytes]"
        "net.if.in[$iface,packets]" "net.if.out[$iface,packets]"
        "net.if.in[$iface,errors]" "net.if.out[$iface,errors]")
done < <(tail -n +3 /proc/net/dev)

# One round before the window, outside it: it starts Zabbix's own CPU
# collector and node_exporter's first-scrape setup, and drops any item
# this agent build does not support, so the window asks only real questions.
supported=()
unsupported=()
for item in "${items[@]}"; do
    answer=$(zbx "$zbx_port" "$item" 2>/dev/null || true)
    if [[ -z $answer || $answer == ZBX_NOTSUPPORTED* ]]; then
        unsupported+=("$item")
    else
        supported+=("$item")
    fi
done
if [[ " ${supported[*]} " == *" proc.get[,,,summary] "* ]]; then
    for i in "${!supported[@]}"; do
        [ "${supported[$i]}" = "proc.mem[]" ] && unset -v 'supported[i]'
    done
fi
curl -fs -o /dev/null "http://127.0.0.1:$ne_port/metrics"
sleep 2

alive "$at_pid" "atalaya-agent" "$work/atalaya.log"
alive "$ne_pid" "node_exporter" "$ne_log"
alive "$zbx_pid" "zabbix_agent2" "$zbx_log"

declare -A ticks0 ns0
t0=$(now)
for pid in "$at_pid" "$ne_pid" "$zbx_pid"; do
    ticks0[$pid]=$(cpu_ticks "$pid")
    ns0[$pid]=$(cpu_ns "$pid")
done
at_lines0=$(wc -l <"$at_out")

cycles=$((seconds / 10))
scrape_bytes=0
for ((cycle = 0; cycle < cycles; cycle++)); do
    sleep_until "$(awk -v t="$t0" -v c="$cycle" 'BEGIN { printf "%.6f", t + 10 * c }')"
    scrape_bytes=$(curl -fs -o /dev/null -w '%{size_download}' "http://127.0.0.1:$ne_port/metrics")
    for item in "${supported[@]}"; do
        zbx "$zbx_port" "$item" >/dev/null
    done
done
sleep_until "$(awk -v t="$t0" -v s="$seconds" 'BEGIN { printf "%.6f", t + s }')"

declare -A ticks1 ns1 rss hwm
for pid in "$at_pid" "$ne_pid" "$zbx_pid"; do
    ticks1[$pid]=$(cpu_ticks "$pid")
    ns1[$pid]=$(cpu_ns "$pid")
    rss[$pid]=$(status_kib "$pid" VmRSS)
    hwm[$pid]=$(status_kib "$pid" VmHWM)
done
at_samples=$(($(wc -l <"$at_out") - at_lines0))
((at_samples > 0)) || die "atalaya-agent printed no sample in the window; its log: $(tail -n 5 "$work/atalaya.log")"
alive "$at_pid" "atalaya-agent" "$work/atalaya.log"
alive "$ne_pid" "node_exporter" "$ne_log"
alive "$zbx_pid" "zabbix_agent2" "$zbx_log"
load_steady=$(loadavg)
processes=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)

for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
pids=()

# --- full inventory -------------------------------------------------------

declare -A inv_wall inv_rss inv_cpu inv_out

# Runs one inventory under `time -v`: its wall time from the shell's
# microsecond clock (time -v rounds wall time to 10 ms), its peak RSS and
# CPU from time -v. Peak RSS is that of the largest process in the tree
# (the kernel's ru_maxrss), which for FusionInventory is its Perl process,
# not the dmidecode and lspci it runs; CPU includes those children.
inventory_run() {
    local tool=$1 started ended
    shift
    started=$(now)
    if ! /usr/bin/time -v -o "$work/time.$tool" "$@" >"$work/out.$tool" 2>"$work/err.$tool"; then
        die "$tool inventory failed: $(tail -n 5 "$work/err.$tool")"
    fi
    ended=$(now)
    inv_wall[$tool]+=" $(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", (b - a) * 1000 }')"
    inv_rss[$tool]+=" $(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.$tool")"
    inv_cpu[$tool]+=" $(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 }
        END { printf "%.0f", (u + s) * 1000 }' "$work/time.$tool")"
    inv_out[$tool]=$(wc -c <"$work/out.$tool")
}

# An untimed run of each first, so both read a warm page cache (Perl's
# modules, the dpkg database) rather than whichever went first paying for
# it; then the timed runs alternate so that a burst of load hits both.
"$agent" inventory --json >/dev/null 2>&1 || die "atalaya-agent inventory --json failed"
"$fusion" >/dev/null 2>&1 || die "$fusion failed"
for ((run = 0; run < runs; run++)); do
    inventory_run atalaya "$agent" inventory --json
    inventory_run fusion "$fusion"
done
load_end=$(loadavg)

# --- report ---------------------------------------------------------------

package_version() { dpkg-query -W -f='${Version}' "$1"; }

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# CPU ms per cycle from a tick or nanosecond delta.
per_cycle_ticks() {
    awk -v d="$1" -v hz="$(getconf CLK_TCK)" -v c="$2" 'BEGIN { printf "%.2f", d * 1000 / hz / c }'
}
per_cycle_ns() { awk -v d="$1" -v c="$2" 'BEGIN { printf "%.2f", d / 1e6 / c }'; }

echo "Atalaya agent and peers, same host, same window"
echo "date        $started_at"
echo "kernel      $(uname -r) · nproc $(nproc) · $processes processes"
echo "load avg    start $load_start · after steady state $load_steady · end $load_end"
echo "versions    $("$agent" --version) · prometheus-node-exporter $(package_version prometheus-node-exporter)" \
    "· zabbix-agent2 $(package_version zabbix-agent2) · fusioninventory-agent $(package_version fusioninventory-agent)"
echo
echo "Steady state: $seconds s window, one cycle every 10 s"
echo "  atalaya-agent  metrics --json --interval-seconds 10: $at_samples samples in the window"
echo "  node_exporter  default collectors, scraped by curl: $cycles scrapes of $((scrape_bytes / 1024)) KiB"
echo "  zabbix_agent2  passive checks by $zabbix_client: $cycles rounds of ${#supported[@]} items"
if ((${#unsupported[@]})); then
    echo "                 (not supported here, left out: ${unsupported[*]})"
fi
echo "  CPU ms/cycle: utime+stime ticks (1 tick = $((1000 / $(getconf CLK_TCK))) ms) and scheduler ns;"
echo "  the ratios use the scheduler figure. RSS = VmRSS at the end, HWM = VmHWM."
echo
printf '%-15s %13s %13s %8s %8s %9s %9s\n' tool "CPU ms/cycle" "CPU ms/cycle" "RSS MiB" "HWM MiB" "CPU ×" "RSS ×"
printf '%-15s %13s %13s %8s %8s %9s %9s\n' "" "(ticks)" "(sched)" "" "" "Atalaya" "Atalaya"
at_ns=$(per_cycle_ns $((ns1[$at_pid] - ns0[$at_pid])) "$at_samples")
for row in "atalaya-agent $at_pid $at_samples" "node_exporter $ne_pid $cycles" "zabbix_agent2 $zbx_pid $cycles"; do
    read -r tool pid n <<<"$row"
    ms_ticks=$(per_cycle_ticks $((ticks1[$pid] - ticks0[$pid])) "$n")
    ms_ns=$(per_cycle_ns $((ns1[$pid] - ns0[$pid])) "$n")
    printf '%-15s %13s %13s %8s %8s %9s %9s\n' "$tool" "$ms_ticks" "$ms_ns" \
        "$(mib "${rss[$pid]}")" "$(mib "${hwm[$pid]}")" \
        "$(ratio "$ms_ns" "$at_ns")" "$(ratio "${rss[$pid]}" "${rss[$at_pid]}")"
done
echo
echo "Full inventory: median of $runs runs each (after one untimed run each)"
echo "  atalaya-agent inventory --json  vs  fusioninventory-inventory (XML to stdout)"
echo
printf '%-15s %9s %9s %13s %10s %9s %9s\n' tool "wall ms" "CPU ms" "peak RSS MiB" "output KiB" "wall ×" "RSS ×"
printf '%-15s %9s %9s %13s %10s %9s %9s\n' "" "" "" "" "" "Atalaya" "Atalaya"
# shellcheck disable=SC2086 # the run lists are space-separated on purpose
{
    at_wall=$(median ${inv_wall[atalaya]})
    at_rss=$(median ${inv_rss[atalaya]})
    for tool in atalaya fusion; do
        wall=$(median ${inv_wall[$tool]})
        peak=$(median ${inv_rss[$tool]})
        cpu_ms=$(median ${inv_cpu[$tool]})
        name=atalaya-agent
        [ "$tool" = fusion ] && name=fusioninventory
        printf '%-15s %9.1f %9.0f %13s %10s %9s %9s\n' "$name" "$wall" "$cpu_ms" "$(mib "$peak")" \
            "$((inv_out[$tool] / 1024))" "$(ratio "$wall" "$at_wall")" "$(ratio "$peak" "$at_rss")"
    done
}
