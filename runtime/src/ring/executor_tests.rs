//! [`run_executor`] driven directly: messages published before it runs,
//! every shared-memory step it takes counted, so the batch structure
//! (one acquire per poll, one release and one head store per batch), the
//! replies before a fault, and the abort check between messages are
//! checked exactly, with no timing involved.

use std::sync::atomic::Ordering::{self, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU32, AtomicUsize};
use std::sync::Arc;

use spindle_codegen::ring::layout::{
    offsets, PayloadShape, RingLayout, ERROR_EXECUTOR, EXIT_ABORTED, EXIT_DRAINED, EXIT_FAULTED,
    STOP_ABORT, STOP_DRAIN,
};

use crate::ring::executor::{run_executor, ExecutorExit, RingHandler};
use crate::ring::memory::{RawRegion, RingMemory};
use crate::ring::protocol::{Consumer, Producer, RingGeometry};
use crate::ring::wait::Idle;
use crate::{Error, Result};

const U32: PayloadShape = PayloadShape { size: 4, align: 4 };

/// A region that counts the executor's fences and its stores to the
/// request head.
struct Counting {
    region: Arc<RawRegion>,
    acquire_fences: AtomicUsize,
    release_fences: AtomicUsize,
    head_stores: AtomicUsize,
}

impl RingMemory for Counting {
    fn load(&self, offset: usize, order: Ordering) -> u32 {
        self.region.load(offset, order)
    }
    fn store(&self, offset: usize, value: u32, order: Ordering) {
        if offset == offsets::REQUEST_HEAD {
            self.head_stores.fetch_add(1, Relaxed);
        }
        self.region.store(offset, value, order)
    }
    fn fence(&self, order: Ordering) {
        match order {
            Acquire => self.acquire_fences.fetch_add(1, Relaxed),
            Release => self.release_fences.fetch_add(1, Relaxed),
            _ => 0,
        };
        self.region.fence(order)
    }
    unsafe fn write_bytes(&self, offset: usize, src: &[u8]) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.region.write_bytes(offset, src) }
    }
    unsafe fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.region.read_bytes(offset, dst) }
    }
}

/// Never idles: every test publishes its messages (and `stop`) first.
struct NoIdle;

impl Idle for NoIdle {
    fn reset(&mut self) {}
    fn pause(&mut self, _ready: &dyn Fn() -> bool) {
        panic!("the executor idled although everything was published up front")
    }
}

/// state += msg; reply = state. Message `fail_at` fails; message
/// `abort_at` raises `stop = STOP_ABORT` while it is handled.
struct Summing {
    region: Arc<RawRegion>,
    handled: Arc<AtomicU32>,
    fail_at: Option<u32>,
    abort_at: Option<u32>,
}

impl RingHandler for Summing {
    fn handle(&mut self, state: &mut [u8], msg: &[u8], reply: &mut [u8]) -> Result<()> {
        let m = u32::from_ne_bytes(msg.try_into().unwrap());
        if Some(m) == self.fail_at {
            return Err(Error::ActorStopped {
                kernel: "summing".into(),
                reason: format!("message {m} fails"),
            });
        }
        if Some(m) == self.abort_at {
            self.region.store(offsets::STOP, STOP_ABORT, Release);
        }
        self.handled.fetch_add(1, Relaxed);
        let s = u32::from_ne_bytes(state.try_into().unwrap()) + m;
        state.copy_from_slice(&s.to_ne_bytes());
        reply.copy_from_slice(&s.to_ne_bytes());
        Ok(())
    }
}

struct Run {
    exit: ExecutorExit,
    mem: Counting,
    handled: u32,
    replies: Vec<u32>,
    state_out: u32,
}

/// Publishes messages `0..n` (and then `stop`) into a ring of `capacity`
/// slots and runs the executor over them.
fn run(capacity: usize, n: u32, stop: u32, fail_at: Option<u32>, abort_at: Option<u32>) -> Run {
    let layout = RingLayout::new(capacity, U32, U32, U32).unwrap();
    let region = Arc::new(RawRegion::heap(layout, "summing").unwrap());
    region.write_config(&layout.config_words(0, 1));
    let mut requests = Producer::new(RingGeometry::requests(&layout));
    for m in 0..n {
        assert!(requests.try_publish(&*region, &m.to_ne_bytes()));
    }
    region.store(offsets::STOP, stop, Release);
    let mem = Counting {
        region: region.clone(),
        acquire_fences: AtomicUsize::new(0),
        release_fences: AtomicUsize::new(0),
        head_stores: AtomicUsize::new(0),
    };
    let handled = Arc::new(AtomicU32::new(0));
    let mut handler = Summing {
        region: region.clone(),
        handled: handled.clone(),
        fail_at,
        abort_at,
    };
    let mut state = 0u32.to_ne_bytes();
    let mut reported = Vec::new();
    let exit = run_executor(
        &mem,
        &layout,
        &mut handler,
        &mut state,
        &mut NoIdle,
        &mut |e| reported.push(e),
    );
    assert_eq!(reported.len(), usize::from(fail_at.is_some_and(|f| f < n)));
    let mut consumer = Consumer::new(RingGeometry::replies(&layout));
    let mut replies = Vec::new();
    let mut buf = [0u8; 4];
    while consumer.try_consume(&*region, &mut buf) {
        replies.push(u32::from_ne_bytes(buf));
    }
    let mut out = [0u8; 4];
    // SAFETY: the executor has returned; nothing else touches the region.
    unsafe { region.read_bytes(layout.state_out_offset, &mut out) };
    Run {
        exit,
        mem,
        handled: handled.load(Relaxed),
        replies,
        state_out: u32::from_ne_bytes(out),
    }
}

/// `0 + 1 + … + k` for each k below `n`: the replies of `Summing`.
fn sums(n: u32) -> Vec<u32> {
    (0..n).map(|k| k * (k + 1) / 2).collect()
}

#[test]
fn queued_messages_are_one_batch_one_release_one_head_store() {
    let r = run(16, 10, STOP_DRAIN, None, None);
    assert!(matches!(r.exit, ExecutorExit::Drained), "{:?}", r.exit);
    assert_eq!(r.replies, sums(10));
    assert_eq!(r.state_out, 45);
    assert_eq!(r.mem.region.load(offsets::EXITED, Acquire), EXIT_DRAINED);
    // One batch of ten: one release fence and one head store for all of
    // them; acquire fences: the batch's poll and the poll that read the
    // drain (the last, empty poll acts on nothing).
    assert_eq!(r.mem.release_fences.load(Relaxed), 1);
    assert_eq!(r.mem.head_stores.load(Relaxed), 1);
    assert_eq!(r.mem.acquire_fences.load(Relaxed), 2);
}

#[test]
fn a_batch_is_cut_at_max_batch_and_at_the_reply_room() {
    // 40 queued in a ring of 64: batches of 32 and 8.
    let r = run(64, 40, STOP_DRAIN, None, None);
    assert_eq!(r.replies, sums(40));
    assert_eq!(r.mem.head_stores.load(Relaxed), 2);
    assert_eq!(r.mem.release_fences.load(Relaxed), 2);
    // A ring of 4 fills its reply ring with one batch of 4.
    let r = run(4, 4, STOP_DRAIN, None, None);
    assert_eq!(r.replies, sums(4));
    assert_eq!(r.mem.head_stores.load(Relaxed), 1);
}

#[test]
fn a_fault_mid_batch_publishes_the_replies_before_it_and_none_after() {
    let r = run(16, 10, STOP_DRAIN, Some(4), None);
    assert!(matches!(r.exit, ExecutorExit::Faulted), "{:?}", r.exit);
    assert_eq!(r.handled, 4);
    assert_eq!(r.replies, sums(4), "exactly the replies before the fault");
    let region = &r.mem.region;
    assert_eq!(region.load(offsets::ERROR, Acquire), ERROR_EXECUTOR);
    assert_eq!(region.load(offsets::EXITED, Acquire), EXIT_FAULTED);
    assert_eq!(region.load(offsets::REQUEST_HEAD, Acquire), 4);
    // A fault in the batch's first message publishes nothing.
    let r = run(16, 10, STOP_DRAIN, Some(0), None);
    assert!(r.replies.is_empty());
    assert_eq!(r.handled, 0);
}

#[test]
fn an_abort_stops_before_the_next_message_of_the_batch() {
    // The abort arrives while message 2 of a batch of ten is handled:
    // message 3 never runs (the executor checks `stop` between messages).
    let r = run(16, 10, 0, None, Some(2));
    assert!(matches!(r.exit, ExecutorExit::Aborted), "{:?}", r.exit);
    assert_eq!(r.handled, 3);
    assert_eq!(r.state_out, 3, "state-out holds messages 0, 1 and 2");
    assert_eq!(r.mem.region.load(offsets::EXITED, Acquire), EXIT_ABORTED);
}
