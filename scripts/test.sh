#!/usr/bin/env bash
# The README's test command: finds (or installs) NVRTC, then runs every test.
#   scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/nvrtc-env.sh
cargo test --workspace "$@"
