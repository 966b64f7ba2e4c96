# Source this file: finds libnvrtc (CUDA 13) and exports SPINDLE_NVRTC_DIR and
# LD_LIBRARY_PATH for it. When none is found and pip exists, installs the
# `nvidia-cuda-nvrtc` wheel (no GPU needed) into ./.nvrtc first.
#
#   . scripts/nvrtc-env.sh
spindle_nvrtc_wheel="nvidia-cuda-nvrtc==13.0.88"
spindle_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

spindle_has_nvrtc() { [ -n "$1" ] && ls "$1"/libnvrtc.so.13* >/dev/null 2>&1; }

spindle_find_nvrtc() {
    local d
    for d in "${SPINDLE_NVRTC_DIR:-}" "$spindle_root/.nvrtc/nvidia/cu13/lib" \
             "${CUDA_HOME:+$CUDA_HOME/lib64}" "${CUDA_PATH:+$CUDA_PATH/lib64}" /usr/local/cuda/lib64; do
        if spindle_has_nvrtc "$d"; then echo "$d"; return 0; fi
    done
    if command -v python3 >/dev/null 2>&1; then
        d="$(python3 -c 'import nvidia,os;print(os.path.join(list(nvidia.__path__)[0],"cu13","lib"))' 2>/dev/null || true)"
        if spindle_has_nvrtc "$d"; then echo "$d"; return 0; fi
    fi
    return 1
}

if ! spindle_nvrtc_dir="$(spindle_find_nvrtc)"; then
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
        echo "spindle: installing $spindle_nvrtc_wheel into $spindle_root/.nvrtc" >&2
        python3 -m pip install --quiet --disable-pip-version-check --target "$spindle_root/.nvrtc" "$spindle_nvrtc_wheel" >&2 || true
    fi
    spindle_nvrtc_dir="$(spindle_find_nvrtc || true)"
fi

if [ -n "$spindle_nvrtc_dir" ]; then
    export SPINDLE_NVRTC_DIR="$spindle_nvrtc_dir"
    export LD_LIBRARY_PATH="$spindle_nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "spindle: NVRTC from $SPINDLE_NVRTC_DIR" >&2
else
    echo "spindle: NVRTC not found and could not be installed; NVRTC tests will skip" >&2
fi
