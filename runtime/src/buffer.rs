//! [`Buffer`]: a typed array in a device's memory.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::queue::Storage;
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
///
/// A buffer orders the launches [queued](crate::Queue) on it, on any queue:
/// a launch reading it runs after the last launch that writes it, one
/// writing it after every earlier access; [`Buffer::to_vec`] and
/// [`Buffer::copy_from`] wait for the queued work they conflict with. A
/// buffer dropped while launches are still queued on it is freed after
/// they have run.
pub struct Buffer<T: DeviceType> {
    pub(crate) mem: Arc<Storage>,
    pub(crate) len: usize,
    pub(crate) device: Device,
    _t: PhantomData<T>,
}

impl<T: DeviceType> Buffer<T> {
    pub(crate) fn new(mem: Mem, len: usize, device: Device) -> Self {
        Buffer {
            mem: Arc::new(Storage::new(mem)),
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

    /// Copies the buffer back to the host, after the launches queued to
    /// write it have run. When one of the launches this waited for (or one
    /// before it on its queue) faulted, returns that fault instead (the
    /// first not reported yet; the queue's next `sync` no longer reports
    /// it). [`crate::Error::OutOfMemory`] when the host copy cannot be
    /// allocated.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        // Held until the copy is done: launches queued meanwhile that
        // write the buffer (a graph replayed on another thread) wait.
        let _access = crate::queue::order::host_access(&[(&self.mem, false)], true)?;
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
        match &self.mem.mem {
            // SAFETY: every queued write finished, and writes queued from
            // now on wait for `_access` (`host_access` above).
            Mem::Cpu(m) => dst.copy_from_slice(unsafe { &m.bytes()[..bytes] }),
            Mem::Cuda(m) => m.copy_to_host(dst)?,
        }
        // SAFETY: all `len` elements were initialised by the copy above.
        unsafe { out.set_len(self.len) };
        Ok(out)
    }

    /// Overwrites the buffer with `data` (same length), after every launch
    /// queued on it has run. Faults of those launches are reported as by
    /// [`Buffer::to_vec`] (and the buffer is then left unchanged).
    pub fn copy_from(&mut self, data: &[T]) -> Result<()> {
        if data.len() != self.len {
            return Err(crate::Error::Buffer(format!(
                "copy_from: buffer has {} elements, the slice {}",
                self.len,
                data.len()
            )));
        }
        let _access = crate::queue::order::host_access(&[(&self.mem, true)], true)?;
        let src = crate::types::bytes_of(data);
        match &self.mem.mem {
            Mem::Cpu(m) => {
                // SAFETY: every queued access finished, accesses queued
                // from now on wait for `_access` (`host_access` above), and
                // `src` fits (lengths checked above).
                unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), m.ptr(), src.len()) }
            }
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
