//! A quick timing of the saxpy kernel against a plain Rust loop, for
//! tuning (`cargo test --release -p spindle-runtime cpu::tests::bench --
//! --ignored --nocapture`). Not an assertion on time: the lead's benchmark
//! measures it properly.

use std::hint::black_box;
use std::time::{Duration, Instant};

use super::*;

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

#[test]
#[ignore = "timing; run with --release --ignored --nocapture"]
fn saxpy_against_a_plain_loop() {
    let k = saxpy_kernel();
    let dev = CpuDevice::new();
    for n in [1usize << 20, 1 << 24] {
        let xs: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
        let mut ys: Vec<f32> = vec![1.0; n];
        let a = 0.5f32;
        let plain = best_of(5, || {
            let (x, y) = (black_box(&xs[..]), black_box(&mut ys[..]));
            // The loop exactly as the kernel's body reads.
            #[allow(clippy::assign_op_pattern)]
            for i in 0..n {
                y[i] = a * x[i] + y[i];
            }
        });
        let x = mem(&xs);
        let mut y = mem(&vec![1.0f32; n]);
        let kernel = best_of(5, || {
            dev.launch(
                &k,
                &Launch::for_elements(n),
                &mut [
                    KernelArg::value(&a),
                    arg_in::<f32>(&x, n),
                    arg_out::<f32>(&mut y, n),
                ],
            )
            .unwrap();
        });
        let one = {
            let mut one = CpuDevice::new();
            one.threads = 1;
            best_of(5, || {
                one.launch(
                    &k,
                    &Launch::for_elements(n),
                    &mut [
                        KernelArg::value(&a),
                        arg_in::<f32>(&x, n),
                        arg_out::<f32>(&mut y, n),
                    ],
                )
                .unwrap();
            })
        };
        println!(
            "saxpy n={n}: plain loop {:?}, cpu backend {:?} on {} threads ({:.1}x), {:?} on 1 thread ({:.1}x)",
            plain,
            kernel,
            dev.threads,
            kernel.as_secs_f64() / plain.as_secs_f64(),
            one,
            one.as_secs_f64() / plain.as_secs_f64(),
        );
        // The kernel ran 10 times: y = 1 + 10 * 0.5 * x.
        let got: Vec<f32> = read(&y);
        assert_eq!(got[7], 1.0 + 0.5 * 7.0 * 10.0);
    }
}
