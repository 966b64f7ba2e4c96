//! The executor side of the ring protocol: what the host needs from an
//! executor ([`Executor`]), and the executor loop in Rust
//! ([`run_executor`]) — the same loop the generated persistent kernel runs
//! on the GPU (`spindle_codegen::ring::emit`), step for step.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ring::layout::{
    offsets, RingLayout, ERROR_EXECUTOR, ERROR_LAYOUT, EXIT_ABORTED, EXIT_DRAINED, EXIT_FAULTED,
    MAGIC, MAX_BATCH, STOP_ABORT, STOP_DRAIN, VERSION,
};

use super::memory::RingMemory;
use super::protocol::{read_config, Consumer, Producer, RingGeometry};
use super::wait::Idle;
use crate::Error;

#[cfg(all(test, not(loom)))]
#[path = "executor_tests.rs"]
mod tests;

/// What the host side of an actor needs from whatever plays the executor
/// side of the protocol (a host thread, a GPU kernel, host-compiled CUDA).
///
/// Public for executors outside this crate (the host-compiled CUDA tests);
/// not part of spindle's stable API.
#[doc(hidden)]
pub trait Executor: Send {
    /// `Err` once the executor has died without publishing `exited` (a
    /// panicked thread, a kernel that crashed, a kernel whose every
    /// handler thread faulted). Called during host waits, not on every
    /// operation.
    fn check_alive(&mut self) -> Result<(), ExecutorDeath>;

    /// After `status.error == ERROR_FAULT`: waits up to `timeout` for the
    /// executor to stop completely (so every store of the faulting thread
    /// is visible) and returns the fault record it left.
    fn fault_record(&mut self, timeout: Duration) -> Option<FaultRecord> {
        let _ = timeout;
        None
    }

    /// The error for another non-zero `status.error` code (an executor
    /// that reports its errors on its own channel).
    fn failure(&mut self, code: u32) -> Error;

    /// The host just published something the executor may wait for.
    fn notify(&self) {}

    /// The host is done with the executor. `exited`: the executor published
    /// `exited`. Returns `true` when the region may be freed (the executor
    /// will never touch it again); `false` makes the host leak the region.
    fn finish(&mut self, exited: bool) -> bool;
}

/// Why an executor stopped without publishing `exited`.
#[doc(hidden)]
#[derive(Debug)]
pub enum ExecutorDeath {
    /// Every handler thread faulted, so no thread was left to publish the
    /// fault: the fault record the executor left behind.
    Fault(FaultRecord),
    /// Anything else, in a sentence.
    Other(String),
}

/// A ring handler over raw bytes: one message, against the state, with one
/// reply. The CPU executor runs one of these per actor.
#[doc(hidden)]
pub trait RingHandler: Send {
    /// Runs the handler: reads `msg`, updates `state`, writes `reply`
    /// (each exactly the size of its type; `state` 8-byte aligned). An
    /// error stops the actor.
    fn handle(&mut self, state: &mut [u8], msg: &[u8], reply: &mut [u8]) -> Result<(), Error>;
}

/// How [`run_executor`] ended.
#[derive(Debug)]
pub(crate) enum ExecutorExit {
    /// `stop = STOP_DRAIN` and every published request handled.
    Drained,
    /// `stop = STOP_ABORT`.
    Aborted,
    /// The handler failed (the error went to `report`).
    Faulted,
    /// `config` did not match the executor's layout.
    LayoutMismatch,
}

/// Whether `config` describes `layout`.
fn config_matches<M: RingMemory + ?Sized>(mem: &M, layout: &RingLayout) -> bool {
    let c = read_config(mem);
    c.magic == MAGIC
        && c.version == VERSION
        && c.capacity == layout.capacity
        && c.capacity.is_power_of_two()
        && c.request_stride as usize == layout.request.stride
        && c.reply_stride as usize == layout.reply.stride
        && c.state_size as usize == layout.state_size
}

/// The executor loop: consume requests, run `handler`, publish replies,
/// until stopped. The loop of the generated kernel
/// (`spindle_codegen::ring::emit`), batch for batch:
///
/// 1. check `config`, store `running = 1`;
/// 2. **poll**: relaxed loads of the seqs of the next positions (at most
///    `MAX_BATCH`), of `stop` and of the host's reply head; the batch is
///    the run of published positions, cut to the reply slots the host has
///    freed. An abort ends the loop; if the batch is not empty (or a drain
///    was just read) an acquire fence follows; an empty poll after a drain
///    was read ends the loop; otherwise idle and poll again;
/// 3. **fetch**: copy the batch's messages out of their slots;
/// 4. **handle** them in order, each reply written straight into its slot;
///    between two messages, check `stop` for an abort (the GPU loop does
///    that only after `STOP_CHECK_NS`, to save a PCIe read; here the word
///    is in the cache). A handler error publishes the replies before it,
///    then the error;
/// 5. **publish**: one release fence, then relaxed stores of the batch's
///    reply seqs and of the request head;
/// 6. at the end: the state to state-out (unless faulted), publish `exited`.
///
/// `state` is the actor's state (`layout.state_size` bytes); `report`
/// receives a handler error before `status.error` is published.
pub(crate) fn run_executor<M, H, I>(
    mem: &M,
    layout: &RingLayout,
    handler: &mut H,
    state: &mut [u8],
    idle: &mut I,
    report: &mut dyn FnMut(Error),
) -> ExecutorExit
where
    M: RingMemory + ?Sized,
    H: RingHandler + ?Sized,
    I: Idle + ?Sized,
{
    if !config_matches(mem, layout) {
        // Release: the host acquires `error` before it trusts `exited`.
        mem.store(offsets::ERROR, ERROR_LAYOUT, Release);
        mem.store(offsets::EXITED, EXIT_FAULTED, Release);
        return ExecutorExit::LayoutMismatch;
    }
    // Relaxed: `running` is informational; nothing is ordered by it.
    mem.store(offsets::RUNNING, 1, Relaxed);

    let request_ring = RingGeometry::requests(layout);
    let reply_ring = RingGeometry::replies(layout);
    let mut requests = Consumer::new(request_ring);
    let mut replies = Producer::new(reply_ring);
    let window = MAX_BATCH.min(layout.capacity);
    let msg_size = request_ring.payload_size();
    // The batch's messages, copied out of their slots (the GPU loop's
    // shared staging).
    let mut msgs = vec![0u8; window as usize * msg_size];
    let mut reply = vec![0u8; reply_ring.payload_size()];
    let mut draining = false;

    // Publishes the replies to the batch's first `n` messages (written to
    // their slots) and frees those request slots.
    let publish = |requests: &mut Consumer, replies: &mut Producer, n: u32| {
        // Release fence, then relaxed stores (a release each): orders the
        // batch's payload reads and reply writes before the seqs and the
        // head. The host acquires a seq before reading its reply, and the
        // head before it writes a freed slot again.
        mem.fence(Release);
        replies.publish_after_fence(mem, n);
        requests.release_after_fence(mem, n);
    };

    let exit = 'run: loop {
        // 1. Poll. Relaxed loads; the acquire fence below makes them
        //    acquisitions when they are acted on.
        let ready = requests.ready(mem, window);
        let stop = mem.load(offsets::STOP, Relaxed);
        let head = mem.load(replies.head_offset(), Relaxed);
        if stop == STOP_ABORT {
            break 'run ExecutorExit::Aborted;
        }
        // Never more messages than reply slots to answer them in.
        let n = ready.min(replies.room_after(head));
        if n > 0 || (stop == STOP_DRAIN && !draining) {
            // Acquire fence: pairs with the host's Release of each seq
            // read above (after it wrote that payload), of its reply head
            // (after it read those replies) and of `stop` (after its last
            // publish): the payload reads, the reply writes and the next
            // poll all come after it.
            mem.fence(Acquire);
        }
        if n == 0 {
            if draining && ready == 0 {
                // This poll began after `stop = DRAIN` was acquired:
                // every request published before the stop is handled.
                break 'run ExecutorExit::Drained;
            }
            if stop == STOP_DRAIN && !draining {
                // Poll again at once: its loads come after this acquire.
                draining = true;
                continue;
            }
            idle.pause(&|| {
                (requests.is_ready(mem) && replies.room_visible(mem))
                    || mem.load(offsets::STOP, Relaxed) != 0
            });
            continue;
        }
        idle.reset();
        // 2. Fetch.
        for (i, dst) in msgs.chunks_exact_mut(msg_size).take(n as usize).enumerate() {
            // SAFETY: position `i` of the batch is published (`ready`), and
            // the acquire fence above followed the load that saw it.
            unsafe { requests.read_ahead(mem, i as u32, dst) };
        }
        // 3. Handle, in order.
        for (i, msg) in msgs.chunks_exact(msg_size).take(n as usize).enumerate() {
            // Relaxed: an abort orders nothing; the loop only stops.
            if i > 0 && mem.load(offsets::STOP, Relaxed) == STOP_ABORT {
                break 'run ExecutorExit::Aborted;
            }
            if let Err(e) = handler.handle(state, msg, &mut reply) {
                // The replies before this message are published; none after.
                publish(&mut requests, &mut replies, i as u32);
                report(e);
                // Release: the report above happens before the host's
                // Acquire of `error`.
                mem.store(offsets::ERROR, ERROR_EXECUTOR, Release);
                idle.published();
                break 'run ExecutorExit::Faulted;
            }
            // SAFETY: `i < n ≤` the room `room_after` reported, after the
            // acquire fence that followed the load of the host's head.
            unsafe { replies.write_ahead(mem, i as u32, &reply) };
        }
        // 4. Publish.
        publish(&mut requests, &mut replies, n);
        idle.published();
    };

    let code = match exit {
        ExecutorExit::Drained => EXIT_DRAINED,
        ExecutorExit::Aborted => EXIT_ABORTED,
        ExecutorExit::Faulted | ExecutorExit::LayoutMismatch => EXIT_FAULTED,
    };
    if code != EXIT_FAULTED {
        // SAFETY: only the executor writes state-out, once, and the host
        // reads it only after acquiring `exited` below.
        unsafe { mem.write_bytes(layout.state_out_offset, state) };
    }
    // Release: orders the state-out writes, every reply and any error word
    // before `exited`; the host acquires `exited` before reading them.
    mem.store(offsets::EXITED, code, Release);
    idle.published();
    exit
}
