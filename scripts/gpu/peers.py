#!/usr/bin/env python3
"""saxpy launch + sync through spindle's peers, CuPy `RawKernel` and Numba
`cuda.jit`, timed like spindle's `batch` figures of the same name: y = a*x + y,
256-thread blocks, n = 1024 and 2^20, median and p99 over many repetitions
after warm-up.

    python3 peers.py [--json out.json] [--reps N]

A peer that cannot run (no GPU, package missing) is reported as skipped with
the reason; the script then still exits 0.
"""
import argparse
import json
import platform
import sys
import time

SIZES = [(1024, "saxpy n=1024 launch+sync"), (1 << 20, "saxpy n=2^20 launch+sync")]
BLOCK = 256
WARMUP = 200

CUDA_SAXPY = r"""
extern "C" __global__ void saxpy(float a, const float* x, float* y, unsigned long long n) {
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        y[i] = a * x[i] + y[i];
    }
}
"""


def stats(samples):
    s = sorted(samples)
    return {"median_ns": s[len(s) // 2], "p99_ns": s[min(len(s) * 99 // 100, len(s) - 1)], "reps": len(s)}


def timed(fn, reps):
    for _ in range(WARMUP):
        fn()
    out = []
    clock = time.perf_counter_ns
    for _ in range(reps):
        t = clock()
        fn()
        out.append(clock() - t)
    return stats(out)


def skipped(peer, reason):
    return [{"peer": peer, "name": name, "skipped": reason} for _, name in SIZES]


def cupy_peer(reps):
    try:
        import cupy as cp
    except Exception as e:  # ImportError, or a CUDA library that fails to load
        return skipped("cupy", f"cupy missing ({e})"), None
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            return skipped("cupy", "no GPU"), cp.__version__
    except Exception as e:
        return skipped("cupy", f"no GPU ({e})"), cp.__version__
    try:
        kernel = cp.RawKernel(CUDA_SAXPY, "saxpy")
        stream = cp.cuda.Stream(non_blocking=True)
        results = []
        with stream:
            for n, name in SIZES:
                x = cp.ones(n, dtype=cp.float32)
                y = cp.full(n, 2.0, dtype=cp.float32)
                grid = ((n + BLOCK - 1) // BLOCK,)
                kernel(grid, (BLOCK,), (cp.float32(3.0), x, y, cp.uint64(n)))
                stream.synchronize()
                if not bool((y == 5.0).all()):
                    results.append({"peer": "cupy", "name": name, "skipped": "wrong result"})
                    continue
                a, nn = cp.float32(1.0), cp.uint64(n)

                def run():
                    kernel(grid, (BLOCK,), (a, x, y, nn))
                    stream.synchronize()

                results.append({"peer": "cupy", "name": name, **timed(run, reps),
                                "note": "RawKernel on a non-blocking stream"})
        return results, cp.__version__
    except Exception as e:
        return skipped("cupy", f"cupy failed: {type(e).__name__}: {e}"), cp.__version__


def numpy_for_numba(np):
    """NumPy 2.5 removed `np.row_stack`, which was always an alias of
    `np.vstack`; Numba releases that still register it fail at import with
    "module 'numpy' has no attribute 'row_stack'". Restore the alias before
    importing Numba. Returns a note for the report, or None."""
    if hasattr(np, "row_stack"):
        return None
    np.row_stack = np.vstack
    return f"numpy {np.__version__} lacks row_stack; aliased to vstack for numba"


def numba_peer(reps):
    try:
        import numpy as np
        compat = numpy_for_numba(np)
        from numba import cuda
        import numba
    except Exception as e:
        return skipped("numba", f"numba or numpy missing ({e})"), None
    try:
        if not cuda.is_available():
            return skipped("numba", "no GPU (numba.cuda.is_available() is False)"), numba.__version__
    except Exception as e:
        return skipped("numba", f"no GPU ({e})"), numba.__version__
    try:
        @cuda.jit
        def saxpy(a, x, y):
            i = cuda.grid(1)
            if i < y.size:
                y[i] = a * x[i] + y[i]

        stream = cuda.stream()
        results = []
        for n, name in SIZES:
            x = cuda.to_device(np.ones(n, dtype=np.float32), stream=stream)
            y = cuda.to_device(np.full(n, 2.0, dtype=np.float32), stream=stream)
            grid = (n + BLOCK - 1) // BLOCK
            saxpy[grid, BLOCK, stream](np.float32(3.0), x, y)
            stream.synchronize()
            if not (y.copy_to_host() == 5.0).all():
                results.append({"peer": "numba", "name": name, "skipped": "wrong result"})
                continue
            a = np.float32(1.0)

            def run():
                saxpy[grid, BLOCK, stream](a, x, y)
                stream.synchronize()

            note = "cuda.jit with device arrays on a stream"
            results.append({"peer": "numba", "name": name, **timed(run, reps),
                            "note": f"{note}; {compat}" if compat else note})
        return results, numba.__version__
    except Exception as e:
        return skipped("numba", f"numba failed: {type(e).__name__}: {e}"), numba.__version__


def fmt(ns):
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns / 1e6:.2f} ms"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--reps", type=int, default=3000)
    args = ap.parse_args()

    results, versions = [], {"python": platform.python_version()}
    for peer, fn in [("cupy", cupy_peer), ("numba", numba_peer)]:
        rows, version = fn(args.reps)
        results += rows
        versions[peer] = version
    print("== peers: saxpy launch+sync")
    for r in results:
        label = f"{r['peer']}: {r['name']}"
        if "skipped" in r:
            print(f"  {label:<44} skipped: {r['skipped']}")
        else:
            print(f"  {label:<44} median {fmt(r['median_ns']):>10}  p99 {fmt(r['p99_ns']):>10}  ({r['reps']} reps)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"versions": versions, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
