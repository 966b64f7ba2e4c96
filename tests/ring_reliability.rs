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
    match e.fault() {
        Some(f) => {
            assert_eq!(f.kernel, "bank", "{context}");
            assert_eq!(
                f.kind,
                spindle::FaultKind::OutOfBounds {
                    index: 99,
                    len: ring_bank::ACCOUNTS as u64
                },
                "{context}"
            );
        }
        None => panic!("{context}: expected the out-of-bounds fault, got {e:?}"),
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
            // Refused with the fault if the executor already ran into it.
            if let Err(e) = actor.send(GOOD) {
                assert_bank_fault(&e, "a send after the faulting one");
            }
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

/// Spins forever on a message other than 0 (the state keeps changing, so
/// the loop is not empty).
#[kernel(mode = "ring")]
fn zz_stuck(state: &mut u32, msg: u32) -> u32 {
    while msg != 0 {
        *state += 1;
    }
    *state
}

/// The threads of this process whose name starts with `prefix` (Linux
/// shows the first 15 bytes), or `None` where `/proc` is missing.
fn threads_named(prefix: &str) -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|comm| comm.trim_end().starts_with(prefix))
            .count(),
    )
}

/// Waits up to 30 s for the executor threads named `prefix` to end.
fn executor_threads_end(prefix: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if threads_named(prefix) == Some(0) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Drop returns within the configured timeout, however many replies the
/// executor still publishes meanwhile (each used to restart the timeout).
#[test]
fn drop_returns_within_the_timeout_while_replies_keep_coming() {
    let config = RingConfig::default()
        .capacity(128)
        .timeout(Duration::from_millis(200));
    let mut actor = Actor::<u32, u32, u32>::spawn_fn("slow", 0, config, |s, m| {
        std::thread::sleep(Duration::from_millis(100));
        *s += m;
        *s
    })
    .unwrap();
    for i in 0..80 {
        actor.send(i).unwrap();
    }
    let start = Instant::now();
    drop(actor);
    let took = start.elapsed();
    // 200 ms, plus room for a loaded machine; each of the replies, 100 ms
    // apart, used to restart the timeout (≈ 6.5 s here).
    assert!(took < Duration::from_secs(3), "drop took {took:?}");
}

/// A call timeout far shorter than a wake-up does not cost a healthy
/// actor its state: `shutdown` has its own bound.
#[test]
fn shutdown_with_a_tiny_call_timeout_keeps_the_state() {
    for dev in devices("shutdown_with_a_tiny_call_timeout_keeps_the_state") {
        for run in 0..50 {
            let config = RingConfig::default().timeout(Duration::from_micros(10));
            let mut actor = bank::spawn_with(&dev, opening(100), config).unwrap();
            let mut reference = opening(100);
            for _ in 0..100 {
                actor.send(GOOD).unwrap();
                bank(&mut reference, GOOD);
            }
            let state = actor
                .shutdown()
                .unwrap_or_else(|e| panic!("{} run {run}: {e}", dev.name()));
            assert_eq!(state, reference, "run {run}");
        }
    }
}

/// 1 ns is a valid timeout: a wait checks once. A reply not yet there
/// makes `call` time out, and the message stays in flight; `shutdown` and
/// drop keep their own bounds.
#[test]
fn a_one_nanosecond_timeout_checks_once() {
    let config = RingConfig::default().timeout(Duration::from_nanos(1));
    let mut actor = Actor::<u64, u64, u64>::spawn_fn("ns", 0, config.clone(), |s, m| {
        std::thread::sleep(Duration::from_millis(5));
        *s += m;
        *s
    })
    .unwrap();
    match actor.call(1) {
        Err(spindle::Error::Timeout { after, .. }) => {
            assert_eq!(after, Duration::from_nanos(1));
            assert_eq!(actor.in_flight(), 1);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match actor.try_recv().unwrap() {
                    Some(r) => break assert_eq!(r, 1),
                    None => assert!(Instant::now() < deadline, "no reply"),
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        other => panic!("a 5 ms handler cannot answer within 1 ns: {other:?}"),
    }
    for m in 2..=4 {
        let _ = actor.send(m);
    }
    let sent = 1 + actor.in_flight();
    assert_eq!(actor.shutdown().unwrap(), sent * (sent + 1) / 2);
    let mut actor = Actor::<u64, u64, u64>::spawn_fn("ns", 0, config, |s, m| {
        *s += m;
        *s
    })
    .unwrap();
    let _ = actor.send(1);
    let start = Instant::now();
    drop(actor);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// `status` says running, failed (without taking the error away from
/// later calls, or the replies before it from `recv`) or stopped.
#[test]
fn status_reports_without_consuming() {
    for dev in devices("status_reports_without_consuming") {
        let mut actor = bank::spawn(&dev, opening(100)).unwrap();
        assert!(matches!(actor.status(), ActorStatus::Running));
        actor.send(GOOD).unwrap();
        actor.send(BAD).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let failure = loop {
            match actor.status() {
                ActorStatus::Failed(e) => break e,
                ActorStatus::Running => assert!(Instant::now() < deadline, "no failure"),
                other => panic!("{other:?}"),
            }
            std::thread::yield_now();
        };
        assert_bank_fault(&failure, &dev.name());
        // Looking took nothing: the reply, then the error, then the error.
        assert_eq!(actor.in_flight(), 2);
        assert_eq!(actor.recv().unwrap().applied, 1);
        assert_bank_fault(&actor.recv().unwrap_err(), &dev.name());
        assert!(matches!(actor.status(), ActorStatus::Failed(_)));
        assert_bank_fault(&actor.call(GOOD).unwrap_err(), &dev.name());
    }
    // A handler that panics is a failure too, with the panic's message.
    let mut actor = Actor::<u32, u32, u32>::spawn_fn("boom", 0, RingConfig::default(), |_, m| {
        assert!(m != 1, "message one");
        m
    })
    .unwrap();
    assert_eq!(actor.call(0).unwrap(), 0);
    actor.send(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match actor.status() {
            ActorStatus::Running => assert!(Instant::now() < deadline, "still running"),
            ActorStatus::Failed(e) => break assert!(e.to_string().contains("message one"), "{e}"),
            other => panic!("{other:?}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A kernel stuck in an endless loop: calls time out, `status` says it
/// runs, drop returns on time — and the CPU backend stops the handler, so
/// its thread ends instead of holding a core forever.
#[test]
fn a_stuck_kernel_is_stopped_after_drop_and_after_shutdown() {
    let dev = common::cpu();
    if threads_named("spindle-ring-zz").is_none() {
        eprintln!("skipping `a_stuck_kernel_is_stopped_after_drop_and_after_shutdown`: no /proc");
        return;
    }
    let config = RingConfig::default()
        .timeout(Duration::from_millis(100))
        .shutdown_timeout(Duration::from_millis(300));
    // Drop.
    let mut actor = zz_stuck::spawn_with(&dev, 0, config.clone()).unwrap();
    assert_eq!(actor.call(0).unwrap(), 0);
    assert!(matches!(
        actor.call(1).unwrap_err(),
        spindle::Error::Timeout { .. }
    ));
    assert!(matches!(actor.status(), ActorStatus::Running));
    assert_eq!(threads_named("spindle-ring-zz"), Some(1));
    let start = Instant::now();
    drop(actor);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "drop took {:?}",
        start.elapsed()
    );
    assert!(
        executor_threads_end("spindle-ring-zz"),
        "the stuck handler's thread still runs"
    );
    // Shutdown.
    let mut actor = zz_stuck::spawn_with(&dev, 0, config).unwrap();
    actor.send(1).unwrap();
    let start = Instant::now();
    let e = actor.shutdown().unwrap_err();
    assert!(
        matches!(&e, spindle::Error::ActorStopped { reason, .. } if reason.contains("shutdown gave up")),
        "{e}"
    );
    assert!(
        e.to_string().contains("zz_stuck") && e.to_string().contains("state is lost"),
        "{e}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        start.elapsed()
    );
    assert!(
        executor_threads_end("spindle-ring-zz"),
        "the stuck handler's thread still runs"
    );
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

/// CPU time of the calling thread so far (`/proc/thread-self/schedstat`).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}

/// A host waiting for a slow reply sleeps: it used to spin through the
/// whole wait, because a request ring with room ended every pause.
#[test]
fn a_host_waiting_for_a_slow_reply_sleeps() {
    let Some(start_cpu) = thread_cpu() else {
        eprintln!("skipping `a_host_waiting_for_a_slow_reply_sleeps`: no /proc");
        return;
    };
    let mut actor = Actor::<u32, u32, u32>::spawn_fn("slow", 0, RingConfig::default(), |s, m| {
        std::thread::sleep(Duration::from_millis(300));
        *s += m;
        *s
    })
    .unwrap();
    let start_cpu = thread_cpu().unwrap().max(start_cpu);
    let start = Instant::now();
    assert_eq!(actor.call(1).unwrap(), 1);
    let waited = start.elapsed();
    let used = thread_cpu().unwrap() - start_cpu;
    // A spin of up to 50 µs and a few wake-ups, not 300 ms of spinning.
    assert!(
        used < Duration::from_millis(30),
        "the host used {used:?} of CPU in a {waited:?} wait"
    );
    assert_eq!(actor.shutdown().unwrap(), 1);
}
