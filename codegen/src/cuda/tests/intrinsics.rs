//! Every intrinsic on every type it applies to.

use super::irb::*;
use crate::ir::*;
use Intrinsic as I;
use Scalar::*;

const FLOAT_UNARY: &[Intrinsic] = &[
    I::Abs,
    I::Signum,
    I::Sqrt,
    I::Cbrt,
    I::Exp,
    I::Exp2,
    I::Ln,
    I::Log2,
    I::Log10,
    I::Sin,
    I::Cos,
    I::Tan,
    I::Asin,
    I::Acos,
    I::Atan,
    I::Sinh,
    I::Cosh,
    I::Tanh,
    I::Floor,
    I::Ceil,
    I::Round,
    I::Trunc,
    I::Fract,
    I::Recip,
    I::ToDegrees,
    I::ToRadians,
];
const FLOAT_BINARY: &[Intrinsic] = &[
    I::Min,
    I::Max,
    I::Log,
    I::Atan2,
    I::Powf,
    I::Hypot,
    I::Copysign,
];
const FLOAT_PREDICATES: &[Intrinsic] = &[
    I::IsNan,
    I::IsFinite,
    I::IsInfinite,
    I::IsSignNegative,
    I::IsSignPositive,
];
const INT_UNARY: &[Intrinsic] = &[I::WrappingNeg, I::ReverseBits, I::SwapBytes];
const INT_COUNTS: &[Intrinsic] = &[
    I::CountOnes,
    I::CountZeros,
    I::LeadingZeros,
    I::TrailingZeros,
];
const INT_BINARY: &[Intrinsic] = &[
    I::Min,
    I::Max,
    I::WrappingAdd,
    I::WrappingSub,
    I::WrappingMul,
    I::SaturatingAdd,
    I::SaturatingSub,
];
const INT_BY_U32: &[Intrinsic] = &[I::Pow, I::RotateLeft, I::RotateRight];

/// The unsigned type of the same width.
fn unsigned(s: Scalar) -> Scalar {
    match s {
        I8 | U8 => U8,
        I16 | U16 => U16,
        I32 | U32 => U32,
        Isize | Usize => Usize,
        _ => U64,
    }
}

/// `intrinsics_<ty>(a, b, c, n, e, out, flags, counts, diffs)`: every
/// intrinsic of type `s`, each result stored to the output of its type.
pub(crate) fn intrinsics_kernel(s: Scalar) -> Kernel {
    let name = format!("intrinsics_{}", s.rust_name());
    let mut kb = KernelBuilder::batch(&name);
    let site = kb.site("out", 1);
    let mut f = FnBuilder::new(&name, Ty::Unit);
    let t = ty(s);
    let a = f.value("a", t.clone());
    let b = f.value("b", t.clone());
    let c = f.value("c", t.clone());
    let n = f.value("n", ty(I32));
    let e = f.value("e", ty(U32));
    let outs = [
        (f.slice("out", t.clone(), true), t.clone()),
        (f.slice("flags", ty(Bool), true), ty(Bool)),
        (f.slice("counts", ty(U32), true), ty(U32)),
        (f.slice("diffs", ty(unsigned(s)), true), ty(unsigned(s))),
    ];
    let v = |p| load(place_param(p, ty(s)));
    let mut k = 0;
    let mut put = |f: &mut FnBuilder, i: Intrinsic, args: Vec<Expr>, rt: Ty| {
        let (out, _) = outs.iter().find(|(_, ot)| *ot == rt).unwrap().clone();
        let value = intr(i, args, rt.clone());
        f.push(StmtKind::Assign {
            place: index(place_param(out, rt.clone()), usize_(k), site, rt),
            value,
        });
        k += 1;
    };
    if s.is_float() {
        for &i in FLOAT_UNARY {
            put(&mut f, i, vec![v(a)], t.clone());
        }
        for &i in FLOAT_BINARY {
            put(&mut f, i, vec![v(a), v(b)], t.clone());
        }
        for &i in FLOAT_PREDICATES {
            put(&mut f, i, vec![v(a)], ty(Bool));
        }
        put(
            &mut f,
            I::Powi,
            vec![v(a), load(place_param(n, ty(I32)))],
            t.clone(),
        );
        put(&mut f, I::Clamp, vec![v(a), v(b), v(c)], t.clone());
        put(&mut f, I::MulAdd, vec![v(a), v(b), v(c)], t.clone());
    } else {
        for &i in INT_UNARY {
            put(&mut f, i, vec![v(a)], t.clone());
        }
        if s.is_signed_int() {
            put(&mut f, I::Abs, vec![v(a)], t.clone());
            put(&mut f, I::Signum, vec![v(a)], t.clone());
        } else {
            put(&mut f, I::IsPowerOfTwo, vec![v(a)], ty(Bool));
        }
        for &i in INT_COUNTS {
            put(&mut f, i, vec![v(a)], ty(U32));
        }
        for &i in INT_BINARY {
            put(&mut f, i, vec![v(a), v(b)], t.clone());
        }
        for &i in INT_BY_U32 {
            put(
                &mut f,
                i,
                vec![v(a), load(place_param(e, ty(U32)))],
                t.clone(),
            );
        }
        put(&mut f, I::Clamp, vec![v(a), v(b), v(c)], t.clone());
        put(&mut f, I::AbsDiff, vec![v(a), v(b)], ty(unsigned(s)));
    }
    kb.entry(f.finish())
}

#[test]
fn cuda_float_intrinsics_use_width_specific_functions() {
    let c = code_of(&intrinsics_kernel(F32));
    for want in [
        "= sqrtf(p_a);",
        "= fminf(p_a, p_b);",
        "= roundf(p_a);",
        "= fmaf(p_a, p_b, p_c);",
        "= logf(p_a) / logf(p_b);",
        "= atan2f(p_a, p_b);",
        "= 1.0f / p_a;",
        "= p_a * 57.29578f;",
        "= spindle_powi_f32(p_a, p_n);",
        "= spindle_clamp_f32(p_a, p_b, p_c);",
        "= spindle_fract_f32(p_a);",
        "= (spindle_f32_bits(p_a) & 0x7fffffffu) > 0x7f800000u;",
        "= (spindle_f32_bits(p_a) >> 31) != 0;",
        "return x != x ? spindle_f32_from_bits(0x7fc00000u) : copysignf(1.0f, x);",
    ] {
        assert!(c.contains(want), "missing {want}:\n{c}");
    }
    let c = code_of(&intrinsics_kernel(F64));
    for want in [
        "= sqrt(p_a);",
        "= fmax(p_a, p_b);",
        "= fma(p_a, p_b, p_c);",
        "= spindle_powi_f64(p_a, p_n);",
    ] {
        assert!(c.contains(want), "missing {want}:\n{c}");
    }
}

#[test]
fn cuda_int_intrinsics_handle_narrow_widths() {
    let c = code_of(&intrinsics_kernel(U8));
    for want in [
        "= spindle_clz32((uint32_t)(uint8_t)p_a) - 24u;",
        "= spindle_ctz32((uint32_t)(uint8_t)p_a | 256u);",
        "= spindle_popc32((uint32_t)(uint8_t)p_a);",
        "= 8u - spindle_popc32((uint32_t)(uint8_t)p_a);",
        "= (uint8_t)(spindle_brev32((uint32_t)(uint8_t)p_a) >> 24);",
        "= p_a;", // swap_bytes of one byte
        "= spindle_is_power_of_two_u8(p_a);",
        "= spindle_rotate_left_u8(p_a, p_e);",
        "return (uint8_t)(uint8_t)((v << s) | (v >> ((8u - s) & 7u)));",
    ] {
        assert!(c.contains(want), "missing {want}:\n{c}");
    }
    let c = code_of(&intrinsics_kernel(I16));
    for want in [
        "= (int16_t)(spindle_bswap32((uint32_t)(uint16_t)p_a) >> 16);",
        "= spindle_abs_i16(p_a);",
        "return x < 0 ? (int16_t)((uint32_t)0 - (uint32_t)x) : x;",
        "if (b > 0 && r < a) return ((int16_t)32767);",
        "= spindle_abs_diff_i16(p_a, p_b);",
        "__device__ __forceinline__ uint16_t spindle_abs_diff_i16(int16_t a, int16_t b) {",
    ] {
        assert!(c.contains(want), "missing {want}:\n{c}");
    }
    let c = code_of(&intrinsics_kernel(I64));
    for want in [
        "= spindle_clz64((uint64_t)p_a);",
        "= (int64_t)spindle_bswap64((uint64_t)p_a);",
        "= spindle_pow_i64(p_a, p_e);",
        "uint64_t acc = 1u;",
    ] {
        assert!(c.contains(want), "missing {want}:\n{c}");
    }
}
