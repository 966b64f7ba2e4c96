//! The persistent ring kernel: the CUDA emitter's handler
//! ([`crate::cuda::emit_ring_handler`]) wrapped in the executor loop of the
//! ring protocol ([`super::layout`]).
//!
//! ```c
//! extern "C" __global__ void __launch_bounds__(B) spindle_ring_<name>(
//!     SpindleRingControl* ctl, unsigned char* requests, unsigned char* replies,
//!     S* state, S* state_out, SpindleFault* fault)
//! ```
//!
//! launched as one block of `B` = [`RingKernelSource::block_threads`]
//! threads: the handler's `threads = N`, raised to a full warp of 32 when
//! `N < 32` and the handler uses no block or warp operation (the extra
//! lanes poll and copy, and wait at the loop's barriers while the handler
//! runs; `block_dim()` still says `N`). `__launch_bounds__(B)` lets ptxas
//! fit the registers to the block, so a 1024-thread handler launches.
//!
//! # The loop, one batch at a time
//!
//! 1. **Poll** (the lanes of warp 0, together): each lane issues strong
//!    relaxed loads of the `seq` of its share of the next 32 request slots,
//!    lane 0 also of `stop` and of the host's reply head; all are in flight
//!    at once, so a poll costs one PCIe round trip. Ballots give the count
//!    of consecutive published positions; the batch takes that many, at
//!    most [`super::layout::MAX_BATCH`], the plan's staging bound, and the
//!    reply slots the host has freed (so nothing inside a batch waits for
//!    reply room). If it takes any, one `fence.acq_rel.sys` per lane turns
//!    the loads into acquisitions (an acquire pattern in the PTX memory
//!    model); a warp barrier hands lane 0's to the others. `stop` is read in
//!    every poll: an abort ends the loop, a drain makes the next poll the
//!    last one if it is empty (the same rule as before).
//! 2. **Fetch** (every thread): the batch's payloads are copied into shared
//!    memory, each thread holding several 8-byte loads in flight; one PCIe
//!    round trip for the batch. A message bigger than half the staging
//!    budget ([`super::plan::STAGE_BUDGET`]) is not copied: the handler
//!    reads it in place, in its slot (which stays the executor's until the
//!    batch is published).
//! 3. **Handle**, message by message in order (state is sequential): the
//!    handler threads run the handler on the message by reference; thread
//!    0's return value is constructed straight into the reply's buffer
//!    (shared staging, or the reply slot for a reply too big to stage):
//!    no thread keeps a copy of the message or the reply on its stack. A
//!    counting barrier ends each message. Before arriving at it, thread 0
//!    reads `stop` again if [`super::layout::STOP_CHECK_NS`] have passed
//!    since it last did: an abort waits for at most the message in hand
//!    plus that interval, and handlers faster than it never pay the read.
//! 4. **Publish**: the staged replies are copied to their slots (every
//!    thread); then thread 0 issues one `fence.acq_rel.sys` and stores the
//!    batch's reply `seq`s and the request head (strong relaxed stores: a
//!    release pattern). The request head is released once per batch.
//!
//! A thread that faults records the fault and, before it stops (the
//! `SPINDLE_ON_FAULT` hook in `spindle_fault_exit`), publishes the replies
//! to the batch's messages before its own, then `error` and `exited`; the
//! other threads see a short count at the message's barrier and stop. No
//! reply to the faulting message or a later one is ever published.
//!
//! # What one message costs the device
//!
//! Counted from the code (the figures a GPU run of `benches/gpu/ring.rs`
//! measures): PCIe reads are round trips to host memory the executor waits
//! for; fences are system-scope `fence`/`membar` (each `st.release.sys` is
//! one); barriers are block barriers. `c` is the batch size (1 for a
//! lone `call`, up to 32 when messages queue).
//!
//! | per message              | before (one message per round) | after (batches of `c`)            |
//! |--------------------------|--------------------------------|-----------------------------------|
//! | dependent PCIe reads     | 2 (seq, then payload) + 1/64 (`stop`) | 2/c (one poll, one fetch; `stop` and the reply head ride in the poll) |
//! | system-scope fences      | 2 (release of the head, release of the seq) | 2/c (acquire after the poll, release before the seqs) |
//! | block barriers           | 2                              | 1 + 3/c (the message's, plus poll, fetch and publish hand-offs) |
//! | `stop` reads             | 1/64, after the reply          | in the poll; between messages only after 20 µs |
//!
//! For a lone `call` (c = 1) the device side still does two dependent
//! reads and two fences; the fence that released the request head before
//! the handler ran is gone (the head travels with the reply), and a fence
//! issued while the previous batch's stores are in flight is the one the
//! hardware makes wait. Throughput is where batching pays: 32 queued
//! messages cost two round trips and two fences together instead of 64
//! and 64.
//!
//! Every device-only operation goes through a named helper
//! (`spindle_ring_load_relaxed_u32`, `spindle_ring_fence_acq_rel`,
//! `spindle_ring_ballot`, `spindle_nanosleep`, `spindle_sync_threads_count`,
//! …) defined under `#ifndef SPINDLE_HOST_SHIM`, so the same text compiles
//! as host C++ against a shim (`host-shims/ring_host_shim.h`) and runs
//! with a block of OS threads against the real host side. The loop is the
//! one `spindle_runtime`'s CPU executor runs (`run_executor`), step for
//! step.

use std::fmt::Write as _;

use super::device_loop;
use super::layout::{SlotLayout, CACHE_LINE};
use super::plan::{self, RingPlan};
use crate::cuda::{self, EmitOptions};
use crate::ir::{Kernel, ParamKind, Ty, MAX_RING_THREADS, MAX_SHARED_BYTES};

/// The generated ring kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingKernelSource {
    /// The complete translation unit.
    pub code: String,
    /// The `extern "C" __global__` symbol: [`ring_entry_symbol`].
    pub entry: String,
    /// Threads that run the handler (`threads = N`; the `threads` word of
    /// the ring's `config`).
    pub threads: u32,
    /// Threads in the one block the kernel must be launched with (at
    /// least [`Self::threads`]; see the module doc).
    pub block_threads: u32,
    /// How the loop runs this kernel.
    pub plan: RingPlan,
    /// The request slots' layout (message type).
    pub request: SlotLayout,
    /// The reply slots' layout (reply type).
    pub reply: SlotLayout,
    /// The C type of the state `S` (the kernel's `state` parameter is `S*`).
    pub state_type: String,
}

/// The entry symbol of a ring kernel: `spindle_ring_<name>`.
pub fn ring_entry_symbol(kernel_name: &str) -> String {
    format!("spindle_ring_{}", crate::abi::c_name(kernel_name))
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
    let (request, reply_slot, plan) = check_ring_plan(kernel)?;
    let (state, _, _) = ring_types(kernel)?;
    let h = &cuda::emit_ring_handler(kernel, options);
    let entry = ring_entry_symbol(&kernel.name);
    let mut code = String::with_capacity(h.code.len() + 16384);
    code.push_str(device_loop::BEFORE_HANDLER);
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
    code.push_str(&device_loop::device_loop(&entry, h, &plan));
    Ok(RingKernelSource {
        code,
        entry,
        threads: kernel.threads,
        block_threads: plan.block_threads,
        plan,
        request,
        reply: reply_slot,
        state_type: h.state_type.clone(),
    })
}

/// Checks that `kernel` can run as a persistent ring kernel on a GPU: its
/// signature, its message and reply slots, its state's alignment, its
/// shared memory next to the loop's, and every value a handler thread
/// holds against a GPU thread's local memory. Both backends call it when
/// an actor is spawned, so a ring kernel the CPU backend accepts also runs
/// on a GPU. Returns the request and reply slot layouts.
pub fn check_ring_kernel(kernel: &Kernel) -> Result<(SlotLayout, SlotLayout), String> {
    check_ring_plan(kernel).map(|(request, reply, _)| (request, reply))
}

fn check_ring_plan(kernel: &Kernel) -> Result<(SlotLayout, SlotLayout, RingPlan), String> {
    let (state, msg, reply) = ring_types(kernel)?;
    let request = slot_of(kernel, msg, "message")?;
    let reply_slot = slot_of(kernel, reply, "reply")?;
    if kernel.align_of(state) as usize > CACHE_LINE {
        return Err(format!(
            "ring kernel `{}`: state alignment above {CACHE_LINE}",
            kernel.name
        ));
    }
    let user = plan::user_shared_bytes(kernel);
    let Some(plan) = RingPlan::new(kernel, &request, &reply_slot, user) else {
        let control = plan::control_bytes(kernel.threads);
        return Err(format!(
            "ring kernel `{}`: its shared arrays take {user} bytes, and the ring loop needs {control} \
             more (its control block); together they must fit in {MAX_SHARED_BYTES} bytes",
            kernel.name
        ));
    };
    if user + plan.shared_bytes() > MAX_SHARED_BYTES as u64 {
        return Err(format!(
            "ring kernel `{}`: its shared arrays take {user} bytes, and the ring loop needs {} \
             more (its control block and a batch's staged payloads); together they must fit in \
             {MAX_SHARED_BYTES} bytes",
            kernel.name,
            plan.shared_bytes()
        ));
    }
    check_thread_values(kernel)?;
    Ok((request, reply_slot, plan))
}

/// The most bytes of local memory (stack) one GPU thread can have: CUDA's
/// per-thread limit on every architecture spindle targets.
pub const MAX_THREAD_LOCAL_BYTES: u64 = 512 * 1024;

/// Every value a handler thread holds by value must fit in a GPU thread's
/// local memory ([`MAX_THREAD_LOCAL_BYTES`]): a `mut` message (the
/// thread's own copy), each local, and each device function's parameters
/// and result. The message, the reply and the state themselves are not
/// per-thread: the loop hands the message over by reference, builds the
/// reply in place and keeps the state in device memory.
fn check_thread_values(kernel: &Kernel) -> Result<(), String> {
    let too_big = |what: String, ty: &Ty| {
        let size = u64::from(kernel.size_of(ty));
        (size > MAX_THREAD_LOCAL_BYTES).then(|| {
            format!(
                "ring kernel `{}`: {what} of type `{}` takes {size} bytes in every handler thread; \
                 a GPU thread's local memory holds at most {MAX_THREAD_LOCAL_BYTES} bytes \
                 (keep large data in the state, which lives once in device memory)",
                kernel.name,
                kernel.ty_name(ty)
            )
        })
    };
    for p in &kernel.entry.params {
        if let (ParamKind::Value(t), true) = (&p.kind, p.mutable) {
            if let Some(e) = too_big(format!("the `mut` message `{}`", p.name), t) {
                return Err(e);
            }
        }
    }
    for f in std::iter::once(&kernel.entry).chain(&kernel.device_fns) {
        for l in &f.locals {
            if let Some(e) = too_big(format!("local `{}` of `{}`", l.name, f.name), &l.ty) {
                return Err(e);
            }
        }
    }
    for f in &kernel.device_fns {
        for p in &f.params {
            if let ParamKind::Value(t) = &p.kind {
                if let Some(e) = too_big(format!("parameter `{}` of `{}`", p.name, f.name), t) {
                    return Err(e);
                }
            }
        }
        if let Some(e) = too_big(format!("the result of `{}`", f.name), &f.ret) {
            return Err(e);
        }
    }
    Ok(())
}
