//! The CUDA backend: driver probing, NVRTC, module cache, launches.
//!
//! - `driver`: opens a GPU and never panics; no driver, no device or a bad
//!   ordinal is [`Error::CudaUnavailable`](crate::Error::CudaUnavailable).
//! - `nvrtc`: finds and loads libnvrtc (search order in that module's doc;
//!   `SPINDLE_NVRTC_DIR` first); `compile`: [`compile_cubin`] turns CUDA C
//!   into a CUBIN for one `sm_XY` with error excerpts (`excerpt`) and the
//!   ptxas resource report ([`Resources`], parsed in `resources`). None of
//!   them needs a GPU.
//! - `modules`: the per-device cache of loaded kernels, backed by the disk
//!   cache of `crate::jit`; `launch`: ABI argument packing, the launch and
//!   the fault read-back; `memory`: buffers ([`DeviceMem`]).

mod compile;
mod driver;
mod excerpt;
#[cfg(test)]
mod gpu_tests;
mod launch;
mod memory;
mod modules;
mod nvrtc;
mod resources;

use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaStream};
use spindle_codegen::abi::FaultRecord;

pub use compile::{compile_cubin, options as nvrtc_options, CompiledModule, EXTRA_FLAGS};
pub(crate) use driver::cuda_error;
pub use memory::DeviceMem;
pub(crate) use modules::cache_key;
pub use modules::{cubin_for, module_source};
pub use nvrtc::{nvrtc_origin, nvrtc_version};
pub use resources::{FunctionResources, Resources};

use crate::Result;

/// One CUDA GPU: its context, the stream all of spindle's work on it goes
/// to, and the kernels loaded into it.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    /// A dedicated non-blocking stream (never the legacy NULL stream).
    stream: Arc<CudaStream>,
    ordinal: usize,
    name: String,
    /// `sm_XY` of the device, the target of every compile.
    arch: String,
    // Boxed to keep `Device`'s enum small.
    modules: Box<modules::ModuleCache>,
    /// Device copies of [`FaultRecord`] for batch launches: each launch
    /// leases one of its own (a new one when all are leased), so launches
    /// from several threads never share a record. They still share
    /// `stream`, so their kernels run one after another.
    faults: Box<Mutex<Vec<DeviceMem>>>,
}

impl CudaDevice {
    /// Opens GPU number `ordinal`.
    pub(crate) fn new(ordinal: usize) -> Result<Self> {
        let opened = driver::open(ordinal)?;
        let fault = memory::zeroed(&opened.stream, std::mem::size_of::<FaultRecord>())?;
        let dev = CudaDevice {
            ctx: opened.ctx,
            stream: opened.stream,
            ordinal,
            name: opened.name,
            arch: opened.arch,
            modules: Box::default(),
            faults: Box::new(Mutex::new(vec![fault])),
        };
        tracing::debug!(ordinal, name = %dev.name, arch = %dev.arch, "opened CUDA device");
        Ok(dev)
    }

    /// The GPU's name, e.g. `"NVIDIA H100 80GB HBM3"`.
    pub(crate) fn name(&self) -> String {
        self.name.clone()
    }

    /// The GPU's architecture as NVRTC names it, e.g. `"sm_90"`.
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The context (for the ring actor's own streams and pinned memory).
    pub(crate) fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("ordinal", &self.ordinal)
            .field("name", &self.name)
            .field("arch", &self.arch)
            .finish()
    }
}
