//! How the generated persistent loop runs one ring kernel: the block it is
//! launched with, the lanes that poll, how many messages one batch takes,
//! and which payloads go through shared memory. Computed once from the
//! kernel's types by [`RingPlan::new`]; the emitter bakes it into the
//! loop as constants, and `check_ring_kernel` uses it to refuse what a
//! GPU could not run.

use super::layout::{SlotLayout, MAX_BATCH};
use crate::ir::{Kernel, Ty, MAX_SHARED_BYTES};

/// Shared memory the loop may use for staging payloads, at most: enough
/// for a full batch of 256-byte messages with their replies, and well
/// under the 48 KiB a block can declare, so a handler keeps room for its
/// own shared arrays.
pub const STAGE_BUDGET: u32 = 16 * 1024;

/// Threads a GPU warp has; the poll needs one warp's lanes.
pub const WARP: u32 = 32;

/// Bytes of the loop's own shared control block (`SpindleRingShared`),
/// not counting its per-handler-thread bytes; the generated code checks
/// its real size against this with a `static_assert`.
pub const CONTROL_BYTES: u32 = 64;

/// The loop's shape for one kernel (see the module doc of
/// `spindle_codegen::ring::emit` for the loop itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingPlan {
    /// Threads that run the handler (`threads = N`).
    pub handler_threads: u32,
    /// Threads the block is launched with: the handler's, raised to a
    /// full warp when the handler has fewer than 32 threads and uses no
    /// block or warp operation (the extra lanes only poll and copy, and
    /// wait at the loop's barriers while the handler runs).
    pub block_threads: u32,
    /// Lanes of warp 0 that poll the request ring: `min(32, block)`.
    pub poll_lanes: u32,
    /// Slots each polling lane reads per poll: `ceil(32 / poll_lanes)`.
    pub poll_rounds: u32,
    /// The most messages one batch takes (1 ..= [`MAX_BATCH`]).
    pub batch: u32,
    /// Messages are copied into shared memory before the handler runs;
    /// otherwise the handler reads each one in place, in its slot.
    pub msg_staged: bool,
    /// Replies are built in shared memory and copied to their slots
    /// after the batch; otherwise thread 0 builds each in its slot.
    pub reply_staged: bool,
    /// Bytes from one staged message to the next (the slot's payload
    /// area: a multiple of 8).
    pub msg_stage_stride: u32,
    /// Bytes from one staged reply to the next (a multiple of 8).
    pub reply_stage_stride: u32,
    /// 8-byte words each thread loads before storing any, when copying.
    pub copy_unroll: u32,
}

impl RingPlan {
    /// The plan for `kernel` whose slots are laid out as `request` and
    /// `reply`, next to `user_shared` bytes of the handler's own shared
    /// arrays. `None` when not even the loop's control block fits.
    pub fn new(
        kernel: &Kernel,
        request: &SlotLayout,
        reply: &SlotLayout,
        user_shared: u64,
    ) -> Option<RingPlan> {
        let threads = kernel.threads;
        let block_threads = if threads < WARP && !crate::cuda::uses_collectives(kernel) {
            WARP
        } else {
            threads
        };
        let poll_lanes = block_threads.min(WARP);
        let control = control_bytes(threads);
        let available = (MAX_SHARED_BYTES as u64).checked_sub(user_shared + control)?;
        // Each staging array is 128-aligned: keep room for its padding.
        let budget = available
            .saturating_sub(2 * STAGE_ALIGN)
            .min(STAGE_BUDGET as u64) as u32;
        let msg_stride = (request.stride - request.payload_offset) as u32;
        let reply_stride = (reply.stride - reply.payload_offset) as u32;
        let msg_staged = msg_stride <= budget / 2;
        let reply_staged = reply_stride <= budget / 2;
        let per =
            if msg_staged { msg_stride } else { 0 } + if reply_staged { reply_stride } else { 0 };
        // Nothing staged: no bound but the batch's own.
        let batch = budget
            .checked_div(per)
            .map_or(MAX_BATCH, |b| b.clamp(1, MAX_BATCH));
        Some(RingPlan {
            handler_threads: threads,
            block_threads,
            poll_lanes,
            poll_rounds: WARP.div_ceil(poll_lanes),
            batch,
            msg_staged,
            reply_staged,
            msg_stage_stride: msg_stride,
            reply_stage_stride: reply_stride,
            copy_unroll: (256 / block_threads).clamp(1, 32),
        })
    }

    /// Bytes of staging in shared memory (messages and replies of a full
    /// batch).
    pub fn stage_bytes(&self) -> u32 {
        let msg = if self.msg_staged {
            self.msg_stage_stride
        } else {
            0
        };
        let reply = if self.reply_staged {
            self.reply_stage_stride
        } else {
            0
        };
        self.batch * (msg + reply)
    }

    /// Every byte of shared memory the loop declares, with the most
    /// padding its 128-aligned staging arrays can need.
    pub fn shared_bytes(&self) -> u64 {
        let array = |staged: bool, stride: u32| {
            if staged {
                u64::from(self.batch * stride) + STAGE_ALIGN
            } else {
                0
            }
        };
        control_bytes(self.handler_threads)
            + array(self.msg_staged, self.msg_stage_stride)
            + array(self.reply_staged, self.reply_stage_stride)
    }
}

/// The alignment of each staging array.
const STAGE_ALIGN: u64 = 128;

/// The loop's control block for `threads` handler threads: what the loop
/// needs in shared memory at the least.
pub fn control_bytes(threads: u32) -> u64 {
    u64::from(CONTROL_BYTES + threads.next_multiple_of(8))
}

/// The bytes the handler's block-shared arrays take, padded to each
/// array's alignment as ptxas lays them out.
pub fn user_shared_bytes(kernel: &Kernel) -> u64 {
    let mut at = 0u64;
    for a in &kernel.shared {
        let ty = Ty::Array(Box::new(a.elem.clone()), a.len);
        let align = u64::from(kernel.align_of(&a.elem));
        at = at.div_ceil(align) * align + u64::from(kernel.size_of(&ty));
    }
    at
}
