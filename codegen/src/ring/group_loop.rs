//! The persistent kernel of an actor group: the CUDA emitter's handler
//! wrapped in the group's executor loop (the protocol and who writes what:
//! [`super::group_layout`]).
//!
//! ```c
//! extern "C" __global__ void __launch_bounds__(B) spindle_group_<name>(
//!     unsigned char* region, unsigned char* states, uint32_t* heads,
//!     uint32_t first_block, uint32_t launch)
//! ```
//!
//! launched with `G` blocks of `B` threads (`B` as for one actor: the
//! handler's `threads = N`, or a full warp), `first_block = 0` and
//! `launch = 0`; after a fault, one block alone (`first_block = b`, the
//! block's next `launch`). Block `b` owns actors `b, b + G, …`; their
//! states live in device memory (`states`, `state_stride` bytes apart) and
//! so does a copy of each actor's request head and failed flag (`heads`,
//! two words per actor), which the block reads instead of the region's
//! (host memory) when it polls.
//!
//! # One batch at a time
//!
//! Thread 0 scans the block's actors round-robin from where the last
//! batch was taken: per actor it reads the `seq` of the slot at its
//! request head (the loads of several actors in flight at once); for an
//! actor with a request it counts the consecutive published ones (at most
//! the plan's batch) and reads the host's reply head (room). The first
//! actor with a batch gets it, and the next scan starts after it: each
//! actor gets at most one batch per pass, so a flooded actor delays the
//! others of its block by at most one batch each. Then, exactly as for
//! one actor ([`super::emit`]): one acquire fence, the batch's payloads
//! fetched into shared memory, the handler run message by message with a
//! counting barrier after each, the replies copied out, one release fence
//! and the relaxed stores of the reply `seq`s and the request head.
//!
//! A scan reads `stop` first (acquire): on `STOP_ABORT` the block ends;
//! a whole pass that began after `STOP_DRAIN` and found no request ends
//! it drained. At its end the block copies its actors' states to the
//! region's state-out and publishes `exited`.
//!
//! # Faults
//!
//! A faulting handler thread cannot return into the loop. Its hook
//! (`SPINDLE_ON_FAULT`, called by `spindle_fault_exit`) records the fault
//! in the actor's fault record, publishes the replies to the batch's
//! messages before the faulting one, marks the actor failed (device copy)
//! and releases its `error`; then the thread ends. The block's other
//! threads see a short count at the message's barrier and leave; the last
//! thread out releases the block's `faults` word, and the host launches
//! the block again to serve its other actors.

use std::fmt::Write as _;

use super::device_loop::{executor_text, BatchHooks};
use super::group_layout::group_c_declarations;
use super::RingKernelSource;
use crate::cuda::{self, EmitOptions, RingHandler};
use crate::ir::Kernel;

/// The entry symbol of a ring kernel's group executor:
/// `spindle_group_<name>`.
pub fn group_entry_symbol(kernel_name: &str) -> String {
    format!("spindle_group_{}", crate::abi::c_name(kernel_name))
}

/// What must precede the handler's unit in a group kernel: the group's
/// fault hook, which records the fault for the actor and ends the thread.
const BEFORE_HANDLER: &str = "\
// The group loop's fault hook (defined with the loop below): a faulting handler
// thread records the fault for its actor, publishes the replies its batch has
// finished, and stops.
// (Plain C types: the prelude's fixed-width names are declared after this.)
[[noreturn]] __device__ void spindle_group_on_fault(unsigned int kind, unsigned int site, unsigned long long index, unsigned long long len);
#define SPINDLE_ON_FAULT(kind, site, index, len) spindle_group_on_fault(kind, site, index, len)
";

/// Emits the group kernel of a linked ring-mode [`Kernel`]: the handler
/// unit, the ring protocol's and the group layout's declarations, the
/// loop. The kernel is checked as for one actor
/// ([`super::check_ring_kernel`]); `block_threads`, `plan`, `request`,
/// `reply` are those of the single-actor kernel.
pub fn emit_group(kernel: &Kernel, options: &EmitOptions) -> Result<RingKernelSource, String> {
    let single = super::emit_ring(kernel, options)?;
    let h = &cuda::emit_ring_handler(kernel, options);
    let entry = group_entry_symbol(&kernel.name);
    let mut code = String::with_capacity(h.code.len() + 16384);
    code.push_str(BEFORE_HANDLER);
    code.push_str(&h.code);
    code.push_str("\n// ---- ring protocol (generated from spindle_codegen::ring::layout)\n");
    code.push_str(&super::layout::c_declarations(
        &single.request,
        &single.reply,
        &h.msg_type,
        &h.reply_type,
    ));
    code.push_str(&group_c_declarations());
    let _ = writeln!(
        code,
        "static_assert(sizeof({}) == {}u, \"ring state size differs from the Rust layout\");",
        h.state_type,
        kernel.size_of(match &kernel.entry.params[0].kind {
            crate::ir::ParamKind::StateRef(s) => s,
            _ => unreachable!("checked by emit_ring"),
        })
    );
    code.push_str(&group_device_loop(&entry, h, &single.plan));
    Ok(RingKernelSource {
        code,
        entry,
        ..single
    })
}

fn group_device_loop(entry: &str, h: &RingHandler, plan: &super::plan::RingPlan) -> String {
    let hooks = BatchHooks {
        check_abort: "spindle_group_check_abort",
        leave: "spindle_group_leave();",
        exit: "spindle_group_exit(spindle_scan.owned, ",
    };
    executor_text(
        "actor group executor (spindle_codegen::ring::group_loop)",
        GROUP_LOOP,
        &hooks,
        entry,
        h,
        plan,
    )
}

/// The group loop. `$S`, `$M`, `$R`, `$HANDLER`, `$ENTRY` are replaced; the
/// plan constants and the common part of the loops precede it.
const GROUP_LOOP: &str = r#"
// Actors whose request slots one scan step loads at once.
#define SPINDLE_GROUP_SCAN 8u

// What the block knows about its group (thread 0 fills it in at start).
struct SpindleGroupShared {
  unsigned char* region;   // the group's region (host memory, mapped)
  unsigned char* states;   // the actors' states (device memory)
  uint32_t* heads;         // per actor: request head, failed (device memory)
  uint32_t block;          // this block's index in the group
  uint32_t blocks;
  uint32_t actors;
  uint32_t capacity;
  uint32_t actor_stride;
  uint32_t state_stride;
  uint32_t reply_offset;   // reply slot 0 within an actor's part
  uint32_t launch;         // this launch of the block (0 first)
  uint32_t actor;          // the actor of the batch in hand
  uint32_t live;           // this launch's threads that have not left
  uint64_t actors_at;      // actor 0's part
  uint64_t state_out_at;   // actor 0's state in state-out
};
__shared__ SpindleGroupShared spindle_group_sh;

__device__ __forceinline__ unsigned char* spindle_group_lines(uint32_t a) {
  return spindle_group_sh.region + spindle_group_sh.actors_at + (uint64_t)a * spindle_group_sh.actor_stride;
}
__device__ __forceinline__ uint32_t* spindle_group_word(uint32_t a, uint32_t offset) {
  return (uint32_t*)(spindle_group_lines(a) + offset);
}
__device__ __forceinline__ SpindleGroupBlockStatus* spindle_group_status(void) {
  return (SpindleGroupBlockStatus*)(spindle_group_sh.region + SPINDLE_GROUP_BLOCKS_AT + (uint64_t)spindle_group_sh.block * SPINDLE_GROUP_LINE);
}
__device__ __forceinline__ $S* spindle_group_state(uint32_t a) {
  return ($S*)(spindle_group_sh.states + (uint64_t)a * spindle_group_sh.state_stride);
}
// Points the common loop helpers at actor a's rings.
__device__ __forceinline__ void spindle_group_select(uint32_t a) {
  spindle_group_sh.actor = a;
  spindle_ring_sh.requests = spindle_group_lines(a) + SPINDLE_GROUP_ACTOR_REQUESTS;
  spindle_ring_sh.replies = spindle_group_lines(a) + spindle_group_sh.reply_offset;
}

// Publishes the replies to messages [0, n) of actor a's batch (their
// payloads are in their slots) and frees its first `n` request slots: the
// release pattern of the single actor's publish, then the device copy.
__device__ void spindle_group_publish(uint32_t a, uint32_t n) {
  spindle_ring_fence_acq_rel();
  const uint32_t rep = spindle_ring_sh.rep_pos;
  for (uint32_t i = 0u; i < n; ++i) spindle_ring_store_relaxed_u32(&spindle_ring_reply_slot(rep + i)->seq, rep + i + 1u);
  spindle_ring_store_relaxed_u32(spindle_group_word(a, SPINDLE_GROUP_ACTOR_REQUEST_HEAD), spindle_ring_sh.req_pos + n);
  spindle_group_sh.heads[2u * a] = spindle_ring_sh.req_pos + n;
}

// A thread leaves this launch of the block for good (after a fault). The
// last one out tells the host, which launches the block again.
__device__ void spindle_group_leave(void) {
  // Every region and device write of this thread before the decrement.
  spindle_fence_system();
  uint32_t live = spindle_group_sh.live;
  for (;;) {
    const uint32_t seen = spindle_atomic_cas_u32(&spindle_group_sh.live, live, live - 1u);
    if (seen == live) break;
    live = seen;
  }
  if (live == 1u) {
    // The others' writes (each fenced before its decrement) before `faults`.
    spindle_fence_system();
    spindle_store_release_sys_u32(&spindle_group_status()->faults, spindle_group_sh.launch + 1u);
  }
}

[[noreturn]] __device__ __noinline__ void spindle_group_on_fault(unsigned int kind, unsigned int site, unsigned long long index, unsigned long long len) {
  if (spindle_atomic_cas_u32(&spindle_ring_sh.reporter, 0u, 1u) == 0u) {
    const uint32_t a = spindle_group_sh.actor;
    SpindleFault* f = (SpindleFault*)(spindle_group_lines(a) + SPINDLE_GROUP_ACTOR_FAULT);
    f->kind = kind;
    f->site = site;
    f->index = index;
    f->len = len;
    f->block[0] = spindle_group_sh.block; f->block[1] = 0u; f->block[2] = 0u;
    f->thread[0] = threadIdx.x; f->thread[1] = threadIdx.y; f->thread[2] = threadIdx.z;
    f->flag = 1u;
    spindle_group_sh.heads[2u * a + 1u] = 1u;
    const uint32_t done = spindle_ring_sh.at[threadIdx.x];
    spindle_ring_copy_replies(0u, 1u, done);
    // Its release fence also orders the record before `error` below.
    spindle_group_publish(a, done);
    spindle_store_release_sys_u32(spindle_group_word(a, SPINDLE_GROUP_ACTOR_ERROR), SPINDLE_RING_ERROR_FAULT);
  }
  spindle_group_leave();
  spindle_exit_thread();
}

// `config` as the host wrote it matches what this kernel was built for,
// and this launch's geometry fits it.
__device__ bool spindle_group_config_ok(const SpindleGroupConfig* c, uint32_t first_block) {
  const uint32_t threads = blockDim.x * blockDim.y * blockDim.z;
  const uint64_t line = SPINDLE_GROUP_LINE;
  const uint64_t requests = ((uint64_t)c->capacity * sizeof(SpindleRequestSlot) + line - 1u) / line * line;
  const uint64_t replies = ((uint64_t)c->capacity * sizeof(SpindleReplySlot) + line - 1u) / line * line;
  return c->magic == SPINDLE_GROUP_MAGIC && c->version == SPINDLE_GROUP_VERSION
      && c->capacity != 0u && (c->capacity & (c->capacity - 1u)) == 0u
      && c->capacity <= SPINDLE_RING_MAX_CAPACITY
      && c->request_stride == (uint32_t)sizeof(SpindleRequestSlot)
      && c->reply_stride == (uint32_t)sizeof(SpindleReplySlot)
      && c->state_size == (uint32_t)sizeof($S)
      && c->state_stride >= (uint32_t)sizeof($S) && c->state_stride % alignof($S) == 0u
      && (uint64_t)c->actor_stride == SPINDLE_GROUP_ACTOR_REQUESTS + requests + replies
      && c->threads == SPINDLE_RING_THREADS && threads == SPINDLE_RING_BLOCK
      && blockDim.y == 1u && blockDim.z == 1u && gridDim.y == 1u && gridDim.z == 1u
      && c->blocks != 0u && c->blocks <= c->actors
      && (uint64_t)first_block + gridDim.x <= c->blocks;
}

// Thread 0's scan state.
struct SpindleGroupScan {
  uint32_t cursor;   // the block's actor (0, 1, …) the next scan starts at
  uint32_t owned;    // actors the block owns
  uint32_t idle_ns;  // longest back-off sleep (0: spin)
};

// Thread 0: waits for the next batch, round-robin over the block's actors
// from the cursor, and returns SPINDLE_RING_RUN with its actor selected and
// its size in *count, or the exit code once stopped.
__device__ uint32_t spindle_group_next(SpindleGroupScan* s, uint32_t* count) {
  const SpindleGroupControl* ctl = (const SpindleGroupControl*)spindle_group_sh.region;
  const uint32_t capacity = spindle_group_sh.capacity;
  const uint32_t window = SPINDLE_RING_BATCH < capacity ? SPINDLE_RING_BATCH : capacity;
  const uint32_t mask = capacity - 1u;
  uint32_t sleep_ns = 32u;
  for (;;) {
    // Acquire pattern (relaxed load, then the fence): pairs with the host's
    // release of `stop`, made after its last publish; every poll of this
    // pass comes after it.
    const uint32_t stop = spindle_ring_load_relaxed_u32(&ctl->command.stop);
    spindle_ring_fence_acq_rel();
    if (stop == SPINDLE_RING_STOP_ABORT) return SPINDLE_RING_EXIT_ABORTED;
    bool pending = false;
    for (uint32_t i = 0u; i < s->owned; i += SPINDLE_GROUP_SCAN) {
      // Up to SCAN actors: their heads (device memory), then the seq at
      // each head, all loads in flight before any is used.
      uint32_t actor[SPINDLE_GROUP_SCAN], head[SPINDLE_GROUP_SCAN], seq[SPINDLE_GROUP_SCAN];
      SPINDLE_RING_UNROLL
      for (uint32_t j = 0u; j < SPINDLE_GROUP_SCAN; ++j) {
        uint32_t k = s->cursor + i + j;
        while (k >= s->owned) k -= s->owned;
        actor[j] = spindle_group_sh.block + k * spindle_group_sh.blocks;
        head[j] = spindle_group_sh.heads[2u * actor[j]];
      }
      SPINDLE_RING_UNROLL
      for (uint32_t j = 0u; j < SPINDLE_GROUP_SCAN; ++j) {
        const unsigned char* requests = spindle_group_lines(actor[j]) + SPINDLE_GROUP_ACTOR_REQUESTS;
        seq[j] = spindle_ring_load_relaxed_u32(&((const SpindleRequestSlot*)(requests + (uint64_t)(head[j] & mask) * sizeof(SpindleRequestSlot)))->seq);
      }
      for (uint32_t j = 0u; j < SPINDLE_GROUP_SCAN && i + j < s->owned; ++j) {
        const uint32_t a = actor[j];
        if (seq[j] != head[j] + 1u || spindle_group_sh.heads[2u * a + 1u] != 0u) continue;
        pending = true;
        spindle_group_select(a);
        // Consecutive published positions after the first (relaxed loads;
        // the fence below makes the ones acted on acquisitions).
        uint32_t ready = 1u;
        while (ready < window && spindle_ring_load_relaxed_u32(&spindle_ring_request_slot(head[j] + ready)->seq) == head[j] + ready + 1u) ++ready;
        const uint32_t replied = spindle_ring_load_relaxed_u32(spindle_group_word(a, SPINDLE_GROUP_ACTOR_REPLY_HEAD));
        // Every request gets one reply: the next reply position is the head.
        const uint32_t room = capacity - (head[j] - replied);
        const uint32_t n = ready < room ? ready : room;
        if (n == 0u) continue;
        // Acquire pattern: pairs with the host's release of each seq (after
        // it wrote that payload) and of its reply head (after it read those
        // replies); the batch's reads and writes come after it.
        spindle_ring_fence_acq_rel();
        spindle_ring_sh.req_pos = head[j];
        spindle_ring_sh.rep_pos = head[j];
        uint32_t next = s->cursor + i + j + 1u;
        while (next >= s->owned) next -= s->owned;
        s->cursor = next;
        *count = n;
        return SPINDLE_RING_RUN;
      }
    }
    // A whole pass that began after `stop = DRAIN` was acquired found no
    // request: every request published before the stop has been handled.
    if (stop == SPINDLE_RING_STOP_DRAIN && !pending) return SPINDLE_RING_EXIT_DRAINED;
    if (s->idle_ns != 0u && !pending) {
      spindle_nanosleep(sleep_ns);
      sleep_ns = (sleep_ns >= s->idle_ns / 2u) ? s->idle_ns : sleep_ns * 2u;
    } else if (pending) {
      sleep_ns = 32u;
    }
  }
}

// Thread 0 before arriving at the barrier that ends a message: whether an
// abort has come (`stop` read at most every SPINDLE_RING_STOP_CHECK_NS).
__device__ __forceinline__ uint32_t spindle_group_check_abort(uint64_t* last_read) {
  const uint64_t now = spindle_ring_clock_ns();
  if (now - *last_read < SPINDLE_RING_STOP_CHECK_NS) return SPINDLE_RING_RUN;
  *last_read = now;
  // Relaxed: an abort orders nothing; the loop only stops.
  const SpindleGroupControl* ctl = (const SpindleGroupControl*)spindle_group_sh.region;
  const uint32_t stop = spindle_ring_load_relaxed_u32(&ctl->command.stop);
  return stop == SPINDLE_RING_STOP_ABORT ? SPINDLE_RING_EXIT_ABORTED : SPINDLE_RING_RUN;
}

// Thread 0, at the end: the block's states to state-out, then `exited`.
__device__ void spindle_group_exit(uint32_t owned, uint32_t code) {
  // The barriers before this ordered every thread's state writes before the copies.
  for (uint32_t k = 0u; k < owned; ++k) {
    const uint32_t a = spindle_group_sh.block + k * spindle_group_sh.blocks;
    $S* out = ($S*)(spindle_group_sh.region + spindle_group_sh.state_out_at + (uint64_t)a * spindle_group_sh.state_stride);
    *out = *spindle_group_state(a);
  }
  // Release: orders the state-out writes (and every reply) before `exited`.
  spindle_store_release_sys_u32(&spindle_group_status()->exited, code);
}

extern "C" __global__ void __launch_bounds__(SPINDLE_RING_BLOCK) $ENTRY(unsigned char* spindle_region, unsigned char* spindle_states, uint32_t* spindle_heads, uint32_t spindle_first_block, uint32_t spindle_launch) {
  const uint32_t spindle_t = threadIdx.x;
  SpindleGroupScan spindle_scan = {0u, 0u, 0u};
  if (spindle_t == 0u) {
    const SpindleGroupConfig* c = &((const SpindleGroupControl*)spindle_region)->config;
    spindle_group_sh.region = spindle_region;
    spindle_group_sh.states = spindle_states;
    spindle_group_sh.heads = spindle_heads;
    spindle_group_sh.block = spindle_first_block + blockIdx.x;
    spindle_group_sh.launch = spindle_launch;
    spindle_group_sh.live = SPINDLE_RING_BLOCK;
    spindle_ring_sh.ctl = 0;
    spindle_ring_sh.reporter = 0u;
    const bool ok = spindle_group_config_ok(c, spindle_first_block);
    spindle_group_sh.blocks = ok ? c->blocks : 1u;
    if (ok) {
      spindle_group_sh.actors = c->actors;
      spindle_group_sh.capacity = c->capacity;
      spindle_group_sh.actor_stride = c->actor_stride;
      spindle_group_sh.state_stride = c->state_stride;
      const uint64_t line = SPINDLE_GROUP_LINE;
      spindle_group_sh.reply_offset = (uint32_t)(SPINDLE_GROUP_ACTOR_REQUESTS + ((uint64_t)c->capacity * sizeof(SpindleRequestSlot) + line - 1u) / line * line);
      spindle_group_sh.actors_at = SPINDLE_GROUP_BLOCKS_AT + (uint64_t)c->blocks * line;
      spindle_group_sh.state_out_at = spindle_group_sh.actors_at + (uint64_t)c->actors * c->actor_stride;
      spindle_ring_sh.mask = c->capacity - 1u;
      spindle_ring_sh.cmd = SPINDLE_RING_RUN;
      spindle_scan.owned = (c->actors - spindle_group_sh.block + c->blocks - 1u) / c->blocks;
      spindle_scan.idle_ns = c->idle_ns;
      // Relaxed would do: `running` is informational.
      spindle_store_release_sys_u32(&spindle_group_status()->running, spindle_launch + 1u);
    } else {
      spindle_ring_sh.cmd = SPINDLE_RING_EXIT_FAULTED;
      if (spindle_group_sh.block < c->blocks) {
        // Release: the host acquires `error` before it trusts `exited`.
        spindle_store_release_sys_u32(&spindle_group_status()->error, SPINDLE_RING_ERROR_LAYOUT);
        spindle_store_release_sys_u32(&spindle_group_status()->exited, SPINDLE_RING_EXIT_FAULTED);
      }
    }
  }
  spindle_sync_threads();
  if (spindle_ring_sh.cmd != SPINDLE_RING_RUN) return;
  for (;;) {
    if (spindle_t == 0u) {
      uint32_t n = 0u;
      spindle_ring_sh.cmd = spindle_group_next(&spindle_scan, &n);
      spindle_ring_sh.count = n;
    }
    // The batch (or the exit) reaches every thread; thread 0's
    // acquisitions come before everything that follows.
    spindle_sync_threads();
    const uint32_t spindle_cmd = spindle_ring_sh.cmd;
    if (spindle_cmd != SPINDLE_RING_RUN) {
      if (spindle_t == 0u) spindle_group_exit(spindle_scan.owned, spindle_cmd);
      return;
    }
    const uint32_t spindle_n = spindle_ring_sh.count;
    const uint32_t spindle_a = spindle_group_sh.actor;
    $S* spindle_state = spindle_group_state(spindle_a);
    SpindleFault* spindle_fault = (SpindleFault*)(spindle_group_lines(spindle_a) + SPINDLE_GROUP_ACTOR_FAULT);
$BATCH
    if (spindle_t == 0u) spindle_group_publish(spindle_a, spindle_n);
  }
}
"#;
