//! Batch mode on the GPU: spindle's launch + sync against a raw cudarc
//! launch of the same CUBIN, latency, back-to-back throughput, and the
//! saxpy launch the Python peers (CuPy, Numba) also time, and the
//! `histogram` example's cooperating kernels (shared memory, barriers,
//! atomics, warp shuffles).

use spindle::prelude::*;

use crate::harness::measure;
use crate::histogram;
use crate::interleaved;
use crate::kernels::touch;
use crate::quickstart;
use crate::raw::RawTouch;
use crate::report::Reporter;

const GROUP: &str = "batch";
/// Launches per repetition of the back-to-back figures.
const BURST: usize = 1000;
/// The launch-overhead goal (BENCHMARKS.md, "Goals"): spindle / raw cudarc.
const GOAL: f64 = 1.10;

const FIGURES: [&str; 11] = [
    "touch launch+sync, spindle",
    "touch launch+sync, raw cudarc (same CUBIN)",
    "touch launch+sync, raw cudarc + fault clear/read",
    "launch overhead: spindle / raw cudarc",
    "launch overhead: spindle / raw cudarc + fault clear/read",
    "back-to-back touch, spindle (each call waits)",
    "back-to-back touch, raw cudarc async (1 sync)",
    "saxpy n=1024 launch+sync, spindle",
    "saxpy n=2^20 launch+sync, spindle",
    "shared-memory histogram of 2^20 bytes (64x256) launch+sync, spindle",
    "warp-shuffle block sums n=2^20 launch+sync, spindle",
];

pub fn run(r: &mut Reporter, gpu: Result<&Device, &str>, arch: Option<&str>) {
    r.section("batch on the GPU");
    let (dev, arch) = match (gpu, arch) {
        (Ok(d), Some(a)) => (d, a),
        (Err(why), _) => return skip_all(r, why),
        (Ok(_), None) => return skip_all(r, "the GPU's architecture is unknown"),
    };
    if let Err(e) = overhead(r, dev, arch) {
        r.skip(GROUP, "launch overhead figures", &e);
    }
    if let Err(e) = saxpy(r, dev) {
        r.skip(GROUP, "saxpy figures", &e);
    }
    if let Err(e) = cooperative(r, dev) {
        r.skip(GROUP, "cooperative-kernel figures", &e);
    }
    if let Err(e) = crate::queued::run(r, dev, arch) {
        r.skip(GROUP, "queued-launch figures", &e);
    }
}

fn skip_all(r: &mut Reporter, why: &str) {
    for name in FIGURES.iter().chain(&crate::queued::FIGURES) {
        r.skip(GROUP, name, why);
    }
}

fn overhead(r: &mut Reporter, dev: &Device, arch: &str) -> Result<(), String> {
    const LEN: usize = 32;
    let launch = Launch::new(1u32, LEN as u32);
    let mut out = dev.zeros::<u32>(LEN).map_err(|e| e.to_string())?;
    touch::launch(dev, launch, &mut out).map_err(|e| format!("spindle launch failed: {e}"))?;
    if out.to_vec().map_err(|e| e.to_string())? != vec![1u32; LEN] {
        return Err("spindle's touch gave a wrong result on the GPU".into());
    }
    // The CUBIN the runtime loaded: from the disk cache its launch filled, or
    // compiled the same way when the cache is off.
    let cubin = spindle_runtime::cuda::cubin_for(&touch::KERNEL, arch)
        .map_err(|e| format!("the CUBIN of touch for the raw baseline: {e}"))?;
    let mut raw = RawTouch::load(cubin, LEN)?;
    raw.launch_sync()?;
    if raw.output()? != vec![1u32; LEN] {
        return Err("the raw cudarc launch of touch gave a wrong result".into());
    }

    let reps = r.reps(5000);
    let (mut ours_failed, mut raw_failed) = (None, None);
    let stats = {
        let mut spindle_launch = || {
            if let Err(e) = touch::launch(dev, launch, &mut out) {
                ours_failed.get_or_insert(format!("spindle launch failed: {e}"));
            }
        };
        let mut raw_plain = || {
            if let Err(e) = raw.launch_sync() {
                raw_failed.get_or_insert(e);
            }
        };
        // Interleaved so both see the same clocks and neighbours.
        interleaved(
            r.warmup(500),
            reps,
            &mut [&mut spindle_launch, &mut raw_plain],
        )
    };
    let with_fault = measure(r.warmup(500), reps, || {
        if let Err(e) = raw.launch_sync_with_fault() {
            raw_failed.get_or_insert(e);
        }
    });
    if let Some(e) = ours_failed.or(raw_failed) {
        return Err(e);
    }
    let (ours, plain) = (stats[0], stats[1]);
    r.time(GROUP, FIGURES[0], ours, "1 block of 32 threads");
    r.time(GROUP, FIGURES[1], plain, "");
    r.time(
        GROUP,
        FIGURES[2],
        with_fault,
        "the per-call fault work spindle's launches did before their records moved to mapped memory",
    );
    r.ratio(GROUP, FIGURES[3], ours, plain, Some(GOAL), "");
    r.ratio(GROUP, FIGURES[4], ours, with_fault, None, "");

    let burst_reps = r.reps(50);
    let mut ours_failed = None;
    let b2b = measure(r.warmup(2), burst_reps, || {
        for _ in 0..BURST {
            if let Err(e) = touch::launch(dev, launch, &mut out) {
                ours_failed.get_or_insert(format!("spindle launch failed: {e}"));
            }
        }
    });
    match ours_failed {
        Some(e) => r.skip(GROUP, FIGURES[5], &e),
        None => r.throughput(GROUP, FIGURES[5], b2b, BURST, ""),
    }
    let mut failure: Option<String> = None;
    let raw_b2b = measure(r.warmup(2), burst_reps, || {
        for _ in 0..BURST {
            if let Err(e) = raw.launch_async() {
                failure.get_or_insert(e);
            }
        }
        if let Err(e) = raw.synchronize() {
            failure.get_or_insert(e);
        }
    });
    match failure {
        Some(e) => r.skip(GROUP, FIGURES[6], &e),
        None => r.throughput(GROUP, FIGURES[6], raw_b2b, BURST, "the driver's bound"),
    }
    Ok(())
}

/// The peers script times the same: y = a*x + y, 256-thread blocks.
fn saxpy(r: &mut Reporter, dev: &Device) -> Result<(), String> {
    for (n, name) in [(1024usize, FIGURES[7]), (1 << 20, FIGURES[8])] {
        let x = dev.upload(&vec![1.0f32; n]).map_err(|e| e.to_string())?;
        let mut y = dev.upload(&vec![2.0f32; n]).map_err(|e| e.to_string())?;
        quickstart::saxpy::launch(dev, Launch::for_elements(n), 3.0, &x, &mut y)
            .map_err(|e| e.to_string())?;
        if y.to_vec()
            .map_err(|e| e.to_string())?
            .iter()
            .any(|&v| v != 5.0)
        {
            return Err("saxpy gave a wrong result on the GPU".into());
        }
        let s = measure(r.warmup(200), r.reps(3000), || {
            quickstart::saxpy::launch(dev, Launch::for_elements(n), 1.0, &x, &mut y).unwrap();
        });
        r.time(GROUP, name, s, "compare with the peers' saxpy");
    }
    Ok(())
}

/// The `histogram` example's kernels, checked against plain Rust first.
fn cooperative(r: &mut Reporter, dev: &Device) -> Result<(), String> {
    let err = |e: spindle::Error| e.to_string();
    let n = 1usize << 20;
    let data = histogram::sample_bytes(n);
    let data_buf = dev.upload(&data).map_err(err)?;
    let mut bins = dev.zeros::<u32>(histogram::BINS).map_err(err)?;
    let launch = Launch::new(64u32, histogram::BLOCK);
    histogram::histogram::launch(dev, launch, &data_buf, &mut bins).map_err(err)?;
    if bins.to_vec().map_err(err)? != histogram::histogram_reference(&data) {
        return Err("the histogram kernel gave a wrong result on the GPU".into());
    }
    let s = measure(r.warmup(50), r.reps(1000), || {
        histogram::histogram::launch(dev, launch, &data_buf, &mut bins).unwrap();
    });
    r.time(GROUP, FIGURES[9], s, "");

    let values: Vec<u32> = (0..n as u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let values_buf = dev.upload(&values).map_err(err)?;
    let mut sums = dev
        .zeros::<u32>(n.div_ceil(histogram::BLOCK as usize))
        .map_err(err)?;
    let launch = histogram::launch_for(n);
    histogram::block_sums::launch(dev, launch, &values_buf, &mut sums).map_err(err)?;
    if sums.to_vec().map_err(err)? != histogram::block_sums_reference(&values) {
        return Err("the block-sums kernel gave a wrong result on the GPU".into());
    }
    let s = measure(r.warmup(50), r.reps(1000), || {
        histogram::block_sums::launch(dev, launch, &values_buf, &mut sums).unwrap();
    });
    r.time(GROUP, FIGURES[10], s, "");
    Ok(())
}
