//! The CUDA C emitter: [`Kernel`] → one self-contained
//! translation unit for NVRTC (no `#include`; NVRTC has no std headers).
//!
//! The unit reads top to bottom as:
//! 1. the prelude (`prelude.rs`): fixed-width integer typedefs, `offsetof`,
//!    the `SpindleFault` record from [`crate::abi`], device-only operations
//!    behind named helpers (so a host shim can replace them, ARCHITECTURE.md),
//!    and the fault helpers (`spindle_fault_exit`, the `spindle_check`s);
//! 2. struct declarations (`types.rs`) with `static_assert`s pinning each
//!    size, alignment and offset to Rust's layout; arrays are one-field
//!    wrapper structs so they copy like Rust arrays;
//! 3. helpers used by this kernel only (checked division, saturating casts,
//!    integer intrinsics; atomics in `atomic.rs`; barriers, warp operations,
//!    `lane_id` and fences in `collective.rs`), generated on demand, the
//!    device-only ones inside `#ifndef SPINDLE_HOST_SHIM`;
//! 4. device functions, callees first (prototypes first, so recursion works);
//! 5. the entry: for batch kernels
//!    `extern "C" __global__ void spindle_<name>(SpindleFault* spindle_fault, <params>)`
//!    (the ABI of [`crate::abi`]); for ring kernels the handler
//!    `__device__ R spindle_handler_<name>(SpindleFault* spindle_fault, S* p_state, M p_msg)`
//!    and no `__global__`: the ring emitter adds the persistent loop.
//!    The entry declares the kernel's block-shared arrays first, as
//!    `__shared__` variables of the array's wrapper type (`sh<i>_<name>`;
//!    in the ring handler they are static, so they outlive a message), then
//!    a batch kernel's views of the dynamic shared memory
//!    (`dynamic_shared.rs`: `T* dsh<i>_<name>` into one file-scope
//!    `extern __shared__` area, and `dsh<i>_<name>_len`).
//!
//! Semantics are those of [`crate::ir`]: no C++ undefined behaviour is ever
//! reachable (see `ops.rs`), and expressions keep Rust's left-to-right
//! evaluation order (see `expr.rs`).
//!
//! The same text compiles as host C++ with `host-shims/host_shim.h`
//! force-included: `codegen/tests/cuda_host.rs` runs every operator, cast
//! and intrinsic that way under UBSan and compares with Rust bit for bit.
//! Under NVRTC, `offsetof` is spelled with `__INTADDR__`, since NVRTC 13's
//! front end rejects `__builtin_offsetof`.
//!
//! ```
//! use spindle_codegen::cuda::{emit, EmitOptions, NVRTC_FLAGS};
//! use spindle_codegen::ir::*;
//! use spindle_codegen::KernelMode;
//! let kernel = Kernel {
//!     file: "src/lib.rs".into(),
//!     ..Kernel::new("noop", KernelMode::Batch, Function::new("noop", Ty::Unit))
//! };
//! let src = emit(&kernel, &EmitOptions::default());
//! assert_eq!(src.entry, "spindle_noop");
//! assert!(src.code.contains("extern \"C\" __global__ void spindle_noop(SpindleFault* spindle_fault)"));
//! assert!(NVRTC_FLAGS.contains(&"--fmad=false"));
//! ```

mod atomic;
mod collective;
mod dynamic_shared;
mod expr;
mod index;
mod intrinsic;
mod names;
mod ops;
mod prelude;
mod range;
mod scalar;
mod stmt;
mod types;
mod walk;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;

use crate::abi;
use crate::ir::{Kernel, Ty};
use names::Names;
use prelude::Helpers;
use types::ArrayTypes;

/// Options NVRTC must get for the emitted code to mean what the IR means:
/// no implicit FMA contraction, IEEE division and square root, no flushing
/// of subnormals, C++17. The runtime adds `-arch=sm_XY` and `-lineinfo`.
pub const NVRTC_FLAGS: &[&str] = &[
    "--fmad=false",
    "--prec-div=true",
    "--prec-sqrt=true",
    "--ftz=false",
    "-std=c++17",
];

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
    /// The `extern "C" __global__` symbol to launch: [`abi::entry_symbol`].
    /// For a ring kernel the ring emitter defines it around the handler.
    pub entry: String,
}

/// The parts of a ring kernel the ring emitter builds its persistent loop
/// from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingHandler {
    /// Prelude, types, helpers, device functions and the handler function;
    /// no `__global__`.
    pub code: String,
    /// `spindle_handler_<name>`: `__device__ R f(SpindleFault*, S*, M)`.
    pub handler: String,
    /// The C type of the state `S`.
    pub state_type: String,
    /// The C type of the message `M`.
    pub msg_type: String,
    /// The C type of the reply `R` (`void` for `()`).
    pub reply_type: String,
}

/// Emits a kernel as CUDA C: the whole translation unit for a batch
/// kernel; for a ring kernel the shared part of [`emit_ring_handler`]
/// (the ring emitter appends the `__global__` loop).
pub fn emit(kernel: &Kernel, options: &EmitOptions) -> CudaSource {
    CudaSource {
        code: emit_unit(kernel, options),
        entry: abi::entry_symbol(&kernel.name),
    }
}

/// Emits a ring kernel's handler and everything it needs, plus the C types
/// of its state, message and reply.
pub fn emit_ring_handler(kernel: &Kernel, options: &EmitOptions) -> RingHandler {
    let code = emit_unit(kernel, options);
    let mut ctx = Ctx::new(kernel, *options);
    let mut param_ty = |i: usize| match kernel.entry.params.get(i).map(|p| &p.kind) {
        Some(crate::ir::ParamKind::StateRef(t)) | Some(crate::ir::ParamKind::Value(t)) => {
            ctx.c_type(t)
        }
        _ => "void".to_string(),
    };
    let state_type = param_ty(0);
    let msg_type = param_ty(1);
    let reply_type = ctx.c_type(&kernel.entry.ret);
    RingHandler {
        code,
        handler: handler_symbol(&kernel.name),
        state_type,
        msg_type,
        reply_type,
    }
}

/// Whether any function of `kernel` performs a block or warp operation
/// (`sync_threads`, `sync_warp`, a shuffle or a vote): such a handler
/// needs every thread of its block, and only those, to take part.
pub fn uses_collectives(kernel: &Kernel) -> bool {
    std::iter::once(&kernel.entry)
        .chain(&kernel.device_fns)
        .any(walk::uses_collectives)
}

/// The ring handler's symbol: `spindle_handler_<name>`.
pub fn handler_symbol(kernel_name: &str) -> String {
    format!("spindle_handler_{}", crate::abi::c_name(kernel_name))
}

/// The C spelling of a value type in the code [`emit`] produces for this
/// kernel (`uint32_t`, `S_Tally`, `spindle_arr_4_float`, `void`).
pub fn c_type(kernel: &Kernel, ty: &Ty) -> String {
    Ctx::new(kernel, EmitOptions::default()).c_type(ty)
}

/// State shared by everything emitted for one kernel.
pub(crate) struct Ctx<'k> {
    pub(crate) kernel: &'k Kernel,
    pub(crate) options: EmitOptions,
    pub(crate) names: Names,
    pub(crate) arrays: ArrayTypes,
    pub(crate) helpers: Helpers,
    /// Problems with the IR itself (it should never have them); each
    /// becomes an `#error` so NVRTC rejects the unit with the reason.
    pub(crate) errors: Vec<String>,
}

impl<'k> Ctx<'k> {
    fn new(kernel: &'k Kernel, options: EmitOptions) -> Self {
        Ctx {
            kernel,
            options,
            names: Names::new(kernel),
            arrays: ArrayTypes::default(),
            helpers: Helpers::default(),
            errors: Vec::new(),
        }
    }

    /// Records an unsupported or malformed construct.
    pub(crate) fn error(&mut self, message: &str) {
        if !self.errors.iter().any(|e| e == message) {
            self.errors.push(message.to_string());
        }
    }

    /// Records malformed IR and returns a placeholder expression.
    pub(crate) fn invalid(&mut self, message: &str) -> String {
        self.error(&format!("invalid IR: {message}"));
        "spindle_invalid_ir".to_string()
    }
}

fn emit_unit(kernel: &Kernel, options: &EmitOptions) -> String {
    let mut ctx = Ctx::new(kernel, *options);
    // Functions first: they decide which types and helpers are needed.
    let functions = stmt::emit_functions(&mut ctx);
    let types = ctx.type_declarations();
    let mut out = String::new();
    for e in &ctx.errors {
        let _ = writeln!(out, "#error \"spindle: {}\"", e.replace(['"', '\\'], "'"));
    }
    out.push_str(&prelude::prelude(kernel));
    if !types.is_empty() {
        out.push_str("\n// ---- types\n");
        out.push_str(&types);
    }
    let helpers = ctx.helper_definitions();
    if !helpers.is_empty() {
        out.push_str("\n// ---- helpers\n");
        out.push_str(&helpers);
    }
    out.push_str(&functions);
    out
}
