//! Pinned host memory mapped into the GPU (`cuMemHostAlloc` with
//! `DEVICEMAP | PORTABLE`, not write-combined: the host reads it): ring
//! regions and the fault records of batch launches live there.
//!
//! Blocks are never freed while the process runs (freeing pinned memory
//! may synchronise the context, which a running actor would block); a ring
//! region whose kernel has ended goes back to its GPU's [`MappedPool`] for
//! the next actor.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};

use cudarc::driver::result::{self, DriverError};
use cudarc::driver::sys;
use spindle_codegen::ring::layout::CACHE_LINE;

use super::context::Gpu;
use super::driver::cuda_error;
use crate::{Error, Result};

/// One block of mapped pinned memory: a host and a device address of the
/// same bytes.
pub(crate) struct MappedBlock {
    host: NonNull<u8>,
    device: u64,
    size: usize,
}

// SAFETY: a handle to process-lifetime pinned memory; who may access the
// bytes is governed by the protocol of whoever holds the block.
unsafe impl Send for MappedBlock {}
// SAFETY: as above; the handle offers no access of its own.
unsafe impl Sync for MappedBlock {}

impl MappedBlock {
    /// Allocates at least `size` zeroed bytes, page-aligned. The context
    /// must be current on the calling thread.
    pub(crate) fn allocate(size: usize) -> std::result::Result<MappedBlock, DriverError> {
        let size = size.max(1).div_ceil(4096) * 4096;
        // Mapped into the device, usable from every context, cached on the
        // host (not write-combined: the host polls and reads it).
        let flags = sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE;
        // SAFETY: a plain allocation with a current context; the bytes are
        // zeroed below before anyone reads them.
        let host = unsafe { result::malloc_host(size, flags) }?;
        let host = NonNull::new(host.cast::<u8>())
            .ok_or(DriverError(sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY))?;
        let mut device: sys::CUdeviceptr = 0;
        // SAFETY: `host` was allocated with DEVICEMAP in the current context;
        // `device` is a valid place for the result.
        unsafe {
            sys::cuMemHostGetDevicePointer_v2(&mut device, host.as_ptr().cast::<c_void>(), 0)
        }
        .result()?;
        // SAFETY: `size` bytes at `host` were just allocated and are ours.
        unsafe { std::ptr::write_bytes(host.as_ptr(), 0, size) };
        Ok(MappedBlock { host, device, size })
    }

    /// A block over ordinary memory, for tests of code that only uses the
    /// host side.
    #[cfg(test)]
    pub(crate) fn from_raw_for_tests(host: NonNull<u8>, device: u64, size: usize) -> MappedBlock {
        MappedBlock { host, device, size }
    }

    /// The host address.
    pub(crate) fn host(&self) -> NonNull<u8> {
        self.host
    }

    /// The device address of the same bytes (for kernel arguments).
    pub(crate) fn device(&self) -> u64 {
        self.device
    }
}

/// A GPU's unused ring blocks.
#[derive(Default)]
pub(crate) struct MappedPool {
    idle: Mutex<Vec<MappedBlock>>,
}

/// A block lent from a GPU's [`MappedPool`]; back to the pool on drop.
/// The caller makes sure no kernel uses it any more by then.
pub(crate) struct MappedLease {
    gpu: Arc<Gpu>,
    block: Option<MappedBlock>,
}

impl MappedLease {
    /// The block.
    pub(crate) fn block(&self) -> &MappedBlock {
        self.block
            .as_ref()
            .expect("a lease holds its block until dropped")
    }
}

impl Drop for MappedLease {
    fn drop(&mut self) {
        if let Some(b) = self.block.take() {
            self.gpu
                .pinned
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(b);
        }
    }
}

impl Gpu {
    /// `size` zeroed bytes of mapped pinned memory, 128-byte aligned: a
    /// pooled block (at most 4× larger than asked, so small rings do not
    /// pin big blocks) or a new one.
    pub(crate) fn mapped(self: &Arc<Self>, size: usize) -> Result<MappedLease> {
        let reused = {
            let mut idle = self
                .pinned
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let pos = idle
                .iter()
                .position(|b| b.size >= size && b.size <= size.saturating_mul(4).max(4096));
            pos.map(|i| idle.swap_remove(i))
        };
        let block = match reused {
            Some(b) => {
                // SAFETY: the block is ours: pooled blocks are used by no
                // kernel (leases return only once their kernel ended).
                unsafe { std::ptr::write_bytes(b.host.as_ptr(), 0, b.size) };
                b
            }
            None => {
                let what = || format!("allocating {size} bytes of mapped pinned memory for a ring");
                self.bind().map_err(|e| cuda_error(&what(), e))?;
                MappedBlock::allocate(size).map_err(|e| match e.0 {
                    sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => Error::OutOfMemory {
                        what: "mapped pinned host memory for an actor's rings".into(),
                        bytes: size as u64,
                    },
                    _ => cuda_error(&what(), e),
                })?
            }
        };
        if !(block.host.as_ptr() as usize).is_multiple_of(CACHE_LINE) {
            return Err(Error::Cuda {
                context: "cuMemHostAlloc".into(),
                code: None,
                message: "pinned memory is not 128-byte aligned".into(),
                source: None,
            });
        }
        Ok(MappedLease {
            gpu: self.clone(),
            block: Some(block),
        })
    }
}
