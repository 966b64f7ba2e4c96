//! Actors under faults, timeouts, stops and misuse, through the public API:
//! no reply published before a fault is lost, errors say what happened,
//! drop and shutdown keep their bounds. On the CPU backend, and on a GPU
//! when one is present.

mod common;

#[path = "../examples/ring_bank.rs"]
mod ring_bank;

use std::time::{Duration, Instant};

use ring_bank::{bank, opening, Transfer};
use spindle::prelude::*;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

const GOOD: Transfer = Transfer {
    from: 0,
    to: 1,
    amount: 1,
};

/// Account 99 does not exist: the handler indexes out of bounds.
const BAD: Transfer = Transfer {
    from: 99,
    to: 1,
    amount: 1,
};

fn assert_bank_fault(e: &spindle::Error, context: &str) {
    match e {
        spindle::Error::OutOfBounds {
            kernel, index, len, ..
        } => {
            assert_eq!(kernel, "bank", "{context}");
            assert_eq!(
                (*index, *len),
                (99, ring_bank::ACCOUNTS as u64),
                "{context}"
            );
        }
        other => panic!("{context}: expected the out-of-bounds fault, got {other:?}"),
    }
}

/// Ten good transfers then one that faults: every one of the ten replies
/// comes back, in order, and only then the fault; `in_flight` counts
/// exactly the messages not answered. Many trials, because whether the
/// fault is already published when the host asks depends on timing. Three
/// ways of receiving: `recv`, `try_recv`, and a `call` of the faulting
/// message.
#[test]
fn every_reply_published_before_a_fault_is_received_then_the_fault() {
    for dev in devices("every_reply_published_before_a_fault_is_received_then_the_fault") {
        let trials = if dev.backend() == Backend::Cpu {
            300
        } else {
            30
        };
        for trial in 0..trials {
            let context = format!("{} trial {trial}", dev.name());
            let mut actor = bank::spawn(&dev, opening(100)).unwrap();
            let mut reference = opening(100);
            let expected: Vec<_> = (0..10).map(|_| bank(&mut reference, GOOD)).collect();
            for _ in 0..10 {
                actor.send(GOOD).unwrap();
            }
            let fault = match trial % 3 {
                0 => {
                    actor.send(BAD).unwrap();
                    assert_eq!(actor.in_flight(), 11, "{context}");
                    for (k, want) in expected.iter().enumerate() {
                        let got = actor
                            .recv()
                            .unwrap_or_else(|e| panic!("{context}: reply {k} lost: {e}"));
                        assert_eq!(got, *want, "{context}: reply {k}");
                        assert_eq!(actor.in_flight(), 10 - k as u64, "{context}");
                    }
                    actor.recv().unwrap_err()
                }
                1 => {
                    actor.send(BAD).unwrap();
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let mut got = Vec::new();
                    let fault = loop {
                        match actor.try_recv() {
                            Ok(Some(r)) => got.push(r),
                            Ok(None) => {
                                assert!(Instant::now() < deadline, "{context}: no fault");
                                std::thread::yield_now();
                            }
                            Err(e) => break e,
                        }
                    };
                    assert_eq!(got, expected, "{context}: replies before the fault");
                    fault
                }
                _ => {
                    let fault = actor.call(BAD).unwrap_err();
                    assert_eq!(actor.in_flight(), 11, "{context}");
                    for (k, want) in expected.iter().enumerate() {
                        let got = actor
                            .recv()
                            .unwrap_or_else(|e| panic!("{context}: reply {k} lost: {e}"));
                        assert_eq!(got, *want, "{context}: reply {k}");
                    }
                    fault
                }
            };
            assert_bank_fault(&fault, &context);
            // The faulting message is never answered; it stays counted.
            assert_eq!(actor.in_flight(), 1, "{context}");
            assert_bank_fault(&actor.recv().unwrap_err(), &context);
            assert_bank_fault(&actor.try_recv().unwrap_err(), &context);
            assert_bank_fault(&actor.send(GOOD).unwrap_err(), &context);
            assert_eq!(
                actor.in_flight(),
                1,
                "{context}: a refused send counts nothing"
            );
            assert_bank_fault(&actor.shutdown().unwrap_err(), &context);
        }
    }
}

/// A fault in a message that only the drain of `shutdown` handles: the
/// user gets the fault itself, not a generic stop.
#[test]
fn a_fault_during_the_shutdown_drain_is_reported_with_its_details() {
    for dev in devices("a_fault_during_the_shutdown_drain_is_reported_with_its_details") {
        for trial in 0..20 {
            let mut actor = bank::spawn(&dev, opening(100)).unwrap();
            for _ in 0..10 {
                actor.send(GOOD).unwrap();
            }
            actor.send(BAD).unwrap();
            actor.send(GOOD).unwrap();
            let e = actor.shutdown().unwrap_err();
            assert_bank_fault(&e, &format!("{} trial {trial}", dev.name()));
        }
    }
}

/// `recv` with nothing in flight returns at once and says why, instead of
/// claiming it waited for a reply.
#[test]
fn recv_with_nothing_in_flight_says_so() {
    for dev in devices("recv_with_nothing_in_flight_says_so") {
        let mut actor = bank::spawn(&dev, opening(100)).unwrap();
        let start = Instant::now();
        let e = actor.recv().unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "returned after {:?}",
            start.elapsed()
        );
        match &e {
            spindle::Error::NothingInFlight { kernel } => assert_eq!(kernel, "bank"),
            other => panic!("expected NothingInFlight, got {other:?}"),
        }
        let text = e.to_string();
        assert!(
            text.contains("bank") && text.contains("nothing in flight"),
            "{text}"
        );
        assert!(!text.contains("within"), "{text}");
        let e = actor.recv_timeout(Duration::from_secs(60)).unwrap_err();
        assert!(matches!(e, spindle::Error::NothingInFlight { .. }), "{e:?}");
        // The actor still works, and after its reply is taken the same
        // error comes again.
        assert_eq!(actor.call(GOOD).unwrap().applied, 1);
        assert!(matches!(
            actor.recv().unwrap_err(),
            spindle::Error::NothingInFlight { .. }
        ));
        assert_eq!(actor.shutdown().unwrap().transfers, 1);
    }
}

/// Sizes memory cannot hold are errors that say what and how much; the
/// process (and the device) carry on.
#[test]
fn allocations_that_cannot_be_satisfied_are_errors() {
    let dev = common::cpu();
    // 2^42 values of 8 bytes: 32 TiB.
    match dev.zeros::<u64>(1 << 42).unwrap_err() {
        spindle::Error::OutOfMemory { what, bytes } => {
            assert_eq!(bytes, 1 << 45);
            assert!(
                what.contains("Device::zeros") && what.contains("u64"),
                "{what}"
            );
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // A size that does not even fit in a usize.
    let e = dev.zeros::<u64>(usize::MAX).unwrap_err();
    assert!(matches!(e, spindle::Error::OutOfMemory { .. }), "{e:?}");
    // A ring of 2^20 slots of 256 KiB replies: 256 GiB.
    let config = RingConfig::default().capacity(1 << 20);
    let e = Actor::<u32, u32, [u64; 32768]>::spawn_fn("huge", 0, config, |_, _| [0; 32768])
        .unwrap_err();
    match &e {
        spindle::Error::OutOfMemory { what, bytes } => {
            assert!(
                what.contains("actor `huge`") && what.contains("1048576 slots"),
                "{what}"
            );
            assert!(*bytes > 1 << 38, "{e}");
        }
        other => panic!("expected OutOfMemory, got {other:?}"),
    }
    // Everything still works.
    let mut buf = dev.zeros::<u64>(1024).unwrap();
    buf.copy_from(&[3; 1024]).unwrap();
    assert_eq!(buf.to_vec().unwrap(), vec![3; 1024]);
    let mut actor = bank::spawn(&dev, opening(100)).unwrap();
    assert_eq!(actor.call(GOOD).unwrap().applied, 1);
}

/// Adds up the messages (a kernel of its own, so its thread has its own
/// name).
#[kernel(mode = "ring")]
fn yy_idle(state: &mut u32, msg: u32) -> u32 {
    *state += msg;
    *state
}

/// An idle CPU actor's thread sleeps until a message comes: it is not
/// woken periodically (each wake-up is a voluntary context switch).
#[test]
fn an_idle_cpu_actor_sleeps_until_a_message_comes() {
    let dev = common::cpu();
    let mut actor = yy_idle::spawn(&dev, 0).unwrap();
    assert_eq!(actor.call(0).unwrap(), 0);
    let switches = || -> Option<u64> {
        for t in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = t.ok()?.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim_end() == "spindle-ring-yy" {
                let status = std::fs::read_to_string(dir.join("status")).ok()?;
                let line = status
                    .lines()
                    .find(|l| l.starts_with("voluntary_ctxt_switches"))?;
                return line.split_whitespace().nth(1)?.parse().ok();
            }
        }
        None
    };
    // Let its spin end and it fall asleep, then watch it for 500 ms.
    std::thread::sleep(Duration::from_millis(50));
    let Some(before) = switches() else {
        eprintln!("skipping `an_idle_cpu_actor_sleeps_until_a_message_comes`: no /proc");
        return;
    };
    std::thread::sleep(Duration::from_millis(500));
    let woke = switches().unwrap() - before;
    // A spurious wake-up or two may happen; a periodic check would be
    // hundreds.
    assert!(woke <= 3, "the idle executor woke {woke} times in 500 ms");
    assert_eq!(actor.call(5).unwrap(), 5);
    assert_eq!(actor.shutdown().unwrap(), 5);
}

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_kernel_here_compiles_with_nvrtc");
}
