// Host versions of the generated prelude's scalar helpers, shared by the
// batch shim (host_shim.h) and the ring shim (host-shims/ring_host_shim.h).
// The including file declares `spindle_host_exit` (where a faulting thread
// longjmps to) and includes <csetjmp>, <cstdint> and <cstring> first.
#ifndef SPINDLE_HOST_SHIM_SCALAR_H
#define SPINDLE_HOST_SHIM_SCALAR_H

static inline uint32_t spindle_atomic_cas_u32(uint32_t* p, uint32_t expected, uint32_t desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}
[[noreturn]] static inline void spindle_exit_thread(void) { longjmp(spindle_host_exit, 1); }
static inline uint32_t spindle_f32_bits(float x) { uint32_t b; std::memcpy(&b, &x, 4); return b; }
static inline float spindle_f32_from_bits(uint32_t b) { float x; std::memcpy(&x, &b, 4); return x; }
static inline uint64_t spindle_f64_bits(double x) { uint64_t b; std::memcpy(&b, &x, 8); return b; }
static inline double spindle_f64_from_bits(uint64_t b) { double x; std::memcpy(&x, &b, 8); return x; }
static inline uint32_t spindle_popc32(uint32_t x) { return (uint32_t)__builtin_popcount(x); }
static inline uint32_t spindle_popc64(uint64_t x) { return (uint32_t)__builtin_popcountll(x); }
static inline uint32_t spindle_clz32(uint32_t x) { return x ? (uint32_t)__builtin_clz(x) : 32u; }
static inline uint32_t spindle_clz64(uint64_t x) { return x ? (uint32_t)__builtin_clzll(x) : 64u; }
static inline uint32_t spindle_ctz32(uint32_t x) { return x ? (uint32_t)__builtin_ctz(x) : 32u; }
static inline uint32_t spindle_ctz64(uint64_t x) { return x ? (uint32_t)__builtin_ctzll(x) : 64u; }
static inline uint32_t spindle_brev32(uint32_t x) {
  uint32_t r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
static inline uint64_t spindle_brev64(uint64_t x) {
  return ((uint64_t)spindle_brev32((uint32_t)x) << 32) | spindle_brev32((uint32_t)(x >> 32));
}
static inline uint32_t spindle_bswap32(uint32_t x) { return __builtin_bswap32(x); }
static inline uint64_t spindle_bswap64(uint64_t x) { return __builtin_bswap64(x); }

// Fences the emitter asks for on demand (the system fence is each shim's own).
static inline void spindle_fence_device(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void spindle_fence_block(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// Atomics (codegen/src/cuda/atomic.rs): sequentially consistent GCC
// builtins, as strong as a device-scope atomic. Integer arithmetic goes
// through the unsigned type, so it wraps as the IR says; min/max and float
// add/sub are compare-and-swap loops (on the bits, for floats).
#define SPINDLE_HOST_ATOMIC_RMW(name, t, T, U, builtin) \
  static inline T spindle_atomic_##name##_##t(T* p, T v) { return (T)builtin((U*)p, (U)v, __ATOMIC_SEQ_CST); }
#define SPINDLE_HOST_ATOMIC_INT(t, T, U) \
  SPINDLE_HOST_ATOMIC_RMW(add, t, T, U, __atomic_fetch_add) \
  SPINDLE_HOST_ATOMIC_RMW(sub, t, T, U, __atomic_fetch_sub) \
  SPINDLE_HOST_ATOMIC_RMW(and, t, T, U, __atomic_fetch_and) \
  SPINDLE_HOST_ATOMIC_RMW(or, t, T, U, __atomic_fetch_or) \
  SPINDLE_HOST_ATOMIC_RMW(xor, t, T, U, __atomic_fetch_xor) \
  SPINDLE_HOST_ATOMIC_RMW(exchange, t, T, U, __atomic_exchange_n) \
  static inline T spindle_atomic_min_##t(T* p, T v) { \
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST); \
    while (v < old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} \
    return old; \
  } \
  static inline T spindle_atomic_max_##t(T* p, T v) { \
    T old = __atomic_load_n(p, __ATOMIC_SEQ_CST); \
    while (v > old && !__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} \
    return old; \
  }
SPINDLE_HOST_ATOMIC_INT(i32, int32_t, uint32_t)
SPINDLE_HOST_ATOMIC_INT(u32, uint32_t, uint32_t)
SPINDLE_HOST_ATOMIC_INT(i64, int64_t, uint64_t)
SPINDLE_HOST_ATOMIC_INT(u64, uint64_t, uint64_t)
static inline int32_t spindle_atomic_cas_i32(int32_t* p, int32_t current, int32_t desired) {
  __atomic_compare_exchange_n(p, &current, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return current;
}
static inline int64_t spindle_atomic_cas_i64(int64_t* p, int64_t current, int64_t desired) {
  __atomic_compare_exchange_n(p, &current, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return current;
}
static inline uint64_t spindle_atomic_cas_u64(uint64_t* p, uint64_t current, uint64_t desired) {
  __atomic_compare_exchange_n(p, &current, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return current;
}
#define SPINDLE_HOST_ATOMIC_FLOAT(t, T, B, to_bits, from_bits) \
  static inline T spindle_atomic_add_##t(T* p, T v) { \
    B old = __atomic_load_n((B*)p, __ATOMIC_SEQ_CST); \
    while (!__atomic_compare_exchange_n((B*)p, &old, to_bits(from_bits(old) + v), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} \
    return from_bits(old); \
  } \
  static inline T spindle_atomic_sub_##t(T* p, T v) { \
    B old = __atomic_load_n((B*)p, __ATOMIC_SEQ_CST); \
    while (!__atomic_compare_exchange_n((B*)p, &old, to_bits(from_bits(old) - v), false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {} \
    return from_bits(old); \
  } \
  static inline T spindle_atomic_exchange_##t(T* p, T v) { \
    return from_bits(__atomic_exchange_n((B*)p, to_bits(v), __ATOMIC_SEQ_CST)); \
  }
SPINDLE_HOST_ATOMIC_FLOAT(f32, float, uint32_t, spindle_f32_bits, spindle_f32_from_bits)
SPINDLE_HOST_ATOMIC_FLOAT(f64, double, uint64_t, spindle_f64_bits, spindle_f64_from_bits)

#endif
