//! Generic kernels and device fns: each instantiation against plain Rust
//! on the CPU backend (and a GPU when present), the instantiations'
//! names and CUDA C, and every instantiation compiled with NVRTC.

mod common;

use spindle::prelude::*;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[kernel(mode = "batch")]
fn axpy<T: Float>(a: T, x: &[T], y: &mut [T]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

#[device]
fn clamp01<T: Float>(v: T) -> T {
    v.max(T::ZERO).min(T::ONE)
}

#[kernel(mode = "batch")]
fn clamp_all<T: Float>(x: &mut [T]) {
    let i = global_index();
    if i < x.len() {
        x[i] = clamp01(x[i]);
    }
}

#[test]
fn axpy_runs_at_f32_and_f64() {
    for dev in devices("axpy_runs_at_f32_and_f64") {
        let n = 1000;
        let x64: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
        let xb = dev.upload(&x64).unwrap();
        let mut yb = dev.upload(&vec![1.0f64; n]).unwrap();
        axpy::launch(&dev, Launch::for_elements(n), 2.0f64, &xb, &mut yb).unwrap();
        let want: Vec<f64> = x64.iter().map(|x| 2.0 * x + 1.0).collect();
        assert_eq!(yb.to_vec().unwrap(), want);

        let x32: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
        let xb = dev.upload(&x32).unwrap();
        let mut yb = dev.upload(&vec![3.0f32; n]).unwrap();
        axpy::launch::<f32>(&dev, Launch::for_elements(n), 2.0, &xb, &mut yb).unwrap();
        let want: Vec<f32> = x32.iter().map(|x| 2.0 * x + 3.0).collect();
        assert_eq!(yb.to_vec().unwrap(), want);
    }
}

#[test]
fn generic_device_fn_is_instantiated_per_type() {
    for dev in devices("generic_device_fn_is_instantiated_per_type") {
        let v = [-1.0f32, 0.25, 0.5, 2.0, f32::NAN];
        let mut b = dev.upload(&v).unwrap();
        clamp_all::launch(&dev, Launch::for_elements(v.len()), &mut b).unwrap();
        let want: Vec<f32> = v.iter().map(|x| clamp01(*x)).collect();
        let got = b.to_vec().unwrap();
        assert_eq!(format!("{got:?}"), format!("{want:?}"));
        let v = [-3.0f64, 0.75, 9.0];
        let mut b = dev.upload(&v).unwrap();
        clamp_all::launch(&dev, Launch::for_elements(v.len()), &mut b).unwrap();
        assert_eq!(b.to_vec().unwrap(), vec![0.0, 0.75, 1.0]);
    }
}

#[test]
fn each_instantiation_is_its_own_kernel() {
    let f32_src = axpy::cuda_source::<f32>();
    let f64_src = axpy::cuda_source::<f64>();
    assert!(f32_src.contains("spindle_axpy__f32"), "{f32_src}");
    assert!(f64_src.contains("spindle_axpy__f64"), "{f64_src}");
    assert!(f32_src.contains("float"));
    assert!(f64_src.contains("double") && !f64_src.contains("float a"));
    assert_eq!(axpy::kernel::<f32>().name(), "axpy::<f32>");
    assert_eq!(axpy::kernel::<f64>().name(), "axpy::<f64>");
}

// ------------------------------------------------------------- const parameters

/// Each block of `B` threads sums its `B` elements of `x` into `out`.
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

fn block_sums(x: &[u32], b: usize) -> Vec<u32> {
    x.chunks(b).map(|c| c.iter().sum()).collect()
}

#[test]
fn block_sum_at_two_block_sizes() {
    let mut rng = common::rng("block_sum_at_two_block_sizes");
    for dev in devices("block_sum_at_two_block_sizes") {
        let x: Vec<u32> = (0..5000).map(|_| rng.u32(0..1000)).collect();
        let xb = dev.upload(&x).unwrap();
        let blocks = x.len().div_ceil(256);
        let mut out = dev.zeros::<u32>(blocks).unwrap();
        block_sum::launch::<256>(&dev, Launch::new(blocks as u32, 256u32), &xb, &mut out).unwrap();
        assert_eq!(out.to_vec().unwrap(), block_sums(&x, 256));
        let blocks = x.len().div_ceil(64);
        let mut out = dev.zeros::<u32>(blocks).unwrap();
        block_sum::launch::<64>(&dev, Launch::new(blocks as u32, 64u32), &xb, &mut out).unwrap();
        assert_eq!(out.to_vec().unwrap(), block_sums(&x, 64));
    }
}

/// `out[i]` is the sum of the `W` elements of `x` from `i` on (fewer at
/// the end).
#[kernel(mode = "batch")]
fn window_sums<T: Num, const W: usize>(x: &[T], out: &mut [T]) {
    let i = global_index();
    if i < out.len() {
        let mut s = T::ZERO;
        for k in 0..W {
            if i + k < x.len() {
                s += x[i + k];
            }
        }
        out[i] = s;
    }
}

#[test]
fn window_sums_with_type_and_const_parameters() {
    for dev in devices("window_sums_with_type_and_const_parameters") {
        let x: Vec<i64> = (0..100).map(|i| i * i - 2000).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<i64>(x.len()).unwrap();
        window_sums::launch::<i64, 5>(&dev, Launch::for_elements(x.len()), &xb, &mut out).unwrap();
        let want: Vec<i64> = (0..x.len())
            .map(|i| x[i..(i + 5).min(x.len())].iter().sum())
            .collect();
        assert_eq!(out.to_vec().unwrap(), want);
        let x: Vec<f32> = (0..50).map(|i| i as f32 * 0.5).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<f32>(x.len()).unwrap();
        window_sums::launch::<f32, 3>(&dev, Launch::for_elements(x.len()), &xb, &mut out).unwrap();
        let want: Vec<f32> = (0..x.len())
            .map(|i| x[i..(i + 3).min(x.len())].iter().fold(0.0, |s, v| s + v))
            .collect();
        assert_eq!(out.to_vec().unwrap(), want);
    }
}

/// A branch on a const parameter: only the taken side is emitted.
#[kernel(mode = "batch")]
fn tuned<const B: usize>(out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        if B >= 64 {
            out[i] = 70001;
        } else {
            out[i] = 70002;
        }
    }
}

#[test]
fn const_parameters_fold_in_the_cuda_source() {
    let big = tuned::cuda_source::<128>();
    let small = tuned::cuda_source::<32>();
    assert!(big.contains("70001") && !big.contains("70002"), "{big}");
    assert!(
        small.contains("70002") && !small.contains("70001"),
        "{small}"
    );
    let sum = block_sum::cuda_source::<256>();
    assert!(
        sum.contains("[256]"),
        "the shared array has 256 elements:\n{sum}"
    );
    let dev = common::cpu();
    let mut out = dev.zeros::<u32>(3).unwrap();
    tuned::launch::<64>(&dev, Launch::for_elements(3), &mut out).unwrap();
    assert_eq!(out.to_vec().unwrap(), vec![70001; 3]);
}

#[test]
fn every_instantiation_compiles_with_nvrtc() {
    let made = [
        axpy::kernel::<f32>(),
        axpy::kernel::<f64>(),
        clamp_all::kernel::<f32>(),
        clamp_all::kernel::<f64>(),
        block_sum::kernel::<64>(),
        block_sum::kernel::<256>(),
        window_sums::kernel::<i64, 5>(),
        window_sums::kernel::<f32, 3>(),
        tuned::kernel::<32>(),
        tuned::kernel::<128>(),
        accumulate::kernel::<f32>(),
        accumulate::kernel::<f64>(),
    ];
    let names: Vec<&str> = made.iter().map(|k| k.name()).collect();
    assert!(names.contains(&"window_sums::<i64, 5>"), "{names:?}");
    common::compile_all_kernels_with_nvrtc("every_instantiation_compiles_with_nvrtc");
}

// ------------------------------------------------------------- inferred lengths

#[device]
fn total<T: Num, const N: usize>(a: [T; N]) -> T {
    let mut s = T::ZERO;
    for v in a {
        s += v;
    }
    s
}

/// `total(w)` infers `T` from the elements and `N` from the length.
#[kernel(mode = "batch")]
fn windows_of_three(x: &[i64], out: &mut [i64]) {
    let i = global_index();
    if i + 2 < x.len() {
        let w = [x[i], x[i + 1], x[i + 2]];
        let pair = [x[i] as f32, 0.5];
        out[i] = total(w) + total(pair) as i64;
    }
}

#[test]
fn const_parameters_are_inferred_from_array_lengths() {
    for dev in devices("const_parameters_are_inferred_from_array_lengths") {
        let x: Vec<i64> = (0..50).map(|i| i * i - 30).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<i64>(x.len()).unwrap();
        windows_of_three::launch(&dev, Launch::for_elements(x.len()), &xb, &mut out).unwrap();
        let mut want = vec![0i64; x.len()];
        for i in 0..x.len() - 2 {
            want[i] = total([x[i], x[i + 1], x[i + 2]]) + total([x[i] as f32, 0.5]) as i64;
        }
        assert_eq!(out.to_vec().unwrap(), want);
        let src = windows_of_three::cuda_source();
        // One instantiation per length and element type.
        assert!(src.contains("spindle_arr_3_int64_t p_a"), "{src}");
        assert!(src.contains("spindle_arr_2_float p_a"), "{src}");
    }
}

// ------------------------------------------------------------- ring kernels

#[kernel(mode = "ring")]
fn accumulate<T: Float>(state: &mut T, msg: T) -> T {
    *state = *state + msg;
    *state
}

#[test]
fn generic_ring_kernel_infers_its_type_from_the_state() {
    for dev in devices("generic_ring_kernel_infers_its_type_from_the_state") {
        let mut acc = accumulate::spawn(&dev, 0.0f64).unwrap();
        assert_eq!(acc.call(1.5).unwrap(), 1.5);
        assert_eq!(acc.call(2.0).unwrap(), 3.5);
        assert_eq!(acc.shutdown().unwrap(), 3.5);
        let mut acc = accumulate::spawn(&dev, 10.0f32).unwrap();
        assert_eq!(acc.call(0.25).unwrap(), 10.25);
        assert_eq!(acc.shutdown().unwrap(), 10.25);
    }
}

#[test]
fn generic_ring_kernel_in_a_group() {
    let dev = common::cpu();
    let mut group = accumulate::spawn_group(&dev, vec![0.0f64, 100.0, -1.0]).unwrap();
    assert_eq!(group.call(1, 0.5).unwrap(), 100.5);
    assert_eq!(group.call(2, 2.0).unwrap(), 1.0);
    assert_eq!(group.shutdown().unwrap(), vec![0.0, 100.5, 1.0]);
}

// ------------------------------------------------------------- precompile

#[test]
fn precompile_builds_the_instantiations_it_is_given() {
    let required = std::env::var("SPINDLE_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
    if let Err(e) = spindle_runtime::cuda::nvrtc_version() {
        assert!(
            !required,
            "SPINDLE_REQUIRE_NVRTC=1 but NVRTC is unavailable: {e}"
        );
        eprintln!("skipping `precompile_builds_the_instantiations_it_is_given`: {e}");
        return;
    }
    let dir = std::env::temp_dir().join(format!(
        "spindle-generics-precompile-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let chosen = [axpy::kernel::<f64>(), block_sum::kernel::<128>()];
    let first = spindle::precompile_kernels(&dir, &["sm_90"], &chosen).unwrap();
    let mut compiled = first.compiled.clone();
    compiled.sort();
    assert_eq!(
        compiled,
        vec![
            ("axpy::<f64>".to_string(), "sm_90".to_string()),
            ("block_sum::<128>".to_string(), "sm_90".to_string()),
        ]
    );
    let second = spindle::precompile_kernels(&dir, &["sm_90"], &chosen).unwrap();
    assert!(second.compiled.is_empty(), "compiled again: {second:?}");
    assert_eq!(second.cached.len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
