//! The CUDA backend: driver probing, NVRTC, module cache, launches.
//!
//! - `driver`: opens a GPU and never panics; no driver, no device or a bad
//!   ordinal is [`Error::CudaUnavailable`](crate::Error::CudaUnavailable).
//! - `nvrtc`: finds and loads libnvrtc (search order in that module's doc;
//!   `SPINDLE_NVRTC_DIR` first); `compile`: [`compile_cubin`] turns CUDA C
//!   into a CUBIN for one `sm_XY` with error excerpts (`excerpt`) and the
//!   ptxas resource report ([`Resources`], parsed in `resources`). None of
//!   them needs a GPU.
//! - `context`: one GPU's process-wide state, shared by every
//!   `Device::cuda(n)`; `actors`: running ring actors and the set-up work
//!   they constrain (stack, preloading, the actor cap); `pinned`: mapped
//!   pinned memory; `faults`: batch launches' fault records.
//! - `modules`: the per-GPU cache of loaded kernels, backed by the disk
//!   cache of `crate::cache`; `launch`: ABI argument packing, the launch and
//!   the fault check; `memory`: buffers ([`DeviceMem`]).

mod actors;
#[cfg(test)]
mod call_count_tests;
mod compile;
mod context;
mod driver;
mod excerpt;
mod faults;
#[cfg(test)]
mod gpu_actor_tests;
#[cfg(test)]
mod gpu_tests;
mod graph;
mod launch;
mod memory;
mod modules;
mod nvrtc;
mod pinned;
mod queue;
mod resources;

use std::sync::Arc;

pub(crate) use actors::ActorSlot;
pub use compile::{compile_cubin, options as nvrtc_options, CompiledModule, EXTRA_FLAGS};
pub(crate) use context::{Gpu, Stream};
pub(crate) use driver::{cuda_error, describe, is_sticky};
pub(crate) use graph::{CudaGraph, Node as GraphNode};
pub use memory::DeviceMem;
pub(crate) use modules::{cache_key, LoadedKernel};
pub use modules::{cubin_for, module_source};
pub use nvrtc::{nvrtc_origin, nvrtc_version};
pub(crate) use queue::QueueStream;
pub use resources::{FunctionResources, Resources};

use crate::Result;

/// One CUDA GPU as a [`Device`](crate::Device) holds it: a handle to the
/// GPU's process-wide state (`context::Gpu`), which every
/// `Device::cuda(n)` of the same GPU shares.
pub struct CudaDevice {
    pub(crate) gpu: Arc<Gpu>,
}

impl CudaDevice {
    /// Opens GPU number `ordinal` (once per process; later calls share it).
    pub(crate) fn new(ordinal: usize) -> Result<Self> {
        Ok(CudaDevice {
            gpu: Gpu::open(ordinal)?,
        })
    }

    /// The GPU's name, e.g. `"NVIDIA H100 80GB HBM3"`.
    pub(crate) fn name(&self) -> String {
        self.gpu.name.clone()
    }

    /// The GPU's architecture as NVRTC names it, e.g. `"sm_90"`.
    pub fn arch(&self) -> &str {
        &self.gpu.arch
    }

    /// The device ordinal.
    pub fn ordinal(&self) -> usize {
        self.gpu.ordinal
    }
}

impl std::fmt::Debug for CudaDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaDevice")
            .field("ordinal", &self.gpu.ordinal)
            .field("name", &self.gpu.name)
            .field("arch", &self.gpu.arch)
            .finish()
    }
}
