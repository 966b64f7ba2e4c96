//! Kernel metadata emitted by `#[kernel]` and `#[device]`, linking at first
//! use, and the arguments the glue passes to a launch.

use std::sync::{Arc, OnceLock};

use spindle_codegen::ir::Kernel;
use spindle_codegen::layout::{ConstValue, FieldShape, TypeDesc};
use spindle_codegen::{ExternalConst, ItemSource, KernelMode, KernelOptions};

pub use crate::generic::Generic;
use crate::queue::Storage;
use crate::types::{bytes_of, DeviceType};
use crate::{Error, Result};

/// What `#[kernel]` records about a kernel (one `static` per kernel).
#[derive(Debug)]
pub struct KernelInfo {
    pub name: &'static str,
    pub mode: KernelMode,
    /// Ring: handler threads per block.
    pub threads: u32,
    pub bounds_checks: bool,
    /// `cfg!(debug_assertions)` of the crate holding the kernel: whether
    /// its `debug_assert!`s are kept.
    pub debug_assertions: bool,
    /// The `fn` item's source text (see [`ItemSource`]).
    pub source: &'static str,
    pub file: &'static str,
    pub line: u32,
    /// Metadata of every struct type the kernel names.
    pub types: &'static [&'static TypeDesc],
    /// Every `#[device]` function the kernel calls directly.
    pub device_fns: &'static [&'static DeviceFnInfo],
    /// Every module-level constant the kernel names.
    pub consts: &'static [ConstInfo],
    /// A generic kernel's template or one of its instantiations
    /// (`runtime/src/generic.rs`); [`Generic::none`] otherwise.
    pub generic: Generic,
    /// The linked IR, built on first use.
    pub linked: OnceLock<std::result::Result<Arc<Kernel>, String>>,
}

/// What `#[device]` records about a device function.
#[derive(Debug)]
pub struct DeviceFnInfo {
    pub name: &'static str,
    pub source: &'static str,
    pub file: &'static str,
    pub line: u32,
    pub types: &'static [&'static TypeDesc],
    pub device_fns: &'static [&'static DeviceFnInfo],
    /// Every module-level constant the function names.
    pub consts: &'static [ConstInfo],
}

/// What `#[device] impl Type { … }` records: the type, and each of its
/// functions and associated constants as a [`DeviceFnInfo`] named
/// `Type::item` (a constant's source is its `const` item). Registered
/// with `inventory`, so the linker finds the impl blocks of every type a
/// kernel reaches without the kernel naming them.
#[derive(Debug)]
pub struct DeviceImplInfo {
    /// `<Type as DeviceType>::DESC`.
    pub self_ty: &'static TypeDesc,
    pub items: &'static [&'static DeviceFnInfo],
}

/// A `#[device] impl` block of this program.
#[doc(hidden)]
pub struct DeviceImplRegistration(pub &'static DeviceImplInfo);

inventory::collect!(DeviceImplRegistration);

/// A module-level constant a kernel or `#[device]` fn names: the path as
/// written (spelled by `spindle_codegen::frontend::const_key`) and how to
/// read its value (`|| const_value(&WINDOW)`, where rustc resolves the path
/// in the function's own module).
#[derive(Debug)]
pub struct ConstInfo {
    pub name: &'static str,
    pub value: fn() -> ConstValue,
}

impl ConstInfo {
    fn external(&self) -> ExternalConst<'static> {
        ExternalConst {
            path: self.name,
            value: (self.value)(),
        }
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A scalar type whose constants kernels can name: `bool`, the integers
/// (`i8`..`i64`, `u8`..`u64`, `isize`, `usize`) and `f32`/`f64`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a scalar: kernels can only use `const`s of scalar types",
    label = "this constant is a `{Self}`",
    note = "kernels can name module-level `const`s of type `bool`, `i8`..`i64`, `u8`..`u64`, \
            `isize`, `usize`, `f32` or `f64`; pass arrays and structs as kernel parameters"
)]
pub trait DeviceConst: sealed::Sealed + Copy {
    /// The value, for the linker.
    fn const_value(&self) -> ConstValue;
}

macro_rules! device_const {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl DeviceConst for $t {
            fn const_value(&self) -> ConstValue {
                ConstValue::from(*self)
            }
        }
    )*};
}
device_const!(bool, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

/// The value of a constant a kernel names (called by the generated glue).
#[doc(hidden)]
pub fn const_value<T: DeviceConst>(v: &T) -> ConstValue {
    v.const_value()
}

impl KernelInfo {
    /// The CUDA C generated for this kernel (on any backend: no GPU needed).
    pub fn cuda_source(&'static self) -> Result<String> {
        let kernel = self.linked()?;
        Ok(crate::cuda::module_source(&kernel)?.code)
    }

    /// The CUDA C of this ring kernel's actor-group executor (the kernel
    /// `spawn_group` launches on a GPU); an error for a batch kernel.
    pub fn group_cuda_source(&'static self) -> Result<String> {
        let kernel = self.linked()?;
        spindle_codegen::ring::emit_group(&kernel, &Default::default())
            .map(|g| g.code)
            .map_err(|message| Error::Link {
                kernel: self.name.to_string(),
                message,
            })
    }

    /// The linked IR of this kernel, linking it on first use.
    pub fn linked(&'static self) -> Result<Arc<Kernel>> {
        self.linked
            .get_or_init(|| self.link().map(Arc::new))
            .clone()
            .map_err(|message| Error::Link {
                kernel: self.name.to_string(),
                message,
            })
    }

    fn link(&self) -> std::result::Result<Kernel, String> {
        if self.generic.template {
            return Err(format!(
                "`{0}` is generic: each instantiation is its own kernel (`{0}::launch::<f32>(..)`, \
                 `{0}::cuda_source::<f32>()`, `{0}::instance::<f32>()`)",
                self.name
            ));
        }
        let mut fns: Vec<&'static DeviceFnInfo> = Vec::new();
        let mut types: Vec<&'static TypeDesc> = self.types.to_vec();
        let mut stack: Vec<&'static DeviceFnInfo> = self.device_fns.to_vec();
        let impls: Vec<&'static DeviceImplInfo> = inventory::iter::<DeviceImplRegistration>
            .into_iter()
            .map(|r| r.0)
            .collect();
        let mut taken = vec![false; impls.len()];
        loop {
            while let Some(f) = stack.pop() {
                if fns.iter().any(|g| std::ptr::eq(*g, f)) {
                    continue;
                }
                fns.push(f);
                types.extend_from_slice(f.types);
                stack.extend_from_slice(f.device_fns);
            }
            // The impl blocks of every type reached so far; their items may
            // reach more types and functions.
            let reached = named_types(&types);
            let before = stack.len();
            for (imp, taken) in impls.iter().zip(taken.iter_mut()) {
                if !*taken
                    && reached
                        .iter()
                        .any(|t| same_type(t, imp.self_ty) || of_generic(t, imp.self_ty))
                {
                    *taken = true;
                    types.push(imp.self_ty);
                    stack.extend_from_slice(imp.items);
                }
            }
            if stack.len() == before {
                break;
            }
        }
        // Each item's constants are read in its own module (by the glue).
        let read = |cs: &[ConstInfo]| cs.iter().map(ConstInfo::external).collect::<Vec<_>>();
        let fn_consts: Vec<Vec<ExternalConst<'static>>> =
            fns.iter().map(|f| read(f.consts)).collect();
        let kernel_consts = read(self.consts);
        let sources: Vec<ItemSource<'_>> = fns
            .iter()
            .zip(&fn_consts)
            .map(|(f, consts)| ItemSource {
                name: f.name,
                source: f.source,
                file: f.file,
                line: f.line,
                consts,
            })
            .collect();
        let options = KernelOptions {
            mode: self.mode,
            threads: self.threads,
            bounds_checks: self.bounds_checks,
            debug_assertions: self.debug_assertions,
        };
        let item = ItemSource {
            name: self.name,
            source: self.source,
            file: self.file,
            line: self.line,
            consts: &kernel_consts,
        };
        let started = std::time::Instant::now();
        let result =
            spindle_codegen::link_instance(&item, self.generic.args, &options, &sources, &types)
                .map_err(|e| e.to_string());
        tracing::debug!(
            kernel = self.name,
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = result.is_ok(),
            "linked kernel"
        );
        result
    }
}

/// The structs and enums `types` describe, and those inside them.
fn named_types(types: &[&'static TypeDesc]) -> Vec<&'static TypeDesc> {
    fn visit(d: &'static TypeDesc, out: &mut Vec<&'static TypeDesc>) {
        match d {
            TypeDesc::Scalar(_) => {}
            TypeDesc::Array { elem, .. } => visit(elem, out),
            TypeDesc::Enum(_) => out.push(d),
            TypeDesc::Generic(_) => {
                if !out.iter().any(|o| same_type(o, d)) {
                    out.push(d);
                }
            }
            TypeDesc::Struct(l) => {
                if !out.iter().any(|o| same_type(o, d)) {
                    out.push(d);
                    for f in l.fields {
                        visit(f.ty, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for d in types {
        visit(d, &mut out);
    }
    out
}

/// Whether `t` is an instantiation of (or, through its fields, names) the
/// generic struct `g`: a generic struct's `#[device] impl` block serves
/// every instantiation.
fn of_generic(t: &TypeDesc, g: &TypeDesc) -> bool {
    let TypeDesc::Generic(g) = g else {
        return false;
    };
    fn names(s: &FieldShape, name: &str) -> bool {
        match s {
            FieldShape::Param(_) => false,
            FieldShape::Known(d) => match d {
                TypeDesc::Struct(l) => l.name == name && !l.args.is_empty(),
                _ => false,
            },
            FieldShape::Array(e, _) => names(e, name),
            FieldShape::Generic(inner, args) => {
                inner.name == name
                    || inner.fields.iter().any(|f| names(&f.ty, name))
                    || args.iter().any(|a| names(a, name))
            }
        }
    }
    match t {
        TypeDesc::Struct(l) => l.name == g.name && !l.args.is_empty(),
        TypeDesc::Generic(o) => o.fields.iter().any(|f| names(&f.ty, g.name)),
        _ => false,
    }
}

/// Whether two descriptions are the same `#[derive(DeviceType)]` type:
/// the derive's one layout `static` (the same name is not enough: two
/// modules may each have a `Vec2`).
fn same_type(a: &TypeDesc, b: &TypeDesc) -> bool {
    match (a, b) {
        (TypeDesc::Struct(x), TypeDesc::Struct(y)) if x.args.is_empty() => std::ptr::eq(*x, *y),
        // A generic struct's descriptions are constants, each use a copy:
        // its definition's name and fields tell it.
        (TypeDesc::Struct(x), TypeDesc::Struct(y)) => {
            x.rust_name() == y.rust_name() && format!("{x:?}") == format!("{y:?}")
        }
        (TypeDesc::Generic(x), TypeDesc::Generic(y)) => {
            std::ptr::eq(*x, *y) || format!("{x:?}") == format!("{y:?}")
        }
        (TypeDesc::Enum(x), TypeDesc::Enum(y)) => std::ptr::eq(*x, *y),
        _ => false,
    }
}

/// One argument of a launch, as the generated glue passes it.
#[doc(hidden)]
pub enum KernelArg<'a> {
    /// A scalar, array or struct by value.
    Value {
        desc: &'static TypeDesc,
        bytes: Vec<u8>,
    },
    /// `&Buffer<T>` for a `&[T]` parameter.
    Slice {
        desc: &'static TypeDesc,
        mem: &'a Arc<Storage>,
        len: usize,
    },
    /// `&mut Buffer<T>` for a `&mut [T]` parameter (borrowed mutably by
    /// [`KernelArg::slice_mut`], so nothing else uses the buffer meanwhile).
    SliceMut {
        desc: &'static TypeDesc,
        mem: &'a Arc<Storage>,
        len: usize,
    },
}

impl<'a> KernelArg<'a> {
    /// A by-value argument.
    pub fn value<T: DeviceType>(v: &T) -> Self {
        KernelArg::Value {
            desc: &T::DESC,
            bytes: bytes_of(std::slice::from_ref(v)).to_vec(),
        }
    }

    /// A read-only buffer argument.
    pub fn slice<T: DeviceType>(b: &'a crate::Buffer<T>) -> Self {
        KernelArg::Slice {
            desc: &T::DESC,
            mem: &b.mem,
            len: b.len,
        }
    }

    /// A mutable buffer argument.
    pub fn slice_mut<T: DeviceType>(b: &'a mut crate::Buffer<T>) -> Self {
        KernelArg::SliceMut {
            desc: &T::DESC,
            mem: &b.mem,
            len: b.len,
        }
    }
}

/// A kernel linked into this program; `#[kernel]` registers every kernel so
/// tools can find them all (NVRTC checks, precompiling a cache).
#[doc(hidden)]
pub struct KernelRegistration(pub &'static KernelInfo);

inventory::collect!(KernelRegistration);

/// Every `#[kernel]` in this program (in no particular order).
///
/// Used to compile all kernels ahead of time, e.g. to check them with NVRTC
/// or to fill a cache folder for machines without NVRTC.
///
/// ```
/// # use spindle_runtime as spindle;
/// for kernel in spindle::registered_kernels() {
///     println!("{} ({} mode)", kernel.name(), kernel.mode());
/// }
/// ```
pub fn registered_kernels() -> impl Iterator<Item = RegisteredKernel> {
    kernel_infos().map(RegisteredKernel)
}

/// The metadata of every `#[kernel]` in this program, for this workspace's
/// tools and benchmarks ([`registered_kernels`] is the user's view).
///
/// A generic kernel is represented by the instantiations made so far in
/// this process (its template cannot be compiled by itself).
pub fn kernel_infos() -> impl Iterator<Item = &'static KernelInfo> {
    inventory::iter::<KernelRegistration>
        .into_iter()
        .flat_map(|r| match r.0.generic.template {
            false => vec![r.0],
            true => r.0.generic.instances(),
        })
}

/// A `#[kernel]` of this program, as [`registered_kernels`] yields it.
#[derive(Clone, Copy)]
pub struct RegisteredKernel(pub(crate) &'static KernelInfo);

impl RegisteredKernel {
    /// The kernel's name: its function's name.
    pub fn name(&self) -> &'static str {
        self.0.name
    }

    /// How the kernel runs: batch launches or a ring actor.
    pub fn mode(&self) -> KernelMode {
        self.0.mode
    }

    /// The CUDA C generated for the kernel, as `name::try_cuda_source()`
    /// gives it (needs no GPU); an error when the kernel cannot be linked.
    pub fn cuda_source(&self) -> Result<String> {
        self.0.cuda_source()
    }

    /// For a ring kernel, the CUDA C of its actor-group executor (what
    /// `spawn_group` runs on a GPU); an error for a batch kernel.
    pub fn group_cuda_source(&self) -> Result<String> {
        self.0.group_cuda_source()
    }
}

impl std::fmt::Debug for RegisteredKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredKernel")
            .field("name", &self.name())
            .field("mode", &self.mode())
            .finish()
    }
}
