//! The lanes' own memory: registers, blobs, mask slots and the per-block
//! shared areas of one host thread, and the base pointers the executor
//! reaches them through.
//!
//! The executor hands out several views into this memory at once (a
//! destination register and its sources, the active mask beside a frame
//! mask), which references into the `Vec`s cannot express. So the `Vec`s
//! are private to this module: [`LaneArena::resize`] sizes them while no
//! executor exists, and [`LaneArena::bases`] takes their base pointers once,
//! from `&mut self`, for the executor ([`super::exec::Lanes`]) built on
//! them. From then until that executor is dropped, every access to these
//! bytes goes through [`ArenaBases`] — nothing else can reach the `Vec`s
//! (their fields are private, and the executor holds the `&mut` borrow of
//! the arena for its whole life), so the pointers stay valid and keep
//! their write permission.

use super::memory::SharedChunk;

/// Sizes of each area, in its own unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ArenaSizes {
    /// Register slots, in words.
    pub regs: usize,
    /// Blob bytes of every lane, in words.
    pub blobs: usize,
    /// Mask slots, in words.
    pub masks: usize,
    /// Shared arrays of every block of a group, in words.
    pub shared: usize,
    /// Dynamic shared areas of every block of a group, in chunks.
    pub dynamic: usize,
}

/// One area of the arena, to name it in an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArenaPart {
    Registers,
    Blobs,
    Masks,
    Shared,
    DynamicShared,
}

impl ArenaPart {
    /// What the area holds, in words a user reads.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ArenaPart::Registers => "registers",
            ArenaPart::Blobs => "local values",
            ArenaPart::Masks => "masks",
            ArenaPart::Shared => "shared arrays",
            ArenaPart::DynamicShared => "dynamic shared memory",
        }
    }
}

/// The memory itself, reused from launch to launch (and kept between a
/// ring handler's messages).
#[derive(Debug, Default)]
pub(crate) struct LaneArena {
    regs: Vec<u64>,
    blobs: Vec<u64>,
    masks: Vec<u64>,
    shared: Vec<u64>,
    dynamic: Vec<SharedChunk>,
}

impl LaneArena {
    /// Makes every area exactly `sizes` long and zeroed, reusing the
    /// allocations. An area that cannot be allocated is an
    /// [`Error::OutOfMemory`](crate::Error::OutOfMemory) naming it with
    /// `what(part)`.
    pub(crate) fn resize(
        &mut self,
        sizes: ArenaSizes,
        what: &dyn Fn(ArenaPart) -> String,
    ) -> crate::Result<()> {
        fn zeroed<T: Copy + Default>(
            v: &mut Vec<T>,
            len: usize,
            part: ArenaPart,
            what: &dyn Fn(ArenaPart) -> String,
        ) -> crate::Result<()> {
            v.clear();
            crate::fallible::resize(v, len, T::default(), || what(part))
        }
        zeroed(&mut self.regs, sizes.regs, ArenaPart::Registers, what)?;
        zeroed(&mut self.blobs, sizes.blobs, ArenaPart::Blobs, what)?;
        zeroed(&mut self.masks, sizes.masks, ArenaPart::Masks, what)?;
        zeroed(&mut self.shared, sizes.shared, ArenaPart::Shared, what)?;
        zeroed(
            &mut self.dynamic,
            sizes.dynamic,
            ArenaPart::DynamicShared,
            what,
        )
    }

    /// The current size of each area.
    pub(crate) fn sizes(&self) -> ArenaSizes {
        ArenaSizes {
            regs: self.regs.len(),
            blobs: self.blobs.len(),
            masks: self.masks.len(),
            shared: self.shared.len(),
            dynamic: self.dynamic.len(),
        }
    }

    /// The base pointers, taken from `&mut self`: valid for reads and
    /// writes of each area's bytes until the arena is next borrowed, which
    /// the executor holding them prevents (module doc).
    pub(crate) fn bases(&mut self) -> ArenaBases {
        // `as_mut_ptr` makes no reference to the elements, so the pointers
        // keep the `Vec`s' own provenance (read and write).
        ArenaBases {
            regs: self.regs.as_mut_ptr(),
            blobs: self.blobs.as_mut_ptr().cast::<u8>(),
            masks: self.masks.as_mut_ptr(),
            shared: self.shared.as_mut_ptr().cast::<u8>(),
            dynamic: self.dynamic.as_mut_ptr().cast::<u8>(),
            sizes: self.sizes(),
        }
    }
}

/// Base pointers into a [`LaneArena`], with write permission (see the
/// module doc for how long they stay valid).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ArenaBases {
    pub regs: *mut u64,
    pub blobs: *mut u8,
    pub masks: *mut u64,
    pub shared: *mut u8,
    pub dynamic: *mut u8,
    /// The sizes the pointers cover (for debug checks).
    pub sizes: ArenaSizes,
}

impl ArenaBases {
    /// Zeroes `words` words of the registers from their start.
    ///
    /// # Safety
    /// `words` is at most the register area's size, and no view into those
    /// words is alive.
    pub(crate) unsafe fn clear_regs(&self, words: usize) {
        debug_assert!(words <= self.sizes.regs);
        // SAFETY: in bounds and unaliased, by the caller.
        unsafe { self.regs.write_bytes(0, words) }
    }

    /// Zeroes every blob and mask slot.
    ///
    /// # Safety
    /// No view into the blobs or masks is alive.
    pub(crate) unsafe fn clear_blobs_and_masks(&self) {
        // SAFETY: exactly the areas' sizes; unaliased, by the caller.
        unsafe {
            self.blobs.write_bytes(0, self.sizes.blobs * 8);
            self.masks.write_bytes(0, self.sizes.masks);
        }
    }

    /// Zeroes the first `words` words of the shared-array areas and the
    /// first `chunks` chunks of the dynamic shared areas.
    ///
    /// # Safety
    /// Both are within their areas, and no view into them is alive.
    pub(crate) unsafe fn clear_shared(&self, words: usize, chunks: usize) {
        debug_assert!(words <= self.sizes.shared && chunks <= self.sizes.dynamic);
        // SAFETY: in bounds and unaliased, by the caller.
        unsafe {
            self.shared.write_bytes(0, words * 8);
            self.dynamic
                .write_bytes(0, chunks * size_of::<SharedChunk>());
        }
    }
}
