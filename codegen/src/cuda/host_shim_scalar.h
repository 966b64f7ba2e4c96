// Host versions of the generated prelude's scalar helpers, shared by the
// batch shim (host_shim.h) and the ring shim (runtime/tests/ring_host_shim.h).
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

#endif
