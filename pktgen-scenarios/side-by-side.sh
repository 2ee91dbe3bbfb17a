#!/usr/bin/env bash
# Runs pktgen scenarios against the null forwarder (the floor), Debian's
# rtpengine and rtpbolt, one after the other on the same machine with the same
# options, and prints every figure side by side with ratios.
#
#   pktgen-scenarios/side-by-side.sh [--threads N] [--no-pin] [SCENARIO.toml ...]
#
# By default each relay runs one worker thread pinned to CPU 0 and the
# generator runs on the other CPUs: on a 2-core machine a relay and a
# generator that float over both cores preempt each other, and the latency
# percentiles then measure the scheduler (p99 anywhere from 5 to 200 ms from
# one run to the next) rather than the relay. --threads N gives each relay N
# threads; --no-pin lets everything float.
#
# Default scenarios: calls-1000.toml and ng-throughput.toml (about 4 minutes).
# Results (per-run JSON, combined JSON, daemon logs) go to
# pktgen-scenarios/results/<time>/. Only processes this script starts are
# stopped, by PID.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
threads=1
pin=1
scenarios=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --threads=*) threads="${1#*=}"; shift ;;
        --no-pin) pin=0; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) scenarios+=("$1"); shift ;;
    esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=("$here/calls-1000.toml" "$here/ng-throughput.toml")
for s in "${scenarios[@]}"; do
    [ -f "$s" ] || { echo "no such scenario file: $s" >&2; exit 1; }
done

# ng ports and media ranges: all below 32768, so never among the generator's
# ephemeral ports; each relay gets its own range, wide enough for the
# capacity ramp (4 ports per call).
NULL_ADDR=127.0.0.1:1990
RTPENGINE_NG=127.0.0.1:1991
RTPBOLT_NG=127.0.0.1:1992
RTPENGINE_PORTS=(2000 16999)
RTPBOLT_PORTS=(17000 31999)

if [ ! -x /usr/bin/rtpengine ]; then
    if [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rtpengine-daemon
    else
        echo "Debian's rtpengine is not installed (apt-get install rtpengine-daemon)" >&2
        exit 1
    fi
fi
# The packaged service would hold ports and CPU; this run starts its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet rtpengine-daemon 2>/dev/null; then
    echo "stopping the rtpengine-daemon service for the run" >&2
    systemctl stop rtpengine-daemon
fi
# Thousands of calls need thousands of sockets in each relay.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

relay_cpus=()
gen_cpus=()
ncpu="$(nproc)"
if [ "$pin" -eq 1 ] && [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    relay_last=$(( threads < ncpu - 1 ? threads - 1 : ncpu - 2 ))
    relay_cpus=(taskset -c "0-$relay_last")
    gen_cpus=(taskset -c "$((relay_last + 1))-$((ncpu - 1))")
    echo "relays on CPUs 0-$relay_last, generator on $((relay_last + 1))-$((ncpu - 1))" >&2
fi

cd "$root"
cargo build --release -q -p controlplane -p rtpbolt-pktgen
bin="${CARGO_TARGET_DIR:-$root/target}/release"

out="$here/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"

started=()
cleanup() {
    for pid in "${started[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${started[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

# start LABEL LOG PROGRAM ARGS...: starts a target, leaves its PID in $pid.
start() {
    local label="$1" log="$2"
    shift 2
    "${relay_cpus[@]}" "$@" >"$log" 2>&1 &
    pid=$!
    started+=("$pid")
    sleep 0.5
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "$label exited at startup; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

relay_opts=(--config-file=none --table=-1 --interface=127.0.0.1 "--num-threads=$threads"
    --foreground --log-stderr --log-level=3)

for scenario in "${scenarios[@]}"; do
    name="$(basename "$scenario" .toml)"
    columns=()
    for label in null rtpengine rtpbolt; do
        log="$out/$name-$label.log"
        case "$label" in
            null)
                start "$label" "$log" "$bin/null-forwarder" --listen "$NULL_ADDR" --idle-exit 60
                target=(--null "$NULL_ADDR")
                ;;
            rtpengine)
                start "$label" "$log" /usr/bin/rtpengine "${relay_opts[@]}" "--listen-ng=$RTPENGINE_NG" \
                    "--port-min=${RTPENGINE_PORTS[0]}" "--port-max=${RTPENGINE_PORTS[1]}"
                target=(--ng "$RTPENGINE_NG")
                ;;
            rtpbolt)
                start "$label" "$log" "$bin/rtpbolt" "${relay_opts[@]}" "--listen-ng=$RTPBOLT_NG" \
                    "--port-min=${RTPBOLT_PORTS[0]}" "--port-max=${RTPBOLT_PORTS[1]}"
                target=(--ng "$RTPBOLT_NG")
                ;;
        esac
        echo "== $name against $label (pid $pid)" >&2
        "${gen_cpus[@]}" "$bin/rtpbolt-pktgen" run "$scenario" "${target[@]}" --relay-pid "$pid" --label "$label" \
            --json "$out/$name-$label.json" >"$out/$name-$label.txt"
        stop "$pid"
        columns+=("$label=$out/$name-$label.json")
    done
    "$bin/rtpbolt-pktgen" compare "${columns[@]}" --ratio rtpbolt/rtpengine --ratio rtpbolt/null \
        --json "$out/$name.json" | tee "$out/$name-side-by-side.txt"
    echo
done
echo "results in $out" >&2
