//! What an instantiation of a generic kernel costs, side by side in one
//! run. `cargo bench --bench generics`
//!
//! - hit: finding the linked IR of an instantiation already made (what
//!   every launch of `axpy::<f32>` does first: look the instantiation up,
//!   then read its `OnceLock`), against the same read for a kernel that is
//!   not generic (`saxpy`: the `OnceLock` alone). Per call, over batches.
//! - first use: a new instantiation's link (instantiate, fold, lower) and
//!   CUDA C emission, and with NVRTC's compile to a CUBIN where NVRTC is
//!   available; each repetition uses an instantiation not made before.

mod harness;

use std::hint::black_box;
use std::time::Instant;

use spindle::__private::{GenericArg, Scalar};
use spindle::prelude::*;

#[kernel(mode = "batch")]
fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

#[kernel(mode = "batch")]
fn axpy<T: Float>(a: T, x: &[T], y: &mut [T]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

/// Sums blocks of `B`: a fresh `B` is a fresh instantiation.
#[kernel(mode = "batch")]
fn block_sum<const B: usize>(x: &[u32], out: &mut [u32]) {
    let tile = shared_array::<u32, B>();
    let t = thread_idx().x as usize;
    let i = block_idx().x as usize * B + t;
    tile[t] = if i < x.len() { x[i] } else { 0 };
    sync_threads();
    let mut stride = B / 2;
    while stride > 0 {
        if t < stride {
            tile[t] += tile[t + stride];
        }
        sync_threads();
        stride /= 2;
    }
    if t == 0 {
        out[block_idx().x as usize] = tile[0];
    }
}

/// Calls per timed repetition of the hit figures.
const CALLS: u32 = 10_000;

fn per_call(s: harness::Stats) -> harness::Stats {
    harness::Stats {
        median: s.median / CALLS,
        p99: s.p99 / CALLS,
        reps: s.reps,
    }
}

fn main() {
    saxpy::KERNEL.linked().unwrap();
    let f32_arg = [GenericArg::Type(<f32 as spindle::gpu::Scalar>::SCALAR)];
    axpy::KERNEL.instance(&f32_arg).linked().unwrap();
    // Other instantiations in the list, so the lookup is not the only one.
    axpy::KERNEL
        .instance(&[GenericArg::Type(Scalar::F64)])
        .linked()
        .unwrap();
    let reps = 200;
    let mut plain = Vec::new();
    let mut generic = Vec::new();
    // Interleaved, so both see the same load on a shared machine.
    for _ in 0..3 {
        plain.push(harness::measure(5, reps, || {
            for _ in 0..CALLS {
                black_box(black_box(&saxpy::KERNEL).linked().unwrap());
            }
        }));
        generic.push(harness::measure(5, reps, || {
            for _ in 0..CALLS {
                let args = [GenericArg::Type(black_box(
                    <f32 as spindle::gpu::Scalar>::SCALAR,
                ))];
                black_box(axpy::KERNEL.instance(&args).linked().unwrap());
            }
        }));
    }
    let best = |v: &[harness::Stats]| *v.iter().min_by_key(|s| s.median).unwrap();
    let (p, g) = (per_call(best(&plain)), per_call(best(&generic)));
    harness::report("generics", "hit: saxpy (not generic), linked()", p, "");
    harness::report(
        "generics",
        "hit: axpy::<f32>, instance() + linked()",
        g,
        &format!(
            "{:.2}x the non-generic hit",
            g.median.as_secs_f64() / p.median.as_secs_f64()
        ),
    );

    // First uses: each repetition a block size not used before.
    let mut link = Vec::new();
    let mut nvrtc = Vec::new();
    let have_nvrtc = spindle_runtime::cuda::nvrtc_version().is_ok();
    for b in 1..=24usize {
        let args = [GenericArg::Const(spindle::__private::ConstValue::from(
            b * 8,
        ))];
        let t = Instant::now();
        let info = block_sum::KERNEL.instance(&args);
        let kernel = info.linked().unwrap();
        let source = spindle_runtime::cuda::module_source(&kernel).unwrap();
        link.push(t.elapsed());
        if have_nvrtc {
            let t = Instant::now();
            let m = spindle_runtime::cuda::compile_cubin(info.name, &source.code, "sm_90").unwrap();
            black_box(m);
            nvrtc.push(t.elapsed());
        }
    }
    let stats = |mut v: Vec<std::time::Duration>| {
        v.sort_unstable();
        harness::Stats {
            median: v[v.len() / 2],
            p99: v[v.len() - 1],
            reps: v.len(),
        }
    };
    harness::report(
        "generics",
        "first use: block_sum::<B> instantiate + link + emit",
        stats(link),
        "",
    );
    if have_nvrtc {
        harness::report(
            "generics",
            "first use: block_sum::<B> NVRTC to CUBIN (sm_90)",
            stats(nvrtc),
            "",
        );
    } else {
        println!("first use with NVRTC: skipped, NVRTC is unavailable");
    }
}
