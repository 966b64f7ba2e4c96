//! Queued launches on the GPU: back-to-back `touch` enqueued on a
//! [`Queue`] (one sync per burst) against raw cudarc launching the same
//! CUBIN asynchronously, interleaved; the same burst recorded as a graph
//! (a CUDA graph of `BURST` kernel nodes) and replayed; and the
//! `bitonic_sort` example launched stage by stage, with all stages queued,
//! and replayed from a graph.

use spindle::prelude::*;

use std::time::Duration;

use crate::bitonic_sort;
use crate::harness::Stats;
use crate::interleaved;
use crate::kernels::touch;
use crate::raw::RawTouch;
use crate::report::Reporter;

const GROUP: &str = "batch";
/// Launches per repetition of the back-to-back figures.
const BURST: usize = 1000;
/// The goal: queued launches at ≥ 0.9× raw cudarc's asynchronous rate,
/// i.e. a time ratio of at most 1 / 0.9.
const GOAL: f64 = 1.0 / 0.9;

/// The goal of a graph replay: at most 1 µs per kernel node.
const GRAPH_GOAL_NS: f64 = 1000.0;

pub const FIGURES: [&str; 8] = [
    "back-to-back touch, spindle enqueue (1 sync)",
    "back-to-back touch, raw cudarc async (1 sync), beside enqueue",
    "enqueue time per launch: spindle / raw cudarc async",
    "bitonic sort, synchronous launches",
    "bitonic sort, every stage queued (1 wait)",
    "graph of touch nodes, one replay (1 sync)",
    "graph replay per kernel node / 1 µs",
    "bitonic sort, one graph replay (1 wait)",
];

/// The figures above; `Err` skips what is left with its reason.
pub fn run(r: &mut Reporter, dev: &Device, arch: &str) -> Result<(), String> {
    const LEN: usize = 32;
    let launch = Launch::new(1u32, LEN as u32);
    let q = dev.queue().map_err(|e| e.to_string())?;
    let mut out = dev.zeros::<u32>(LEN).map_err(|e| e.to_string())?;
    touch::enqueue(&q, launch, &mut out).map_err(|e| e.to_string())?;
    if out.to_vec().map_err(|e| e.to_string())? != vec![1u32; LEN] {
        return Err("spindle's queued touch gave a wrong result on the GPU".into());
    }
    let cubin = spindle_runtime::cuda::cubin_for(&touch::KERNEL, arch)
        .map_err(|e| format!("the CUBIN of touch for the raw baseline: {e}"))?;
    let mut raw = RawTouch::load(cubin, LEN)?;
    let reps = r.reps(50);
    let (mut ours_failed, mut raw_failed) = (None, None);
    let stats = {
        let mut ours = || {
            for _ in 0..BURST {
                if let Err(e) = touch::enqueue(&q, launch, &mut out) {
                    ours_failed.get_or_insert(format!("enqueue failed: {e}"));
                }
            }
            if let Err(e) = q.sync() {
                ours_failed.get_or_insert(format!("sync failed: {e}"));
            }
        };
        let mut theirs = || {
            for _ in 0..BURST {
                if let Err(e) = raw.launch_async() {
                    raw_failed.get_or_insert(e);
                }
            }
            if let Err(e) = raw.synchronize() {
                raw_failed.get_or_insert(e);
            }
        };
        interleaved(r.warmup(2), reps, &mut [&mut ours, &mut theirs])
    };
    if let Some(e) = ours_failed.or(raw_failed) {
        return Err(e);
    }
    r.throughput(GROUP, FIGURES[0], stats[0], BURST, "one queue, one buffer");
    r.throughput(GROUP, FIGURES[1], stats[1], BURST, "the driver's bound");
    r.ratio(
        GROUP,
        FIGURES[2],
        stats[0],
        stats[1],
        Some(GOAL),
        "goal ≥ 0.9× raw's rate",
    );
    graph_replay(r, dev, &q, launch)?;

    // 2^20 keys; a 2^12 under --quick (the stand-in's functional check).
    let log_n = if r.quick { 12 } else { 20 };
    let n = 1usize << log_n;
    let mut state = 0x9e37_79b9u32;
    let host: Vec<u32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        })
        .collect();
    let mut want = host.clone();
    want.sort_unstable();
    let note = format!("n = 2^{log_n}");
    let reps = r.reps(20);
    let mut sync_keys = dev.upload(&host).map_err(|e| e.to_string())?;
    let mut queued_keys = dev.upload(&host).map_err(|e| e.to_string())?;
    let mut graph_keys = dev.upload(&host).map_err(|e| e.to_string())?;
    let sort_graph =
        bitonic_sort::bitonic_sort_graph(&q, &mut graph_keys).map_err(|e| e.to_string())?;
    let (mut sync_failed, mut queued_failed, mut graph_failed) = (None, None, None);
    let stats = {
        let mut sync = || {
            let sorted = sync_keys
                .copy_from(&host)
                .and_then(|()| bitonic_sort::bitonic_sort(dev, &mut sync_keys))
                .and_then(|_| sync_keys.to_vec());
            check_sorted(sorted, &want, &mut sync_failed);
        };
        let mut queued = || {
            let sorted = queued_keys
                .copy_from(&host)
                .and_then(|()| bitonic_sort::bitonic_sort_queued(&q, &mut queued_keys))
                .and_then(|_| queued_keys.to_vec());
            check_sorted(sorted, &want, &mut queued_failed);
        };
        let mut replayed = || {
            let sorted = graph_keys
                .copy_from(&host)
                .and_then(|()| sort_graph.launch(&q))
                .and_then(|()| graph_keys.to_vec());
            check_sorted(sorted, &want, &mut graph_failed);
        };
        interleaved(
            r.warmup(2),
            reps,
            &mut [&mut sync, &mut queued, &mut replayed],
        )
    };
    if let Some(e) = sync_failed.or(queued_failed).or(graph_failed) {
        return Err(e);
    }
    r.time(
        GROUP,
        FIGURES[3],
        stats[0],
        &format!("{note}, with the upload and read-back"),
    );
    r.time(
        GROUP,
        FIGURES[4],
        stats[1],
        &format!("{note}, with the upload and read-back"),
    );
    r.time(
        GROUP,
        FIGURES[7],
        stats[2],
        &format!(
            "{note}, {} stages in one graph, with the upload and read-back",
            sort_graph.len()
        ),
    );
    q.sync().map_err(|e| e.to_string())
}

/// A graph of `BURST` touch launches replayed once per repetition: the
/// replay rate per kernel node against the goal of 1 µs each.
fn graph_replay(r: &mut Reporter, dev: &Device, q: &Queue, launch: Launch) -> Result<(), String> {
    let mut out = dev
        .zeros::<u32>(launch.block.x as usize)
        .map_err(|e| e.to_string())?;
    let graph = q
        .record(|q| (0..BURST).try_for_each(|_| touch::enqueue(q, launch, &mut out)))
        .map_err(|e| format!("recording {BURST} touch launches: {e}"))?;
    let mut failed = None;
    let (warmup, reps) = (r.warmup(2), r.reps(50));
    let stats = {
        let mut replay = || {
            if let Err(e) = graph.launch(q).and_then(|()| q.sync()) {
                failed.get_or_insert(format!("graph replay failed: {e}"));
            }
        };
        interleaved(warmup, reps, &mut [&mut replay])
    };
    if let Some(e) = failed {
        return Err(e);
    }
    // Each replay adds BURST to every element.
    let want = (BURST * (warmup + reps)) as u32;
    if out
        .to_vec()
        .map_err(|e| e.to_string())?
        .iter()
        .any(|&v| v != want)
    {
        return Err("the replayed touch graph gave a wrong result on the GPU".into());
    }
    r.throughput(GROUP, FIGURES[5], stats[0], BURST, "one CUDA graph");
    // The goal as a time per repetition: 1 µs for each of BURST nodes.
    let goal = Stats {
        median: Duration::from_secs_f64(GRAPH_GOAL_NS * 1e-9 * BURST as f64),
        p99: Duration::from_secs_f64(GRAPH_GOAL_NS * 1e-9 * BURST as f64),
        reps: stats[0].reps,
    };
    r.ratio(
        GROUP,
        FIGURES[6],
        stats[0],
        goal,
        Some(1.0),
        "goal ≤ 1 (the floor replays 1.96 M kernels/s)",
    );
    Ok(())
}

/// Records in `failed` a sort that failed or came out wrong.
fn check_sorted(sorted: spindle::Result<Vec<u32>>, want: &[u32], failed: &mut Option<String>) {
    match sorted {
        Ok(v) if v == want => {}
        Ok(_) => {
            failed.get_or_insert("bitonic sort gave a wrong result on the GPU".into());
        }
        Err(e) => {
            failed.get_or_insert(e.to_string());
        }
    }
}
