//! Arithmetic, comparisons, shifts and casts against the same Rust.

use super::*;

/// Every pair of `samples`, as two columns.
fn pairs<T: Copy>(samples: &[T]) -> (Vec<T>, Vec<T>) {
    let mut xs = vec![];
    let mut ys = vec![];
    for &a in samples {
        for &b in samples {
            xs.push(a);
            ys.push(b);
        }
    }
    (xs, ys)
}

/// Checks `x op y` on every pair of `samples` against `f`.
macro_rules! check_bin {
    ($T:ty, $S:expr, $samples:expr, $($op:ident => $f:expr),* $(,)?) => {{
        let (xs, ys) = pairs::<$T>(&$samples);
        $(
            let k = zip_kernel($S, $S, $S, |x, y| bin(BinOp::$op, x, y));
            let got: Vec<$T> = run_zip(&k, &xs, &ys);
            for ((x, y), g) in xs.iter().zip(&ys).zip(&got) {
                let want: $T = $f(*x, *y);
                assert!(
                    want == *g || (want != want && g != g),
                    "{}: {:?} {:?} {:?} = {:?}, want {:?}", stringify!($T), x, stringify!($op), y, g, want
                );
            }
        )*
    }};
}

macro_rules! check_int_type {
    ($T:ty, $S:expr) => {{
        let samples: Vec<$T> = vec![0, 1, 2, 3, 7, <$T>::MAX, <$T>::MAX - 1, <$T>::MIN, <$T>::MIN.wrapping_add(1), 100 as $T, (0 as $T).wrapping_sub(1), (0 as $T).wrapping_sub(5)];
        check_bin!($T, $S, samples,
            Add => |a: $T, b: $T| a.wrapping_add(b),
            Sub => |a: $T, b: $T| a.wrapping_sub(b),
            Mul => |a: $T, b: $T| a.wrapping_mul(b),
            BitAnd => |a: $T, b: $T| a & b,
            BitOr => |a: $T, b: $T| a | b,
            BitXor => |a: $T, b: $T| a ^ b,
        );
        // Comparisons give bool.
        let (xs, ys) = pairs::<$T>(&samples);
        for (op, f) in [
            (BinOp::Eq, (|a, b| a == b) as fn($T, $T) -> bool),
            (BinOp::Ne, |a, b| a != b),
            (BinOp::Lt, |a, b| a < b),
            (BinOp::Le, |a, b| a <= b),
            (BinOp::Gt, |a, b| a > b),
            (BinOp::Ge, |a, b| a >= b),
        ] {
            let k = zip_kernel($S, $S, Scalar::Bool, |x, y| bin(op, x, y));
            let got: Vec<bool> = run_zip(&k, &xs, &ys);
            let want: Vec<bool> = xs.iter().zip(&ys).map(|(a, b)| f(*a, *b)).collect();
            assert_eq!(got, want, "{} {:?}", stringify!($T), op);
        }
        // Division where it does not fault.
        let (xs, ys): (Vec<$T>, Vec<$T>) = xs
            .iter()
            .zip(&ys)
            .filter(|(a, b)| **b != 0 && a.checked_div(**b).is_some())
            .map(|(a, b)| (*a, *b))
            .unzip();
        for (op, f) in [
            (BinOp::Div, (|a: $T, b: $T| a / b) as fn($T, $T) -> $T),
            (BinOp::Rem, |a, b| a % b),
        ] {
            let k = zip_kernel($S, $S, $S, |x, y| bin(op, x, y));
            let got: Vec<$T> = run_zip(&k, &xs, &ys);
            let want: Vec<$T> = xs.iter().zip(&ys).map(|(a, b)| f(*a, *b)).collect();
            assert_eq!(got, want, "{} {:?}", stringify!($T), op);
        }
        // Negation and not.
        let k = map_kernel($S, $S, |x| un(UnOp::Neg, x));
        assert_eq!(run_map::<$T, $T>(&k, &samples), samples.iter().map(|x| x.wrapping_neg()).collect::<Vec<_>>());
        let k = map_kernel($S, $S, |x| un(UnOp::Not, x));
        assert_eq!(run_map::<$T, $T>(&k, &samples), samples.iter().map(|x| !x).collect::<Vec<_>>());
    }};
}

#[test]
fn integer_arithmetic_wraps_like_rust() {
    check_int_type!(i8, Scalar::I8);
    check_int_type!(i16, Scalar::I16);
    check_int_type!(i32, Scalar::I32);
    check_int_type!(i64, Scalar::I64);
    check_int_type!(isize, Scalar::Isize);
    check_int_type!(u8, Scalar::U8);
    check_int_type!(u16, Scalar::U16);
    check_int_type!(u32, Scalar::U32);
    check_int_type!(u64, Scalar::U64);
    check_int_type!(usize, Scalar::Usize);
}

macro_rules! check_float_type {
    ($T:ty, $S:expr) => {{
        let samples: Vec<$T> = vec![0.0, -0.0, 1.0, -1.5, 0.1, 3.75, 1e30, -1e-30, <$T>::MAX, <$T>::MIN_POSITIVE, <$T>::INFINITY, <$T>::NEG_INFINITY, <$T>::NAN, 7.0];
        check_bin!($T, $S, samples,
            Add => |a: $T, b: $T| a + b,
            Sub => |a: $T, b: $T| a - b,
            Mul => |a: $T, b: $T| a * b,
            Div => |a: $T, b: $T| a / b,
            Rem => |a: $T, b: $T| a % b,
        );
        let (xs, ys) = pairs::<$T>(&samples);
        for (op, f) in [
            (BinOp::Eq, (|a, b| a == b) as fn($T, $T) -> bool),
            (BinOp::Ne, |a, b| a != b),
            (BinOp::Lt, |a, b| a < b),
            (BinOp::Le, |a, b| a <= b),
            (BinOp::Gt, |a, b| a > b),
            (BinOp::Ge, |a, b| a >= b),
        ] {
            let k = zip_kernel($S, $S, Scalar::Bool, |x, y| bin(op, x, y));
            let got: Vec<bool> = run_zip(&k, &xs, &ys);
            let want: Vec<bool> = xs.iter().zip(&ys).map(|(a, b)| f(*a, *b)).collect();
            assert_eq!(got, want, "{} {:?}", stringify!($T), op);
        }
        let k = map_kernel($S, $S, |x| un(UnOp::Neg, x));
        let got: Vec<$T> = run_map(&k, &samples);
        let want: Vec<$T> = samples.iter().map(|x| -x).collect();
        assert_eq!(got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    }};
}

#[test]
fn float_arithmetic_is_ieee_like_rust() {
    check_float_type!(f32, Scalar::F32);
    check_float_type!(f64, Scalar::F64);
}

#[test]
fn f32_arithmetic_rounds_in_f32_without_contraction() {
    // x * y - z: rounding the product to f32 gives exactly 0; computing in
    // f64 (or fusing into an FMA) would give 2^-46.
    let x = 1.0f32 + f32::EPSILON;
    let z = 1.0f32 + 2.0 * f32::EPSILON;
    let mut k = KernelBuilder::new("f32");
    let f = ty(Scalar::F32);
    let xs = k.slice("x", f.clone(), false);
    let out = k.slice("out", f.clone(), true);
    let s = k.site("x", 1);
    let a = || elem(xs, usize_(0), s, f.clone());
    let b = || elem(xs, usize_(1), s, f.clone());
    let k = k.build(vec![store_elem(
        out,
        usize_(0),
        s,
        f.clone(),
        bin(BinOp::Sub, bin(BinOp::Mul, a(), a()), b()),
    )]);
    let xm = mem(&[x, z]);
    let mut om = mem(&[9.0f32]);
    launch(
        &k,
        Launch::new(1, 1),
        &mut [arg_in::<f32>(&xm, 2), arg_out::<f32>(&mut om, 1)],
    )
    .unwrap();
    let got: Vec<f32> = read(&om);
    assert_eq!(got, vec![x * x - z]);
    assert_eq!(got[0], 0.0);
}

#[test]
fn bool_ops_and_comparisons() {
    let (xs, ys) = pairs(&[false, true]);
    for (op, f) in [
        (BinOp::BitAnd, (|a, b| a & b) as fn(bool, bool) -> bool),
        (BinOp::BitOr, |a, b| a | b),
        (BinOp::BitXor, |a, b| a ^ b),
        (BinOp::And, |a, b| a && b),
        (BinOp::Or, |a, b| a || b),
        (BinOp::Eq, |a, b| a == b),
        (BinOp::Lt, |a, b| !a & b),
        (BinOp::Ge, |a, b| a >= b),
    ] {
        let k = zip_kernel(Scalar::Bool, Scalar::Bool, Scalar::Bool, |x, y| {
            bin(op, x, y)
        });
        let got: Vec<bool> = run_zip(&k, &xs, &ys);
        let want: Vec<bool> = xs.iter().zip(&ys).map(|(a, b)| f(*a, *b)).collect();
        assert_eq!(got, want, "{op:?}");
    }
    let k = map_kernel(Scalar::Bool, Scalar::Bool, |x| un(UnOp::Not, x));
    assert_eq!(run_map::<bool, bool>(&k, &[false, true]), vec![true, false]);
}

#[test]
fn shifts_mask_the_amount_like_rust() {
    // i32 << u8 / i64 / i32 (negative amounts too): the amount is masked.
    let values: Vec<i32> = vec![1, -1, 0x1234_5678, i32::MIN, 7];
    let amounts: Vec<i64> = vec![0, 1, 31, 32, 33, 63, 64, -1, -31, 100];
    let (mut xs, mut ys) = (vec![], vec![]);
    for &v in &values {
        for &a in &amounts {
            xs.push(v);
            ys.push(a);
        }
    }
    let k = zip_kernel(Scalar::I32, Scalar::I64, Scalar::I32, |x, y| {
        bin(BinOp::Shl, x, y)
    });
    let got: Vec<i32> = run_zip(&k, &xs, &ys);
    let want: Vec<i32> = xs
        .iter()
        .zip(&ys)
        .map(|(v, a)| v.wrapping_shl(*a as u32))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got[2], 1 << 31); // 1 << 31
    assert_eq!(got[4], 2); // 1 << 33 == 1 << 1
    let k = zip_kernel(Scalar::I32, Scalar::I64, Scalar::I32, |x, y| {
        bin(BinOp::Shr, x, y)
    });
    let got: Vec<i32> = run_zip(&k, &xs, &ys);
    let want: Vec<i32> = xs
        .iter()
        .zip(&ys)
        .map(|(v, a)| v.wrapping_shr(*a as u32))
        .collect();
    assert_eq!(got, want, "arithmetic shift right");
    // u8 >> u32: logical, masked to 3 bits.
    let xs: Vec<u8> = vec![0x80, 0xff, 0x80, 0x81];
    let ys: Vec<u32> = vec![7, 8, 9, 1];
    let k = zip_kernel(Scalar::U8, Scalar::U32, Scalar::U8, |x, y| {
        bin(BinOp::Shr, x, y)
    });
    assert_eq!(
        run_zip::<u8, u32, u8>(&k, &xs, &ys),
        vec![1, 0xff, 0x40, 0x40]
    );
    // u64 << u8
    let xs: Vec<u64> = vec![1, 3, u64::MAX];
    let ys: Vec<u8> = vec![63, 64, 200];
    let k = zip_kernel(Scalar::U64, Scalar::U8, Scalar::U64, |x, y| {
        bin(BinOp::Shl, x, y)
    });
    assert_eq!(
        run_zip::<u64, u8, u64>(&k, &xs, &ys),
        vec![1 << 63, 3, u64::MAX << (200 % 64)]
    );
}

/// Checks `x as $to` for every sample of `$from`.
macro_rules! check_cast {
    ($from:ty, $FS:expr, $samples:expr => $($to:ty, $TS:expr);* $(;)?) => {{
        let samples: Vec<$from> = $samples;
        $(
            let k = map_kernel($FS, $TS, |x| cast(x, $TS));
            let got: Vec<$to> = run_map(&k, &samples);
            for (x, g) in samples.iter().zip(&got) {
                let want = *x as $to;
                assert!(want == *g || (want != want && g != g), "{:?} as {} = {:?}, want {:?}", x, stringify!($to), g, want);
            }
        )*
    }};
}

#[test]
fn casts_follow_rust_as() {
    let floats = vec![
        0.0,
        -0.0,
        1.5,
        -1.5,
        2.5,
        -2.7,
        1e10,
        -1e10,
        3e38,
        f32::MAX,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        255.9,
        256.0,
        -129.0,
        4294967295.0,
    ];
    check_cast!(f32, Scalar::F32, floats.clone() =>
        i8, Scalar::I8; i16, Scalar::I16; i32, Scalar::I32; i64, Scalar::I64; isize, Scalar::Isize;
        u8, Scalar::U8; u16, Scalar::U16; u32, Scalar::U32; u64, Scalar::U64; usize, Scalar::Usize;
        f64, Scalar::F64);
    let doubles: Vec<f64> = vec![
        0.0,
        -1.5,
        1e300,
        -1e300,
        f64::NAN,
        9.007199254740993e15,
        16777217.0,
        1e-50,
        2147483648.0,
        -2147483649.0,
    ];
    check_cast!(f64, Scalar::F64, doubles =>
        i8, Scalar::I8; i32, Scalar::I32; i64, Scalar::I64; u8, Scalar::U8; u32, Scalar::U32; u64, Scalar::U64; f32, Scalar::F32);
    let ints: Vec<i64> = vec![
        0,
        -1,
        1,
        127,
        128,
        255,
        256,
        -129,
        i64::MAX,
        i64::MIN,
        16777217,
        9007199254740993,
        0x1_0000_0001,
    ];
    check_cast!(i64, Scalar::I64, ints =>
        i8, Scalar::I8; i16, Scalar::I16; i32, Scalar::I32; u8, Scalar::U8; u16, Scalar::U16; u32, Scalar::U32;
        u64, Scalar::U64; usize, Scalar::Usize; f32, Scalar::F32; f64, Scalar::F64);
    let small: Vec<i8> = vec![0, -1, -128, 127, 5];
    check_cast!(i8, Scalar::I8, small =>
        i16, Scalar::I16; i32, Scalar::I32; i64, Scalar::I64; u8, Scalar::U8; u16, Scalar::U16; u32, Scalar::U32; u64, Scalar::U64; f32, Scalar::F32);
    let unsigned: Vec<u32> = vec![0, 1, 255, 256, u32::MAX, 0x8000_0000, 16777217];
    check_cast!(u32, Scalar::U32, unsigned =>
        i8, Scalar::I8; i16, Scalar::I16; i32, Scalar::I32; i64, Scalar::I64; u8, Scalar::U8; u64, Scalar::U64; f32, Scalar::F32; f64, Scalar::F64);
    let big: Vec<u64> = vec![u64::MAX, 1 << 63, 12345678901234567890];
    check_cast!(u64, Scalar::U64, big => i64, Scalar::I64; i32, Scalar::I32; f32, Scalar::F32; f64, Scalar::F64);
    // The values that make these tests mean something.
    let k = map_kernel(Scalar::F32, Scalar::I32, |x| cast(x, Scalar::I32));
    assert_eq!(
        run_map::<f32, i32>(&k, &[f32::NAN, 3e38, -3e38, -2.7]),
        vec![0, i32::MAX, i32::MIN, -2]
    );
    let k = map_kernel(Scalar::F32, Scalar::U8, |x| cast(x, Scalar::U8));
    assert_eq!(
        run_map::<f32, u8>(&k, &[-1.0, 255.9, 256.0]),
        vec![0, 255, 255]
    );
    let k = map_kernel(Scalar::I64, Scalar::F32, |x| cast(x, Scalar::F32));
    assert_eq!(run_map::<i64, f32>(&k, &[16777217]), vec![16777216.0]);
}

#[test]
fn bool_casts_to_numbers() {
    let bools = vec![false, true];
    check_cast!(bool, Scalar::Bool, bools =>
        u8, Scalar::U8; i32, Scalar::I32; u64, Scalar::U64; i8, Scalar::I8; usize, Scalar::Usize);
    let k = map_kernel(Scalar::Bool, Scalar::F32, |x| cast(x, Scalar::F32));
    assert_eq!(run_map::<bool, f32>(&k, &[false, true]), vec![0.0, 1.0]);
    let k = map_kernel(Scalar::Bool, Scalar::F64, |x| cast(x, Scalar::F64));
    assert_eq!(run_map::<bool, f64>(&k, &[true, false]), vec![1.0, 0.0]);
}

#[test]
fn literals_of_every_type() {
    let cases: Vec<(Scalar, Expr)> = vec![
        (Scalar::I8, int(Scalar::I8, -128)),
        (Scalar::U16, int(Scalar::U16, 65535)),
        (Scalar::I64, int(Scalar::I64, i64::MIN as i128)),
        (Scalar::U64, int(Scalar::U64, u64::MAX as i128)),
        (Scalar::F32, float(Scalar::F32, 0.1f32 as f64)),
        (Scalar::F64, float(Scalar::F64, 0.1)),
        (Scalar::Bool, boolean(true)),
    ];
    for (s, lit) in cases {
        // out[0] = lit as f64 (bool: as u8 first is not Rust, so compare as is)
        let mut k = KernelBuilder::new("lit");
        let out = k.slice("out", ty(s), true);
        let site = k.site("out", 1);
        let k = k.build(vec![store_elem(out, usize_(0), site, ty(s), lit.clone())]);
        let mut m = mem(&[0u8; 8]);
        launch(
            &k,
            Launch::new(1, 1),
            &mut [arg_out::<u8>(&mut m, 8 / s.size())],
        )
        .unwrap();
        let bytes: Vec<u8> = read(&m);
        let want: Vec<u8> = match s {
            Scalar::I8 => (-128i8).to_ne_bytes().to_vec(),
            Scalar::U16 => 65535u16.to_ne_bytes().to_vec(),
            Scalar::I64 => i64::MIN.to_ne_bytes().to_vec(),
            Scalar::U64 => u64::MAX.to_ne_bytes().to_vec(),
            Scalar::F32 => 0.1f32.to_ne_bytes().to_vec(),
            Scalar::F64 => 0.1f64.to_ne_bytes().to_vec(),
            _ => vec![1],
        };
        assert_eq!(&bytes[..want.len()], &want[..], "{s:?}");
    }
}

#[test]
fn compound_assignment_on_slices_and_locals() {
    // let mut acc = x[i]; acc *= 3; acc -= 1; out[i] = acc; out[i] <<= 1u8; out[i] += 100
    let mut k = KernelBuilder::new("compound");
    let t = ty(Scalar::I32);
    let x = k.slice("x", t.clone(), false);
    let out = k.slice("out", t.clone(), true);
    let i = k.local("i", ty(Scalar::Usize));
    let acc = k.local_mut("acc", t.clone());
    let s = k.site("x", 1);
    let iu = || local(i, ty(Scalar::Usize));
    let out_i = || place_index(PlaceRoot::Param(out), iu(), s, t.clone());
    let k = k.build(vec![
        let_(i, global_index()),
        let_(acc, elem(x, iu(), s, t.clone())),
        compound(place_local(acc, t.clone()), BinOp::Mul, int(Scalar::I32, 3)),
        compound(place_local(acc, t.clone()), BinOp::Sub, int(Scalar::I32, 1)),
        assign(out_i(), local(acc, t.clone())),
        compound(out_i(), BinOp::Shl, int(Scalar::U8, 1)),
        compound(out_i(), BinOp::Add, int(Scalar::I32, 100)),
    ]);
    let xs: Vec<i32> = (0..64).map(|v| v * 1000 - 5000).collect();
    let got: Vec<i32> = run_map(&k, &xs);
    let want: Vec<i32> = xs.iter().map(|v| ((v * 3 - 1) << 1) + 100).collect();
    assert_eq!(got, want);
}
