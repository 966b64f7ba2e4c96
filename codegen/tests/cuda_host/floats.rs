//! Float operators, math functions, predicates and casts.

use super::harness::*;
use spindle_codegen::ir::*;
use Scalar::*;

/// Every float operator, method, predicate and cast on `$t` (inputs: a, b: $t; n: i32).
macro_rules! float_cases {
    ($t:ty, $bt:ty, $s:expr) => {{
        let s: Scalar = $s;
        let a = move || arg(0, s);
        let b = move || arg(1, s);
        fn x(v: &[u64]) -> $t {
            <$t>::from_bits(v[0] as $bt)
        }
        fn y(v: &[u64]) -> $t {
            <$t>::from_bits(v[1] as $bt)
        }
        fn o(r: $t) -> u64 {
            r.to_bits() as u64
        }
        let ts = Ty::Scalar(s);
        let tb = Ty::Scalar(Bool);
        let mut c = vec![
            case("+", bin(BinOp::Add, a(), b()), |v| o(x(v) + y(v))),
            case("-", bin(BinOp::Sub, a(), b()), |v| o(x(v) - y(v))),
            case("*", bin(BinOp::Mul, a(), b()), |v| o(x(v) * y(v))),
            case("/", bin(BinOp::Div, a(), b()), |v| o(x(v) / y(v))),
            case("%", bin(BinOp::Rem, a(), b()), |v| o(x(v) % y(v))),
            case("neg", un(UnOp::Neg, a()), |v| o(-x(v))),
            case("==", bin(BinOp::Eq, a(), b()), |v| (x(v) == y(v)) as u64),
            case("!=", bin(BinOp::Ne, a(), b()), |v| (x(v) != y(v)) as u64),
            case("<", bin(BinOp::Lt, a(), b()), |v| (x(v) < y(v)) as u64),
            case("<=", bin(BinOp::Le, a(), b()), |v| (x(v) <= y(v)) as u64),
            case(">", bin(BinOp::Gt, a(), b()), |v| (x(v) > y(v)) as u64),
            case(">=", bin(BinOp::Ge, a(), b()), |v| (x(v) >= y(v)) as u64),
        ];
        let unary: [(Intrinsic, fn($t) -> $t); 26] = [
            (Intrinsic::Abs, <$t>::abs),
            (Intrinsic::Signum, <$t>::signum),
            (Intrinsic::Sqrt, <$t>::sqrt),
            (Intrinsic::Cbrt, <$t>::cbrt),
            (Intrinsic::Exp, <$t>::exp),
            (Intrinsic::Exp2, <$t>::exp2),
            (Intrinsic::Ln, <$t>::ln),
            (Intrinsic::Log2, <$t>::log2),
            (Intrinsic::Log10, <$t>::log10),
            (Intrinsic::Sin, <$t>::sin),
            (Intrinsic::Cos, <$t>::cos),
            (Intrinsic::Tan, <$t>::tan),
            (Intrinsic::Asin, <$t>::asin),
            (Intrinsic::Acos, <$t>::acos),
            (Intrinsic::Atan, <$t>::atan),
            (Intrinsic::Sinh, <$t>::sinh),
            (Intrinsic::Cosh, <$t>::cosh),
            (Intrinsic::Tanh, <$t>::tanh),
            (Intrinsic::Floor, <$t>::floor),
            (Intrinsic::Ceil, <$t>::ceil),
            (Intrinsic::Round, <$t>::round),
            (Intrinsic::Trunc, <$t>::trunc),
            (Intrinsic::Fract, <$t>::fract),
            (Intrinsic::Recip, <$t>::recip),
            (Intrinsic::ToDegrees, <$t>::to_degrees),
            (Intrinsic::ToRadians, <$t>::to_radians),
        ];
        for (i, f) in unary {
            let mut k = case(format!("{i:?}"), intr(i, vec![a()], ts.clone()), move |v| {
                o(f(x(v)))
            });
            // Rust's cbrt is not glibc's (the C side's here); both are within 1 ulp.
            k.ulps = (i == Intrinsic::Cbrt) as u64;
            c.push(k);
        }
        let binary: [(Intrinsic, fn($t, $t) -> $t); 7] = [
            (Intrinsic::Min, <$t>::min),
            (Intrinsic::Max, <$t>::max),
            (Intrinsic::Log, <$t>::log),
            (Intrinsic::Atan2, <$t>::atan2),
            (Intrinsic::Powf, <$t>::powf),
            (Intrinsic::Hypot, <$t>::hypot),
            (Intrinsic::Copysign, <$t>::copysign),
        ];
        for (i, f) in binary {
            c.push(case(
                format!("{i:?}"),
                intr(i, vec![a(), b()], ts.clone()),
                move |v| o(f(x(v), y(v))),
            ));
        }
        let predicates: [(Intrinsic, fn($t) -> bool); 5] = [
            (Intrinsic::IsNan, <$t>::is_nan),
            (Intrinsic::IsFinite, <$t>::is_finite),
            (Intrinsic::IsInfinite, <$t>::is_infinite),
            (Intrinsic::IsSignNegative, <$t>::is_sign_negative),
            (Intrinsic::IsSignPositive, <$t>::is_sign_positive),
        ];
        for (i, f) in predicates {
            c.push(case(
                format!("{i:?}"),
                intr(i, vec![a()], tb.clone()),
                move |v| f(x(v)) as u64,
            ));
        }
        c.extend([
            case(
                "powi",
                intr(Intrinsic::Powi, vec![a(), arg(2, I32)], ts.clone()),
                |v| o(x(v).powi(v[2] as i32)),
            ),
            case(
                "clamp",
                intr(
                    Intrinsic::Clamp,
                    vec![a(), float(s, -1.5), float(s, 2.5)],
                    ts.clone(),
                ),
                |v| o(x(v).clamp(-1.5, 2.5)),
            ),
            case(
                "mul_add",
                intr(Intrinsic::MulAdd, vec![a(), b(), a()], ts.clone()),
                |v| o(x(v).mul_add(y(v), x(v))),
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

/// Values around every integer boundary, specials, subnormals; paired with
/// a rotation of the same list, and powi exponents -4..=8.
fn float_inputs(values: Vec<f64>, bits: fn(f64) -> u64) -> Vec<Vec<u64>> {
    let xs: Vec<u64> = values.iter().map(|&v| bits(v)).collect();
    let mut ys = xs.clone();
    ys.rotate_left(5);
    let ns = (0..xs.len())
        .map(|i| ((i % 13) as i64 - 4) as u32 as u64)
        .collect();
    vec![xs, ys, ns]
}

fn float_values() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1.5,
        -1.5,
        2.5,
        -2.5,
        3.7,
        -3.7,
        0.3,
        100.25,
        1e10,
        -1e10,
        1e30,
        -1e30,
        1e300,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1e-40,
        -1e-40,
        1e-310,
        std::f64::consts::PI,
    ];
    for p in [7, 8, 15, 16, 31, 32, 53, 63, 64] {
        let e = 2f64.powi(p);
        v.extend([e, -e, e - 1.0, e + 1.0, -e - 1.0, e - 0.5, -e + 0.5]);
    }
    v.extend([
        127.5,
        255.9,
        65535.9,
        2147483520.0,
        -2147483904.0,
        9.2e18,
        1.9e19,
    ]);
    v
}

#[test]
fn cuda_host_float_semantics_match_rust() {
    require_gxx!();
    let f32s = float_inputs(float_values(), |v| (v as f32).to_bits() as u64);
    let f64s = float_inputs(float_values(), f64::to_bits);
    let maps = vec![
        (
            "float_f32".to_string(),
            vec![F32, F32, I32],
            f32s,
            float_cases!(f32, u32, F32),
        ),
        (
            "float_f64".to_string(),
            vec![F64, F64, I32],
            f64s,
            float_cases!(f64, u64, F64),
        ),
    ];
    let bad = check_maps("float", maps, "-O0");
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad[..bad.len().min(40)].join("\n")
    );
}
