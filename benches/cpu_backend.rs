//! The CPU backend against plain Rust on the same data, side by side in one
//! run. `cargo bench --bench cpu_backend`
//!
//! Goal: a saxpy-class kernel within 10× of a plain Rust loop.
//! Also the cost of cooperating threads: the `histogram` example's
//! shared-memory histogram (shared atomics, barriers) and warp-shuffle
//! block sums, against plain Rust.

mod harness;

#[path = "../examples/histogram.rs"]
#[allow(dead_code)]
mod histogram;

use spindle::prelude::*;

#[kernel(mode = "batch")]
fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

#[kernel(mode = "batch")]
fn blur_row(width: u32, src: &[f32], dst: &mut [f32]) {
    let i = global_index();
    if i < dst.len() {
        let x = (i as u32) % width;
        let mut sum = src[i];
        let mut count = 1.0f32;
        if x > 0 {
            sum += src[i - 1];
            count += 1.0;
        }
        if x + 1 < width {
            sum += src[i + 1];
            count += 1.0;
        }
        dst[i] = sum / count;
    }
}

fn main() {
    let dev = Device::cpu();
    println!("CPU backend: {}", dev.name());
    for n in [1usize << 20, 1 << 24] {
        let x_host: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
        let mut y_host: Vec<f32> = vec![1.0; n];
        let x = dev.upload(&x_host).unwrap();
        let mut y = dev.upload(&y_host).unwrap();
        let reps = if n > 1 << 22 { 15 } else { 60 };
        let kernel = harness::measure(3, reps, || {
            saxpy::launch(&dev, Launch::for_elements(n), 1.0001, &x, &mut y).unwrap();
        });
        let plain = harness::measure(3, reps, || {
            let a = std::hint::black_box(1.0001f32);
            for (yi, xi) in y_host.iter_mut().zip(&x_host) {
                *yi += a * *xi;
            }
            std::hint::black_box(&mut y_host);
        });
        let ratio = kernel.median.as_secs_f64() / plain.median.as_secs_f64();
        harness::report(
            "cpu_backend",
            &format!("saxpy n={n} spindle cpu"),
            kernel,
            &format!("{ratio:.2}x plain Rust"),
        );
        harness::report(
            "cpu_backend",
            &format!("saxpy n={n} plain Rust loop"),
            plain,
            "",
        );

        let width = 4096u32;
        let mut dst = dev.zeros::<f32>(n).unwrap();
        let mut dst_host = vec![0.0f32; n];
        let kernel = harness::measure(2, reps, || {
            blur_row::launch(&dev, Launch::for_elements(n), width, &x, &mut dst).unwrap();
        });
        let plain = harness::measure(2, reps, || {
            let w = std::hint::black_box(width) as usize;
            for i in 0..n {
                let xi = i % w;
                let mut sum = x_host[i];
                let mut count = 1.0f32;
                if xi > 0 {
                    sum += x_host[i - 1];
                    count += 1.0;
                }
                if xi + 1 < w {
                    sum += x_host[i + 1];
                    count += 1.0;
                }
                dst_host[i] = sum / count;
            }
            std::hint::black_box(&mut dst_host);
        });
        let ratio = kernel.median.as_secs_f64() / plain.median.as_secs_f64();
        harness::report(
            "cpu_backend",
            &format!("row blur n={n} spindle cpu"),
            kernel,
            &format!("{ratio:.2}x plain Rust"),
        );
        harness::report(
            "cpu_backend",
            &format!("row blur n={n} plain Rust loop"),
            plain,
            "",
        );
    }
    cooperative(&dev);
}

/// The `histogram` example's kernels against plain Rust.
fn cooperative(dev: &Device) {
    let n = 1usize << 20;
    let data = histogram::sample_bytes(n);
    let data_buf = dev.upload(&data).unwrap();
    let mut bins = dev.zeros::<u32>(histogram::BINS).unwrap();
    let kernel = harness::measure(2, 20, || {
        histogram::histogram::launch(
            dev,
            Launch::new(64u32, histogram::BLOCK),
            &data_buf,
            &mut bins,
        )
        .unwrap();
    });
    let plain = harness::measure(2, 20, || {
        std::hint::black_box(histogram::histogram_reference(std::hint::black_box(&data)));
    });
    let ratio = kernel.median.as_secs_f64() / plain.median.as_secs_f64();
    harness::report(
        "cpu_backend",
        &format!("shared-memory histogram n={n} spindle cpu"),
        kernel,
        &format!("{ratio:.2}x plain Rust"),
    );
    harness::report(
        "cpu_backend",
        &format!("histogram n={n} plain Rust loop"),
        plain,
        "",
    );

    let values: Vec<u32> = (0..n as u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let values_buf = dev.upload(&values).unwrap();
    let mut sums = dev
        .zeros::<u32>(n.div_ceil(histogram::BLOCK as usize))
        .unwrap();
    let kernel = harness::measure(2, 20, || {
        histogram::block_sums::launch(dev, histogram::launch_for(n), &values_buf, &mut sums)
            .unwrap();
    });
    let plain = harness::measure(2, 20, || {
        std::hint::black_box(histogram::block_sums_reference(std::hint::black_box(
            &values,
        )));
    });
    let ratio = kernel.median.as_secs_f64() / plain.median.as_secs_f64();
    harness::report(
        "cpu_backend",
        &format!("warp-shuffle block sums n={n} spindle cpu"),
        kernel,
        &format!("{ratio:.2}x plain Rust"),
    );
    harness::report(
        "cpu_backend",
        &format!("block sums n={n} plain Rust loop"),
        plain,
        "",
    );
}
