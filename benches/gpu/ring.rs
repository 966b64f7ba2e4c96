//! Ring mode: `call` round trip, pipelined throughput by message size, and
//! the same work as a batch launch + sync, on the GPU and on the CPU
//! backend; on the CPU also the protocol alone (a Rust closure as handler)
//! and a crossbeam-channel round trip between two threads. On both, `call`
//! beside `call_async` (a tokio current-thread task), alternating.

use std::time::Duration;

use spindle::prelude::*;
use spindle_runtime::{Actor, RingConfig};

use crate::harness::async_calls::{call_vs_call_async, Runtime};
use crate::harness::{measure, Stats};
use crate::kernels::{bump, bump_batch, sink256, sink64, sink8, Msg256, Msg64, Msg8};
use crate::report::Reporter;

/// Messages per repetition of the pipelined figures.
const BURST: usize = 4096;

const FIGURES: [&str; 9] = [
    "call round trip (u32 add), spindle ring",
    "pipelined 8-byte messages (4-byte replies)",
    "pipelined 64-byte messages (4-byte replies)",
    "pipelined 256-byte messages (4-byte replies)",
    "same work as batch: launch+sync+read back",
    "same work: ring call / batch launch+sync+read back",
    "call, alternating with call_async (tokio task)",
    "call_async round trip (tokio current-thread)",
    "call_async / call, alternating",
];

/// The goal for an awaited call against a blocking one.
const ASYNC_GOAL: f64 = 1.5;

pub fn run_gpu(r: &mut Reporter, gpu: Result<&Device, &str>) {
    r.section("ring on the GPU");
    match gpu {
        Ok(dev) => {
            device_figures(r, "ring", dev);
        }
        Err(why) => {
            for name in FIGURES {
                r.skip("ring", name, why);
            }
        }
    }
}

pub fn run_cpu(r: &mut Reporter) {
    r.section("ring on the CPU backend, against a crossbeam-channel round trip");
    let group = "cpu-ring";
    let dev = Device::cpu();
    let ring_call = device_figures(r, group, &dev);
    let protocol = match closure_round_trip(r.reps(20_000)) {
        Ok(s) => {
            r.time(
                group,
                "call round trip, Rust closure handler (protocol alone)",
                s,
                "Actor::spawn_fn",
            );
            Some(s)
        }
        Err(e) => {
            r.skip(
                group,
                "call round trip, Rust closure handler (protocol alone)",
                &e,
            );
            None
        }
    };
    let crossbeam = match crossbeam_round_trip(r.reps(20_000)) {
        Ok(s) => {
            r.time(
                group,
                "crossbeam-channel round trip (2 threads, u32 add)",
                s,
                "bounded(64) each way",
            );
            Some(s)
        }
        Err(e) => {
            r.skip(
                group,
                "crossbeam-channel round trip (2 threads, u32 add)",
                &e,
            );
            None
        }
    };
    if let Some(x) = crossbeam {
        if let Some(c) = ring_call {
            r.ratio(
                group,
                "spindle ring call (CPU backend) / crossbeam round trip",
                c,
                x,
                None,
                "",
            );
        }
        if let Some(p) = protocol {
            r.ratio(
                group,
                "closure-handler ring call / crossbeam round trip",
                p,
                x,
                None,
                "",
            );
        }
    }
}

/// The figures both backends share; returns the `call` round trip.
fn device_figures(r: &mut Reporter, group: &str, dev: &Device) -> Option<Stats> {
    let call = match call_round_trip(r, dev) {
        Ok(s) => {
            r.time(group, FIGURES[0], s, "");
            Some(s)
        }
        Err(e) => {
            r.skip(group, FIGURES[0], &e);
            None
        }
    };
    let bursts = r.reps(40);
    let pipelined = [
        pipelined::<Msg8>(dev, bursts, sink8::spawn_with, |i| Msg8 { words: [i; 2] }),
        pipelined::<Msg64>(dev, bursts, sink64::spawn_with, |i| Msg64 {
            words: [i; 16],
        }),
        pipelined::<Msg256>(dev, bursts, sink256::spawn_with, |i| Msg256 {
            words: [i; 64],
        }),
    ];
    for (name, result) in FIGURES[1..4].iter().zip(pipelined) {
        match result {
            Ok(s) => r.throughput(group, name, s, BURST, "send all, then recv all"),
            Err(e) => r.skip(group, name, &e),
        }
    }
    async_figures(r, group, dev);
    match batch_same_work(r, dev) {
        Ok(b) => {
            r.time(
                group,
                FIGURES[4],
                b,
                "bump_batch: 1 thread, then the 4-byte state read back",
            );
            match call {
                Some(c) => r.ratio(
                    group,
                    FIGURES[5],
                    c,
                    b,
                    None,
                    "below 1: the ring is cheaper",
                ),
                None => r.skip(group, FIGURES[5], "no ring call figure"),
            }
        }
        Err(e) => {
            r.skip(group, FIGURES[4], &e);
            r.skip(group, FIGURES[5], &e);
        }
    }
    call
}

/// `call` and `call_async` on one actor, in alternating rounds.
fn async_figures(r: &mut Reporter, group: &str, dev: &Device) {
    let measured = bump::spawn(dev, 0)
        .map_err(|e| format!("spawn failed: {e}"))
        .and_then(|mut actor| {
            let (warmup, reps) = (r.warmup(1000), r.reps(20_000));
            let pair =
                call_vs_call_async(&mut actor, Runtime::TokioCurrentThread, warmup, reps, 10)?;
            actor
                .shutdown()
                .map_err(|e| format!("shutdown failed: {e}"))?;
            Ok(pair)
        });
    match measured {
        Ok((call, call_async)) => {
            r.time(group, FIGURES[6], call, "same actor, same task");
            r.time(group, FIGURES[7], call_async, "");
            r.ratio(
                group,
                FIGURES[8],
                call_async,
                call,
                Some(ASYNC_GOAL),
                "medians of the alternating rounds",
            );
        }
        Err(e) => {
            for name in &FIGURES[6..9] {
                r.skip(group, name, &e);
            }
        }
    }
}

fn call_round_trip(r: &Reporter, dev: &Device) -> Result<Stats, String> {
    let mut actor = bump::spawn(dev, 0).map_err(|e| format!("spawn failed: {e}"))?;
    let first = actor.call(1).map_err(|e| format!("call failed: {e}"))?;
    if first != 1 {
        return Err(format!("bump replied {first} to the first call, not 1"));
    }
    let (warmup, reps) = (r.warmup(1000), r.reps(20_000));
    let mut failed = None;
    let s = measure(warmup, reps, || {
        if let Err(e) = actor.call(1) {
            failed.get_or_insert(e.to_string());
        }
    });
    if let Some(e) = failed {
        return Err(format!("call failed: {e}"));
    }
    let state = actor
        .shutdown()
        .map_err(|e| format!("shutdown failed: {e}"))?;
    let want = 1 + (warmup + reps) as u32;
    if state != want {
        return Err(format!(
            "final state {state}, expected {want}: messages were lost"
        ));
    }
    Ok(s)
}

type Spawn<M> = fn(&Device, u32, RingConfig) -> spindle::Result<Actor<u32, M, u32>>;

/// `BURST` messages sent back to back, then their replies received.
fn pipelined<M: DeviceType>(
    dev: &Device,
    bursts: usize,
    spawn: Spawn<M>,
    msg: fn(u32) -> M,
) -> Result<Stats, String> {
    let config = RingConfig::default().capacity(1024);
    let mut actor = spawn(dev, 0, config).map_err(|e| format!("spawn failed: {e}"))?;
    let mut failed: Option<String> = None;
    let mut sent = 0u32;
    let mut last = 0u32;
    let s = measure(2, bursts, || {
        for _ in 0..BURST {
            if let Err(e) = actor.send(msg(1)) {
                failed.get_or_insert(format!("send failed: {e}"));
                return;
            }
            sent += 1;
        }
        for _ in 0..BURST {
            match actor.recv() {
                Ok(v) => last = v,
                Err(e) => {
                    failed.get_or_insert(format!("recv failed: {e}"));
                    return;
                }
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    if last != sent {
        return Err(format!(
            "last reply {last} after {sent} messages of 1: replies out of order or lost"
        ));
    }
    actor
        .shutdown()
        .map_err(|e| format!("shutdown failed: {e}"))?;
    Ok(s)
}

/// The handler's work as a batch launch: one thread adds the message to the
/// state in device memory, then the host reads the state back (the reply).
fn batch_same_work(r: &Reporter, dev: &Device) -> Result<Stats, String> {
    let mut state = dev.zeros::<u32>(1).map_err(|e| e.to_string())?;
    let one = Launch::new(1u32, 1u32);
    let mut count = 0u32;
    let mut failed = None;
    let s = measure(r.warmup(500), r.reps(10_000), || {
        let step = bump_batch::launch(dev, one, 1, &mut state).and_then(|()| state.to_vec());
        match step {
            Ok(v) => {
                count += 1;
                if v[0] != count {
                    failed.get_or_insert(format!("state {} after {count} launches", v[0]));
                }
            }
            Err(e) => {
                failed.get_or_insert(e.to_string());
            }
        }
    });
    match failed {
        Some(e) => Err(format!("bump_batch: {e}")),
        None => Ok(s),
    }
}

/// The ring protocol with a Rust closure as handler on a CPU executor thread.
fn closure_round_trip(reps: usize) -> Result<Stats, String> {
    let mut actor =
        Actor::<u32, u32, u32>::spawn_fn("bench_closure", 0, RingConfig::default(), |s, m| {
            *s = s.wrapping_add(m);
            *s
        })
        .map_err(|e| format!("spawn failed: {e}"))?;
    let mut failed = None;
    let s = measure(1000, reps, || {
        if let Err(e) = actor.call(1) {
            failed.get_or_insert(e.to_string());
        }
    });
    match failed {
        Some(e) => Err(format!("call failed: {e}")),
        None => {
            let state = actor.shutdown().map_err(|e| e.to_string())?;
            if state as usize != 1000 + reps {
                return Err(format!("final state {state}, expected {}", 1000 + reps));
            }
            Ok(s)
        }
    }
}

/// One thread sends a `u32`, another adds it to its state and sends the
/// state back: the work of the ring figures' handler.
fn crossbeam_round_trip(reps: usize) -> Result<Stats, String> {
    let (to_worker, worker_in) = crossbeam_channel::bounded::<u32>(64);
    let (worker_out, from_worker) = crossbeam_channel::bounded::<u32>(64);
    let worker = std::thread::spawn(move || {
        let mut state = 0u32;
        while let Ok(m) = worker_in.recv() {
            state = state.wrapping_add(m);
            if worker_out.send(state).is_err() {
                break;
            }
        }
    });
    let mut expected = 0u32;
    let mut wrong = false;
    let stats = measure(1000, reps, || {
        to_worker.send(1).unwrap();
        let got = from_worker.recv_timeout(Duration::from_secs(10)).unwrap();
        expected = expected.wrapping_add(1);
        wrong |= got != expected;
    });
    drop(to_worker);
    worker
        .join()
        .map_err(|_| "the worker thread panicked".to_string())?;
    if wrong {
        return Err("the worker's replies were wrong (bench bug)".into());
    }
    Ok(stats)
}
