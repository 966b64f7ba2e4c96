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
//! the same semantics. [`Device::default`] picks GPU 0 when CUDA is usable
//! and the CPU backend otherwise (`SPINDLE_BACKEND=cuda|cpu|auto` decides).
//!
//! # Batch kernels
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
//! A batch kernel takes scalars, [`DeviceType`] values, and slices: `&[T]`
//! is passed as a `&Buffer<T>`, `&mut [T]` as a `&mut Buffer<T>`.
//! [`Launch`] gives the grid and block sizes (and dynamic shared memory);
//! `launch` returns when the kernel has finished.
//!
//! Threads of a block cooperate through the intrinsics of [`gpu`]:
//! block-shared arrays, barriers, atomics and warp operations. A barrier or
//! warp operation must be reached by every unfinished thread of its block
//! (warp); the CPU backend reports one that is not as an [`Error::Fault`]
//! of kind [`FaultKind::DivergentBarrier`] ([`FaultKind::DivergentWarp`]),
//! where a GPU would hang or compute garbage.
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
//!
//! # Ring kernels: persistent actors
//!
//! A ring kernel is started once and then serves messages: on a GPU it is
//! a kernel that stays resident, polling a request ring in pinned host
//! memory; on the CPU backend, a thread. Each message runs the handler on
//! the state the actor keeps, and its return value is the reply. Replies
//! come back in the order the messages were sent.
//!
//! ```
//! use spindle::prelude::*;
//!
//! #[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
//! #[repr(C)]
//! struct Tally {
//!     count: u32,
//!     sum: f32,
//! }
//!
//! #[derive(Clone, Copy, Debug, DeviceType)]
//! #[repr(C)]
//! struct Add {
//!     value: f32,
//! }
//!
//! #[kernel(mode = "ring")]
//! fn tally(state: &mut Tally, msg: Add) -> Tally {
//!     state.count += 1;
//!     state.sum += msg.value;
//!     *state
//! }
//!
//! # fn main() -> spindle::Result<()> {
//! let dev = Device::cpu();
//! let mut actor = tally::spawn(&dev, Tally::default())?;
//! // One message, one reply.
//! assert_eq!(actor.call(Add { value: 2.0 })?, Tally { count: 1, sum: 2.0 });
//! // Pipelined: send many, then receive their replies in order.
//! for _ in 0..10 {
//!     actor.send(Add { value: 1.0 })?;
//! }
//! for i in 0..10 {
//!     assert_eq!(actor.recv()?.count, 2 + i);
//! }
//! // Stops the actor and returns its state.
//! assert_eq!(actor.shutdown()?, Tally { count: 11, sum: 12.0 });
//! # Ok(()) }
//! ```
//!
//! [`RingConfig`] (through `name::spawn_with`) sets the ring's capacity
//! and the timeouts. A fault in the handler fails the actor: the replies
//! published before it are still received, then every call returns the
//! fault.
//!
//! # Errors
//!
//! Every fallible call returns [`Result`], whose [`Error`] says what was
//! wrong with names and sizes. A fault inside a kernel (an index out of
//! bounds, an integer division by zero) stops the faulting thread and
//! comes back as [`Error::Fault`], which a program can match:
//!
//! ```
//! use spindle::prelude::*;
//! use spindle::FaultKind;
//!
//! #[kernel(mode = "batch")]
//! fn shift(x: &[f32], y: &mut [f32]) {
//!     let i = global_index();
//!     if i < y.len() {
//!         y[i] = x[i + 1];
//!     }
//! }
//!
//! # fn main() -> spindle::Result<()> {
//! let dev = Device::cpu();
//! let x = dev.upload(&[1.0f32; 4])?;
//! let mut y = dev.zeros::<f32>(4)?;
//! let err = shift::launch(&dev, Launch::for_elements(4), &x, &mut y).unwrap_err();
//! let fault = err.fault().expect("a kernel fault");
//! assert_eq!(fault.kind, FaultKind::OutOfBounds { index: 4, len: 4 });
//! assert_eq!((fault.kernel.as_str(), fault.what.as_str()), ("shift", "x"));
//! assert_eq!(fault.thread.x, 3);
//! # Ok(()) }
//! ```
//!
//! # Generic kernels
//!
//! Kernels and `#[device]` fns take type parameters bounded by
//! [`gpu::Scalar`], [`gpu::Num`], [`gpu::Int`] or [`gpu::Float`], and const
//! parameters of integer types. Each instantiation is its own kernel, made
//! at its first use; const parameters fold into the generated code.
//!
//! ```
//! use spindle::prelude::*;
//!
//! #[kernel(mode = "batch")]
//! fn axpy<T: Float>(a: T, x: &[T], y: &mut [T]) {
//!     let i = global_index();
//!     if i < y.len() {
//!         y[i] = a * x[i] + y[i];
//!     }
//! }
//!
//! #[kernel(mode = "batch")]
//! fn window<T: Num, const W: usize>(x: &[T], out: &mut [T]) {
//!     let i = global_index();
//!     if i < out.len() {
//!         let mut s = T::ZERO;
//!         for k in 0..W {
//!             if i + k < x.len() {
//!                 s += x[i + k];
//!             }
//!         }
//!         out[i] = s;
//!     }
//! }
//!
//! # fn main() -> spindle::Result<()> {
//! let dev = Device::cpu();
//! let x = dev.upload(&[1.0f64, 2.0])?;
//! let mut y = dev.upload(&[1.0f64, 1.0])?;
//! axpy::launch(&dev, Launch::for_elements(2), 2.0f64, &x, &mut y)?; // T = f64
//! assert_eq!(y.to_vec()?, vec![3.0, 5.0]);
//! let x = dev.upload(&[1i64, 2, 3, 4])?;
//! let mut out = dev.zeros::<i64>(4)?;
//! window::launch::<i64, 2>(&dev, Launch::for_elements(4), &x, &mut out)?;
//! assert_eq!(out.to_vec()?, vec![3, 5, 7, 4]);
//! assert!(axpy::cuda_source::<f32>().contains("spindle_axpy__f32"));
//! # Ok(()) }
//! ```
//!
//! # What a kernel may contain
//!
//! The kernel's body is checked by `#[kernel]` at compile time: a
//! construct the GPU side cannot run is a compile error at its tokens
//! (the README lists the supported subset). Functions a kernel calls are
//! marked [`#[device]`](device); structs and C-like enums it uses derive
//! [`DeviceType`](derive@DeviceType).

/// Turns a Rust function into a GPU kernel: `#[kernel(mode = "batch")]` or
/// `#[kernel(mode = "ring")]`.
///
/// # Options
///
/// - `mode = "batch"` (required, or `"ring"`): a batch kernel runs once
///   per `launch` over a grid of threads; a ring kernel is a persistent
///   actor handling messages, `fn(state: &mut S, msg: M) -> R`.
/// - `threads = N` (ring kernels only, `1..=1024`, default 1): how many
///   threads of one block run each message. Each sees its own
///   `thread_idx()`; thread 0's return value is the reply.
/// - `bounds_checks = false` (default `true`): drops this kernel's index
///   checks on a GPU. An index out of bounds is then undefined behaviour
///   there (a wrong value, another buffer overwritten, or an illegal-address
///   error that ends the launch) instead of an [`Error::Fault`]. The CPU
///   backend checks every index regardless.
///
/// An option given twice, or one not listed here, is a compile error.
///
/// # What it generates
///
/// The function itself stays as written (rustc type-checks it, and it can
/// be called on the host as a reference). Beside it, a module of the same
/// name holds the host glue:
///
/// | item | batch | ring |
/// |---|---|---|
/// | `name::MODE: KernelMode` | ✓ | ✓ |
/// | `name::cuda_source() -> String`, `name::try_cuda_source() -> Result<String>`: the generated CUDA C (no GPU needed) | ✓ | ✓ |
/// | `name::launch(&Device, Launch, args…) -> Result<()>`: runs the kernel and waits | ✓ | |
/// | `name::spawn(&Device, init: S) -> Result<Actor<S, M, R>>` | | ✓ |
/// | `name::spawn_with(&Device, init: S, RingConfig) -> Result<Actor<S, M, R>>` | | ✓ |
/// | `name::kernel() -> RegisteredKernel`: the kernel, e.g. for [`precompile_kernels`] | ✓ | ✓ |
///
/// A generic kernel's glue is generic like it: `axpy::launch::<f32>(..)`
/// (or with the types inferred from the arguments), `axpy::cuda_source::<f32>()`,
/// `axpy::kernel::<f32>()`; each instantiation is its own kernel.
///
/// The kernel is also listed by [`registered_kernels`]. Its Rust is
/// compiled to CUDA C (or to the CPU backend's program) at first use, once
/// per process.
///
/// ```
/// use spindle::prelude::*;
///
/// /// Each of 32 threads adds the message to its own lane of the state;
/// /// the reply is thread 0's return value.
/// #[kernel(mode = "ring", threads = 32)]
/// fn total(state: &mut [u64; 32], msg: u64) -> u64 {
///     let t = thread_idx().x as usize;
///     state[t] += msg;
///     sync_threads();
///     state[0]
/// }
///
/// #[kernel(mode = "batch", bounds_checks = false)]
/// fn scale(k: f32, y: &mut [f32]) {
///     let i = global_index();
///     if i < y.len() {
///         y[i] *= k;
///     }
/// }
///
/// # fn main() -> spindle::Result<()> {
/// assert_eq!(total::MODE, KernelMode::Ring);
/// assert!(scale::cuda_source().contains("__global__"));
/// let dev = Device::cpu();
/// let mut actor = total::spawn_with(&dev, [0; 32], RingConfig::default().capacity(64))?;
/// assert_eq!(actor.call(5)?, 5);
/// assert_eq!(actor.call(2)?, 7);
/// assert_eq!(actor.shutdown()?, [7; 32]);
/// let mut y = dev.upload(&[1.0f32, 2.0])?;
/// scale::launch(&dev, Launch::for_elements(2), 3.0, &mut y)?;
/// assert_eq!(y.to_vec()?, vec![3.0, 6.0]);
/// # Ok(()) }
/// ```
pub use spindle_macros::kernel;
pub use spindle_macros::{device, DeviceType};
pub use spindle_runtime::cache::{precompile, precompile_kernels, PrecompileReport};
pub use spindle_runtime::{
    gpu, registered_kernels, Backend, Buffer, Device, DeviceType, Dim3, Error, Fault, FaultKind,
    Graph, KernelMode, Launch, Location, Queue, RegisteredKernel, Result, Unavailable,
};
pub use spindle_runtime::{Actor, ActorGroup, ActorStatus, GroupConfig, RingConfig};

/// Everything a kernel program needs: `use spindle::prelude::*;`.
pub mod prelude {
    pub use crate::gpu::*;
    pub use crate::{
        device, kernel, Actor, ActorGroup, ActorStatus, Backend, Buffer, Device, DeviceType, Error,
        Graph, GroupConfig, KernelMode, Launch, Queue, Result, RingConfig,
    };
}

/// Items used by generated code only. Not a stable API.
#[doc(hidden)]
pub use spindle_runtime::__private;
