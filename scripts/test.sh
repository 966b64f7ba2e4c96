#!/usr/bin/env bash
# The README's test command: finds (or installs) NVRTC, checks formatting,
# runs every test, then the loom model checks of the ring protocol's host
# side, then the lint gates (clippy and rustdoc with warnings as errors).
#   scripts/test.sh [extra cargo test args]
#   SPINDLE_SKIP_LOOM=1 scripts/test.sh   # without the loom models
#   SPINDLE_SKIP_LINT=1 scripts/test.sh   # without rustfmt, clippy and rustdoc
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/nvrtc-env.sh
lint="${SPINDLE_SKIP_LINT:-0}"
if [ "$lint" != "1" ]; then
    echo "spindle: cargo fmt --all -- --check" >&2
    cargo fmt --all -- --check
fi
cargo test --workspace "$@"
if [ "${SPINDLE_SKIP_LOOM:-0}" != "1" ]; then
    echo "spindle: loom model checks of the ring protocol (release, cfg loom)" >&2
    RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
        cargo test -p spindle-runtime --release --lib ring::loom_tests
fi
if [ "$lint" != "1" ]; then
    echo "spindle: cargo clippy --workspace --all-targets -- -D warnings" >&2
    cargo clippy --workspace --all-targets -- -D warnings
    echo "spindle: RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps" >&2
    RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps
fi
