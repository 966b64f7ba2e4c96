//! A small generic library: a block reduction and a block scan, each
//! written once — generic over the element type `T` and the block size
//! `B` — and used here at three types and two block sizes. Every use is
//! its own kernel, compiled at its first launch; `B` folds into the
//! shared-array sizes and loop bounds of the code each one runs.
//!
//! ```text
//! cargo run --release --example generic_library
//! ```

use spindle::prelude::*;

/// `a + b`: the operation both kernels fold with.
#[device]
pub fn combine<T: Num>(a: T, b: T) -> T {
    a + b
}

/// Each block of `B` threads (`B` a power of two) combines its `B`
/// elements of `x` (`T::ZERO` past the end) into `sums[block]`.
#[kernel(mode = "batch")]
pub fn reduce<T: Num, const B: usize>(x: &[T], sums: &mut [T]) {
    let tile = shared_array::<T, B>();
    let t = thread_idx().x as usize;
    let i = block_idx().x as usize * B + t;
    tile[t] = if i < x.len() { x[i] } else { T::ZERO };
    sync_threads();
    let mut stride = B / 2;
    while stride > 0 {
        if t < stride {
            tile[t] = combine(tile[t], tile[t + stride]);
        }
        sync_threads();
        stride /= 2;
    }
    if t == 0 {
        sums[block_idx().x as usize] = tile[0];
    }
}

/// Inclusive scan of each block of `B` elements of `x` into `out`
/// (Hillis–Steele, between two shared arrays).
#[kernel(mode = "batch")]
pub fn scan<T: Num, const B: usize>(x: &[T], out: &mut [T]) {
    let a = shared_array::<T, B>();
    let b = shared_array::<T, B>();
    let t = thread_idx().x as usize;
    let i = block_idx().x as usize * B + t;
    a[t] = if i < x.len() { x[i] } else { T::ZERO };
    sync_threads();
    let mut offset = 1;
    let mut in_a = true;
    while offset < B {
        if in_a {
            b[t] = if t >= offset {
                combine(a[t], a[t - offset])
            } else {
                a[t]
            };
        } else {
            a[t] = if t >= offset {
                combine(b[t], b[t - offset])
            } else {
                b[t]
            };
        }
        sync_threads();
        in_a = !in_a;
        offset *= 2;
    }
    if i < out.len() {
        out[i] = if in_a { a[t] } else { b[t] };
    }
}

/// The block sums and the per-block inclusive scan of `x`, on `dev`,
/// with blocks of `B` threads.
pub fn sums_and_scan<T: Num, const B: usize>(
    dev: &Device,
    x: &[T],
) -> spindle::Result<(Vec<T>, Vec<T>)> {
    let blocks = x.len().div_ceil(B);
    let launch = Launch::new(blocks as u32, B as u32);
    let xb = dev.upload(x)?;
    let mut sums = dev.zeros::<T>(blocks)?;
    reduce::launch::<T, B>(dev, launch, &xb, &mut sums)?;
    let mut out = dev.zeros::<T>(x.len())?;
    scan::launch::<T, B>(dev, launch, &xb, &mut out)?;
    Ok((sums.to_vec()?, out.to_vec()?))
}

/// What [`sums_and_scan`] computes, in plain Rust.
pub fn reference<T: Num>(x: &[T], block: usize) -> (Vec<T>, Vec<T>) {
    let mut sums = Vec::new();
    let mut scanned = Vec::new();
    for chunk in x.chunks(block) {
        let mut acc = T::ZERO;
        for v in chunk {
            acc = combine(acc, *v);
            scanned.push(acc);
        }
        sums.push(acc);
    }
    (sums, scanned)
}

/// Runs one type at both block sizes and checks it against plain Rust.
fn check<T: Num>(dev: &Device, what: &str, x: &[T]) -> spindle::Result<()> {
    for (block, (sums, scanned)) in [
        (128, sums_and_scan::<T, 128>(dev, x)?),
        (256, sums_and_scan::<T, 256>(dev, x)?),
    ] {
        let (want_sums, want_scan) = reference(x, block);
        assert_eq!(sums, want_sums, "{what} block sums, B = {block}");
        assert_eq!(scanned, want_scan, "{what} scan, B = {block}");
        println!(
            "{what:>3}, B = {block}: {} block sums, last {:?}; scan checked",
            sums.len(),
            sums.last().copied().unwrap_or(T::ZERO)
        );
    }
    Ok(())
}

/// Every instantiation this example uses, checked on `dev`.
pub fn run(dev: &Device) -> spindle::Result<()> {
    let n = 1000;
    // Small integers and integer-valued floats: every order of adding
    // gives the same result, so the GPU's tree order matches Rust's.
    let ints: Vec<i64> = (0..n).map(|i| (i * 37 % 101) - 50).collect();
    let words: Vec<u32> = (0..n as u32).map(|i| i * 7 % 13).collect();
    let floats: Vec<f32> = (0..n).map(|i| (i % 17) as f32 - 8.0).collect();
    check(dev, "i64", &ints)?;
    check(dev, "u32", &words)?;
    check(dev, "f32", &floats)?;
    Ok(())
}

/// Every instantiation [`run`] uses, made now (to compile them ahead of
/// time: `spindle::precompile_kernels(dir, archs, &instantiations())`).
pub fn instantiations() -> Vec<spindle::RegisteredKernel> {
    vec![
        reduce::kernel::<i64, 128>(),
        reduce::kernel::<i64, 256>(),
        reduce::kernel::<u32, 128>(),
        reduce::kernel::<u32, 256>(),
        reduce::kernel::<f32, 128>(),
        reduce::kernel::<f32, 256>(),
        scan::kernel::<i64, 128>(),
        scan::kernel::<i64, 256>(),
        scan::kernel::<u32, 128>(),
        scan::kernel::<u32, 256>(),
        scan::kernel::<f32, 128>(),
        scan::kernel::<f32, 256>(),
    ]
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    println!("device: {}", dev.name());
    run(&dev)
}
