//! Atomic read-modify-writes (`atomic_add(&mut place, v)`, …): each active
//! lane, in lane order, replaces the value at its address and gets the
//! value it replaced.
//!
//! Slice parameters (global memory) are shared with the host threads
//! running the launch's other block groups, so there every operation is a
//! host atomic on the element's bits (a compare-and-swap loop, which
//! covers wrapping integer arithmetic, signed and unsigned min/max and
//! float addition alike). Shared arrays, the ring state and blobs belong
//! to the one host thread running the block, where a plain read and write
//! is already atomic for every other thread that can see them.

use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spindle_codegen::ir::{AtomicOp, Scalar};

use super::exec::Lanes;
use super::ops::{lanes, lanes_mut};
use super::program::{Addr, Reg, Root};

/// The storage type of an atomic's place (`usize`/`isize` are 64-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AtomicTy {
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl AtomicTy {
    /// The storage type of `s`, when `op` exists for it.
    pub fn of(op: AtomicOp, s: Scalar) -> Option<AtomicTy> {
        if !op.supports(s) {
            return None;
        }
        Some(match s {
            Scalar::I32 => AtomicTy::I32,
            Scalar::U32 => AtomicTy::U32,
            Scalar::I64 | Scalar::Isize => AtomicTy::I64,
            Scalar::U64 | Scalar::Usize => AtomicTy::U64,
            Scalar::F32 => AtomicTy::F32,
            Scalar::F64 => AtomicTy::F64,
            _ => return None,
        })
    }
}

/// A host word the operation's bits live in, updated atomically.
trait Word: Copy {
    /// Applies `f` to the word at `p` atomically (retrying when another
    /// thread got in between); returns the word it replaced, or the word
    /// read when `f` declined to write.
    ///
    /// # Safety
    /// `p` is valid for reads and writes, aligned to the word's size, and
    /// only accessed by other threads through host atomics or in races the
    /// kernel itself has (see `SliceView` in `memory.rs`).
    unsafe fn update(p: *mut u8, f: impl FnMut(Self) -> Option<Self>) -> Self;
}

macro_rules! word {
    ($W:ty, $A:ty) => {
        impl Word for $W {
            unsafe fn update(p: *mut u8, f: impl FnMut(Self) -> Option<Self>) -> Self {
                // SAFETY: upheld by the caller.
                let a = unsafe { <$A>::from_ptr(p.cast::<$W>()) };
                // AcqRel: an atomic of the launch orders as a CUDA atomic
                // followed by a fence would; on x86 every RMW is locked.
                match a.fetch_update(Ordering::AcqRel, Ordering::Acquire, f) {
                    Ok(old) | Err(old) => old,
                }
            }
        }
    };
}
word!(u32, AtomicU32);
word!(u64, AtomicU64);

/// A scalar an atomic operates on.
trait AtomicScalar: Copy {
    type W: Word;
    fn to_word(self) -> Self::W;
    fn from_word(w: Self::W) -> Self;
    /// The value `op` leaves in place of `old`, with operands `a` (and `b`
    /// for `Cas`); `None` when it writes nothing (a `Cas` that failed, or an
    /// operation the type lacks, which the compiler never emits).
    fn apply(op: AtomicOp, old: Self, a: Self, b: Self) -> Option<Self>;
}

macro_rules! int_scalar {
    ($T:ty, $W:ty) => {
        impl AtomicScalar for $T {
            type W = $W;
            fn to_word(self) -> $W {
                self as $W
            }
            fn from_word(w: $W) -> Self {
                w as $T
            }
            fn apply(op: AtomicOp, old: Self, a: Self, b: Self) -> Option<Self> {
                Some(match op {
                    AtomicOp::Add => old.wrapping_add(a),
                    AtomicOp::Sub => old.wrapping_sub(a),
                    AtomicOp::Min => old.min(a),
                    AtomicOp::Max => old.max(a),
                    AtomicOp::And => old & a,
                    AtomicOp::Or => old | a,
                    AtomicOp::Xor => old ^ a,
                    AtomicOp::Exchange => a,
                    AtomicOp::Cas => return (old == a).then_some(b),
                })
            }
        }
    };
}
int_scalar!(i32, u32);
int_scalar!(u32, u32);
int_scalar!(i64, u64);
int_scalar!(u64, u64);

macro_rules! float_scalar {
    ($T:ty, $W:ty) => {
        impl AtomicScalar for $T {
            type W = $W;
            fn to_word(self) -> $W {
                self.to_bits()
            }
            fn from_word(w: $W) -> Self {
                <$T>::from_bits(w)
            }
            fn apply(op: AtomicOp, old: Self, a: Self, _b: Self) -> Option<Self> {
                match op {
                    AtomicOp::Add => Some(old + a),
                    // As CUDA defines it: an addition of the negation.
                    AtomicOp::Sub => Some(old + -a),
                    AtomicOp::Exchange => Some(a),
                    _ => None,
                }
            }
        }
    };
}
float_scalar!(f32, u32);
float_scalar!(f64, u64);

impl Lanes<'_> {
    /// `d = *at; *at = op(*at, a, b)` for each active lane, in lane order.
    pub(super) fn atomic(&mut self, op: AtomicOp, ty: AtomicTy, d: Reg, a: Reg, b: Reg, at: Addr) {
        match ty {
            AtomicTy::I32 => atomic_typed::<i32>(self, op, d, a, b, at),
            AtomicTy::U32 => atomic_typed::<u32>(self, op, d, a, b, at),
            AtomicTy::I64 => atomic_typed::<i64>(self, op, d, a, b, at),
            AtomicTy::U64 => atomic_typed::<u64>(self, op, d, a, b, at),
            AtomicTy::F32 => atomic_typed::<f32>(self, op, d, a, b, at),
            AtomicTy::F64 => atomic_typed::<f64>(self, op, d, a, b, at),
        }
    }
}

fn atomic_typed<T: AtomicScalar>(
    lanes_: &mut Lanes<'_>,
    op: AtomicOp,
    d: Reg,
    a: Reg,
    b: Reg,
    at: Addr,
) {
    let n = lanes_.n;
    let global = matches!(at.root, Root::Slice(_));
    let chunk = lanes_.root_chunk(at.root);
    let off = lanes_.offsets(at);
    // SAFETY: `d` is a T register distinct from `a`, `b` and the offsets
    // (`Inst::check_operands`); those are only read.
    let (dl, al, bl) = unsafe {
        (
            lanes_mut::<T>(lanes_.reg(d), n),
            lanes::<T>(lanes_.reg(a), n),
            lanes::<T>(lanes_.reg(b), n),
        )
    };
    // SAFETY: only reference to slot 0.
    let exec = unsafe { lanes_.mask(0) };
    for lo in (0..n).step_by(chunk) {
        let (base, stride) = lanes_.root(at.root, lo);
        for l in lo..lo + chunk {
            if exec[l] == 0 {
                continue;
            }
            let p = Lanes::lane_addr(base, stride, at.konst, off, l);
            let (x, y) = (al[l], bl[l]);
            let aligned = (p as usize).is_multiple_of(std::mem::size_of::<T>());
            dl[l] = if global && aligned {
                let f = |w: T::W| T::apply(op, T::from_word(w), x, y).map(T::to_word);
                // SAFETY: `p` is a bounds-checked element of a mutable slice
                // parameter (module doc of `memory.rs`), aligned (checked);
                // other host threads reach it only through this function or
                // in races of the kernel's own making.
                T::from_word(unsafe { T::W::update(p, f) })
            } else {
                // A block's own memory (or, never for IR-laid-out data, a
                // misaligned element): one host thread runs every lane that
                // can see it.
                // SAFETY: in bounds of a writable root (module doc of
                // `memory.rs`).
                unsafe {
                    let old = ptr::read_unaligned(p.cast::<T>());
                    if let Some(new) = T::apply(op, old, x, y) {
                        ptr::write_unaligned(p.cast::<T>(), new);
                    }
                    old
                }
            };
        }
    }
}
