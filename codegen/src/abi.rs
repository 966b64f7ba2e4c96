//! The binary interface between generated CUDA code and the host, defined
//! once here in Rust; the C declarations are generated from these types.
//!
//! Batch kernels are emitted as
//!
//! ```c
//! extern "C" __global__ void spindle_<name>(SpindleFault* spindle_fault, <params>)
//! ```
//!
//! where each IR parameter becomes, in order: a scalar or struct by value
//! (arrays travel inside a one-field struct of the same layout), or for a
//! slice `T* <name>, uint64_t <name>_len` (`const T*` for `&[T]`).

use std::mem::{offset_of, size_of};

/// The first fault of a launch, written by the faulting thread into device
/// memory that the host zeroes before the launch and reads after it.
///
/// `flag` is claimed with an atomic compare-and-swap 0 → 1 so exactly one
/// thread writes the rest; the host reads the record after the launch
/// completes, so no further ordering is needed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRecord {
    /// 0: no fault; 1: the rest is valid.
    pub flag: u32,
    /// A [`crate::ir::FaultKind`] code.
    pub kind: u32,
    /// Index into [`crate::ir::Kernel::fault_sites`] (`u32::MAX` when none).
    pub site: u32,
    pub _pad: u32,
    /// The offending index (out of bounds), else 0.
    pub index: u64,
    /// The length it was checked against, else 0.
    pub len: u64,
    /// `blockIdx` of the faulting thread.
    pub block: [u32; 3],
    /// `threadIdx` of the faulting thread.
    pub thread: [u32; 3],
}

const _: () = assert!(size_of::<FaultRecord>() == 56);

/// The site value recorded when a fault has no [`crate::ir::FaultSite`].
pub const NO_SITE: u32 = u32::MAX;

/// The C declaration of [`FaultRecord`], with `static_assert`s that pin its
/// layout to the Rust one.
pub fn fault_record_c_decl() -> String {
    format!(
        "struct SpindleFault {{\n  uint32_t flag;\n  uint32_t kind;\n  uint32_t site;\n  uint32_t _pad;\n  uint64_t index;\n  uint64_t len;\n  uint32_t block[3];\n  uint32_t thread[3];\n}};\n\
static_assert(sizeof(SpindleFault) == {size}, \"SpindleFault size\");\n\
static_assert(offsetof(SpindleFault, kind) == {kind}, \"SpindleFault.kind\");\n\
static_assert(offsetof(SpindleFault, site) == {site}, \"SpindleFault.site\");\n\
static_assert(offsetof(SpindleFault, index) == {index}, \"SpindleFault.index\");\n\
static_assert(offsetof(SpindleFault, len) == {len}, \"SpindleFault.len\");\n\
static_assert(offsetof(SpindleFault, block) == {block}, \"SpindleFault.block\");\n\
static_assert(offsetof(SpindleFault, thread) == {thread}, \"SpindleFault.thread\");\n",
        size = size_of::<FaultRecord>(),
        kind = offset_of!(FaultRecord, kind),
        site = offset_of!(FaultRecord, site),
        index = offset_of!(FaultRecord, index),
        len = offset_of!(FaultRecord, len),
        block = offset_of!(FaultRecord, block),
        thread = offset_of!(FaultRecord, thread),
    )
}

/// The CUDA entry-point symbol of a kernel: `spindle_<name>`.
pub fn entry_symbol(kernel_name: &str) -> String {
    format!("spindle_{kernel_name}")
}
