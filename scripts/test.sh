#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what it needs, then
# runs fmt, clippy, unit/property tests and the integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# libdpdk-dev, dpdk, libclang-dev, pkg-config: the DPDK data plane (feature dataplane/dpdk)
# and its net_tap tests; iputils-ping: those tests ping through the exception path.
for pkg in kamailio sip-tester rtpengine-daemon tcpdump \
    libdpdk-dev dpdk libclang-dev pkg-config iputils-ping python3; do
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
# Without the DPDK feature the workspace must not need DPDK or libclang; with it, the DPDK
# backend and rtpbolt-dataplane are built, linted and tested (net_tap vdevs, as root; the
# tests fail rather than skip when CI or RTPBOLT_REQUIRE_DPDK is set).
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --features dataplane/dpdk -- -D warnings
cargo build --workspace --all-targets --features dataplane/dpdk
RTPBOLT_REQUIRE_DPDK=1 cargo test --workspace --features dataplane/dpdk -- --test-threads=2
scripts/fuzz-smoke.sh
