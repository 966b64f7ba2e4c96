// The device side of spindle's CUDA stand-in (cuda-emu/README.md): the NVRTC
// stand-in compiles every program it is given a second time, as host C++,
// with this file forced in first (g++ -include), into a shared library that
// the driver stand-in loads in place of the CUBIN.
//
// It includes spindle's host shims (blocks of real OS threads, real
// barriers, warps and system-scope atomics):
// - host-shims/ring_host_shim.h for ring kernels (SPINDLE_EMU_RING is
//   defined on the command line),
// - host-shims/host_shim.h for everything else,
// adds the CUDA built-ins a hand-written kernel may use, and the entry
// points the driver calls (all `extern "C"`, the only exported symbols):
//
//   spindle_emu_thunk_<entry>(void** params)     one thread of the kernel
//   spindle_emu_params_<entry>(sizes, aligns)    its C parameter list
//   spindle_emu_run_block_serial(launch, block)  a block, thread after thread
//   spindle_emu_block_begin / _thread / _end     a block of concurrent threads
//
// The driver gives each concurrently running block its own loaded copy of
// the library, so `__shared__` variables (function statics) and the
// dynamic shared area belong to one block at a time. Build flags that make
// this hold: -fvisibility=hidden and -fno-gnu-unique (no symbol of one copy
// binds to another copy's).
#ifndef SPINDLE_EMU_DEVICE_H
#define SPINDLE_EMU_DEVICE_H

// Sleeps of polling kernels go through the driver, which paces them by how
// many persistent kernels run (see spindle_emu_set_pacer below).
static void spindle_emu_nanosleep(unsigned int ns);
#define SPINDLE_HOST_NANOSLEEP(ns) spindle_emu_nanosleep(ns)

// Barriers and warp rendezvous wait by yielding to the block's other
// threads when those are fibers on this OS thread (spindle_emu_run_block_
// fibers below), else on their condition variable.
static bool spindle_emu_in_fibers(void);
static void spindle_emu_fiber_yield(void);
#define SPINDLE_HOST_WAIT(cv, lock, done)            \
  do {                                               \
    if (spindle_emu_in_fibers()) {                   \
      while (!(done)) {                              \
        (lock).unlock();                             \
        spindle_emu_fiber_yield();                   \
        (lock).lock();                               \
      }                                              \
    } else {                                         \
      (cv).wait((lock), [&] { return (done); });     \
    }                                                \
  } while (0)

#if defined(SPINDLE_EMU_RING)
#include "host-shims/ring_host_shim.h"
#else
#include "host-shims/host_shim.h"
#endif

#include <sys/mman.h>
#include <type_traits>
#include <ucontext.h>
#include <utility>

#define SPINDLE_EMU_EXPORT extern "C" __attribute__((visibility("default")))

// Device-code spellings host C++ lacks.
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __host__
#define __constant__ static

// ------------------------------------------------ CUDA built-ins
// For hand-written kernels; spindle's generated code uses the shims'
// spindle_* helpers instead. Atomics are sequentially consistent GCC
// builtins (at least as strong as the device-scope atomics they stand for).
static inline void __syncthreads(void) { spindle_sync_threads(); }
static inline void __threadfence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_system(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __nanosleep(unsigned int ns) { spindle_emu_nanosleep(ns); }
template <class T>
static inline T atomicCAS(T* p, T expected, T desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}
template <class T>
static inline T atomicExch(T* p, T v) {
  if constexpr (std::is_floating_point<T>::value) {
    using B = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    B bits;
    std::memcpy(&bits, &v, sizeof bits);
    B old = __atomic_exchange_n(reinterpret_cast<B*>(p), bits, __ATOMIC_SEQ_CST);
    T out;
    std::memcpy(&out, &old, sizeof out);
    return out;
  } else {
    return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
  }
}
template <class T>
static inline T atomicAdd(T* p, T v) {
  if constexpr (std::is_floating_point<T>::value) {
    using B = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    B* word = reinterpret_cast<B*>(p);
    B old = __atomic_load_n(word, __ATOMIC_SEQ_CST);
    for (;;) {
      T cur, next;
      std::memcpy(&cur, &old, sizeof cur);
      next = cur + v;
      B bits;
      std::memcpy(&bits, &next, sizeof bits);
      if (__atomic_compare_exchange_n(word, &old, bits, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return cur;
    }
  } else {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
  }
}
template <class T>
static inline T atomicSub(T* p, T v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <class T>
static inline T atomicAnd(T* p, T v) { return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST); }
template <class T>
static inline T atomicOr(T* p, T v) { return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST); }
template <class T>
static inline T atomicXor(T* p, T v) { return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST); }
template <class T>
static inline T atomicMin(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
  return old;
}
template <class T>
static inline T atomicMax(T* p, T v) {
  T old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
  while (v > old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
  return old;
}
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned int)x) : 32; }
static inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned int __brev(unsigned int x) { return spindle_brev32(x); }
static inline unsigned long long __brevll(unsigned long long x) { return spindle_brev64(x); }
static inline unsigned int __float_as_uint(float x) { return spindle_f32_bits(x); }
static inline float __uint_as_float(unsigned int b) { return spindle_f32_from_bits(b); }
static inline int __float_as_int(float x) { return (int)spindle_f32_bits(x); }
static inline float __int_as_float(int b) { return spindle_f32_from_bits((uint32_t)b); }
static inline long long __double_as_longlong(double x) { return (long long)spindle_f64_bits(x); }
static inline double __longlong_as_double(long long b) { return spindle_f64_from_bits((uint64_t)b); }

// The block's dynamic shared area: what `extern __shared__ T name[];` in a
// hand-written kernel names (the NVRTC stand-in rewrites the declaration).
#if !defined(SPINDLE_EMU_RING)
static inline unsigned char* spindle_emu_dynamic_shared(void) { return spindle_dyn_smem; }
#else
static inline unsigned char* spindle_emu_dynamic_shared(void) { return nullptr; }
#endif

// ------------------------------------------------ what the driver calls

// The driver's sleep for polling kernels (set right after loading; until
// then a plain sleep).
static void (*spindle_emu_pacer)(unsigned int) = nullptr;
SPINDLE_EMU_EXPORT void spindle_emu_set_pacer(void (*pacer)(unsigned int)) { spindle_emu_pacer = pacer; }
static void spindle_emu_nanosleep(unsigned int ns) {
  if (spindle_emu_pacer) {
    spindle_emu_pacer(ns);
  } else if (ns < 1000u) {
    std::this_thread::yield();
  } else {
    std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
  }
}

// One launch as the driver describes it (cuda-emu/src/driver/kernel.rs
// has the same layout).
struct SpindleEmuLaunch {
  void (*thunk)(void**);
  void** params;
  uint32_t grid[3];
  uint32_t block[3];
  uint32_t shared_bytes;
  uint32_t _pad;
};

namespace spindle_emu {

inline uint32_t threads_of(const SpindleEmuLaunch* l) { return l->block[0] * l->block[1] * l->block[2]; }

// gridDim, blockDim and blockIdx of linear block `b` (x fastest).
inline void enter_block(const SpindleEmuLaunch* l, uint32_t b) {
  gridDim = {l->grid[0], l->grid[1], l->grid[2]};
  blockDim = {l->block[0], l->block[1], l->block[2]};
  blockIdx = {b % l->grid[0], (b / l->grid[0]) % l->grid[1], b / (l->grid[0] * l->grid[1])};
}

// threadIdx of linear thread `t` (x fastest, as warps are formed).
inline void enter_thread(const SpindleEmuLaunch* l, uint32_t t) {
  threadIdx = {t % l->block[0], (t / l->block[0]) % l->block[1], t / (l->block[0] * l->block[1])};
}

#if !defined(SPINDLE_EMU_RING)
// This copy's dynamic shared area: junk at the start of every block, as a
// GPU promises nothing about its contents.
static unsigned char* dyn_area = nullptr;
static uint32_t dyn_capacity = 0u;
inline void enter_dynamic_shared(uint32_t bytes) {
  if (bytes > dyn_capacity || dyn_area == nullptr) {
    if (dyn_area) ::operator delete(dyn_area, std::align_val_t(16));
    dyn_area = static_cast<unsigned char*>(::operator new(bytes ? bytes : 1u, std::align_val_t(16)));
    dyn_capacity = bytes;
  }
  std::memset(dyn_area, 0xa5, bytes);
  spindle_dyn_smem = dyn_area;
  spindle_host_dyn_smem_bytes = bytes;
}
#else
inline void enter_dynamic_shared(uint32_t) {}
#endif

template <class... A>
struct Entry {
  static constexpr uint32_t count = sizeof...(A);
  static constexpr uint32_t sizes[sizeof...(A) + 1] = {(uint32_t)sizeof(A)..., 0u};
  static constexpr uint32_t aligns[sizeof...(A) + 1] = {(uint32_t)alignof(A)..., 0u};
  template <size_t... I>
  static void call(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_cv<A>::type*>(p[I])...);
  }
};
template <class... A>
Entry<A...> entry_of(void (*)(A...));

}  // namespace spindle_emu

// One thread of entry `name`, and its parameter list: appended by the NVRTC
// stand-in for every `extern "C" __global__` function of the program.
#define SPINDLE_EMU_ENTRY(name)                                                          \
  SPINDLE_EMU_EXPORT void spindle_emu_thunk_##name(void** params) {                      \
    using E = decltype(spindle_emu::entry_of(&name));                                    \
    E::call(&name, params, std::make_index_sequence<E::count>{});                        \
  }                                                                                      \
  SPINDLE_EMU_EXPORT uint32_t spindle_emu_params_##name(const uint32_t** sizes,          \
                                                        const uint32_t** aligns) {       \
    using E = decltype(spindle_emu::entry_of(&name));                                    \
    *sizes = E::sizes;                                                                   \
    *aligns = E::aligns;                                                                 \
    return E::count;                                                                     \
  }

// Block `b`, its threads one after another on the calling OS thread: for
// kernels with no barrier, warp operation or shared memory (the driver
// checks the program text), whose threads cannot wait for each other.
SPINDLE_EMU_EXPORT void spindle_emu_run_block_serial(const SpindleEmuLaunch* l, uint32_t b) {
  spindle_emu::enter_block(l, b);
  spindle_host_block = nullptr;
  auto body = [l] { l->thunk(l->params); };
  const uint32_t n = spindle_emu::threads_of(l);
  for (uint32_t t = 0; t < n; ++t) {
    spindle_emu::enter_thread(l, t);
    spindle_host_thread(body);
  }
}

// Block `b` as concurrent threads: begin, then every thread (each on its
// own OS thread, all at once), then end.
SPINDLE_EMU_EXPORT void* spindle_emu_block_begin(const SpindleEmuLaunch* l) {
  spindle_emu::enter_dynamic_shared(l->shared_bytes);
  return new SpindleHostBlock(spindle_emu::threads_of(l));
}

SPINDLE_EMU_EXPORT void spindle_emu_block_thread(void* block, const SpindleEmuLaunch* l, uint32_t b, uint32_t t) {
  SpindleHostBlock* ctx = static_cast<SpindleHostBlock*>(block);
  spindle_emu::enter_block(l, b);
  spindle_emu::enter_thread(l, t);
  spindle_host_block = ctx;
  auto body = [l] { l->thunk(l->params); };
  spindle_host_thread(body);
  // Finished (returned or faulted): no longer a member of anything.
  ctx->finish(t);
  spindle_host_block = nullptr;
}

SPINDLE_EMU_EXPORT void spindle_emu_block_end(void* block) { delete static_cast<SpindleHostBlock*>(block); }

// ------------------------------------------------ a block as fibers
// The block's threads as fibers (ucontext) on the calling OS thread: each
// runs until it waits at a barrier or warp operation (or returns), then the
// next one runs. The per-thread state the shims keep in thread_locals
// (threadIdx, and the fault exit's jmp_buf) is switched with the fiber. A
// thread that waits for another without a barrier or warp operation (a
// spin on memory) is never preempted: such kernels need the OS-thread mode.
namespace spindle_emu {

struct Fiber {
  ucontext_t ctx;
  jmp_buf exit;
  spindle_host_dim3 tid;
  bool done;
};

struct FiberBlock {
  std::vector<Fiber> fibers;
  ucontext_t main;
  uint32_t current;
  uint32_t live;
  const SpindleEmuLaunch* launch;
  SpindleHostBlock* block;
};

static thread_local FiberBlock* fiber_block = nullptr;

// This copy's fiber stacks (one block runs per copy at a time).
static std::vector<unsigned char*> stacks;
static size_t stack_size = 0;

inline void switch_to(FiberBlock* fb, uint32_t next) {
  Fiber& to = fb->fibers[next];
  fb->current = next;
  threadIdx = to.tid;
  std::memcpy(spindle_host_exit, to.exit, sizeof(jmp_buf));
}

inline uint32_t next_live(FiberBlock* fb, uint32_t from) {
  const uint32_t n = (uint32_t)fb->fibers.size();
  uint32_t next = from;
  do {
    next = (next + 1) % n;
  } while (fb->fibers[next].done && next != from);
  return next;
}

static void fiber_main() {
  FiberBlock* fb = fiber_block;
  const uint32_t t = fb->current;
  const SpindleEmuLaunch* l = fb->launch;
  auto body = [l] { l->thunk(l->params); };
  spindle_host_thread(body);
  fb->block->finish(t);
  fb->fibers[t].done = true;
  fb->live -= 1;
  if (fb->live == 0) {
    setcontext(&fb->main);
  }
  const uint32_t next = next_live(fb, t);
  switch_to(fb, next);
  setcontext(&fb->fibers[next].ctx);
}

}  // namespace spindle_emu

static bool spindle_emu_in_fibers(void) { return spindle_emu::fiber_block != nullptr; }

static void spindle_emu_fiber_yield(void) {
  spindle_emu::FiberBlock* fb = spindle_emu::fiber_block;
  const uint32_t me = fb->current;
  const uint32_t next = spindle_emu::next_live(fb, me);
  if (next == me) return;
  spindle_emu::Fiber& self = fb->fibers[me];
  self.tid = threadIdx;
  std::memcpy(self.exit, spindle_host_exit, sizeof(jmp_buf));
  spindle_emu::switch_to(fb, next);
  swapcontext(&self.ctx, &fb->fibers[next].ctx);
}

// Block `b` as fibers with stacks of `stack_bytes`; returns 0, or -1 when
// the stacks cannot be mapped.
SPINDLE_EMU_EXPORT int spindle_emu_run_block_fibers(const SpindleEmuLaunch* l, uint32_t b, uint32_t stack_bytes) {
  using namespace spindle_emu;
  const uint32_t n = threads_of(l);
  if (stack_bytes != stack_size) {
    for (unsigned char* s : stacks) munmap(s, stack_size);
    stacks.clear();
    stack_size = stack_bytes;
  }
  while (stacks.size() < n) {
    void* s = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (s == MAP_FAILED) return -1;
    mprotect(s, 4096, PROT_NONE);  // a guard page below the stack
    stacks.push_back(static_cast<unsigned char*>(s));
  }
  enter_dynamic_shared(l->shared_bytes);
  SpindleHostBlock block(n);
  enter_block(l, b);
  spindle_host_block = &block;
  FiberBlock fb;
  fb.fibers.resize(n);
  fb.live = n;
  fb.launch = l;
  fb.block = &block;
  // One getcontext (a system call) for all: each fiber starts from a copy.
  // A copy may still point at `base` for its floating-point state until
  // its first switch saves its own: `base` outlives every fiber here.
  ucontext_t base;
  getcontext(&base);
  for (uint32_t t = 0; t < n; ++t) {
    Fiber& f = fb.fibers[t];
    f.done = false;
    f.ctx = base;
    f.ctx.uc_stack.ss_sp = stacks[t];
    f.ctx.uc_stack.ss_size = stack_size;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, fiber_main, 0);
    enter_thread(l, t);
    f.tid = threadIdx;
  }
  fiber_block = &fb;
  switch_to(&fb, 0);
  swapcontext(&fb.main, &fb.fibers[0].ctx);
  fiber_block = nullptr;
  spindle_host_block = nullptr;
  return 0;
}

#endif  // SPINDLE_EMU_DEVICE_H
