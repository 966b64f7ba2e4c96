//! Ring mode: `call` round trip, pipelined throughput by message size, the
//! same work as a batch launch + sync; and on the CPU backend, `call`
//! against a crossbeam-channel round trip between two threads.

use std::time::Duration;

use spindle::prelude::*;

use crate::harness::measure;
use crate::report::Reporter;

/// Why the ring figures are not measured in this build.
const RING_MISSING: &str =
    "ring mode has not landed in this build (no spindle::Actor / RingConfig yet)";

const GPU_FIGURES: [&str; 6] = [
    "call round trip (u32 add), spindle ring",
    "pipelined 8-byte messages",
    "pipelined 64-byte messages",
    "pipelined 256-byte messages",
    "same work as batch: launch+sync+read back",
    "same work: ring call / batch launch+sync",
];

pub fn run_gpu(r: &mut Reporter, gpu: Result<&Device, &str>) {
    r.section("ring on the GPU");
    let why = match gpu {
        Ok(_) => RING_MISSING,
        Err(why) => why,
    };
    for name in GPU_FIGURES {
        r.skip("ring", name, why);
    }
}

pub fn run_cpu(r: &mut Reporter) {
    r.section("ring on the CPU backend against a crossbeam-channel round trip");
    match crossbeam_round_trip(r.reps(20_000)) {
        Ok(s) => r.time(
            "cpu-ring",
            "crossbeam-channel round trip (2 threads, u32)",
            s,
            "bounded(64) each way",
        ),
        Err(e) => r.skip(
            "cpu-ring",
            "crossbeam-channel round trip (2 threads, u32)",
            &e,
        ),
    }
    r.skip(
        "cpu-ring",
        "call round trip (u32 add), spindle ring on the CPU backend",
        RING_MISSING,
    );
    r.skip("cpu-ring", "ring call / crossbeam round trip", RING_MISSING);
}

/// One thread sends a `u32`, another adds it to its state and sends the
/// state back: the work of the ring benchmarks' handler.
fn crossbeam_round_trip(reps: usize) -> Result<crate::harness::Stats, String> {
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
