// Host versions of the device-only operations spindle's generated CUDA C
// uses, so the same text compiles as host C++ and runs (DESIGN.md §7.3):
//
//   g++ -std=c++17 -pthread -include host_shim.h kernel.cu main.cpp
//
// Two launchers:
// - spindle_host_launch runs the threads of a grid one after another on
//   the calling OS thread (deterministic: the first fault is the first
//   thread's); barriers and warp operations need the other one;
// - spindle_host_launch_concurrent runs the blocks one after another, and
//   the threads of a block as concurrent OS threads: sync_threads is a real
//   barrier, a warp (32 threads of the block in linear order) is a
//   rendezvous whose members exchange their values, atomics are contended.
// A thread that faults leaves through longjmp, as PTX `exit` would; a
// thread that finished no longer counts at a barrier (PTX semantics).
// __shared__ variables are function statics: one block runs at a time.
// The launch's dynamic shared memory (extern __shared__ on the device) is
// one 16-byte-aligned host buffer of the launcher's shared_bytes, refilled
// with a junk pattern at the start of each block (its contents start out
// undefined on a GPU). Views of different types alias it: from -O2 up,
// build with -fno-strict-aliasing.
// The generated prelude skips its own typedefs and device helpers when
// SPINDLE_HOST_SHIM is defined.
#ifndef SPINDLE_HOST_SHIM
#define SPINDLE_HOST_SHIM 1

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

// The block a thread of spindle_host_launch_concurrent belongs to.
struct SpindleHostBlock {
  explicit SpindleHostBlock(unsigned int threads)
      : barrier(threads), warps(new SpindleHostWarp[(threads + 31) / 32]) {
    for (unsigned int w = 0; w * 32 < threads; ++w) {
      warps[w].set_members(threads - w * 32 < 32 ? threads - w * 32 : 32);
    }
  }
  SpindleHostBarrier barrier;
  std::unique_ptr<SpindleHostWarp[]> warps;
};
static thread_local SpindleHostBlock* spindle_host_block = nullptr;

static inline SpindleHostBlock* spindle_host_block_of(const char* what) {
  if (!spindle_host_block) {
    std::fprintf(stderr, "host shim: %s needs spindle_host_launch_concurrent\n", what);
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

static inline void spindle_sync_threads(void) { spindle_host_block_of("sync_threads")->barrier.arrive_and_wait(); }

// Ring-loop operations (emitted for ring kernels only).
static inline void spindle_fence_system(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void spindle_nanosleep(uint32_t) {}
static inline uint32_t spindle_load_acquire_sys_u32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void spindle_store_release_sys_u32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// The dynamic shared area and its size (the device reads the PTX register
// %dynamic_smem_size); set by the launchers for the duration of a launch.
inline unsigned char* spindle_dyn_smem = nullptr;
inline uint32_t spindle_host_dyn_smem_bytes = 0u;
static inline uint32_t spindle_dynamic_smem_size(void) { return spindle_host_dyn_smem_bytes; }

// Owns the area for one launch.
class SpindleHostDynamicShared {
 public:
  explicit SpindleHostDynamicShared(uint32_t bytes)
      : area_(static_cast<unsigned char*>(::operator new(bytes ? bytes : 1u, std::align_val_t(16)))) {
    spindle_dyn_smem = area_;
    spindle_host_dyn_smem_bytes = bytes;
  }
  ~SpindleHostDynamicShared() {
    spindle_dyn_smem = nullptr;
    spindle_host_dyn_smem_bytes = 0u;
    ::operator delete(area_, std::align_val_t(16));
  }
  SpindleHostDynamicShared(const SpindleHostDynamicShared&) = delete;
  SpindleHostDynamicShared& operator=(const SpindleHostDynamicShared&) = delete;
  // A new block: its area holds junk, as on a GPU.
  void start_block() { std::memset(area_, 0xa5, spindle_host_dyn_smem_bytes); }

 private:
  unsigned char* area_;
};

// One thread: runs `body` until it returns or exits (a fault).
template <class F>
__attribute__((noinline)) static void spindle_host_thread(F& body) {
  if (setjmp(spindle_host_exit) == 0) body();
}

// Runs `body` once per thread of a 1-D grid, in order; a fault ends only
// the faulting thread. `shared_bytes`: the dynamic shared memory per block.
template <class F>
static void spindle_host_launch(unsigned int grid, unsigned int block, F body, uint32_t shared_bytes = 0u) {
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  SpindleHostDynamicShared dyn(shared_bytes);
  for (unsigned int b = 0; b < grid; ++b) {
    dyn.start_block();
    for (unsigned int t = 0; t < block; ++t) {
      blockIdx = {b, 0, 0};
      threadIdx = {t, 0, 0};
      spindle_host_thread(body);
    }
  }
}

// Runs `body` once per thread of a 1-D grid: block after block, the
// threads of a block concurrently, each its own OS thread. `shared_bytes`:
// the dynamic shared memory per block.
template <class F>
static void spindle_host_launch_concurrent(unsigned int grid, unsigned int block, F body,
                                           uint32_t shared_bytes = 0u) {
  SpindleHostDynamicShared dyn(shared_bytes);
  for (unsigned int b = 0; b < grid; ++b) {
    dyn.start_block();
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
        ctx.barrier.drop();
        ctx.warps[t / 32].drop();
      });
    }
    for (auto& th : pool) th.join();
  }
}

#endif  // SPINDLE_HOST_SHIM
