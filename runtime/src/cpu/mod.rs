//! The CPU backend: runs a kernel's IR with GPU semantics on host threads.
//!
//! # Design
//!
//! A SIMT interpreter. Each kernel is compiled once (`compile.rs`,
//! `compile_expr.rs`, `compile_place.rs`) into a `Program`:
//! a tree of instructions over *lane-vector registers*, each holding one
//! value per thread, with every operation resolved to a monomorphic lane
//! loop (`ops.rs`, `intrinsics.rs`) that the compiler can vectorise; device
//! functions are inlined at each call. The threads of a block run as one
//! unit (`exec.rs`): each instruction executes for all of them under an
//! active mask; `if` splits the mask, loops iterate while any lane is left,
//! `break`/`continue`/`return` park lanes in their loop's or call's frame
//! masks. Structs and arrays are byte blobs with the IR's layout
//! (`memory.rs`); every index is bounds-checked, and a faulting thread stops
//! while the others go on.
//!
//! Threads of a block work together through shared arrays and views of
//! the launch's dynamic shared memory (per-block areas, `memory.rs`),
//! atomics (`atomic.rs`), and barriers and warp operations
//! (`collective.rs`): lockstep already orders a block's lanes,
//! so a barrier only checks that no unfinished thread is missing, and a
//! warp operation permutes or reduces 32-lane chunks of a register.
//!
//! A host thread runs a *group* of consecutive blocks as one lane vector
//! (about `GROUP_LANES` lanes) so the cost of each instruction is
//! shared by more threads (`group.rs`); groups are handed to
//! `available_parallelism()` host threads by an atomic counter (`grid.rs`).
//! A launch reports the fault of the lowest-numbered faulting block (the
//! first in program order within it), so faults are deterministic.
//!
//! Where a kernel indexes slices with `global_index()` (1-D blocks), loads
//! and stores are block copies, and `global_index() < n` needs no lane
//! loop: the quickstart's saxpy runs within a few times a plain Rust loop
//! (`cargo bench --bench cpu_backend`; `cpu::tests::bench` for tuning).
//!
//! Compiled programs are cached per kernel in the [`CpuDevice`]: a launch
//! takes a read lock for the lookup only.
//!
//! Ring kernels run through an [`InterpretedHandler`] (`ring.rs`), one
//! message at a time on one block of `kernel.threads` threads.
//!
//! # Where it differs from a GPU
//!
//! Only where the GPU's behaviour is undefined or a panic in Rust:
//! - with `bounds_checks = false` an out-of-bounds index still faults (host
//!   memory safety depends on the check);
//! - `clamp` with `lo > hi` does not panic (std's body without its assert);
//!   a `for` loop with `step_by(0)` runs no iteration;
//! - threads of different blocks that write the same element race, as on a
//!   GPU (see the `SAFETY` note on `SliceView` in `memory.rs`);
//! - shared arrays and dynamic shared memory start zeroed in every block
//!   (undefined on a GPU);
//! - a barrier or warp operation that only some of the block's (warp's)
//!   unfinished threads reach stops the threads that reached it with
//!   a divergence fault (a hang or garbage on a GPU); the lanes of one
//!   atomic or warp instruction act in lane order (unordered on a GPU).

mod arena;
mod atomic;
mod collective;
mod compile;
mod compile_expr;
mod compile_place;
mod compile_sync;
mod exec;
mod global;
mod grid;
mod group;
mod intrinsics;
mod memory;
mod ops;
mod program;
mod ring;
#[cfg(test)]
mod tests;

use std::cell::UnsafeCell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use spindle_codegen::ir::Kernel;

use crate::kernel::KernelArg;
use crate::{Error, KernelMode, Launch, Result};

pub use ring::InterpretedHandler;

/// Host memory holding a buffer's bytes, 8-byte aligned (the largest
/// alignment of any kernel scalar).
///
/// Shared between a buffer and the launches queued on it, so its bytes sit
/// in cells: who may touch them when is decided by the buffer's ordering
/// (`crate::queue::order`), which runs a launch that writes them only after
/// every earlier access and lets nothing else in until it has finished.
pub struct HostMem {
    words: Box<[UnsafeCell<u64>]>,
    len: usize,
}

// SAFETY: the bytes are only reached through `as_bytes_mut` (`&mut self`,
// exclusive), `bytes` (unsafe: the caller orders itself after every write)
// and `ptr` for launches, which the buffer's ordering runs only after the
// accesses they conflict with; a `Box` of integers may move between threads.
unsafe impl Send for HostMem {}
// SAFETY: as for `Send`: shared references never read or write the bytes
// except under the ordering described there.
unsafe impl Sync for HostMem {}

impl HostMem {
    /// A copy of `bytes`; [`Error::OutOfMemory`] for `what` when the memory
    /// cannot be had.
    pub fn from_bytes(bytes: &[u8], what: impl FnOnce() -> String) -> Result<Self> {
        let mut m = HostMem::zeroed(bytes.len(), what)?;
        m.as_bytes_mut().copy_from_slice(bytes);
        Ok(m)
    }

    /// `len` zero bytes; [`Error::OutOfMemory`] for `what` when the memory
    /// cannot be had.
    pub fn zeroed(len: usize, what: impl FnOnce() -> String) -> Result<Self> {
        let words = crate::fallible::vec_of(len.div_ceil(8), 0u64, what)?.into_boxed_slice();
        // SAFETY: `UnsafeCell<u64>` has the layout of `u64`
        // (`repr(transparent)`), so the allocation is the same slice type.
        let words = unsafe { Box::from_raw(Box::into_raw(words) as *mut [UnsafeCell<u64>]) };
        Ok(HostMem { words, len })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first byte, for launches: readable and writable for `len`
    /// bytes while `self` lives (the cells allow writes through `&self`).
    pub(crate) fn ptr(&self) -> *mut u8 {
        UnsafeCell::raw_get(self.words.as_ptr()).cast::<u8>()
    }

    /// The bytes.
    ///
    /// # Safety
    ///
    /// Nothing may write them while the slice lives: the caller has waited
    /// for every launch queued to write them, and holds the buffer so no
    /// new one can be queued.
    pub unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes at `ptr`; no writer, per the
        // caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }

    /// The bytes, writable.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes the borrow unique (a
        // launch's access goes through a shared reference, which cannot
        // exist now).
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
    }
}

/// A batch launch checked and compiled by [`CpuDevice::prepare`], ready to
/// run on any thread.
pub(crate) struct Prepared {
    prog: Arc<program::Program>,
    threads: usize,
    group_lanes: usize,
}

impl Prepared {
    /// Runs the launch over its whole grid and waits for it; returns its
    /// first fault as the error.
    pub(crate) fn run(
        &self,
        kernel: &Kernel,
        launch: &Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        match grid::run_grid(
            &self.prog,
            kernel,
            launch,
            args,
            self.threads,
            self.group_lanes,
        )? {
            Some(rec) => Err(crate::fault::fault_error(kernel, &rec)),
            None => Ok(()),
        }
    }
}

/// The error for a kernel the compiler rejects.
fn unsupported(kernel: &Kernel, message: String) -> Error {
    Error::Unsupported(format!(
        "the CPU backend cannot run kernel `{}`: {message}",
        kernel.name
    ))
}

/// A compiled program and the kernel it was compiled from (weak, so the
/// cache never keeps a kernel alive, and a dead entry is never mistaken for
/// a new kernel that happens to reuse its address).
type CacheEntry = (Weak<Kernel>, Arc<program::Program>);

/// The CPU backend as a device.
pub struct CpuDevice {
    threads: usize,
    /// Lanes a block group aims for (`group::GROUP_LANES`).
    group_lanes: usize,
    programs: RwLock<HashMap<usize, CacheEntry>>,
}

impl CpuDevice {
    pub(crate) fn new() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        CpuDevice {
            threads,
            group_lanes: group::GROUP_LANES,
            programs: RwLock::new(HashMap::new()),
        }
    }

    pub(crate) fn name(&self) -> String {
        format!("CPU backend ({} threads)", self.threads)
    }

    /// The compiled program of `kernel`, compiling it on first use.
    fn program(&self, kernel: &Arc<Kernel>) -> Result<Arc<program::Program>> {
        let key = Arc::as_ptr(kernel) as usize;
        {
            let cache = self.programs.read().unwrap_or_else(|e| e.into_inner());
            if let Some((k, p)) = cache.get(&key) {
                if k.upgrade().is_some_and(|k| Arc::ptr_eq(&k, kernel)) {
                    return Ok(p.clone());
                }
            }
        }
        let started = std::time::Instant::now();
        let prog = compile::compile(kernel).map_err(|m| unsupported(kernel, m))?;
        tracing::debug!(
            kernel = %kernel.name,
            elapsed_us = started.elapsed().as_micros() as u64,
            instructions = prog.code.len(),
            registers = prog.temps as usize + prog.fixed.len(),
            "compiled kernel for the CPU backend"
        );
        let prog = Arc::new(prog);
        let mut cache = self.programs.write().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (k, _)| k.strong_count() > 0);
        cache.insert(key, (Arc::downgrade(kernel), prog.clone()));
        Ok(prog)
    }

    /// Runs a batch kernel over the whole grid and waits for it. On the
    /// first fault the faulting thread stops, the others run to the end,
    /// and the launch returns the fault as an error.
    pub(crate) fn launch(
        &self,
        kernel: &Arc<Kernel>,
        launch: &Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        self.prepare(kernel, launch)?.run(kernel, launch, args)
    }

    /// Checks a batch launch of `kernel` and compiles its program: what
    /// can fail before the kernel runs, so a queued launch reports it when
    /// it is queued.
    pub(crate) fn prepare(&self, kernel: &Arc<Kernel>, launch: &Launch) -> Result<Prepared> {
        if kernel.mode != KernelMode::Batch {
            return Err(Error::Unsupported(format!(
                "kernel `{}` is a ring kernel; start it with `spawn`, not a batch launch",
                kernel.name
            )));
        }
        launch.validate(&kernel.name)?;
        let prog = self.program(kernel)?;
        grid::check_shared(&prog, kernel, launch)?;
        Ok(Prepared {
            prog,
            threads: self.threads,
            group_lanes: self.group_lanes,
        })
    }

    /// Compiles a ring kernel's handler for running one message at a time
    /// on the calling thread (see [`InterpretedHandler::run`]).
    pub fn ring_handler(&self, kernel: &Arc<Kernel>) -> Result<InterpretedHandler> {
        let prog = self.program(kernel)?;
        InterpretedHandler::new(kernel.clone(), prog)
    }
}
