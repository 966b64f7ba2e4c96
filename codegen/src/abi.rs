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

use std::mem::size_of;

crate::cdecl::c_struct! {
    /// The first fault of a launch, written by the faulting thread into device
    /// memory that the host zeroes before the launch and reads after it.
    ///
    /// `flag` is claimed with an atomic compare-and-swap 0 → 1 so exactly one
    /// thread writes the rest; the host reads the record after the launch
    /// completes, so no further ordering is needed.
    pub struct FaultRecord as "SpindleFault" {
        /// 0: no fault; 1: the rest is valid.
        pub flag: u32 => "uint32_t" "" false,
        /// A [`crate::ir::FaultKind`] code.
        pub kind: u32 => "uint32_t" "" false,
        /// Index into [`crate::ir::Kernel::fault_sites`] (`u32::MAX` when none).
        pub site: u32 => "uint32_t" "" false,
        pub _pad: u32 => "uint32_t" "" false,
        /// The offending index (out of bounds), else 0.
        pub index: u64 => "uint64_t" "" false,
        /// The length it was checked against, else 0.
        pub len: u64 => "uint64_t" "" false,
        /// `blockIdx` of the faulting thread.
        pub block: [u32; 3] => "uint32_t" "[3]" false,
        /// `threadIdx` of the faulting thread.
        pub thread: [u32; 3] => "uint32_t" "[3]" false,
    }
}

const _: () = assert!(size_of::<FaultRecord>() == 56);

/// The site value recorded when a fault has no [`crate::ir::FaultSite`].
pub const NO_SITE: u32 = u32::MAX;

/// The C declaration of [`FaultRecord`], generated from its Rust
/// definition, with `static_assert`s that pin its layout to the Rust one.
pub fn fault_record_c_decl() -> String {
    let mut out = String::new();
    crate::cdecl::c_struct_decl::<FaultRecord>(&mut out);
    out
}

/// The CUDA entry-point symbol of a kernel: `spindle_<name>`.
pub fn entry_symbol(kernel_name: &str) -> String {
    format!("spindle_{}", c_name(kernel_name))
}

/// A kernel's name as part of a C identifier: an instantiation of a
/// generic kernel, `axpy::<f32>` or `window_sums::<i64, -5>`, is spelled
/// `axpy__f32`, `window_sums__i64__m5`; other names are unchanged.
pub fn c_name(kernel_name: &str) -> String {
    let mut out = String::with_capacity(kernel_name.len());
    for part in kernel_name
        .replace("::<", ",")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !out.is_empty() {
            out.push_str("__");
        }
        for c in part.chars() {
            match c {
                c if c.is_ascii_alphanumeric() || c == '_' => out.push(c),
                '-' => out.push('m'),
                _ => {}
            }
        }
    }
    out
}
