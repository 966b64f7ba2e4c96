//! The CPU backend: runs a kernel's IR with GPU semantics on host threads.

use spindle_codegen::ir::Kernel;

use crate::kernel::KernelArg;
use crate::{Error, Launch, Result};

/// Host memory holding a buffer's bytes, 8-byte aligned (the largest
/// alignment of any kernel scalar).
pub struct HostMem {
    words: Vec<u64>,
    len: usize,
}

impl HostMem {
    /// A copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut m = HostMem::zeroed(bytes.len());
        m.as_bytes_mut().copy_from_slice(bytes);
        m
    }

    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        HostMem {
            words: vec![0u64; len.div_ceil(8)],
            len,
        }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes; u8 has no
        // alignment or validity requirement.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    /// The bytes, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_bytes`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr().cast::<u8>(), self.len) }
    }
}

/// The CPU backend as a device.
pub struct CpuDevice {
    threads: usize,
}

impl CpuDevice {
    pub(crate) fn new() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        CpuDevice { threads }
    }

    pub(crate) fn name(&self) -> String {
        format!("CPU backend ({} threads)", self.threads)
    }

    pub(crate) fn launch(&self, kernel: &Kernel, launch: &Launch, args: &mut [KernelArg<'_>]) -> Result<()> {
        let _ = (kernel, launch, args);
        Err(Error::Unsupported("CPU interpreter not built yet".into()))
    }
}
