//! The front end: a Rust `fn` (syn) → checked, typed [`ir`](crate::ir).
//!
//! Two entry points share one implementation:
//! - [`analyze_kernel`] / [`analyze_device_fn`] run at macro time. External
//!   items (struct fields, `#[device]` signatures) are unknown there, so they
//!   check the subset and the mode's rules, infer what can be inferred, and
//!   report every problem as a spanned `syn::Error`. They also tell the macro
//!   which external types and functions the item names, so the generated glue
//!   can hand their metadata to the runtime.
//! - [`link_kernel`] runs at first use with everything known and produces the
//!   [`Kernel`](crate::ir::Kernel).

use crate::ir::Kernel;
use crate::layout::TypeDesc;
use crate::{ItemSource, KernelOptions, LinkError};

/// What the macro needs to know about a kernel or `#[device]` function.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Parameters in order, classified.
    pub params: Vec<ParamShape>,
    /// The declared return type (`None` for `()`).
    pub ret: Option<syn::Type>,
    /// Every struct type the item names (in parameters, struct literals,
    /// `let` annotations, paths like `Tally::default`), deduplicated, as
    /// written. The glue emits `<path as DeviceType>::DESC` for each.
    pub struct_types: Vec<syn::Path>,
    /// Every called function that is not an intrinsic or std method, as
    /// written: each must be a `#[device]` fn.
    pub device_fns: Vec<syn::Path>,
}

/// One parameter, classified for the glue.
#[derive(Clone, Debug)]
pub struct ParamShape {
    pub name: syn::Ident,
    pub kind: ParamShapeKind,
    /// The value type: `T` of `&[T]`, `&mut [T]`, `&mut T`, `&T`, or `T`.
    pub ty: syn::Type,
}

/// How a parameter is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamShapeKind {
    /// `T` by value.
    Value,
    /// `&[T]` or `&mut [T]`.
    Slice { mutable: bool },
    /// Ring state: `&mut S`.
    StateRef,
    /// Ring message taken as `&M`.
    MsgRef,
}

/// Checks a `#[kernel]` function at macro time.
pub fn analyze_kernel(item: &syn::ItemFn, options: &KernelOptions) -> syn::Result<Analysis> {
    let _ = (item, options);
    Err(syn::Error::new(
        proc_macro2::Span::call_site(),
        "spindle: front end not built yet",
    ))
}

/// Checks a `#[device]` function at macro time.
pub fn analyze_device_fn(item: &syn::ItemFn) -> syn::Result<Analysis> {
    let _ = item;
    Err(syn::Error::new(
        proc_macro2::Span::call_site(),
        "spindle: front end not built yet",
    ))
}

/// Rewrites the copy of the function that rustc type-checks so every `let`
/// whose type the front end inferred without external items carries that
/// type: a disagreement between codegen's inference and rustc's becomes a
/// compile error instead of a silent miscompile.
pub fn annotate_lets(item: &mut syn::ItemFn, options: Option<&KernelOptions>) {
    let _ = (item, options);
}

pub(crate) fn link_kernel(
    kernel: &ItemSource<'_>,
    options: &KernelOptions,
    device_fns: &[ItemSource<'_>],
    types: &[&'static TypeDesc],
) -> Result<Kernel, LinkError> {
    let _ = (options, device_fns, types);
    Err(LinkError {
        message: "front end not built yet".into(),
        file: kernel.file.to_string(),
        span: Default::default(),
    })
}
