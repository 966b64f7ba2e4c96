#!/usr/bin/env bash
# Builds the stand-in CUDA driver and NVRTC (cuda-emu/, see its README) if
# needed, installs them as target/cuda-emu/lib/{libcuda.so.1,libnvrtc.so.13,…}
# and prints the shell `export` lines that make any program use them:
#
#   eval "$(scripts/cuda-emu.sh)"
#   SPINDLE_BACKEND=cuda cargo run --release --example quickstart
#
# Needs Rust, g++, and the NVRTC wheel (found or installed by
# scripts/nvrtc-env.sh). SPINDLE_EMU_PROFILE=release builds the stand-in
# optimised (default: the dev profile, which `cargo test` builds anyway).
# Build messages go to stderr; stdout carries only the exports.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
lib="$root/target/cuda-emu/lib"

# The real NVRTC: never this stand-in (when run again in an environment the
# previous exports set up).
if [ -n "${SPINDLE_EMU_REAL_NVRTC_DIR:-}" ]; then
    export SPINDLE_NVRTC_DIR="$SPINDLE_EMU_REAL_NVRTC_DIR"
elif [ "${SPINDLE_NVRTC_DIR:-}" = "$lib" ]; then
    unset SPINDLE_NVRTC_DIR
fi
. scripts/nvrtc-env.sh
real="${SPINDLE_NVRTC_DIR:-}"
if [ -z "$real" ] || [ "$real" = "$lib" ]; then
    echo "cuda-emu: the real NVRTC was not found; the NVRTC stand-in forwards to it" >&2
    exit 1
fi
command -v "${SPINDLE_EMU_CXX:-g++}" >/dev/null || {
    echo "cuda-emu: ${SPINDLE_EMU_CXX:-g++} not found; the stand-in builds kernels as host C++ with it" >&2
    exit 1
}

profile="${SPINDLE_EMU_PROFILE:-dev}"
case "$profile" in
dev) out_dir="debug" ;;
release) out_dir="release" ;;
*) echo "cuda-emu: SPINDLE_EMU_PROFILE=$profile: use dev or release" >&2; exit 1 ;;
esac
echo "cuda-emu: cargo build -p spindle-cuda-emu --lib --profile $profile" >&2
cargo build -p spindle-cuda-emu --lib --profile "$profile" >&2
built="${CARGO_TARGET_DIR:-$root/target}/$out_dir/libspindle_cuda_emu.so"
[ -f "$built" ] || { echo "cuda-emu: cargo built no $built" >&2; exit 1; }

# Install: a copy (so a later rebuild never changes a library a running
# program has loaded), replaced atomically, and the names programs load.
mkdir -p "$lib"
if ! cmp -s "$built" "$lib/libspindle_cuda_emu.so" 2>/dev/null; then
    cp "$built" "$lib/.libspindle_cuda_emu.so.tmp"
    mv -f "$lib/.libspindle_cuda_emu.so.tmp" "$lib/libspindle_cuda_emu.so"
fi
for name in libcuda.so libcuda.so.1 libnvrtc.so libnvrtc.so.13; do
    ln -sfn libspindle_cuda_emu.so "$lib/$name"
done
# Images in spindle's cache carry host builds against the shims of their
# time: a new stand-in or changed shims start that cache afresh (the
# stand-in would refuse the old images, and spindle recompile each once).
stamp="$(cat "$lib/libspindle_cuda_emu.so" host-shims/*.h cuda-emu/include/*.h | cksum)"
if [ "$(cat "$root/target/cuda-emu/stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$root/target/cuda-emu/spindle-cache"
    echo "$stamp" >"$root/target/cuda-emu/stamp"
fi
mkdir -p "$root/target/cuda-emu/host-cache" "$root/target/cuda-emu/spindle-cache"
echo "cuda-emu: stand-in CUDA driver and NVRTC in $lib (real NVRTC: $real)" >&2

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
echo "export SPINDLE_EMU_REAL_NVRTC_DIR=$(q "$real")"
echo "export SPINDLE_NVRTC_DIR=$(q "$lib")"
echo "export LD_LIBRARY_PATH=$(q "$lib:$real")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
echo "export SPINDLE_EMU_CACHE_DIR=$(q "$root/target/cuda-emu/host-cache")"
echo "export SPINDLE_CACHE_DIR=$(q "$root/target/cuda-emu/spindle-cache")"
