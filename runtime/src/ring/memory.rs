//! The memory a ring lives in: [`RingMemory`] (the word and byte accesses
//! the protocol needs) and [`RawRegion`] (a region of real memory: ordinary
//! heap for the CPU executor, pinned mapped host memory for CUDA, or memory
//! shared with host-compiled CUDA code).
//!
//! The protocol code is generic over [`RingMemory`] so the very same code
//! runs over real memory and, under loom, over a model of it.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use spindle_codegen::ring::layout::{RingLayout, CACHE_LINE};

use crate::Result;

/// Word and byte accesses to a ring region, by byte offset.
///
/// Words are 4-byte aligned `u32`s accessed atomically; byte ranges are
/// payloads and are only touched while the protocol gives this side
/// exclusive access to them (see `spindle_codegen::ring::layout`).
pub trait RingMemory: Send + Sync {
    /// Atomically loads the `u32` at `offset`.
    fn load(&self, offset: usize, order: Ordering) -> u32;

    /// Atomically stores the `u32` at `offset`.
    fn store(&self, offset: usize, value: u32, order: Ordering);

    /// An atomic fence, for code that orders relaxed accesses with
    /// fences as the generated GPU loop does (a model of the memory
    /// replaces it with its own).
    fn fence(&self, order: Ordering) {
        std::sync::atomic::fence(order)
    }

    /// Copies `src` to the bytes at `offset`.
    ///
    /// # Safety
    ///
    /// The protocol must give the caller exclusive access to those bytes:
    /// no other side reads or writes them until a later release store by
    /// the caller is acquired by that side.
    unsafe fn write_bytes(&self, offset: usize, src: &[u8]);

    /// Copies the bytes at `offset` into `dst`.
    ///
    /// # Safety
    ///
    /// The last writer of those bytes must have released them to the
    /// caller (a release store the caller acquired), and nobody may write
    /// them until the caller releases them again.
    unsafe fn read_bytes(&self, offset: usize, dst: &mut [u8]);
}

/// Bytes of real memory that rings live in, 128-byte aligned: the memory
/// under a [`RawRegion`] (one actor) or an actor group's region. Words
/// and payloads are reached by byte offset through [`RingMemory`].
pub struct RawBytes {
    base: NonNull<u8>,
    len: usize,
    /// Keeps the memory alive (and frees it when dropped): a [`HeapBlock`]
    /// from [`RawBytes::heap`], or whatever owns external memory (pinned
    /// CUDA memory, a test's buffer).
    _owner: Box<dyn Send + Sync>,
}

/// A region of real memory holding one actor's control block, rings and
/// state-out area, laid out by a [`RingLayout`].
pub struct RawRegion {
    bytes: RawBytes,
    /// Its `total_size` is the region's length.
    layout: RingLayout,
}

/// Zeroed, 128-byte aligned heap memory, freed on drop.
struct HeapBlock {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Drop for HeapBlock {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed(self.layout)` and is freed
        // once, here.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

// SAFETY: HeapBlock is an owned allocation; moving or sharing the handle
// across threads is fine (accesses go through RawBytes's protocol rules).
unsafe impl Send for HeapBlock {}
// SAFETY: as above; HeapBlock itself offers no access to the memory.
unsafe impl Sync for HeapBlock {}

// SAFETY: the memory is only accessed through atomics (words) or under
// the protocol's exclusive-access rules (payloads); the owner is Send.
unsafe impl Send for RawBytes {}
// SAFETY: as above: shared access is what the memory is for, and every
// concurrent access is atomic or ordered by the protocol.
unsafe impl Sync for RawBytes {}

impl RawBytes {
    /// `len` zeroed bytes of heap memory (`len > 0`), or
    /// [`crate::Error::OutOfMemory`] naming `what` when they cannot be
    /// allocated.
    pub fn heap(len: usize, what: impl FnOnce() -> String) -> Result<RawBytes> {
        let oom = || crate::fallible::out_of_memory(what(), len as u64);
        if len == 0 {
            return Err(oom());
        }
        let Ok(mem) = Layout::from_size_align(len, CACHE_LINE) else {
            return Err(oom());
        };
        // SAFETY: `len` is non-zero (checked above).
        let raw = unsafe { std::alloc::alloc_zeroed(mem) };
        let Some(ptr) = NonNull::new(raw) else {
            return Err(oom());
        };
        Ok(RawBytes {
            base: ptr,
            len,
            _owner: Box::new(HeapBlock { ptr, layout: mem }),
        })
    }

    /// Bytes someone else allocated.
    ///
    /// # Safety
    ///
    /// `base` must point to `len` zeroed bytes, aligned to 128, valid for
    /// reads and writes from any thread until `owner` is dropped, and not
    /// accessed except through the ring protocol.
    pub unsafe fn external(base: NonNull<u8>, len: usize, owner: Box<dyn Send + Sync>) -> RawBytes {
        debug_assert_eq!(base.as_ptr() as usize % CACHE_LINE, 0);
        RawBytes {
            base,
            len,
            _owner: owner,
        }
    }

    /// The first byte (host address).
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the length is zero (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "ring word {offset} out of the region"
        );
        // SAFETY: in bounds and 4-aligned (checked above; the base is
        // 128-aligned); the memory lives as long as `self`, and every
        // concurrent access to this word is atomic (the protocol never
        // reads or writes a word non-atomically while the other side may
        // access it).
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(offset).cast::<u32>()) }
    }
}

impl RingMemory for RawBytes {
    fn load(&self, offset: usize, order: Ordering) -> u32 {
        self.word(offset).load(order)
    }

    fn store(&self, offset: usize, value: u32, order: Ordering) {
        self.word(offset).store(value, order)
    }

    unsafe fn write_bytes(&self, offset: usize, src: &[u8]) {
        assert!(
            offset + src.len() <= self.len,
            "ring payload out of the region"
        );
        // SAFETY: in bounds (checked); exclusive access is the caller's
        // contract; `src` is ordinary memory that cannot overlap the
        // region's shared bytes the caller holds exclusively.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(offset), src.len())
        }
    }

    unsafe fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        assert!(
            offset + dst.len() <= self.len,
            "ring payload out of the region"
        );
        // SAFETY: in bounds (checked); the caller's contract makes the
        // bytes stable and visible to us; `dst` is a distinct buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            )
        }
    }
}

impl std::fmt::Debug for RawBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBytes")
            .field("base", &self.base)
            .field("len", &self.len)
            .finish()
    }
}

impl RawRegion {
    /// Zeroed heap memory for `layout` (the CPU executor's region) of the
    /// actor `kernel`; [`crate::Error::OutOfMemory`] when it cannot be allocated
    /// (a large capacity times a large message or reply).
    pub fn heap(layout: RingLayout, kernel: &str) -> Result<RawRegion> {
        let bytes = RawBytes::heap(layout.total_size, || {
            format!(
                "the rings of actor `{kernel}` ({} slots of {} + {} bytes)",
                layout.capacity, layout.request.stride, layout.reply.stride
            )
        })?;
        Ok(RawRegion { bytes, layout })
    }

    /// A region over memory someone else allocated.
    ///
    /// # Safety
    ///
    /// `base` must point to `layout.total_size` zeroed bytes, aligned to
    /// 128, valid for reads and writes from any thread until `owner` is
    /// dropped, and not accessed except through the ring protocol.
    pub unsafe fn external(
        base: NonNull<u8>,
        layout: RingLayout,
        owner: Box<dyn Send + Sync>,
    ) -> RawRegion {
        // SAFETY: the caller's contract is `RawBytes::external`'s.
        let bytes = unsafe { RawBytes::external(base, layout.total_size, owner) };
        RawRegion { bytes, layout }
    }

    /// The layout the region was made for.
    pub fn layout(&self) -> &RingLayout {
        &self.layout
    }

    /// The first byte of the region (host address).
    pub fn base(&self) -> *mut u8 {
        self.bytes.base()
    }

    /// Writes the `config` line. Only before the executor starts.
    pub(crate) fn write_config(&self, words: &spindle_codegen::ring::layout::RingConfigWords) {
        let bytes = crate::ring::protocol::config_bytes(words);
        // SAFETY: no executor runs yet, so nobody else touches the region;
        // the config line lies inside it.
        unsafe { self.write_bytes(spindle_codegen::ring::layout::offsets::CONFIG, &bytes) }
    }
}

impl RingMemory for RawRegion {
    fn load(&self, offset: usize, order: Ordering) -> u32 {
        self.bytes.load(offset, order)
    }

    fn store(&self, offset: usize, value: u32, order: Ordering) {
        self.bytes.store(offset, value, order)
    }

    unsafe fn write_bytes(&self, offset: usize, src: &[u8]) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.bytes.write_bytes(offset, src) }
    }

    unsafe fn read_bytes(&self, offset: usize, dst: &mut [u8]) {
        // SAFETY: the caller's contract, passed on.
        unsafe { self.bytes.read_bytes(offset, dst) }
    }
}

impl std::fmt::Debug for RawRegion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawRegion")
            .field("base", &self.bytes.base)
            .field("len", &self.layout.total_size)
            .field("capacity", &self.layout.capacity)
            .finish()
    }
}
