//! What a launch costs on the CPU backend when queued (`name::enqueue`,
//! one `sync` per batch) against launched and waited for one by one
//! (`name::launch`), and a recorded graph of the same launches replayed,
//! side by side in one run. `cargo bench --bench queues`
//!
//! The kernel is a saxpy over 256 elements (one block): little work, so the
//! figures are mostly what the launch itself costs. Each repetition makes
//! `BATCH` launches; the figures are per launch.

mod harness;

use spindle::prelude::*;

#[kernel(mode = "batch")]
fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

/// Launches per repetition.
const BATCH: u32 = 200;

fn per_launch(s: harness::Stats) -> harness::Stats {
    harness::Stats {
        median: s.median / BATCH,
        p99: s.p99 / BATCH,
        reps: s.reps,
    }
}

fn main() {
    let dev = Device::cpu();
    println!(
        "CPU backend: {}, {BATCH} launches per repetition",
        dev.name()
    );
    let n = 256;
    let l = Launch::for_elements(n);
    let x = dev.upload(&vec![1.0f32; n]).unwrap();
    let mut y = dev.upload(&vec![0.0f32; n]).unwrap();
    let q = dev.queue().unwrap();
    let reps = 30;
    // Interleaved, so both see the same load on a shared machine.
    let mut sync = Vec::new();
    let mut queued = Vec::new();
    for _ in 0..3 {
        sync.push(harness::measure(2, reps, || {
            for _ in 0..BATCH {
                saxpy::launch(&dev, l, 0.5, &x, &mut y).unwrap();
            }
        }));
        queued.push(harness::measure(2, reps, || {
            for _ in 0..BATCH {
                saxpy::enqueue(&q, l, 0.5, &x, &mut y).unwrap();
            }
            q.sync().unwrap();
        }));
    }
    let graph = q
        .record(|q| {
            for _ in 0..BATCH {
                saxpy::enqueue(q, l, 0.5, &x, &mut y)?;
            }
            Ok(())
        })
        .unwrap();
    let replay = harness::measure(2, reps, || {
        graph.launch(&q).unwrap();
        q.sync().unwrap();
    });
    // Only the host's side of queueing: the calls, not the kernels.
    let mut enqueue_only = harness::measure(2, reps, || {
        for _ in 0..BATCH {
            saxpy::enqueue(&q, l, 0.5, &x, &mut y).unwrap();
        }
    });
    q.sync().unwrap();
    let best = |v: &[harness::Stats]| *v.iter().min_by_key(|s| s.median).unwrap();
    let (sync, queued) = (per_launch(best(&sync)), per_launch(best(&queued)));
    let ratio = |s: harness::Stats| s.median.as_secs_f64() / sync.median.as_secs_f64();
    harness::report("queues", "saxpy n=256: launch (waits each)", sync, "");
    harness::report(
        "queues",
        "saxpy n=256: enqueue, one sync per batch",
        queued,
        &format!("{:.2}x launch", ratio(queued)),
    );
    let replay = per_launch(replay);
    harness::report(
        "queues",
        "saxpy n=256: graph replay, one sync",
        replay,
        &format!("{:.2}x launch", ratio(replay)),
    );
    enqueue_only = per_launch(enqueue_only);
    harness::report(
        "queues",
        "saxpy n=256: the enqueue call alone",
        enqueue_only,
        &format!("{:.2}x launch", ratio(enqueue_only)),
    );
}
