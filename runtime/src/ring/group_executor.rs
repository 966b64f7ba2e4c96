//! The executor side of an actor group, in Rust: the loop one block of the
//! group kernel runs (`spindle_codegen::ring::group_layout` documents the
//! region and the protocol), run by each worker thread of the CPU backend
//! over the actors it owns. Generic over [`RingMemory`] like the
//! single-actor loop (`executor.rs`).

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use spindle_codegen::ring::group_layout::{group_offsets, GroupLayout, GROUP_MAGIC, GROUP_VERSION};
use spindle_codegen::ring::layout::{
    ERROR_EXECUTOR, ERROR_LAYOUT, EXIT_ABORTED, EXIT_DRAINED, EXIT_FAULTED, MAX_BATCH, STOP_ABORT,
    STOP_DRAIN,
};

use super::executor::{ExecutorExit, RingHandler};
use super::memory::RingMemory;
use super::protocol::{Consumer, Producer, RingGeometry};
use super::wait::Idle;
use crate::{Error, Result};

/// Whether the group's `config` describes `layout`.
fn group_config_matches<M: RingMemory + ?Sized>(mem: &M, layout: &GroupLayout) -> bool {
    // Relaxed: the host wrote the config before starting the executor;
    // thread spawn (or kernel launch) orders those writes before us.
    let w = |i: usize| mem.load(group_offsets::CONFIG + 4 * i, Relaxed);
    let want = layout.config_words(0, 0);
    w(0) == GROUP_MAGIC
        && w(1) == GROUP_VERSION
        && w(2) == want.actors
        && w(3) == want.blocks
        && w(4) == want.capacity
        && w(5) == want.request_stride
        && w(6) == want.reply_stride
        && w(7) == want.state_size
        && w(8) == want.state_stride
        && w(9) == want.actor_stride
}

/// Writes the group's `config` line. Only before the executor starts.
pub(crate) fn write_group_config<M: RingMemory + ?Sized>(
    mem: &M,
    layout: &GroupLayout,
    idle_ns: u32,
    threads: u32,
) {
    let c = layout.config_words(idle_ns, threads);
    let words = [
        c.magic,
        c.version,
        c.actors,
        c.blocks,
        c.capacity,
        c.request_stride,
        c.reply_stride,
        c.state_size,
        c.state_stride,
        c.actor_stride,
        c.idle_ns,
        c.threads,
    ];
    for (i, w) in words.into_iter().enumerate() {
        // Relaxed: nobody reads the region before the executor starts,
        // which orders these stores before its loads.
        mem.store(group_offsets::CONFIG + 4 * i, w, Relaxed);
    }
}

/// One block's view of an actor it owns.
struct Owned {
    /// The actor's index in the group.
    actor: u32,
    requests: Consumer,
    replies: Producer,
    /// Its handler failed: its requests are never handled again.
    failed: bool,
}

/// What a block needs besides the memory: its handler (made afresh after
/// a fault), and where a handler's error goes.
pub(crate) trait BlockHandlers {
    /// The handler, made on first use.
    fn handler(&mut self) -> Result<&mut dyn RingHandler>;
    /// Actor `actor`'s handler failed with `e`: keep the error for the
    /// host (before `error` is published) and start the next message
    /// with a fresh handler.
    fn failed(&mut self, actor: u32, e: Error);
    /// Moves into `out` the actors the host hinted at since the last call
    /// (it published to them or freed reply room), each hinted once until
    /// taken. `false` when this executor has no hints: every pass then
    /// visits every actor.
    fn take_hints(&mut self, out: &mut Vec<u32>) -> bool {
        let _ = out;
        false
    }
}

/// The loop of block `block` of a group: visits its actors (`block`,
/// `block + G`, …), taking at most one batch per actor per pass, until
/// stopped. A pass visits every actor, or — when the executor has hints
/// ([`BlockHandlers::take_hints`]) — the actors hinted at since the last
/// pass and then those that had more work than their batch took, so an
/// idle actor costs a busy block nothing. Per batch, exactly the single-actor loop's steps
/// (`run_executor`): relaxed polls of the seqs and the host's reply head,
/// one acquire fence, fetch, handle in order, one release fence, relaxed
/// stores of the reply seqs and the head.
///
/// `states` holds the block's actors' states, `layout.state_stride` bytes
/// apart, in the order of their indices. `wake` reads a counter the host
/// bumps after it publishes a request or frees a reply slot of one of the
/// block's actors; an idle block pauses until it changes (or `stop` is
/// raised). At the end the states go to state-out (including a failed
/// actor's, as its handler left it) and the block publishes `exited`.
pub(crate) fn run_group_block<M, I>(
    mem: &M,
    layout: &GroupLayout,
    block: u32,
    handlers: &mut dyn BlockHandlers,
    states: &mut [u8],
    idle: &mut I,
    wake: &dyn Fn() -> u32,
) -> ExecutorExit
where
    M: RingMemory + ?Sized,
    I: Idle + ?Sized,
{
    let status = layout.block_status(block);
    if !group_config_matches(mem, layout) {
        // Release: the host acquires `error` before it trusts `exited`.
        mem.store(status + group_offsets::BLOCK_ERROR, ERROR_LAYOUT, Release);
        mem.store(status + group_offsets::BLOCK_EXITED, EXIT_FAULTED, Release);
        idle.published();
        return ExecutorExit::LayoutMismatch;
    }
    // Relaxed: `running` is informational.
    mem.store(status + group_offsets::BLOCK_RUNNING, 1, Relaxed);
    let mut owned: Vec<Owned> = (block..layout.actors)
        .step_by(layout.blocks as usize)
        .map(|actor| Owned {
            actor,
            requests: Consumer::new(RingGeometry::group_requests(layout, actor)),
            replies: Producer::new(RingGeometry::group_replies(layout, actor)),
            failed: false,
        })
        .collect();
    let stride = layout.state_stride;
    let size = layout.state_size;
    debug_assert!(states.len() >= owned.len() * stride);
    let window = MAX_BATCH.min(layout.capacity);
    let msg_size = layout.request.payload_size;
    let mut msgs = vec![0u8; window as usize * msg_size];
    let mut reply = vec![0u8; layout.reply.payload_size];

    // The actors the next pass visits when it need not visit them all:
    // those hinted at, and those left with work after their batch.
    let mut visit: Vec<u32> = Vec::new();
    let mut carry: Vec<u32> = Vec::new();
    let exit = 'run: loop {
        let seen = wake();
        // Acquire: pairs with the host's Release of `stop`, made after its
        // last publish: a pass that starts after reading STOP_DRAIN sees
        // every request published before the stop.
        let stop = mem.load(group_offsets::STOP, Acquire);
        if stop == STOP_ABORT {
            break 'run ExecutorExit::Aborted;
        }
        let mut worked = false;
        let mut pending = false;
        // A pass visits every actor unless the executor has hints; a drain
        // always does (its rule needs a whole pass).
        // Hinted actors first, then those left with work: an actor the host
        // just sent to waits for at most the batch in hand.
        visit.clear();
        let hinted = handlers.take_hints(&mut visit);
        visit.append(&mut carry);
        let everyone = !hinted || stop != 0;
        if everyone {
            visit.clear();
            visit.extend(0..owned.len() as u32);
        } else {
            // Actor indices to the block's places.
            for v in visit.iter_mut() {
                *v = (*v - block) / layout.blocks;
            }
        }
        for &k in &visit {
            let k = k as usize;
            let a = &mut owned[k];
            if a.failed {
                continue;
            }
            // Poll: relaxed loads; the acquire fence below makes them
            // acquisitions when they are acted on.
            let ready = a.requests.ready(mem, window);
            if ready == 0 {
                continue;
            }
            pending = true;
            let head = mem.load(a.replies.head_offset(), Relaxed);
            let n = ready.min(a.replies.room_after(head));
            if n == 0 {
                // No reply room: the host hints at the actor once it
                // frees some.
                continue;
            }
            if n == window || n < ready {
                // It may have more: visited again next pass.
                carry.push(a.actor);
            }
            // Acquire fence: pairs with the host's Release of each seq
            // (after it wrote that payload) and of its reply head (after
            // it read those replies).
            mem.fence(Acquire);
            for (i, dst) in msgs.chunks_exact_mut(msg_size).take(n as usize).enumerate() {
                // SAFETY: position `i` of the batch is published (`ready`),
                // and the acquire fence above followed the load that saw it.
                unsafe { a.requests.read_ahead(mem, i as u32, dst) };
            }
            let state = &mut states[k * stride..k * stride + size];
            let mut done = n;
            for (i, msg) in msgs.chunks_exact(msg_size).take(n as usize).enumerate() {
                // Relaxed: an abort orders nothing; the loop only stops.
                if i > 0 && mem.load(group_offsets::STOP, Relaxed) == STOP_ABORT {
                    break 'run ExecutorExit::Aborted;
                }
                let result = handlers
                    .handler()
                    .and_then(|h| h.handle(state, msg, &mut reply));
                if let Err(e) = result {
                    done = i as u32;
                    handlers.failed(a.actor, e);
                    a.failed = true;
                    break;
                }
                // SAFETY: `i < n ≤` the room `room_after` reported, after
                // the acquire fence that followed the load of the head.
                unsafe { a.replies.write_ahead(mem, i as u32, &reply) };
            }
            // Publish: release fence, then relaxed stores (a release each)
            // of the reply seqs and the head.
            mem.fence(Release);
            a.replies.publish_after_fence(mem, done);
            a.requests.release_after_fence(mem, done);
            if a.failed {
                // Release: the replies above and the error the handlers
                // kept come before the host's Acquire of `error`.
                mem.store(
                    layout.actor_offset(a.actor) + group_offsets::ACTOR_ERROR,
                    ERROR_EXECUTOR,
                    Release,
                );
            }
            idle.published();
            worked = true;
        }
        if worked {
            idle.reset();
            continue;
        }
        if stop == STOP_DRAIN && !pending {
            // This pass began after `stop = DRAIN` was acquired and found
            // nothing published: every request sent before the stop is
            // handled.
            break 'run ExecutorExit::Drained;
        }
        idle.pause(&|| wake() != seen || mem.load(group_offsets::STOP, Relaxed) != 0);
    };

    for (k, a) in owned.iter().enumerate() {
        // SAFETY: only this block writes its actors' state-out, once; the
        // host reads it only after acquiring `exited` below.
        unsafe {
            mem.write_bytes(
                layout.state_out(a.actor),
                &states[k * stride..k * stride + size],
            )
        };
    }
    let code = match exit {
        ExecutorExit::Drained => EXIT_DRAINED,
        ExecutorExit::Aborted => EXIT_ABORTED,
        ExecutorExit::Faulted | ExecutorExit::LayoutMismatch => EXIT_FAULTED,
    };
    // Release: orders the state-out writes and every reply before `exited`.
    mem.store(status + group_offsets::BLOCK_EXITED, code, Release);
    idle.published();
    exit
}
