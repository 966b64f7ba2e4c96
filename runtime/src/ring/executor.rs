//! The executor side of the ring protocol: what the host needs from an
//! executor ([`Executor`]), and the executor loop in Rust
//! ([`run_executor`]) — the same loop the generated persistent kernel runs
//! on the GPU (`spindle_codegen::ring::emit`), step for step.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ring::layout::{
    offsets, RingLayout, ERROR_EXECUTOR, ERROR_LAYOUT, EXIT_ABORTED, EXIT_DRAINED, EXIT_FAULTED,
    MAGIC, STOP_ABORT, STOP_DRAIN, STOP_POLL_INTERVAL, VERSION,
};

use super::memory::RingMemory;
use super::protocol::{read_config, Consumer, Producer, RingGeometry};
use super::wait::Idle;
use crate::Error;

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
/// until stopped. Exactly the loop of the generated kernel:
///
/// 1. check `config`, store `running = 1`;
/// 2. poll the request ring; on a message: copy it out (freeing its slot),
///    run the handler, wait for reply room (watching for an abort), publish
///    the reply; every `STOP_POLL_INTERVAL` messages, check for an abort;
/// 3. on an empty ring: if a drain was already seen, exit; else load
///    `stop` and poll once more (drain) or exit (abort) or idle;
/// 4. write the state to state-out (unless faulted), publish `exited`.
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
    let mut msg = vec![0u8; request_ring.payload_size()];
    let mut reply = vec![0u8; reply_ring.payload_size()];
    let mut draining = false;
    let mut since_stop_poll = 0u32;

    // Acquire (every load of `stop`): pairs with the host's Release store
    // of `stop`, which it makes after its last request publish; once we
    // have read STOP_DRAIN, the next poll of the request ring sees every
    // request published before shutdown.
    let stop = |mem: &M| mem.load(offsets::STOP, Acquire);

    let exit = 'run: loop {
        if requests.try_consume(mem, &mut msg) {
            idle.reset();
            if let Err(e) = handler.handle(state, &msg, &mut reply) {
                report(e);
                // Release: the report above happens before the host's
                // Acquire of `error`.
                mem.store(offsets::ERROR, ERROR_EXECUTOR, Release);
                idle.published();
                break 'run ExecutorExit::Faulted;
            }
            // The full check on the reply ring.
            while !replies.has_room(mem) {
                if stop(mem) == STOP_ABORT {
                    break 'run ExecutorExit::Aborted;
                }
                idle.pause(&|| {
                    replies.room_visible(mem) || mem.load(offsets::STOP, Relaxed) == STOP_ABORT
                });
            }
            let published = replies.try_publish(mem, &reply);
            debug_assert!(published, "has_room was true");
            idle.published();
            since_stop_poll += 1;
            if since_stop_poll >= STOP_POLL_INTERVAL {
                since_stop_poll = 0;
                if stop(mem) == STOP_ABORT {
                    break 'run ExecutorExit::Aborted;
                }
            }
            continue;
        }
        if draining {
            // `stop` was read before this empty poll: drained.
            break 'run ExecutorExit::Drained;
        }
        match stop(mem) {
            STOP_DRAIN => draining = true,
            STOP_ABORT => break 'run ExecutorExit::Aborted,
            _ => idle.pause(&|| requests.is_ready(mem) || mem.load(offsets::STOP, Relaxed) != 0),
        }
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
