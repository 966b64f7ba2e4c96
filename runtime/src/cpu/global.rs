//! Reads and writes of writable global memory (`&mut [T]` parameters),
//! which every host thread running blocks of a launch reaches at once.
//! (A `&[T]` parameter has no writer during a launch: plain reads.)
//!
//! On a GPU, two threads that write one element without an atomic (or one
//! writes while another reads) race, and the element ends up holding one
//! of the values; kernels do this on purpose (every block storing the same
//! length, flags set by many threads). In Rust the same race between host
//! threads is undefined behaviour, so the interpreter never makes a plain
//! access to global memory: each element is read and written with a
//! relaxed atomic of its width (a plain `mov` on x86-64 and a plain
//! load/store on AArch64, so it costs the vectorisation of the copy and
//! nothing else), bytes one by one where an address is not aligned for
//! its width. A racing kernel then gets what a GPU gives it (one of the
//! values), and a race-free one the same values as before.
//!
//! Atomic read-modify-writes on global memory (`runtime/src/cpu/atomic.rs`)
//! use the same atomic types, so they mix with these accesses soundly.

use std::mem::size_of;
use std::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};

/// A scalar of 1, 2, 4 or 8 bytes that global memory holds.
pub(super) trait Word: Copy {
    /// Loads `Self` from `p` with relaxed atomics.
    ///
    /// # Safety
    /// `p` is valid for reads of `size_of::<Self>()` bytes for the whole
    /// call, and every concurrent access to those bytes is atomic.
    unsafe fn load(p: *const u8) -> Self;
    /// Stores `self` at `p` with relaxed atomics.
    ///
    /// # Safety
    /// `p` is valid for writes of `size_of::<Self>()` bytes, and every
    /// concurrent access to those bytes is atomic.
    unsafe fn store(self, p: *mut u8);
}

macro_rules! word {
    ($T:ty, $A:ty) => {
        impl Word for $T {
            #[inline(always)]
            unsafe fn load(p: *const u8) -> Self {
                if (p as usize).is_multiple_of(align_of::<$T>()) {
                    // SAFETY: aligned and valid for reads (the caller);
                    // every concurrent access is atomic.
                    unsafe { <$A>::from_ptr(p.cast_mut().cast::<$T>()) }.load(Relaxed)
                } else {
                    let mut b = [0u8; size_of::<$T>()];
                    // SAFETY: as above, byte by byte.
                    unsafe { load_bytes(p, b.as_mut_ptr(), b.len()) };
                    <$T>::from_ne_bytes(b)
                }
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut u8) {
                if (p as usize).is_multiple_of(align_of::<$T>()) {
                    // SAFETY: aligned and valid for writes (the caller).
                    unsafe { <$A>::from_ptr(p.cast::<$T>()) }.store(self, Relaxed)
                } else {
                    let b = self.to_ne_bytes();
                    // SAFETY: as above, byte by byte.
                    unsafe { store_bytes(b.as_ptr(), p, b.len()) };
                }
            }
        }
    };
}
word!(u8, AtomicU8);
word!(u16, AtomicU16);
word!(u32, AtomicU32);
word!(u64, AtomicU64);

/// Copies `n` bytes of global memory at `src` to `dst`, which only this
/// thread sees (a register, a blob, shared memory).
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `n` bytes; the ranges
/// do not overlap; concurrent accesses to `src` are atomic.
#[inline]
pub(super) unsafe fn load_bytes(src: *const u8, dst: *mut u8, n: usize) {
    for k in 0..n {
        // SAFETY: in bounds (the caller); one byte, atomically.
        let b = unsafe { AtomicU8::from_ptr(src.add(k).cast_mut()) }.load(Relaxed);
        // SAFETY: in bounds, private to this thread.
        unsafe { dst.add(k).write(b) };
    }
}

/// Copies `n` private bytes at `src` to global memory at `dst`.
///
/// # Safety
/// As [`load_bytes`], with the roles swapped.
#[inline]
pub(super) unsafe fn store_bytes(src: *const u8, dst: *mut u8, n: usize) {
    for k in 0..n {
        // SAFETY: in bounds, private to this thread.
        let b = unsafe { src.add(k).read() };
        // SAFETY: in bounds (the caller); one byte, atomically.
        unsafe { AtomicU8::from_ptr(dst.add(k)) }.store(b, Relaxed);
    }
}

/// Copies `n` bytes from `src` to `dst`, either or both of which may be
/// writable global memory (`src_shared`, `dst_shared`: those sides are
/// moved with relaxed atomics, byte by byte); the ranges may overlap (as
/// `ptr::copy`).
///
/// # Safety
/// `src` is valid for reads and `dst` for writes of `n` bytes; every
/// concurrent access to a side marked shared is atomic, and a side not
/// marked shared has no concurrent writer.
pub(super) unsafe fn copy_bytes(
    src: *const u8,
    src_shared: bool,
    dst: *mut u8,
    dst_shared: bool,
    n: usize,
) {
    let step = |k: usize| {
        // SAFETY: k < n: in bounds of both ranges (the caller); each side
        // atomically where others may reach it.
        unsafe {
            let b = if src_shared {
                AtomicU8::from_ptr(src.add(k).cast_mut()).load(Relaxed)
            } else {
                src.add(k).read()
            };
            if dst_shared {
                AtomicU8::from_ptr(dst.add(k)).store(b, Relaxed);
            } else {
                dst.add(k).write(b);
            }
        }
    };
    if (dst as usize) > (src as usize) && (dst as usize) < (src as usize).wrapping_add(n) {
        // `dst` starts inside `src`: backwards, as memmove does.
        (0..n).rev().for_each(step);
    } else {
        (0..n).for_each(step);
    }
}

/// Loads `n` consecutive `T` from global memory at `src` into the private
/// lanes at `dst`.
///
/// # Safety
/// `src` is valid for reads of `n` values of `T`, `dst` (aligned for `T`)
/// for writes of `n` values; concurrent accesses to `src` are atomic.
#[inline]
pub(super) unsafe fn load_run<T: Word>(src: *const u8, dst: *mut T, n: usize) {
    for k in 0..n {
        // SAFETY: element k of both runs (the caller).
        unsafe { dst.add(k).write(T::load(src.add(k * size_of::<T>()))) };
    }
}

/// Stores `n` private `T` from `src` to global memory at `dst`.
///
/// # Safety
/// As [`load_run`], with the roles swapped.
#[inline]
pub(super) unsafe fn store_run<T: Word>(src: *const T, dst: *mut u8, n: usize) {
    for k in 0..n {
        // SAFETY: element k of both runs (the caller).
        unsafe { src.add(k).read().store(dst.add(k * size_of::<T>())) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_aligned_and_not() {
        for off in 0..8 {
            // A fresh buffer per offset: each byte is only ever reached
            // with one access size, as elements of a typed slice are.
            let mut buf = [0u64; 4];
            let base = buf.as_mut_ptr().cast::<u8>();
            // SAFETY: off + 8 ≤ 32 and off + 19 ≤ 32; no other thread.
            unsafe {
                0x0102_0304_0506_0708u64.store(base.add(off));
                assert_eq!(u64::load(base.add(off)), 0x0102_0304_0506_0708);
                0xa1b2u16.store(base.add(off + 17));
                assert_eq!(u16::load(base.add(off + 17)), 0xa1b2);
            }
        }
    }

    #[test]
    fn overlapping_copies_move_like_memmove() {
        let mut a: Vec<u8> = (0..16).collect();
        let p = a.as_mut_ptr();
        // SAFETY: both ranges lie in `a`.
        unsafe { copy_bytes(p, true, p.add(3), true, 10) };
        assert_eq!(&a[3..13], &(0..10).collect::<Vec<u8>>()[..]);
        let mut b: Vec<u8> = (0..16).collect();
        let q = b.as_mut_ptr();
        // SAFETY: as above.
        unsafe { copy_bytes(q.add(3), false, q, true, 10) };
        assert_eq!(&b[0..10], &(3..13).collect::<Vec<u8>>()[..]);
    }

    #[test]
    fn runs_of_words_copy_in_and_out() {
        let src: Vec<u32> = (0..37).map(|i| i * 7).collect();
        let mut lanes = vec![0u32; 37];
        let mut back = vec![0u32; 37];
        // SAFETY: 37 values each way; no other thread.
        unsafe {
            load_run::<u32>(src.as_ptr().cast(), lanes.as_mut_ptr(), 37);
            store_run::<u32>(lanes.as_ptr(), back.as_mut_ptr().cast(), 37);
        }
        assert_eq!(back, src);
    }
}
