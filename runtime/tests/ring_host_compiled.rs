//! Host-compiled CUDA (ARCHITECTURE.md, "How spindle checks itself"): the generated persistent ring kernel
//! — the emitter's handler plus the ring loop, exactly the text NVRTC gets —
//! compiled as host C++ by g++ against `ring_host_shim.h` into a shared
//! library, and run as one block of real OS threads against the REAL Rust
//! host side (`Actor`, over a real memory region). This checks the device
//! loop's protocol logic and the emitted text with real concurrency:
//! ordering, full rings on both sides, drain, abort, the state write-back,
//! faults with and without surviving threads, and the layout check.
//!
//! `SPINDLE_RING_TSAN=1` builds the kernels with ThreadSanitizer; the
//! `under_thread_sanitizer` test does that in a child process with libtsan
//! preloaded. Every test skips, saying why, when g++ is missing. The
//! harness is `ring_host/mod.rs`; the batch structure of the loop is
//! tested in `ring_host_batches.rs`.

// `#[derive(DeviceType)]` (in ring_host) names `::spindle`: the runtime here.
extern crate spindle_runtime as spindle;

mod ring_host;

use std::time::{Duration, Instant};

use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::samples;
use spindle_runtime::{Actor, Dim3, Error, FaultKind};

use ring_host::*;

fn tally_step(s: &mut Tally, v: f32) -> Tally {
    s.count += 1;
    s.sum += v;
    *s
}

#[test]
fn tally_random_bursts_in_order_and_exact_state() {
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let total = if tsan() { 3_000 } else { 60_000 };
    let mut sent = 0;
    while sent < total {
        let capacity = 1usize << rng.u32(0..=7);
        let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config(capacity));
        let mut model = Tally::default();
        let mut expected = std::collections::VecDeque::new();
        for _ in 0..rng.usize(1..40) {
            match rng.u32(0..4) {
                0 => {
                    for _ in 0..rng.usize(1..=3 * capacity) {
                        let v = rng.u32(0..1000) as f32;
                        expected.push_back(tally_step(&mut model, v));
                        actor.send(v).unwrap();
                        sent += 1;
                    }
                }
                1 => {
                    for _ in 0..rng.usize(0..=expected.len()) {
                        assert_eq!(actor.recv().unwrap(), expected.pop_front().unwrap());
                    }
                }
                2 => {
                    let v = rng.u32(0..1000) as f32;
                    let want = tally_step(&mut model, v);
                    assert_eq!(actor.call(v).unwrap(), want);
                    sent += 1;
                }
                _ => match actor.try_send(1.0) {
                    Ok(()) => {
                        expected.push_back(tally_step(&mut model, 1.0));
                        sent += 1;
                    }
                    Err(Error::Full { capacity: c, .. }) => assert_eq!(c, capacity),
                    Err(e) => panic!("{e}"),
                },
            }
        }
        if rng.bool() {
            while let Some(want) = expected.pop_front() {
                assert_eq!(actor.recv().unwrap(), want);
            }
        }
        assert_eq!(actor.shutdown().unwrap(), model);
    }
}

#[test]
fn block_of_32_threads_updates_array_state() {
    let Some(k) = host_kernel("lanes32", samples::lanes(32)) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 32], u32, u32> = spawn(&k, [0u32; 32], config(8));
    let mut model = [0u32; 32];
    let n = if tsan() { 300 } else { 3_000 };
    for m in 0..n {
        for (i, s) in model.iter_mut().enumerate() {
            *s = s.wrapping_add(m + i as u32);
        }
        if m % 3 == 0 {
            assert_eq!(actor.call(m).unwrap(), model[0]);
        } else {
            actor.send(m).unwrap();
        }
    }
    assert_eq!(actor.shutdown().unwrap(), model);
}

/// A 64-thread handler written in Rust and linked by the front end: warp
/// shuffles reduce each warp, the warps meet in a block-shared array behind
/// a barrier, and every thread bumps the state with an atomic.
fn warp_reduce_kernel() -> Kernel {
    const SRC: &str = "fn warp_reduce(state: &mut [u32; 2], msg: u32) -> u32 {
        let warp_sums = shared_array::<u32, 2>();
        let t = thread_idx().x;
        let mut v = msg.wrapping_mul(t + 1);
        let mut delta = 16;
        while delta > 0 {
            v = v.wrapping_add(warp_shuffle_down(v, delta));
            delta /= 2;
        }
        if lane_id() == 0 {
            warp_sums[(t / 32) as usize] = v;
        }
        sync_threads();
        atomic_add(&mut state[1], 1);
        let total = warp_sums[0].wrapping_add(warp_sums[1]);
        if t == 0 {
            state[0] = state[0].wrapping_add(total);
        }
        total
    }";
    let item = spindle_codegen::ItemSource {
        name: "warp_reduce",
        source: SRC,
        file: "runtime/tests/ring_host_compiled.rs",
        line: 1,
        consts: &[],
    };
    let options = spindle_codegen::KernelOptions {
        threads: 64,
        ..spindle_codegen::KernelOptions::new(spindle_codegen::KernelMode::Ring)
    };
    spindle_codegen::link(&item, &options, &[], &[]).expect("warp_reduce links")
}

#[test]
fn block_of_64_threads_with_shuffles_barriers_and_atomics() {
    let Some(k) = host_kernel("warp_reduce64", warp_reduce_kernel()) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 2], u32, u32> = spawn(&k, [0u32; 2], config(8));
    let mut model = [0u32; 2];
    let n: u32 = if tsan() { 100 } else { 1_000 };
    // Thread t contributes msg * (t + 1): the block's total is msg * 2080.
    for m in 0..n {
        let msg = m.wrapping_mul(2_654_435_761);
        let total = msg.wrapping_mul(2080);
        model[0] = model[0].wrapping_add(total);
        model[1] += 64;
        if m % 4 == 0 {
            assert_eq!(actor.call(msg).unwrap(), total, "message {m}");
        } else {
            actor.send(msg).unwrap();
        }
    }
    assert_eq!(actor.shutdown().unwrap(), model);
}

fn assert_fault(e: &Error, index: u64, thread: u32) {
    match e.fault() {
        Some(f) => {
            assert_eq!(f.kernel, "faulty");
            assert_eq!(f.what, "state");
            assert_eq!(f.kind, FaultKind::OutOfBounds { index, len: 4 });
            assert_eq!(f.thread, Dim3::new(thread, 0, 0));
        }
        None => panic!("expected OutOfBounds, got {e:?}"),
    }
}

#[test]
fn a_fault_with_no_surviving_thread_is_reported_from_the_record() {
    // One handler thread: it exits on the fault, nobody publishes; the host
    // notices the kernel ended and reads the fault record.
    let Some(k) = host_kernel("faulty1", samples::faulty(1)) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(4));
    assert_eq!(actor.call(2).unwrap(), 2);
    let e = actor.call(9).unwrap_err();
    assert_fault(&e, 9, 0);
    for _ in 0..3 {
        let again = actor.call(1).unwrap_err();
        assert_eq!(again.to_string(), e.to_string());
    }
    assert!(actor.try_send(1).is_err());
    assert_eq!(actor.shutdown().unwrap_err().to_string(), e.to_string());
}

#[test]
fn a_fault_in_one_of_32_threads_is_reported_by_a_survivor() {
    let Some(k) = host_kernel("faulty32", samples::faulty(32)) else {
        return;
    };
    let _one = serial();
    // Thread 7 faults; thread 0 (the polling lane) survives.
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(4));
    assert_eq!(actor.call(3001).unwrap(), 3001);
    let e = actor.call(7005).unwrap_err();
    assert_fault(&e, 5, 7);
    assert_eq!(actor.recv().unwrap_err().to_string(), e.to_string());
    drop(actor);
    // Thread 0, the polling lane itself, faults: the others report it.
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(4));
    actor.send(1).unwrap();
    actor.send(4).unwrap();
    let e = actor.recv().and_then(|_| actor.recv()).unwrap_err();
    assert_fault(&e, 4, 0);
}

#[test]
fn faulty_handler_without_faults_keeps_exact_state() {
    let Some(k) = host_kernel("faulty32", samples::faulty(32)) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(2));
    let mut model = [0u32; 4];
    for m in 0..400u32 {
        let (t, j) = (m % 32, m % 4);
        let msg = t * 1000 + j;
        model[j as usize] += 1;
        actor.send(msg).unwrap();
    }
    for m in 0..400u32 {
        assert_eq!(actor.recv().unwrap(), (m % 32) * 1000 + m % 4);
    }
    assert_eq!(actor.shutdown().unwrap(), model);
}

#[test]
fn shutdown_drains_without_recv_and_drop_aborts_quickly() {
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config(4));
    for _ in 0..1000 {
        actor.send(0.5).unwrap();
    }
    assert_eq!(
        actor.shutdown().unwrap(),
        Tally {
            count: 1000,
            sum: 500.0
        }
    );

    let start = Instant::now();
    let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config(2));
    for _ in 0..2 {
        actor.send(1.0).unwrap();
    }
    // Nobody receives: the reply ring fills and the kernel waits for room
    // when the abort arrives.
    std::thread::sleep(Duration::from_millis(20));
    drop(actor);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "drop took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_stop_right_after_a_send_never_loses_it() {
    // The drain rule: after reading `stop` the kernel polls the ring once
    // more. With a spinning kernel, a stop that lands between its empty
    // poll and its read of `stop` is common; repeat to hit it.
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    let rounds = if tsan() { 30 } else { 300 };
    for round in 0..rounds {
        let config = config(2).idle_sleep(Duration::ZERO);
        let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config);
        actor.call(0.0).unwrap();
        actor.send(1.0).unwrap();
        assert_eq!(actor.shutdown().unwrap().count, 2, "round {round}");
    }
}

#[test]
fn a_config_the_kernel_was_not_built_for_is_refused() {
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    // The host says 2 threads, the block has 1: the kernel's config check
    // fails and it exits with ERROR_LAYOUT.
    let mut actor = spawn_threads::<Tally, f32, Tally>(&k, 2, Tally::default(), config(4)).unwrap();
    let e = actor.call(1.0).unwrap_err();
    assert!(matches!(e, Error::ActorStopped { .. }), "{e}");
    assert!(e.to_string().contains("layout"), "{e}");
}

#[test]
fn under_thread_sanitizer() {
    run_under_thread_sanitizer("under_thread_sanitizer");
}
