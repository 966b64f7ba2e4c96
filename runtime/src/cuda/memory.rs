//! Device memory of buffers: allocation, upload, download.
//!
//! Every copy is issued on the device's stream and waited for before it
//! returns, so host slices passed in are never read after the call.

use std::sync::Arc;

use cudarc::driver::{sys, CudaSlice, CudaStream, DevicePtr};

use super::driver::cuda_error;
use super::CudaDevice;
use crate::{Error, Result};

/// Device memory of a buffer: `len` bytes (at least one byte is allocated,
/// so an empty buffer still has a valid address).
pub struct DeviceMem {
    slice: CudaSlice<u8>,
    /// The allocation's device address, read once (event tracking is off,
    /// so reading it has no side effects).
    ptr: sys::CUdeviceptr,
    len: usize,
}

impl DeviceMem {
    /// `true` when the allocation lives on `dev`'s GPU (spindle uses each
    /// GPU's primary context, so the ordinal identifies it).
    pub(crate) fn belongs_to(&self, dev: &super::CudaDevice) -> bool {
        self.slice.ordinal() == dev.ordinal
    }

    fn new(slice: CudaSlice<u8>, len: usize) -> Self {
        let ptr = {
            let (ptr, _sync) = slice.device_ptr(slice.stream());
            ptr
        };
        DeviceMem { slice, ptr, len }
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

    fn stream(&self) -> &Arc<CudaStream> {
        self.slice.stream()
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
        let stream = self.stream();
        let src = self.slice.slice(..dst.len());
        stream
            .memcpy_dtoh(&src, dst)
            .and_then(|()| stream.synchronize())
            .map_err(|e| cuda_error("copying a buffer to the host", e))
    }

    /// Overwrites the first `src.len()` bytes with `src` and waits.
    pub(crate) fn copy_from_host(&mut self, src: &[u8]) -> Result<()> {
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
        let stream = self.stream().clone();
        let mut dst = self.slice.slice_mut(..src.len());
        stream
            .memcpy_htod(src, &mut dst)
            .and_then(|()| stream.synchronize())
            .map_err(|e| cuda_error("copying a buffer to the GPU", e))
    }
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
        let mut mem = self.alloc(bytes.len())?;
        mem.copy_from_host(bytes)?;
        Ok(mem)
    }

    /// A new buffer of `len` zero bytes.
    pub(crate) fn zeros(&self, len: usize) -> Result<DeviceMem> {
        zeroed(&self.stream, len)
    }

    /// A new buffer of `len` bytes with unspecified contents.
    fn alloc(&self, len: usize) -> Result<DeviceMem> {
        // SAFETY: the memory is uninitialised; every caller overwrites it
        // (`upload`) before anything reads it, and `u8` has no invalid values.
        let slice = unsafe { self.stream.alloc::<u8>(len.max(1)) }
            .map_err(|e| cuda_error(&format!("allocating {len} bytes on the GPU"), e))?;
        Ok(DeviceMem::new(slice, len))
    }
}

/// `len` zero bytes allocated on `stream`, ready when this returns.
pub(super) fn zeroed(stream: &Arc<CudaStream>, len: usize) -> Result<DeviceMem> {
    let slice = stream
        .alloc_zeros::<u8>(len.max(1))
        .and_then(|s| stream.synchronize().map(|()| s))
        .map_err(|e| cuda_error(&format!("allocating {len} zeroed bytes on the GPU"), e))?;
    Ok(DeviceMem::new(slice, len))
}
