//! spindle-runtime: devices, buffers, launches and the backends behind them.
//!
//! Most programs use it through the `spindle` facade crate.

mod buffer;
pub mod cpu;
pub mod cuda;
mod device;
mod error;
mod fallible;
mod fault;
pub mod gpu;
pub mod jit;
mod kernel;
mod launch;
pub mod ring;
mod types;

pub use buffer::Buffer;
#[doc(hidden)]
pub use buffer::Mem;
pub use device::{Backend, Device};
pub use error::{Error, Result};
#[doc(hidden)]
pub use inventory;
pub use kernel::{
    const_value, registered_kernels, ConstInfo, DeviceConst, DeviceFnInfo, KernelArg, KernelInfo,
    KernelRegistration,
};
pub use launch::{Dim3, Launch};
pub use ring::{Actor, RingConfig};
pub use spindle_codegen::KernelMode;
pub use types::DeviceType;
