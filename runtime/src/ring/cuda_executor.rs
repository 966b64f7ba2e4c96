//! The CUDA executor: the generated persistent kernel on a GPU.

use std::sync::Arc;

use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::layout::RingLayout;

use super::config::RingConfig;
use super::executor::Executor;
use super::memory::RawRegion;
use crate::cuda::CudaDevice;
use crate::kernel::KernelInfo;
use crate::{Error, Result};

/// Starts the ring kernel on `dev`.
pub(crate) fn start(
    dev: &CudaDevice,
    info: &'static KernelInfo,
    kernel: &Arc<Kernel>,
    layout: RingLayout,
    init: &[u8],
    config: &RingConfig,
) -> Result<(Arc<RawRegion>, Box<dyn Executor>)> {
    let _ = (dev, info, layout, init, config);
    Err(Error::Unsupported(format!(
        "ring kernel `{}` on CUDA: not built yet",
        kernel.name
    )))
}
