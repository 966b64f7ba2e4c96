//! # spindle
//!
//! Write GPU kernels as ordinary Rust functions.
//!
//! - `#[kernel(mode = "batch")]` turns a function into a kernel launched
//!   once per call over a grid of threads: `name::launch(&dev, launch, args…)`.
//! - `#[kernel(mode = "ring")]` turns a handler `fn(state: &mut S, msg: M) -> R`
//!   into a persistent actor: `name::spawn(&dev, init)` returns an [`Actor`]
//!   that takes messages over lock-free rings, with no launch per message.
//!
//! The same kernels run on an NVIDIA GPU (CUDA C generated from the Rust,
//! compiled with NVRTC at first use) or, without one, on the CPU backend with
//! the same semantics.
//!
//! ```
//! use spindle::prelude::*;
//!
//! #[kernel(mode = "batch")]
//! fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
//!     let i = global_index();
//!     if i < y.len() {
//!         y[i] = a * x[i] + y[i];
//!     }
//! }
//!
//! # fn main() -> spindle::Result<()> {
//! let dev = Device::cpu();
//! let x = dev.upload(&[1.0f32; 1000])?;
//! let mut y = dev.upload(&vec![2.0f32; 1000])?;
//! saxpy::launch(&dev, Launch::for_elements(1000), 3.0, &x, &mut y)?;
//! assert!(y.to_vec()?.iter().all(|&v| v == 5.0));
//! # Ok(()) }
//! ```
//!
//! Threads of a block cooperate through the intrinsics of [`gpu`]:
//! block-shared arrays, barriers, atomics and warp operations. A barrier or
//! warp operation must be reached by every unfinished thread of its block
//! (warp); the CPU backend reports one that is not as
//! an [`Error::Fault`] of kind [`FaultKind::DivergentBarrier`]
//! ([`FaultKind::DivergentWarp`]), where a GPU would hang or compute garbage.
//!
//! ```
//! use spindle::prelude::*;
//!
//! /// Sums `x` into `total[0]`: each block reduces in shared memory, then
//! /// adds its sum with one atomic.
//! #[kernel(mode = "batch")]
//! fn sum(x: &[u32], total: &mut [u32]) {
//!     let partial = shared_array::<u32, 256>();
//!     let t = thread_idx().x as usize;
//!     let i = global_index();
//!     partial[t] = if i < x.len() { x[i] } else { 0 };
//!     sync_threads();
//!     let mut stride = 128;
//!     while stride > 0 {
//!         if t < stride {
//!             partial[t] += partial[t + stride];
//!         }
//!         sync_threads();
//!         stride /= 2;
//!     }
//!     if t == 0 {
//!         atomic_add(&mut total[0], partial[0]);
//!     }
//! }
//!
//! # fn main() -> spindle::Result<()> {
//! let dev = Device::cpu();
//! let x = dev.upload(&(1..=1000u32).collect::<Vec<_>>())?;
//! let mut total = dev.zeros::<u32>(1)?;
//! sum::launch(&dev, Launch::for_elements(1000), &x, &mut total)?;
//! assert_eq!(total.to_vec()?, vec![500_500]);
//! # Ok(()) }
//! ```

pub use spindle_macros::{device, kernel, DeviceType};
pub use spindle_runtime::jit::{precompile, PrecompileReport};
pub use spindle_runtime::{
    gpu, registered_kernels, Backend, Buffer, Device, DeviceType, Dim3, Error, Fault, FaultKind,
    KernelMode, Launch, Location, Result,
};
pub use spindle_runtime::{Actor, ActorStatus, RingConfig};

/// Compile-time and runtime pieces for code that wants the compiler itself.
pub use spindle_codegen as codegen;

/// Everything a kernel program needs: `use spindle::prelude::*;`.
pub mod prelude {
    pub use crate::gpu::*;
    pub use crate::{
        device, kernel, Actor, ActorStatus, Backend, Buffer, Device, DeviceType, Error, KernelMode,
        Launch, Result, RingConfig,
    };
}

/// Items used by generated code only. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use spindle_codegen::ir::Scalar;
    pub use spindle_codegen::layout::{
        follows_c_layout, has_zero_variant, ConstValue, EnumLayout, EnumVariant, FieldLayout,
        StructLayout, TypeDesc,
    };
    pub use spindle_runtime::inventory;
    pub use spindle_runtime::{
        const_value, ConstInfo, DeviceFnInfo, DeviceImplInfo, DeviceImplRegistration, KernelArg,
        KernelInfo, KernelRegistration,
    };
    pub use std::sync::OnceLock;
}
