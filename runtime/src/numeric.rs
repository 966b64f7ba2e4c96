//! The bounds of generic kernels: [`Scalar`], [`Num`], [`Int`], [`Float`]
//! (re-exported by [`gpu`](crate::gpu), so in the prelude).
//!
//! A `#[kernel]` or `#[device]` fn generic over `T: Float` is type-checked
//! by rustc against these traits, so a use the bound does not allow is a
//! compile error at the use. Each instantiation is then compiled for the
//! GPU as if written for its concrete type: the traits' methods mean what
//! the inherent methods of the same name mean. They are sealed (kernels
//! support exactly these types) and work in host code too, so a generic
//! `#[device]` fn is also an ordinary generic Rust function.

use std::fmt::Debug;
use std::ops::{
    Add, AddAssign, BitAnd, BitAndAssign, BitOr, BitOrAssign, BitXor, BitXorAssign, Div, DivAssign,
    Mul, MulAssign, Neg, Not, Rem, RemAssign, Shl, ShlAssign, Shr, ShrAssign, Sub, SubAssign,
};

use spindle_codegen::ir::Scalar as ScalarType;

use crate::gpu::ShuffleValue;
use crate::types::DeviceType;

mod sealed {
    pub trait Sealed {}
    macro_rules! sealed {
        ($($t:ty)*) => { $(impl Sealed for $t {})* };
    }
    sealed!(bool i8 i16 i32 i64 isize u8 u16 u32 u64 usize f32 f64);
}

/// Every kernel scalar type: `bool`, `i8`..`i64`, `isize`, `u8`..`u64`,
/// `usize`, `f32`, `f64`. Sealed.
///
/// A bound that allows moving values, comparing them for equality and
/// the warp operations (`warp_shuffle` and its forms).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a kernel scalar type",
    label = "not `bool`, an integer, `f32` or `f64`",
    note = "generic kernels are instantiated with scalar types: `bool`, `i8`..`i64`, \
            `isize`, `u8`..`u64`, `usize`, `f32`, `f64`"
)]
pub trait Scalar:
    sealed::Sealed + DeviceType + ShuffleValue + Copy + PartialEq + Default + Debug + Send + Sync
{
    /// The type as the kernel compiler knows it (for the generated glue).
    #[doc(hidden)]
    const SCALAR: ScalarType;
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a numeric kernel type (`Num`)",
    note = "`Num` is implemented for the integers `i8`..`i64`, `isize`, `u8`..`u64`, `usize` \
            and the floats `f32`, `f64`"
)]
/// The numeric types: the integers and the floats. Arithmetic (`+ - * / %`,
/// wrapping for integers), compound assignment, comparisons, the constants
/// and [`cast`](Num::cast). Sealed.
pub trait Num:
    Scalar
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Rem<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + RemAssign
{
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// The least value (`i32::MIN`; for floats the most negative finite
    /// value, `f32::MIN`).
    const MIN: Self;
    /// The greatest value (`i32::MAX`, `f32::MAX`).
    const MAX: Self;

    /// `self as U`: the conversion Rust's `as` makes between the two types
    /// (integers wrap, floats to integers saturate and NaN becomes 0).
    ///
    /// ```
    /// use spindle_runtime::gpu::Num;
    /// assert_eq!(300i32.cast::<u8>(), 44);
    /// assert_eq!((-1.5f32).cast::<u32>(), 0);
    /// ```
    #[inline]
    fn cast<U: Num>(self) -> U {
        U::from_wide(self.to_wide())
    }

    /// The value for [`cast`](Num::cast) (not an API).
    #[doc(hidden)]
    fn to_wide(self) -> Wide;

    /// `w as Self` (not an API).
    #[doc(hidden)]
    fn from_wide(w: Wide) -> Self;
}

/// A numeric value widened without loss, for [`Num::cast`] (not an API).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Wide {
    Int(i128),
    Float(f64),
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an integer kernel type (`Int`)",
    note = "`Int` is implemented for `i8`..`i64`, `isize`, `u8`..`u64`, `usize`"
)]
/// The integer types. Bit operators, shifts by a `u32`, total order
/// (`min`, `max`, `clamp` of [`Ord`]) and the integer methods kernels
/// support. Sealed.
pub trait Int:
    Num
    + Eq
    + Ord
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + BitXor<Output = Self>
    + Not<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
    + BitAndAssign
    + BitOrAssign
    + BitXorAssign
    + ShlAssign<u32>
    + ShrAssign<u32>
{
    /// The number of bits of the type.
    const BITS: u32;
    /// Like the inherent method of the same name.
    fn count_ones(self) -> u32;
    /// Like the inherent method of the same name.
    fn count_zeros(self) -> u32;
    /// Like the inherent method of the same name.
    fn leading_zeros(self) -> u32;
    /// Like the inherent method of the same name.
    fn trailing_zeros(self) -> u32;
    /// Like the inherent method of the same name.
    fn rotate_left(self, n: u32) -> Self;
    /// Like the inherent method of the same name.
    fn rotate_right(self, n: u32) -> Self;
    /// Like the inherent method of the same name.
    fn reverse_bits(self) -> Self;
    /// Like the inherent method of the same name.
    fn swap_bytes(self) -> Self;
    /// Like the inherent method of the same name.
    fn pow(self, exp: u32) -> Self;
    /// Like the inherent method of the same name.
    fn wrapping_add(self, rhs: Self) -> Self;
    /// Like the inherent method of the same name.
    fn wrapping_sub(self, rhs: Self) -> Self;
    /// Like the inherent method of the same name.
    fn wrapping_mul(self, rhs: Self) -> Self;
    /// Like the inherent method of the same name.
    fn wrapping_neg(self) -> Self;
    /// Like the inherent method of the same name.
    fn saturating_add(self, rhs: Self) -> Self;
    /// Like the inherent method of the same name.
    fn saturating_sub(self, rhs: Self) -> Self;
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a float type (`Float`)",
    note = "`Float` is implemented for `f32` and `f64`"
)]
/// The float types `f32` and `f64`: negation and the float methods kernels
/// support, with the meaning of the inherent methods of the same name.
/// Sealed.
pub trait Float: Num + Neg<Output = Self> + FloatMath {
    /// Positive infinity.
    const INFINITY: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Not a number.
    const NAN: Self;
    /// The difference between 1 and the next larger value.
    const EPSILON: Self;
}

macro_rules! float_methods {
    ($($name:ident($($arg:ident),*) -> $ret:ty;)*) => {
        /// The float methods kernels support (a supertrait of [`Float`],
        /// so `T: Float` has them).
        // They take `self` by value like the inherent methods they mirror.
        #[allow(clippy::wrong_self_convention)]
        pub trait FloatMath: Sized {
            $(
                /// Like the inherent method of the same name.
                fn $name(self $(, $arg: Self)*) -> $ret;
            )*
        }
        macro_rules! impl_float_math {
            ($t:ty) => {
                impl FloatMath for $t {
                    $(
                        #[inline]
                        fn $name(self $(, $arg: Self)*) -> $ret {
                            <$t>::$name(self $(, $arg)*)
                        }
                    )*
                }
            };
        }
    };
}

float_methods! {
    abs() -> Self; signum() -> Self; min(other) -> Self; max(other) -> Self;
    clamp(lo, hi) -> Self; sqrt() -> Self; cbrt() -> Self; exp() -> Self; exp2() -> Self;
    ln() -> Self; log2() -> Self; log10() -> Self; log(base) -> Self; sin() -> Self;
    cos() -> Self; tan() -> Self; asin() -> Self; acos() -> Self; atan() -> Self;
    atan2(other) -> Self; sinh() -> Self; cosh() -> Self; tanh() -> Self; powf(n) -> Self;
    floor() -> Self; ceil() -> Self; round() -> Self; trunc() -> Self; fract() -> Self;
    mul_add(a, b) -> Self; recip() -> Self; hypot(other) -> Self; copysign(sign) -> Self;
    to_degrees() -> Self; to_radians() -> Self; is_nan() -> bool; is_finite() -> bool;
    is_infinite() -> bool; is_sign_negative() -> bool; is_sign_positive() -> bool;
}

macro_rules! scalar {
    ($($t:ty => $s:ident),*) => {$(
        impl Scalar for $t {
            const SCALAR: ScalarType = ScalarType::$s;
        }
    )*};
}
scalar!(bool => Bool, i8 => I8, i16 => I16, i32 => I32, i64 => I64, isize => Isize,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64, usize => Usize, f32 => F32, f64 => F64);

/// `Num` for `$t`: `$zero`/`$one` its constants, `Wide::$wide` what it
/// widens to, as `$wide_ty`.
macro_rules! num {
    ($t:ty, $zero:expr, $one:expr, $wide:ident, $wide_ty:ty) => {
        impl Num for $t {
            const ZERO: Self = $zero;
            const ONE: Self = $one;
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            #[inline]
            fn to_wide(self) -> Wide {
                Wide::$wide(self as $wide_ty)
            }
            #[inline]
            fn from_wide(w: Wide) -> Self {
                match w {
                    Wide::Int(i) => i as $t,
                    Wide::Float(f) => f as $t,
                }
            }
        }
    };
}

macro_rules! int {
    ($($t:ty),*) => {$(
        num!($t, 0, 1, Int, i128);
        impl Int for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline] fn count_ones(self) -> u32 { <$t>::count_ones(self) }
            #[inline] fn count_zeros(self) -> u32 { <$t>::count_zeros(self) }
            #[inline] fn leading_zeros(self) -> u32 { <$t>::leading_zeros(self) }
            #[inline] fn trailing_zeros(self) -> u32 { <$t>::trailing_zeros(self) }
            #[inline] fn rotate_left(self, n: u32) -> Self { <$t>::rotate_left(self, n) }
            #[inline] fn rotate_right(self, n: u32) -> Self { <$t>::rotate_right(self, n) }
            #[inline] fn reverse_bits(self) -> Self { <$t>::reverse_bits(self) }
            #[inline] fn swap_bytes(self) -> Self { <$t>::swap_bytes(self) }
            #[inline] fn pow(self, exp: u32) -> Self { <$t>::wrapping_pow(self, exp) }
            #[inline] fn wrapping_add(self, r: Self) -> Self { <$t>::wrapping_add(self, r) }
            #[inline] fn wrapping_sub(self, r: Self) -> Self { <$t>::wrapping_sub(self, r) }
            #[inline] fn wrapping_mul(self, r: Self) -> Self { <$t>::wrapping_mul(self, r) }
            #[inline] fn wrapping_neg(self) -> Self { <$t>::wrapping_neg(self) }
            #[inline] fn saturating_add(self, r: Self) -> Self { <$t>::saturating_add(self, r) }
            #[inline] fn saturating_sub(self, r: Self) -> Self { <$t>::saturating_sub(self, r) }
        }
    )*};
}
int!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

macro_rules! float {
    ($($t:ty),*) => {$(
        num!($t, 0.0, 1.0, Float, f64);
        impl_float_math!($t);
        impl Float for $t {
            const INFINITY: Self = <$t>::INFINITY;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const NAN: Self = <$t>::NAN;
            const EPSILON: Self = <$t>::EPSILON;
        }
    )*};
}
float!(f32, f64);

#[cfg(test)]
mod tests {
    use super::*;

    /// `v.cast::<U>()` is `v as U`, for `v` of type `$from` and every
    /// `Num` type `U` (floats bit for bit, any NaN for a NaN).
    macro_rules! cast_is_as {
        ($from:ty: $($v:expr),*) => {$(
            let v: $from = $v;
            cast_is_as!(@to v: i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
            assert!(v.cast::<f32>().to_bits() == (v as f32).to_bits()
                || (v as f32).is_nan() && v.cast::<f32>().is_nan(), "{v:?} as f32");
            assert!(v.cast::<f64>().to_bits() == (v as f64).to_bits()
                || (v as f64).is_nan() && v.cast::<f64>().is_nan(), "{v:?} as f64");
        )*};
        (@to $v:ident: $($to:ty),*) => {$(
            assert_eq!($v.cast::<$to>(), $v as $to, "{:?} as {}", $v, stringify!($to));
        )*};
    }

    #[test]
    fn cast_is_as_between_every_two_types() {
        macro_rules! ints {
            ($($t:ty),*) => {$(
                cast_is_as!($t: <$t>::MIN, <$t>::MAX, 0, 1, <$t>::MAX / 3, <$t>::MIN / 7,
                    (200u8 as $t), (70_000u32 as $t), (u64::MAX / 5) as $t);
            )*};
        }
        ints!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
        macro_rules! floats {
            ($($t:ty),*) => {$(
                cast_is_as!($t: <$t>::NAN, <$t>::INFINITY, <$t>::NEG_INFINITY, -1.5, 300.7,
                    1e20, -1e20, 0.5, -0.0, 2147483647.0, -2147483649.0, 1.8446744e19,
                    <$t>::MIN, <$t>::MAX, <$t>::EPSILON);
            )*};
        }
        floats!(f32, f64);
    }

    #[test]
    fn the_constants_are_the_types_own() {
        assert_eq!(<i8 as Num>::MIN, i8::MIN);
        assert_eq!(<u64 as Num>::MAX, u64::MAX);
        assert_eq!(<f32 as Num>::MIN, f32::MIN);
        assert_eq!(<f64 as Num>::ONE + <f64 as Num>::ONE, 2.0);
        assert_eq!(<u16 as Int>::BITS, 16);
        assert_eq!(<usize as Scalar>::SCALAR, ScalarType::Usize);
    }
}
