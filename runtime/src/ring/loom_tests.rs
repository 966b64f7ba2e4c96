//! loom model checks of the ring protocol: the real [`Producer`] /
//! [`Consumer`], the real host session and the real executor loop, over a
//! loom model of the region (every shared word a loom atomic, every payload
//! a loom `UnsafeCell`, so a missing happens-before on a payload is a
//! reported data race).
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p
//! spindle-runtime --release ring`. The models are kept small (capacity 1–2,
//! 1–3 messages, preemption bound 3–4) so they finish in seconds; each
//! prints how many executions it explored.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU32;

use spindle_codegen::ring::layout::{offsets, PayloadShape, RingLayout};

use super::executor::{run_executor, Executor, ExecutorDeath, ExecutorExit, RingHandler};
use super::host::HostSession;
use super::memory::RingMemory;
use super::protocol::{config_bytes, Consumer, Producer, RingGeometry};
use super::wait::{Idle, Waiter};
use crate::{Error, Result};

/// A loom model of a ring region: the words the protocol uses as loom
/// atomics, the byte areas as loom cells.
pub(super) struct LoomRegion {
    pub(super) words: HashMap<usize, AtomicU32>,
    pub(super) bytes: HashMap<usize, UnsafeCell<Vec<u8>>>,
}

// SAFETY: loom's cells check every access for races themselves; the
// region is shared exactly like the real one.
unsafe impl Sync for LoomRegion {}
// SAFETY: as above.
unsafe impl Send for LoomRegion {}

impl LoomRegion {
    fn new(layout: &RingLayout) -> LoomRegion {
        let mut words = HashMap::new();
        let mut bytes = HashMap::new();
        let config = config_bytes(&layout.config_words(0, 1));
        for (i, w) in config.chunks_exact(4).enumerate() {
            let v = u32::from_ne_bytes(w.try_into().unwrap());
            words.insert(offsets::CONFIG + 4 * i, AtomicU32::new(v));
        }
        for off in [
            offsets::STOP,
            offsets::REQUEST_HEAD,
            offsets::REPLY_HEAD,
            offsets::RUNNING,
            offsets::EXITED,
            offsets::ERROR,
        ] {
            words.insert(off, AtomicU32::new(0));
        }
        for (base, slot) in [
            (layout.request_offset, layout.request),
            (layout.reply_offset, layout.reply),
        ] {
            for i in 0..layout.capacity as usize {
                let seq = base + i * slot.stride;
                words.insert(seq, AtomicU32::new(0));
                bytes.insert(
                    seq + slot.payload_offset,
                    UnsafeCell::new(vec![0u8; slot.payload_size]),
                );
            }
        }
        bytes.insert(
            layout.state_out_offset,
            UnsafeCell::new(vec![0u8; layout.state_size]),
        );
        LoomRegion { words, bytes }
    }
}

impl RingMemory for LoomRegion {
    fn load(&self, offset: usize, order: Ordering) -> u32 {
        self.words[&offset].load(order)
    }

    fn store(&self, offset: usize, value: u32, order: Ordering) {
        self.words[&offset].store(value, order)
    }

    fn fence(&self, order: Ordering) {
        loom::sync::atomic::fence(order)
    }

    unsafe fn write_bytes(&self, offset: usize, src: &[u8]) {
        // SAFETY: loom checks the exclusive access the caller promises.
        self.bytes[&offset].with_mut(|p| unsafe { (*p).copy_from_slice(src) })
    }

    unsafe fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        // SAFETY: loom checks the ordering the caller promises.
        self.bytes[&offset].with(|p| dst.copy_from_slice(unsafe { &*p }))
    }
}

pub(super) struct LoomWait;

impl Waiter for LoomWait {
    fn begin(&mut self) {}
    fn pause(&mut self, _ready: &dyn Fn() -> bool) {
        loom::thread::yield_now();
    }
}

impl Idle for LoomWait {
    fn reset(&mut self) {}
    fn pause(&mut self, _ready: &dyn Fn() -> bool) {
        loom::thread::yield_now();
    }
}

/// The executor as the host sees it: always alive (the thread is joined
/// by the model).
struct LoomExecutor;

impl Executor for LoomExecutor {
    fn check_alive(&mut self) -> std::result::Result<(), ExecutorDeath> {
        Ok(())
    }
    fn failure(&mut self, code: u32) -> Error {
        Error::ActorStopped {
            kernel: "loom".into(),
            reason: format!("error {code}"),
        }
    }
    fn finish(&mut self, _exited: bool) -> bool {
        true
    }
}

/// state += msg; reply = state.
pub(super) struct Summing;

impl RingHandler for Summing {
    fn handle(&mut self, state: &mut [u8], msg: &[u8], reply: &mut [u8]) -> Result<()> {
        let s = u32::from_ne_bytes(state.try_into().unwrap())
            + u32::from_ne_bytes(msg.try_into().unwrap());
        state.copy_from_slice(&s.to_ne_bytes());
        reply.copy_from_slice(&s.to_ne_bytes());
        Ok(())
    }
}

pub(super) const U32: PayloadShape = PayloadShape { size: 4, align: 4 };

/// Checks `f` under every interleaving within `preemptions` preemptions,
/// and prints how many executions that was.
pub(super) fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = runs.clone();
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f()
    });
    println!("loom explored {} executions", runs.load(Ordering::Relaxed));
}

/// Starts the real executor loop on a loom thread and a host session on
/// the current one.
fn actor(
    capacity: usize,
) -> (
    HostSession<LoomRegion, u32, u32>,
    loom::thread::JoinHandle<(ExecutorExit, u32)>,
) {
    let layout = RingLayout::new(capacity, U32, U32, U32).unwrap();
    let mem = Arc::new(LoomRegion::new(&layout));
    let mem2 = mem.clone();
    let exec = loom::thread::spawn(move || {
        let mut state = 0u32.to_ne_bytes();
        let exit = run_executor(
            &*mem2,
            &layout,
            &mut Summing,
            &mut state,
            &mut LoomWait,
            &mut |_| {},
        );
        (exit, u32::from_ne_bytes(state))
    });
    let session = HostSession::new(
        mem,
        "loom".into(),
        layout,
        Box::new(LoomExecutor),
        None,
        Box::new(LoomWait),
        Duration::from_secs(3600),
    );
    (session, exec)
}

#[test]
fn publish_consume_payloads_are_ordered() {
    // Bare producer and consumer: 3 messages through 2 slots, so the
    // producer reuses a slot the consumer has just freed.
    model(4, || {
        let layout = RingLayout::new(2, U32, U32, U32).unwrap();
        let mem = Arc::new(LoomRegion::new(&layout));
        let ring = RingGeometry::requests(&layout);
        let mem2 = mem.clone();
        let consumer = loom::thread::spawn(move || {
            let mut c = Consumer::new(ring);
            let mut got = Vec::new();
            let mut buf = [0u8; 4];
            while got.len() < 3 {
                if c.try_consume(&*mem2, &mut buf) {
                    got.push(u32::from_ne_bytes(buf));
                } else {
                    loom::thread::yield_now();
                }
            }
            got
        });
        let mut p = Producer::new(ring);
        for v in [10u32, 20, 30] {
            while !p.try_publish(&*mem, &v.to_ne_bytes()) {
                loom::thread::yield_now();
            }
        }
        assert_eq!(consumer.join().unwrap(), vec![10, 20, 30]);
    });
}

#[test]
fn call_then_shutdown() {
    model(4, || {
        let (mut host, exec) = actor(2);
        assert_eq!(host.call(&5).unwrap(), 5);
        assert_eq!(host.shutdown::<u32>().unwrap(), 5);
        let (exit, state) = exec.join().unwrap();
        assert!(matches!(exit, ExecutorExit::Drained));
        assert_eq!(state, 5);
    });
}

#[test]
fn full_ring_send_queues_replies() {
    // Capacity 1: the second send finds the ring full until the executor
    // takes the first; the replies come back in order either way.
    model(3, || {
        let (mut host, exec) = actor(1);
        host.send(&1).unwrap();
        host.send(&2).unwrap();
        assert_eq!(host.recv_timeout(Duration::from_secs(3600)).unwrap(), 1);
        assert_eq!(host.recv_timeout(Duration::from_secs(3600)).unwrap(), 3);
        assert_eq!(host.shutdown::<u32>().unwrap(), 3);
        exec.join().unwrap();
    });
}

#[test]
fn try_send_full_is_reported() {
    model(3, || {
        let (mut host, exec) = actor(1);
        host.try_send(&1).unwrap();
        // Either the executor already took the first message (room) or the
        // ring is full; never anything else.
        match host.try_send(&2) {
            Ok(()) => {}
            Err(Error::Full { capacity: 1, .. }) => {}
            Err(e) => panic!("{e}"),
        }
        let expected = if host.in_flight() == 2 { 3 } else { 1 };
        assert_eq!(host.shutdown::<u32>().unwrap(), expected);
        exec.join().unwrap();
    });
}

#[test]
fn stop_drains_every_published_request() {
    // Shutdown right after publishing, without receiving: the drain must
    // handle both messages (replies discarded by the host) and write the
    // state back before `exited`.
    model(3, || {
        let (mut host, exec) = actor(2);
        host.send(&1).unwrap();
        host.send(&2).unwrap();
        assert_eq!(host.shutdown::<u32>().unwrap(), 3);
        let (exit, state) = exec.join().unwrap();
        assert!(matches!(exit, ExecutorExit::Drained));
        assert_eq!(state, 3);
    });
}

#[test]
fn abort_exits_even_with_a_full_reply_ring() {
    // Capacity 1, two messages, nobody receiving: the executor may sit
    // waiting for reply room when the abort comes; it must still exit.
    model(3, || {
        let (mut host, exec) = actor(1);
        host.send(&1).unwrap();
        let _ = host.try_send(&2);
        assert!(host.abort());
        let (exit, _) = exec.join().unwrap();
        assert!(matches!(exit, ExecutorExit::Aborted), "{exit:?}");
    });
}

/// state += msg; reply = state; a message of 0 fails the handler.
pub(super) struct FailsOnZero;

impl RingHandler for FailsOnZero {
    fn handle(&mut self, state: &mut [u8], msg: &[u8], reply: &mut [u8]) -> Result<()> {
        let m = u32::from_ne_bytes(msg.try_into().unwrap());
        if m == 0 {
            return Err(Error::ActorStopped {
                kernel: "loom".into(),
                reason: "zero".into(),
            });
        }
        Summing.handle(state, msg, reply)
    }
}

#[test]
fn replies_published_before_a_fault_are_received_first() {
    // The executor publishes the reply to 1, then fails on 0 and raises
    // `error`. Whenever the host notices the failure (a poll before or
    // after the reply, in `try_recv` or in the wait of `recv`), the reply
    // comes first, then the failure; nothing is lost or reordered.
    model(3, || {
        let layout = RingLayout::new(2, U32, U32, U32).unwrap();
        let mem = Arc::new(LoomRegion::new(&layout));
        let mem2 = mem.clone();
        let exec = loom::thread::spawn(move || {
            let mut state = 0u32.to_ne_bytes();
            run_executor(
                &*mem2,
                &layout,
                &mut FailsOnZero,
                &mut state,
                &mut LoomWait,
                &mut |_| {},
            )
        });
        let mut host = HostSession::<_, u32, u32>::new(
            mem,
            "loom".into(),
            layout,
            Box::new(LoomExecutor),
            None,
            Box::new(LoomWait),
            Duration::from_secs(3600),
        );
        host.send(&1).unwrap();
        host.send(&0).unwrap();
        // One poll first: it may see nothing, the reply, or the failure
        // (then with the reply queued before it).
        let first = match host.try_recv() {
            Ok(Some(r)) => Some(r),
            Ok(None) => None,
            Err(e) => panic!("the failure came before the reply: {e}"),
        };
        let reply = match first {
            Some(r) => r,
            None => host.recv_timeout(Duration::from_secs(3600)).unwrap(),
        };
        assert_eq!(reply, 1);
        assert!(host.recv_timeout(Duration::from_secs(3600)).is_err());
        assert_eq!(host.in_flight(), 1);
        assert!(matches!(exec.join().unwrap(), ExecutorExit::Faulted));
    });
}

/// The group protocol's models (`ring::loom_tests::groups`).
#[path = "group_loom_tests.rs"]
mod groups;
