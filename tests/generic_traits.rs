//! Every method and constant of `Num`, `Int` and `Float`, and `cast`
//! between every two `Num` types, on every type each is implemented for:
//! generic kernels on the CPU backend (bit for bit) and a GPU when present
//! (the CUDA stand-in runs these as host-compiled CUDA), against the same
//! generic `#[device]` fns run by rustc on the host; and every
//! instantiation compiled with NVRTC. (The test profile turns overflow
//! checks off, so host Rust wraps as kernels do.)

mod common;

use spindle::prelude::*;

// ---------------------------------------------------------------- operations

#[device]
fn num_ops<T: Num>(a: T, b: T) -> [T; 13] {
    let safe = if b == T::ZERO { T::ONE } else { b };
    // `MIN / -1` overflows (a panic in Rust, undefined in C): skipped.
    let minus_one = T::ZERO - T::ONE;
    let guard = a == T::MIN && safe == minus_one;
    let q = if guard { T::ZERO } else { a / safe };
    let r = if guard { T::ZERO } else { a % safe };
    let mut c = a;
    c += b;
    c -= T::ONE;
    c *= b;
    let mut d = a;
    if !guard {
        d /= safe;
        d %= safe;
    }
    [
        a + b,
        a - b,
        a * b,
        q,
        r,
        c,
        d,
        T::MIN,
        T::MAX,
        T::ZERO,
        T::ONE,
        a.cast::<T>(),
        minus_one,
    ]
}

#[device]
fn num_cmp<T: Num>(a: T, b: T) -> [bool; 6] {
    [a < b, a <= b, a > b, a >= b, a == b, a != b]
}

#[device]
fn int_ops<T: Int>(a: T, b: T) -> [T; 21] {
    let mut c = a;
    c &= b;
    c |= T::ONE;
    c ^= a;
    c <<= 3;
    c >>= 1;
    [
        a & b,
        a | b,
        a ^ b,
        !a,
        a << 3,
        a >> 2,
        a.rotate_left(3),
        a.rotate_right(5),
        a.reverse_bits(),
        a.swap_bytes(),
        a.pow(3),
        a.wrapping_add(b),
        a.wrapping_sub(b),
        a.wrapping_mul(b),
        a.wrapping_neg(),
        a.saturating_add(b),
        a.saturating_sub(b),
        a.min(b),
        a.max(b),
        a.clamp(T::ZERO, b.max(T::ZERO)),
        c,
    ]
}

#[device]
fn int_counts<T: Int>(a: T) -> [u32; 5] {
    [
        a.count_ones(),
        a.count_zeros(),
        a.leading_zeros(),
        a.trailing_zeros(),
        T::BITS,
    ]
}

#[device]
fn float_ops<T: Float>(a: T, b: T) -> [T; 40] {
    [
        a.abs(),
        a.signum(),
        a.min(b),
        a.max(b),
        a.clamp(-T::ONE, T::ONE),
        a.sqrt(),
        a.cbrt(),
        a.exp(),
        a.exp2(),
        a.ln(),
        a.log2(),
        a.log10(),
        a.log(b),
        a.sin(),
        a.cos(),
        a.tan(),
        a.asin(),
        a.acos(),
        a.atan(),
        a.atan2(b),
        a.sinh(),
        a.cosh(),
        a.tanh(),
        a.powf(b),
        a.floor(),
        a.ceil(),
        a.round(),
        a.trunc(),
        a.fract(),
        a.mul_add(b, a),
        a.recip(),
        a.hypot(b),
        a.copysign(b),
        a.to_degrees(),
        a.to_radians(),
        -a,
        T::INFINITY,
        T::NEG_INFINITY,
        T::NAN,
        T::EPSILON,
    ]
}

#[device]
fn float_preds<T: Float>(a: T) -> [bool; 5] {
    [
        a.is_nan(),
        a.is_finite(),
        a.is_infinite(),
        a.is_sign_negative(),
        a.is_sign_positive(),
    ]
}

// ------------------------------------------------------------------ kernels

#[kernel(mode = "batch")]
fn k_num<T: Num>(a: &[T], b: &[T], out: &mut [[T; 13]], cmp: &mut [[bool; 6]]) {
    let i = global_index();
    if i < a.len() {
        out[i] = num_ops(a[i], b[i]);
        cmp[i] = num_cmp(a[i], b[i]);
    }
}

#[kernel(mode = "batch")]
fn k_int<T: Int>(a: &[T], b: &[T], out: &mut [[T; 21]], counts: &mut [[u32; 5]]) {
    let i = global_index();
    if i < a.len() {
        out[i] = int_ops(a[i], b[i]);
        counts[i] = int_counts(a[i]);
    }
}

#[kernel(mode = "batch")]
fn k_float<T: Float>(a: &[T], b: &[T], out: &mut [[T; 40]], preds: &mut [[bool; 5]]) {
    let i = global_index();
    if i < a.len() {
        out[i] = float_ops(a[i], b[i]);
        preds[i] = float_preds(a[i]);
    }
}

/// `a[i]` cast to each `Num` type.
#[kernel(mode = "batch")]
#[allow(clippy::too_many_arguments)]
fn k_casts<T: Num>(
    a: &[T],
    i8s: &mut [i8],
    i16s: &mut [i16],
    i32s: &mut [i32],
    i64s: &mut [i64],
    isizes: &mut [isize],
    u8s: &mut [u8],
    u16s: &mut [u16],
    u32s: &mut [u32],
    u64s: &mut [u64],
    usizes: &mut [usize],
    f32s: &mut [f32],
    f64s: &mut [f64],
) {
    let i = global_index();
    if i < a.len() {
        let v = a[i];
        i8s[i] = v.cast::<i8>();
        i16s[i] = v.cast::<i16>();
        i32s[i] = v.cast::<i32>();
        i64s[i] = v.cast::<i64>();
        isizes[i] = v.cast::<isize>();
        u8s[i] = v.cast::<u8>();
        u16s[i] = v.cast::<u16>();
        u32s[i] = v.cast::<u32>();
        u64s[i] = v.cast::<u64>();
        usizes[i] = v.cast::<usize>();
        f32s[i] = v.cast::<f32>();
        f64s[i] = v.cast::<f64>();
    }
}

// ------------------------------------------------------------------ harness

/// Equality: bit for bit (any NaN equals any NaN), or within `ulps` for
/// floats on a GPU, whose math library is not correctly rounded (and
/// where the sign of a zero from `min`/`max` may differ).
trait Same: Copy + std::fmt::Debug {
    fn same(&self, other: &Self, ulps: u64) -> bool;
}
macro_rules! same_exact {
    ($($t:ty),*) => { $(impl Same for $t { fn same(&self, o: &Self, _: u64) -> bool { self == o } })* };
}
same_exact!(bool, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
macro_rules! same_float {
    ($($t:ty),*) => { $(impl Same for $t {
        fn same(&self, o: &Self, ulps: u64) -> bool {
            if self.to_bits() == o.to_bits() || (self.is_nan() && o.is_nan()) {
                return true;
            }
            // `min`/`max` of `0.0` and `-0.0` may give either (Rust leaves it
            // open; a GPU orders them the other way from x86).
            if ulps > 0 && *self == 0.0 && *o == 0.0 {
                return true;
            }
            ulps > 0
                && self.is_sign_negative() == o.is_sign_negative()
                && (self.to_bits() as i128 - o.to_bits() as i128).unsigned_abs() <= ulps as u128
        }
    })* };
}
same_float!(f32, f64);
impl<T: Same, const N: usize> Same for [T; N] {
    fn same(&self, o: &Self, ulps: u64) -> bool {
        self.iter().zip(o).all(|(a, b)| a.same(b, ulps))
    }
}

fn check<T: Same>(
    what: &str,
    dev: &Device,
    ulps: u64,
    got: &[T],
    want: &[T],
    inputs: &dyn Fn(usize) -> String,
) {
    assert_eq!(got.len(), want.len(), "{what}");
    for i in 0..got.len() {
        assert!(
            got[i].same(&want[i], ulps),
            "{what} on {}: element {i} for input {}: kernel gave {:?}, Rust gives {:?}",
            dev.name(),
            inputs(i),
            got[i],
            want[i]
        );
    }
}

/// The CPU backend (exact), and GPU 0 when present (within `gpu_ulps`).
fn devices(test: &str, gpu_ulps: u64) -> Vec<(Device, u64)> {
    let mut devs = vec![(common::cpu(), 0)];
    devs.extend(common::gpu(test).map(|d| (d, gpu_ulps)));
    devs
}

/// Every pair of `vals` (both orders).
fn pairs<T: Copy>(vals: &[T]) -> (Vec<T>, Vec<T>) {
    let mut a = Vec::new();
    let mut b = Vec::new();
    for x in vals {
        for y in vals {
            a.push(*x);
            b.push(*y);
        }
    }
    (a, b)
}

/// Edge and ordinary values of an integer type.
fn int_values<T: Int>() -> Vec<T> {
    let mut v: Vec<T> = [
        0i64,
        1,
        2,
        3,
        7,
        100,
        -1,
        -2,
        -128,
        255,
        12345,
        -99999,
        1 << 40,
    ]
    .iter()
    .map(|x| x.cast::<T>())
    .collect();
    v.extend([T::MIN, T::MAX, T::MIN + T::ONE, T::MAX - T::ONE]);
    v
}

/// Edge and ordinary values of a float type.
fn float_values<T: Float>() -> Vec<T> {
    [
        0.0f64, -0.0, 1.0, -1.0, 0.5, 1.5, -2.25, 3.75, 0.3, 100.0, 1e10, -1e-7, 255.5, 1e300,
    ]
    .iter()
    .map(|x| x.cast::<T>())
    .chain([
        T::NAN,
        T::INFINITY,
        T::NEG_INFINITY,
        T::MIN,
        T::MAX,
        T::EPSILON,
    ])
    .collect()
}

fn run_num<T: Num + Same>(dev: &Device, ulps: u64, vals: &[T]) {
    let (a, b) = pairs(vals);
    let n = a.len();
    let (ab, bb) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
    let mut out = dev.zeros::<[T; 13]>(n).unwrap();
    let mut cmp = dev.zeros::<[bool; 6]>(n).unwrap();
    k_num::launch(dev, Launch::for_elements(n), &ab, &bb, &mut out, &mut cmp).unwrap();
    let what = |i: usize| format!("({:?}, {:?})", a[i], b[i]);
    let want: Vec<[T; 13]> = a.iter().zip(&b).map(|(x, y)| num_ops(*x, *y)).collect();
    check("num_ops", dev, ulps, &out.to_vec().unwrap(), &want, &what);
    let want: Vec<[bool; 6]> = a.iter().zip(&b).map(|(x, y)| num_cmp(*x, *y)).collect();
    check("num_cmp", dev, 0, &cmp.to_vec().unwrap(), &want, &what);
}

fn run_int<T: Int + Same>(dev: &Device) {
    let vals = int_values::<T>();
    run_num(dev, 0, &vals);
    let (a, b) = pairs(&vals);
    let n = a.len();
    let (ab, bb) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
    let mut out = dev.zeros::<[T; 21]>(n).unwrap();
    let mut counts = dev.zeros::<[u32; 5]>(n).unwrap();
    k_int::launch(
        dev,
        Launch::for_elements(n),
        &ab,
        &bb,
        &mut out,
        &mut counts,
    )
    .unwrap();
    let what = |i: usize| format!("({:?}, {:?})", a[i], b[i]);
    let want: Vec<[T; 21]> = a.iter().zip(&b).map(|(x, y)| int_ops(*x, *y)).collect();
    check("int_ops", dev, 0, &out.to_vec().unwrap(), &want, &what);
    let want: Vec<[u32; 5]> = a.iter().map(|x| int_counts(*x)).collect();
    check(
        "int_counts",
        dev,
        0,
        &counts.to_vec().unwrap(),
        &want,
        &what,
    );
    run_casts(dev, &vals);
}

fn run_float<T: Float + Same>(dev: &Device, ulps: u64) {
    let vals = float_values::<T>();
    // Arithmetic is IEEE-exact on every backend.
    run_num(dev, 0, &vals);
    let (a, b) = pairs(&vals);
    let n = a.len();
    let (ab, bb) = (dev.upload(&a).unwrap(), dev.upload(&b).unwrap());
    let mut out = dev.zeros::<[T; 40]>(n).unwrap();
    let mut preds = dev.zeros::<[bool; 5]>(n).unwrap();
    k_float::launch(dev, Launch::for_elements(n), &ab, &bb, &mut out, &mut preds).unwrap();
    let what = |i: usize| format!("({:?}, {:?})", a[i], b[i]);
    let want: Vec<[T; 40]> = a.iter().zip(&b).map(|(x, y)| float_ops(*x, *y)).collect();
    check("float_ops", dev, ulps, &out.to_vec().unwrap(), &want, &what);
    let want: Vec<[bool; 5]> = a.iter().map(|x| float_preds(*x)).collect();
    check(
        "float_preds",
        dev,
        0,
        &preds.to_vec().unwrap(),
        &want,
        &what,
    );
    run_casts(dev, &vals);
}

fn run_casts<T: Num + Same>(dev: &Device, vals: &[T]) {
    let n = vals.len();
    let a = dev.upload(vals).unwrap();
    macro_rules! outs {
        ($($name:ident: $t:ty),*) => {
            $(let mut $name = dev.zeros::<$t>(n).unwrap();)*
            k_casts::launch(dev, Launch::for_elements(n), &a, $(&mut $name),*).unwrap();
            $(
                let want: Vec<$t> = vals.iter().map(|v| v.cast::<$t>()).collect();
                check(
                    concat!("cast to ", stringify!($t)),
                    dev,
                    0,
                    &$name.to_vec().unwrap(),
                    &want,
                    &|i| format!("{:?}", vals[i]),
                );
            )*
        };
    }
    outs!(i8s: i8, i16s: i16, i32s: i32, i64s: i64, isizes: isize, u8s: u8, u16s: u16,
        u32s: u32, u64s: u64, usizes: usize, f32s: f32, f64s: f64);
}

// -------------------------------------------------------------------- tests

#[test]
fn int_traits_on_every_integer_type() {
    for (dev, _) in devices("int_traits_on_every_integer_type", 0) {
        run_int::<i8>(&dev);
        run_int::<i16>(&dev);
        run_int::<i32>(&dev);
        run_int::<i64>(&dev);
        run_int::<isize>(&dev);
        run_int::<u8>(&dev);
        run_int::<u16>(&dev);
        run_int::<u32>(&dev);
        run_int::<u64>(&dev);
        run_int::<usize>(&dev);
    }
}

#[test]
fn float_traits_on_f32_and_f64() {
    for (dev, ulps) in devices("float_traits_on_f32_and_f64", 16) {
        run_float::<f32>(&dev, ulps);
        run_float::<f64>(&dev, ulps);
    }
}

#[test]
fn every_instantiation_compiles_with_nvrtc() {
    macro_rules! made {
        ($($t:ty),*) => {
            $(
                k_num::kernel::<$t>();
                k_casts::kernel::<$t>();
            )*
        };
    }
    made!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);
    macro_rules! made_int {
        ($($t:ty),*) => { $(k_int::kernel::<$t>();)* };
    }
    made_int!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
    k_float::kernel::<f32>();
    k_float::kernel::<f64>();
    assert_eq!(spindle::registered_kernels().count(), 36);
    common::compile_all_kernels_with_nvrtc("every_instantiation_compiles_with_nvrtc");
}
