//! Device intrinsics, for use inside `#[kernel]` and `#[device]` functions.
//!
//! These functions exist so a kernel's Rust type-checks; the kernel compiler
//! replaces every call. Called from ordinary host code they panic with a
//! message that says so.
//!
//! - Thread geometry: [`thread_idx`], [`block_idx`], [`block_dim`],
//!   [`grid_dim`], [`global_index`], [`lane_id`].
//! - Block-shared memory: [`shared_array`] and, sized by the launch,
//!   [`dynamic_shared`], with [`sync_threads`] between one thread's writes
//!   and other threads' reads.
//! - Atomics on shared places, returning the old value: [`atomic_add`],
//!   [`atomic_sub`], [`atomic_min`], [`atomic_max`], [`atomic_and`],
//!   [`atomic_or`], [`atomic_xor`], [`atomic_exchange`], [`atomic_cas`].
//! - Warp operations: [`warp_shuffle`], [`warp_shuffle_down`],
//!   [`warp_shuffle_up`], [`warp_shuffle_xor`], their sub-warp forms
//!   [`warp_shuffle_width`], [`warp_shuffle_down_width`],
//!   [`warp_shuffle_up_width`], [`warp_shuffle_xor_width`], [`warp_all`],
//!   [`warp_any`], [`warp_ballot`], [`sync_warp`].
//! - Bounds of generic kernels: [`Scalar`], [`Num`], [`Int`], [`Float`]
//!   (with [`Num::cast`] for `as` between type parameters).
//! - Fences: [`thread_fence`], [`thread_fence_block`],
//!   [`thread_fence_system`].
//!
//! [`sync_threads`] and the warp operations are *collective*: every thread
//! of the block (warp) that has not finished must reach the same call.
//! Reached by only part of it, they are undefined behaviour on a GPU; the
//! CPU backend stops the launch with a divergence fault
//! ([`FaultKind::DivergentBarrier`](crate::FaultKind::DivergentBarrier),
//! [`DivergentWarp`](crate::FaultKind::DivergentWarp)) naming the call.

#[doc(hidden)]
pub use crate::numeric::Wide;
pub use crate::numeric::{Float, FloatMath, Int, Num, Scalar};
pub use crate::Dim3;

#[cold]
#[track_caller]
fn outside(name: &str) -> ! {
    panic!(
        "spindle::gpu::{name}() was called outside a kernel: device intrinsics only work \
         inside #[kernel] and #[device] functions, which run on a spindle Device"
    )
}

/// This thread's index within its block.
#[track_caller]
pub fn thread_idx() -> Dim3 {
    outside("thread_idx")
}

/// This block's index within the grid.
#[track_caller]
pub fn block_idx() -> Dim3 {
    outside("block_idx")
}

/// The block's size in threads.
#[track_caller]
pub fn block_dim() -> Dim3 {
    outside("block_dim")
}

/// The grid's size in blocks.
#[track_caller]
pub fn grid_dim() -> Dim3 {
    outside("grid_dim")
}

/// `block_idx().x * block_dim().x + thread_idx().x`, as `usize`.
#[track_caller]
pub fn global_index() -> usize {
    outside("global_index")
}

/// This thread's lane in its warp: its linear index in the block (`x`
/// fastest, then `y`, then `z`) modulo 32.
#[track_caller]
pub fn lane_id() -> u32 {
    outside("lane_id")
}

// --- memory fences ---

/// Orders this thread's memory accesses as every thread of the launch sees
/// them: writes before the fence are visible before writes after it
/// (`__threadfence`). Not a barrier: no thread waits.
#[track_caller]
pub fn thread_fence() {
    outside("thread_fence")
}

/// Like [`thread_fence`], as seen by the threads of this block
/// (`__threadfence_block`).
#[track_caller]
pub fn thread_fence_block() {
    outside("thread_fence_block")
}

/// Like [`thread_fence`], as seen by the whole launch and the host
/// (`__threadfence_system`).
#[track_caller]
pub fn thread_fence_system() {
    outside("thread_fence_system")
}

// --- block-wide operations ---

/// A barrier for the block: every thread waits until all of the block's
/// threads have reached it, and the shared and global memory writes made
/// before it are visible to the whole block after it (`__syncthreads`).
///
/// Every thread of the block that has not finished (returned from the
/// kernel, or stopped by a fault) must reach the same call. A barrier
/// reached by only part of the block — inside an `if` that depends on
/// the thread — is undefined behaviour on a GPU, where it usually hangs;
/// the CPU backend stops the launch with a fault of kind
/// [`FaultKind::DivergentBarrier`](crate::FaultKind::DivergentBarrier)
/// naming the call.
#[track_caller]
pub fn sync_threads() {
    outside("sync_threads")
}

/// A block-shared array of `N` elements of `T`: every thread of the block
/// sees the same array (a CUDA `__shared__` variable).
///
/// Write it only as `let tile = shared_array::<T, N>();` (or `let tile:
/// &mut [T; N] = shared_array();`) in the kernel function itself — not in
/// a `#[device]` fn, not in another expression. `T` is a scalar or a
/// `DeviceType` struct; `N` an integer literal or a module-level `const`.
/// Use it by element: `tile[i]`, `tile[i] = v`, `tile[i] += v`,
/// `atomic_add(&mut tile[i], v)`, `tile.len()`; the binding cannot be
/// copied, passed to a function or reassigned. A kernel may declare at most
/// 48 KiB of shared arrays in all.
///
/// Its contents at the start of a block are undefined on a GPU (the CPU
/// backend zeroes them): write before you read, with a [`sync_threads`]
/// between one thread's write and another thread's read. In a ring kernel
/// the array lives as long as the actor.
///
/// ```ignore
/// use spindle::prelude::*;
///
/// #[kernel(mode = "batch")]
/// fn block_sums(x: &[f32], sums: &mut [f32]) {
///     let tile = shared_array::<f32, 256>();
///     let t = thread_idx().x as usize;
///     let i = global_index();
///     tile[t] = if i < x.len() { x[i] } else { 0.0 };
///     sync_threads();
///     if t == 0 {
///         let mut s = 0.0f32;
///         for k in 0..tile.len() {
///             s += tile[k];
///         }
///         sums[block_idx().x as usize] = s;
///     }
/// }
/// ```
#[track_caller]
pub fn shared_array<T: Copy, const N: usize>() -> &'static mut [T; N] {
    outside("shared_array")
}

/// A view of the launch's dynamic shared memory as elements of `T`: every
/// thread of the block sees the same memory (a CUDA `extern __shared__`
/// array), sized when the kernel is launched rather than when it is
/// written.
///
/// A launch with [`Launch::shared_bytes(n)`](crate::Launch::shared_bytes)
/// gives each block `n` bytes, aligned to 16; the view has `n /
/// size_of::<T>()` elements (`buf.len()`, rounded down; 0 without
/// `shared_bytes`). Every view starts at byte 0 of that memory, so two
/// views in one kernel alias each other, as `extern __shared__` arrays do.
/// Reading through one view what was written through a view of another
/// type is exact on the CPU backend; on a GPU it is only guaranteed when
/// the reading view is of `u8` or `i8` (the generated C++ follows C++'s
/// aliasing rules), so use separate regions — or `u8` views — otherwise.
///
/// Write it only as `let buf = dynamic_shared::<T>();` (or `let buf: &mut
/// [T] = dynamic_shared();`) in a batch kernel's function itself — not in a
/// `#[device]` fn, not in another expression, and not in a ring kernel,
/// which has no launch to size it (use [`shared_array`] there). `T` is a
/// scalar or a `DeviceType` struct aligned to at most 16 bytes. Use it by
/// element: `buf[i]` (bounds-checked against `buf.len()`), `buf[i] = v`,
/// `buf[i] += v`, `atomic_add(&mut buf[i], v)`, `buf.len()`; the binding
/// cannot be copied, passed to a function or reassigned.
///
/// Its contents at the start of a block are undefined on a GPU (the CPU
/// backend zeroes them): write before you read, with a [`sync_threads`]
/// between one thread's write and another thread's read.
///
/// A block reduction whose block size is chosen at run time:
///
/// ```ignore
/// use spindle::prelude::*;
///
/// #[kernel(mode = "batch")]
/// fn block_sums(x: &[f32], sums: &mut [f32]) {
///     let part = dynamic_shared::<f32>();
///     let t = thread_idx().x as usize;
///     let i = global_index();
///     part[t] = if i < x.len() { x[i] } else { 0.0 };
///     sync_threads();
///     let mut stride = part.len() / 2;
///     while stride > 0 {
///         if t < stride {
///             part[t] += part[t + stride];
///         }
///         sync_threads();
///         stride /= 2;
///     }
///     if t == 0 {
///         sums[block_idx().x as usize] = part[0];
///     }
/// }
///
/// // One f32 per thread; `threads` a power of two.
/// let launch = Launch::new(blocks, threads).shared_bytes(threads * 4);
/// block_sums::launch(&dev, launch, &x, &mut sums)?;
/// ```
#[track_caller]
pub fn dynamic_shared<T: Copy>() -> &'static mut [T] {
    outside("dynamic_shared")
}

// --- atomics ---

mod sealed {
    pub trait Sealed {}
    macro_rules! sealed {
        ($($t:ty)*) => { $(impl Sealed for $t {})* };
    }
    sealed!(bool i8 i16 i32 i64 isize u8 u16 u32 u64 usize f32 f64);
}

/// A type atomics can update: the 32- and 64-bit integers (`i32`, `u32`,
/// `i64`, `u64`, `isize`, `usize`), `f32` and `f64`. Sealed.
pub trait AtomicValue: Copy + sealed::Sealed {}

/// An integer type every atomic operation can update: `i32`, `u32`, `i64`,
/// `u64`, `isize`, `usize`. Sealed.
pub trait AtomicInt: AtomicValue {}

macro_rules! impl_atomic {
    (ints: $($i:ty)*; floats: $($f:ty)*) => {
        $(impl AtomicValue for $i {} impl AtomicInt for $i {})*
        $(impl AtomicValue for $f {})*
    };
}
impl_atomic!(ints: i32 u32 i64 u64 isize usize; floats: f32 f64);

/// `*place += v`, atomically; returns the old value. Integers wrap.
///
/// `place` must be memory that threads share: an element of a
/// `&mut [T]` kernel parameter (`&mut out[i]`), of a [`shared_array`]
/// (`&mut tile[i]`), or the ring state (`&mut state.count`); never a
/// local. Atomic with respect to every thread of the launch.
///
/// ```ignore
/// use spindle::prelude::*;
///
/// #[kernel(mode = "batch")]
/// fn histogram(x: &[u32], hist: &mut [u32]) {
///     let i = global_index();
///     if i < x.len() {
///         let b = (x[i] % 16) as usize;
///         atomic_add(&mut hist[b], 1);
///     }
/// }
/// ```
#[track_caller]
pub fn atomic_add<T: AtomicValue>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_add")
}

/// `*place -= v`, atomically; returns the old value. Integers wrap.
/// The place rules of [`atomic_add`] apply.
#[track_caller]
pub fn atomic_sub<T: AtomicValue>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_sub")
}

/// `*place = v`, atomically; returns the old value. The place rules of
/// [`atomic_add`] apply.
#[track_caller]
pub fn atomic_exchange<T: AtomicValue>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_exchange")
}

/// `*place = min(*place, v)`, atomically; returns the old value.
/// Integers only. The place rules of [`atomic_add`] apply.
#[track_caller]
pub fn atomic_min<T: AtomicInt>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_min")
}

/// `*place = max(*place, v)`, atomically; returns the old value.
/// Integers only. The place rules of [`atomic_add`] apply.
#[track_caller]
pub fn atomic_max<T: AtomicInt>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_max")
}

/// `*place &= v`, atomically; returns the old value. The place rules
/// of [`atomic_add`] apply.
#[track_caller]
pub fn atomic_and<T: AtomicInt>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_and")
}

/// `*place |= v`, atomically; returns the old value. The place rules
/// of [`atomic_add`] apply.
#[track_caller]
pub fn atomic_or<T: AtomicInt>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_or")
}

/// `*place ^= v`, atomically; returns the old value. The place rules
/// of [`atomic_add`] apply.
#[track_caller]
pub fn atomic_xor<T: AtomicInt>(place: &mut T, v: T) -> T {
    let _ = (place, v);
    outside("atomic_xor")
}

/// Compare and swap: if `*place == current`, `*place = new`; returns
/// the old value either way (the swap happened when it equals
/// `current`). Integers only. The place rules of [`atomic_add`] apply.
#[track_caller]
pub fn atomic_cas<T: AtomicInt>(place: &mut T, current: T, new: T) -> T {
    let _ = (place, current, new);
    outside("atomic_cas")
}

// --- warp operations ---

/// A value a warp shuffle can move: every scalar (`bool`, the integers,
/// `f32`, `f64`). Shuffle a struct or array one field or element at a
/// time. Sealed.
pub trait ShuffleValue: Copy + sealed::Sealed {}

macro_rules! impl_shuffle {
    ($($t:ty)*) => { $(impl ShuffleValue for $t {})* };
}
impl_shuffle!(bool i8 i16 i32 i64 isize u8 u16 u32 u64 usize f32 f64);

/// A barrier for the warp (`__syncwarp`): the warp's threads wait for each
/// other, and their memory writes before it are visible to each other
/// after it.
///
/// Warps are the block's threads in linear order (`x` fastest), 32 at a
/// time; the last one may be partial. Like every warp operation, it must be
/// called by every thread of the warp that has not finished (returned or
/// faulted): called by only some, it is undefined behaviour on a GPU, and
/// the CPU backend stops the launch with a fault of kind
/// [`FaultKind::DivergentWarp`](crate::FaultKind::DivergentWarp) naming the
/// call.
#[track_caller]
pub fn sync_warp() {
    outside("sync_warp")
}

/// `v` as held by lane `src_lane % 32` of this warp. A source lane that is
/// not a thread of the warp (past the end of a partial last warp) gives
/// the caller its own `v`. Every unfinished thread of the warp must call
/// it (see [`sync_warp`]).
#[track_caller]
pub fn warp_shuffle<T: ShuffleValue>(v: T, src_lane: u32) -> T {
    let _ = (v, src_lane);
    outside("warp_shuffle")
}

/// `v` as held by lane `lane_id() + delta`; when that lane is past 31 or
/// not a thread of the warp, the caller's own `v`. The building block of a
/// warp reduction:
///
/// ```ignore
/// use spindle::prelude::*;
///
/// #[device]
/// fn warp_sum(mut v: f32) -> f32 {
///     let mut d = 16u32;
///     while d > 0 {
///         v += warp_shuffle_down(v, d);
///         d /= 2;
///     }
///     v // lane 0 holds the warp's sum
/// }
/// ```
///
/// Every unfinished thread of the warp must call it (see [`sync_warp`]).
#[track_caller]
pub fn warp_shuffle_down<T: ShuffleValue>(v: T, delta: u32) -> T {
    let _ = (v, delta);
    outside("warp_shuffle_down")
}

/// `v` as held by lane `lane_id() - delta`; when that is below 0, the
/// caller's own `v`. Every unfinished thread of the warp must call it (see
/// [`sync_warp`]).
#[track_caller]
pub fn warp_shuffle_up<T: ShuffleValue>(v: T, delta: u32) -> T {
    let _ = (v, delta);
    outside("warp_shuffle_up")
}

/// `v` as held by lane `lane_id() ^ mask`; when that lane is past 31 or
/// not a thread of the warp, the caller's own `v`. Every unfinished thread
/// of the warp must call it (see [`sync_warp`]).
#[track_caller]
pub fn warp_shuffle_xor<T: ShuffleValue>(v: T, mask: u32) -> T {
    let _ = (v, mask);
    outside("warp_shuffle_xor")
}

/// [`warp_shuffle`] within segments of `width` lanes (CUDA's `width`
/// argument of `__shfl_sync`): the warp splits into segments of `width`
/// consecutive lanes, and each thread reads lane `src_lane % width` of its
/// own segment. `width` must be a power of two from 1 to 32; any other
/// value stops the thread with an error naming the call and the width
/// (a literal one is a compile error). `width == 32` is [`warp_shuffle`].
///
/// Every unfinished thread of the caller's *segment* must call it; other
/// segments of the warp need not (CUDA's `shfl_scan` sample has only the
/// first `n` lanes of a warp shuffle with `width = n`).
#[track_caller]
pub fn warp_shuffle_width<T: ShuffleValue>(v: T, src_lane: u32, width: u32) -> T {
    let _ = (v, src_lane, width);
    outside("warp_shuffle_width")
}

/// [`warp_shuffle_down`] within segments of `width` lanes: `v` of lane
/// `lane_id() + delta` when that lane is in the caller's segment, else the
/// caller's own `v`. `width` and the segment rule as for
/// [`warp_shuffle_width`].
#[track_caller]
pub fn warp_shuffle_down_width<T: ShuffleValue>(v: T, delta: u32, width: u32) -> T {
    let _ = (v, delta, width);
    outside("warp_shuffle_down_width")
}

/// [`warp_shuffle_up`] within segments of `width` lanes: `v` of lane
/// `lane_id() - delta` when that lane is in the caller's segment, else the
/// caller's own `v` (so the first `delta` lanes of each segment keep
/// theirs). `width` and the segment rule as for [`warp_shuffle_width`].
/// The step of a segment-wide inclusive scan:
///
/// ```ignore
/// use spindle::prelude::*;
///
/// #[device]
/// fn scan8(mut v: i32) -> i32 {
///     let mut d = 1u32;
///     while d < 8 {
///         let n = warp_shuffle_up_width(v, d, 8);
///         if lane_id() % 8 >= d {
///             v += n;
///         }
///         d *= 2;
///     }
///     v // the sum of v over this lane and the earlier lanes of its 8
/// }
/// ```
#[track_caller]
pub fn warp_shuffle_up_width<T: ShuffleValue>(v: T, delta: u32, width: u32) -> T {
    let _ = (v, delta, width);
    outside("warp_shuffle_up_width")
}

/// [`warp_shuffle_xor`] within segments of `width` lanes: `v` of lane
/// `lane_id() ^ mask` unless that lane lies past the end of the caller's
/// segment (then the caller's own `v`); as in CUDA, lanes of *earlier*
/// segments can be read. `width` and the segment rule as for
/// [`warp_shuffle_width`] (a source in a segment that did not call it
/// gives the caller its own `v`).
#[track_caller]
pub fn warp_shuffle_xor_width<T: ShuffleValue>(v: T, mask: u32, width: u32) -> T {
    let _ = (v, mask, width);
    outside("warp_shuffle_xor_width")
}

/// Whether `p` holds on every thread of the warp. Every unfinished thread
/// of the warp must call it (see [`sync_warp`]).
#[track_caller]
pub fn warp_all(p: bool) -> bool {
    let _ = p;
    outside("warp_all")
}

/// Whether `p` holds on some thread of the warp. Every unfinished thread
/// of the warp must call it (see [`sync_warp`]).
#[track_caller]
pub fn warp_any(p: bool) -> bool {
    let _ = p;
    outside("warp_any")
}

/// A bit mask of the lanes where `p` holds: bit `l` is lane `l`'s `p`
/// (lanes that are not threads of the warp give 0). Every unfinished
/// thread of the warp must call it (see [`sync_warp`]).
#[track_caller]
pub fn warp_ballot(p: bool) -> u32 {
    let _ = p;
    outside("warp_ballot")
}
