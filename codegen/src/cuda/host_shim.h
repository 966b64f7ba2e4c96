// Host versions of the device-only operations spindle's generated CUDA C
// uses, so the same text compiles as host C++ and runs (DESIGN.md §7.3):
//
//   g++ -std=c++17 -include host_shim.h kernel.cu main.cpp
//
// Threads of a grid run one after another on the calling OS thread (see
// spindle_host_launch); a thread that faults leaves through longjmp, as
// PTX `exit` would. The generated prelude skips its own typedefs and
// device helpers when SPINDLE_HOST_SHIM is defined.
#ifndef SPINDLE_HOST_SHIM
#define SPINDLE_HOST_SHIM 1

#include <cmath>
#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstring>

#define __device__
// A kernel entry is opaque to its launcher, as a real launch is. Without
// this, GCC's interprocedural analysis may drop a faulting thread's
// writes, which happen just before its [[noreturn]] exit (a longjmp).
#define __global__ __attribute__((noipa))
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict

struct spindle_host_dim3 {
  unsigned int x, y, z;
};
static thread_local spindle_host_dim3 threadIdx, blockIdx, blockDim, gridDim;
// Where a faulting thread goes (spindle_exit_thread).
static thread_local jmp_buf spindle_host_exit;

#include "host_shim_scalar.h"

// Ring-loop operations (emitted for ring kernels only).
static inline void spindle_fence_system(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void spindle_nanosleep(uint32_t) {}
static inline void spindle_sync_threads(void) {}
static inline uint32_t spindle_load_acquire_sys_u32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void spindle_store_release_sys_u32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// One thread: runs `body` until it returns or exits (a fault).
template <class F>
__attribute__((noinline)) static void spindle_host_thread(F& body) {
  if (setjmp(spindle_host_exit) == 0) body();
}

// Runs `body` once per thread of a 1-D grid, in order; a fault ends only
// the faulting thread.
template <class F>
static void spindle_host_launch(unsigned int grid, unsigned int block, F body) {
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  for (unsigned int b = 0; b < grid; ++b) {
    for (unsigned int t = 0; t < block; ++t) {
      blockIdx = {b, 0, 0};
      threadIdx = {t, 0, 0};
      spindle_host_thread(body);
    }
  }
}

#endif  // SPINDLE_HOST_SHIM
