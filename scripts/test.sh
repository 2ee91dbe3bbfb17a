#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what it needs, then
# runs fmt, clippy, unit/property tests and the integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in kamailio sip-tester rtpengine-daemon tcpdump; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages: ${need[*]} (run as root to install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# The Debian packages start their services; the tests start their own instances.
for svc in rtpengine-daemon kamailio; do
    systemctl stop "$svc" 2>/dev/null || true
done

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2
scripts/fuzz-smoke.sh
