// Host versions of the warp operations of spindle's generated CUDA C
// (codegen/src/cuda/collective.rs), for a shim that runs the threads of a
// block as concurrent OS threads (host_shim.h; a ring shim can use it too).
//
// The including file has included <condition_variable>, <cstdint>,
// <cstdio>, <cstdlib>, <cstring> and <mutex>, declared `threadIdx` and
// `blockDim`, and defines, after including this header,
//
//   static inline SpindleHostWarp* spindle_host_current_warp(const char* what);
//
// returning the calling thread's warp: one SpindleHostWarp per 32 threads
// of the block in linear order, set_members(n) to the threads it has, and
// drop() called by each thread that finishes (returns or faults).
#ifndef SPINDLE_HOST_SHIM_WARP_H
#define SPINDLE_HOST_SHIM_WARP_H

// How a member waits for the rest (see host_shim_barrier.h).
#ifndef SPINDLE_HOST_WAIT
#define SPINDLE_HOST_WAIT(cv, lock, done) (cv).wait((lock), [&] { return (done); })
#endif

// A warp: every member that has not finished arrives with a 64-bit value;
// the last one releases them all, and each leaves with every lane's value
// and the mask of the lanes that arrived (the warp operation's members).
// Two rounds alternate, so a member that leaves early and arrives at the
// next operation cannot overwrite values a slower one still reads.
class SpindleHostWarp {
 public:
  void set_members(unsigned int n) { expected_ = n; }

  uint32_t exchange(unsigned int lane, uint64_t v, uint64_t* out) {
    std::unique_lock<std::mutex> lock(m_);
    const unsigned long long phase = phase_;
    Round& r = rounds_[phase & 1];
    if (arrived_ == 0) r.mask = 0;
    r.values[lane] = v;
    r.mask |= 1u << lane;
    arrived_ += 1;
    if (arrived_ == expected_) {
      release();
    } else {
      SPINDLE_HOST_WAIT(cv_, lock, phase_ != phase);
    }
    if (out) std::memcpy(out, r.values, sizeof r.values);
    return r.mask;
  }

  void drop() {
    std::unique_lock<std::mutex> lock(m_);
    expected_ -= 1;
    if (arrived_ > 0 && arrived_ == expected_) release();
  }

  // The calling member waits at a block barrier: until the barrier opens
  // it takes part in no warp operation, so the rest of its warp (lanes
  // that branched around the barrier into a warp operation of their own,
  // as cuda-samples' shfl_scan does) meets without it.
  void suspend() {
    std::unique_lock<std::mutex> lock(m_);
    expected_ -= 1;
    suspended_ += 1;
    if (arrived_ > 0 && arrived_ == expected_) release();
  }

  // The block barrier opened: every suspended member is back, all at once
  // (called before any of them is woken, so none meets a warp short of the
  // others).
  void resume_all() {
    std::unique_lock<std::mutex> lock(m_);
    expected_ += suspended_;
    suspended_ = 0;
  }

 private:
  struct Round {
    uint64_t values[32] = {};
    uint32_t mask = 0;
  };
  void release() {
    arrived_ = 0;
    phase_ += 1;
    cv_.notify_all();
  }

  std::mutex m_;
  std::condition_variable cv_;
  unsigned int expected_ = 0;
  unsigned int arrived_ = 0;
  unsigned int suspended_ = 0;
  unsigned long long phase_ = 0;
  Round rounds_[2];
};

static inline SpindleHostWarp* spindle_host_current_warp(const char* what);

// Arrives at this thread's warp with `v`; returns the members' mask.
static inline uint32_t spindle_host_warp_exchange(const char* what, uint64_t v, uint64_t* out) {
  const uint32_t t = threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y;
  return spindle_host_current_warp(what)->exchange(t % 32, v, out);
}

// The members of the operation that follows (on the host, a rendezvous of
// its own: every member of the warp reaches it, and only members do).
static inline uint32_t spindle_active_mask(void) { return spindle_host_warp_exchange("a warp operation", 0, nullptr); }

// Every warp operation checks that its members are those of the
// spindle_active_mask() before it: they differ only in divergent code.
static inline void spindle_host_same_members(uint32_t mask, uint32_t got, const char* what) {
  if (mask != got) {
    std::fprintf(stderr, "host shim: %s reached by lanes %#x, the mask says %#x\n", what, got, mask);
    std::abort();
  }
}

static inline void spindle_sync_warp_mask(uint32_t mask) {
  spindle_host_same_members(mask, spindle_host_warp_exchange("sync_warp", 0, nullptr), "sync_warp");
}

static inline uint64_t spindle_host_shfl(uint32_t mask, uint64_t v, uint32_t src) {
  uint64_t all[32];
  const uint32_t got = spindle_host_warp_exchange("warp_shuffle", v, all);
  spindle_host_same_members(mask, got, "warp_shuffle");
  if (src >= 32 || !((got >> src) & 1u)) {
    std::fprintf(stderr, "host shim: shuffle from lane %u, not a member of %#x\n", src, got);
    std::abort();
  }
  return all[src];
}
static inline uint32_t spindle_shfl_u32(uint32_t mask, uint32_t v, uint32_t src) { return (uint32_t)spindle_host_shfl(mask, v, src); }
static inline uint64_t spindle_shfl_u64(uint32_t mask, uint64_t v, uint32_t src) { return spindle_host_shfl(mask, v, src); }

static inline uint32_t spindle_vote_ballot(uint32_t mask, bool p) {
  uint64_t all[32];
  const uint32_t got = spindle_host_warp_exchange("a warp vote", p ? 1u : 0u, all);
  spindle_host_same_members(mask, got, "a warp vote");
  uint32_t ballot = 0;
  for (unsigned int l = 0; l < 32; ++l) {
    if (((got >> l) & 1u) && all[l]) ballot |= 1u << l;
  }
  return ballot;
}
static inline bool spindle_vote_all(uint32_t mask, bool p) { return spindle_vote_ballot(mask, p) == mask; }
static inline bool spindle_vote_any(uint32_t mask, bool p) { return spindle_vote_ballot(mask, p) != 0u; }

#endif
