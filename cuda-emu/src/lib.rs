//! A stand-in CUDA driver and NVRTC that run spindle's generated CUDA on
//! the CPU, so the GPU path (argument packing, module loading, streams,
//! pinned mapped memory, persistent ring kernels running concurrently with
//! the host) runs on machines without a GPU. `cuda-emu/README.md` has the
//! design, what is modelled (each rule with its source in NVIDIA's
//! documentation) and what only a real GPU can show.
//!
//! The crate builds one shared library. `scripts/cuda-emu.sh` installs it
//! under the names the CUDA driver and NVRTC are loaded by
//! (`libcuda.so.1`, `libcuda.so`, `libnvrtc.so.13`) and prints the
//! environment that makes a program load it:
//!
//! - [`nvrtc`]: every `nvrtc*` call goes to the real NVRTC, so logs,
//!   errors and the CUBIN are NVRTC's own; a successful compile also
//!   builds the program as host C++ (g++, against spindle's host shims) and
//!   the CUBIN handed back carries that build ([`image`]).
//! - [`driver`]: the `cu*` entry points cudarc 0.19 resolves: a device
//!   with an H100's attributes, contexts, a table of allocations, streams as
//!   in-order worker threads, events, modules whose kernels run as host
//!   code, synchronising calls that fail instead of hanging behind a
//!   persistent kernel, and injected faults ([`config`]).

pub mod config;
pub mod driver;
mod ffi;
pub mod image;
mod log;
pub mod nvrtc;
pub mod resources;
