//! Module-level `const`s in kernels and `#[device]` fns: scalars of several
//! types, named directly or by a submodule path, as operands, loop and index
//! bounds and array lengths; each kernel is checked element by element
//! against the same computation in plain Rust, on the CPU backend (and a GPU
//! when present), and compiled with NVRTC.

mod common;

use spindle::prelude::*;

pub const WINDOW: usize = 8;
const THRESHOLD: u32 = 1000;
const GAIN: f32 = 1.75;
const OFFSET: i64 = -40_000_000_000;
const FLOOR: i64 = i64::MIN + 7;
const ENABLED: bool = true;
const DISABLED: bool = false;

mod tuning {
    use spindle::prelude::*;

    pub const SHIFT: u32 = 3;
    /// Same name as the outer `GAIN`, another value: a device fn reads the
    /// constants of its own module.
    pub const GAIN: f32 = -3.0;
    pub const SCALE: f64 = 0.125;

    pub mod lanes {
        pub const LANES: usize = 4;
    }

    #[device]
    pub fn tune(x: f32) -> f32 {
        x * GAIN + SCALE as f32
    }
}

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[device]
fn bias(x: f32) -> f32 {
    if ENABLED && !DISABLED {
        x + tuning::SCALE as f32
    } else {
        x
    }
}

#[kernel(mode = "batch")]
fn mix(
    a: &[u32],
    b: &[i64],
    x: &[f32],
    out_u: &mut [u32],
    out_i: &mut [i64],
    out_f: &mut [f32],
    out_b: &mut [bool],
) {
    let i = global_index();
    if i < out_u.len() {
        let mut acc = 0;
        for k in 0..tuning::lanes::LANES {
            acc += a[i] >> (k as u32 + tuning::SHIFT);
        }
        let spare = [7u32; tuning::lanes::LANES];
        out_u[i] = a[i] % THRESHOLD + acc + spare[tuning::lanes::LANES - 1] * spare.len() as u32;
        out_i[i] = (b[i] * 3 + OFFSET).max(FLOOR);
        out_f[i] = bias(x[i] * GAIN) + tuning::tune(x[i]);
        out_b[i] = (a[i] > THRESHOLD) == ENABLED && i % WINDOW != 0;
    }
}

/// `mix` for one element, in plain Rust.
fn mix_reference(a: u32, b: i64, x: f32, i: usize) -> (u32, i64, f32, bool) {
    let mut acc = 0u32;
    for k in 0..4u32 {
        acc = acc.wrapping_add(a >> (k + 3));
    }
    let u = (a % 1000).wrapping_add(acc).wrapping_add(7 * 4);
    let l = b
        .wrapping_mul(3)
        .wrapping_add(-40_000_000_000)
        .max(i64::MIN + 7);
    let f = (x * 1.75 + 0.125) + (x * -3.0 + 0.125);
    let flag = (a > 1000) && !i.is_multiple_of(8);
    (u, l, f, flag)
}

#[test]
fn batch_kernel_with_constants_matches_plain_rust() {
    let mut rng = common::rng("batch_kernel_with_constants_matches_plain_rust");
    let n = 3000;
    let a: Vec<u32> = (0..n)
        .map(|_| {
            if rng.bool() {
                rng.u32(..2000)
            } else {
                rng.u32(..)
            }
        })
        .collect();
    let b: Vec<i64> = (0..n).map(|_| rng.i64(..)).collect();
    let x: Vec<f32> = (0..n).map(|_| rng.f32() * 200.0 - 100.0).collect();
    for dev in devices("batch_kernel_with_constants_matches_plain_rust") {
        let (da, db, dx) = (
            dev.upload(&a).unwrap(),
            dev.upload(&b).unwrap(),
            dev.upload(&x).unwrap(),
        );
        let mut ou = dev.zeros::<u32>(n).unwrap();
        let mut oi = dev.zeros::<i64>(n).unwrap();
        let mut of = dev.zeros::<f32>(n).unwrap();
        let mut ob = dev.zeros::<bool>(n).unwrap();
        let launch = Launch::for_elements(n);
        mix::launch(
            &dev, launch, &da, &db, &dx, &mut ou, &mut oi, &mut of, &mut ob,
        )
        .unwrap();
        let (ou, oi, of, ob) = (
            ou.to_vec().unwrap(),
            oi.to_vec().unwrap(),
            of.to_vec().unwrap(),
            ob.to_vec().unwrap(),
        );
        for i in 0..n {
            let (u, l, f, flag) = mix_reference(a[i], b[i], x[i], i);
            assert_eq!(ou[i], u, "{}: out_u[{i}] for a = {}", dev.name(), a[i]);
            assert_eq!(oi[i], l, "{}: out_i[{i}] for b = {}", dev.name(), b[i]);
            assert_eq!(
                of[i].to_bits(),
                f.to_bits(),
                "{}: out_f[{i}] for x = {}: {} vs {f}",
                dev.name(),
                x[i],
                of[i]
            );
            assert_eq!(ob[i], flag, "{}: out_b[{i}]", dev.name());
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Recent {
    pub values: [f32; WINDOW],
    pub next: u32,
    pub seen: u64,
}

/// Keeps the last `WINDOW` scaled samples; replies with their maximum.
#[kernel(mode = "ring")]
fn recent(state: &mut Recent, sample: f32) -> f32 {
    state.values[state.next as usize] = sample * GAIN;
    state.next = (state.next + 1) % WINDOW as u32;
    state.seen += 1;
    let mut best = f32::NEG_INFINITY;
    let limit = if state.seen < WINDOW as u64 {
        state.seen as usize
    } else {
        WINDOW
    };
    for k in 0..limit {
        best = best.max(state.values[k]);
    }
    if ENABLED {
        best + tuning::SCALE as f32
    } else {
        best
    }
}

#[test]
fn ring_handler_with_constants_matches_plain_rust() {
    let mut rng = common::rng("ring_handler_with_constants_matches_plain_rust");
    let samples: Vec<f32> = (0..500).map(|_| rng.f32() * 50.0 - 25.0).collect();
    for dev in devices("ring_handler_with_constants_matches_plain_rust") {
        let mut actor = recent::spawn(&dev, Recent::default()).unwrap();
        // Plain Rust: a queue of the last 8 scaled samples.
        let mut window: Vec<f32> = Vec::new();
        for (i, &s) in samples.iter().enumerate() {
            window.push(s * 1.75);
            if window.len() > 8 {
                window.remove(0);
            }
            let want = window.iter().copied().fold(f32::NEG_INFINITY, f32::max) + 0.125;
            let got = actor.call(s).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{}: reply {i}", dev.name());
        }
        let state = actor.shutdown().unwrap();
        assert_eq!(state.seen, samples.len() as u64);
        assert_eq!(state.next as usize, samples.len() % 8);
    }
}

#[test]
fn batch_kernel_with_constants_compiles_with_nvrtc() {
    // The CUDA C holds the constants' values as literals of their types.
    let src = mix::cuda_source();
    assert!(src.contains("40000000000"), "{src}");
    if let Err(e) = spindle_runtime::cuda::nvrtc_version() {
        assert!(
            !std::env::var("SPINDLE_REQUIRE_NVRTC").is_ok_and(|v| v == "1"),
            "SPINDLE_REQUIRE_NVRTC=1 but NVRTC is unavailable: {e}"
        );
        eprintln!("skipping `batch_kernel_with_constants_compiles_with_nvrtc`: {e}");
        return;
    }
    let module = spindle_runtime::cuda::compile_cubin("mix", &src, "sm_90")
        .unwrap_or_else(|e| panic!("`mix` does not compile with NVRTC: {e}"));
    assert!(module.cubin.starts_with(b"\x7fELF"));
}

#[test]
fn every_kernel_with_constants_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_kernel_with_constants_compiles_with_nvrtc");
}
