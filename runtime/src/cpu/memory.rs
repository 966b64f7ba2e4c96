//! Memory the lanes read and write: slice parameters shared by every host
//! thread, by-value aggregates, the ring state, per-block shared arrays,
//! per-block dynamic shared memory and per-lane blobs; and the
//! bounds-checked index computation.
//!
//! Every address is checked before it is used: constant offsets come from
//! the struct layout, dynamic ones from `Index`, which checks every index
//! against its length whether or not the kernel asked for bounds checks
//! (host memory safety depends on it; on a GPU an unchecked out-of-bounds
//! access is undefined, so reporting it is a valid outcome there too).

use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::AtomicBool;

use spindle_codegen::ir::{FaultKind, SiteId, DYNAMIC_SHARED_ALIGN};

use super::exec::Lanes;
use super::global::{self, Word};
use super::ops::{lanes, lanes_mut};
use super::program::{Addr, Len, Reg, Root, Width};

/// A slice argument's bytes as the lanes see them: a raw pointer, because
/// every host thread running blocks of the launch reads and writes it at
/// once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SliceView {
    pub ptr: *mut u8,
    /// Length in elements.
    pub len: u64,
    /// A `&mut [T]` (or the ring state): written during the launch, so
    /// global memory's atomics (`global.rs`) reach it. A `&[T]` is only
    /// read, with plain loads.
    pub writable: bool,
}

// SAFETY: a `SliceView` is only created from a buffer borrowed for the
// whole launch (`&Mem` / `&mut Mem` in the launch's arguments, or the
// state of a ring handler), and the launch joins every host thread before
// that borrow ends. Lanes only touch elements they bounds-checked, and
// only with relaxed atomics (`global.rs`): threads of different blocks that
// write one element race as GPU threads do, without a data race in Rust's
// sense. Reads of a `&[T]` slice never write.
unsafe impl Send for SliceView {}
// SAFETY: as above.
unsafe impl Sync for SliceView {}

/// What a launch (or ring message) binds the program to.
pub(crate) struct Env<'a> {
    /// Slice parameters, by slice slot.
    pub slices: Vec<SliceView>,
    /// Aggregate by-value parameters, by uniform slot.
    pub uniforms: Vec<&'a [u8]>,
    /// Scalar by-value parameters' bits, by parameter index (0 for others).
    pub scalars: Vec<u64>,
    /// The ring state (`len` = its size in bytes), or a null view.
    pub state: SliceView,
    pub block_dim: [u32; 3],
    pub grid_dim: [u32; 3],
    /// Bytes of dynamic shared memory per block (`Launch::shared_bytes`;
    /// 0 for a ring message).
    pub dynamic_shared_bytes: u32,
    /// When raised, the run stops at its next loop iteration (a ring
    /// handler the host gave up on); `None` for batch launches.
    pub stop: Option<&'a AtomicBool>,
    pub _borrow: PhantomData<&'a mut [u8]>,
}

impl Env<'_> {
    /// Threads per block.
    pub fn threads(&self) -> usize {
        self.block_dim.iter().map(|&d| d as usize).product()
    }

    pub fn scalar_param(&self, p: usize) -> u64 {
        self.scalars.get(p).copied().unwrap_or(0)
    }

    /// Elements of `elem` bytes (not 0) in a dynamic shared view.
    pub fn dynamic_shared_len(&self, elem: u32) -> u64 {
        (self.dynamic_shared_bytes / elem.max(1)) as u64
    }

    /// Bytes from one block's dynamic shared area to the next: the
    /// launch's `shared_bytes`, rounded up to whole [`SharedChunk`]s.
    pub fn dynamic_shared_stride(&self) -> usize {
        (self.dynamic_shared_bytes as usize).next_multiple_of(size_of::<SharedChunk>())
    }
}

/// The unit of dynamic shared memory: 16 bytes at the area's alignment
/// (`DYNAMIC_SHARED_ALIGN`), so every block's area starts aligned for
/// any element a view may have.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(16))]
pub(crate) struct SharedChunk(
    // Only reached through raw pointers into the area.
    #[allow(dead_code)] [u8; 16],
);

const _: () = assert!(std::mem::align_of::<SharedChunk>() == DYNAMIC_SHARED_ALIGN as usize);
const _: () = assert!(size_of::<SharedChunk>() == DYNAMIC_SHARED_ALIGN as usize);

/// The bits of a scalar of `bytes.len()` bytes (1, 2, 4 or 8), zero-extended.
pub(crate) fn scalar_bits(bytes: &[u8]) -> Option<u64> {
    Some(match bytes.len() {
        1 => bytes[0] as u64,
        2 => u16::from_ne_bytes(bytes.try_into().ok()?) as u64,
        4 => u32::from_ne_bytes(bytes.try_into().ok()?) as u64,
        8 => u64::from_ne_bytes(bytes.try_into().ok()?),
        _ => return None,
    })
}

macro_rules! by_width {
    ($w:expr, $f:ident ( $($a:expr),* )) => {
        match $w {
            Width::W1 => $f::<u8>($($a),*),
            Width::W2 => $f::<u16>($($a),*),
            Width::W4 => $f::<u32>($($a),*),
            Width::W8 => $f::<u64>($($a),*),
        }
    };
}

impl Lanes<'_> {
    /// Whether a root is writable global memory, which other host threads
    /// reach at once (`global.rs`); every other root is private to the
    /// thread running the lanes (blobs, uniforms, the ring state, a block's
    /// shared memory) or never written (a `&[T]`).
    #[inline(always)]
    pub(super) fn is_shared(&self, root: Root) -> bool {
        matches!(root, Root::Slice(s) if self.env.slices[s as usize].writable)
    }

    /// Base pointer and per-lane stride of a root, for lanes in the chunk
    /// of [`Lanes::root_chunk`] lanes that starts at `lane` (lane `l`'s
    /// address is `base + l × stride + …`).
    pub(super) fn root(&self, root: Root, lane: usize) -> (*mut u8, usize) {
        match root {
            Root::Blob(b) => {
                let def = self.prog.blobs[b as usize];
                (self.blob_base(def.offset), def.size as usize)
            }
            Root::Slice(s) => (self.env.slices[s as usize].ptr, 0),
            // Read only: the compiler never makes a uniform place writable
            // (`compile_place.rs`), so nothing writes through this pointer.
            Root::Uniform(u) => (self.env.uniforms[u as usize].as_ptr().cast_mut(), 0),
            Root::State => (self.env.state.ptr, 0),
            Root::Shared => {
                let block = lane / self.block_threads;
                let at = block * self.prog.shared_bytes as usize;
                debug_assert!(at + (self.prog.shared_bytes as usize) <= self.mem.sizes.shared * 8);
                // SAFETY: the area holds `shared_bytes` per block of the
                // group; writing through the pointer is fine as for blobs.
                (unsafe { self.mem.shared.add(at) }, 0)
            }
            Root::DynamicShared => {
                let at = lane / self.block_threads * self.dynamic_stride;
                debug_assert!(
                    at + self.dynamic_stride <= self.mem.sizes.dynamic * size_of::<SharedChunk>()
                );
                // SAFETY: the area holds `dynamic_stride` bytes per block
                // of the group; writing through the pointer is fine as for
                // blobs.
                (unsafe { self.mem.dynamic.add(at) }, 0)
            }
        }
    }

    /// Lanes over which [`Lanes::root`] stays the same: all of them, or a
    /// block's for its shared arrays and dynamic shared memory.
    #[inline(always)]
    pub(super) fn root_chunk(&self, root: Root) -> usize {
        match root {
            Root::Shared | Root::DynamicShared => self.block_threads,
            _ => self.n,
        }
    }

    /// `d = slice[idx]` on active lanes; out-of-bounds lanes fault.
    pub(super) fn load_slice(&mut self, w: Width, d: Reg, slice: u32, idx: Reg, site: SiteId) {
        by_width!(w, load_slice_typed(self, d, slice, idx, site))
    }

    /// `slice[idx] = s` on active lanes; out-of-bounds lanes fault.
    pub(super) fn store_slice(&mut self, w: Width, s: Reg, slice: u32, idx: Reg, site: SiteId) {
        by_width!(w, store_slice_typed(self, s, slice, idx, site))
    }

    /// `off = base + idx * stride` after checking `idx < len`.
    pub(super) fn index(
        &mut self,
        off: Reg,
        base: Option<Reg>,
        idx: Reg,
        len: Len,
        stride: u32,
        site: SiteId,
    ) {
        let n = self.n;
        let len = match len {
            Len::Const(l) => l,
            Len::Slice(s) => self.env.slices[s as usize].len,
            Len::DynamicShared { elem } => self.env.dynamic_shared_len(elem),
        };
        let stride = stride as u64;
        // SAFETY: `off`, `idx` and `base` are n-lane u64 registers; `off`
        // is a fresh temporary, distinct from the others.
        let (o, i) = unsafe {
            (
                lanes_mut::<u64>(self.reg(off), n),
                lanes::<u64>(self.reg(idx), n),
            )
        };
        match base {
            Some(b) => {
                // SAFETY: as above.
                let b = unsafe { lanes::<u64>(self.reg(b), n) };
                for ((o, &i), &b) in o.iter_mut().zip(i).zip(b) {
                    *o = b.wrapping_add(i.wrapping_mul(stride));
                }
            }
            None => {
                for (o, &i) in o.iter_mut().zip(i) {
                    *o = i.wrapping_mul(stride);
                }
            }
        }
        // SAFETY: only reference to slot 0.
        let exec = unsafe { self.mask(0) };
        let bad = exec
            .iter()
            .zip(i)
            .fold(false, |acc, (&e, &i)| acc | (e != 0 && i >= len));
        if bad {
            for l in 0..n {
                if exec[l] != 0 && i[l] >= len {
                    exec[l] = 0;
                    self.record_fault(l, FaultKind::OutOfBounds, site, i[l], len);
                }
            }
            self.recount();
        }
    }

    /// Faults the active lanes where `idx >= len` (`idx > len` when
    /// `inclusive`).
    pub(super) fn check(&mut self, idx: Reg, len: Reg, site: SiteId, inclusive: bool) {
        let n = self.n;
        // SAFETY: `idx` and `len` are n-lane u64 registers, only read.
        let (i, len) = unsafe {
            (
                lanes::<u64>(self.reg(idx), n),
                lanes::<u64>(self.reg(len), n),
            )
        };
        let out = |i: u64, len: u64| if inclusive { i > len } else { i >= len };
        // SAFETY: only reference to slot 0.
        let exec = unsafe { self.mask(0) };
        let bad = (0..n).any(|l| exec[l] != 0 && out(i[l], len[l]));
        if bad {
            for l in 0..n {
                if exec[l] != 0 && out(i[l], len[l]) {
                    exec[l] = 0;
                    self.record_fault(l, FaultKind::OutOfBounds, site, i[l], len[l]);
                }
            }
            self.recount();
        }
    }

    /// Faults the active lanes where the `bool` register `cond` is false.
    pub(super) fn assert(&mut self, cond: Reg, site: SiteId) {
        let n = self.n;
        // SAFETY: `cond` is an n-lane u8 register, only read.
        let c = unsafe { lanes::<u8>(self.reg(cond), n) };
        // SAFETY: only reference to slot 0.
        let exec = unsafe { self.mask(0) };
        if (0..n).any(|l| exec[l] != 0 && c[l] == 0) {
            for l in 0..n {
                if exec[l] != 0 && c[l] == 0 {
                    exec[l] = 0;
                    self.record_fault(l, FaultKind::Assertion, site, 0, 0);
                }
            }
            self.recount();
        }
    }

    /// The byte address of lane `l` of `at`.
    #[inline(always)]
    pub(super) fn lane_addr(
        base: *mut u8,
        stride: usize,
        konst: u32,
        off: Option<&[u64]>,
        l: usize,
    ) -> *mut u8 {
        let o = l * stride + konst as usize + off.map_or(0, |o| o[l] as usize);
        base.wrapping_add(o)
    }

    pub(super) fn offsets(&self, at: Addr) -> Option<&[u64]> {
        // SAFETY: an n-lane u64 register, only read here.
        at.off.map(|r| unsafe { lanes::<u64>(self.reg(r), self.n) })
    }

    /// `d = *at` on active lanes.
    pub(super) fn load(&mut self, w: Width, d: Reg, at: Addr) {
        by_width!(w, load_typed(self, d, at))
    }

    /// `*at = s` on active lanes.
    pub(super) fn store(&mut self, w: Width, s: Reg, at: Addr) {
        by_width!(w, store_typed(self, s, at))
    }

    /// Copies `size` bytes per active lane (the ranges may overlap).
    pub(super) fn copy(&mut self, size: u32, dst: Addr, src: Addr) {
        let n = self.n;
        let chunk = self.root_chunk(dst.root).min(self.root_chunk(src.root));
        let (doff, soff) = (self.offsets(dst), self.offsets(src));
        let (dst_shared, src_shared) = (self.is_shared(dst.root), self.is_shared(src.root));
        // SAFETY: only reference to slot 0.
        let exec = unsafe { self.mask(0) };
        for lo in (0..n).step_by(chunk) {
            let (db, ds) = self.root(dst.root, lo);
            let (sb, ss) = self.root(src.root, lo);
            for (l, &e) in exec.iter().enumerate().skip(lo).take(chunk) {
                if e != 0 {
                    let d = Self::lane_addr(db, ds, dst.konst, doff, l);
                    let s = Self::lane_addr(sb, ss, src.konst, soff, l);
                    if dst_shared || src_shared {
                        // SAFETY: both addresses are in bounds of their
                        // roots for `size` bytes (see the module doc); the
                        // copy allows overlap and is atomic byte by byte on
                        // a writable slice.
                        unsafe { global::copy_bytes(s, src_shared, d, dst_shared, size as usize) };
                    } else {
                        // SAFETY: as above; neither root is a writable slice.
                        unsafe { ptr::copy(s, d, size as usize) };
                    }
                }
            }
        }
    }

    /// Copies element 0 at `at` over elements `1..count` on active lanes.
    pub(super) fn repeat(&mut self, elem: u32, count: u32, at: Addr) {
        let n = self.n;
        let chunk = self.root_chunk(at.root);
        let off = self.offsets(at);
        let global = self.is_shared(at.root);
        // SAFETY: only reference to slot 0.
        let exec = unsafe { self.mask(0) };
        for lo in (0..n).step_by(chunk) {
            let (b, stride) = self.root(at.root, lo);
            for (l, &e) in exec.iter().enumerate().skip(lo).take(chunk) {
                if e != 0 {
                    let first = Self::lane_addr(b, stride, at.konst, off, l);
                    for k in 1..count as usize {
                        let to = first.wrapping_add(k * elem as usize);
                        if global {
                            // SAFETY: the array of `count` elements lies in
                            // bounds at `first`; atomic byte by byte.
                            unsafe { global::copy_bytes(first, true, to, true, elem as usize) };
                        } else {
                            // SAFETY: as above; elements do not overlap.
                            unsafe { ptr::copy_nonoverlapping(first, to, elem as usize) };
                        }
                    }
                }
            }
        }
    }
}

impl Lanes<'_> {
    /// Whether index register `r` holds `b, b + 1, …, b + n - 1` (the
    /// common `x[global_index()]` pattern), and `b`.
    #[inline(always)]
    fn consecutive(&self, r: Reg) -> Option<u64> {
        if Some(r) == self.prog.global_index {
            return self.global_base;
        }
        // SAFETY: an n-lane u64 register, only read while this view lives.
        let idx = unsafe { lanes::<u64>(self.reg(r), self.n) };
        let b = *idx.first()?;
        let ok = idx
            .iter()
            .enumerate()
            .fold(true, |acc, (l, &i)| acc & (i == b.wrapping_add(l as u64)));
        ok.then_some(b)
    }
}

fn load_slice_typed<T: Word>(lanes_: &mut Lanes<'_>, d: Reg, slice: u32, idx: Reg, site: SiteId) {
    let n = lanes_.n;
    let v = lanes_.env.slices[slice as usize];
    let size = std::mem::size_of::<T>();
    if lanes_.live == n {
        if let Some(b) = lanes_.consecutive(idx) {
            if b <= v.len && v.len - b >= n as u64 {
                // SAFETY: elements b..b+n are inside the slice (checked just
                // above); the register holds n values of T.
                unsafe {
                    let (src, dst) = (v.ptr.add(b as usize * size), lanes_.reg(d));
                    if v.writable {
                        global::load_run::<T>(src, dst.cast::<T>(), n)
                    } else {
                        ptr::copy_nonoverlapping(src, dst.cast::<u8>(), n * size)
                    }
                };
                prefetch_next(v, b + n as u64, n * size, size);
                return;
            }
        }
    }
    lanes_.ensure_global_index();
    // SAFETY: `d` (T lanes) and `idx` (u64 lanes) are distinct registers.
    let (dl, il) = unsafe {
        (
            lanes_mut::<T>(lanes_.reg(d), n),
            lanes::<u64>(lanes_.reg(idx), n),
        )
    };
    // SAFETY: only reference to slot 0.
    let exec = unsafe { lanes_.mask(0) };
    let mut faulted = false;
    for l in 0..n {
        if exec[l] == 0 {
            continue;
        }
        let i = il[l];
        if i < v.len {
            // SAFETY: element i is inside the slice.
            dl[l] = unsafe {
                let p = v.ptr.add(i as usize * size);
                if v.writable {
                    T::load(p)
                } else {
                    ptr::read_unaligned(p.cast::<T>())
                }
            };
        } else {
            exec[l] = 0;
            faulted = true;
            lanes_.record_fault(l, FaultKind::OutOfBounds, site, i, v.len);
        }
    }
    if faulted {
        lanes_.recount();
    }
}

fn store_slice_typed<T: Word>(lanes_: &mut Lanes<'_>, s: Reg, slice: u32, idx: Reg, site: SiteId) {
    let n = lanes_.n;
    let v = lanes_.env.slices[slice as usize];
    let size = std::mem::size_of::<T>();
    if lanes_.live == n {
        if let Some(b) = lanes_.consecutive(idx) {
            if b <= v.len && v.len - b >= n as u64 {
                // SAFETY: elements b..b+n are inside the (mutable) slice;
                // the register holds n values of T.
                unsafe {
                    global::store_run::<T>(
                        lanes_.reg(s).cast::<T>(),
                        v.ptr.add(b as usize * size),
                        n,
                    )
                };
                return;
            }
        }
    }
    lanes_.ensure_global_index();
    // SAFETY: `s` (T lanes) and `idx` (u64 lanes) are registers, only read.
    let (sl, il) = unsafe {
        (
            lanes::<T>(lanes_.reg(s), n),
            lanes::<u64>(lanes_.reg(idx), n),
        )
    };
    // SAFETY: only reference to slot 0.
    let exec = unsafe { lanes_.mask(0) };
    let mut faulted = false;
    for l in 0..n {
        if exec[l] == 0 {
            continue;
        }
        let i = il[l];
        if i < v.len {
            // SAFETY: element i is inside the (mutable) slice.
            unsafe { sl[l].store(v.ptr.add(i as usize * size)) };
        } else {
            exec[l] = 0;
            faulted = true;
            lanes_.record_fault(l, FaultKind::OutOfBounds, site, i, v.len);
        }
    }
    if faulted {
        lanes_.recount();
    }
}

fn load_typed<T: Word>(lanes_: &mut Lanes<'_>, d: Reg, at: Addr) {
    let n = lanes_.n;
    let global = lanes_.is_shared(at.root);
    let chunk = lanes_.root_chunk(at.root);
    let off = lanes_.offsets(at);
    // SAFETY: `d` is a fresh T register distinct from the offsets register.
    let dl = unsafe { lanes_mut::<T>(lanes_.reg(d), n) };
    // SAFETY: only reference to slot 0.
    let exec = unsafe { lanes_.mask(0) };
    for lo in (0..n).step_by(chunk) {
        let (base, stride) = lanes_.root(at.root, lo);
        for l in lo..lo + chunk {
            if exec[l] != 0 {
                let p = Lanes::lane_addr(base, stride, at.konst, off, l);
                // SAFETY: in bounds of the root (module doc); global memory
                // atomically.
                dl[l] = unsafe {
                    if global {
                        T::load(p)
                    } else {
                        ptr::read_unaligned(p.cast::<T>())
                    }
                };
            }
        }
    }
}

fn store_typed<T: Word>(lanes_: &mut Lanes<'_>, s: Reg, at: Addr) {
    let n = lanes_.n;
    let global = lanes_.is_shared(at.root);
    let chunk = lanes_.root_chunk(at.root);
    let off = lanes_.offsets(at);
    // SAFETY: `s` is only read.
    let sl = unsafe { lanes::<T>(lanes_.reg(s), n) };
    // SAFETY: only reference to slot 0.
    let exec = unsafe { lanes_.mask(0) };
    for lo in (0..n).step_by(chunk) {
        let (base, stride) = lanes_.root(at.root, lo);
        for l in lo..lo + chunk {
            if exec[l] != 0 {
                let p = Lanes::lane_addr(base, stride, at.konst, off, l);
                // SAFETY: in bounds of a writable root (the compiler
                // rejects stores into `&[T]` and read-only parameters);
                // global memory atomically.
                unsafe {
                    if global {
                        sl[l].store(p)
                    } else {
                        ptr::write_unaligned(p.cast::<T>(), sl[l])
                    }
                };
            }
        }
    }
}

/// Hints the CPU to fetch the slice elements the next group of blocks will
/// likely load (the hardware prefetcher stops at each 4 KiB page, and a
/// group's loads are page-sized bursts).
#[inline(always)]
fn prefetch_next(v: SliceView, from: u64, bytes: usize, size: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let avail = (v.len.saturating_sub(from) as usize)
            .saturating_mul(size)
            .min(bytes);
        let start = v.ptr.wrapping_add(from as usize * size);
        for off in (0..avail).step_by(64) {
            // SAFETY: a prefetch is only a hint; it never faults, and the
            // address lies within the slice.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(off).cast::<i8>()) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, from, bytes, size);
}
