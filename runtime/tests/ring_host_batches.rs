//! The batch structure of the generated ring loop, host-compiled (see
//! `ring_host/mod.rs`) and run against the real host side: requests that
//! are already queued when the kernel starts (its first poll takes them
//! all) show that the request head moves once per batch, that a fault in
//! the middle of a batch publishes exactly the replies before it, and that
//! an abort stops the batch before its next message; a request stays in
//! its slot until its reply has room. Blocks of 1, 32 and 1024 handler
//! threads. Also under ThreadSanitizer.

// `#[derive(DeviceType)]` (in ring_host) names `::spindle`: the runtime here.
extern crate spindle_runtime as spindle;

mod ring_host;

use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::layout::{offsets, ERROR_FAULT, EXIT_ABORTED, EXIT_FAULTED, STOP_ABORT};
use spindle_codegen::ring::samples;
use spindle_runtime::ring::{RawRegion, RingMemory};
use spindle_runtime::{Actor, Dim3, Error, FaultKind};

use ring_host::*;

/// Waits (up to a minute) until the kernel has published `exited`.
fn wait_exited(region: &RawRegion) -> u32 {
    let start = Instant::now();
    loop {
        let e = region.load(offsets::EXITED, Acquire);
        if e != 0 {
            return e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the kernel never exited"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The seq word of reply position `pos`, and its payload as a `u32`.
fn reply_at(region: &RawRegion, pos: u32) -> (u32, u32) {
    let l = *region.layout();
    let at = l.reply_offset + (pos & (l.capacity - 1)) as usize * l.reply.stride;
    let mut payload = [0u8; 4];
    // SAFETY: only called once the kernel has exited: nobody writes the
    // region any more.
    unsafe { region.read_bytes(at + l.reply.payload_offset, &mut payload) };
    (region.load(at, Acquire), u32::from_ne_bytes(payload))
}

#[test]
fn queued_requests_move_the_request_head_once_per_batch() {
    // 32 handler threads: each message takes the block's barriers, long
    // enough for a watcher to see any head between 0 and 20.
    let Some(k) = host_kernel("lanes32", samples::lanes(32)) else {
        return;
    };
    let _one = serial();
    let n = 20u32;
    let (mut actor, region): (Actor<[u32; 32], u32, u32>, _) =
        spawn_batched(&k, [0; 32], config(32), n);
    // Watch the head while the kernel works through the queue: one batch
    // takes every queued request, so the head goes from 0 to 20 at once.
    let watcher = {
        let region = Arc::clone(&region);
        std::thread::spawn(move || {
            let mut seen = vec![0u32];
            while *seen.last().unwrap() != n {
                let h = region.load(offsets::REQUEST_HEAD, Acquire);
                if h != *seen.last().unwrap() {
                    seen.push(h);
                }
                std::thread::yield_now();
            }
            seen
        })
    };
    for _ in 0..n {
        actor.send(1).unwrap();
    }
    assert_eq!(watcher.join().unwrap(), vec![0, n]);
    for i in 1..=n {
        assert_eq!(actor.recv().unwrap(), i);
    }
    assert_eq!(actor.shutdown().unwrap()[0], n);
}

#[test]
fn a_request_waits_in_its_slot_until_its_reply_has_room() {
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    let (mut actor, region): (Actor<Tally, f32, Tally>, _) =
        spawn_batched(&k, Tally::default(), config(4), 4);
    // Four requests fill the reply ring (nobody receives)...
    for _ in 0..4 {
        actor.send(1.0).unwrap();
    }
    // The batch is done once its request head is released (after its
    // replies).
    while region.load(offsets::REQUEST_HEAD, Acquire) != 4 {
        std::thread::yield_now();
    }
    // ... and four more wait in the request ring (`try_send` takes no
    // replies off the ring while it publishes).
    for _ in 0..4 {
        actor.try_send(1.0).unwrap();
    }
    // The executor takes a request only with room for its reply: the head
    // stays at 4 however long it polls.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(region.load(offsets::REQUEST_HEAD, Acquire), 4);
    for i in 1..=8 {
        assert_eq!(actor.recv().unwrap().count, i);
    }
    assert_eq!(actor.shutdown().unwrap().count, 8);
}

fn assert_fault(e: &Error, thread: u32) {
    match e.fault().map(|f| (f, f.kind)) {
        Some((f, FaultKind::OutOfBounds { index, .. })) => {
            assert_eq!(f.kernel, "faulty");
            assert_eq!(index, 5);
            assert_eq!(f.thread, Dim3::new(thread, 0, 0));
        }
        _ => panic!("expected OutOfBounds, got {e:?}"),
    }
}

/// Five queued messages; the third faults in thread `thread`.
fn fault_mid_batch(label: &str, threads: u32, thread: u32) {
    let Some(k) = host_kernel(label, samples::faulty(threads)) else {
        return;
    };
    let _one = serial();
    // `t * 1000 + j` makes thread t touch state[j]; j = 5 is out of bounds.
    // Thread 0's reply is `msg`.
    let msgs = [1u32, 2, thread * 1000 + 5, 3, 0];
    let (mut actor, region): (Actor<[u32; 4], u32, u32>, _) =
        spawn_batched(&k, [0; 4], config(8), msgs.len() as u32);
    for m in msgs {
        actor.send(m).unwrap();
    }
    assert_eq!(wait_exited(&region), EXIT_FAULTED);
    assert_eq!(region.load(offsets::ERROR, Acquire), ERROR_FAULT);
    // The two replies before the fault are published; none after.
    assert_eq!(reply_at(&region, 0), (1, 1));
    assert_eq!(reply_at(&region, 1), (2, 2));
    for pos in 2..msgs.len() as u32 {
        assert_eq!(reply_at(&region, pos).0, 0, "reply {pos} was published");
    }
    assert_eq!(region.load(offsets::REQUEST_HEAD, Acquire), 2);
    let e = loop {
        match actor.recv() {
            Ok(r) => assert!(r == 1 || r == 2, "reply {r} after the fault"),
            Err(e) => break e,
        }
    };
    assert_fault(&e, thread);
}

#[test]
fn a_fault_mid_batch_publishes_the_replies_before_it_one_thread() {
    // One handler thread in a block of 32: the faulting thread publishes.
    fault_mid_batch("faulty1", 1, 0);
}

#[test]
fn a_fault_mid_batch_publishes_the_replies_before_it_32_threads() {
    fault_mid_batch("faulty32", 32, 7);
}

#[test]
fn an_abort_stops_the_batch_before_its_next_message() {
    let Some(k) = host_kernel("lanes32", samples::lanes(32)) else {
        return;
    };
    let _one = serial();
    let n = 30u32;
    let (mut actor, region): (Actor<[u32; 32], u32, u32>, _) =
        spawn_batched(&k, [0; 32], config(32), n);
    for _ in 0..n {
        actor.send(1).unwrap();
    }
    // The kernel starts on the last send and finds the abort in its first
    // poll, or between two messages of its batch.
    region.store(offsets::STOP, STOP_ABORT, Release);
    assert_eq!(wait_exited(&region), EXIT_ABORTED);
    let mut out = [0u8; 4];
    // SAFETY: the kernel has exited; state-out holds its state, whose
    // word 0 counts the messages handled (each adds 1 + 0).
    unsafe { region.read_bytes(region.layout().state_out_offset, &mut out) };
    let handled = u32::from_ne_bytes(out);
    // The loop reads `stop` after a message once 20 µs have passed since
    // it last read it; ten messages of 32 OS threads take longer than that.
    assert!(
        handled < 10,
        "{handled} of {n} queued messages ran after the abort was raised"
    );
    drop(actor);
}

/// `threads` handler threads: each adds to its own state word, then after
/// a barrier thread 0 replies with the last thread's word.
fn wide_kernel(threads: u32) -> Kernel {
    let src: &'static str = Box::leak(
        format!(
            "fn wide(state: &mut [u32; {threads}], msg: u32) -> u32 {{
                let t = thread_idx().x;
                state[t as usize] += msg + t;
                sync_threads();
                state[({threads} - 1 - t) as usize]
            }}"
        )
        .into_boxed_str(),
    );
    let item = spindle_codegen::ItemSource {
        name: "wide",
        source: src,
        file: "runtime/tests/ring_host_batches.rs",
        line: 1,
        consts: &[],
    };
    let options = spindle_codegen::KernelOptions {
        threads,
        ..spindle_codegen::KernelOptions::new(spindle_codegen::KernelMode::Ring)
    };
    spindle_codegen::link(&item, &options, &[], &[]).expect("wide links")
}

/// Six queued messages through a block of `N` handler threads.
fn wide_batches<const N: usize>() {
    let threads = N as u32;
    let Some(k) = host_kernel(&format!("wide{threads}"), wide_kernel(threads)) else {
        return;
    };
    assert_eq!(k.block_threads, threads);
    let _one = serial();
    let n = 6u32;
    let (mut actor, _region): (Actor<[u32; N], u32, u32>, _) =
        spawn_batched(&k, [0; N], config(8), n);
    for m in 0..n {
        actor.send(m).unwrap();
    }
    let last = threads - 1;
    let mut sum = 0;
    for m in 0..n {
        sum += m + last;
        assert_eq!(actor.recv().unwrap(), sum, "message {m}");
    }
    actor.call(100).unwrap();
    let state = actor.shutdown().unwrap();
    for (t, s) in state.iter().enumerate() {
        let t = t as u32;
        assert_eq!(*s, (0..n).map(|m| m + t).sum::<u32>() + 100 + t);
    }
}

#[test]
fn a_block_of_1024_threads_runs_batches() {
    // ThreadSanitizer runs a block of OS threads far slower: 256 there.
    if tsan() {
        wide_batches::<256>();
    } else {
        wide_batches::<1024>();
    }
}

#[test]
fn under_thread_sanitizer() {
    run_under_thread_sanitizer("under_thread_sanitizer");
}
