//! Every std-method intrinsic against the std method itself.

use super::*;

fn same_f32(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

const F32S: [f32; 14] = [
    0.0,
    -0.0,
    0.5,
    -0.5,
    1.0,
    -2.5,
    3.7,
    100.25,
    -1e-3,
    1e20,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    2.5,
];

macro_rules! float_unary {
    ($T:ty, $S:expr, $samples:expr, $same:ident, $($i:ident => $m:ident),* $(,)?) => {
        $(
            let k = map_kernel($S, $S, |x| intr(Intrinsic::$i, vec![x], ty($S)));
            let got: Vec<$T> = run_map(&k, &$samples);
            for (x, g) in $samples.iter().zip(&got) {
                assert!($same(*g, x.$m()), "{}::{}({x:?}) = {g:?}, want {:?}", stringify!($T), stringify!($m), x.$m());
            }
        )*
    };
}

macro_rules! float_binary {
    ($T:ty, $S:expr, $samples:expr, $same:ident, $($i:ident => $m:ident),* $(,)?) => {
        $(
            let (mut xs, mut ys) = (vec![], vec![]);
            for a in $samples { for b in $samples { xs.push(a); ys.push(b); } }
            let k = zip_kernel($S, $S, $S, |x, y| intr(Intrinsic::$i, vec![x, y], ty($S)));
            let got: Vec<$T> = run_zip(&k, &xs, &ys);
            for ((x, y), g) in xs.iter().zip(&ys).zip(&got) {
                assert!($same(*g, x.$m(*y)), "{}::{}({x:?}, {y:?}) = {g:?}, want {:?}", stringify!($T), stringify!($m), x.$m(*y));
            }
        )*
    };
}

macro_rules! float_pred {
    ($T:ty, $S:expr, $samples:expr, $($i:ident => $m:ident),* $(,)?) => {
        $(
            let k = map_kernel($S, Scalar::Bool, |x| intr(Intrinsic::$i, vec![x], ty(Scalar::Bool)));
            let got: Vec<bool> = run_map(&k, &$samples);
            let want: Vec<bool> = $samples.iter().map(|x| x.$m()).collect();
            assert_eq!(got, want, "{}::{}", stringify!($T), stringify!($m));
        )*
    };
}

macro_rules! float_suite {
    ($T:ty, $S:expr, $same:ident) => {{
        let samples: Vec<$T> = F32S.iter().map(|&x| x as $T).collect();
        float_unary!($T, $S, samples, $same,
            Abs => abs, Signum => signum, Sqrt => sqrt, Cbrt => cbrt, Exp => exp, Exp2 => exp2,
            Ln => ln, Log2 => log2, Log10 => log10, Sin => sin, Cos => cos, Tan => tan,
            Asin => asin, Acos => acos, Atan => atan, Sinh => sinh, Cosh => cosh, Tanh => tanh,
            Floor => floor, Ceil => ceil, Round => round, Trunc => trunc, Fract => fract,
            Recip => recip, ToDegrees => to_degrees, ToRadians => to_radians,
        );
        float_binary!($T, $S, samples.clone(), $same,
            Min => min, Max => max, Log => log, Atan2 => atan2, Powf => powf, Hypot => hypot,
            Copysign => copysign,
        );
        float_pred!($T, $S, samples,
            IsNan => is_nan, IsFinite => is_finite, IsInfinite => is_infinite,
            IsSignNegative => is_sign_negative, IsSignPositive => is_sign_positive,
        );
        // powi(x, i32)
        let exps: Vec<i32> = vec![0, 1, 2, 3, -1, -2, 10, 31];
        let (mut xs, mut ys) = (vec![], vec![]);
        for &a in &samples { for &b in &exps { xs.push(a); ys.push(b); } }
        let k = zip_kernel($S, Scalar::I32, $S, |x, y| intr(Intrinsic::Powi, vec![x, y], ty($S)));
        let got: Vec<$T> = run_zip(&k, &xs, &ys);
        for ((x, y), g) in xs.iter().zip(&ys).zip(&got) {
            assert!($same(*g, x.powi(*y)), "powi({x:?}, {y}) = {g:?}");
        }
        // mul_add and clamp (three arguments): x.mul_add(x, 0.25), x.clamp(-1, 2)
        let k = map_kernel($S, $S, |x| intr(Intrinsic::MulAdd, vec![x.clone(), x, float($S, 0.1)], ty($S)));
        let got: Vec<$T> = run_map(&k, &samples);
        for (x, g) in samples.iter().zip(&got) {
            assert!($same(*g, x.mul_add(*x, 0.1 as $T)), "mul_add({x:?}) = {g:?}");
        }
        let k = map_kernel($S, $S, |x| intr(Intrinsic::Clamp, vec![x, float($S, -1.0), float($S, 2.0)], ty($S)));
        let got: Vec<$T> = run_map(&k, &samples);
        for (x, g) in samples.iter().zip(&got) {
            assert!($same(*g, x.clamp(-1.0, 2.0)), "clamp({x:?}) = {g:?}");
        }
    }};
}

#[test]
fn float_intrinsics_match_std() {
    float_suite!(f32, Scalar::F32, same_f32);
    float_suite!(f64, Scalar::F64, same_f64);
}

#[test]
fn mul_add_is_fused() {
    // (1 + e) * (1 + e) - (1 + 2e) is e² fused, 0 unfused.
    let e = f32::EPSILON;
    let k = map_kernel(Scalar::F32, Scalar::F32, |x| {
        intr(
            Intrinsic::MulAdd,
            vec![x.clone(), x, float(Scalar::F32, -(1.0 + 2.0 * e as f64))],
            ty(Scalar::F32),
        )
    });
    let got: Vec<f32> = run_map(&k, &[1.0 + e]);
    assert_eq!(got, vec![e * e]);
}

macro_rules! int_suite {
    ($T:ty, $S:expr, $U:ty) => {{
        let samples: Vec<$T> = vec![
            0,
            1,
            2,
            3,
            6,
            8,
            64,
            100,
            <$T>::MAX,
            <$T>::MIN,
            <$T>::MAX / 3,
            (0 as $T).wrapping_sub(1),
            (0 as $T).wrapping_sub(8),
        ];
        // one argument, same type
        for (i, f) in [
            (
                Intrinsic::WrappingNeg,
                (|x: $T| x.wrapping_neg()) as fn($T) -> $T,
            ),
            (Intrinsic::ReverseBits, |x| x.reverse_bits()),
            (Intrinsic::SwapBytes, |x| x.swap_bytes()),
            (Intrinsic::Abs, abs_of),
            (Intrinsic::Signum, signum_of),
        ] {
            let k = map_kernel($S, $S, |x| intr(i, vec![x], ty($S)));
            let got: Vec<$T> = run_map(&k, &samples);
            let want: Vec<$T> = samples.iter().map(|x| f(*x)).collect();
            assert_eq!(got, want, "{} {i:?}", stringify!($T));
        }
        // -> u32
        for (i, f) in [
            (
                Intrinsic::CountOnes,
                (|x: $T| x.count_ones()) as fn($T) -> u32,
            ),
            (Intrinsic::CountZeros, |x| x.count_zeros()),
            (Intrinsic::LeadingZeros, |x| x.leading_zeros()),
            (Intrinsic::TrailingZeros, |x| x.trailing_zeros()),
        ] {
            let k = map_kernel($S, Scalar::U32, |x| intr(i, vec![x], ty(Scalar::U32)));
            let got: Vec<u32> = run_map(&k, &samples);
            let want: Vec<u32> = samples.iter().map(|x| f(*x)).collect();
            assert_eq!(got, want, "{} {i:?}", stringify!($T));
        }
        let k = map_kernel($S, Scalar::Bool, |x| {
            intr(Intrinsic::IsPowerOfTwo, vec![x], ty(Scalar::Bool))
        });
        let got: Vec<bool> = run_map(&k, &samples);
        let want: Vec<bool> = samples
            .iter()
            .map(|x| *x > 0 && (*x as $U).is_power_of_two())
            .collect();
        assert_eq!(got, want, "{} is_power_of_two", stringify!($T));
        // two arguments
        let (mut xs, mut ys) = (vec![], vec![]);
        for &a in &samples {
            for &b in &samples {
                xs.push(a);
                ys.push(b);
            }
        }
        for (i, f) in [
            (
                Intrinsic::Min,
                (|x: $T, y: $T| x.min(y)) as fn($T, $T) -> $T,
            ),
            (Intrinsic::Max, |x, y| x.max(y)),
            (Intrinsic::WrappingAdd, |x, y| x.wrapping_add(y)),
            (Intrinsic::WrappingSub, |x, y| x.wrapping_sub(y)),
            (Intrinsic::WrappingMul, |x, y| x.wrapping_mul(y)),
            (Intrinsic::SaturatingAdd, |x, y| x.saturating_add(y)),
            (Intrinsic::SaturatingSub, |x, y| x.saturating_sub(y)),
        ] {
            let k = zip_kernel($S, $S, $S, |x, y| intr(i, vec![x, y], ty($S)));
            let got: Vec<$T> = run_zip(&k, &xs, &ys);
            let want: Vec<$T> = xs.iter().zip(&ys).map(|(x, y)| f(*x, *y)).collect();
            assert_eq!(got, want, "{} {i:?}", stringify!($T));
        }
        let us = unsigned_scalar($S);
        let k = zip_kernel($S, $S, us, |x, y| {
            intr(Intrinsic::AbsDiff, vec![x, y], ty(us))
        });
        let got: Vec<$U> = run_zip(&k, &xs, &ys);
        let want: Vec<$U> = xs.iter().zip(&ys).map(|(x, y)| x.abs_diff(*y)).collect();
        assert_eq!(got, want, "{} abs_diff", stringify!($T));
        // (self, u32)
        let amounts: Vec<u32> = vec![0, 1, 3, 7, 8, 31, 33, 64, 65];
        let (mut xs, mut ys) = (vec![], vec![]);
        for &a in &samples {
            for &b in &amounts {
                xs.push(a);
                ys.push(b);
            }
        }
        for (i, f) in [
            (
                Intrinsic::Pow,
                (|x: $T, y: u32| x.wrapping_pow(y)) as fn($T, u32) -> $T,
            ),
            (Intrinsic::RotateLeft, |x, y| x.rotate_left(y)),
            (Intrinsic::RotateRight, |x, y| x.rotate_right(y)),
        ] {
            let k = zip_kernel($S, Scalar::U32, $S, |x, y| intr(i, vec![x, y], ty($S)));
            let got: Vec<$T> = run_zip(&k, &xs, &ys);
            let want: Vec<$T> = xs.iter().zip(&ys).map(|(x, y)| f(*x, *y)).collect();
            assert_eq!(got, want, "{} {i:?}", stringify!($T));
        }
        // clamp(x, 2, 100)
        let k = map_kernel($S, $S, |x| {
            intr(Intrinsic::Clamp, vec![x, int($S, 2), int($S, 100)], ty($S))
        });
        let got: Vec<$T> = run_map(&k, &samples);
        let want: Vec<$T> = samples.iter().map(|x| (*x).clamp(2, 100)).collect();
        assert_eq!(got, want, "{} clamp", stringify!($T));
    }};
}

fn unsigned_scalar(s: Scalar) -> Scalar {
    match s {
        Scalar::I8 => Scalar::U8,
        Scalar::I16 => Scalar::U16,
        Scalar::I32 => Scalar::U32,
        Scalar::I64 => Scalar::U64,
        Scalar::Isize => Scalar::Usize,
        other => other,
    }
}

/// `abs`/`signum` as Rust defines them (unsigned: identity and 0/1).
trait AbsSignum: Sized {
    fn abs_(self) -> Self;
    fn signum_(self) -> Self;
}
macro_rules! abs_signed {
    ($($T:ty),*) => {$(impl AbsSignum for $T { fn abs_(self) -> Self { self.wrapping_abs() } fn signum_(self) -> Self { self.signum() } })*};
}
macro_rules! abs_unsigned {
    ($($T:ty),*) => {$(impl AbsSignum for $T { fn abs_(self) -> Self { self } fn signum_(self) -> Self { (self != 0) as $T } })*};
}
abs_signed!(i8, i16, i32, i64, isize);
abs_unsigned!(u8, u16, u32, u64, usize);
fn abs_of<T: AbsSignum>(x: T) -> T {
    x.abs_()
}
fn signum_of<T: AbsSignum>(x: T) -> T {
    x.signum_()
}

#[test]
fn integer_intrinsics_match_std() {
    int_suite!(i8, Scalar::I8, u8);
    int_suite!(i16, Scalar::I16, u16);
    int_suite!(i32, Scalar::I32, u32);
    int_suite!(i64, Scalar::I64, u64);
    int_suite!(isize, Scalar::Isize, usize);
    int_suite!(u8, Scalar::U8, u8);
    int_suite!(u16, Scalar::U16, u16);
    int_suite!(u32, Scalar::U32, u32);
    int_suite!(u64, Scalar::U64, u64);
    int_suite!(usize, Scalar::Usize, usize);
    // The edge that makes `abs` interesting.
    let k = map_kernel(Scalar::I32, Scalar::I32, |x| {
        intr(Intrinsic::Abs, vec![x], ty(Scalar::I32))
    });
    assert_eq!(run_map::<i32, i32>(&k, &[i32::MIN, -5]), vec![i32::MIN, 5]);
}

/// A kernel writing, at each thread's linear number in the grid,
/// `global_index() * 1000 + thread_idx().y * 10 + block_idx().z`; and the
/// expected output for grid (3, 2, 2) of blocks (4, 3, 2).
pub(super) fn geometry_kernel() -> (Arc<Kernel>, Vec<u32>) {
    let mut k = KernelBuilder::new("geom");
    let u = ty(Scalar::U32);
    let out = k.slice("out", u.clone(), true);
    let s = k.site("out", 1);
    let g = k.local("g", ty(Scalar::Usize));
    // linear = ((bz * gy + by) * gx + bx) * (bdx*bdy*bdz) + (tz * bdy + ty) * bdx + tx
    let d = dim;
    let add = |a, b| bin(BinOp::Add, a, b);
    let mul = |a, b| bin(BinOp::Mul, a, b);
    let block_lin = add(
        mul(
            add(
                mul(d(Intrinsic::BlockIdx, 2), d(Intrinsic::GridDim, 1)),
                d(Intrinsic::BlockIdx, 1),
            ),
            d(Intrinsic::GridDim, 0),
        ),
        d(Intrinsic::BlockIdx, 0),
    );
    let threads = mul(
        mul(d(Intrinsic::BlockDim, 0), d(Intrinsic::BlockDim, 1)),
        d(Intrinsic::BlockDim, 2),
    );
    let thread_lin = add(
        mul(
            add(
                mul(d(Intrinsic::ThreadIdx, 2), d(Intrinsic::BlockDim, 1)),
                d(Intrinsic::ThreadIdx, 1),
            ),
            d(Intrinsic::BlockDim, 0),
        ),
        d(Intrinsic::ThreadIdx, 0),
    );
    let lin = cast(add(mul(block_lin, threads), thread_lin), Scalar::Usize);
    let packed = add(
        mul(
            cast(local(g, ty(Scalar::Usize)), Scalar::U32),
            int(Scalar::U32, 1000),
        ),
        add(
            mul(d(Intrinsic::ThreadIdx, 1), int(Scalar::U32, 10)),
            d(Intrinsic::BlockIdx, 2),
        ),
    );
    let k = k.build(vec![
        let_(g, global_index()),
        store_elem(out, lin, s, u.clone(), packed),
    ]);
    let mut want = vec![0u32; 3 * 2 * 2 * 4 * 3 * 2];
    for bz in 0..2 {
        for by in 0..2 {
            for bx in 0..3 {
                for tz in 0..2 {
                    for ty in 0..3 {
                        for tx in 0..4 {
                            let lin = ((bz * 2 + by) * 3 + bx) * 24 + (tz * 3 + ty) * 4 + tx;
                            let gi = bx * 4 + tx; // global_index: x only
                            want[lin as usize] = gi * 1000 + ty * 10 + bz;
                        }
                    }
                }
            }
        }
    }
    (k, want)
}

/// Runs [`geometry_kernel`] on `dev`.
pub(super) fn run_geometry(dev: &CpuDevice) -> (Vec<u32>, Vec<u32>) {
    let (k, want) = geometry_kernel();
    let mut m = mem(&vec![0u32; want.len()]);
    let l = Launch::new((3, 2, 2), (4, 3, 2));
    dev.launch(&k, &l, &mut [arg_out::<u32>(&mut m, want.len())])
        .unwrap();
    (read(&m), want)
}

#[test]
fn geometry_intrinsics() {
    let (got, want) = run_geometry(&CpuDevice::new());
    assert_eq!(got, want);
}
