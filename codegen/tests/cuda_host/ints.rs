//! Integer operators, methods and casts on every width.

use super::harness::*;
use spindle_codegen::ir::*;
use Scalar::*;

/// Every integer operator, method and cast on `$t` (inputs: a, b: $t; sh: u32).
macro_rules! int_cases {
    ($t:ty, $ut:ty, $s:expr) => {{
        let s: Scalar = $s;
        let a = move || arg(0, s);
        let b = move || arg(1, s);
        let sh = || arg(2, U32);
        fn x(v: &[u64]) -> $t {
            v[0] as $t
        }
        fn y(v: &[u64]) -> $t {
            v[1] as $t
        }
        fn n(v: &[u64]) -> u32 {
            v[2] as u32
        }
        fn o(r: $t) -> u64 {
            r as $ut as u64
        }
        // A divisor that is never 0 nor -1: (b | 2) & !1.
        fn d(v: &[u64]) -> $t {
            (y(v) | 2) & !1
        }
        let safe = move || {
            bin(
                BinOp::BitAnd,
                bin(BinOp::BitOr, b(), int(s, 2)),
                int(s, !1 as $t as i128),
            )
        };
        let (lo, hi): ($t, $t) = (3, 100);
        let mut c = vec![
            case("+", bin(BinOp::Add, a(), b()), |v| {
                o(x(v).wrapping_add(y(v)))
            }),
            case("-", bin(BinOp::Sub, a(), b()), |v| {
                o(x(v).wrapping_sub(y(v)))
            }),
            case("*", bin(BinOp::Mul, a(), b()), |v| {
                o(x(v).wrapping_mul(y(v)))
            }),
            case("/", bin(BinOp::Div, a(), safe()), |v| o(x(v) / d(v))),
            case("%", bin(BinOp::Rem, a(), safe()), |v| o(x(v) % d(v))),
            case("&", bin(BinOp::BitAnd, a(), b()), |v| o(x(v) & y(v))),
            case("|", bin(BinOp::BitOr, a(), b()), |v| o(x(v) | y(v))),
            case("^", bin(BinOp::BitXor, a(), b()), |v| o(x(v) ^ y(v))),
            case("<< b", bin(BinOp::Shl, a(), b()), |v| {
                o(x(v).wrapping_shl(y(v) as u32))
            }),
            case(">> b", bin(BinOp::Shr, a(), b()), |v| {
                o(x(v).wrapping_shr(y(v) as u32))
            }),
            case("<< sh", bin(BinOp::Shl, a(), sh()), |v| {
                o(x(v).wrapping_shl(n(v)))
            }),
            case(">> sh", bin(BinOp::Shr, a(), sh()), |v| {
                o(x(v).wrapping_shr(n(v)))
            }),
            case("!", un(UnOp::Not, a()), |v| o(!x(v))),
            case("==", bin(BinOp::Eq, a(), b()), |v| (x(v) == y(v)) as u64),
            case("!=", bin(BinOp::Ne, a(), b()), |v| (x(v) != y(v)) as u64),
            case("<", bin(BinOp::Lt, a(), b()), |v| (x(v) < y(v)) as u64),
            case("<=", bin(BinOp::Le, a(), b()), |v| (x(v) <= y(v)) as u64),
            case(">", bin(BinOp::Gt, a(), b()), |v| (x(v) > y(v)) as u64),
            case(">=", bin(BinOp::Ge, a(), b()), |v| (x(v) >= y(v)) as u64),
        ];
        let i2 = |i: Intrinsic, ty: Ty| intr(i, vec![a(), b()], ty);
        let ts = Ty::Scalar(s);
        let tu = Ty::Scalar(U32);
        c.extend([
            case(
                "wrapping_add",
                i2(Intrinsic::WrappingAdd, ts.clone()),
                |v| o(x(v).wrapping_add(y(v))),
            ),
            case(
                "wrapping_sub",
                i2(Intrinsic::WrappingSub, ts.clone()),
                |v| o(x(v).wrapping_sub(y(v))),
            ),
            case(
                "wrapping_mul",
                i2(Intrinsic::WrappingMul, ts.clone()),
                |v| o(x(v).wrapping_mul(y(v))),
            ),
            case(
                "saturating_add",
                i2(Intrinsic::SaturatingAdd, ts.clone()),
                |v| o(x(v).saturating_add(y(v))),
            ),
            case(
                "saturating_sub",
                i2(Intrinsic::SaturatingSub, ts.clone()),
                |v| o(x(v).saturating_sub(y(v))),
            ),
            case("min", i2(Intrinsic::Min, ts.clone()), |v| o(x(v).min(y(v)))),
            case("max", i2(Intrinsic::Max, ts.clone()), |v| o(x(v).max(y(v)))),
            case(
                "abs_diff",
                i2(Intrinsic::AbsDiff, Ty::Scalar(unsigned_of(s))),
                |v| x(v).abs_diff(y(v)) as u64,
            ),
            case(
                "clamp",
                intr(
                    Intrinsic::Clamp,
                    vec![a(), int(s, lo as i128), int(s, hi as i128)],
                    ts.clone(),
                ),
                move |v| o(x(v).clamp(lo, hi)),
            ),
            case(
                "pow",
                intr(
                    Intrinsic::Pow,
                    vec![a(), bin(BinOp::BitAnd, sh(), int(U32, 7))],
                    ts.clone(),
                ),
                |v| o(x(v).wrapping_pow(n(v) & 7)),
            ),
            case(
                "rotate_left",
                intr(Intrinsic::RotateLeft, vec![a(), sh()], ts.clone()),
                |v| o(x(v).rotate_left(n(v))),
            ),
            case(
                "rotate_right",
                intr(Intrinsic::RotateRight, vec![a(), sh()], ts.clone()),
                |v| o(x(v).rotate_right(n(v))),
            ),
            case(
                "reverse_bits",
                intr(Intrinsic::ReverseBits, vec![a()], ts.clone()),
                |v| o(x(v).reverse_bits()),
            ),
            case(
                "swap_bytes",
                intr(Intrinsic::SwapBytes, vec![a()], ts.clone()),
                |v| o(x(v).swap_bytes()),
            ),
            case(
                "wrapping_neg",
                intr(Intrinsic::WrappingNeg, vec![a()], ts.clone()),
                |v| o(x(v).wrapping_neg()),
            ),
            case(
                "count_ones",
                intr(Intrinsic::CountOnes, vec![a()], tu.clone()),
                |v| x(v).count_ones() as u64,
            ),
            case(
                "count_zeros",
                intr(Intrinsic::CountZeros, vec![a()], tu.clone()),
                |v| x(v).count_zeros() as u64,
            ),
            case(
                "leading_zeros",
                intr(Intrinsic::LeadingZeros, vec![a()], tu.clone()),
                |v| x(v).leading_zeros() as u64,
            ),
            case(
                "trailing_zeros",
                intr(Intrinsic::TrailingZeros, vec![a()], tu.clone()),
                |v| x(v).trailing_zeros() as u64,
            ),
        ]);
        for to in Scalar::ALL {
            if to != Bool {
                c.push(case(
                    format!("as {}", to.rust_name()),
                    cast(a(), to),
                    move |v| rust_cast!(x(v), to),
                ));
            }
        }
        c
    }};
}

/// Signed-only cases (neg, abs, signum).
macro_rules! signed_cases {
    ($t:ty, $ut:ty, $s:expr) => {{
        let s: Scalar = $s;
        let a = move || arg(0, s);
        fn x(v: &[u64]) -> $t {
            v[0] as $t
        }
        fn o(r: $t) -> u64 {
            r as $ut as u64
        }
        vec![
            case("neg", un(UnOp::Neg, a()), |v| o(x(v).wrapping_neg())),
            case("abs", intr(Intrinsic::Abs, vec![a()], Ty::Scalar(s)), |v| {
                o(x(v).wrapping_abs())
            }),
            case(
                "signum",
                intr(Intrinsic::Signum, vec![a()], Ty::Scalar(s)),
                |v| o(x(v).signum()),
            ),
        ]
    }};
}

/// Unsigned-only cases.
macro_rules! unsigned_cases {
    ($t:ty, $s:expr) => {{
        let s: Scalar = $s;
        fn x(v: &[u64]) -> $t {
            v[0] as $t
        }
        vec![case(
            "is_power_of_two",
            intr(Intrinsic::IsPowerOfTwo, vec![arg(0, s)], Ty::Scalar(Bool)),
            |v| x(v).is_power_of_two() as u64,
        )]
    }};
}

fn unsigned_of(s: Scalar) -> Scalar {
    match s.size() {
        1 => U8,
        2 => U16,
        4 => U32,
        _ => {
            if s == Isize || s == Usize {
                Usize
            } else {
                U64
            }
        }
    }
}

/// Interesting values of an integer type (bits, zero-extended), every pair.
fn int_inputs(s: Scalar) -> Vec<Vec<u64>> {
    let m = mask(s);
    let bits = s.bits() as u64;
    let min = if s.is_signed_int() {
        1u64 << (bits - 1)
    } else {
        0
    };
    let max = if s.is_signed_int() { min - 1 } else { m };
    let mut vals = vec![
        0,
        1,
        2,
        3,
        7,
        m,
        m - 1,
        min,
        min + 1,
        max,
        max - 1,
        0x5555_5555_5555_5555 & m,
    ];
    vals.extend([
        100u64.wrapping_neg() & m,
        bits - 1,
        bits,
        200 & m,
        0x1234_5678_9abc_def0 & m,
    ]);
    vals.sort_unstable();
    vals.dedup();
    let shifts = [
        0u64,
        1,
        3,
        7,
        8,
        15,
        16,
        31,
        32,
        33,
        63,
        64,
        65,
        100,
        1000,
        u32::MAX as u64,
    ];
    let (mut xs, mut ys, mut ns) = (vec![], vec![], vec![]);
    for (i, &x) in vals.iter().enumerate() {
        for (j, &y) in vals.iter().enumerate() {
            xs.push(x);
            ys.push(y);
            ns.push(shifts[(i * 7 + j) % shifts.len()]);
        }
    }
    vec![xs, ys, ns]
}

#[test]
fn cuda_host_integer_semantics_match_rust() {
    require_gxx!();
    let mut maps = Vec::new();
    macro_rules! add {
        ($t:ty, $ut:ty, $s:expr, signed) => {{
            let mut c = int_cases!($t, $ut, $s);
            c.extend(signed_cases!($t, $ut, $s));
            maps.push((
                format!("int_{}", $s.rust_name()),
                vec![$s, $s, U32],
                int_inputs($s),
                c,
            ));
        }};
        ($t:ty, $ut:ty, $s:expr, unsigned) => {{
            let mut c = int_cases!($t, $ut, $s);
            c.extend(unsigned_cases!($t, $s));
            maps.push((
                format!("int_{}", $s.rust_name()),
                vec![$s, $s, U32],
                int_inputs($s),
                c,
            ));
        }};
    }
    add!(i8, u8, I8, signed);
    add!(i16, u16, I16, signed);
    add!(i32, u32, I32, signed);
    add!(i64, u64, I64, signed);
    add!(i64, u64, Isize, signed);
    add!(u8, u8, U8, unsigned);
    add!(u16, u16, U16, unsigned);
    add!(u32, u32, U32, unsigned);
    add!(u64, u64, U64, unsigned);
    add!(u64, u64, Usize, unsigned);
    let bad = check_maps("int", maps, "-O0");
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad[..bad.len().min(40)].join("\n")
    );
}
