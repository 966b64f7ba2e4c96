//! Lane kernels of the std-method intrinsics: each calls the std method of
//! the lane's type (`f32::sqrt`, `i32::count_ones`, …), so the CPU backend
//! means exactly what the same Rust means.
//!
//! The one deviation: `clamp` with `lo > hi` (or a NaN bound) does not
//! panic as std does; it runs std's body without the assertion.

use spindle_codegen::ir::{Intrinsic, Scalar};

use super::ops::{map1, map2, map3, Map1Fn, Map2Fn, Map3Fn};

/// The kernel of a std-method intrinsic, by arity.
#[derive(Clone, Copy, Debug)]
pub(crate) enum IntrinsicKernel {
    Map1(Map1Fn),
    Map2(Map2Fn),
    Map3(Map3Fn),
}

/// The type argument `k` must have when the first argument has type
/// `first` (the compiler casts to it when the IR's type differs).
pub(crate) fn arg_type(i: Intrinsic, k: usize, first: Scalar) -> Scalar {
    match (i, k) {
        (Intrinsic::Powi, 1) => Scalar::I32,
        (Intrinsic::Pow | Intrinsic::RotateLeft | Intrinsic::RotateRight, 1) => Scalar::U32,
        _ => first,
    }
}

/// The result type of intrinsic `i` whose first argument has type `s`.
pub(crate) fn result_type(i: Intrinsic, s: Scalar) -> Scalar {
    use Intrinsic::*;
    match i {
        IsNan | IsFinite | IsInfinite | IsSignNegative | IsSignPositive | IsPowerOfTwo => {
            Scalar::Bool
        }
        CountOnes | CountZeros | LeadingZeros | TrailingZeros => Scalar::U32,
        AbsDiff => s.to_unsigned(),
        _ => s,
    }
}

/// The kernel of std-method intrinsic `i` whose first argument has type
/// `s`; `None` for the geometry intrinsics (the compiler reads fixed
/// registers for those) and for methods the type lacks.
pub(crate) fn intrinsic(i: Intrinsic, s: Scalar) -> Option<IntrinsicKernel> {
    use IntrinsicKernel::{Map1, Map2, Map3};
    macro_rules! float {
        ($T:ty) => {
            Some(match i {
                Intrinsic::Abs => Map1(map1!($T => $T, |x| x.abs())),
                Intrinsic::Signum => Map1(map1!($T => $T, |x| x.signum())),
                Intrinsic::Sqrt => Map1(map1!($T => $T, |x| x.sqrt())),
                Intrinsic::Cbrt => Map1(map1!($T => $T, |x| x.cbrt())),
                Intrinsic::Exp => Map1(map1!($T => $T, |x| x.exp())),
                Intrinsic::Exp2 => Map1(map1!($T => $T, |x| x.exp2())),
                Intrinsic::Ln => Map1(map1!($T => $T, |x| x.ln())),
                Intrinsic::Log2 => Map1(map1!($T => $T, |x| x.log2())),
                Intrinsic::Log10 => Map1(map1!($T => $T, |x| x.log10())),
                Intrinsic::Sin => Map1(map1!($T => $T, |x| x.sin())),
                Intrinsic::Cos => Map1(map1!($T => $T, |x| x.cos())),
                Intrinsic::Tan => Map1(map1!($T => $T, |x| x.tan())),
                Intrinsic::Asin => Map1(map1!($T => $T, |x| x.asin())),
                Intrinsic::Acos => Map1(map1!($T => $T, |x| x.acos())),
                Intrinsic::Atan => Map1(map1!($T => $T, |x| x.atan())),
                Intrinsic::Sinh => Map1(map1!($T => $T, |x| x.sinh())),
                Intrinsic::Cosh => Map1(map1!($T => $T, |x| x.cosh())),
                Intrinsic::Tanh => Map1(map1!($T => $T, |x| x.tanh())),
                Intrinsic::Floor => Map1(map1!($T => $T, |x| x.floor())),
                Intrinsic::Ceil => Map1(map1!($T => $T, |x| x.ceil())),
                Intrinsic::Round => Map1(map1!($T => $T, |x| x.round())),
                Intrinsic::Trunc => Map1(map1!($T => $T, |x| x.trunc())),
                Intrinsic::Fract => Map1(map1!($T => $T, |x| x.fract())),
                Intrinsic::Recip => Map1(map1!($T => $T, |x| x.recip())),
                Intrinsic::ToDegrees => Map1(map1!($T => $T, |x| x.to_degrees())),
                Intrinsic::ToRadians => Map1(map1!($T => $T, |x| x.to_radians())),
                Intrinsic::IsNan => Map1(map1!($T => u8, |x| x.is_nan() as u8)),
                Intrinsic::IsFinite => Map1(map1!($T => u8, |x| x.is_finite() as u8)),
                Intrinsic::IsInfinite => Map1(map1!($T => u8, |x| x.is_infinite() as u8)),
                Intrinsic::IsSignNegative => Map1(map1!($T => u8, |x| x.is_sign_negative() as u8)),
                Intrinsic::IsSignPositive => Map1(map1!($T => u8, |x| x.is_sign_positive() as u8)),
                Intrinsic::Min => Map2(map2!($T, $T => $T, |x, y| x.min(y))),
                Intrinsic::Max => Map2(map2!($T, $T => $T, |x, y| x.max(y))),
                Intrinsic::Log => Map2(map2!($T, $T => $T, |x, y| x.log(y))),
                Intrinsic::Atan2 => Map2(map2!($T, $T => $T, |x, y| x.atan2(y))),
                Intrinsic::Powf => Map2(map2!($T, $T => $T, |x, y| x.powf(y))),
                Intrinsic::Hypot => Map2(map2!($T, $T => $T, |x, y| x.hypot(y))),
                Intrinsic::Copysign => Map2(map2!($T, $T => $T, |x, y| x.copysign(y))),
                Intrinsic::Powi => Map2(map2!($T, i32 => $T, |x, y| x.powi(y))),
                Intrinsic::MulAdd => Map3(map3!($T, $T, $T => $T, |x, a, b| x.mul_add(a, b))),
                Intrinsic::Clamp => Map3(map3!($T, $T, $T => $T, |x, lo, hi| {
                    let mut v = x;
                    if v < lo {
                        v = lo;
                    }
                    if v > hi {
                        v = hi;
                    }
                    v
                })),
                _ => return None,
            })
        };
    }
    // Shared by signed and unsigned integers.
    macro_rules! int {
        ($T:ty) => {
            Some(match i {
                Intrinsic::WrappingNeg => Map1(map1!($T => $T, |x| x.wrapping_neg())),
                Intrinsic::ReverseBits => Map1(map1!($T => $T, |x| x.reverse_bits())),
                Intrinsic::SwapBytes => Map1(map1!($T => $T, |x| x.swap_bytes())),
                Intrinsic::CountOnes => Map1(map1!($T => u32, |x| x.count_ones())),
                Intrinsic::CountZeros => Map1(map1!($T => u32, |x| x.count_zeros())),
                Intrinsic::LeadingZeros => Map1(map1!($T => u32, |x| x.leading_zeros())),
                Intrinsic::TrailingZeros => Map1(map1!($T => u32, |x| x.trailing_zeros())),
                Intrinsic::Min => Map2(map2!($T, $T => $T, |x, y| x.min(y))),
                Intrinsic::Max => Map2(map2!($T, $T => $T, |x, y| x.max(y))),
                Intrinsic::WrappingAdd => Map2(map2!($T, $T => $T, |x, y| x.wrapping_add(y))),
                Intrinsic::WrappingSub => Map2(map2!($T, $T => $T, |x, y| x.wrapping_sub(y))),
                Intrinsic::WrappingMul => Map2(map2!($T, $T => $T, |x, y| x.wrapping_mul(y))),
                Intrinsic::SaturatingAdd => Map2(map2!($T, $T => $T, |x, y| x.saturating_add(y))),
                Intrinsic::SaturatingSub => Map2(map2!($T, $T => $T, |x, y| x.saturating_sub(y))),
                Intrinsic::Pow => Map2(map2!($T, u32 => $T, |x, y| x.wrapping_pow(y))),
                Intrinsic::RotateLeft => Map2(map2!($T, u32 => $T, |x, y| x.rotate_left(y))),
                Intrinsic::RotateRight => Map2(map2!($T, u32 => $T, |x, y| x.rotate_right(y))),
                Intrinsic::Clamp => Map3(map3!($T, $T, $T => $T, |x, lo, hi| {
                    if x < lo {
                        lo
                    } else if x > hi {
                        hi
                    } else {
                        x
                    }
                })),
                _ => return None,
            })
        };
    }
    macro_rules! signed {
        ($T:ty, $U:ty) => {
            match i {
                Intrinsic::Abs => Some(Map1(map1!($T => $T, |x| x.wrapping_abs()))),
                Intrinsic::Signum => Some(Map1(map1!($T => $T, |x| x.signum()))),
                Intrinsic::AbsDiff => Some(Map2(map2!($T, $T => $U, |x, y| x.abs_diff(y)))),
                Intrinsic::IsPowerOfTwo => Some(Map1(map1!($T => u8, |x| (x > 0 && (x as $U).is_power_of_two()) as u8))),
                _ => int!($T),
            }
        };
    }
    macro_rules! unsigned {
        ($T:ty) => {
            match i {
                Intrinsic::Abs => Some(Map1(map1!($T => $T, |x| x))),
                Intrinsic::Signum => Some(Map1(map1!($T => $T, |x| (x != 0) as $T))),
                Intrinsic::AbsDiff => Some(Map2(map2!($T, $T => $T, |x, y| x.abs_diff(y)))),
                Intrinsic::IsPowerOfTwo => Some(Map1(map1!($T => u8, |x| x.is_power_of_two() as u8))),
                _ => int!($T),
            }
        };
    }
    match s {
        Scalar::Bool => None,
        Scalar::U8 => unsigned!(u8),
        Scalar::U16 => unsigned!(u16),
        Scalar::U32 => unsigned!(u32),
        Scalar::U64 | Scalar::Usize => unsigned!(u64),
        Scalar::I8 => signed!(i8, u8),
        Scalar::I16 => signed!(i16, u16),
        Scalar::I32 => signed!(i32, u32),
        Scalar::I64 | Scalar::Isize => signed!(i64, u64),
        Scalar::F32 => float!(f32),
        Scalar::F64 => float!(f64),
    }
}
