#!/usr/bin/env bash
# The README's test command: finds (or installs) NVRTC, runs every test, then
# the loom model checks of the ring protocol's host side.
#   scripts/test.sh [extra cargo test args]
#   SPINDLE_SKIP_LOOM=1 scripts/test.sh   # without the loom models
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/nvrtc-env.sh
cargo test --workspace "$@"
if [ "${SPINDLE_SKIP_LOOM:-0}" != "1" ]; then
    echo "spindle: loom model checks of the ring protocol (release, cfg loom)" >&2
    RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
        cargo test -p spindle-runtime --release --lib ring::loom_tests
fi
