#!/usr/bin/env bash
# Runs a pktgen scenario through the DPDK data plane: rtpbolt (control plane)
# and rtpbolt-dataplane on a net_tap "NIC" whose wire side sits in a network
# namespace, where rtpbolt-pktgen plays every phone. Calls are set up over ng
# through the exception TAP, media crosses the data plane; the relay figures
# (CPU per Mpkt, RSS) are the data plane's process.
#
#   pktgen-scenarios/dpdk-tap.sh [SCENARIO.toml]     (default calls-100.toml)
#
# Needs root and the dpdk/libdpdk-dev packages. Everything it creates (netns
# rbpktgen, TAPs, the flow table, the processes) is removed on exit; the
# ip_nonlocal_bind sysctl it sets (so rtpbolt can listen for ng on the NIC's
# address before the data plane has created it) is put back.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
scenario="${1:-$here/calls-100.toml}"
[ -f "$scenario" ] || { echo "no such scenario file: $scenario" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "dpdk-tap.sh: needs root (EAL, TAPs, netns)" >&2; exit 1; }

NS=rbpktgen
WIRE=rbpgw0
EXC=rbpgx0
NET=10.78.0
NG_PORT=2299
table=/dev/shm/rtpbolt-pktgen-tap-$$
out="$here/results/$(date -u +%Y%m%dT%H%M%SZ)-dpdk-tap"
mkdir -p "$out"

cd "$root"
cargo build --release -q -p controlplane -p rtpbolt-pktgen
cargo build --release -q -p dataplane --features dpdk --bin rtpbolt-dataplane
bin="${CARGO_TARGET_DIR:-$root/target}/release"

nonlocal_before=$(cat /proc/sys/net/ipv4/ip_nonlocal_bind)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    rm -f "$table"
    echo "$nonlocal_before" > /proc/sys/net/ipv4/ip_nonlocal_bind
}
trap cleanup EXIT
ip netns del "$NS" 2>/dev/null || true

# EAL memory: 2 MB pages if 128 are (or can be made) free.
"$root/scripts/hugepages.sh" --pages 128 >/dev/null 2>&1 || true
if "$root/scripts/hugepages.sh" --pages 128 --check >/dev/null 2>&1; then
    mem=(-m 256 --in-memory)
else
    mem=(--no-huge -m 512 --in-memory)
fi

echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
"$bin/rtpbolt" --config-file=none --interface=$NET.1 --listen-ng=$NET.1:$NG_PORT \
    --flow-table="$table" --foreground --log-stderr --log-level=5 >"$out/rtpbolt.log" 2>&1 &
pids+=($!)
# One worker on the last CPU, the EAL main lcore (idle) on the first; the
# generator runs wherever the scheduler puts it.
last=$(( $(nproc) - 1 ))
"$bin/rtpbolt-dataplane" --flow-table "$table" --exception-iface $EXC --workers $last \
    --stats-file "$out/dataplane-stats.json" \
    -- --no-pci -l 0 --vdev=net_tap0,iface=$WIRE --file-prefix=rbpktgen "${mem[@]}" \
    >"$out/dataplane.log" 2>&1 &
dp=$!
pids+=($dp)
for _ in $(seq 150); do
    [ -e /sys/class/net/$EXC ] && [ -e /sys/class/net/$WIRE ] && break
    kill -0 $dp 2>/dev/null || { cat "$out/dataplane.log" >&2; exit 1; }
    sleep 0.2
done
ip netns add $NS
ip link set $WIRE netns $NS
ip -n $NS link set lo up
ip -n $NS link set $WIRE address 02:78:00:00:00:02
ip -n $NS addr add $NET.2/24 dev $WIRE
ip -n $NS link set $WIRE up
ip addr add $NET.1/24 dev $EXC
ip link set $EXC up

name="$(basename "$scenario" .toml)"
ip netns exec $NS "$bin/rtpbolt-pktgen" run "$scenario" --ng $NET.1:$NG_PORT \
    --local-ip $NET.2 --relay-pid $dp --label rtpbolt-dataplane \
    --json "$out/$name.json" | tee "$out/$name.txt"
echo "data plane counters: $(cat "$out/dataplane-stats.json")"
echo "results in $out" >&2
