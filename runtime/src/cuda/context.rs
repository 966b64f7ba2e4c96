//! One GPU's process-wide state ([`Gpu`]): its primary context, the stream
//! spindle's own work goes to, the loaded kernels, the fault records of
//! batch launches, and what ring actors need (`actors`, `pinned`).
//!
//! # One per GPU, for the life of the process
//!
//! Every `Device::cuda(n)` is a handle to the same [`Gpu`]: it is opened
//! once, kept in a registry and never dropped. The registry holds the
//! device's primary context retained, so an ordinal names one context
//! handle for the whole process, and everything cached here (modules,
//! pinned memory, streams) is keyed by that context: a second
//! `Device::cuda(0)` reuses it instead of loading and allocating again.
//!
//! Nothing here is unloaded or freed while the process runs. Unloading a
//! module or freeing pinned memory may synchronise the context, and a
//! synchronising call waits for every running kernel, including a ring
//! actor's persistent kernel that only its owner can stop: a `Device`
//! dropped while an actor runs must not do that. The cost is bounded: one
//! module per kernel, one page of fault records, and the pooled ring memory
//! and streams of the most actors that ran at once.
//!
//! # Binding the context without picking up other calls' errors
//!
//! cudarc's `CudaContext::bind_to_thread` first returns (and clears) any
//! error recorded by an earlier call that could not report it, such as a
//! failed asynchronous free in a `Drop`. A stale error from an unrelated
//! free would then fail whichever call binds next, for example the query
//! that decides whether an actor is alive. [`Gpu::bind`] binds without
//! that: spindle keeps no cudarc object that records errors (buffers,
//! modules and streams are raw driver handles here), and the errors of its
//! own frees are logged where they happen.

use std::sync::{Arc, Mutex, PoisonError};

use cudarc::driver::result::{self, DriverError};
use cudarc::driver::{sys, CudaContext};

use super::actors::Actors;
use super::driver::{self, cuda_error};
use super::faults::FaultSlots;
use super::modules::ModuleCache;
use super::pinned::MappedPool;
use crate::Result;

/// A stream handle of a [`Gpu`]'s context.
pub(crate) struct Stream(sys::CUstream);

// SAFETY: a CUstream is a handle the driver accepts from any thread (with
// its context current); who enqueues what is up to the owner.
unsafe impl Send for Stream {}
// SAFETY: as above; the handle itself is immutable.
unsafe impl Sync for Stream {}

impl Stream {
    /// A new non-blocking stream (never the legacy NULL stream, which
    /// synchronises with every other blocking stream). The context must be
    /// current.
    pub(crate) fn create() -> std::result::Result<Stream, DriverError> {
        result::stream::create(result::stream::StreamKind::NonBlocking).map(Stream)
    }

    /// The raw handle, for driver calls.
    pub(crate) fn raw(&self) -> sys::CUstream {
        self.0
    }
}

/// One GPU as spindle uses it, shared by every `Device::cuda(n)` of the
/// process (see the module doc).
pub(crate) struct Gpu {
    /// Keeps the primary context retained for the life of the process.
    _ctx: Arc<CudaContext>,
    cu_ctx: ContextHandle,
    pub(crate) ordinal: usize,
    pub(crate) name: String,
    /// `sm_XY`, the target of every compile.
    pub(crate) arch: String,
    /// Stream-ordered allocation (`cuMemAllocAsync`) is available.
    pub(crate) async_alloc: bool,
    /// Kernels load lazily (`CUDA_MODULE_LOADING=LAZY` chosen by the user),
    /// so loading one may synchronise the context.
    pub(crate) lazy_loading: bool,
    /// The stream of batch launches and buffer copies. Launches from
    /// several threads share it, so they run one after another.
    pub(crate) stream: Stream,
    pub(crate) modules: ModuleCache,
    /// Fault records of batch launches, in mapped pinned memory.
    pub(crate) faults: FaultSlots,
    /// Mapped pinned memory for ring regions, pooled.
    pub(crate) pinned: MappedPool,
    /// Running actors and the set-up work they constrain.
    pub(crate) actors: Actors,
}

struct ContextHandle(sys::CUcontext);
// SAFETY: a context handle may be made current on any thread.
unsafe impl Send for ContextHandle {}
// SAFETY: as above; the handle is immutable.
unsafe impl Sync for ContextHandle {}

/// Every GPU opened so far (see the module doc: never dropped).
static OPEN: Mutex<Vec<Arc<Gpu>>> = Mutex::new(Vec::new());

impl Gpu {
    /// GPU `ordinal`, opened on first use.
    pub(crate) fn open(ordinal: usize) -> Result<Arc<Gpu>> {
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(gpu) = open.iter().find(|g| g.ordinal == ordinal) {
            return Ok(gpu.clone());
        }
        let opened = driver::open(ordinal)?;
        let cu_ctx = ContextHandle(opened.ctx.cu_ctx());
        let stream = Stream::create()
            .map_err(|e| cuda_error(&format!("creating a stream on GPU {ordinal}"), e))?;
        // Allocated now, before any actor can run: pinned allocations are
        // among the calls that may synchronise the context. (`driver::open`
        // left the context current on this thread.)
        let faults = FaultSlots::allocate()
            .map_err(|e| cuda_error(&format!("allocating fault records on GPU {ordinal}"), e))?;
        let gpu = Arc::new(Gpu {
            _ctx: opened.ctx,
            cu_ctx,
            ordinal,
            name: opened.name,
            arch: opened.arch,
            async_alloc: opened.async_alloc,
            lazy_loading: opened.lazy_loading,
            stream,
            modules: ModuleCache::default(),
            faults,
            pinned: MappedPool::default(),
            actors: Actors::new(opened.stack_bytes),
        });
        tracing::debug!(ordinal, name = %gpu.name, arch = %gpu.arch, "opened CUDA device");
        open.push(gpu.clone());
        Ok(gpu)
    }

    /// Makes this GPU's context current on the calling thread (one
    /// `cuCtxGetCurrent`, plus `cuCtxSetCurrent` when another context was
    /// current). Unlike cudarc's `bind_to_thread` it reports only its own
    /// errors (see the module doc).
    pub(crate) fn bind(&self) -> std::result::Result<(), DriverError> {
        if result::ctx::get_current()? != Some(self.cu_ctx.0) {
            // SAFETY: the context is retained for the life of the process
            // (`_ctx`), so the handle is valid.
            unsafe { result::ctx::set_current(self.cu_ctx.0) }?;
        }
        Ok(())
    }

    /// The context handle, for tests that compare contexts.
    #[cfg(test)]
    pub(crate) fn context_handle(&self) -> sys::CUcontext {
        self.cu_ctx.0
    }

    /// cudarc's object for the context, for tests of what it records.
    #[cfg(test)]
    pub(crate) fn cudarc_context(&self) -> &Arc<CudaContext> {
        &self._ctx
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("ordinal", &self.ordinal)
            .field("name", &self.name)
            .field("arch", &self.arch)
            .finish()
    }
}
