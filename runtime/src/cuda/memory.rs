//! Device memory of buffers: allocation, upload, download, free.
//!
//! Every copy is issued on the GPU's stream (`Gpu::stream`, non-blocking)
//! and waited for before it returns, so host slices passed in are never
//! read after the call. Allocations are stream-ordered
//! (`cuMemAllocAsync`/`cuMemFreeAsync` on that stream) where the GPU
//! supports memory pools, so neither waits for other streams' kernels (a
//! running actor); an allocation is synchronised before it is handed out,
//! so every stream may use it. The memory is a raw driver allocation, not
//! a cudarc `CudaSlice`: its free binds the context first (a buffer may be
//! dropped on a thread that never used the GPU) and logs a failure instead
//! of recording it where an unrelated call would report it (see
//! `super::context`).

use std::sync::Arc;

use cudarc::driver::result::{self, DriverError};
use cudarc::driver::sys;

use super::context::Gpu;
use super::driver::cuda_error;
use super::CudaDevice;
use crate::{Error, Result};

/// Device memory of a buffer: `len` bytes (at least one byte is allocated,
/// so an empty buffer still has a valid address).
pub struct DeviceMem {
    gpu: Arc<Gpu>,
    ptr: sys::CUdeviceptr,
    len: usize,
}

impl DeviceMem {
    /// `true` when the allocation lives on `dev`'s GPU.
    pub(crate) fn belongs_to(&self, dev: &CudaDevice) -> bool {
        Arc::ptr_eq(&self.gpu, &dev.gpu)
    }

    /// `len` bytes, zeroed or of unspecified contents, ordered on the GPU's
    /// stream: usable from other streams after the next [`Self::sync`].
    fn alloc(gpu: &Arc<Gpu>, len: usize, zeroed: bool) -> Result<DeviceMem> {
        let what = || format!("allocating {len} bytes on the GPU");
        gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        let bytes = len.max(1);
        let stream = gpu.stream.raw();
        // SAFETY: the context is current and `stream` is its stream.
        let ptr = unsafe {
            if gpu.async_alloc {
                result::malloc_async(stream, bytes)
            } else {
                result::malloc_sync(bytes)
            }
        }
        .map_err(|e| match e.0 {
            sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY => Error::OutOfMemory {
                what: format!("a buffer on GPU {} ({})", gpu.ordinal, gpu.name),
                bytes: bytes as u64,
            },
            _ => cuda_error(&what(), e),
        })?;
        // Owned from here: a failure below frees it.
        let mem = DeviceMem {
            gpu: gpu.clone(),
            ptr,
            len,
        };
        if zeroed {
            // SAFETY: `bytes` bytes at `ptr` were just allocated on this
            // stream; the memset is ordered after the allocation.
            unsafe { result::memset_d8_async(ptr, 0, bytes, stream) }
                .map_err(|e| cuda_error(&what(), e))?;
        }
        Ok(mem)
    }

    /// Waits for the GPU's stream (the allocation, copy or memset just
    /// issued). The context must be current.
    fn sync(&self, what: &dyn Fn() -> String) -> Result<()> {
        // SAFETY: the GPU's live stream; the context is current (every
        // caller bound it).
        unsafe { result::stream::synchronize(self.gpu.stream.raw()) }
            .map_err(|e| cuda_error(&what(), e))
    }

    /// `true` when the free is stream-ordered (`cuMemFreeAsync` on the
    /// GPU's stream), so work it must follow can be waited for by events.
    pub(crate) fn frees_async(&self) -> bool {
        self.gpu.async_alloc
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device address, for kernel arguments.
    pub(crate) fn device_ptr(&self) -> u64 {
        self.ptr
    }

    /// Copies the first `dst.len()` bytes to the host and waits.
    pub(crate) fn copy_to_host(&self, dst: &mut [u8]) -> Result<()> {
        if dst.len() > self.len {
            return Err(Error::Buffer(format!(
                "copy to host: {} bytes requested from a buffer of {} bytes",
                dst.len(),
                self.len
            )));
        }
        if dst.is_empty() {
            return Ok(());
        }
        let what = || "copying a buffer to the host".to_string();
        self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        // SAFETY: `dst.len()` bytes are readable at `ptr` (checked above)
        // and writable at `dst`; the copy completes before `sync` returns,
        // while `dst` is still borrowed.
        unsafe { result::memcpy_dtoh_async(dst, self.ptr, self.gpu.stream.raw()) }
            .map_err(|e| cuda_error(&what(), e))?;
        self.sync(&what)
    }

    /// Overwrites the first `src.len()` bytes with `src` and waits.
    pub(crate) fn copy_from_host(&self, src: &[u8]) -> Result<()> {
        if src.len() > self.len {
            return Err(Error::Buffer(format!(
                "copy from host: {} bytes into a buffer of {} bytes",
                src.len(),
                self.len
            )));
        }
        if src.is_empty() {
            return Ok(());
        }
        let what = || "copying a buffer to the GPU".to_string();
        self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        // SAFETY: as in `copy_to_host`, the other way round.
        unsafe { result::memcpy_htod_async(self.ptr, src, self.gpu.stream.raw()) }
            .map_err(|e| cuda_error(&what(), e))?;
        self.sync(&what)
    }
}

impl Drop for DeviceMem {
    fn drop(&mut self) {
        let freed = self.gpu.bind().and_then(|()| {
            // SAFETY: `ptr` is this allocation, freed once, here. Every use
            // of it is finished or ordered before the free: batch launches
            // and copies synchronise the GPU's stream (the free is queued on
            // it too), and an actor's memory is dropped only after its
            // kernel ended.
            unsafe {
                if self.gpu.async_alloc {
                    result::free_async(self.ptr, self.gpu.stream.raw())
                } else {
                    result::free_sync(self.ptr)
                }
            }
        });
        if let Err(e) = freed {
            log_free_error(self.len, e);
        }
    }
}

fn log_free_error(len: usize, e: DriverError) {
    tracing::warn!(
        bytes = len,
        error = %super::driver::describe(e),
        "freeing GPU memory failed; the memory may stay allocated until the process ends"
    );
}

impl std::fmt::Debug for DeviceMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceMem")
            .field("ptr", &format_args!("{:#x}", self.ptr))
            .field("len", &self.len)
            .finish()
    }
}

impl CudaDevice {
    /// A new buffer holding a copy of `bytes`.
    pub(crate) fn upload(&self, bytes: &[u8]) -> Result<DeviceMem> {
        let mem = DeviceMem::alloc(&self.gpu, bytes.len(), bytes.is_empty())?;
        if bytes.is_empty() {
            mem.sync(&|| "allocating an empty buffer on the GPU".to_string())?;
        } else {
            // Ordered after the allocation on the same stream; waits for both.
            mem.copy_from_host(bytes)?;
        }
        Ok(mem)
    }

    /// A new buffer of `len` zero bytes.
    pub(crate) fn zeros(&self, len: usize) -> Result<DeviceMem> {
        let mem = DeviceMem::alloc(&self.gpu, len, true)?;
        mem.sync(&|| format!("allocating {len} zeroed bytes on the GPU"))?;
        Ok(mem)
    }
}
