//! A quick timing of the saxpy kernel against a plain Rust loop, for
//! tuning (`cargo test --release -p spindle-runtime cpu::tests::bench --
//! --ignored --nocapture`). Not an assertion on time: the lead's benchmark
//! measures it properly.
//!
//! On a shared machine wall-clock times are noisy: each figure is the best
//! of many runs, in rounds so that a quiet moment benefits all of them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::*;

/// Best wall-clock time of each closure over `rounds` rounds, each running
/// every closure 4 times back to back (warm caches, as a benchmark would);
/// and the best CPU time of the calling thread.
fn best_of<const N: usize>(
    rounds: usize,
    fs: &mut [&mut dyn FnMut(); N],
) -> [(Duration, Duration); N] {
    let mut best = [(Duration::MAX, Duration::MAX); N];
    for _ in 0..rounds {
        for (f, b) in fs.iter_mut().zip(best.iter_mut()) {
            for _ in 0..4 {
                let (t, c) = (Instant::now(), thread_cpu_time());
                f();
                let (wall, cpu) = (t.elapsed(), thread_cpu_time().saturating_sub(c));
                *b = (b.0.min(wall), b.1.min(cpu));
            }
        }
    }
    best
}

/// CPU time of the calling thread (Linux `CLOCK_THREAD_CPUTIME_ID`), which
/// other processes on a shared machine do not inflate.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `clock_gettime` writes one `timespec` (two 64-bit fields on
    // 64-bit Linux) to a valid pointer.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.sec as u64, t.nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Duration {
    Duration::ZERO
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn saxpy_against_a_plain_loop() {
    let k = saxpy_kernel();
    let dev = CpuDevice::new();
    let mut one = CpuDevice::new();
    one.threads = 1;
    // For tuning: SPINDLE_BENCH_GROUP_LANES overrides the group size.
    if let Some(g) = std::env::var("SPINDLE_BENCH_GROUP_LANES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        one.group_lanes = g;
    }
    let runs: usize = std::env::var("SPINDLE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    for n in [1usize << 20, 1 << 24] {
        let xs: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
        let mut ys: Vec<f32> = vec![1.0; n];
        let a = 0.5f32;
        let x = mem(&xs);
        let mut y = mem(&vec![1.0f32; n]);
        let mut plain = || {
            let (x, y) = (black_box(&xs[..]), black_box(&mut ys[..]));
            // The loop exactly as the kernel's body reads.
            #[allow(clippy::assign_op_pattern)]
            for i in 0..n {
                y[i] = a * x[i] + y[i];
            }
        };
        let mut launches = 0;
        let mut kernel = |threads: usize| {
            let dev = if threads == 1 { &one } else { &dev };
            let mut args = [
                KernelArg::value(&a),
                arg_in::<f32>(&x, n),
                arg_out::<f32>(&mut y, n),
            ];
            dev.launch(&k, &Launch::for_elements(n), &mut args).unwrap();
            launches += 1;
        };
        let kernel = std::cell::RefCell::new(&mut kernel);
        let [(plain, plain_cpu), (all, _), (single, single_cpu)] = best_of(
            runs,
            &mut [&mut plain, &mut || (kernel.borrow_mut())(0), &mut || {
                (kernel.borrow_mut())(1)
            }],
        );
        println!(
            "saxpy n={n}: plain loop {plain:?}; CPU backend on {} threads {all:?} ({:.1}x), \
             on 1 thread {single:?} ({:.1}x); thread CPU time: loop {plain_cpu:?}, backend {single_cpu:?} ({:.1}x)",
            dev.threads,
            all.as_secs_f64() / plain.as_secs_f64(),
            single.as_secs_f64() / plain.as_secs_f64(),
            single_cpu.as_secs_f64() / plain_cpu.as_secs_f64(),
        );
        let got: Vec<f32> = read(&y);
        assert_eq!(got[7], 1.0 + 0.5 * 7.0 * launches as f32);
    }
}
