// What every host shim shares (host_shim.h for batch kernels, the
// runtime's ring shim for persistent ring kernels): the CUDA keywords as
// host C++, the thread indices as thread_locals, the scalar helpers, and a
// block of real OS threads with a block barrier and warp rendezvous
// (host_shim_barrier.h, host_shim_warp.h).
//
// A thread that faults leaves through longjmp (spindle_host_exit), as PTX
// `exit` would; a thread that finished no longer counts at a barrier or in
// a warp (PTX semantics). __shared__ variables are function statics: one
// block runs at a time.
#ifndef SPINDLE_HOST_SHIM_THREADS_H
#define SPINDLE_HOST_SHIM_THREADS_H

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
#include <new>
#include <thread>
#include <vector>

#define __device__
// A kernel entry is opaque to its launcher, as a real launch is. Without
// this, GCC's interprocedural analysis may drop a faulting thread's
// writes, which happen just before its [[noreturn]] exit (a longjmp).
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

#include "host_shim_scalar.h"

#include "host_shim_barrier.h"
#include "host_shim_warp.h"

// The block a thread of spindle_host_run_block belongs to. A thread at the
// block barrier is out of its warp's operations until the barrier opens
// (as on a GPU, where a warp operation waits only for the lanes that reach
// it).
struct SpindleHostBlock {
  explicit SpindleHostBlock(unsigned int threads)
      : barrier(threads), warps(new SpindleHostWarp[(threads + 31) / 32]), nwarps((threads + 31) / 32) {
    for (unsigned int w = 0; w * 32 < threads; ++w) {
      warps[w].set_members(threads - w * 32 < 32 ? threads - w * 32 : 32);
    }
  }
  // The block barrier for linear thread `t`; how many arrived with `pred`.
  unsigned int sync(unsigned int t, unsigned int pred) {
    return barrier.arrive_and_wait(pred, [&] { warps[t / 32].suspend(); }, [&] { resume_warps(); });
  }
  // Thread `t` finished (returned or faulted): a member of nothing.
  void finish(unsigned int t) {
    barrier.drop([&] { resume_warps(); });
    warps[t / 32].drop();
  }
  SpindleHostBarrier barrier;
  std::unique_ptr<SpindleHostWarp[]> warps;
  unsigned int nwarps;

 private:
  void resume_warps() {
    for (unsigned int w = 0; w < nwarps; ++w) warps[w].resume_all();
  }
};
static thread_local SpindleHostBlock* spindle_host_block = nullptr;

static inline SpindleHostBlock* spindle_host_block_of(const char* what) {
  if (!spindle_host_block) {
    std::fprintf(stderr, "host shim: %s needs a block of concurrent threads (spindle_host_run_block)\n", what);
    std::abort();
  }
  return spindle_host_block;
}

static inline uint32_t spindle_host_linear_tid(void) {
  return threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
}

// This thread's warp, for host_shim_warp.h.
static inline SpindleHostWarp* spindle_host_current_warp(const char* what) {
  return &spindle_host_block_of(what)->warps[spindle_host_linear_tid() / 32];
}

static inline void spindle_sync_threads(void) {
  spindle_host_block_of("sync_threads")->sync(spindle_host_linear_tid(), 1u);
}

// One thread: runs `body` until it returns or exits (a fault).
template <class F>
__attribute__((noinline)) static void spindle_host_thread(F& body) {
  if (setjmp(spindle_host_exit) == 0) body();
}

// Runs `body` as the `block` threads of block `b` of a 1-D grid of `grid`
// blocks, each its own OS thread, and waits for all of them.
template <class F>
static void spindle_host_run_block(unsigned int grid, unsigned int block, unsigned int b, F& body) {
  SpindleHostBlock ctx(block);
  std::vector<std::thread> pool;
  pool.reserve(block);
  for (unsigned int t = 0; t < block; ++t) {
    pool.emplace_back([&ctx, &body, grid, block, b, t] {
      gridDim = {grid, 1, 1};
      blockDim = {block, 1, 1};
      blockIdx = {b, 0, 0};
      threadIdx = {t, 0, 0};
      spindle_host_block = &ctx;
      spindle_host_thread(body);
      // Finished (returned or faulted): no longer a member of anything.
      ctx.finish(t);
    });
  }
  for (auto& th : pool) th.join();
}

#endif
