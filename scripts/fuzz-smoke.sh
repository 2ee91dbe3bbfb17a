#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a short while (default
# 20 s; FUZZ_SECONDS overrides). Needs a nightly toolchain; installs it and
# cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${FUZZ_SECONDS:-20}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
    echo "fuzzing $target for ${secs}s"
    cargo +nightly fuzz run -O "$target" -- -max_total_time="$secs" 2>&1 | tail -n 3
done
