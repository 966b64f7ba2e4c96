//! [`Buffer`]: a typed array in a device's memory.

use std::marker::PhantomData;

use crate::types::DeviceType;
use crate::{cpu, cuda, Device, Result};

/// Where a buffer's bytes live.
#[doc(hidden)]
pub enum Mem {
    /// Host memory of the CPU backend.
    Cpu(cpu::HostMem),
    /// Device memory of a CUDA GPU.
    Cuda(cuda::DeviceMem),
}

/// `len` values of `T` in a device's memory.
///
/// Made by [`Device::upload`] or [`Device::zeros`]; read back with
/// [`Buffer::to_vec`]. Pass `&Buffer<T>` for a kernel's `&[T]` parameter and
/// `&mut Buffer<T>` for `&mut [T]`.
pub struct Buffer<T: DeviceType> {
    pub(crate) mem: Mem,
    pub(crate) len: usize,
    pub(crate) device: Device,
    _t: PhantomData<T>,
}

impl<T: DeviceType> Buffer<T> {
    pub(crate) fn new(mem: Mem, len: usize, device: Device) -> Self {
        Buffer {
            mem,
            len,
            device,
            _t: PhantomData,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device the buffer lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Copies the buffer back to the host (waits for work queued before).
    /// [`crate::Error::OutOfMemory`] when the host copy cannot be allocated.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let mut out: Vec<T> = Vec::new();
        out.try_reserve_exact(self.len).map_err(|_| {
            crate::fallible::out_of_memory(
                format!(
                    "`Buffer::to_vec`: a host copy of {} `{}` values",
                    self.len,
                    std::any::type_name::<T>()
                ),
                (std::mem::size_of::<T>() as u64).saturating_mul(self.len as u64),
            )
        })?;
        let bytes = std::mem::size_of::<T>() * self.len;
        // SAFETY: the spare capacity holds at least `bytes` bytes; the copy
        // below writes exactly `bytes` bytes of values the device stored as
        // `T` (a `DeviceType`, valid for every bit pattern kernels write).
        let dst = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), bytes) };
        match &self.mem {
            Mem::Cpu(m) => dst.copy_from_slice(&m.as_bytes()[..bytes]),
            Mem::Cuda(m) => m.copy_to_host(dst)?,
        }
        // SAFETY: all `len` elements were initialised by the copy above.
        unsafe { out.set_len(self.len) };
        Ok(out)
    }

    /// Overwrites the buffer with `data` (same length).
    pub fn copy_from(&mut self, data: &[T]) -> Result<()> {
        if data.len() != self.len {
            return Err(crate::Error::Buffer(format!(
                "copy_from: buffer has {} elements, the slice {}",
                self.len,
                data.len()
            )));
        }
        let src = crate::types::bytes_of(data);
        match &mut self.mem {
            Mem::Cpu(m) => m.as_bytes_mut()[..src.len()].copy_from_slice(src),
            Mem::Cuda(m) => m.copy_from_host(src)?,
        }
        Ok(())
    }
}

impl<T: DeviceType + std::fmt::Debug> std::fmt::Debug for Buffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("len", &self.len)
            .field("elem", &std::any::type_name::<T>())
            .field("device", &self.device.name())
            .finish()
    }
}
