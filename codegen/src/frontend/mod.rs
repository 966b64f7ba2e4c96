//! The front end: a Rust `fn` (syn) → checked, typed [`ir`](crate::ir).
//!
//! Two entry points share one implementation:
//! - [`analyze_kernel`] / [`analyze_device_fn`] run at macro time. External
//!   items (struct fields, `#[device]` signatures) are unknown there, so they
//!   check the subset and the mode's rules, infer what can be inferred, and
//!   report every problem as a spanned `syn::Error`. They also tell the macro
//!   which external types, functions and constants the item names, so the
//!   generated glue can hand their metadata (and the constants' values) to
//!   the runtime.
//! - `link_kernel` (behind [`crate::link`]) runs at first use with
//!   everything known and produces the [`crate::ir::Kernel`].

mod annotate;
mod anon;
mod closure_param;
mod consts;
mod env;
mod finalize;
mod fold;
mod generic_struct;
mod generics;
mod hir;
mod link;
mod lower;
mod signature;
mod types;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::KernelOptions;
use env::Env;
use finalize::Finalizer;
pub use generics::{generic_params, instance_name, GenericParam, GenericParamKind};
use hir::HFn;
pub(crate) use link::link_kernel;
use lower::LowerCx;
use signature::{check_signature, FnRole, TypeCx};
use types::Types;

/// What the macro needs to know about a kernel or `#[device]` function.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Parameters in order, classified.
    pub params: Vec<ParamShape>,
    /// The declared return type (`None` for `()`).
    pub ret: Option<syn::Type>,
    /// Every struct type the item names (in parameters, struct literals,
    /// `let` annotations, `shared_array::<T, N>` element types, paths like
    /// `Tally::default`), deduplicated, as written. The glue emits `<path as DeviceType>::DESC` for each.
    pub struct_types: Vec<syn::Path>,
    /// Every called function that is not an intrinsic or std method, as
    /// written: each must be a `#[device]` fn.
    pub device_fns: Vec<syn::Path>,
    /// Every path in value position (or array length) that is not a local,
    /// a parameter or a std constant, deduplicated, as written (`WINDOW`,
    /// `config::WINDOW`): each must be a module-level scalar `const` (or
    /// `static`). Its type is unknown here; the glue hands its value to the
    /// linker under the name [`const_key`] spells.
    pub consts: Vec<syn::Path>,
}

/// The name a constant path is linked under: its segments joined by `::`,
/// without spaces (`config::WINDOW`, `::outer::N`).
///
/// ```
/// let p: syn::Path = syn::parse_str("config :: WINDOW").unwrap();
/// assert_eq!(spindle_codegen::frontend::const_key(&p), "config::WINDOW");
/// ```
pub fn const_key(path: &syn::Path) -> String {
    let segs = path_idents(path);
    let lead = if path.leading_colon.is_some() {
        "::"
    } else {
        ""
    };
    format!("{lead}{}", segs.join("::"))
}

/// A path's segment names, without generic arguments: `a::b::<T>::c` →
/// `["a", "b", "c"]`.
pub(crate) fn path_idents(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
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
    /// A `#[device]` fn's `&T` (`mutable: false`, read as a value) or
    /// `&mut T` parameter; `&self` and `&mut self` of a method.
    Ref { mutable: bool },
}

/// Checks a `#[kernel]` function at macro time.
///
/// ```
/// use spindle_codegen::{frontend, KernelMode, KernelOptions};
/// let item: syn::ItemFn = syn::parse_str(
///     "fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
///          let i = global_index();
///          if i < y.len() { y[i] = a * x[i] + y[i]; }
///      }",
/// ).unwrap();
/// let analysis = frontend::analyze_kernel(&item, &KernelOptions::new(KernelMode::Batch)).unwrap();
/// assert_eq!(analysis.params.len(), 3);
/// ```
pub fn analyze_kernel(item: &syn::ItemFn, options: &KernelOptions) -> syn::Result<Analysis> {
    analyze(item, FnRole::Kernel(*options), None).into_result()
}

/// [`analyze_kernel`] that keeps what the glue needs when only the body
/// has errors: the macro then still emits the kernel's host glue beside
/// the errors, so call sites such as `name::launch(..)` type-check and the
/// user sees the body's errors alone.
pub fn analyze_kernel_parts(item: &syn::ItemFn, options: &KernelOptions) -> KernelAnalysis {
    let a = analyze(item, FnRole::Kernel(*options), None);
    KernelAnalysis {
        signature_ok: a.signature_errors == 0,
        errors: combined(a.errors),
        analysis: a.analysis,
    }
}

/// What [`analyze_kernel_parts`] found.
pub struct KernelAnalysis {
    /// The analysis; its parameter shapes are complete when `signature_ok`.
    pub analysis: Analysis,
    /// The signature had no errors (the glue can be generated from it).
    pub signature_ok: bool,
    /// Every error, combined; `None` when the kernel is valid.
    pub errors: Option<syn::Error>,
}

/// Checks a `#[device]` function at macro time.
pub fn analyze_device_fn(item: &syn::ItemFn) -> syn::Result<Analysis> {
    analyze(item, FnRole::Device, None).into_result()
}

/// Checks one function of a `#[device] impl SelfTy { … }` block at macro
/// time: a method (`self`, `&self`, `&mut self`) or an associated fn,
/// where `Self` is `self_ty`.
pub fn analyze_method(item: &syn::ItemFn, self_ty: &str) -> syn::Result<Analysis> {
    analyze(item, FnRole::Device, Some(self_ty)).into_result()
}

/// An associated `const NAME: T = value;` of a `#[device] impl` block as
/// the function kernels call to read it: `fn NAME() -> T { value }`.
/// Its value is computed where it is used (rustc has evaluated it, so it
/// cannot overflow or fault).
pub fn const_as_fn(c: &syn::ItemConst) -> syn::ItemFn {
    let span = c.ident.span();
    syn::ItemFn {
        attrs: Vec::new(),
        vis: syn::Visibility::Inherited,
        sig: syn::Signature {
            constness: None,
            asyncness: None,
            unsafety: None,
            abi: None,
            fn_token: syn::Token![fn](c.const_token.span),
            ident: c.ident.clone(),
            generics: c.generics.clone(),
            paren_token: syn::token::Paren(span),
            inputs: Default::default(),
            variadic: None,
            output: syn::ReturnType::Type(syn::Token![->](span), c.ty.clone()),
        },
        block: Box::new(syn::Block {
            brace_token: syn::token::Brace(span),
            stmts: vec![syn::Stmt::Expr((*c.expr).clone(), None)],
        }),
    }
}

/// Rewrites the copy of the function that rustc type-checks so every `let`
/// whose type the front end inferred without external items carries that
/// type: a disagreement between codegen's inference and rustc's becomes a
/// compile error instead of a silent miscompile.
///
/// `options` is `None` for a `#[device]` fn. Items with errors are left
/// unchanged (the macro reports the errors instead).
pub fn annotate_lets(item: &mut syn::ItemFn, options: Option<&KernelOptions>) {
    let role = match options {
        Some(o) => FnRole::Kernel(*o),
        None => FnRole::Device,
    };
    annotate::annotate(item, role, None);
}

/// [`annotate_lets`] for a method of a `#[device] impl self_ty` block.
pub fn annotate_method_lets(item: &mut syn::ItemFn, self_ty: &str) {
    annotate::annotate(item, FnRole::Device, Some(self_ty));
}

/// The result of the macro-time analysis of one item.
struct MacroAnalysis {
    analysis: Analysis,
    errors: Vec<syn::Error>,
    /// How many of `errors` the signature check reported.
    signature_errors: usize,
    types: Types,
    lowered: HFn,
}

impl MacroAnalysis {
    fn into_result(self) -> syn::Result<Analysis> {
        match combined(self.errors) {
            None => Ok(self.analysis),
            Some(e) => Err(e),
        }
    }
}

/// Every error as one `syn::Error` (reported in order), or `None`.
fn combined(errors: Vec<syn::Error>) -> Option<syn::Error> {
    errors.into_iter().reduce(|mut first, e| {
        first.combine(e);
        first
    })
}

/// Whether `item` has generic parameters (or a `where` clause).
pub fn is_generic(item: &syn::ItemFn) -> bool {
    !item.sig.generics.params.is_empty() || item.sig.generics.where_clause.is_some()
}

/// Checks and lowers `item` with external items unknown; `self_ty` names
/// the type of the `#[device] impl` block it is a method of. A generic
/// item is checked once per instantiation [`generics::check_instances`]
/// lists; the analysis describes its parameters with their generic types.
fn analyze(item: &syn::ItemFn, role: FnRole, self_ty: Option<&str>) -> MacroAnalysis {
    // Cloned only when there is something to rewrite: `annotate_lets`
    // finds the lets of `item` by address.
    if !closure_param::has_closure_generics(item) {
        return analyze_normal(item, role, self_ty);
    }
    let mut normal = item.clone();
    let closure_errors = closure_param::normalize(&mut normal);
    let mut a = analyze_normal(&normal, role, self_ty);
    if !closure_errors.is_empty() {
        a.signature_errors += closure_errors.len();
        a.errors.splice(0..0, closure_errors);
    }
    a
}

/// [`analyze`] of an item whose closure type parameters are rewritten
/// (see [`closure_param::normalize`]).
fn analyze_normal(item: &syn::ItemFn, role: FnRole, self_ty: Option<&str>) -> MacroAnalysis {
    // A method of a generic `#[device] impl` block is generic over the
    // block's parameters (and its own); at macro time `Self` is the
    // struct's name, whatever its arguments.
    if !is_generic(item) {
        return analyze_plain(item, role, self_ty);
    }
    let (params, generic_errors) = generics::generic_params_lenient(&item.sig);
    let mut first: Option<MacroAnalysis> = None;
    for args in generics::check_instances(&params) {
        let inst = generics::instantiate(item, &params, &args)
            .expect("the arguments were made from the parameters");
        let mut a = analyze_plain(&inst, role, self_ty);
        if let (false, Some(which)) = (a.errors.is_empty(), generics::describe(&params, &args)) {
            // Found for this instantiation (maybe only for it): say which.
            a.errors = a
                .errors
                .into_iter()
                .flat_map(|e| e.into_iter())
                .map(|e| syn::Error::new(e.span(), format!("{e} (with {which})")))
                .collect();
        }
        let failed = !a.errors.is_empty();
        match &mut first {
            None => first = Some(a),
            Some(f) => {
                f.signature_errors = a.signature_errors;
                f.errors = a.errors;
            }
        }
        if failed {
            break;
        }
    }
    let mut a = first.expect("one instantiation at least");
    if !generic_errors.is_empty() {
        a.signature_errors += generic_errors.len();
        a.errors.splice(0..0, generic_errors);
    }
    // The glue is generic like the item: its parameters' types as written.
    let value_inputs = item.sig.inputs.iter().filter(|i| match i {
        syn::FnArg::Typed(t) => closure_param::closure_param(&t.ty).is_none(),
        syn::FnArg::Receiver(_) => true,
    });
    for (shape, input) in a.analysis.params.iter_mut().zip(value_inputs) {
        if let syn::FnArg::Typed(t) = input {
            shape.ty = value_type_of(&t.ty);
        }
    }
    a.analysis.ret = match &item.sig.output {
        syn::ReturnType::Default => None,
        syn::ReturnType::Type(_, t) => Some((**t).clone()),
    };
    a
}

/// `T` of a parameter type `&[T]`, `&mut [T]`, `&T`, `&mut T` or `T`.
pub(crate) fn value_type_of(ty: &syn::Type) -> syn::Type {
    match ty {
        syn::Type::Reference(r) => match &*r.elem {
            syn::Type::Slice(s) => (*s.elem).clone(),
            other => other.clone(),
        },
        syn::Type::Paren(p) => value_type_of(&p.elem),
        syn::Type::Group(g) => value_type_of(&g.elem),
        other => other.clone(),
    }
}

fn analyze_plain(item: &syn::ItemFn, role: FnRole, self_ty: Option<&str>) -> MacroAnalysis {
    let mut types = Types::new();
    let mut sites = Vec::new();
    let mut struct_types = Vec::new();
    let mut device_fns = Vec::new();
    let mut consts = Vec::new();
    let mut errors = Vec::new();
    let sig = check_signature(
        item,
        role,
        &mut TypeCx {
            types: &mut types,
            env: Env::Macro,
            struct_paths: &mut struct_types,
            const_paths: &mut consts,
            consts: &[],
            self_ty,
        },
        &mut errors,
    );
    let signature_errors = errors.len();
    let params = sig.shapes.clone();
    let ret = sig.ret_syn.clone();
    let mut shared = LowerCx {
        types: &mut types,
        env: Env::Macro,
        sites: &mut sites,
        struct_paths: &mut struct_types,
        device_paths: &mut device_fns,
        const_paths: &mut consts,
        consts: &[],
        debug_assertions: true,
    };
    let lowered = lower::lower_fn(&mut shared, item, role, sig, 1, self_ty, hir::Owner::Kernel);
    errors.extend(lowered.errors);
    // The checks that need final types, where the types are known.
    let (no_structs, no_fns) = (HashMap::new(), HashMap::new());
    let table = std::cell::RefCell::new(anon::StructTable::default());
    let mut fin = Finalizer::new(&types, false, &no_structs, &table, &no_fns);
    fin.function(&lowered.hfn);
    errors.extend(fin.errors);
    MacroAnalysis {
        analysis: Analysis {
            params,
            ret,
            struct_types,
            device_fns,
            consts,
        },
        errors,
        signature_errors,
        types,
        lowered: lowered.hfn,
    }
}
