#!/usr/bin/env bash
# rtpbolt-dataplane's RTP forward rate against dpdk-testpmd's io forwarding on the same
# vdev, one worker core each, alternating in the same run so both see the same machine.
#
# Source and sink are one net_pcap vdev: rx replays a pcap of RTP frames from memory
# (infinite_rx), tx writes to /dev/null. No kernel path is involved, so the figure is what
# a worker core does per packet: testpmd io only moves mbufs; rtpbolt-dataplane parses
# Ethernet/IP/UDP, verifies checksums, looks the flow up in the shared table, rewrites
# addresses and checksums in place and counts. The ratio is the result; absolute numbers
# depend on the machine (and on whatever else runs on it).
#
# Needs root, the dpdk and libdpdk-dev packages, python3; reserves 2 MB hugepages if it
# can (otherwise runs EAL with --no-huge). Environment:
#   RUN_SECONDS (5)  measured seconds per run     ROUNDS (3)  runs of each
#   FLOWS (64)       flows in the pcap            TABLE_ENTRIES (FLOWS)  entries in the table
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_SECONDS=${RUN_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
FLOWS=${FLOWS:-64}
TABLE_ENTRIES=${TABLE_ENTRIES:-$FLOWS}
WARMUP=2

[ "$(id -u)" -eq 0 ] || { echo "bench-dpdk.sh: needs root (EAL, hugepages)" >&2; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "bench-dpdk.sh: dpdk-testpmd missing (apt-get install dpdk-dev)" >&2; exit 1; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build -q --release -p dataplane --features dpdk --bin rtpbolt-dataplane --example flow_table_fill
DP=$CARGO_TARGET_DIR/release/rtpbolt-dataplane
FILL=$CARGO_TARGET_DIR/release/examples/flow_table_fill

work=$(mktemp -d /tmp/rtpbolt-bench-dpdk.XXXXXX)
table=/dev/shm/rtpbolt-bench-dpdk-$$
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid" 2>/dev/null || true
        sleep 1
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$work" "$table"
}
trap cleanup EXIT

# Memory: 2 MB pages when there are (or can be made) 128 free, else ordinary memory.
free_pages() { awk '/HugePages_Free/ {print $2}' /proc/meminfo; }
if [ "$(free_pages)" -lt 128 ]; then
    total=$(cat /proc/sys/vm/nr_hugepages)
    echo $((total + 128 - $(free_pages))) > /proc/sys/vm/nr_hugepages 2>/dev/null || true
fi
grep -qs ' hugetlbfs ' /proc/mounts || { mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true; }
if [ "$(free_pages)" -ge 128 ] && grep -qs ' hugetlbfs ' /proc/mounts; then
    mem=(-m 256 --in-memory)
else
    mem=(--no-huge -m 512 --in-memory)
fi

cpus=$(awk '/Cpus_allowed_list/ {print $2}' /proc/self/status)
main_core=$(python3 -c "import os; c=sorted(os.sched_getaffinity(0)); print(c[0])")
worker_core=$(python3 -c "import os; c=sorted(os.sched_getaffinity(0)); print(c[-1])")
echo "cpus $cpus: EAL main lcore $main_core, forwarding core $worker_core; EAL memory ${mem[*]}"

# net_pcap's port MAC is fixed by the driver (02:70:63:61:70 + port index); the frames
# must be addressed to it or the data plane hands them to the kernel as not ours.
PORT_MAC=02:70:63:61:70:00
pcap=$work/rtp.pcap
python3 - "$pcap" "$PORT_MAC" "$FLOWS" <<'EOF'
import struct, sys
out, dst_mac, flows = sys.argv[1], sys.argv[2], int(sys.argv[3])
dst, src = bytes.fromhex(dst_mac.replace(':', '')), bytes.fromhex('020000000001')
ip_src, ip_dst = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
with open(out, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(flows):
        # G.711 at 20 ms: 12-byte RTP header + 160 bytes, from 198.18.0.1:(40000+2i)
        # to our port 198.18.0.2:(30000+2i), the key of table entry i.
        rtp = struct.pack('!BBHII', 0x80, 0, i, i * 160, 0x1000 + i) + bytes(160)
        ulen = 8 + len(rtp)
        u = struct.pack('!HHHH', (40000 + 2 * i) % 64512 + 1024, (30000 + 2 * i - 1024) % 64512 + 1024, ulen, 0) + rtp
        c = csum(ip_src + ip_dst + struct.pack('!BBH', 0, 17, ulen) + u) or 0xffff
        u = u[:6] + struct.pack('!H', c) + u[8:]
        h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + ulen, i & 0xffff, 0, 64, 17, 0, ip_src, ip_dst)
        h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
        frame = dst + src + b'\x08\x00' + h + u
        f.write(struct.pack('<IIII', 0, i, len(frame), len(frame)) + frame)
EOF
"$FILL" "$table" "$TABLE_ENTRIES" 198.18.0.2:30000 198.18.0.1:40000 198.18.0.2:30001 >/dev/null
vdev="--vdev=net_pcap0,rx_pcap=$pcap,tx_pcap=/dev/null,infinite_rx=1"

# Packets per second forwarded by testpmd: the median of its per-second Tx-pps after the
# warm-up.
run_testpmd() {
    local log=$work/testpmd.log
    dpdk-testpmd --no-pci -l "$main_core,$worker_core" "${mem[@]}" --file-prefix="rbtp$$" "$vdev" -- \
        --forward-mode=io --port-topology=loop --nb-cores=1 --stats-period=1 \
        >"$log" 2>&1 &
    pid=$!
    sleep $((WARMUP + RUN_SECONDS + 1))
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
    grep -o 'Tx-pps: *[0-9]*' "$log" | awk '{print $2}' | tail -n +$((WARMUP + 1)) | head -n "$RUN_SECONDS" |
        sort -n | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print a[int((NR + 1) / 2)]}'
}

# Packets per second forwarded by rtpbolt-dataplane: the forwarded counter's growth
# between two stats-file writes RUN_SECONDS apart, after the warm-up.
run_dataplane() {
    local stats=$work/dp-stats.json log=$work/dataplane.log
    rm -f "$stats"
    "$DP" --flow-table "$table" --exception-iface rbbench0 --stats-file "$stats" \
        --workers "$worker_core" --busy-poll -- \
        --no-pci -l "$main_core" "${mem[@]}" --file-prefix="rbdp$$" "$vdev" >"$log" 2>&1 &
    pid=$!
    local i
    for i in $(seq 50); do [ -s "$stats" ] && break; sleep 0.1; done
    sleep "$WARMUP"
    local a b
    a=$(python3 -c "import json, os; print(json.load(open('$stats'))['total']['forwarded'], os.stat('$stats').st_mtime_ns)")
    sleep "$RUN_SECONDS"
    b=$(python3 -c "import json, os; print(json.load(open('$stats'))['total']['forwarded'], os.stat('$stats').st_mtime_ns)")
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
    python3 -c "
a, ta = map(int, '$a'.split()); b, tb = map(int, '$b'.split())
print(int((b - a) * 1e9 / max(tb - ta, 1)))"
}

echo "flows $FLOWS, table entries $TABLE_ENTRIES, $RUN_SECONDS s per run, $ROUNDS rounds"
printf '%-6s %15s %20s %8s\n' round testpmd-io-pps rtpbolt-dataplane-pps ratio
tp_all=() dp_all=()
for r in $(seq "$ROUNDS"); do
    tp=$(run_testpmd)
    dp=$(run_dataplane)
    tp_all+=("$tp")
    dp_all+=("$dp")
    printf '%-6s %15s %20s %7s%%\n' "$r" "$tp" "$dp" "$(python3 -c "print(round(100 * $dp / max($tp, 1), 1))")"
done
python3 - "${tp_all[*]}" "${dp_all[*]}" <<'EOF'
import statistics, sys
tp = [int(x) for x in sys.argv[1].split()]
dp = [int(x) for x in sys.argv[2].split()]
mt, md = statistics.median(tp), statistics.median(dp)
print(f"median  {mt:15.0f} {md:20.0f} {100 * md / max(mt, 1):7.1f}%")
print(f"per packet: testpmd io {1e9 / max(mt, 1):.1f} ns, rtpbolt-dataplane {1e9 / max(md, 1):.1f} ns")
EOF
