//! The text of the persistent loop the ring emitter wraps around a
//! handler (see the module doc of [`super::emit`] for what it does and
//! why each step is ordered as it is), specialised to one kernel's types
//! and [`RingPlan`].

use std::fmt::Write as _;

use super::plan::{RingPlan, CONTROL_BYTES};
use crate::cuda::RingHandler;

/// What must precede the handler's unit: the fault hook's declaration,
/// so that `spindle_fault_exit` calls it.
pub(crate) const BEFORE_HANDLER: &str = "\
// The ring loop's fault hook (defined with the loop below): a faulting handler
// thread publishes the replies its batch has finished before it stops.
__device__ void spindle_ring_on_fault(void);
#define SPINDLE_ON_FAULT(kind, site, index, len) spindle_ring_on_fault()
";

/// The device side of the protocol for this kernel.
pub(crate) fn device_loop(entry: &str, h: &RingHandler, plan: &RingPlan) -> String {
    let hooks = BatchHooks {
        check_abort: "spindle_ring_check_abort",
        leave: "",
        exit: "spindle_ring_exit(spindle_state, spindle_state_out, ",
    };
    executor_text(
        "ring executor (spindle_codegen::ring::emit)",
        LOOP,
        &hooks,
        entry,
        h,
        plan,
    )
}

/// What a loop's batch ([`BATCH`]) calls where the single actor and a
/// group differ.
pub(crate) struct BatchHooks<'a> {
    /// Thread 0's check for an abort: `uint32_t f(uint64_t* last_read)`.
    pub check_abort: &'a str,
    /// A statement each thread runs when another thread of the block left
    /// on a fault, before it returns too (empty: none).
    pub leave: &'a str,
    /// The start of thread 0's exit call, completed by the exit code and
    /// `);`.
    pub exit: &'a str,
}

/// An executor's CUDA C: the plan constants, [`COMMON`], then `template`
/// with [`BATCH`] (made with `hooks`) in place of its `$BATCH` line, and
/// `$S`, `$M`, `$R`, `$HANDLER`, `$ENTRY` replaced.
pub(crate) fn executor_text(
    title: &str,
    template: &str,
    hooks: &BatchHooks<'_>,
    entry: &str,
    h: &RingHandler,
    plan: &RingPlan,
) -> String {
    let batch = BATCH
        .replace("$CHECK_ABORT", hooks.check_abort)
        .replace("        $LEAVE\n", &leave_line(hooks.leave))
        .replace("$EXIT(", hooks.exit);
    let mut out = format!("\n// ---- {title}\n");
    out.push_str(&plan_defines(plan));
    out.push_str(&common_text(h));
    out.push_str(
        &template
            .replace("$BATCH\n", &batch)
            .replace("$ENTRY", entry)
            .replace("$HANDLER", &h.handler)
            .replace("$S", &h.state_type)
            .replace("$M", &h.msg_type)
            .replace("$R", &h.reply_type),
    );
    out
}

/// `statement` as a line of [`BATCH`]'s leave branch (nothing when empty).
fn leave_line(statement: &str) -> String {
    if statement.is_empty() {
        String::new()
    } else {
        format!("        {statement}\n")
    }
}

/// The handling of one batch of `spindle_n` messages, the same in the single
/// actor's loop and a group's (see [`BatchHooks`]): stage the messages, run
/// the handler on each (thread 0's return value is the reply, built where
/// it goes), stop on a fault or an abort, stage the replies back.
const BATCH: &str = r#"#if SPINDLE_RING_MSG_STAGED
    spindle_ring_fetch(spindle_t, spindle_n);
    // The staged messages are complete before any handler reads them.
    spindle_sync_threads();
#endif
    uint64_t spindle_stop_read = 0u;
    if (spindle_t == 0u) spindle_stop_read = spindle_ring_clock_ns();
    for (uint32_t spindle_i = 0u; spindle_i < spindle_n; ++spindle_i) {
      if (spindle_t < SPINDLE_RING_THREADS) {
        spindle_ring_sh.at[spindle_t] = (uint8_t)spindle_i;
        const $M& spindle_msg = *spindle_ring_msg(spindle_i);
        if (spindle_t == 0u) {
          // Thread 0's return value is the reply: built where it goes.
          new (spindle_ring_reply_at(spindle_i), SpindleRingPlace{}) $R($HANDLER(spindle_fault, spindle_state, spindle_msg));
          spindle_ring_sh.abort[spindle_i & 1u] = $CHECK_ABORT(&spindle_stop_read);
        } else {
          (void)$HANDLER(spindle_fault, spindle_state, spindle_msg);
        }
      }
      // Every live thread is done with message i; a thread that faulted has
      // left (after recording the fault and publishing the batch's earlier
      // replies) and is not counted: the others leave too.
      if (spindle_sync_threads_count(1u) != SPINDLE_RING_BLOCK) {
        $LEAVE
        return;
      }
      // abort[i & 1] was written before this barrier; thread 0 writes it
      // again only after the next one, when every thread has read it.
      if (spindle_ring_sh.abort[spindle_i & 1u] != SPINDLE_RING_RUN) {
        if (spindle_t == 0u) $EXIT(SPINDLE_RING_EXIT_ABORTED);
        return;
      }
    }
#if SPINDLE_RING_REPLY_STAGED
    spindle_ring_copy_replies(spindle_t, SPINDLE_RING_BLOCK, spindle_n);
    // Every reply is in its slot before thread 0's release.
    spindle_sync_threads();
#endif
"#;

/// The `SPINDLE_RING_*` plan constants of `plan`, as `#define`s.
pub(crate) fn plan_defines(plan: &RingPlan) -> String {
    let mut out = String::new();
    let b = |v: bool| u32::from(v);
    let defines: [(&str, u32); 12] = [
        ("SPINDLE_RING_THREADS", plan.handler_threads),
        ("SPINDLE_RING_BLOCK", plan.block_threads),
        ("SPINDLE_RING_POLL_LANES", plan.poll_lanes),
        ("SPINDLE_RING_POLL_ROUNDS", plan.poll_rounds),
        ("SPINDLE_RING_BATCH", plan.batch),
        ("SPINDLE_RING_MSG_STAGED", b(plan.msg_staged)),
        ("SPINDLE_RING_REPLY_STAGED", b(plan.reply_staged)),
        ("SPINDLE_RING_MSG_WORDS", plan.msg_stage_stride / 8),
        ("SPINDLE_RING_REPLY_WORDS", plan.reply_stage_stride / 8),
        ("SPINDLE_RING_COPY_UNROLL", plan.copy_unroll),
        ("SPINDLE_RING_CONTROL_BYTES", CONTROL_BYTES),
        ("SPINDLE_RING_RUN", 0),
    ];
    for (name, value) in defines {
        let _ = writeln!(out, "#define {name} {value}u");
    }
    out
}

/// What the single-actor loop and the group loop share (device helpers,
/// the block's shared control, slot addressing, staging copies), for this
/// kernel's types.
pub(crate) fn common_text(h: &RingHandler) -> String {
    COMMON.replace("$M", &h.msg_type)
}

/// Shared by both loops: `$M` is replaced; the plan constants are defined
/// above it.
const COMMON: &str = r#"
#ifndef SPINDLE_HOST_SHIM
// Barrier that returns how many threads reached it; a thread that exited
// (a fault) releases the barrier but is not counted.
__device__ __forceinline__ uint32_t spindle_sync_threads_count(uint32_t pred) { return (uint32_t)__syncthreads_count((int)pred); }
// Strong system-scope accesses without ordering of their own (the loop
// orders them with the fences below).
__device__ __forceinline__ uint32_t spindle_ring_load_relaxed_u32(const uint32_t* p) { uint32_t v; asm volatile("ld.relaxed.sys.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ void spindle_ring_store_relaxed_u32(uint32_t* p, uint32_t v) { asm volatile("st.relaxed.sys.u32 [%0], %1;" :: "l"(p), "r"(v) : "memory"); }
__device__ __forceinline__ void spindle_ring_fence_acq_rel(void) { asm volatile("fence.acq_rel.sys;" ::: "memory"); }
// Payload words: loaded from a ring slot (host memory, strong: never a
// stale cached line) or from shared memory, stored to either. Opaque to the
// compiler, so the word copies never alias the typed payloads they move.
__device__ __forceinline__ uint64_t spindle_ring_load_word_sys(const void* p) { uint64_t v; asm volatile("ld.relaxed.sys.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ uint64_t spindle_ring_load_word(const void* p) { uint64_t v; asm volatile("ld.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ void spindle_ring_store_word(void* p, uint64_t v) { asm volatile("st.u64 [%0], %1;" :: "l"(p), "l"(v) : "memory"); }
__device__ __forceinline__ uint32_t spindle_ring_ballot(uint32_t mask, bool p) { return __ballot_sync(mask, p); }
__device__ __forceinline__ uint32_t spindle_ring_shfl(uint32_t mask, uint32_t v, uint32_t lane) { return __shfl_sync(mask, v, lane); }
__device__ __forceinline__ void spindle_ring_sync_warp(uint32_t mask) { __syncwarp(mask); }
__device__ __forceinline__ uint64_t spindle_ring_clock_ns(void) { uint64_t t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t; }
#define SPINDLE_RING_UNROLL _Pragma("unroll")
#endif

// Placement of the handler's return value straight into its reply buffer
// (C++17 guaranteed copy elision: no copy of the reply on any stack).
struct SpindleRingPlace {};
__device__ __forceinline__ void* operator new(decltype(sizeof(0)), void* p, SpindleRingPlace) noexcept { return p; }
__device__ __forceinline__ void operator delete(void*, void*, SpindleRingPlace) noexcept {}

// What the block shares about the loop; the fault hook reads it too.
struct SpindleRingShared {
  SpindleRingControl* ctl;
  unsigned char* requests;
  unsigned char* replies;
  uint32_t mask;        // capacity - 1
  uint32_t cmd;         // the poll's verdict: SPINDLE_RING_RUN or an exit code
  uint32_t count;       // messages in the batch
  uint32_t req_pos;     // the batch's first request position
  uint32_t rep_pos;     // the batch's first reply position
  uint32_t reporter;    // 1 once a faulting thread has taken the report
  uint32_t abort[2];    // after message i: abort[i & 1] (RUN or EXIT_ABORTED)
  uint8_t at[SPINDLE_RING_THREADS];  // the message each handler thread is in
};
static_assert(sizeof(SpindleRingShared) <= SPINDLE_RING_CONTROL_BYTES + ((SPINDLE_RING_THREADS + 7u) & ~7u),
              "the ring loop's shared control block outgrew the plan's CONTROL_BYTES");
__shared__ SpindleRingShared spindle_ring_sh;
#if SPINDLE_RING_MSG_STAGED
alignas(128) __shared__ uint64_t spindle_ring_msgs[SPINDLE_RING_BATCH * SPINDLE_RING_MSG_WORDS];
#endif
#if SPINDLE_RING_REPLY_STAGED
alignas(128) __shared__ uint64_t spindle_ring_replies[SPINDLE_RING_BATCH * SPINDLE_RING_REPLY_WORDS];
#endif

__device__ __forceinline__ SpindleRequestSlot* spindle_ring_request_slot(uint32_t pos) {
  return (SpindleRequestSlot*)(spindle_ring_sh.requests + (uint64_t)(pos & spindle_ring_sh.mask) * sizeof(SpindleRequestSlot));
}
__device__ __forceinline__ SpindleReplySlot* spindle_ring_reply_slot(uint32_t pos) {
  return (SpindleReplySlot*)(spindle_ring_sh.replies + (uint64_t)(pos & spindle_ring_sh.mask) * sizeof(SpindleReplySlot));
}
// Message i of the batch, where the handler reads it.
__device__ __forceinline__ const $M* spindle_ring_msg(uint32_t i) {
#if SPINDLE_RING_MSG_STAGED
  return (const $M*)&spindle_ring_msgs[i * SPINDLE_RING_MSG_WORDS];
#else
  return &spindle_ring_request_slot(spindle_ring_sh.req_pos + i)->payload;
#endif
}
// Where the reply to message i of the batch is built.
__device__ __forceinline__ void* spindle_ring_reply_at(uint32_t i) {
#if SPINDLE_RING_REPLY_STAGED
  return &spindle_ring_replies[i * SPINDLE_RING_REPLY_WORDS];
#else
  return &spindle_ring_reply_slot(spindle_ring_sh.rep_pos + i)->payload;
#endif
}

// Copies the staged replies of messages [0, n) of the batch to their slots:
// thread `t` of `threads` copies every threads-th word.
__device__ void spindle_ring_copy_replies(uint32_t t, uint32_t threads, uint32_t n) {
#if SPINDLE_RING_REPLY_STAGED
  const uint32_t total = n * SPINDLE_RING_REPLY_WORDS;
  for (uint32_t i = t; i < total; i += threads) {
    const uint32_t m = i / SPINDLE_RING_REPLY_WORDS, w = i % SPINDLE_RING_REPLY_WORDS;
    unsigned char* slot = (unsigned char*)&spindle_ring_reply_slot(spindle_ring_sh.rep_pos + m)->payload;
    spindle_ring_store_word(slot + 8u * w, spindle_ring_load_word(&spindle_ring_replies[i]));
  }
#else
  (void)t; (void)threads; (void)n;
#endif
}

// Copies the batch's `n` messages from their slots into shared memory:
// thread t of the block loads its words (COPY_UNROLL of them before storing
// any, so one thread keeps that many reads in flight) and stores them.
__device__ void spindle_ring_fetch(uint32_t t, uint32_t n) {
#if SPINDLE_RING_MSG_STAGED
  const uint32_t total = n * SPINDLE_RING_MSG_WORDS;
  const uint32_t req = spindle_ring_sh.req_pos;
  for (uint32_t base = 0u; base < total; base += SPINDLE_RING_BLOCK * SPINDLE_RING_COPY_UNROLL) {
    uint64_t w[SPINDLE_RING_COPY_UNROLL];
    SPINDLE_RING_UNROLL
    for (uint32_t u = 0u; u < SPINDLE_RING_COPY_UNROLL; ++u) {
      const uint32_t k = base + u * SPINDLE_RING_BLOCK + t;
      w[u] = 0u;
      if (k < total) {
        const unsigned char* slot = (const unsigned char*)&spindle_ring_request_slot(req + k / SPINDLE_RING_MSG_WORDS)->payload;
        w[u] = spindle_ring_load_word_sys(slot + 8u * (k % SPINDLE_RING_MSG_WORDS));
      }
    }
    SPINDLE_RING_UNROLL
    for (uint32_t u = 0u; u < SPINDLE_RING_COPY_UNROLL; ++u) {
      const uint32_t k = base + u * SPINDLE_RING_BLOCK + t;
      if (k < total) spindle_ring_store_word(&spindle_ring_msgs[k], w[u]);
    }
  }
#else
  (void)t; (void)n;
#endif
}

"#;

/// The single actor's loop. `$S`, `$M`, `$R`, `$HANDLER`, `$ENTRY` are
/// replaced; [`COMMON`] precedes it.
const LOOP: &str = r#"// Publishes the replies to messages [0, n) of the batch (their payloads are
// in their slots) and frees the batch's first `n` request slots.
__device__ void spindle_ring_publish(uint32_t n) {
  // Release pattern (this fence, then the strong stores below): orders
  // every reply payload write and every read of the batch's request
  // payloads, by any thread of the block (each before a block barrier that
  // precedes this fence), before the seqs and the head. The host's acquire
  // of seq = pos + 1 sees the whole reply; its acquire of the head comes
  // after every read of the freed slots.
  spindle_ring_fence_acq_rel();
  const uint32_t rep = spindle_ring_sh.rep_pos;
  for (uint32_t i = 0u; i < n; ++i) spindle_ring_store_relaxed_u32(&spindle_ring_reply_slot(rep + i)->seq, rep + i + 1u);
  spindle_ring_store_relaxed_u32(&spindle_ring_sh.ctl->request_head.index, spindle_ring_sh.req_pos + n);
}

// Called by a handler thread that faulted, before it stops (spindle_fault_exit).
// The first one publishes the replies to the messages of the batch before
// its own (finished: each passed the barrier that ends it), then the fault,
// then `exited`; the others stop at once. Its message's reply and every
// later one are never published. The host reads the fault record only once
// the kernel has stopped.
__device__ __noinline__ void spindle_ring_on_fault(void) {
  if (spindle_atomic_cas_u32(&spindle_ring_sh.reporter, 0u, 1u) != 0u) return;
  const uint32_t done = spindle_ring_sh.at[threadIdx.x];
  spindle_ring_copy_replies(0u, 1u, done);
  spindle_ring_publish(done);
  spindle_store_release_sys_u32(&spindle_ring_sh.ctl->status.error, SPINDLE_RING_ERROR_FAULT);
  spindle_store_release_sys_u32(&spindle_ring_sh.ctl->status.exited, SPINDLE_RING_EXIT_FAULTED);
}

// `config` as the host wrote it before the launch matches what this kernel was built for.
__device__ bool spindle_ring_config_ok(const SpindleRingControl* ctl) {
  const SpindleRingConfig* c = &ctl->config;
  const uint32_t threads = blockDim.x * blockDim.y * blockDim.z;
  const uint32_t blocks = gridDim.x * gridDim.y * gridDim.z;
  return c->magic == SPINDLE_RING_MAGIC && c->version == SPINDLE_RING_VERSION
      && c->capacity != 0u && (c->capacity & (c->capacity - 1u)) == 0u
      && c->capacity <= SPINDLE_RING_MAX_CAPACITY
      && c->request_stride == (uint32_t)sizeof(SpindleRequestSlot)
      && c->reply_stride == (uint32_t)sizeof(SpindleReplySlot)
      && c->state_size == (uint32_t)sizeof($S)
      && c->threads == SPINDLE_RING_THREADS && threads == SPINDLE_RING_BLOCK
      && blockDim.y == 1u && blockDim.z == 1u && blocks == 1u;
}

// A polling lane's view of the rings (every polling lane keeps the same
// values: each computes them from the same warp-wide results).
struct SpindleRingPoll {
  uint32_t req_pos;    // next request position to consume
  uint32_t rep_pos;    // next reply position to publish
  uint32_t capacity;
  uint32_t idle_ns;    // longest back-off sleep (0: spin)
  uint32_t draining;   // read STOP_DRAIN: exit at the next empty poll
};

// Run by the polling lanes (lanes 0 .. SPINDLE_RING_POLL_LANES - 1 of warp 0,
// all of the warp's lanes), together: waits for a batch and returns
// SPINDLE_RING_RUN with its size in *count, or the exit code once stopped.
__device__ uint32_t spindle_ring_poll(SpindleRingPoll* p, uint32_t lane, uint32_t* count) {
  const uint32_t members = SPINDLE_RING_POLL_LANES == 32u ? 0xffffffffu : ((1u << SPINDLE_RING_POLL_LANES) - 1u);
  SpindleRingControl* ctl = spindle_ring_sh.ctl;
  uint32_t sleep_ns = 32u;
  for (;;) {
    // One round: every load below is issued before any result is used, so
    // the round costs one PCIe round trip however many slots it reads.
    // Lane l reads positions p, p + l, p + l + LANES, ... (32 in all), lane
    // 0 also `stop` and the host's reply head.
    uint32_t seq[SPINDLE_RING_POLL_ROUNDS];
    SPINDLE_RING_UNROLL
    for (uint32_t j = 0u; j < SPINDLE_RING_POLL_ROUNDS; ++j) {
      seq[j] = spindle_ring_load_relaxed_u32(&spindle_ring_request_slot(p->req_pos + j * SPINDLE_RING_POLL_LANES + lane)->seq);
    }
    uint32_t stop = 0u, head = 0u;
    if (lane == 0u) {
      stop = spindle_ring_load_relaxed_u32(&ctl->command.stop);
      head = spindle_ring_load_relaxed_u32(&ctl->reply_head.index);
    }
    // The number of consecutive published positions from req_pos: slot
    // seq == pos + 1 exactly when it holds position pos (any other value is
    // an older lap).
    uint32_t ready = 0u;
    bool gap = false;
    SPINDLE_RING_UNROLL
    for (uint32_t j = 0u; j < SPINDLE_RING_POLL_ROUNDS; ++j) {
      const uint32_t pos = p->req_pos + j * SPINDLE_RING_POLL_LANES + lane;
      const uint32_t bits = spindle_ring_ballot(members, seq[j] == pos + 1u);
      if (!gap) {
        if (bits == members) {
          ready += SPINDLE_RING_POLL_LANES;
        } else {
          ready += spindle_ctz32(~bits);
          gap = true;
        }
      }
    }
    stop = spindle_ring_shfl(members, stop, 0u);
    head = spindle_ring_shfl(members, head, 0u);
    if (stop == SPINDLE_RING_STOP_ABORT) return SPINDLE_RING_EXIT_ABORTED;
    // Reply slots the host has freed: the batch never takes more messages
    // than it can publish replies for, so no thread waits for reply room
    // inside a batch.
    const uint32_t room = p->capacity - (p->rep_pos - head);
    uint32_t n = ready < room ? ready : room;
    n = n < SPINDLE_RING_BATCH ? n : SPINDLE_RING_BATCH;
    if (n > 0u || (stop == SPINDLE_RING_STOP_DRAIN && !p->draining)) {
      // Acquire pattern (each lane's relaxed loads above, then this fence):
      // pairs with the host's release of each seq (after it wrote that
      // payload), of its reply head (after it read those replies) and of
      // `stop` (after its last publish). Every payload read of the batch,
      // every reply write, and the next round's polls come after it. The
      // warp barrier carries lane 0's acquisitions (stop, head) to the others.
      spindle_ring_fence_acq_rel();
      spindle_ring_sync_warp(members);
    }
    if (n > 0u) {
      *count = n;
      return SPINDLE_RING_RUN;
    }
    // Empty after a round that began after `stop = DRAIN` was acquired:
    // every request published before the stop has been handled.
    if (p->draining && ready == 0u) return SPINDLE_RING_EXIT_DRAINED;
    if (stop == SPINDLE_RING_STOP_DRAIN && !p->draining) {
      // Poll again at once: its loads come after this acquire.
      p->draining = 1u;
      continue;
    }
    // Nothing to do (or no reply room): back off, then poll again.
    if (p->idle_ns != 0u) {
      spindle_nanosleep(sleep_ns);
      sleep_ns = (sleep_ns >= p->idle_ns / 2u) ? p->idle_ns : sleep_ns * 2u;
    }
  }
}

// Thread 0 before arriving at the barrier that ends message `i`: whether an
// abort has come. Reads `stop` (one PCIe round trip) only once
// SPINDLE_RING_STOP_CHECK_NS nanoseconds have passed since it was last read,
// by the poll or here.
__device__ __forceinline__ uint32_t spindle_ring_check_abort(uint64_t* last_read) {
  const uint64_t now = spindle_ring_clock_ns();
  if (now - *last_read < SPINDLE_RING_STOP_CHECK_NS) return SPINDLE_RING_RUN;
  *last_read = now;
  // Relaxed: an abort orders nothing; the loop only stops.
  const uint32_t stop = spindle_ring_load_relaxed_u32(&spindle_ring_sh.ctl->command.stop);
  return stop == SPINDLE_RING_STOP_ABORT ? SPINDLE_RING_EXIT_ABORTED : SPINDLE_RING_RUN;
}

// Thread 0, at the end: the state back to the host, then `exited`.
__device__ void spindle_ring_exit($S* state, $S* state_out, uint32_t code) {
  // The barriers before this ordered every thread's state writes before the copy.
  *state_out = *state;
  // Release: orders the state-out writes (and every reply) before `exited`.
  spindle_store_release_sys_u32(&spindle_ring_sh.ctl->status.exited, code);
}

extern "C" __global__ void __launch_bounds__(SPINDLE_RING_BLOCK) $ENTRY(SpindleRingControl* spindle_ctl, unsigned char* spindle_requests, unsigned char* spindle_replies, $S* spindle_state, $S* spindle_state_out, SpindleFault* spindle_fault) {
  const uint32_t spindle_t = threadIdx.x;
  SpindleRingPoll spindle_poll = {0u, 0u, 0u, 0u, 0u};
  if (spindle_t == 0u) {
    spindle_ring_sh.ctl = spindle_ctl;
    spindle_ring_sh.requests = spindle_requests;
    spindle_ring_sh.replies = spindle_replies;
    spindle_ring_sh.reporter = 0u;
    spindle_ring_sh.mask = 0u;
    if (spindle_ring_config_ok(spindle_ctl)) {
      spindle_ring_sh.mask = spindle_ctl->config.capacity - 1u;
      spindle_ring_sh.cmd = SPINDLE_RING_RUN;
      spindle_store_release_sys_u32(&spindle_ctl->status.running, 1u);
    } else {
      spindle_ring_sh.cmd = SPINDLE_RING_EXIT_FAULTED;
      // Release: the host acquires `error` before it trusts `exited`.
      spindle_store_release_sys_u32(&spindle_ctl->status.error, SPINDLE_RING_ERROR_LAYOUT);
      spindle_store_release_sys_u32(&spindle_ctl->status.exited, SPINDLE_RING_EXIT_FAULTED);
    }
  }
  spindle_sync_threads();
  if (spindle_ring_sh.cmd != SPINDLE_RING_RUN) return;
  if (spindle_t < SPINDLE_RING_POLL_LANES) {
    spindle_poll.capacity = spindle_ring_sh.mask + 1u;
    spindle_poll.idle_ns = spindle_ctl->config.idle_ns;
  }
  // Every thread has read the command before the polling lanes write it again.
  spindle_sync_threads();
  for (;;) {
    if (spindle_t < SPINDLE_RING_POLL_LANES) {
      uint32_t n = 0u;
      const uint32_t cmd = spindle_ring_poll(&spindle_poll, spindle_t, &n);
      if (spindle_t == 0u) {
        spindle_ring_sh.cmd = cmd;
        spindle_ring_sh.count = n;
        spindle_ring_sh.req_pos = spindle_poll.req_pos;
        spindle_ring_sh.rep_pos = spindle_poll.rep_pos;
      }
    }
    // The batch (or the exit) reaches every thread; the polling lanes'
    // acquisitions come before everything that follows.
    spindle_sync_threads();
    const uint32_t spindle_cmd = spindle_ring_sh.cmd;
    if (spindle_cmd != SPINDLE_RING_RUN) {
      if (spindle_t == 0u) spindle_ring_exit(spindle_state, spindle_state_out, spindle_cmd);
      return;
    }
    const uint32_t spindle_n = spindle_ring_sh.count;
$BATCH
    if (spindle_t == 0u) spindle_ring_publish(spindle_n);
    if (spindle_t < SPINDLE_RING_POLL_LANES) {
      spindle_poll.req_pos += spindle_n;
      spindle_poll.rep_pos += spindle_n;
    }
  }
}
"#;
