//! Queued launches on the GPU: back-to-back `touch` enqueued on a
//! [`Queue`] (one sync per burst) against raw cudarc launching the same
//! CUBIN asynchronously, interleaved; and the `bitonic_sort` example
//! launched stage by stage against all stages queued. Graph replay is not
//! timed: graphs are not supported on the CUDA backend yet.

use spindle::prelude::*;

use crate::bitonic_sort;
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

pub const FIGURES: [&str; 5] = [
    "back-to-back touch, spindle enqueue (1 sync)",
    "back-to-back touch, raw cudarc async (1 sync), beside enqueue",
    "enqueue time per launch: spindle / raw cudarc async",
    "bitonic sort, synchronous launches",
    "bitonic sort, every stage queued (1 wait)",
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
    let (mut sync_failed, mut queued_failed) = (None, None);
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
        interleaved(r.warmup(2), reps, &mut [&mut sync, &mut queued])
    };
    if let Some(e) = sync_failed.or(queued_failed) {
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
    q.sync().map_err(|e| e.to_string())
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
