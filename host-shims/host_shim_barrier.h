// A CTA barrier for host shims that run the threads of a block as
// concurrent OS threads (host_shim.h, and the runtime's ring shim).
//
// It waits for every thread of the block that has not finished, with PTX
// semantics: drop() takes a thread that exited (a fault, or returning from
// the kernel) out, and releases a barrier it was the last one missing from.
// arrive_and_wait(pred) also reports how many threads arrived with a true
// predicate (bar.red.popc, __syncthreads_count). `on_release` runs under the
// barrier's lock when the last thread arrives (or the last one missing
// drops out), before any waiting thread is woken.
//
// The including file has included <condition_variable> and <mutex>.
#ifndef SPINDLE_HOST_SHIM_BARRIER_H
#define SPINDLE_HOST_SHIM_BARRIER_H

// How a thread waits until `done` holds, holding `lock` of `cv`: on the
// condition variable. A host that runs the threads of a block as fibers on
// one OS thread (the CUDA stand-in, cuda-emu/) defines it to yield to the
// block's other threads instead.
#ifndef SPINDLE_HOST_WAIT
#define SPINDLE_HOST_WAIT(cv, lock, done) (cv).wait((lock), [&] { return (done); })
#endif

class SpindleHostBarrier {
 public:
  explicit SpindleHostBarrier(unsigned int threads) : expected_(threads) {}

  unsigned int arrive_and_wait(unsigned int pred = 1u) {
    return arrive_and_wait(pred, [] {}, [] {});
  }

  // As above; `on_arrive` runs under the lock as the thread arrives.
  template <class A, class R>
  unsigned int arrive_and_wait(unsigned int pred, A on_arrive, R on_release) {
    std::unique_lock<std::mutex> lock(m_);
    const unsigned long long phase = phase_;
    on_arrive();
    arrived_ += 1;
    count_ += pred ? 1u : 0u;
    if (arrived_ == expected_) {
      on_release();
      release();
      return last_count_;
    }
    SPINDLE_HOST_WAIT(cv_, lock, phase_ != phase);
    return last_count_;
  }

  // The calling thread finished: it no longer takes part.
  void drop() {
    drop([] {});
  }
  template <class R>
  void drop(R on_release) {
    std::unique_lock<std::mutex> lock(m_);
    expected_ -= 1;
    if (arrived_ > 0 && arrived_ == expected_) {
      on_release();
      release();
    }
  }

 private:
  void release() {
    last_count_ = count_;
    arrived_ = 0;
    count_ = 0;
    phase_ += 1;
    cv_.notify_all();
  }

  std::mutex m_;
  std::condition_variable cv_;
  unsigned int expected_;
  unsigned int arrived_ = 0;
  unsigned int count_ = 0;
  unsigned int last_count_ = 0;
  unsigned long long phase_ = 0;
};

#endif
