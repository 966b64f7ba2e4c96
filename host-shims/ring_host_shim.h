// Host versions of every device-only helper a generated ring kernel uses,
// with real concurrency: each CUDA thread of the block is an OS thread, and
// the kernel runs against the real Rust host side over real memory
// (ARCHITECTURE.md, "How spindle checks itself"; driven by
// ring_host_compiled.rs).
//
//   g++ -std=c++17 -shared -fPIC -pthread -include ring_host_shim.h unit.cpp
//
// - the block, its barrier and its warps come from
//   host-shims/host_shim_threads.h (spindle_host_run_block): a thread
//   that exited (a fault, or returning from the kernel) no longer counts;
//   __shared__ variables are function statics, so one block per kernel runs
//   at a time in a process (the test serialises its actors);
// - spindle_sync_threads_count is the block barrier with a count
//   (bar.red.popc);
// - system-scope acquire loads and release stores are GCC __atomic
//   builtins (ThreadSanitizer understands them); the loop's relaxed ones
//   and its fences too (under ThreadSanitizer, see below);
// - the polling lanes' ballot, shuffle and warp barrier are the warp
//   rendezvous of host_shim_warp.h;
// - spindle_nanosleep sleeps (a host that runs many kernels at once, such
//   as the CUDA stand-in in cuda-emu/, may define SPINDLE_HOST_NANOSLEEP to
//   pace them instead).
//
// The generated prelude skips its own typedefs and device helpers when
// SPINDLE_HOST_SHIM is defined, so this file must define every helper the
// prelude would (the emitter's host-shims/host_shim.h lists the
// batch ones; this one runs a whole block concurrently instead of one
// thread after another).
#ifndef SPINDLE_HOST_SHIM
#define SPINDLE_HOST_SHIM 1

#include "host_shim_threads.h"

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

// The block size a kernel is compiled for (only a hint for ptxas).
#define __launch_bounds__(...)

// Ring-loop operations.
static inline void spindle_nanosleep(uint32_t ns) {
#if defined(SPINDLE_HOST_NANOSLEEP)
  SPINDLE_HOST_NANOSLEEP(ns);
#else
  if (ns < 1000u) std::this_thread::yield();
  else std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
#endif
}
static inline uint32_t spindle_sync_threads_count(uint32_t pred) {
  return spindle_host_block_of("the ring loop's barrier")->sync(spindle_host_linear_tid(), pred);
}
static inline uint32_t spindle_load_acquire_sys_u32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void spindle_store_release_sys_u32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// The loop's strong accesses without ordering of their own, and the fence
// that orders them. ThreadSanitizer does not model fences: under it the
// loads acquire and the stores release (stronger than the device code,
// which orders them with the fence), so it still sees every
// happens-before the fences give.
#if defined(__SANITIZE_THREAD__)
static inline uint32_t spindle_ring_load_relaxed_u32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void spindle_ring_store_relaxed_u32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
#else
static inline uint32_t spindle_ring_load_relaxed_u32(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void spindle_ring_store_relaxed_u32(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
#endif
static inline void spindle_ring_fence_acq_rel(void) { spindle_host_fence(); }
// Payload words: plain copies (the protocol orders them).
static inline uint64_t spindle_ring_load_word(const void* p) { uint64_t v; std::memcpy(&v, p, 8); return v; }
static inline uint64_t spindle_ring_load_word_sys(const void* p) { return spindle_ring_load_word(p); }
static inline void spindle_ring_store_word(void* p, uint64_t v) { std::memcpy(p, &v, 8); }
// Warp operations of the polling lanes (host_shim_warp.h: a rendezvous of
// the warp's live members).
static inline uint32_t spindle_ring_ballot(uint32_t mask, bool p) { return spindle_vote_ballot(mask, p); }
static inline uint32_t spindle_ring_shfl(uint32_t mask, uint32_t v, uint32_t lane) { return spindle_shfl_u32(mask, v, lane); }
static inline void spindle_ring_sync_warp(uint32_t mask) { spindle_sync_warp_mask(mask); }
static inline uint64_t spindle_ring_clock_ns(void) {
  return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
#define SPINDLE_RING_UNROLL

#endif  // SPINDLE_HOST_SHIM
