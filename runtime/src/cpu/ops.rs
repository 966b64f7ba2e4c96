//! Lane kernels: one tight, monomorphic loop per (operation, scalar type),
//! chosen once when a kernel is compiled and stored as a function pointer
//! in its [`Inst`](super::program::Inst). Each loop runs over every lane of
//! a register with no per-lane dispatch, so the compiler can vectorise it.
//!
//! Pure operations compute inactive lanes too (their results are dead);
//! only faulting ones ([`DivFn`]) look at the active mask.
//!
//! Storage types: `bool` is `u8` 0/1, `usize`/`isize` are `u64`/`i64`.

use spindle_codegen::ir::{BinOp, FaultKind, Scalar, UnOp};

/// `d[l] = f(a[l])` for every lane.
pub(crate) type Map1Fn = unsafe fn(d: *mut u64, a: *const u64, n: usize);
/// `d[l] = f(a[l], b[l])` for every lane.
pub(crate) type Map2Fn = unsafe fn(d: *mut u64, a: *const u64, b: *const u64, n: usize);
/// `d[l] = f(a[l], b[l], c[l])` for every lane.
pub(crate) type Map3Fn =
    unsafe fn(d: *mut u64, a: *const u64, b: *const u64, c: *const u64, n: usize);
/// Integer `/` or `%` over every lane; active lanes (`mask[l] != 0`) that
/// fault are cleared from the mask and the lowest one is returned.
pub(crate) type DivFn = unsafe fn(
    d: *mut u64,
    a: *const u64,
    b: *const u64,
    mask: *mut u8,
    n: usize,
) -> Option<(usize, FaultKind)>;
/// `cond[l] = !done[l] && step[l] != 0 && counter[l] < end[l]` (or `<=`).
pub(crate) type ForCondFn = unsafe fn(
    cond: *mut u64,
    counter: *const u64,
    end: *const u64,
    step: *const u64,
    done: *const u64,
    n: usize,
);
/// `counter[l] += step[l]`, `done[l] = 1` where that overflows.
pub(crate) type ForStepFn =
    unsafe fn(counter: *mut u64, step: *const u64, done: *mut u64, n: usize);

/// The typed view of a register.
///
/// # Safety
/// `p` must point to a register slot of at least `n × 8` bytes, 8-aligned,
/// not written through another pointer while the slice lives.
#[inline(always)]
pub(crate) unsafe fn lanes<'a, T>(p: *const u64, n: usize) -> &'a [T] {
    // SAFETY: upheld by the caller; every `T` here is a plain scalar of at
    // most 8 bytes, valid for every bit pattern (bool is stored as u8).
    unsafe { std::slice::from_raw_parts(p.cast::<T>(), n) }
}

/// The typed, writable view of a register.
///
/// # Safety
/// As [`lanes`], and no other reference to the slot may exist.
#[inline(always)]
pub(crate) unsafe fn lanes_mut<'a, T>(p: *mut u64, n: usize) -> &'a mut [T] {
    // SAFETY: upheld by the caller.
    unsafe { std::slice::from_raw_parts_mut(p.cast::<T>(), n) }
}

/// A [`Map1Fn`] computing `$e` from `$x: $A`, giving `$R`.
macro_rules! map1 {
    ($A:ty => $R:ty, |$x:ident| $e:expr) => {{
        unsafe fn lanes_fn(d: *mut u64, a: *const u64, n: usize) {
            // SAFETY: the executor passes `n`-lane registers; the compiler
            // never makes the destination one of the sources.
            let (d, a) = unsafe {
                (
                    $crate::cpu::ops::lanes_mut::<$R>(d, n),
                    $crate::cpu::ops::lanes::<$A>(a, n),
                )
            };
            for (d, &$x) in d.iter_mut().zip(a) {
                *d = $e;
            }
        }
        lanes_fn as $crate::cpu::ops::Map1Fn
    }};
}

/// A [`Map2Fn`] computing `$e` from `$x: $A`, `$y: $B`, giving `$R`.
macro_rules! map2 {
    ($A:ty, $B:ty => $R:ty, |$x:ident, $y:ident| $e:expr) => {{
        unsafe fn lanes_fn(d: *mut u64, a: *const u64, b: *const u64, n: usize) {
            // SAFETY: as in `map1`.
            let (d, a, b) = unsafe {
                (
                    $crate::cpu::ops::lanes_mut::<$R>(d, n),
                    $crate::cpu::ops::lanes::<$A>(a, n),
                    $crate::cpu::ops::lanes::<$B>(b, n),
                )
            };
            for ((d, &$x), &$y) in d.iter_mut().zip(a).zip(b) {
                *d = $e;
            }
        }
        lanes_fn as $crate::cpu::ops::Map2Fn
    }};
}

/// A [`Map3Fn`] computing `$e` from `$x: $A`, `$y: $B`, `$z: $C`.
macro_rules! map3 {
    ($A:ty, $B:ty, $C:ty => $R:ty, |$x:ident, $y:ident, $z:ident| $e:expr) => {{
        unsafe fn lanes_fn(d: *mut u64, a: *const u64, b: *const u64, c: *const u64, n: usize) {
            // SAFETY: as in `map1`.
            let (d, a, b, c) = unsafe {
                (
                    $crate::cpu::ops::lanes_mut::<$R>(d, n),
                    $crate::cpu::ops::lanes::<$A>(a, n),
                    $crate::cpu::ops::lanes::<$B>(b, n),
                    $crate::cpu::ops::lanes::<$C>(c, n),
                )
            };
            for (((d, &$x), &$y), &$z) in d.iter_mut().zip(a).zip(b).zip(c) {
                *d = $e;
            }
        }
        lanes_fn as $crate::cpu::ops::Map3Fn
    }};
}

pub(crate) use {map1, map2, map3};

/// Calls `$m!(T, args…)` with the storage type of scalar `$s`.
macro_rules! with_storage {
    ($s:expr, $m:ident $(, $args:tt)*) => {
        match $s {
            Scalar::Bool | Scalar::U8 => $m!(u8 $(, $args)*),
            Scalar::U16 => $m!(u16 $(, $args)*),
            Scalar::U32 => $m!(u32 $(, $args)*),
            Scalar::U64 | Scalar::Usize => $m!(u64 $(, $args)*),
            Scalar::I8 => $m!(i8 $(, $args)*),
            Scalar::I16 => $m!(i16 $(, $args)*),
            Scalar::I32 => $m!(i32 $(, $args)*),
            Scalar::I64 | Scalar::Isize => $m!(i64 $(, $args)*),
            Scalar::F32 => $m!(f32 $(, $args)*),
            Scalar::F64 => $m!(f64 $(, $args)*),
        }
    };
}

/// Calls `$m!(T)` with the storage type of integer scalar `$s`; `$other`
/// for `bool` and floats.
macro_rules! with_int {
    ($s:expr, $m:ident, $other:expr) => {
        match $s {
            Scalar::U8 => $m!(u8),
            Scalar::U16 => $m!(u16),
            Scalar::U32 => $m!(u32),
            Scalar::U64 | Scalar::Usize => $m!(u64),
            Scalar::I8 => $m!(i8),
            Scalar::I16 => $m!(i16),
            Scalar::I32 => $m!(i32),
            Scalar::I64 | Scalar::Isize => $m!(i64),
            Scalar::Bool | Scalar::F32 | Scalar::F64 => $other,
        }
    };
}

/// The kernel for a binary operator on operands of type `s`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BinKernel {
    Map(Map2Fn),
    Div(DivFn),
}

/// Chooses the kernel of `a op b` with `a: s`. Shifts take a `u32` right
/// operand (the compiler casts the amount first, which keeps Rust's
/// masking: the low bits are the same). `And`/`Or` are bitwise on `bool`.
/// `None` when the operator does not apply to the type.
pub(crate) fn binary(op: BinOp, s: Scalar) -> Option<BinKernel> {
    use BinKernel::Map;
    macro_rules! cmp {
        ($T:ty) => {
            match op {
                BinOp::Eq => Some(Map(map2!($T, $T => u8, |x, y| (x == y) as u8))),
                BinOp::Ne => Some(Map(map2!($T, $T => u8, |x, y| (x != y) as u8))),
                BinOp::Lt => Some(Map(map2!($T, $T => u8, |x, y| (x < y) as u8))),
                BinOp::Le => Some(Map(map2!($T, $T => u8, |x, y| (x <= y) as u8))),
                BinOp::Gt => Some(Map(map2!($T, $T => u8, |x, y| (x > y) as u8))),
                BinOp::Ge => Some(Map(map2!($T, $T => u8, |x, y| (x >= y) as u8))),
                _ => None,
            }
        };
    }
    macro_rules! int {
        ($T:ty, $div:expr, $rem:expr) => {
            match op {
                BinOp::Add => Some(Map(map2!($T, $T => $T, |x, y| x.wrapping_add(y)))),
                BinOp::Sub => Some(Map(map2!($T, $T => $T, |x, y| x.wrapping_sub(y)))),
                BinOp::Mul => Some(Map(map2!($T, $T => $T, |x, y| x.wrapping_mul(y)))),
                BinOp::Div => Some(BinKernel::Div($div)),
                BinOp::Rem => Some(BinKernel::Div($rem)),
                BinOp::BitAnd => Some(Map(map2!($T, $T => $T, |x, y| x & y))),
                BinOp::BitOr => Some(Map(map2!($T, $T => $T, |x, y| x | y))),
                BinOp::BitXor => Some(Map(map2!($T, $T => $T, |x, y| x ^ y))),
                BinOp::Shl => Some(Map(map2!($T, u32 => $T, |x, y| x.wrapping_shl(y)))),
                BinOp::Shr => Some(Map(map2!($T, u32 => $T, |x, y| x.wrapping_shr(y)))),
                _ => cmp!($T),
            }
        };
    }
    macro_rules! float {
        ($T:ty) => {
            match op {
                BinOp::Add => Some(Map(map2!($T, $T => $T, |x, y| x + y))),
                BinOp::Sub => Some(Map(map2!($T, $T => $T, |x, y| x - y))),
                BinOp::Mul => Some(Map(map2!($T, $T => $T, |x, y| x * y))),
                BinOp::Div => Some(Map(map2!($T, $T => $T, |x, y| x / y))),
                BinOp::Rem => Some(Map(map2!($T, $T => $T, |x, y| x % y))),
                _ => cmp!($T),
            }
        };
    }
    macro_rules! signed {
        ($T:ty) => {
            int!(
                $T,
                div_signed!($T, wrapping_div),
                div_signed!($T, wrapping_rem)
            )
        };
    }
    macro_rules! unsigned {
        ($T:ty) => {
            int!(
                $T,
                div_unsigned!($T, wrapping_div),
                div_unsigned!($T, wrapping_rem)
            )
        };
    }
    match s {
        Scalar::Bool => match op {
            BinOp::BitAnd | BinOp::And => Some(Map(map2!(u8, u8 => u8, |x, y| x & y))),
            BinOp::BitOr | BinOp::Or => Some(Map(map2!(u8, u8 => u8, |x, y| x | y))),
            BinOp::BitXor => Some(Map(map2!(u8, u8 => u8, |x, y| x ^ y))),
            _ => cmp!(u8),
        },
        Scalar::U8 => unsigned!(u8),
        Scalar::U16 => unsigned!(u16),
        Scalar::U32 => unsigned!(u32),
        Scalar::U64 | Scalar::Usize => unsigned!(u64),
        Scalar::I8 => signed!(i8),
        Scalar::I16 => signed!(i16),
        Scalar::I32 => signed!(i32),
        Scalar::I64 | Scalar::Isize => signed!(i64),
        Scalar::F32 => float!(f32),
        Scalar::F64 => float!(f64),
    }
}

/// Signed `/` or `%`: faults on a zero divisor and on `MIN / -1` (Rust
/// panics on both, for `%` too).
macro_rules! div_signed {
    ($T:ty, $op:ident) => {{
        unsafe fn lanes_fn(
            d: *mut u64,
            a: *const u64,
            b: *const u64,
            mask: *mut u8,
            n: usize,
        ) -> Option<(usize, FaultKind)> {
            // SAFETY: as in `map1`; `mask` is the n-byte active mask, not
            // aliased by any register.
            let (d, a, b) =
                unsafe { (lanes_mut::<$T>(d, n), lanes::<$T>(a, n), lanes::<$T>(b, n)) };
            let mut bad = false;
            for ((d, &x), &y) in d.iter_mut().zip(a).zip(b) {
                let fault = y == 0 || (x == <$T>::MIN && y == -1);
                bad |= fault;
                *d = x.$op(if y == 0 { 1 } else { y });
            }
            if !bad {
                return None;
            }
            // SAFETY: see above.
            let mask = unsafe { std::slice::from_raw_parts_mut(mask, n) };
            let mut first = None;
            for l in 0..n {
                if mask[l] == 0 {
                    continue;
                }
                let kind = if b[l] == 0 {
                    FaultKind::DivideByZero
                } else if a[l] == <$T>::MIN && b[l] == -1 {
                    FaultKind::DivideOverflow
                } else {
                    continue;
                };
                mask[l] = 0;
                first = first.or(Some((l, kind)));
            }
            first
        }
        lanes_fn as DivFn
    }};
}

/// Unsigned `/` or `%`: faults on a zero divisor.
macro_rules! div_unsigned {
    ($T:ty, $op:ident) => {{
        unsafe fn lanes_fn(
            d: *mut u64,
            a: *const u64,
            b: *const u64,
            mask: *mut u8,
            n: usize,
        ) -> Option<(usize, FaultKind)> {
            // SAFETY: as in `div_signed`.
            let (d, a, b) =
                unsafe { (lanes_mut::<$T>(d, n), lanes::<$T>(a, n), lanes::<$T>(b, n)) };
            let mut bad = false;
            for ((d, &x), &y) in d.iter_mut().zip(a).zip(b) {
                bad |= y == 0;
                *d = x.$op(if y == 0 { 1 } else { y });
            }
            if !bad {
                return None;
            }
            // SAFETY: see above.
            let mask = unsafe { std::slice::from_raw_parts_mut(mask, n) };
            let mut first = None;
            for l in 0..n {
                if mask[l] != 0 && b[l] == 0 {
                    mask[l] = 0;
                    first = first.or(Some((l, FaultKind::DivideByZero)));
                }
            }
            first
        }
        lanes_fn as DivFn
    }};
}
use {div_signed, div_unsigned};

/// Chooses the kernel of `op a` with `a: s`: wrapping negation for
/// integers, logical not for `bool`, bitwise not for integers.
pub(crate) fn unary(op: UnOp, s: Scalar) -> Option<Map1Fn> {
    macro_rules! int {
        ($T:ty) => {
            match op {
                UnOp::Neg => Some(map1!($T => $T, |x| x.wrapping_neg())),
                UnOp::Not => Some(map1!($T => $T, |x| !x)),
            }
        };
    }
    match s {
        Scalar::Bool => match op {
            UnOp::Not => Some(map1!(u8 => u8, |x| x ^ 1)),
            UnOp::Neg => None,
        },
        Scalar::F32 => (op == UnOp::Neg).then(|| map1!(f32 => f32, |x| -x)),
        Scalar::F64 => (op == UnOp::Neg).then(|| map1!(f64 => f64, |x| -x)),
        _ => with_int!(s, int, None),
    }
}

/// The kernel of `a as to` with `a: from`, using Rust's `as` (float→int
/// saturates with NaN→0, int→float rounds to nearest, int→int truncates or
/// extends by the source's signedness; `bool` is 0/1). `None` for a cast
/// to `bool` from anything but `bool`, and for casts that need no code
/// (same storage, or integers of one width: `as` keeps the bits).
pub(crate) fn cast(from: Scalar, to: Scalar) -> Option<Map1Fn> {
    if to == Scalar::Bool || !needs_code(from, to) {
        return None;
    }
    macro_rules! to {
        ($F:ty) => {
            match to {
                Scalar::Bool => return None,
                Scalar::U8 => map1!($F => u8, |x| x as u8),
                Scalar::U16 => map1!($F => u16, |x| x as u16),
                Scalar::U32 => map1!($F => u32, |x| x as u32),
                Scalar::U64 | Scalar::Usize => map1!($F => u64, |x| x as u64),
                Scalar::I8 => map1!($F => i8, |x| x as i8),
                Scalar::I16 => map1!($F => i16, |x| x as i16),
                Scalar::I32 => map1!($F => i32, |x| x as i32),
                Scalar::I64 | Scalar::Isize => map1!($F => i64, |x| x as i64),
                Scalar::F32 => map1!($F => f32, |x| x as f32),
                Scalar::F64 => map1!($F => f64, |x| x as f64),
            }
        };
    }
    Some(with_storage!(from, to))
}

/// Whether `x as to` changes the stored bits of `x: from`.
pub(crate) fn needs_code(from: Scalar, to: Scalar) -> bool {
    let same_int =
        (from.is_int() || from == Scalar::Bool) && to.is_int() && from.size() == to.size();
    !(from == to || same_int)
}

/// The `for` loop kernels of an integer type: (exclusive condition,
/// inclusive condition, step).
pub(crate) fn for_loop(s: Scalar) -> Option<(ForCondFn, ForCondFn, ForStepFn)> {
    macro_rules! for_fns {
        ($T:ty) => {{
            unsafe fn cond_excl(
                c: *mut u64,
                k: *const u64,
                e: *const u64,
                s: *const u64,
                d: *const u64,
                n: usize,
            ) {
                // SAFETY: as in `map1`.
                let (c, k, e, s, d) = unsafe {
                    (
                        lanes_mut::<u8>(c, n),
                        lanes::<$T>(k, n),
                        lanes::<$T>(e, n),
                        lanes::<$T>(s, n),
                        lanes::<u8>(d, n),
                    )
                };
                for l in 0..n {
                    c[l] = (d[l] == 0 && s[l] != 0 && k[l] < e[l]) as u8;
                }
            }
            unsafe fn cond_incl(
                c: *mut u64,
                k: *const u64,
                e: *const u64,
                s: *const u64,
                d: *const u64,
                n: usize,
            ) {
                // SAFETY: as in `map1`.
                let (c, k, e, s, d) = unsafe {
                    (
                        lanes_mut::<u8>(c, n),
                        lanes::<$T>(k, n),
                        lanes::<$T>(e, n),
                        lanes::<$T>(s, n),
                        lanes::<u8>(d, n),
                    )
                };
                for l in 0..n {
                    c[l] = (d[l] == 0 && s[l] != 0 && k[l] <= e[l]) as u8;
                }
            }
            unsafe fn step(k: *mut u64, s: *const u64, d: *mut u64, n: usize) {
                // SAFETY: as in `map1`; `k`, `s`, `d` are distinct registers.
                let (k, s, d) = unsafe {
                    (
                        lanes_mut::<$T>(k, n),
                        lanes::<$T>(s, n),
                        lanes_mut::<u8>(d, n),
                    )
                };
                for l in 0..n {
                    let (next, over) = k[l].overflowing_add(s[l]);
                    k[l] = next;
                    d[l] |= over as u8;
                }
            }
            Some((
                cond_excl as ForCondFn,
                cond_incl as ForCondFn,
                step as ForStepFn,
            ))
        }};
    }
    with_int!(s, for_fns, None)
}
