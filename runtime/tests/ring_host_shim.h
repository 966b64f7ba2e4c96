// Host versions of every device-only helper a generated ring kernel uses,
// with real concurrency: each CUDA thread of the block is an OS thread, and
// the kernel runs against the real Rust host side over real memory
// (DESIGN.md §7.3; driven by ring_host_compiled.rs).
//
//   g++ -std=c++17 -shared -fPIC -pthread -include ring_host_shim.h unit.cpp
//
// - threadIdx/blockIdx/blockDim/gridDim are thread_local;
// - __shared__ variables are function statics: one block per kernel runs at
//   a time in a process (the test serialises its actors);
// - spindle_sync_threads / spindle_sync_threads_count are a block barrier
//   with PTX semantics: a thread that exited (spindle_exit_thread, a fault,
//   or returning from the kernel) no longer counts, and releases a barrier
//   it was the last one missing from;
// - system-scope acquire loads and release stores are GCC __atomic
//   builtins (ThreadSanitizer understands them);
// - warp operations are a rendezvous of the warp's unfinished threads
//   (codegen/src/cuda/host_shim_warp.h): 32 threads per warp in order;
// - spindle_nanosleep sleeps.
//
// The generated prelude skips its own typedefs and device helpers when
// SPINDLE_HOST_SHIM is defined, so this file must define every helper the
// prelude would (the emitter's codegen/src/cuda/host_shim.h lists the
// batch ones; this one runs a whole block concurrently instead of one
// thread after another).
#ifndef SPINDLE_HOST_SHIM
#define SPINDLE_HOST_SHIM 1

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#define __device__
#define __global__ __attribute__((noipa))
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __shared__ static

struct spindle_host_dim3 {
  unsigned int x, y, z;
};
static thread_local spindle_host_dim3 threadIdx, blockIdx, blockDim, gridDim;
// Where a faulting thread goes (spindle_exit_thread).
static thread_local jmp_buf spindle_host_exit;

#include "../../codegen/src/cuda/host_shim_barrier.h"

static thread_local SpindleHostBarrier* spindle_host_block = nullptr;

#include "../../codegen/src/cuda/host_shim_scalar.h"
#include "../../codegen/src/cuda/host_shim_warp.h"

static thread_local SpindleHostWarp* spindle_host_warp = nullptr;
static inline SpindleHostWarp* spindle_host_current_warp(const char*) { return spindle_host_warp; }

// Fences. ThreadSanitizer does not model standalone fences; under it a
// fence is a sequentially consistent read-modify-write of one shared word
// (stronger than a fence: every fence synchronises with every other).
#if defined(__SANITIZE_THREAD__)
static uint32_t spindle_host_fence_word;
static inline void spindle_host_fence(void) { __atomic_fetch_add(&spindle_host_fence_word, 0u, __ATOMIC_SEQ_CST); }
#else
static inline void spindle_host_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
#endif
static inline void spindle_fence_system(void) { spindle_host_fence(); }

// Ring-loop operations.
static inline void spindle_nanosleep(uint32_t ns) {
  if (ns < 1000u) std::this_thread::yield();
  else std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
}
static inline void spindle_sync_threads(void) { spindle_host_block->arrive_and_wait(1u); }
static inline uint32_t spindle_sync_threads_count(uint32_t pred) { return spindle_host_block->arrive_and_wait(pred); }
static inline uint32_t spindle_load_acquire_sys_u32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void spindle_store_release_sys_u32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// One thread: runs `body` until it returns or exits (a fault).
template <class F>
__attribute__((noinline)) static void spindle_host_thread(F& body) {
  if (setjmp(spindle_host_exit) == 0) body();
}

// Runs `body` as one block of `threads` concurrent threads (one grid block)
// and waits for all of them.
template <class F>
static void spindle_host_run_block(unsigned int threads, F body) {
  SpindleHostBarrier barrier(threads);
  const unsigned int nwarps = (threads + 31u) / 32u;
  std::unique_ptr<SpindleHostWarp[]> warps(new SpindleHostWarp[nwarps]);
  for (unsigned int w = 0; w < nwarps; ++w) {
    warps[w].set_members(threads - 32u * w < 32u ? threads - 32u * w : 32u);
  }
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned int t = 0; t < threads; ++t) {
    SpindleHostWarp* warp = &warps[t / 32u];
    pool.emplace_back([&barrier, &body, t, threads, warp] {
      threadIdx = {t, 0, 0};
      blockIdx = {0, 0, 0};
      blockDim = {threads, 1, 1};
      gridDim = {1, 1, 1};
      spindle_host_block = &barrier;
      spindle_host_warp = warp;
      spindle_host_thread(body);
      barrier.drop();
      warp->drop();
    });
  }
  for (auto& th : pool) th.join();
}

#endif  // SPINDLE_HOST_SHIM
