//! The persistent ring kernel: the CUDA emitter's handler
//! ([`crate::cuda::emit_ring_handler`]) wrapped in the executor loop of the
//! ring protocol ([`super::layout`]).
//!
//! ```c
//! extern "C" __global__ void spindle_ring_<name>(
//!     SpindleRingControl* ctl, unsigned char* requests, unsigned char* replies,
//!     S* state, S* state_out, SpindleFault* fault)
//! ```
//!
//! launched as one block of `kernel.threads` threads. Thread 0 is the
//! polling lane: it polls the request ring, copies a message into shared
//! memory and frees its slot; a barrier every thread reaches hands the
//! message to the block; every thread runs the handler; a counting barrier
//! ends the message (a short count means a thread faulted and exited); then
//! the polling lane publishes thread 0's return value as the reply. The
//! loop is the one `spindle_runtime`'s CPU executor runs (`run_executor`),
//! step for step.
//!
//! Every device-only operation goes through a named helper
//! (`spindle_load_acquire_sys_u32`, `spindle_store_release_sys_u32`,
//! `spindle_nanosleep`, `spindle_sync_threads`, `spindle_sync_threads_count`,
//! `spindle_atomic_cas_u32`) defined under `#ifndef SPINDLE_HOST_SHIM`, so
//! the same text compiles as host C++ against a shim (DESIGN.md §7.3).

use std::fmt::Write as _;

use super::layout::{SlotLayout, CACHE_LINE};
use crate::cuda::{self, EmitOptions, RingHandler};
use crate::ir::{Kernel, ParamKind, Ty, MAX_RING_THREADS, MAX_SHARED_BYTES};

/// The generated ring kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingKernelSource {
    /// The complete translation unit.
    pub code: String,
    /// The `extern "C" __global__` symbol: [`ring_entry_symbol`].
    pub entry: String,
    /// Threads in the one block the kernel must be launched with.
    pub threads: u32,
    /// The request slots' layout (message type).
    pub request: SlotLayout,
    /// The reply slots' layout (reply type).
    pub reply: SlotLayout,
    /// The C type of the state `S` (the kernel's `state` parameter is `S*`).
    pub state_type: String,
}

/// The entry symbol of a ring kernel: `spindle_ring_<name>`.
pub fn ring_entry_symbol(kernel_name: &str) -> String {
    format!("spindle_ring_{kernel_name}")
}

/// The kernel's state, message and reply types, checked.
fn ring_types(kernel: &Kernel) -> Result<(&Ty, &Ty, &Ty), String> {
    if !kernel.mode.is_ring() {
        return Err(format!("`{}` is not a ring kernel", kernel.name));
    }
    let (state, msg) = match kernel.entry.params.as_slice() {
        [s, m] => match (&s.kind, &m.kind) {
            (ParamKind::StateRef(s), ParamKind::Value(m)) => (s, m),
            _ => {
                return Err(format!(
                    "ring kernel `{}`: parameters must be (&mut S, M)",
                    kernel.name
                ))
            }
        },
        _ => {
            return Err(format!(
                "ring kernel `{}`: expected two parameters (state, message)",
                kernel.name
            ))
        }
    };
    if kernel.entry.ret == Ty::Unit {
        return Err(format!(
            "ring kernel `{}`: the handler must return a reply",
            kernel.name
        ));
    }
    if !(1..=MAX_RING_THREADS).contains(&kernel.threads) {
        return Err(format!(
            "ring kernel `{}`: threads = {} is outside 1..={MAX_RING_THREADS}",
            kernel.name, kernel.threads
        ));
    }
    Ok((state, msg, &kernel.entry.ret))
}

fn slot_of(kernel: &Kernel, ty: &Ty, what: &str) -> Result<SlotLayout, String> {
    SlotLayout::new(kernel.size_of(ty) as usize, kernel.align_of(ty) as usize).map_err(|e| {
        format!(
            "ring kernel `{}`: {what} `{}`: {e}",
            kernel.name,
            kernel.ty_name(ty)
        )
    })
}

/// Emits the whole ring kernel for a linked ring-mode [`Kernel`]: the CUDA
/// emitter's handler unit, the protocol declarations and the persistent
/// loop. The kernel is checked before anything is emitted.
pub fn emit_ring(kernel: &Kernel, options: &EmitOptions) -> Result<RingKernelSource, String> {
    let (request, reply_slot) = check_ring_kernel(kernel)?;
    let (state, _, _) = ring_types(kernel)?;
    let h = &cuda::emit_ring_handler(kernel, options);
    let entry = ring_entry_symbol(&kernel.name);
    let mut code = String::with_capacity(h.code.len() + 8192);
    code.push_str(&h.code);
    code.push_str("\n// ---- ring protocol (generated from spindle_codegen::ring::layout)\n");
    code.push_str(&super::layout::c_declarations(
        &request,
        &reply_slot,
        &h.msg_type,
        &h.reply_type,
    ));
    let _ = writeln!(
        code,
        "static_assert(sizeof({}) == {}u, \"ring state size differs from the Rust layout\");",
        h.state_type,
        kernel.size_of(state)
    );
    code.push_str(&ring_loop(&entry, h));
    Ok(RingKernelSource {
        code,
        entry,
        threads: kernel.threads,
        request,
        reply: reply_slot,
        state_type: h.state_type.clone(),
    })
}

/// Checks that `kernel` can run as a persistent ring kernel on a GPU: its
/// signature, its message and reply slots, its state's alignment, and its
/// shared memory next to the loop's. Both backends call it when an actor
/// is spawned, so a ring kernel the CPU backend accepts also runs on a GPU.
/// Returns the request and reply slot layouts.
pub fn check_ring_kernel(kernel: &Kernel) -> Result<(SlotLayout, SlotLayout), String> {
    let (state, msg, reply) = ring_types(kernel)?;
    let request = slot_of(kernel, msg, "message")?;
    let reply_slot = slot_of(kernel, reply, "reply")?;
    if kernel.align_of(state) as usize > CACHE_LINE {
        return Err(format!(
            "ring kernel `{}`: state alignment above {CACHE_LINE}",
            kernel.name
        ));
    }
    check_shared_bytes(kernel, msg)?;
    Ok((request, reply_slot))
}

/// The handler's block-shared arrays and the loop's own `__shared__`
/// variables (the message and two words) together fit in the static
/// shared memory every device has ([`MAX_SHARED_BYTES`]); otherwise ptxas
/// would refuse the kernel with "uses too much shared data". The sum pads
/// each variable to its alignment, as ptxas lays them out.
fn check_shared_bytes(kernel: &Kernel, msg: &Ty) -> Result<(), String> {
    let place =
        |at: u64, size: u32, align: u32| at.div_ceil(align as u64) * align as u64 + size as u64;
    let mut arrays = 0u64;
    for a in &kernel.shared {
        let ty = Ty::Array(Box::new(a.elem.clone()), a.len);
        arrays = place(arrays, kernel.size_of(&ty), kernel.align_of(&a.elem));
    }
    let total = place(arrays, kernel.size_of(msg), kernel.align_of(msg));
    let total = place(total, 8, 4);
    if total > MAX_SHARED_BYTES as u64 {
        return Err(format!(
            "ring kernel `{}`: its shared arrays take {arrays} bytes, and the ring loop needs {} \
             more (the message and two words); together they must fit in {MAX_SHARED_BYTES} bytes",
            kernel.name,
            total - arrays
        ));
    }
    Ok(())
}

/// The device side of the protocol, specialised to this kernel's types.
fn ring_loop(entry: &str, h: &RingHandler) -> String {
    LOOP.replace("$ENTRY", entry)
        .replace("$HANDLER", &h.handler)
        .replace("$S", &h.state_type)
        .replace("$M", &h.msg_type)
        .replace("$R", &h.reply_type)
}

/// The executor loop. `$S`, `$M`, `$R`, `$HANDLER`, `$ENTRY` are replaced.
const LOOP: &str = r#"
// ---- ring executor (spindle_codegen::ring::emit)
#ifndef SPINDLE_HOST_SHIM
// Barrier that returns how many threads reached it; a thread that exited
// (a fault) releases the barrier but is not counted.
__device__ __forceinline__ uint32_t spindle_sync_threads_count(uint32_t pred) { return (uint32_t)__syncthreads_count((int)pred); }
#endif

#define SPINDLE_RING_RUN 0u

// The polling lane's private view of the rings.
struct SpindleRingLane {
  SpindleRingControl* ctl;
  unsigned char* requests;
  unsigned char* replies;
  uint32_t mask;       // capacity - 1
  uint32_t idle_ns;    // longest back-off sleep (0: spin)
  uint32_t req_pos;    // next request position to consume
  uint32_t rep_pos;    // next reply position to publish
  uint32_t rep_head;   // the host's reply head, as last loaded (never ahead of it)
  uint32_t since_stop; // replies since `stop` was last checked
  uint32_t draining;   // read STOP_DRAIN: exit at the next empty poll
  uint32_t aborted;    // read STOP_ABORT: exit now
};

__device__ __forceinline__ void spindle_ring_backoff(const SpindleRingLane* l, uint32_t* sleep_ns) {
  if (l->idle_ns == 0u) return;
  spindle_nanosleep(*sleep_ns);
  *sleep_ns = (*sleep_ns >= l->idle_ns / 2u) ? l->idle_ns : *sleep_ns * 2u;
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
      && c->threads == threads && blocks == 1u;
}

// Waits for the next request and copies it to *msg. Returns SPINDLE_RING_RUN,
// or the exit code once stopped (drained, or aborted).
__device__ uint32_t spindle_ring_next(SpindleRingLane* l, $M* msg) {
  uint32_t sleep_ns = 32u;
  for (;;) {
    if (l->aborted) return SPINDLE_RING_EXIT_ABORTED;
    SpindleRequestSlot* slot = (SpindleRequestSlot*)(l->requests + (uint64_t)(l->req_pos & l->mask) * sizeof(SpindleRequestSlot));
    // Acquire: pairs with the host's release of seq = pos + 1 after it wrote
    // the payload; the payload reads below see all of it.
    if (spindle_load_acquire_sys_u32(&slot->seq) == l->req_pos + 1u) {
      *msg = slot->payload;
      l->req_pos += 1u;
      // Release: orders the payload read above before the host's acquire of
      // the head, after which it may overwrite the slot.
      spindle_store_release_sys_u32(&l->ctl->request_head.index, l->req_pos);
      return SPINDLE_RING_RUN;
    }
    // Empty. `stop` was read before this poll: every request published
    // before the stop has been handled.
    if (l->draining) return SPINDLE_RING_EXIT_DRAINED;
    // Acquire: pairs with the host's release of `stop`, made after its last
    // publish; the next poll sees every request published before it.
    const uint32_t stop = spindle_load_acquire_sys_u32(&l->ctl->command.stop);
    if (stop == SPINDLE_RING_STOP_ABORT) return SPINDLE_RING_EXIT_ABORTED;
    if (stop == SPINDLE_RING_STOP_DRAIN) { l->draining = 1u; continue; }
    spindle_ring_backoff(l, &sleep_ns);
  }
}

// Publishes *reply at the next reply position, after the full check. Sets
// `aborted` instead if an abort arrives while the reply ring is full.
__device__ void spindle_ring_reply(SpindleRingLane* l, const $R* reply) {
  uint32_t sleep_ns = 32u;
  const uint32_t capacity = l->mask + 1u;
  while (l->rep_pos - l->rep_head >= capacity) {
    // Acquire: pairs with the host's release of its reply head after it read
    // the reply out; our payload write below comes after that read.
    l->rep_head = spindle_load_acquire_sys_u32(&l->ctl->reply_head.index);
    if (l->rep_pos - l->rep_head < capacity) break;
    if (spindle_load_acquire_sys_u32(&l->ctl->command.stop) == SPINDLE_RING_STOP_ABORT) { l->aborted = 1u; return; }
    spindle_ring_backoff(l, &sleep_ns);
  }
  SpindleReplySlot* slot = (SpindleReplySlot*)(l->replies + (uint64_t)(l->rep_pos & l->mask) * sizeof(SpindleReplySlot));
  slot->payload = *reply;
  l->rep_pos += 1u;
  // Release: orders the payload writes above before seq; the host's acquire
  // of seq = pos + 1 sees the whole reply.
  spindle_store_release_sys_u32(&slot->seq, l->rep_pos);
  if (++l->since_stop >= SPINDLE_RING_STOP_POLL_INTERVAL) {
    l->since_stop = 0u;
    if (spindle_load_acquire_sys_u32(&l->ctl->command.stop) == SPINDLE_RING_STOP_ABORT) l->aborted = 1u;
  }
}

extern "C" __global__ void $ENTRY(SpindleRingControl* spindle_ctl, unsigned char* spindle_requests, unsigned char* spindle_replies, $S* spindle_state, $S* spindle_state_out, SpindleFault* spindle_fault) {
  __shared__ $M spindle_ring_msg;
  __shared__ uint32_t spindle_ring_cmd;
  __shared__ uint32_t spindle_ring_reporter;
  const bool spindle_lane0 = threadIdx.x == 0u && threadIdx.y == 0u && threadIdx.z == 0u;
  const uint32_t spindle_threads = blockDim.x * blockDim.y * blockDim.z;
  SpindleRingLane spindle_lane;
  spindle_lane.ctl = spindle_ctl;
  spindle_lane.requests = spindle_requests;
  spindle_lane.replies = spindle_replies;
  spindle_lane.mask = 0u;
  spindle_lane.idle_ns = 0u;
  spindle_lane.req_pos = 0u;
  spindle_lane.rep_pos = 0u;
  spindle_lane.rep_head = 0u;
  spindle_lane.since_stop = 0u;
  spindle_lane.draining = 0u;
  spindle_lane.aborted = 0u;
  if (spindle_lane0) {
    spindle_ring_reporter = 0u;
    if (spindle_ring_config_ok(spindle_ctl)) {
      spindle_lane.mask = spindle_ctl->config.capacity - 1u;
      spindle_lane.idle_ns = spindle_ctl->config.idle_ns;
      spindle_ring_cmd = SPINDLE_RING_RUN;
      spindle_store_release_sys_u32(&spindle_ctl->status.running, 1u);
    } else {
      spindle_ring_cmd = SPINDLE_RING_EXIT_FAULTED;
      // Release: the host acquires `error` before it trusts `exited`.
      spindle_store_release_sys_u32(&spindle_ctl->status.error, SPINDLE_RING_ERROR_LAYOUT);
      spindle_store_release_sys_u32(&spindle_ctl->status.exited, SPINDLE_RING_EXIT_FAULTED);
    }
  }
  spindle_sync_threads();
  if (spindle_ring_cmd != SPINDLE_RING_RUN) return;
  // Every thread has read the command before the polling lane writes it again.
  spindle_sync_threads();
  for (;;) {
    if (spindle_lane0) spindle_ring_cmd = spindle_ring_next(&spindle_lane, &spindle_ring_msg);
    // The message (or the exit) reaches every thread.
    spindle_sync_threads();
    const uint32_t spindle_cmd = spindle_ring_cmd;
    if (spindle_cmd != SPINDLE_RING_RUN) {
      if (spindle_lane0) {
        // The barriers above ordered every thread's state writes before this copy.
        *spindle_state_out = *spindle_state;
        // Release: orders the state-out writes (and every reply) before `exited`.
        spindle_store_release_sys_u32(&spindle_ctl->status.exited, spindle_cmd);
      }
      return;
    }
    $R spindle_reply = $HANDLER(spindle_fault, spindle_state, spindle_ring_msg);
    // Every live thread is done with the message, the shared copy and the
    // command; a thread that faulted has exited and is not counted.
    if (spindle_sync_threads_count(1u) != spindle_threads) {
      // One survivor reports the fault; the host reads the fault record once
      // the kernel has stopped. The reply is never published.
      if (spindle_atomic_cas_u32(&spindle_ring_reporter, 0u, 1u) == 0u) {
        spindle_store_release_sys_u32(&spindle_ctl->status.error, SPINDLE_RING_ERROR_FAULT);
        spindle_store_release_sys_u32(&spindle_ctl->status.exited, SPINDLE_RING_EXIT_FAULTED);
      }
      return;
    }
    if (spindle_lane0) spindle_ring_reply(&spindle_lane, &spindle_reply);
  }
}
"#;
