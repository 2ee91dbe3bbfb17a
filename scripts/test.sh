#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what it needs, then
# runs fmt, clippy, unit/property tests and the integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# libdpdk-dev, dpdk, libclang-dev, pkg-config: the DPDK data plane (feature dataplane/dpdk)
# and its net_tap tests; iputils-ping: those tests ping through the exception path;
# python3-venv: libsrtp (pylibsrtp from PyPI) plays the SRTP phones; clang, libbpf-dev:
# the XDP program of the AF_XDP data plane (feature dataplane/af-xdp); ethtool: its tests
# make the veth peer fill in UDP checksums.
for pkg in kamailio sip-tester rtpengine-daemon tcpdump \
    libdpdk-dev dpdk libclang-dev pkg-config iputils-ping python3 python3-venv \
    clang libbpf-dev ethtool; do
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

# The SRTP interop tests' phones: libsrtp through pylibsrtp, in a virtualenv kept with
# the build output (tests/src/libsrtp.rs finds it there).
target_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
if ! "$target_dir/pyvenv/bin/python" -c 'import pylibsrtp' 2>/dev/null; then
    python3 -m venv "$target_dir/pyvenv"
    "$target_dir/pyvenv/bin/pip" install -q pylibsrtp
fi
export RTPBOLT_REQUIRE_LIBSRTP=1

cargo fmt --all -- --check
# Without the DPDK and AF_XDP features the workspace must not need DPDK, libclang or
# clang; with them, the DPDK backend and rtpbolt-dataplane (net_tap vdevs) and the AF_XDP
# backend (XDP on veth pairs in network namespaces) are built, linted and tested as root;
# the tests fail rather than skip when CI or RTPBOLT_REQUIRE_DPDK/_AF_XDP is set.
features=dataplane/dpdk,dataplane/af-xdp,rtpbolt-tests/af-xdp
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --features "$features" -- -D warnings
cargo build --workspace --all-targets --features "$features"
RTPBOLT_REQUIRE_DPDK=1 RTPBOLT_REQUIRE_AF_XDP=1 \
    cargo test --workspace --features "$features" -- --test-threads=2
scripts/fuzz-smoke.sh
