//! Ring actors through the public API: every ring example against its host
//! reference, the `Actor` contract (ordering, backpressure, timeouts,
//! shutdown, faults, drop), on the CPU backend and on a GPU when present.

mod common;

#[path = "../examples/ring_anomaly.rs"]
mod ring_anomaly;
#[path = "../examples/ring_bank.rs"]
mod ring_bank;
#[path = "../examples/ring_block.rs"]
mod ring_block;
#[path = "../examples/ring_window.rs"]
mod ring_window;

use std::time::{Duration, Instant};

use ring_bank::{bank, opening, Transfer};
use spindle::prelude::*;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Tally {
    count: u32,
    sum: f32,
}

#[derive(Clone, Copy, Debug, DeviceType)]
#[repr(C)]
struct Add {
    value: f32,
}

#[kernel(mode = "ring")]
fn tally(state: &mut Tally, msg: Add) -> Tally {
    state.count += 1;
    state.sum += msg.value;
    *state
}

#[kernel(mode = "ring")]
fn counter_by_ref(state: &mut u64, msg: &u32) -> u64 {
    *state += *msg as u64;
    *state
}

#[test]
fn design_example_call_send_recv_shutdown() {
    for dev in devices("design_example_call_send_recv_shutdown") {
        let mut actor = tally::spawn(&dev, Tally::default()).unwrap();
        let t = actor.call(Add { value: 2.0 }).unwrap();
        assert_eq!(t, Tally { count: 1, sum: 2.0 });
        for _ in 0..1000 {
            actor.send(Add { value: 1.0 }).unwrap();
        }
        for k in 0..1000u32 {
            let reply = actor.recv().unwrap();
            assert_eq!(reply.count, k + 2, "replies in send order");
            assert_eq!(reply.sum, 3.0 + k as f32);
        }
        let last = actor.shutdown().unwrap();
        assert_eq!(
            last,
            Tally {
                count: 1001,
                sum: 1002.0
            }
        );
        assert_eq!(tally::MODE, KernelMode::Ring);
    }
}

#[test]
fn message_by_reference_and_scalar_state() {
    for dev in devices("message_by_reference_and_scalar_state") {
        let mut actor = counter_by_ref::spawn(&dev, 10).unwrap();
        assert_eq!(actor.call(5).unwrap(), 15);
        assert_eq!(actor.call(u32::MAX).unwrap(), 15 + u32::MAX as u64);
        assert_eq!(actor.shutdown().unwrap(), 15 + u32::MAX as u64);
    }
}

#[test]
fn many_sends_before_any_recv_never_deadlock() {
    for dev in devices("many_sends_before_any_recv_never_deadlock") {
        let config = RingConfig::default().capacity(8);
        let mut actor = tally::spawn_with(&dev, Tally::default(), config).unwrap();
        // 100x the ring's capacity, all sent before the first recv.
        for i in 0..800 {
            actor.send(Add { value: i as f32 }).unwrap();
        }
        for k in 0..800u32 {
            assert_eq!(actor.recv().unwrap().count, k + 1);
        }
        assert_eq!(actor.shutdown().unwrap().count, 800);
    }
}

#[test]
fn try_send_reports_full_and_loses_nothing() {
    let dev = common::cpu();
    let config = RingConfig::default().capacity(4);
    let mut actor = tally::spawn_with(&dev, Tally::default(), config).unwrap();
    let mut sent = 0u32;
    let mut saw_full = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !saw_full {
        match actor.try_send(Add { value: 1.0 }) {
            Ok(()) => sent += 1,
            Err(spindle::Error::Full { kernel, capacity }) => {
                assert_eq!(kernel, "tally");
                assert!(capacity >= 4, "capacity {capacity}");
                saw_full = true;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(
        saw_full,
        "try_send never reported Full after {sent} messages"
    );
    for k in 0..sent {
        assert_eq!(actor.recv().unwrap().count, k + 1);
    }
    assert_eq!(actor.shutdown().unwrap().count, sent);
}

#[test]
fn recv_timeout_and_try_recv() {
    let dev = common::cpu();
    let mut actor = tally::spawn(&dev, Tally::default()).unwrap();
    assert!(actor.try_recv().unwrap().is_none());
    // Nothing in flight: said at once, not after the timeout.
    let err = actor.recv_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(
        matches!(err, spindle::Error::NothingInFlight { .. }),
        "{err:?}"
    );
    actor.send(Add { value: 4.0 }).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        if let Some(r) = actor.try_recv().unwrap() {
            break r;
        }
        assert!(Instant::now() < deadline, "no reply within 10 s");
        std::thread::yield_now();
    };
    assert_eq!(reply, Tally { count: 1, sum: 4.0 });
    assert_eq!(actor.shutdown().unwrap(), reply);
}

#[test]
fn the_configured_timeout_bounds_every_wait() {
    // A handler held until released: `call` must give up after the
    // configured timeout, and the actor must keep working afterwards.
    let gate = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let held = gate.clone();
    let config = RingConfig::default().timeout(Duration::from_millis(100));
    let mut actor = Actor::<u32, u32, u32>::spawn_fn("held", 0, config, move |s, m| {
        while !held.load(std::sync::atomic::Ordering::Acquire) {
            std::thread::yield_now();
        }
        *s += m;
        *s
    })
    .unwrap();
    let start = Instant::now();
    let err = actor.call(1).unwrap_err();
    let waited = start.elapsed();
    match &err {
        spindle::Error::Timeout { kernel, after } => {
            assert_eq!(kernel, "held");
            assert_eq!(*after, Duration::from_millis(100));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(100),
        "gave up after {waited:?}"
    );
    gate.store(true, std::sync::atomic::Ordering::Release);
    // The timed-out message is still in flight: its reply comes first.
    assert_eq!(actor.recv().unwrap(), 1);
    assert_eq!(actor.call(2).unwrap(), 3);
    assert_eq!(actor.shutdown().unwrap(), 3);
}

#[test]
fn shutdown_drains_everything_sent() {
    for dev in devices("shutdown_drains_everything_sent") {
        let mut actor = tally::spawn(&dev, Tally::default()).unwrap();
        for _ in 0..500 {
            actor.send(Add { value: 0.5 }).unwrap();
        }
        // No recv: shutdown must still apply every message.
        assert_eq!(
            actor.shutdown().unwrap(),
            Tally {
                count: 500,
                sum: 250.0
            }
        );
    }
}

#[test]
fn a_fault_stops_the_actor_and_is_reported() {
    for dev in devices("a_fault_stops_the_actor_and_is_reported") {
        let mut actor = bank::spawn(&dev, opening(100)).unwrap();
        assert_eq!(
            actor
                .call(Transfer {
                    from: 0,
                    to: 1,
                    amount: 10
                })
                .unwrap()
                .applied,
            1
        );
        let err = actor
            .call(Transfer {
                from: 99,
                to: 1,
                amount: 10,
            })
            .unwrap_err();
        match err.fault() {
            Some(f) => {
                assert_eq!(f.kernel, "bank");
                assert_eq!(
                    f.kind,
                    spindle::FaultKind::OutOfBounds {
                        index: 99,
                        len: ring_bank::ACCOUNTS as u64
                    }
                );
            }
            None => panic!("expected OutOfBounds, got {err:?}"),
        }
        // Every later call reports the failure.
        let again = actor
            .call(Transfer {
                from: 0,
                to: 1,
                amount: 1,
            })
            .unwrap_err();
        assert!(again.to_string().contains("bank"), "{again}");
        assert!(actor.shutdown().is_err());
    }
}

#[test]
fn dropping_an_actor_does_not_hang() {
    for dev in devices("dropping_an_actor_does_not_hang") {
        let start = Instant::now();
        {
            let mut actor = tally::spawn(&dev, Tally::default()).unwrap();
            for _ in 0..100 {
                actor.send(Add { value: 1.0 }).unwrap();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "drop took {:?}",
            start.elapsed()
        );
    }
}

#[test]
fn bank_matches_the_host_reference() {
    let mut rng = common::rng("bank_matches_the_host_reference");
    for dev in devices("bank_matches_the_host_reference") {
        let mut actor = bank::spawn(&dev, opening(500)).unwrap();
        let mut reference = opening(500);
        let mut pending = std::collections::VecDeque::new();
        for _ in 0..20_000 {
            let t = Transfer {
                from: rng.u32(0..ring_bank::ACCOUNTS as u32),
                to: rng.u32(0..ring_bank::ACCOUNTS as u32),
                amount: rng.i64(-5..300),
            };
            actor.send(t).unwrap();
            pending.push_back(bank(&mut reference, t));
            // Random bursts of receives.
            if rng.u8(..) < 40 {
                for _ in 0..rng.usize(0..=pending.len()) {
                    assert_eq!(actor.recv().unwrap(), pending.pop_front().unwrap());
                }
            }
        }
        while let Some(want) = pending.pop_front() {
            assert_eq!(actor.recv().unwrap(), want);
        }
        assert_eq!(actor.shutdown().unwrap(), reference);
    }
}

#[test]
fn window_matches_the_host_reference() {
    let mut rng = common::rng("window_matches_the_host_reference");
    for dev in devices("window_matches_the_host_reference") {
        let mut actor = ring_window::window::spawn(&dev, ring_window::Window::default()).unwrap();
        let mut reference = ring_window::Window::default();
        for _ in 0..3_000 {
            let s = rng.f32() * 200.0 - 100.0;
            assert_eq!(
                actor.call(s).unwrap(),
                ring_window::window(&mut reference, s)
            );
        }
        assert_eq!(actor.shutdown().unwrap(), reference);
    }
}

#[test]
fn block_wide_handler_matches_the_host_reference() {
    for dev in devices("block_wide_handler_matches_the_host_reference") {
        let mut actor = ring_block::accumulate::spawn(&dev, ring_block::Lanes::default()).unwrap();
        let mut reference = ring_block::Lanes::default();
        let mut expected = Vec::new();
        for i in 0..500 {
            actor.send(ring_block::batch(i)).unwrap();
            expected.push(ring_block::accumulate_reference(
                &mut reference,
                &ring_block::batch(i),
            ));
        }
        // Early batches raise many lanes' maxima, later ones fewer.
        assert!(expected[0] == 64 && expected.iter().any(|&e| e < 64));
        for (i, e) in expected.into_iter().enumerate() {
            assert_eq!(actor.recv().unwrap(), e, "reply {i} on {}", dev.name());
        }
        assert_eq!(actor.shutdown().unwrap(), reference);
    }
}

#[test]
fn anomaly_detector_matches_the_host_reference() {
    for dev in devices("anomaly_detector_matches_the_host_reference") {
        let mut actor = ring_anomaly::detect::spawn(&dev, ring_anomaly::Model::default()).unwrap();
        let mut reference = ring_anomaly::Model::default();
        let mut flagged = 0;
        for r in ring_anomaly::stream(5_000, 7) {
            let v = actor.call(r).unwrap();
            assert_eq!(v, ring_anomaly::detect(&mut reference, r));
            flagged += v.anomaly;
        }
        assert_eq!(flagged, 10, "one flag per injected spike");
        assert_eq!(actor.shutdown().unwrap(), reference);
    }
}

#[test]
fn every_ring_kernel_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_ring_kernel_compiles_with_nvrtc");
}
