//! Device memory and pinned host memory: host mappings in a table.
//!
//! A device allocation is an anonymous mapping of its own (page aligned,
//! so the 256-byte alignment `cuMemAlloc` promises holds), filled with a
//! junk byte (a GPU promises nothing about fresh memory). Its device
//! pointer is its host address, so kernels (host code) use it directly.
//! Pinned host memory is the same kind of mapping; with unified
//! addressing its device pointer is its host pointer ("Unified
//! Addressing" in the Driver API reference).
//!
//! Freed memory is not returned to the system at once: the range stays
//! reserved and inaccessible (up to 16 GiB of address space), so a later
//! allocation never reuses it, a call that names it is refused as a use
//! after free, and a kernel that touches it faults instead of reading
//! someone else's data.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use cudarc::driver::sys::CUresult;

use super::device::TOTAL_MEMORY;
use super::lock;

const PAGE: usize = 4096;
/// What fresh memory holds.
pub const JUNK: u8 = 0xa5;
/// Address space kept reserved for freed ranges before the oldest go back.
const QUARANTINE: usize = 16 << 30;

/// What kind of memory an allocation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocKind {
    /// Device memory; `stream_ordered` when from `cuMemAllocAsync`.
    Device { stream_ordered: bool },
    /// Pinned host memory (`cuMemHostAlloc` flags).
    Pinned { flags: u32 },
}

/// One live allocation.
#[derive(Clone, Debug)]
pub struct Alloc {
    pub base: usize,
    /// Bytes asked for.
    pub size: usize,
    /// Bytes mapped (whole pages).
    pub mapped: usize,
    pub kind: AllocKind,
    /// The context (handle and generation) it belongs to.
    pub ctx: u64,
    pub generation: u64,
}

struct Table {
    live: BTreeMap<usize, Alloc>,
    /// Freed ranges still reserved: base, mapped bytes, which call freed it.
    freed: VecDeque<(usize, usize, &'static str)>,
    freed_bytes: usize,
    device_bytes: usize,
    stack_reserve: usize,
}

/// The allocation table.
pub struct Memory {
    t: Mutex<Table>,
}

/// Why an address range is not usable, for messages.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Inside no allocation.
    Unknown,
    /// Inside a freed allocation (freed by this call).
    Freed(&'static str),
    /// Starts inside an allocation but runs past its end.
    OutOfRange { base: usize, size: usize },
}

impl Memory {
    pub(crate) fn new() -> Memory {
        Memory {
            t: Mutex::new(Table {
                live: BTreeMap::new(),
                freed: VecDeque::new(),
                freed_bytes: 0,
                device_bytes: 0,
                stack_reserve: 0,
            }),
        }
    }

    /// A new allocation of `size` bytes (at least one).
    pub fn alloc(
        &self,
        size: usize,
        kind: AllocKind,
        ctx: u64,
        generation: u64,
    ) -> Result<usize, CUresult> {
        if size == 0 {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        if crate::config::get().next_alloc_fails() {
            crate::log::warn(format!(
                "injected fault (SPINDLE_EMU_FAIL_ALLOC): allocating {size} bytes fails with CUDA_ERROR_OUT_OF_MEMORY"
            ));
            return Err(CUresult::CUDA_ERROR_OUT_OF_MEMORY);
        }
        let mapped = size
            .checked_next_multiple_of(PAGE)
            .ok_or(CUresult::CUDA_ERROR_OUT_OF_MEMORY)?;
        let device = matches!(kind, AllocKind::Device { .. });
        {
            let t = lock(&self.t);
            if device && t.device_bytes + t.stack_reserve + mapped > TOTAL_MEMORY {
                return Err(CUresult::CUDA_ERROR_OUT_OF_MEMORY);
            }
        }
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                mapped,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(CUresult::CUDA_ERROR_OUT_OF_MEMORY);
        }
        // SAFETY: `mapped` writable bytes were just mapped at `p`.
        unsafe { std::ptr::write_bytes(p.cast::<u8>(), JUNK, size) };
        let base = p as usize;
        let mut t = lock(&self.t);
        if device {
            t.device_bytes += mapped;
        }
        t.live.insert(
            base,
            Alloc {
                base,
                size,
                mapped,
                kind,
                ctx,
                generation,
            },
        );
        Ok(base)
    }

    /// Takes allocation `base` out of the table (later calls naming it are
    /// refused); [`Memory::release`] returns its pages. `pinned` says which
    /// kind the freeing call frees.
    pub fn take(&self, base: usize, pinned: bool, by: &'static str) -> Result<Alloc, CUresult> {
        let mut t = lock(&self.t);
        let ok = t
            .live
            .get(&base)
            .is_some_and(|a| matches!(a.kind, AllocKind::Pinned { .. }) == pinned);
        if !ok {
            let why = refusal(&t, base, 1);
            crate::log::debug(|| format!("{by}({base:#x}) refused: {why:?}"));
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        let a = t.live.remove(&base).expect("checked above");
        t.freed.push_back((a.base, a.mapped, by));
        Ok(a)
    }

    /// Returns a taken allocation's pages; its range stays reserved.
    pub fn release(&self, a: &Alloc) {
        // SAFETY: the range was mapped by `alloc` and is no longer in the
        // table: nothing hands it out; dropping its pages and access only
        // affects that range.
        unsafe {
            libc::madvise(a.base as *mut libc::c_void, a.mapped, libc::MADV_DONTNEED);
            libc::mprotect(a.base as *mut libc::c_void, a.mapped, libc::PROT_NONE);
        }
        let mut t = lock(&self.t);
        if matches!(a.kind, AllocKind::Device { .. }) {
            t.device_bytes -= a.mapped;
        }
        t.freed_bytes += a.mapped;
        while t.freed_bytes > QUARANTINE {
            let Some((base, len, _)) = t.freed.pop_front() else {
                break;
            };
            t.freed_bytes = t.freed_bytes.saturating_sub(len);
            // SAFETY: a freed range no allocation uses any more.
            unsafe { libc::munmap(base as *mut libc::c_void, len) };
        }
    }

    /// `take` then `release`.
    pub fn free(&self, base: usize, pinned: bool, by: &'static str) -> Result<Alloc, CUresult> {
        let a = self.take(base, pinned, by)?;
        self.release(&a);
        Ok(a)
    }

    /// The live allocation holding all of `[addr, addr + len)`.
    pub fn find(&self, addr: usize, len: usize) -> Result<Alloc, Refusal> {
        let t = lock(&self.t);
        match t.live.range(..=addr).next_back() {
            Some((_, a))
                if addr < a.base + a.size
                    && addr.checked_add(len).is_some_and(|e| e <= a.base + a.size) =>
            {
                Ok(a.clone())
            }
            _ => Err(refusal(&t, addr, len)),
        }
    }

    /// Frees every allocation of a destroyed context.
    pub fn free_generation(&self, ctx: u64, generation: u64) {
        let gone: Vec<usize> = lock(&self.t)
            .live
            .values()
            .filter(|a| a.ctx == ctx && a.generation == generation)
            .map(|a| a.base)
            .collect();
        for base in gone {
            let pinned = matches!(
                lock(&self.t).live.get(&base).map(|a| a.kind),
                Some(AllocKind::Pinned { .. })
            );
            let _ = self.free(base, pinned, "the context's destruction");
        }
    }

    /// Reserves `bytes` of device memory for thread stacks (replacing the
    /// previous reservation); `CUDA_ERROR_OUT_OF_MEMORY` when not free.
    pub fn reserve_stack(&self, bytes: usize) -> Result<(), CUresult> {
        let mut t = lock(&self.t);
        if t.device_bytes + bytes > TOTAL_MEMORY {
            return Err(CUresult::CUDA_ERROR_OUT_OF_MEMORY);
        }
        t.stack_reserve = bytes;
        Ok(())
    }

    /// `(free, total)` device memory.
    pub fn info(&self) -> (usize, usize) {
        let t = lock(&self.t);
        (
            TOTAL_MEMORY.saturating_sub(t.device_bytes + t.stack_reserve),
            TOTAL_MEMORY,
        )
    }
}

fn refusal(t: &Table, addr: usize, len: usize) -> Refusal {
    if let Some((_, a)) = t.live.range(..=addr).next_back() {
        if addr < a.base + a.size {
            let _ = len;
            return Refusal::OutOfRange {
                base: a.base,
                size: a.size,
            };
        }
    }
    match t
        .freed
        .iter()
        .rev()
        .find(|(b, l, _)| (*b..b + l).contains(&addr))
    {
        Some((_, _, by)) => Refusal::Freed(by),
        None => Refusal::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: AllocKind = AllocKind::Device {
        stream_ordered: false,
    };

    #[test]
    fn ranges_frees_and_reuse_are_checked() {
        let m = Memory::new();
        let a = m.alloc(100, DEV, 1, 1).unwrap();
        assert_eq!(a % 256, 0, "cuMemAlloc memory is 256-byte aligned");
        // SAFETY: 100 bytes were allocated at `a`.
        assert_eq!(unsafe { *(a as *const u8).add(99) }, JUNK);
        assert!(m.find(a, 100).is_ok());
        assert!(m.find(a + 50, 50).is_ok());
        assert_eq!(
            m.find(a + 50, 51).unwrap_err(),
            Refusal::OutOfRange { base: a, size: 100 }
        );
        assert_eq!(m.find(a + 4096 * 1000, 1).unwrap_err(), Refusal::Unknown);
        // Pinned-memory frees do not free device memory, and vice versa.
        assert_eq!(
            m.free(a, true, "cuMemFreeHost").unwrap_err(),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        m.free(a, false, "cuMemFree").unwrap();
        assert_eq!(m.find(a, 1).unwrap_err(), Refusal::Freed("cuMemFree"));
        // Double free.
        assert_eq!(
            m.free(a, false, "cuMemFree").unwrap_err(),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        // A freed range is never handed out again (while quarantined).
        let b = m.alloc(100, DEV, 1, 1).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            m.alloc(0, DEV, 1, 1).unwrap_err(),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
    }

    #[test]
    fn device_memory_is_limited_to_80_gib() {
        let m = Memory::new();
        assert_eq!(
            m.alloc(TOTAL_MEMORY + 1, DEV, 1, 1).unwrap_err(),
            CUresult::CUDA_ERROR_OUT_OF_MEMORY
        );
        let (free, total) = m.info();
        assert_eq!((free, total), (TOTAL_MEMORY, TOTAL_MEMORY));
        m.reserve_stack(1 << 30).unwrap();
        assert_eq!(m.info().0, TOTAL_MEMORY - (1 << 30));
        assert_eq!(
            m.reserve_stack(TOTAL_MEMORY + 1),
            Err(CUresult::CUDA_ERROR_OUT_OF_MEMORY)
        );
    }
}
