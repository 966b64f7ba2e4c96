//! The CUDA C emitter: [`Kernel`](crate::ir::Kernel) → source text for NVRTC.

use crate::ir::Kernel;

/// Emitter options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmitOptions {
    /// Emit `#line N "file.rs"` before each statement so NVRTC errors and
    /// profilers name the user's Rust lines.
    pub line_directives: bool,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            line_directives: true,
        }
    }
}

/// Generated CUDA C for one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CudaSource {
    /// The complete translation unit.
    pub code: String,
    /// The `extern "C" __global__` symbol to launch.
    pub entry: String,
}

/// Emits a batch kernel as CUDA C.
pub fn emit(kernel: &Kernel, options: &EmitOptions) -> CudaSource {
    let _ = (kernel, options);
    unimplemented!("CUDA emitter not built yet")
}
