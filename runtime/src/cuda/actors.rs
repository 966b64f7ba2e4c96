//! Running ring actors on a [`Gpu`], and the set-up work they constrain.
//!
//! A ring actor is a persistent kernel that returns only when its owner
//! stops it. Any call that synchronises the context waits for every
//! running kernel, so a thread that holds an actor and makes such a call
//! waits forever. Each kind of set-up work is checked against that:
//!
//! - **Per-thread stack.** A launch needing more stack per thread than the
//!   context has (`CU_LIMIT_STACK_SIZE`, 1 KiB by default) makes the driver
//!   grow it, and growing it "will block until all preceding requested
//!   tasks are complete" (`cuCtxSetLimit`). Before the first actor starts,
//!   the stack is reserved for every kernel the program registers (the
//!   largest `CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES`); a launch that still
//!   needs more is refused while actors run ([`Gpu::ensure_stack`]), and
//!   served by raising the limit first when none runs.
//! - **Modules.** With lazy loading (the default since CUDA 12.2) a
//!   kernel's code loads at its first launch or `cuFuncLoad`, and "loading
//!   kernels might require context synchronization". spindle asks for
//!   eager loading (`super::driver`), and before the first actor starts
//!   every registered kernel (batch and ring) is compiled or read from the
//!   disk cache, loaded and force-loaded (`cuFuncLoad`)
//!   ([`Gpu::prepare_actors`]). A kernel the registry does not list (IR
//!   built by hand) loads at first use under the set-up gate; if the user
//!   chose `CUDA_MODULE_LOADING=LAZY`, that is refused while actors run.
//! - **Streams.** An ended actor's stream goes back to a pool for the next
//!   actor instead of being destroyed and created again.
//! - **Memory.** Ring regions come from the pinned pool (`super::pinned`);
//!   nothing pinned is freed; modules are never unloaded (`super::context`).
//!
//! A GPU runs at most [`MAX_CONCURRENT_KERNELS`] kernels at once; a launch
//! beyond that waits for a running kernel to end, which a persistent kernel
//! never does. So at most [`MAX_LIVE_ACTORS`] actors run per GPU (one
//! kernel is left for batch launches), counted by [`ActorSlot`]s: an actor
//! holds its slot until its kernel has ended, even when its owner gave up
//! on it ([`Gpu::defer_until_done`]).
//!
//! Each actor has a stream of its own holding nothing but its kernel, so
//! streams that share one of the GPU's hardware queues
//! (`CUDA_DEVICE_MAX_CONNECTIONS`, 8 by default) never wait behind an
//! actor: a queue serialises only work that depends on earlier work of the
//! same stream, and nothing follows an actor's kernel on its stream.
//!
//! The set-up gate (`Actors::gate`) is held across every actor launch and
//! every change of the stack limit, so "no actor runs" stays true while a
//! limit is raised.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cudarc::driver::sys;
use cudarc::driver::{result, DriverError};

use super::context::{Gpu, Stream};
use super::driver::cuda_error;
use super::modules::LoadedKernel;
use crate::kernel::kernel_infos;
use crate::{Error, Result};

/// Kernels a GPU of compute capability 7.0 or newer runs at once ("maximum
/// number of resident grids per device", CUDA C++ Programming Guide,
/// "Features and Technical Specifications").
pub(crate) const MAX_CONCURRENT_KERNELS: usize = 128;
/// Actors spindle runs at once on one GPU: one kernel is left for batch
/// launches.
pub(crate) const MAX_LIVE_ACTORS: usize = MAX_CONCURRENT_KERNELS - 1;

/// The most actors that may run at once: [`MAX_LIVE_ACTORS`], or in tests
/// what [`set_actor_cap_for_this_thread`] set for the calling thread.
fn actor_cap() -> usize {
    #[cfg(test)]
    if let Some(cap) = TEST_CAP.with(std::cell::Cell::get) {
        return cap;
    }
    MAX_LIVE_ACTORS
}

#[cfg(test)]
thread_local! {
    static TEST_CAP: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Lowers the actor cap for spawns from the calling thread only, so a test
/// can reach it without starting 127 actors or failing other tests' spawns.
#[cfg(test)]
pub(crate) fn set_actor_cap_for_this_thread(cap: Option<usize>) {
    TEST_CAP.with(|c| c.set(cap));
}

/// A GPU's actors (see the module doc).
pub(crate) struct Actors {
    gate: Mutex<()>,
    /// Actors whose kernel may be running (launched, not known ended).
    live: AtomicUsize,
    /// Stack bytes per thread the context is known to have.
    stack: AtomicUsize,
    /// Whether every registered kernel has been loaded (see module doc).
    prepared: Mutex<bool>,
    idle_streams: Mutex<Vec<Stream>>,
    /// Kernels given up on that may still run, with what they use.
    pending: Mutex<Vec<Pending>>,
}

struct Pending {
    stream: Stream,
    keep: Box<dyn Send>,
}

impl Actors {
    /// No actors; the context has `stack` bytes of stack per thread.
    pub(crate) fn new(stack: usize) -> Actors {
        Actors {
            gate: Mutex::new(()),
            live: AtomicUsize::new(0),
            stack: AtomicUsize::new(stack),
            prepared: Mutex::new(false),
            idle_streams: Mutex::new(Vec::new()),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// The set-up gate: held across actor launches, stack changes and
    /// module loads.
    pub(super) fn gate(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Actors whose kernel may be running.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }
}

/// One running actor's share of its GPU's actor count; released on drop,
/// which must happen only once its kernel has ended.
pub(crate) struct ActorSlot {
    gpu: Arc<Gpu>,
}

impl Drop for ActorSlot {
    fn drop(&mut self) {
        self.gpu.actors.live.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gpu {
    /// Before an actor starts: loads every registered kernel and reserves
    /// the stack they need, once per GPU. Kernels that fail to link or
    /// compile are skipped here (their own launch or spawn reports why).
    pub(crate) fn prepare_actors(self: &Arc<Self>) -> Result<()> {
        // Held across compiles, but only first spawns wait here, and they
        // need this done before they launch anyway.
        let mut prepared = self
            .actors
            .prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *prepared {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let mut loaded = 0usize;
        for info in kernel_infos() {
            let outcome = info.linked().and_then(|kernel| match kernel.mode {
                spindle_codegen::KernelMode::Batch => self.batch_kernel(info, &kernel).map(|_| ()),
                spindle_codegen::KernelMode::Ring => {
                    let source = super::module_source(&kernel)?;
                    self.ring_kernel(&kernel.name, &source.code, &source.entry)
                        .map(|_| ())
                }
            });
            match outcome {
                Ok(()) => loaded += 1,
                Err(e) => tracing::debug!(kernel = info.name, error = %e, "not preloaded"),
            }
        }
        let need = self.modules.max_local_bytes();
        if let Err(e) = self.reserve_stack(need) {
            // Not fatal: the stack stays as it was, and a kernel that needs
            // more is refused while actors run (`ensure_stack`).
            tracing::warn!(bytes = need, error = %e, "could not reserve the stack every registered kernel needs");
        }
        tracing::debug!(
            loaded,
            stack_bytes = self.actors.stack.load(Ordering::Relaxed),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded every registered kernel before the first actor"
        );
        *prepared = true;
        Ok(())
    }

    /// Makes the context's per-thread stack at least `bytes` while no actor
    /// runs (the gate held).
    fn reserve_stack(&self, bytes: usize) -> Result<()> {
        let _gate = self.actors.gate();
        self.reap();
        if bytes <= self.actors.stack.load(Ordering::Acquire) || self.actors.live() > 0 {
            return Ok(());
        }
        self.set_stack(bytes).map_err(|e| {
            cuda_error(
                &format!("reserving {bytes} bytes of stack per GPU thread"),
                e,
            )
        })
    }

    /// `cuCtxSetLimit(CU_LIMIT_STACK_SIZE)`, then records what the driver
    /// granted. Only with the gate held and no actor running.
    fn set_stack(&self, bytes: usize) -> std::result::Result<(), DriverError> {
        self.bind()?;
        result::ctx::set_limit(sys::CUlimit::CU_LIMIT_STACK_SIZE, bytes)?;
        let granted = result::ctx::get_limit(sys::CUlimit::CU_LIMIT_STACK_SIZE)?;
        self.actors.stack.store(granted, Ordering::Release);
        Ok(())
    }

    /// Before a launch of `kernel`: its per-thread stack fits what the
    /// context has, or is made to fit while no actor runs; refused while
    /// actors run (see the module doc). One atomic load when it fits.
    pub(crate) fn ensure_stack(&self, kernel: &LoadedKernel) -> Result<()> {
        let need = kernel.local_bytes;
        if need <= self.actors.stack.load(Ordering::Acquire) {
            return Ok(());
        }
        let _gate = self.actors.gate();
        self.reap();
        self.grow_stack_gated(kernel)
    }

    /// [`Self::ensure_stack`]'s slow path, with the gate held.
    fn grow_stack_gated(&self, kernel: &LoadedKernel) -> Result<()> {
        let need = kernel.local_bytes;
        let what = || format!("reserving stack for kernel `{}`", kernel.kernel_name);
        // The driver may have grown it for a launch made with no actor
        // running: ask before refusing.
        self.bind().map_err(|e| cuda_error(&what(), e))?;
        let have = result::ctx::get_limit(sys::CUlimit::CU_LIMIT_STACK_SIZE)
            .map_err(|e| cuda_error(&what(), e))?;
        self.actors.stack.fetch_max(have, Ordering::AcqRel);
        if need <= have {
            return Ok(());
        }
        let live = self.actors.live();
        if live > 0 {
            return Err(Error::InvalidLaunch {
                kernel: kernel.kernel_name.clone(),
                message: format!(
                    "it needs {need} bytes of stack per thread and the GPU's context has {have}; \
                     growing it waits for every running kernel, and {live} ring actor(s) run on \
                     this GPU until they are stopped. The stack is reserved for every registered \
                     kernel when the first actor starts: launch this kernel once before spawning \
                     actors, or stop the actors first, or make the kernel use less local memory \
                     (smaller local arrays, messages or replies)"
                ),
            });
        }
        self.set_stack(need).map_err(|e| cuda_error(&what(), e))
    }

    /// A stream for a new actor: a pooled one, or a new one.
    pub(crate) fn actor_stream(&self) -> std::result::Result<Stream, DriverError> {
        if let Some(s) = self
            .actors
            .idle_streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
        {
            return Ok(s);
        }
        self.bind()?;
        Stream::create()
    }

    /// Gives back the stream of an actor whose kernel has ended (its
    /// stream holds no more work).
    pub(crate) fn return_stream(&self, stream: Stream) {
        self.actors
            .idle_streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(stream);
    }

    /// Starts an actor's kernel with `launch` under the set-up gate, after
    /// checking the actor count, the block size and the stack. Returns the
    /// actor's slot; it must be dropped only once the kernel has ended.
    pub(crate) fn start_actor(
        self: &Arc<Self>,
        kernel: &LoadedKernel,
        threads: u32,
        launch: impl FnOnce() -> Result<()>,
    ) -> Result<ActorSlot> {
        kernel.check_block(threads, 0, true)?;
        let _gate = self.actors.gate();
        self.reap();
        let live = self.actors.live();
        if live >= actor_cap() {
            return Err(Error::InvalidLaunch {
                kernel: kernel.kernel_name.clone(),
                message: format!(
                    "{live} ring actors already run on GPU {} ({}), the most spindle runs at once: \
                     a GPU runs at most {MAX_CONCURRENT_KERNELS} kernels at once and one is kept \
                     for batch launches. Shut down or drop actors that are no longer needed, or \
                     let one actor serve several (an index in the message, an array in the state)",
                    self.ordinal, self.name
                ),
            });
        }
        if kernel.local_bytes > self.actors.stack.load(Ordering::Acquire) {
            self.grow_stack_gated(kernel)?;
        }
        self.actors.live.fetch_add(1, Ordering::AcqRel);
        let slot = ActorSlot { gpu: self.clone() };
        launch()?;
        Ok(slot)
    }

    /// Keeps `keep` (an actor's memory and slot) until the kernel on
    /// `stream` has ended, then drops it and pools the stream. For kernels
    /// whose owner gave up waiting: they may still run, or start later.
    pub(crate) fn defer_until_done(&self, stream: Stream, keep: Box<dyn Send>) {
        self.actors
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Pending { stream, keep });
    }

    /// Releases what [`Self::defer_until_done`] kept for kernels that have
    /// ended since.
    pub(crate) fn reap(&self) {
        let ended: Vec<Pending> = {
            let mut pending = self
                .actors
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if pending.is_empty() || self.bind().is_err() {
                return;
            }
            let (ended, running) = pending.drain(..).partition(|p| {
                // SAFETY: a live stream of this context.
                let state = unsafe { sys::cuStreamQuery(p.stream.raw()) };
                state != sys::CUresult::CUDA_ERROR_NOT_READY
            });
            *pending = running;
            ended
        };
        for p in ended {
            drop(p.keep);
            self.return_stream(p.stream);
        }
    }
}
