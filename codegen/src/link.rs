//! [`link`]: from the Rust source of a kernel and of the items it uses to a
//! typed [`Kernel`](crate::ir::Kernel).

use std::fmt;

use crate::ir::{Kernel, Scalar, SrcSpan};
use crate::layout::{ConstValue, TypeDesc};
use crate::KernelMode;

/// The options given in `#[kernel(...)]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOptions {
    pub mode: KernelMode,
    /// Ring handler threads per block (1 ..=
    /// [`MAX_RING_THREADS`](crate::ir::MAX_RING_THREADS)); ignored for batch.
    pub threads: u32,
    /// `bounds_checks = false` turns index checks off.
    pub bounds_checks: bool,
    /// Keep `debug_assert!`s: `cfg!(debug_assertions)` of the crate that
    /// holds the kernel, as Rust keeps them.
    pub debug_assertions: bool,
}

impl KernelOptions {
    /// Defaults for a mode: one thread, bounds checks on.
    pub const fn new(mode: KernelMode) -> Self {
        KernelOptions {
            mode,
            threads: 1,
            bounds_checks: true,
            debug_assertions: true,
        }
    }
}

/// The Rust source text of one item (a kernel or a `#[device]` fn), as the
/// macro captured it, with where it starts in the user's file so every
/// position in the IR names the user's line.
#[derive(Clone, Copy, Debug)]
pub struct ItemSource<'a> {
    /// The function's name.
    pub name: &'a str,
    /// The text of the `fn` item (without its spindle attribute). Token
    /// positions in it are relative to `line`/`column`.
    pub source: &'a str,
    /// The user's source file (`file!()`).
    pub file: &'a str,
    /// 1-based line in `file` of the first line of `source`.
    pub line: u32,
    /// The value of every module-level constant the item names (see
    /// [`frontend::Analysis::consts`](crate::frontend::Analysis::consts)).
    pub consts: &'a [ExternalConst<'a>],
}

/// A module-level `const` an item names, with its value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExternalConst<'a> {
    /// The path as the item writes it, spelled by
    /// [`frontend::const_key`](crate::frontend::const_key) (`WINDOW`,
    /// `config::WINDOW`).
    pub path: &'a str,
    pub value: ConstValue,
}

/// Linking failed: the kernel uses something that does not fit (a struct
/// that was not described, a field that does not exist, a type mismatch
/// only visible with the layouts known).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkError {
    /// What went wrong, in a sentence that says what to do.
    pub message: String,
    /// The file of the item at fault.
    pub file: String,
    /// Where in it.
    pub span: SrcSpan,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file,
            self.span.line,
            self.span.column + 1,
            self.message
        )
    }
}

impl std::error::Error for LinkError {}

/// Links a kernel: parses `kernel` and `device_fns`, resolves the struct
/// types described by `types` (every `TypeDesc` reachable from them is
/// available by name) and each item's constants, type-checks everything and
/// lowers it to the IR.
///
/// `device_fns` may hold more functions than the kernel calls; only the
/// reachable ones end up in [`Kernel::device_fns`].
pub fn link(
    kernel: &ItemSource<'_>,
    options: &KernelOptions,
    device_fns: &[ItemSource<'_>],
    types: &[&'static TypeDesc],
) -> Result<Kernel, LinkError> {
    crate::frontend::link_kernel(kernel, &[], options, device_fns, types)
}

/// [`link`] for one instantiation of a generic kernel: `args` stand for
/// its generic parameters, in order. The kernel is named after the
/// instantiation (`axpy::<f32>`, see
/// [`frontend::instance_name`](crate::frontend::instance_name)), and its
/// const parameters are folded. A kernel that is not generic takes no
/// arguments.
pub fn link_instance(
    kernel: &ItemSource<'_>,
    args: &[GenericArg],
    options: &KernelOptions,
    device_fns: &[ItemSource<'_>],
    types: &[&'static TypeDesc],
) -> Result<Kernel, LinkError> {
    crate::frontend::link_kernel(kernel, args, options, device_fns, types)
}

/// A generic argument of an instantiation: a scalar type for a type
/// parameter, a value for a const parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GenericArg {
    Type(Scalar),
    Const(ConstValue),
}

impl fmt::Display for GenericArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GenericArg::Type(s) => f.write_str(s.rust_name()),
            GenericArg::Const(ConstValue::Bool(b)) => write!(f, "{b}"),
            GenericArg::Const(ConstValue::Int(_, i)) => write!(f, "{i}"),
            GenericArg::Const(ConstValue::Float(_, x)) => write!(f, "{x:?}"),
        }
    }
}
