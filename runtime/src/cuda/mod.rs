//! The CUDA backend: driver probing, NVRTC, module cache, launches.

use spindle_codegen::ir::Kernel;

use crate::kernel::{KernelArg, KernelInfo};
use crate::{Error, Launch, Result};

/// Device memory of a buffer.
pub struct DeviceMem {
    _private: (),
}

impl DeviceMem {
    pub(crate) fn copy_to_host(&self, dst: &mut [u8]) -> Result<()> {
        let _ = dst;
        Err(Error::Unsupported("CUDA backend not built yet".into()))
    }

    pub(crate) fn copy_from_host(&mut self, src: &[u8]) -> Result<()> {
        let _ = src;
        Err(Error::Unsupported("CUDA backend not built yet".into()))
    }
}

/// One CUDA GPU.
pub struct CudaDevice {
    _private: (),
}

impl CudaDevice {
    pub(crate) fn new(ordinal: usize) -> Result<Self> {
        let _ = ordinal;
        Err(Error::CudaUnavailable("CUDA backend not built yet".into()))
    }

    pub(crate) fn name(&self) -> String {
        String::new()
    }

    pub(crate) fn upload(&self, bytes: &[u8]) -> Result<DeviceMem> {
        let _ = bytes;
        Err(Error::Unsupported("CUDA backend not built yet".into()))
    }

    pub(crate) fn zeros(&self, len: usize) -> Result<DeviceMem> {
        let _ = len;
        Err(Error::Unsupported("CUDA backend not built yet".into()))
    }

    pub(crate) fn launch(
        &self,
        info: &'static KernelInfo,
        kernel: &Kernel,
        launch: &Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        let _ = (info, kernel, launch, args);
        Err(Error::Unsupported("CUDA backend not built yet".into()))
    }
}
