#!/usr/bin/env bash
# spindle's GPU check, run from a bundle staged by scripts/gpu-check.sh. Needs
# no Rust and no source tree: finds libnvrtc, prints the machine, runs every
# carried test suite and the benchmark runner, builds and runs floor.cu (what
# the GPU allows with no spindle code), times the Python peers (CuPy, Numba),
# and writes report.md and report.json to $SPINDLE_REPORT_DIR (default
# ./gpu-report). Without a GPU it completes, with GPU parts skipped.
#
#   bash gpu-bundle/run.sh
#
# Environment: SPINDLE_REPORT_DIR, SPINDLE_NVRTC_DIR (a folder with
# libnvrtc.so.13), SPINDLE_TEST_TIMEOUT (seconds per suite, default 300),
# SPINDLE_BENCH_TIMEOUT (default 480), SPINDLE_TEST_THREADS (libtest --test-threads;
# default: libtest's, and a suite that times out is rerun with 1),
# SPINDLE_BENCH_QUICK=1 (fewer repetitions),
# SPINDLE_SKIP_TESTS=1 / SPINDLE_SKIP_BENCH=1 / SPINDLE_SKIP_FLOOR=1 / SPINDLE_SKIP_PEERS=1.
set -uo pipefail # no -e: a failing suite must not stop the run

bundle="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
report="${SPINDLE_REPORT_DIR:-$PWD/gpu-report}"
mkdir -p "$report" || { echo "run.sh: cannot create $report" >&2; exit 2; }
report="$(cd "$report" && pwd)"
logs="$report/logs"
rm -rf "$logs" "$report/report.md" "$report/report.json" "$report/bench.jsonl" "$report/peers.json"
mkdir -p "$logs/tests"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

say() { echo "run.sh: $*"; }
env_line() { printf '%s=%s\n' "$1" "$2" >>"$logs/env.txt"; }
: >"$logs/env.txt"
env_line started "$started"

# --- libnvrtc -----------------------------------------------------------------
has_nvrtc() { [ -n "$1" ] && compgen -G "$1/libnvrtc.so.1[23]*" >/dev/null; }
nvrtc_candidates() {
    printf '%s\n' "${SPINDLE_NVRTC_DIR:-}"
    [ -n "${CUDA_HOME:-}" ] && printf '%s\n' "$CUDA_HOME/lib64"
    printf '%s\n' /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/lib/x86_64-linux-gnu
    # The Python `nvidia` wheels (CUDA 13: cu13/lib; CUDA 12: cuda_nvrtc/lib).
    if command -v python3 >/dev/null; then
        python3 - <<'EOF' 2>/dev/null
import os, site
roots = []
try:
    import nvidia
    roots += list(nvidia.__path__)
except Exception:
    pass
try:
    roots += [os.path.join(p, "nvidia") for p in site.getsitepackages()]
except Exception:
    pass
for r in roots:
    print(os.path.join(r, "cu13", "lib"))
    print(os.path.join(r, "cuda_nvrtc", "lib"))
EOF
    fi
    # A bundle run inside a spindle checkout (no GPU): the wheel scripts/nvrtc-env.sh installs.
    printf '%s\n' "$bundle/../.nvrtc/nvidia/cu13/lib"
}
nvrtc_dir=""
while IFS= read -r d; do
    if has_nvrtc "$d"; then nvrtc_dir="$(cd "$d" && pwd)"; break; fi
done < <(nvrtc_candidates)
if [ -n "$nvrtc_dir" ]; then
    export SPINDLE_NVRTC_DIR="$nvrtc_dir"
    export LD_LIBRARY_PATH="$nvrtc_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # NVRTC is here, so the NVRTC tests must not skip.
    export SPINDLE_REQUIRE_NVRTC=1
    nvrtc_file="$(ls "$nvrtc_dir"/libnvrtc.so.1[23]* 2>/dev/null | grep -v builtins | sort -V | tail -1)"
    nvrtc_file="$(readlink -f "$nvrtc_file")"
    say "NVRTC: $nvrtc_file"
    env_line nvrtc_dir "$nvrtc_dir"
    env_line nvrtc_library "$(basename "$nvrtc_file")"
else
    say "NVRTC: not found (tried \$SPINDLE_NVRTC_DIR, /usr/local/cuda/lib64, the Python nvidia wheels); NVRTC tests will skip"
    env_line nvrtc_dir ""
fi

# Toolchain libraries some suites link (see gpu-check.sh).
export LD_LIBRARY_PATH="$bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# A fresh disk cache: every run starts cold and leaves the user's cache alone.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/spindle-gpu-check.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export SPINDLE_CACHE_DIR="$scratch/kernel-cache"
unset SPINDLE_BACKEND CARGO_MANIFEST_DIR

# --- the machine --------------------------------------------------------------
env_line host "$(uname -n)"
env_line kernel "$(uname -sr)"
env_line cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)"
env_line cpu_threads "$(nproc 2>/dev/null || echo '?')"
env_line os "$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}")"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    gpu_csv="$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -1)"
    IFS=',' read -r gpu_name gpu_driver gpu_mem gpu_cc <<<"$gpu_csv"
    cuda_version="$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)"
    env_line gpu_name "$(echo "$gpu_name" | xargs)"
    env_line gpu_driver "$(echo "$gpu_driver" | xargs)"
    env_line gpu_memory "$(echo "$gpu_mem" | xargs)"
    env_line gpu_compute_capability "$(echo "$gpu_cc" | xargs)"
    env_line driver_cuda_version "$cuda_version"
    nvidia-smi >"$logs/nvidia-smi.txt" 2>&1
    say "GPU: $(echo "$gpu_name" | xargs), driver $(echo "$gpu_driver" | xargs), CUDA $cuda_version"
else
    env_line gpu_name ""
    say "GPU: none (nvidia-smi absent or reports no GPU)"
fi
if command -v nvcc >/dev/null; then
    env_line nvcc "$(nvcc --version | tail -1)"
fi
"$bundle/bin/bench/gpu" --probe >"$logs/probe.txt" 2>&1
sed 's/^/run.sh: spindle sees /' "$logs/probe.txt"

# --- tests --------------------------------------------------------------------
failed_suites=0
if [ "${SPINDLE_SKIP_TESTS:-}" != 1 ]; then
    for bin in "$bundle"/bin/tests/*; do
        [ -x "$bin" ] || continue
        name="$(basename "$bin")"
        say "test suite $name"
        # Tests that need the source tree (needs-source.tsv) are skipped by name.
        skips=()
        while IFS=$'\t' read -r suite test _; do
            [ "$suite" = "$name" ] && skips+=(--skip "$test")
        done < <(cat "$bundle/needs-source.tsv" 2>/dev/null)
        # --show-output prints each passing test's captured output, which is
        # where "skipping …" lines say why a GPU part did not run. --exact
        # makes each --skip match one test name only.
        run_suite() { # log-name, extra libtest args...
            local log="$1"
            shift
            (cd "$logs/tests" && timeout "${SPINDLE_TEST_TIMEOUT:-300}" "$bin" --show-output \
                ${skips[@]+"--exact"} ${skips[@]+"${skips[@]}"} "$@") >"$logs/tests/$log.log" 2>&1
            rc=$?
            echo "$rc" >"$logs/tests/$log.rc"
            # After a timeout the report names the tests that never finished.
            [ "$rc" -eq 124 ] && "$bin" --list --format terse >"$logs/tests/$log.list" 2>/dev/null
            grep -E '^test result:' "$logs/tests/$log.log" | sed 's/^/    /'
        }
        run_suite "$name" ${SPINDLE_TEST_THREADS:+--test-threads "$SPINDLE_TEST_THREADS"}
        if [ "$rc" -eq 124 ]; then
            # A hang: run it again one test at a time, to tell a test that hangs
            # alone from tests that hang each other (both logs are reported).
            say "  TIMED OUT after ${SPINDLE_TEST_TIMEOUT:-300} s; running it again with --test-threads 1"
            failed_suites=$((failed_suites + 1))
            run_suite "$name~serial" --test-threads 1
            [ "$rc" -eq 124 ] && say "  TIMED OUT again" || say "  serial rerun: exit $rc"
        elif [ "$rc" -ne 0 ]; then
            failed_suites=$((failed_suites + 1))
            say "  FAILED (exit $rc)"
        fi
    done
fi

# --- benchmarks and peers -----------------------------------------------------
if [ "${SPINDLE_SKIP_BENCH:-}" != 1 ]; then
    say "benchmarks (bin/bench/gpu)"
    SPINDLE_BENCH_JSON="$report/bench.jsonl" timeout "${SPINDLE_BENCH_TIMEOUT:-480}" \
        "$bundle/bin/bench/gpu" 2>&1 | tee "$logs/bench.log"
    echo "${PIPESTATUS[0]}" >"$logs/bench.rc"
fi
# The floor: what the GPU allows with no spindle code (floor.cu, built with
# the machine's nvcc for its own compute capability), in this same run.
if [ "${SPINDLE_SKIP_FLOOR:-}" != 1 ]; then
    say "floor (floor.cu)"
    floor_arch="$(echo "${gpu_cc:-}" | tr -d ' .')"
    if [ -z "${gpu_name:-}" ]; then
        echo "skipped: no GPU" | tee "$logs/floor.txt"
    elif ! command -v nvcc >/dev/null; then
        echo "skipped: nvcc not found" | tee "$logs/floor.txt"
    elif nvcc -O2 -arch="sm_${floor_arch:-90}" -o "$scratch/floor" "$bundle/floor.cu" >"$logs/floor-build.txt" 2>&1; then
        timeout 300 "$scratch/floor" 2>&1 | tee "$logs/floor.txt"
    else
        echo "skipped: nvcc failed (see logs/floor-build.txt)" | tee "$logs/floor.txt"
    fi
fi
if [ "${SPINDLE_SKIP_PEERS:-}" != 1 ]; then
    say "peers (CuPy, Numba)"
    if command -v python3 >/dev/null; then
        timeout 600 python3 "$bundle/peers.py" --json "$report/peers.json" 2>&1 | tee "$logs/peers.log"
    else
        echo "skipped: python3 not found" | tee "$logs/peers.log"
    fi
fi

# --- report -------------------------------------------------------------------
env_line finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if command -v python3 >/dev/null; then
    python3 "$bundle/report.py" --report "$report" --bundle "$bundle" || say "report.py failed; raw logs are in $logs"
else
    { echo "# spindle GPU check (no python3: raw logs only)"; echo; cat "$logs/env.txt"; echo; \
      grep -h '^test result:' "$logs"/tests/*.log; } >"$report/report.md"
    say "python3 not found: report.md holds the raw summary only"
fi
say "report: $report/report.md, $report/report.json"
[ "$failed_suites" -eq 0 ]
