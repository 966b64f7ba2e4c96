//! spindle's benchmark runner: batch and ring on the GPU, the JIT, and the
//! CPU backend, each figure a median and p99 over timed repetitions after
//! warm-up; printed as a table and written as JSON lines (see
//! `gpu/report.rs` for where). Figures that cannot be measured in this run
//! (no GPU, no NVRTC, a feature not in this build) are listed as skipped
//! with the reason.
//!
//! ```text
//! cargo bench --bench gpu                  # everything
//! cargo bench --bench gpu -- cpu jit       # only some groups: cpu batch ring group jit
//! cargo bench --bench gpu -- --quick       # a tenth of the repetitions
//! cargo bench --bench gpu -- --strict      # fail when any figure could not be measured
//! target/release/deps/gpu-<hash> --probe   # what spindle sees: GPU, arch, NVRTC
//! ```
//!
//! `scripts/gpu-check.sh` carries this binary to a GPU machine.

#[path = "gpu/batch.rs"]
mod batch;
#[path = "gpu/cpu.rs"]
mod cpu;
#[path = "gpu/group.rs"]
mod group;
mod harness;
#[path = "gpu/jit.rs"]
mod jit;
#[path = "gpu/kernels.rs"]
mod kernels;
#[path = "gpu/queued.rs"]
mod queued;
#[path = "gpu/raw.rs"]
mod raw;
#[path = "gpu/report.rs"]
mod report;
#[path = "gpu/ring.rs"]
mod ring;

// The examples, compiled in so their kernels and references are timed.
#[allow(dead_code)]
#[path = "../examples/bitonic_sort.rs"]
mod bitonic_sort;
#[allow(dead_code)]
#[path = "../examples/blur_2d.rs"]
mod blur_2d;
#[allow(dead_code)]
#[path = "../examples/histogram.rs"]
mod histogram;
#[allow(dead_code)]
#[path = "../examples/particles.rs"]
mod particles;
#[allow(dead_code)]
#[path = "../examples/quickstart.rs"]
mod quickstart;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use spindle::Device;

use harness::Stats;

const GROUPS: [&str; 5] = ["cpu", "batch", "ring", "group", "jit"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--jit-child") {
        return jit::child_main();
    }
    if args.iter().any(|a| a == "--probe") {
        probe();
        return ExitCode::SUCCESS;
    }
    // `cargo bench` passes `--bench`; other words choose groups.
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("SPINDLE_BENCH_QUICK").is_ok_and(|v| v == "1");
    // A functional check (scripts/test.sh under the CUDA stand-in): every
    // figure must be measured.
    let strict = args.iter().any(|a| a == "--strict");
    let chosen = match harness::Chosen::from_args("gpu", &args, &GROUPS) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let wants = |g: &str| chosen.wants(g);

    let mut r = report::Reporter::from_env(quick);
    let (gpu, arch) = open_gpu();
    let gpu_name = match &gpu {
        Ok(d) => d.name(),
        Err(why) => why.clone(),
    };
    println!(
        "spindle benchmarks{}",
        if quick { " (--quick)" } else { "" }
    );
    println!("  CPU: {}", cpu_model());
    println!("  GPU: {gpu_name}");
    // The CUDA stand-in (cuda-emu/) names its device "… emulated …".
    r.emulated = gpu.as_ref().is_ok_and(|d| d.name().contains("emulated"));
    if r.emulated {
        println!(
            "  (an emulated GPU: every figure below is marked [emulated]; they time the \
             emulation on the CPU and are never GPU figures)"
        );
    }
    r.meta(&[
        ("cpu", cpu_model()),
        ("gpu", gpu_name),
        ("arch", arch.clone().unwrap_or_default()),
        ("nvrtc", nvrtc_text()),
        ("unix_time", unix_time().to_string()),
    ]);
    let gpu = gpu.as_ref().map_err(String::as_str);

    if wants("cpu") {
        cpu::run(&mut r);
    }
    if wants("batch") {
        batch::run(&mut r, gpu, arch.as_deref());
    }
    if wants("ring") {
        ring::run_gpu(&mut r, gpu);
        ring::run_cpu(&mut r);
    }
    if wants("group") {
        group::run(&mut r, gpu);
    }
    if wants("jit") {
        jit::run(&mut r, gpu, arch.as_deref());
    }
    println!(
        "\n{} figures measured, {} skipped{}",
        r.measured,
        r.skipped,
        r.path
            .as_ref()
            .map(|p| format!("; JSON lines in {}", p.display()))
            .unwrap_or_default()
    );
    if strict && r.skipped > 0 {
        eprintln!(
            "gpu bench: --strict: {} figures could not be measured (see `skipped:` above)",
            r.skipped
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// GPU 0 and its `sm_XY`, or why there is none.
fn open_gpu() -> (Result<Device, String>, Option<String>) {
    match Device::cuda(0) {
        Ok(d) => {
            // Only now is libcuda known to be present (cudarc panics without it).
            let arch = raw::RawTouch::arch().ok();
            (Ok(d), arch)
        }
        Err(e) => (Err(format!("no GPU in this run: {e}")), None),
    }
}

/// `--probe`: what spindle finds on this machine, as `key: value` lines.
fn probe() {
    let (gpu, arch) = open_gpu();
    match gpu {
        Ok(d) => println!("gpu: {}", d.name()),
        Err(e) => println!("gpu: none ({e})"),
    }
    println!("arch: {}", arch.unwrap_or_else(|| "-".into()));
    println!("nvrtc: {}", nvrtc_text());
    println!("cpu: {}", cpu_model());
}

fn nvrtc_text() -> String {
    match (
        spindle_runtime::cuda::nvrtc_version(),
        spindle_runtime::cuda::nvrtc_origin(),
    ) {
        (Ok((major, minor)), Ok(origin)) => format!("{major}.{minor} ({origin})"),
        (Err(e), _) | (_, Err(e)) => format!("unavailable: {e}"),
    }
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{model} ({threads} threads available)")
}

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Like `harness::measure` for several closures at once, alternating them
/// repetition by repetition so each sees the same conditions.
pub fn interleaved(warmup: usize, reps: usize, fs: &mut [&mut dyn FnMut()]) -> Vec<Stats> {
    for _ in 0..warmup {
        for f in fs.iter_mut() {
            f();
        }
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(reps); fs.len()];
    for _ in 0..reps {
        for (f, t) in fs.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            f();
            t.push(start.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort_unstable();
            Stats {
                median: t[t.len() / 2],
                p99: t[(t.len() * 99 / 100).min(t.len() - 1)],
                reps,
            }
        })
        .collect()
}
