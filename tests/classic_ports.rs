//! The classic CUDA ports of `examples/classic_ports.rs`: each against plain
//! Rust on the CPU backend (and on a GPU when present, where the matrix
//! multiply launches 1024-thread blocks), each compiled with the real NVRTC,
//! and their registers against their CUDA originals' (`tests/classic/`),
//! compiled by the same NVRTC with the same options for `sm_90`.

mod common;

#[allow(dead_code)]
#[path = "../examples/classic_ports.rs"]
mod classic_ports;
#[path = "classic/originals.rs"]
mod originals;

use classic_ports::*;
use spindle::{Device, Launch};
use spindle_runtime::cuda::{compile_cubin, nvrtc_version, Resources};

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[test]
fn matrix_mul_32_matches_rust() {
    let mut rng = common::rng("matrix_mul_32_matches_rust");
    for dev in devices("matrix_mul_32_matches_rust") {
        for (rows, wa, wb) in [(32usize, 32usize, 32usize), (64, 96, 32), (96, 64, 128)] {
            // Small integers: every partial sum is exact, in any order.
            let a: Vec<f32> = (0..rows * wa).map(|_| rng.i32(-8..8) as f32).collect();
            let b: Vec<f32> = (0..wa * wb).map(|_| rng.i32(-8..8) as f32).collect();
            let (ab, bb) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
            let mut c = dev.zeros::<f32>(rows * wb).unwrap();
            let launch = matrix_mul_launch(rows as u32, wb as u32);
            matrix_mul_32::launch(&dev, launch, &mut c, &ab, &bb, wa as u32, wb as u32)
                .unwrap_or_else(|e| panic!("{rows}x{wa}·{wa}x{wb} on {}: {e}", dev.name()));
            let want = matrix_mul_reference(&a, &b, wa, wb);
            assert_eq!(
                c.to_vec().unwrap(),
                want,
                "{rows}x{wa}·{wa}x{wb} on {}",
                dev.name()
            );
        }
    }
}

#[test]
fn matrix_mul_32_out_of_bounds_names_the_read() {
    // `a` one row short of what `wa` and the grid say: the last block's
    // loads run past its end.
    for dev in devices("matrix_mul_32_out_of_bounds_names_the_read") {
        let (rows, wa, wb) = (64usize, 32usize, 32usize);
        let a = dev.upload(&vec![1.0f32; rows * wa - wa]).unwrap();
        let b = dev.upload(&vec![1.0f32; wa * wb]).unwrap();
        let mut c = dev.zeros::<f32>(rows * wb).unwrap();
        let launch = matrix_mul_launch(rows as u32, wb as u32);
        let err = matrix_mul_32::launch(&dev, launch, &mut c, &a, &b, wa as u32, wb as u32)
            .expect_err("reads past the end of `a`");
        let text = err.to_string();
        assert!(
            matches!(
                err.fault().map(|f| f.kind),
                Some(spindle::FaultKind::OutOfBounds { .. })
            ),
            "{text}"
        );
        assert!(
            text.contains("matrix_mul_32") && text.contains('a'),
            "{text}"
        );
        assert!(text.contains(&format!("{}", rows * wa - wa)), "{text}");
    }
}

#[test]
fn reduce_sum_matches_rust() {
    let mut rng = common::rng("reduce_sum_matches_rust");
    for dev in devices("reduce_sum_matches_rust") {
        for (n, block) in [(1usize, 32u32), (1000, 64), (4096, 256), (5000, 1024)] {
            let x: Vec<f32> = (0..n).map(|_| rng.i32(-100..100) as f32).collect();
            let xb = dev.upload(&x).unwrap();
            let mut sums = dev.zeros::<f32>(n.div_ceil(2 * block as usize)).unwrap();
            reduce_sum::launch(
                &dev,
                reduce_launch(n as u32, block),
                &xb,
                &mut sums,
                n as u32,
            )
            .unwrap_or_else(|e| panic!("n={n} block={block} on {}: {e}", dev.name()));
            let want = reduce_reference(&x, block as usize);
            assert_eq!(
                sums.to_vec().unwrap(),
                want,
                "n={n} block={block} on {}",
                dev.name()
            );
        }
    }
}

#[test]
fn transpose_32_matches_rust() {
    let mut rng = common::rng("transpose_32_matches_rust");
    for dev in devices("transpose_32_matches_rust") {
        for (w, h) in [(32usize, 32usize), (64, 96), (128, 32)] {
            let m: Vec<f32> = (0..w * h).map(|_| rng.f32()).collect();
            let mb = dev.upload(&m).unwrap();
            let mut t = dev.zeros::<f32>(w * h).unwrap();
            let launch = transpose_launch(w as u32, h as u32);
            transpose_32::launch(&dev, launch, &mut t, &mb, w as u32, h as u32).unwrap();
            let t = t.to_vec().unwrap();
            for y in 0..h {
                for x in 0..w {
                    assert_eq!(t[x * h + y], m[y * w + x], "({x}, {y}) of {w}x{h}");
                }
            }
        }
    }
}

#[test]
fn stencil_1d_matches_rust() {
    let mut rng = common::rng("stencil_1d_matches_rust");
    for dev in devices("stencil_1d_matches_rust") {
        for n in [256usize, 1024, 2560] {
            let input: Vec<i32> = (0..n + 6).map(|_| rng.i32(..)).collect();
            let ib = dev.upload(&input).unwrap();
            let mut out = dev.zeros::<i32>(n).unwrap();
            stencil_1d::launch(&dev, stencil_launch(n as u32), &ib, &mut out).unwrap();
            assert_eq!(out.to_vec().unwrap(), stencil_reference(&input), "n={n}");
        }
    }
}

#[test]
fn vector_add_matches_rust() {
    let mut rng = common::rng("vector_add_matches_rust");
    for dev in devices("vector_add_matches_rust") {
        for n in [1usize, 1000, 65_537] {
            let a: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            let (ab, bb) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
            let mut c = dev.zeros::<f32>(n).unwrap();
            vector_add::launch(&dev, Launch::for_elements(n), &ab, &bb, &mut c, n as u32).unwrap();
            let c = c.to_vec().unwrap();
            for i in 0..n {
                assert_eq!(
                    c[i].to_bits(),
                    (a[i] + b[i]).to_bits(),
                    "element {i} of {n}"
                );
            }
        }
    }
}

#[test]
fn every_classic_port_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_classic_port_compiles_with_nvrtc");
}

/// The most registers a thread may use for a 1024-thread block to launch
/// (64 K registers per SM on every GPU since compute capability 5.0).
const REGISTERS_FOR_1024_THREADS: u32 = 64;
/// The goal: a port uses at most this many times its original's registers.
const REGISTER_RATIO_GOAL: f64 = 1.25;

/// `(port, original)` resource reports from NVRTC for `sm_90`, or `None`
/// (after saying why) when NVRTC is absent and not required.
fn resources_with_original(test: &str, port: &str) -> Option<(Resources, Resources)> {
    if let Err(e) = nvrtc_version() {
        let required = std::env::var("SPINDLE_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "SPINDLE_REQUIRE_NVRTC=1 but NVRTC is unavailable: {e}"
        );
        eprintln!("skipping `{test}`: {e}");
        return None;
    }
    let kernel = spindle::registered_kernels()
        .find(|k| k.name() == port)
        .unwrap_or_else(|| panic!("no kernel `{port}` registered"));
    let source = kernel.cuda_source().unwrap();
    let ours = compile_cubin(port, &source, "sm_90").unwrap().resources;
    let original = originals::ORIGINALS
        .iter()
        .find(|o| o.port == port)
        .unwrap_or_else(|| panic!("no CUDA original of `{port}`"));
    let theirs = compile_cubin(&format!("{port}_original"), original.source, "sm_90")
        .unwrap()
        .resources;
    Some((ours, theirs))
}

/// Registers of the port's entry function (`spindle_<name>`).
fn entry_registers(port: &str, r: &Resources) -> u32 {
    r.function(&format!("spindle_{port}"))
        .unwrap_or_else(|| panic!("no report for `spindle_{port}` in {r:?}"))
        .registers
}

fn assert_within_register_goal(test: &str, port: &str) {
    let Some((ours, theirs)) = resources_with_original(test, port) else {
        return;
    };
    let regs = entry_registers(port, &ours);
    // The original is one kernel: its report's maximum is that kernel's.
    let goal = (theirs.registers as f64 * REGISTER_RATIO_GOAL).floor() as u32;
    eprintln!(
        "{port}: {regs} registers, CUDA original {} (goal ≤ {goal}); spills {}/{} bytes",
        theirs.registers, ours.spill_stores, ours.spill_loads
    );
    assert!(
        regs <= goal,
        "`{port}` uses {regs} registers per thread, more than {REGISTER_RATIO_GOAL}× its CUDA \
         original's {} (at most {goal})",
        theirs.registers
    );
    assert!(
        regs <= REGISTERS_FOR_1024_THREADS,
        "`{port}` uses {regs} registers per thread: a 1024-thread block needs at most \
         {REGISTERS_FOR_1024_THREADS}"
    );
    assert_eq!(
        (ours.spill_stores, ours.spill_loads),
        (0, 0),
        "`{port}` spills registers"
    );
}

#[test]
fn matrix_mul_32_registers_within_goal() {
    assert_within_register_goal("matrix_mul_32_registers_within_goal", "matrix_mul_32");
}

#[test]
fn other_classic_ports_registers_within_goal() {
    for o in originals::ORIGINALS {
        if o.port != "matrix_mul_32" {
            assert_within_register_goal("other_classic_ports_registers_within_goal", o.port);
        }
    }
}
