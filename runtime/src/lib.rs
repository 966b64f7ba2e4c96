//! spindle-runtime: devices, buffers, launches, actors, and the two
//! backends behind them.
//!
//! An implementation crate of spindle with no stable API of its own:
//! programs use it through the `spindle` facade crate, which re-exports the
//! user API. `ARCHITECTURE.md` at the repository root maps the whole
//! workspace.
//!
//! What happens here, in the order a program meets it:
//! 1. [`Device`] (`device.rs`) picks a backend — CUDA GPU `n`, or the CPU
//!    backend (`SPINDLE_BACKEND`) — and owns its memory: [`Buffer`]
//!    (`buffer.rs`) is a typed allocation on either, [`DeviceType`]
//!    (`types.rs`) the marker of what may live in one.
//! 2. A kernel's metadata, emitted by `#[kernel]`/`#[device]`, is linked at
//!    first use (`kernel.rs`): its captured Rust source is parsed and
//!    lowered by `spindle_codegen` into the typed IR, once per kernel.
//! 3. A batch launch ([`Launch`], `launch.rs`) runs the IR on the device's
//!    backend:
//!    - [`cuda`]: CUDA C from `spindle_codegen::cuda`, compiled by NVRTC to a
//!      CUBIN (cached on disk by [`cache`]), loaded and launched through
//!      cudarc; the kernel's fault record is read back after it;
//!    - [`cpu`]: the IR interpreted by host threads with GPU semantics.
//!
//!    Either way, a fault (an index out of bounds, a division by zero, a
//!    divergent barrier) comes back as an [`Error`] naming the kernel, the
//!    place in the user's Rust, the block and the thread (`fault.rs`).
//! 4. A ring kernel runs as an [`Actor`] ([`ring`]): a persistent executor
//!    (the generated kernel on a GPU, a host thread on the CPU backend)
//!    serving messages over the ring protocol that
//!    `spindle_codegen::ring::layout` defines.
//!
//! [`gpu`] holds the device intrinsics' host-side stubs (they exist so
//! rustc type-checks kernels; calling one outside a kernel panics).

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
// The derive names `::spindle::DeviceType` and `::spindle::__private`:
// in this crate's tests, that is this crate.
#[cfg(test)]
extern crate self as spindle;

mod buffer;
pub mod cache;
pub mod cpu;
pub mod cuda;
mod device;
mod error;
mod fallible;
mod fault;
mod generic;
pub mod gpu;
mod kernel;
mod launch;
mod numeric;
mod queue;
pub mod ring;
mod types;

pub use buffer::Buffer;
#[doc(hidden)]
pub use buffer::Mem;
pub use device::{Backend, Device};
pub use error::{Error, Result, Unavailable};
pub use fault::{Fault, FaultKind, Location};
#[doc(hidden)]
pub use inventory;
pub use kernel::{
    const_value, kernel_infos, registered_kernels, ConstInfo, DeviceConst, DeviceFnInfo,
    DeviceImplInfo, DeviceImplRegistration, KernelArg, KernelInfo, KernelRegistration,
    RegisteredKernel,
};
pub use launch::{Dim3, Launch};
#[doc(hidden)]
pub use queue::Storage;
pub use queue::{Graph, Queue};
pub use ring::{Actor, ActorGroup, ActorStatus, GroupConfig, RingConfig};
pub use spindle_codegen::KernelMode;
pub use types::DeviceType;
