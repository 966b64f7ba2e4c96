//! spindle-codegen: the compiler behind `#[kernel]`.
//!
//! A kernel travels through three stages:
//! 1. [`frontend`]: the Rust function (syn) is checked against the supported
//!    subset and lowered, with type inference, to the typed [`ir`]. At macro
//!    time this runs with external items unknown, to report spanned errors;
//!    at first use ([`link`]) it runs again with every struct layout and
//!    `#[device]` function known, producing the [`ir::Kernel`].
//! 2. [`cuda`]: the IR is emitted as CUDA C for NVRTC.
//! 3. The runtime's CPU backend interprets the same IR.
//!
//! This crate knows nothing of CUDA drivers; it is pure and testable anywhere.
//!
//! An implementation crate of spindle with no stable API of its own:
//! programs use the `spindle` facade crate, whose generated code reaches
//! what it needs of this crate through `spindle::__private`. Test fixtures
//! (`ring::samples`) and the builders of hand-written IR that every test
//! suite uses (`ir_build`) exist only with the `testing` feature.

pub mod abi;
pub mod cdecl;
pub mod cuda;
pub mod frontend;
pub mod generic_layout;
pub mod ir;
#[cfg(any(test, feature = "testing"))]
pub mod ir_build;
pub mod layout;
mod link;
mod mode;
pub mod ring;

pub use link::{
    link, link_instance, ExternalConst, GenericArg, ItemSource, KernelOptions, LinkError,
};
pub use mode::{KernelMode, UnknownMode};
