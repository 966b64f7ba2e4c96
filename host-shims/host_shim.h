// Host versions of the device-only operations spindle's generated CUDA C
// uses, so the same text compiles as host C++ and runs (ARCHITECTURE.md, "How spindle checks itself"):
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
// Faults, barriers, warps and __shared__: see host_shim_threads.h.
// The launch's dynamic shared memory (extern __shared__ on the device) is
// one 16-byte-aligned host buffer of the launcher's shared_bytes, refilled
// with a junk pattern at the start of each block (its contents start out
// undefined on a GPU). Views of different types alias it: from -O2 up,
// build with -fno-strict-aliasing.
// The generated prelude skips its own typedefs and device helpers when
// SPINDLE_HOST_SHIM is defined.
#ifndef SPINDLE_HOST_SHIM
#define SPINDLE_HOST_SHIM 1

#include "host_shim_threads.h"


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

// CUDA's limits on a 1-D launch, which the generated code relies on (it
// proves index arithmetic on thread and block indices cannot wrap).
static inline void spindle_host_check_launch(unsigned int grid, unsigned int block) {
  if (grid == 0u || grid > 0x7fffffffu || block == 0u || block > 1024u) {
    std::fprintf(stderr, "host shim: a launch of %u blocks of %u threads is outside CUDA's limits\n", grid, block);
    std::abort();
  }
}

// Runs `body` once per thread of a 1-D grid, in order; a fault ends only
// the faulting thread. `shared_bytes`: the dynamic shared memory per block.
template <class F>
static void spindle_host_launch(unsigned int grid, unsigned int block, F body, uint32_t shared_bytes = 0u) {
  spindle_host_check_launch(grid, block);
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
  spindle_host_check_launch(grid, block);
  SpindleHostDynamicShared dyn(shared_bytes);
  for (unsigned int b = 0; b < grid; ++b) {
    dyn.start_block();
    spindle_host_run_block(grid, block, b, body);
  }
}

#endif  // SPINDLE_HOST_SHIM
