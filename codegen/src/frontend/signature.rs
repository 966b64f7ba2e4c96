//! The function's signature: the item-level rules (no generics, no `async`
//! …), each mode's parameter rules, and the syntax of value types.

use quote::ToTokens;
use syn::spanned::Spanned;

use super::closure_param::{closure_param, ClosureSig};
use super::env::Env;
use super::hir::{HParam, HParamKind};
use super::types::{Shape, TyVar, Types};
use super::{ParamShape, ParamShapeKind};
use crate::ir::{Scalar, DIM3, MAX_RING_THREADS};
use crate::{ExternalConst, KernelMode, KernelOptions};

/// What kind of function is being analyzed.
#[derive(Clone, Copy, Debug)]
pub(super) enum FnRole {
    Kernel(KernelOptions),
    Device,
}

impl FnRole {
    pub fn is_ring(self) -> bool {
        matches!(self, FnRole::Kernel(o) if o.mode == KernelMode::Ring)
    }

    pub fn is_batch(self) -> bool {
        matches!(self, FnRole::Kernel(o) if o.mode == KernelMode::Batch)
    }
}

/// A checked signature.
pub(super) struct Signature {
    pub shapes: Vec<ParamShape>,
    pub params: Vec<HParam>,
    /// `()` when the fn declares no return type.
    pub ret: TyVar,
    pub ret_syn: Option<syn::Type>,
    /// The closure parameters of a `#[device]` fn (`f: impl Fn(u32) ->
    /// u32`), which are not among `params`.
    pub closures: Vec<ClosureParam>,
}

/// A closure parameter of a `#[device]` fn.
#[derive(Clone, Debug)]
pub(super) struct ClosureParam {
    pub name: String,
    pub sig: ClosureSig,
    pub span: proc_macro2::Span,
}

/// Resolves the syntax of value types, recording the struct paths (and the
/// constants used as array lengths) it names.
pub(super) struct TypeCx<'t, 'e> {
    pub types: &'t mut Types,
    pub env: Env<'e>,
    pub struct_paths: &'t mut Vec<syn::Path>,
    pub const_paths: &'t mut Vec<syn::Path>,
    /// The constants of the function being lowered (link time).
    pub consts: &'e [ExternalConst<'e>],
    /// In a `#[device] impl Name` block: `Name`, what `Self` means.
    pub self_ty: Option<&'t str>,
}

const RING_SHAPE: &str =
    "a ring handler looks like `fn handler(state: &mut State, msg: Msg) -> Reply`";

/// Checks the item-level rules and classifies the parameters. Problems are
/// pushed to `errors`; the signature is still usable (with unknown types
/// where something was wrong) so the body can be checked too.
pub(super) fn check_signature(
    item: &syn::ItemFn,
    role: FnRole,
    cx: &mut TypeCx<'_, '_>,
    errors: &mut Vec<syn::Error>,
) -> Signature {
    check_item(item, role, errors);
    let sig = &item.sig;
    let mut shapes = Vec::new();
    let mut params = Vec::new();
    let mut closures = Vec::new();
    let inputs: Vec<&syn::FnArg> = sig.inputs.iter().collect();
    for (i, arg) in inputs.iter().enumerate() {
        let pat = match arg {
            syn::FnArg::Receiver(r) => {
                let (Some(name), FnRole::Device) = (cx.self_ty, role) else {
                    errors.push(err(
                        r,
                        "`self` is only a parameter of methods in a `#[device] impl` block; \
                         kernels and free `#[device] fn`s take values as named parameters",
                    ));
                    continue;
                };
                let ty = super::generic_struct::self_type(cx.types, name, cx.env.is_link());
                let (hkind, kind) = match (&r.reference, &r.mutability) {
                    (Some(_), Some(_)) => {
                        (HParamKind::Ref(ty), ParamShapeKind::Ref { mutable: true })
                    }
                    (Some(_), None) => (
                        HParamKind::MsgRef(ty),
                        ParamShapeKind::Ref { mutable: false },
                    ),
                    (None, _) => (HParamKind::Value(ty), ParamShapeKind::Value),
                };
                let ident = syn::Ident::new("self", r.self_token.span);
                params.push(HParam {
                    name: "self".to_string(),
                    kind: hkind,
                    mutable: r.reference.is_none() && r.mutability.is_some(),
                    span: ident.span(),
                });
                let base = name.split('<').next().unwrap_or(name);
                let self_path: syn::Path = syn::Ident::new(base, r.self_token.span).into();
                shapes.push(ParamShape {
                    name: ident,
                    kind,
                    ty: syn::Type::Path(syn::TypePath {
                        qself: None,
                        path: self_path,
                    }),
                });
                continue;
            }
            syn::FnArg::Typed(p) => p,
        };
        let Some((name, mutable)) = param_name(&pat.pat, errors) else {
            continue;
        };
        if let (Some(c), FnRole::Device) = (closure_param(&pat.ty), role) {
            closures.push(ClosureParam {
                name: name.to_string(),
                sig: c,
                span: name.span(),
            });
            continue;
        }
        let (kind, ty) = classify_param(role, i, &pat.ty, &name, cx, errors);
        let hkind = match kind {
            ParamShapeKind::Value => HParamKind::Value(ty.1),
            ParamShapeKind::MsgRef => HParamKind::MsgRef(ty.1),
            ParamShapeKind::Slice { mutable } => HParamKind::Slice {
                elem: ty.1,
                mutable,
            },
            ParamShapeKind::StateRef => HParamKind::StateRef(ty.1),
            ParamShapeKind::Ref { mutable: true } => HParamKind::Ref(ty.1),
            ParamShapeKind::Ref { mutable: false } => HParamKind::MsgRef(ty.1),
        };
        params.push(HParam {
            name: name.to_string(),
            kind: hkind,
            mutable,
            span: name.span(),
        });
        shapes.push(ParamShape {
            name,
            kind,
            ty: ty.0,
        });
    }
    let ret_syn = match &sig.output {
        syn::ReturnType::Default => None,
        syn::ReturnType::Type(_, t) => Some((**t).clone()),
    };
    let ret = match &ret_syn {
        None => cx.types.unit(),
        Some(t) => value_type(cx, t).unwrap_or_else(|e| {
            errors.push(e);
            cx.types.fresh_external()
        }),
    };
    if let (FnRole::Kernel(_), Some(t)) = (role, &ret_syn) {
        if !crosses_host(cx.types, ret) {
            errors.push(err(t, NOT_HOST_DATA));
        }
    }
    check_mode_shape(item, role, &params, ret_syn.as_ref(), errors);
    Signature {
        shapes,
        params,
        ret,
        ret_syn,
        closures,
    }
}

pub(super) fn err(tokens: impl ToTokens, msg: &str) -> syn::Error {
    syn::Error::new_spanned(tokens, msg)
}

fn check_item(item: &syn::ItemFn, role: FnRole, errors: &mut Vec<syn::Error>) {
    let sig = &item.sig;
    let what = match role {
        FnRole::Kernel(_) => "kernels",
        FnRole::Device => "`#[device]` functions",
    };
    if let (Some(c), FnRole::Kernel(_)) = (&sig.constness, role) {
        errors.push(err(c, "kernels cannot be `const fn`: remove `const`"));
    }
    if let Some(a) = &sig.asyncness {
        errors.push(err(
            a,
            &format!("{what} cannot be `async`: GPU code runs to completion; remove `async`"),
        ));
    }
    if let Some(u) = &sig.unsafety {
        errors.push(err(
            u,
            &format!("{what} cannot be `unsafe fn`: remove `unsafe` (kernel bodies are checked)"),
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(err(
            abi,
            &format!("{what} cannot declare an ABI: remove `extern`"),
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(err(v, &format!("{what} cannot be variadic")));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(err(
            &sig.generics,
            &format!(
                "{what} cannot be generic: write one function per concrete type (generic \
                 parameters, lifetimes and `where` clauses are not supported)"
            ),
        ));
    }
}

fn param_name(pat: &syn::Pat, errors: &mut Vec<syn::Error>) -> Option<(syn::Ident, bool)> {
    match pat {
        syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
            Some((p.ident.clone(), p.mutability.is_some()))
        }
        _ => {
            errors.push(err(
                pat,
                "parameters must be simple names (`x: f32` or `mut x: f32`); destructuring \
                 patterns are not supported",
            ));
            None
        }
    }
}

/// How a parameter's type is written, before the mode decides what is allowed.
enum Written<'t> {
    Value(&'t syn::Type),
    Slice(&'t syn::Type, bool),
    Ref(&'t syn::Type, bool),
}

fn written(ty: &syn::Type) -> Written<'_> {
    match ty {
        syn::Type::Reference(r) => match &*r.elem {
            syn::Type::Slice(s) => Written::Slice(&s.elem, r.mutability.is_some()),
            inner => Written::Ref(inner, r.mutability.is_some()),
        },
        syn::Type::Paren(p) => written(&p.elem),
        _ => Written::Value(ty),
    }
}

/// Classifies parameter `index`: its shape kind, its value type's syntax and
/// its type variable.
fn classify_param(
    role: FnRole,
    index: usize,
    ty: &syn::Type,
    name: &syn::Ident,
    cx: &mut TypeCx<'_, '_>,
    errors: &mut Vec<syn::Error>,
) -> (ParamShapeKind, (syn::Type, TyVar)) {
    let w = written(ty);
    let (kind, inner) = match (role, w) {
        (_, Written::Value(t)) if role.is_ring() && index == 0 => {
            errors.push(err(
                ty,
                &format!(
                    "{RING_SHAPE}: take the state as `&mut {}` so updates persist between \
                     messages",
                    t.to_token_stream()
                ),
            ));
            (ParamShapeKind::StateRef, t)
        }
        (_, Written::Value(t)) => (ParamShapeKind::Value, t),
        (FnRole::Kernel(o), Written::Slice(t, m)) if o.mode == KernelMode::Batch => {
            (ParamShapeKind::Slice { mutable: m }, t)
        }
        (FnRole::Kernel(_), Written::Slice(t, _)) => {
            errors.push(err(
                ty,
                &format!(
                    "ring handlers cannot take slices; {RING_SHAPE} (put fixed-size arrays in \
                     the state or message)"
                ),
            ));
            (ParamShapeKind::Value, t)
        }
        (FnRole::Kernel(o), Written::Ref(t, true)) if o.mode == KernelMode::Ring && index == 0 => {
            (ParamShapeKind::StateRef, t)
        }
        (FnRole::Kernel(o), Written::Ref(t, false)) if o.mode == KernelMode::Ring && index == 1 => {
            (ParamShapeKind::MsgRef, t)
        }
        (FnRole::Kernel(o), Written::Ref(t, _)) if o.mode == KernelMode::Ring => {
            let msg = if index == 0 {
                format!("{RING_SHAPE}: the state is taken as `&mut S`, not `&S`")
            } else {
                format!("{RING_SHAPE}: take the message by value (`msg: M`) or as `&M`")
            };
            errors.push(err(ty, &msg));
            (ParamShapeKind::Value, t)
        }
        (FnRole::Kernel(_), Written::Ref(t, m)) => {
            let fix = if m {
                format!(
                    "to write results take a slice `&mut [{}]`",
                    t.to_token_stream()
                )
            } else {
                format!("take it by value (`{name}: {}`)", t.to_token_stream())
            };
            errors.push(err(
                ty,
                &format!(
                    "batch kernels take scalars, arrays and DeviceType structs by value, or \
                     slices `&[T]` / `&mut [T]`: {fix}"
                ),
            ));
            (ParamShapeKind::Value, t)
        }
        (FnRole::Device, Written::Ref(t, m)) => (ParamShapeKind::Ref { mutable: m }, t),
        (FnRole::Device, Written::Slice(t, _)) => {
            errors.push(err(
                ty,
                "`#[device]` functions take values (scalars, arrays, DeviceType structs, \
                 tuples) and `&T` / `&mut T` references to them; slices are only kernel \
                 parameters — pass the element (`x[i]`) or copy what you need into an array",
            ));
            (ParamShapeKind::Value, t)
        }
    };
    let var = value_type(cx, inner).unwrap_or_else(|e| {
        errors.push(e);
        cx.types.fresh_external()
    });
    if cx.types.shape(var) == Some(Shape::Unit) {
        errors.push(err(inner, "a parameter cannot have type `()`"));
    }
    if matches!(role, FnRole::Kernel(_)) && !crosses_host(cx.types, var) {
        errors.push(err(inner, NOT_HOST_DATA));
    }
    (kind, (inner.clone(), var))
}

const NOT_HOST_DATA: &str = "tuples cannot cross between host and kernel (nor can `Option`s): \
     kernel parameters, ring states, messages and replies are scalars, arrays or \
     `#[derive(DeviceType)]` structs; use a struct";

/// Whether values of `v` may cross between host and kernel (no tuple or
/// `Option` inside; a type unknown here is checked by rustc).
fn crosses_host(types: &Types, v: TyVar) -> bool {
    match types.shape(v) {
        Some(Shape::Tuple(_) | Shape::Option(_)) => false,
        Some(Shape::Array(elem, _)) => crosses_host(types, elem),
        _ => true,
    }
}

fn check_mode_shape(
    item: &syn::ItemFn,
    role: FnRole,
    params: &[HParam],
    ret: Option<&syn::Type>,
    errors: &mut Vec<syn::Error>,
) {
    let sig = &item.sig;
    let FnRole::Kernel(options) = role else {
        return;
    };
    match options.mode {
        KernelMode::Batch => {
            if let syn::ReturnType::Type(arrow, t) = &sig.output {
                let mut e = syn::Error::new(
                    arrow.span(),
                    "batch kernels do not return a value: write results into a `&mut [T]` \
                     parameter (e.g. `out: &mut [f32]` and `out[i] = v;`)",
                );
                e.combine(err(t, "remove this return type"));
                errors.push(e);
            }
        }
        KernelMode::Ring => {
            if !(1..=MAX_RING_THREADS).contains(&options.threads) {
                errors.push(syn::Error::new(
                    sig.ident.span(),
                    format!(
                        "ring `threads` must be between 1 and {MAX_RING_THREADS} (one block), got {}",
                        options.threads
                    ),
                ));
            }
            let n = sig.inputs.len();
            if n < 2 {
                let span = if n == 0 {
                    sig.paren_token.span.join()
                } else {
                    sig.inputs.span()
                };
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "{RING_SHAPE}: it takes the state (`&mut S`) and the message; {} \
                         parameter{} given",
                        n,
                        if n == 1 { " is" } else { "s are" }
                    ),
                ));
            }
            for extra in sig.inputs.iter().skip(2) {
                errors.push(err(
                    extra,
                    &format!(
                        "{RING_SHAPE}: ring handlers take exactly two parameters; put this \
                         value in the message or the state"
                    ),
                ));
            }
            if ret.is_none() {
                errors.push(syn::Error::new(
                    sig.paren_token.span.close(),
                    format!(
                        "{RING_SHAPE}: ring handlers return the reply; add a return type (e.g. \
                         `-> u32`, or `-> State` and return `*state`)"
                    ),
                ));
            }
            let _ = params;
        }
    }
}

/// Resolves the syntax of a value type: a scalar, `[T; N]`, a DeviceType
/// struct, or `()`.
pub(super) fn value_type(cx: &mut TypeCx<'_, '_>, ty: &syn::Type) -> syn::Result<TyVar> {
    match ty {
        syn::Type::Paren(p) => value_type(cx, &p.elem),
        syn::Type::Group(g) => value_type(cx, &g.elem),
        syn::Type::Tuple(t) if t.elems.is_empty() => Ok(cx.types.unit()),
        syn::Type::Tuple(t) => {
            let mut elems = Vec::new();
            for e in &t.elems {
                let v = value_type(cx, e)?;
                if cx.types.shape(v) == Some(Shape::Unit) {
                    return Err(err(e, "tuples holding `()` are not supported"));
                }
                elems.push(v);
            }
            Ok(cx.types.tuple(elems))
        }
        syn::Type::Array(a) => {
            let len = array_len(cx, &a.len)?;
            let elem = value_type(cx, &a.elem)?;
            if cx.types.shape(elem) == Some(Shape::Unit) {
                return Err(err(&a.elem, "arrays of `()` are not supported"));
            }
            Ok(match len {
                ArrayLen::Known(n) => cx.types.known(Shape::Array(elem, n)),
                // A constant length is known to the linker only.
                ArrayLen::External => cx.types.fresh_external(),
            })
        }
        syn::Type::Path(p) if p.qself.is_none() => path_type(cx, &p.path),
        syn::Type::Reference(_) => Err(err(
            ty,
            "references are only allowed as kernel parameters (`&[T]`, `&mut [T]`, ring state \
             `&mut S`); use a value type here",
        )),
        syn::Type::Slice(_) => Err(err(
            ty,
            "a slice type is only allowed behind a kernel parameter's reference (`&[T]`); use a \
             fixed-size array `[T; N]` here",
        )),
        syn::Type::Ptr(_) => Err(err(
            ty,
            "raw pointers are not supported: use slice parameters `&[T]` / `&mut [T]`",
        )),
        syn::Type::Infer(_) => Err(err(ty, "`_` types are not supported here: write the type")),
        syn::Type::ImplTrait(_) => Err(err(
            ty,
            "`impl Trait` types are not supported here: a `#[device] fn` takes a closure as a \
             parameter `f: impl Fn(u32) -> u32` (or `FnMut`, `FnOnce`); kernels take values \
             and slices",
        )),
        _ => Err(err(
            ty,
            "this type is not supported in kernels: use a scalar (`bool`, `i8`..`i64`, \
             `u8`..`u64`, `usize`, `isize`, `f32`, `f64`), a fixed-size array `[T; N]`, or a \
             `#[derive(DeviceType)]` struct",
        )),
    }
}

/// An array length: a literal, or a constant the macro cannot see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ArrayLen {
    Known(u32),
    External,
}

/// The length in `[T; len]` / `[v; len]`: an integer literal, or a
/// module-level constant (its value is known at link time).
pub(super) fn array_len(cx: &mut TypeCx<'_, '_>, expr: &syn::Expr) -> syn::Result<ArrayLen> {
    let lit = match expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(i),
            ..
        }) => i,
        syn::Expr::Group(g) => return array_len(cx, &g.expr),
        syn::Expr::Paren(p) => return array_len(cx, &p.expr),
        syn::Expr::Path(p) => {
            return match crate::frontend::consts::classify(p) {
                Ok(()) => const_len(cx, &p.path),
                Err(msg) => Err(err(p, &msg)),
            };
        }
        _ => {
            return Err(err(
                expr,
                "array lengths must be integer literals, module-level `const`s or const \
                 parameters (`[f32; 4]`, `[f32; N]`): an expression is not folded into a \
                 length; name its value with a `const` or a const parameter",
            ))
        }
    };
    if !matches!(lit.suffix(), "" | "usize") {
        return Err(err(lit, "an array length is a `usize`"));
    }
    lit.base10_parse::<u32>()
        .map(ArrayLen::Known)
        .map_err(|_| err(lit, "array length too large"))
}

/// An array length named by a constant: unknown at macro time, its value
/// (a `usize`, which rustc checks) at link time.
fn const_len(cx: &mut TypeCx<'_, '_>, path: &syn::Path) -> syn::Result<ArrayLen> {
    use crate::frontend::consts::{lookup, Lookup};
    use crate::layout::ConstValue;
    match lookup(cx.env, cx.consts, cx.const_paths, path) {
        Lookup::Unknown => Ok(ArrayLen::External),
        Lookup::Missing(msg) => Err(err(path, &msg)),
        Lookup::Value(ConstValue::Int(Scalar::Usize, n)) => u32::try_from(n)
            .map(ArrayLen::Known)
            .map_err(|_| err(path, &format!("array length {n} is too large"))),
        Lookup::Value(v) => Err(err(
            path,
            &format!(
                "an array length is a `usize`, but `{}` is a `{}`",
                crate::frontend::const_key(path),
                v.scalar().rust_name()
            ),
        )),
    }
}

fn path_type(cx: &mut TypeCx<'_, '_>, path: &syn::Path) -> syn::Result<TyVar> {
    let last = path
        .segments
        .last()
        .ok_or_else(|| err(path, "empty type path"))?;
    let mut name = last.ident.to_string();
    if name == "Self" && path.segments.len() == 1 {
        match cx.self_ty {
            Some(s) => {
                return Ok(super::generic_struct::self_type(
                    cx.types,
                    s,
                    cx.env.is_link(),
                ))
            }
            None => name = String::new(),
        }
    }
    if name == "Option" && (path.segments.len() == 1 || is_std_prefix(path)) {
        if let syn::PathArguments::AngleBracketed(a) = &last.arguments {
            if let [syn::GenericArgument::Type(t)] = a.args.iter().collect::<Vec<_>>()[..] {
                let inner = value_type(cx, t)?;
                return Ok(cx.types.known(Shape::Option(inner)));
            }
        }
    }
    if let syn::PathArguments::AngleBracketed(a) = &last.arguments {
        if !matches!(
            name.as_str(),
            "Vec" | "Box" | "Rc" | "Arc" | "Option" | "Result"
        ) {
            return super::generic_struct::generic_struct_type(cx, path, &name, a);
        }
    }
    if !last.arguments.is_none() {
        let msg = match name.as_str() {
            "Vec" | "Box" | "Rc" | "Arc" => format!(
                "`{name}` cannot be used on the GPU: take a slice parameter `&[T]` / `&mut [T]` \
                 or use a fixed-size array `[T; N]`"
            ),
            "Option" => "`Option` takes one type: `Option<u32>`".to_string(),
            "Result" => "`Result` is not supported in kernels: use an `Option`, a flag field or a \
                 sentinel value"
                .to_string(),
            _ => "generic types are not supported in kernels: use a concrete type".to_string(),
        };
        return Err(err(path, &msg));
    }
    if path.segments.len() == 1 || is_std_prefix(path) {
        if let Some(s) = Scalar::from_rust_name(&name) {
            return Ok(cx.types.scalar(s));
        }
        let unsupported = match name.as_str() {
            "i128" | "u128" => {
                Some("128-bit integers are not supported on the GPU: use `i64`/`u64`")
            }
            "char" => Some("`char` is not supported in kernels: use `u32` (or `u8` for bytes)"),
            "str" | "String" => Some("strings are not supported in kernels"),
            "Vec" => Some(
                "`Vec` cannot be used on the GPU: take a slice parameter `&[T]` / `&mut [T]` or \
                 use a fixed-size array `[T; N]`",
            ),
            "" => Some("`Self` is only known inside a `#[device] impl` block"),
            _ => None,
        };
        if let Some(msg) = unsupported {
            return Err(err(path, msg));
        }
    }
    if !cx.env.struct_exists(&name) {
        return Err(err(
            path,
            &format!(
                "no layout is known for `{name}`: a struct used in a kernel needs \
                 `#[derive(DeviceType)]` and `#[repr(C)]`"
            ),
        ));
    }
    if name != DIM3 {
        record_path(cx.struct_paths, path);
    }
    let key = cx.types.struct_key(&name);
    Ok(cx.types.known(Shape::Struct(key)))
}

fn is_std_prefix(path: &syn::Path) -> bool {
    let first = path.segments[0].ident.to_string();
    matches!(first.as_str(), "std" | "core" | "alloc")
}

/// Records a struct path once (compared by its tokens).
pub(super) fn record_path(paths: &mut Vec<syn::Path>, path: &syn::Path) {
    let text = path.to_token_stream().to_string();
    if !paths
        .iter()
        .any(|p| p.to_token_stream().to_string() == text)
    {
        paths.push(path.clone());
    }
}
