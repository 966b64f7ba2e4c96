//! Unit tests of the actor over the CPU executor with closure handlers.

use std::time::Duration;

use super::{Actor, RingConfig};
use crate::fault::expect_fault;
use crate::{Error, FaultKind};

fn cfg(cap: usize) -> RingConfig {
    RingConfig::default()
        .capacity(cap)
        .timeout(Duration::from_secs(20))
}

#[test]
fn call_send_recv_shutdown() {
    let mut a = Actor::<u64, u32, u64>::spawn_fn("sum", 0, cfg(4), |s, m| {
        *s += m as u64;
        *s
    })
    .unwrap();
    assert_eq!(a.call(5).unwrap(), 5);
    for i in 0..100 {
        a.send(i).unwrap();
    }
    assert_eq!(a.in_flight(), 100);
    assert_eq!(a.call(1000).unwrap(), 5 + 4950 + 1000);
    for i in 0..100u64 {
        assert_eq!(a.recv().unwrap(), 5 + i * (i + 1) / 2);
    }
    assert!(a.try_recv().unwrap().is_none());
    // Nothing in flight: no reply can come, said at once.
    assert!(matches!(
        a.recv_timeout(Duration::from_secs(5)),
        Err(Error::NothingInFlight { .. })
    ));
    for _ in 0..10 {
        a.send(1).unwrap();
    }
    assert_eq!(a.shutdown().unwrap(), 5 + 4950 + 1000 + 10);
}

#[test]
fn try_send_reports_full() {
    // A handler that blocks until released keeps the request ring full.
    let gate = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let g = gate.clone();
    let mut a = Actor::<u32, u32, u32>::spawn_fn("gate", 0, cfg(2), move |s, m| {
        while !g.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::yield_now();
        }
        *s += m;
        m
    })
    .unwrap();
    let mut sent = 0;
    let full = loop {
        match a.try_send(sent) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent <= 3, "capacity 2 plus one message in the handler");
    };
    assert!(matches!(full, Error::Full { capacity: 2, .. }), "{full}");
    assert!(full.to_string().contains("gate"));
    gate.store(true, std::sync::atomic::Ordering::Release);
    for i in 0..sent {
        assert_eq!(a.recv().unwrap(), i);
    }
    assert_eq!(a.shutdown().unwrap(), (0..sent).sum::<u32>());
}

#[test]
fn handler_panic_fails_the_actor_and_every_later_call() {
    let mut a = Actor::<u32, u32, u32>::spawn_fn("boom", 0, cfg(8), |s, m| {
        if m == 3 {
            panic!("message three");
        }
        *s += 1;
        *s
    })
    .unwrap();
    assert_eq!(a.call(1).unwrap(), 1);
    let e = a.call(3).unwrap_err();
    assert!(
        e.to_string().contains("boom") && e.to_string().contains("message three"),
        "{e}"
    );
    for _ in 0..3 {
        let again = a.call(1).unwrap_err();
        assert_eq!(again.to_string(), e.to_string());
    }
    assert!(a.try_recv().is_err());
    assert!(a.shutdown().is_err());
}

#[test]
fn drop_stops_without_draining_or_hanging() {
    let start = std::time::Instant::now();
    let mut a = Actor::<u32, u32, u32>::spawn_fn("slow", 0, cfg(64), |s, m| {
        std::thread::sleep(Duration::from_millis(5));
        *s += m;
        m
    })
    .unwrap();
    for i in 0..64 {
        a.send(i).unwrap();
    }
    drop(a);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        start.elapsed()
    );
}

#[test]
fn send_many_before_receiving_never_deadlocks() {
    let mut a = Actor::<u64, u64, u64>::spawn_fn("many", 0, cfg(4), |s, m| {
        *s += m;
        m * 2
    })
    .unwrap();
    let n = 10_000u64;
    for i in 0..n {
        a.send(i).unwrap();
    }
    for i in 0..n {
        assert_eq!(a.recv().unwrap(), i * 2);
    }
    assert_eq!(a.shutdown().unwrap(), n * (n - 1) / 2);
}

#[test]
fn config_errors() {
    let e = Actor::<u32, u32, u32>::spawn_fn("c", 0, RingConfig::default().capacity(3), |_, m| m)
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
}

#[test]
fn an_actor_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Actor<u64, u32, u64>>();
    let mut a = Actor::<u64, u32, u64>::spawn_fn("moved", 0, cfg(8), |s, m| {
        *s += m as u64;
        *s
    })
    .unwrap();
    a.send(1).unwrap();
    let t = std::thread::spawn(move || {
        assert_eq!(a.recv().unwrap(), 1);
        assert_eq!(a.call(2).unwrap(), 3);
        a.shutdown().unwrap()
    });
    assert_eq!(t.join().unwrap(), 3);
}

/// A ring kernel whose shared arrays leave no room for the ring loop's own
/// shared variables cannot run on a GPU, so the CPU backend refuses it too,
/// naming the kernel and the sizes.
#[test]
fn a_ring_kernel_too_big_for_a_gpu_is_refused_on_the_cpu_backend() {
    use spindle_codegen::{link, ItemSource, KernelMode, KernelOptions};
    let link_with = |words: u32| {
        let src: &'static str = Box::leak(
            format!(
                "fn big(state: &mut u32, msg: u32) -> u32 {{
                    let scratch = shared_array::<u32, {words}>();
                    scratch[0] = msg;
                    *state += scratch[0];
                    *state
                }}"
            )
            .into_boxed_str(),
        );
        let item = ItemSource {
            name: "big",
            source: src,
            file: "runtime/src/ring/tests.rs",
            line: 1,
            consts: &[],
        };
        let k = link(&item, &KernelOptions::new(KernelMode::Ring), &[], &[]).unwrap();
        std::sync::Arc::new(k)
    };
    let dev = crate::Device::cpu();
    // The loop's control block for one handler thread takes 72 bytes
    // (its staging shrinks to what is left, down to none): 49 084 bytes of
    // arrays do not fit next to it.
    match Actor::<u32, u32, u32>::spawn_linked(&dev, link_with(12_271), 0, cfg(4)) {
        Err(Error::Link { kernel, message }) => {
            assert_eq!(kernel, "big");
            assert!(message.contains("49152 bytes"), "{message}");
        }
        Err(e) => panic!("expected Error::Link, got {e}"),
        Ok(_) => panic!("expected Error::Link, the actor started"),
    }
    // 4 bytes less leaves room: it runs.
    let mut a = Actor::<u32, u32, u32>::spawn_linked(&dev, link_with(12_270), 0, cfg(4)).unwrap();
    assert_eq!(a.call(7).unwrap(), 7);
    assert_eq!(a.shutdown().unwrap(), 7);
}

/// An executor that keeps its fault record the way the CUDA executor does:
/// in memory it owns (device memory on a GPU), readable until `finish`
/// hands the executor back and frees it. A message of `u32::MAX` faults
/// (`ERROR_FAULT`, `EXIT_FAULTED`, a record for `faulty`'s `state[99]`);
/// one of `u32::MAX - 1` makes it exit without being asked.
mod record_executor {
    use std::sync::atomic::Ordering::{Acquire, Release};
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;
    use std::time::Duration;

    use spindle_codegen::abi::FaultRecord;
    use spindle_codegen::ir::FaultKind;
    use spindle_codegen::ring::layout::{
        offsets, ERROR_FAULT, EXIT_ABORTED, EXIT_DRAINED, EXIT_FAULTED, STOP_ABORT, STOP_DRAIN,
    };

    use crate::ring::executor::{Executor, ExecutorDeath};
    use crate::ring::memory::{RawRegion, RingMemory};
    use crate::ring::protocol::{Consumer, Producer, RingGeometry};
    use crate::{Error, Result};

    pub(super) struct RecordExecutor {
        thread: Option<JoinHandle<()>>,
        /// `None` once finished: the memory is gone, as on a GPU.
        record: Option<Arc<Mutex<FaultRecord>>>,
    }

    /// Sums `u32` messages into a `u32` state (2 ms each); replies with the
    /// sum.
    pub(super) fn start(region: Arc<RawRegion>, init: &[u8]) -> Result<Box<dyn Executor>> {
        let record = Arc::new(Mutex::new(FaultRecord::default()));
        let rec = record.clone();
        let mut state = u32::from_ne_bytes(init.try_into().unwrap());
        let thread = std::thread::spawn(move || {
            let mem = &*region;
            let layout = *mem.layout();
            let mut requests = Consumer::new(RingGeometry::requests(&layout));
            let mut replies = Producer::new(RingGeometry::replies(&layout));
            let mut buf = [0u8; 4];
            let mut draining = false;
            let exit = loop {
                if requests.try_consume(mem, &mut buf) {
                    let msg = u32::from_ne_bytes(buf);
                    // Slow enough that the host is already draining when the
                    // fault comes.
                    std::thread::sleep(Duration::from_millis(2));
                    if msg == u32::MAX - 1 {
                        // Ends on its own, as a kernel that returns would.
                        break EXIT_ABORTED;
                    }
                    if msg == u32::MAX {
                        *rec.lock().unwrap() = FaultRecord {
                            flag: 1,
                            kind: FaultKind::OutOfBounds as u32,
                            site: 0,
                            index: 99,
                            len: 4,
                            ..FaultRecord::default()
                        };
                        mem.store(offsets::ERROR, ERROR_FAULT, Release);
                        break EXIT_FAULTED;
                    }
                    state = state.wrapping_add(msg);
                    while !replies.try_publish(mem, &state.to_ne_bytes()) {
                        if mem.load(offsets::STOP, Acquire) == STOP_ABORT {
                            break;
                        }
                        std::thread::yield_now();
                    }
                    continue;
                }
                if draining {
                    break EXIT_DRAINED;
                }
                match mem.load(offsets::STOP, Acquire) {
                    STOP_DRAIN => draining = true,
                    STOP_ABORT => break EXIT_ABORTED,
                    _ => std::thread::yield_now(),
                }
            };
            if exit != EXIT_FAULTED {
                // SAFETY: only this thread writes state-out, before `exited`.
                unsafe { mem.write_bytes(layout.state_out_offset, &state.to_ne_bytes()) };
            }
            mem.store(offsets::EXITED, exit, Release);
        });
        Ok(Box::new(RecordExecutor {
            thread: Some(thread),
            record: Some(record),
        }))
    }

    impl RecordExecutor {
        fn join(&mut self) {
            if let Some(t) = self.thread.take() {
                t.join().unwrap();
            }
        }
    }

    impl Executor for RecordExecutor {
        fn check_alive(&mut self) -> std::result::Result<(), ExecutorDeath> {
            match &self.thread {
                Some(t) if !t.is_finished() => Ok(()),
                _ => Err(ExecutorDeath::Other("ended without `exited`".into())),
            }
        }

        fn fault_record(&mut self, _timeout: Duration) -> Option<FaultRecord> {
            self.join();
            self.record.as_ref().map(|r| *r.lock().unwrap())
        }

        fn failure(&mut self, code: u32) -> Error {
            Error::ActorStopped {
                kernel: "faulty".into(),
                reason: format!("error code {code}"),
            }
        }

        fn finish(&mut self, _exited: bool) -> bool {
            self.join();
            self.record = None;
            true
        }
    }
}

/// A fault that only the drain of `shutdown` runs into, with an executor
/// that frees its fault record when it is handed back (as the CUDA
/// executor does): `shutdown` returns the fault itself.
#[test]
fn a_fault_during_the_shutdown_drain_keeps_its_details() {
    let faulty = std::sync::Arc::new(spindle_codegen::ring::samples::faulty(1));
    for trial in 0..20 {
        let mut a = Actor::<u32, u32, u32>::spawn_with_executor(
            "faulty",
            0,
            cfg(4),
            1,
            Some(faulty.clone()),
            record_executor::start,
        )
        .unwrap();
        assert_eq!(a.call(2).unwrap(), 2);
        for _ in 0..3 {
            a.send(1).unwrap();
        }
        a.send(u32::MAX).unwrap();
        a.send(1).unwrap();
        let f = expect_fault(a.shutdown().unwrap_err());
        assert_eq!((f.kernel.as_str(), f.what.as_str()), ("faulty", "state"));
        assert_eq!(
            f.kind,
            FaultKind::OutOfBounds { index: 99, len: 4 },
            "trial {trial}"
        );
    }
}

/// An executor that exits without being asked is `Stopped`, with the
/// replies it published before still received first.
#[test]
fn status_of_an_executor_that_exits_on_its_own() {
    use super::ActorStatus;
    let faulty = std::sync::Arc::new(spindle_codegen::ring::samples::faulty(1));
    let mut a = Actor::<u32, u32, u32>::spawn_with_executor(
        "faulty",
        0,
        cfg(4),
        1,
        Some(faulty),
        record_executor::start,
    )
    .unwrap();
    assert!(matches!(a.status(), ActorStatus::Running));
    a.send(5).unwrap();
    a.send(u32::MAX - 1).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let reason = loop {
        match a.status() {
            ActorStatus::Stopped(reason) => break reason,
            ActorStatus::Running => assert!(std::time::Instant::now() < deadline),
            other => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(reason.contains("without being asked"), "{reason}");
    assert_eq!(a.recv().unwrap(), 5);
    let e = a.recv().unwrap_err();
    assert!(e.to_string().contains("without being asked"), "{e}");
    assert!(matches!(a.status(), ActorStatus::Stopped(_)));
}
