//! Generic kernels and device fns: their parameters, and instantiation.
//!
//! A generic item takes type parameters bounded by spindle's sealed traits
//! (`T: Scalar`, `Num`, `Int`, `Float`, optionally with `AtomicValue`,
//! `AtomicInt`) and const parameters of a scalar type (`const B: usize`).
//! rustc type-checks the generic item against the traits; the front end
//! never sees a type parameter. It works on instantiations:
//! [`instantiate`] substitutes the concrete types and values into the
//! syntax tree (each replacement keeps the span of the parameter it
//! replaces, so errors point into the user's source) and removes the
//! generic parameters. At link time, [`fold`] then evaluates what the
//! constants decide (`if B >= 64`, `B / 2`), so the emitted code holds
//! only the branches an instantiation takes.
//!
//! At macro time the item is checked once per type each parameter admits
//! (the others at their first type), so anything the front end rejects
//! for some instantiation is a compile error, never a link error.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};

use crate::ir::Scalar;
use crate::layout::ConstValue;
use crate::GenericArg;

/// A generic parameter of a kernel or device fn.
#[derive(Clone, Debug, PartialEq)]
pub struct GenericParam {
    /// Its name, as written.
    pub name: String,
    pub kind: GenericParamKind,
}

/// What a generic parameter stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum GenericParamKind {
    /// A type: one of `admits`, in the order instantiations are checked.
    Type { admits: Vec<Scalar> },
    /// A value of this scalar type.
    Const(Scalar),
}

/// The traits a type parameter can be bounded by, and the types each
/// admits (`None`: a std trait every scalar has, which admits all).
fn bound_admits(name: &str) -> Option<Option<&'static [Scalar]>> {
    use Scalar::*;
    const INTS: &[Scalar] = &[I32, U32, I8, I16, I64, Isize, U8, U16, U64, Usize];
    const NUMS: &[Scalar] = &[I32, U32, I8, I16, I64, Isize, U8, U16, U64, Usize, F32, F64];
    const ALL: &[Scalar] = &[
        I32, U32, I8, I16, I64, Isize, U8, U16, U64, Usize, F32, F64, Bool,
    ];
    Some(match name {
        "Scalar" | "ShuffleValue" | "DeviceType" => Some(ALL),
        "Num" => Some(NUMS),
        "Int" => Some(INTS),
        "Float" => Some(&[F32, F64]),
        "AtomicValue" => Some(&[I32, U32, I64, U64, Isize, Usize, F32, F64]),
        "AtomicInt" => Some(&[I32, U32, I64, U64, Isize, Usize]),
        "Copy" | "Clone" | "PartialEq" | "PartialOrd" | "Debug" | "Default" | "Send" | "Sync"
        | "Eq" | "Ord" => None,
        _ => return None,
    })
}

const BOUNDS: &str = "`Scalar`, `Num`, `Int` or `Float` (from `spindle::gpu`)";

/// The generic parameters of `sig`, checked: each type parameter has one of
/// spindle's bounds, each const parameter a scalar type. Every problem is
/// a spanned error.
pub fn generic_params(sig: &syn::Signature) -> Result<Vec<GenericParam>, Vec<syn::Error>> {
    let (params, errors) = generic_params_lenient(sig);
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(errors)
    }
}

/// [`generic_params`] that also gives a parameter for each invalid one
/// (standing for `i32`, or a `usize`), so the rest of the item can still
/// be checked.
pub(crate) fn generic_params_lenient(sig: &syn::Signature) -> (Vec<GenericParam>, Vec<syn::Error>) {
    let mut errors = Vec::new();
    let mut params = Vec::new();
    let g = &sig.generics;
    let mut where_bounds: Vec<(String, Vec<&syn::TypeParamBound>)> = Vec::new();
    if let Some(w) = &g.where_clause {
        for p in &w.predicates {
            match p {
                syn::WherePredicate::Type(t) if t.lifetimes.is_none() => {
                    let name = match &t.bounded_ty {
                        syn::Type::Path(p) if p.qself.is_none() => p.path.get_ident(),
                        _ => None,
                    };
                    match name {
                        Some(n) => where_bounds.push((n.to_string(), t.bounds.iter().collect())),
                        None => errors.push(syn::Error::new(
                            t.bounded_ty.span(),
                            "a `where` clause can only bound a type parameter of this function",
                        )),
                    }
                }
                other => errors.push(syn::Error::new(
                    other.span(),
                    "this `where` clause is not supported in kernels: bound the type \
                     parameters (`T: Float`)",
                )),
            }
        }
    }
    for p in &g.params {
        match p {
            syn::GenericParam::Lifetime(l) => errors.push(syn::Error::new(
                l.span(),
                "lifetime parameters are not supported in kernels: kernels and device fns \
                 take slices and values",
            )),
            syn::GenericParam::Type(t) => {
                if let Some(d) = &t.default {
                    errors.push(syn::Error::new(
                        d.span(),
                        "type parameters of kernels take no default",
                    ));
                }
                let name = t.ident.to_string();
                let mut bounds: Vec<&syn::TypeParamBound> = t.bounds.iter().collect();
                for (n, b) in &where_bounds {
                    if *n == name {
                        bounds.extend(b.iter().copied());
                    }
                }
                let admits = type_admits(&t.ident, &bounds).unwrap_or_else(|e| {
                    errors.push(e);
                    vec![Scalar::I32]
                });
                params.push(GenericParam {
                    name,
                    kind: GenericParamKind::Type { admits },
                });
            }
            syn::GenericParam::Const(c) => {
                let scalar = match &c.ty {
                    syn::Type::Path(p) if p.qself.is_none() => p
                        .path
                        .get_ident()
                        .and_then(|i| Scalar::from_rust_name(&i.to_string())),
                    _ => None,
                };
                let scalar = match scalar {
                    Some(s) if s.is_int() || s == Scalar::Bool => s,
                    _ => {
                        errors.push(syn::Error::new(
                            c.ty.span(),
                            "a const parameter of a kernel is an integer or a `bool` \
                             (`const B: usize`)",
                        ));
                        Scalar::Usize
                    }
                };
                params.push(GenericParam {
                    name: c.ident.to_string(),
                    kind: GenericParamKind::Const(scalar),
                });
                if let Some(d) = &c.default {
                    errors.push(syn::Error::new(
                        d.span(),
                        "const parameters of kernels take no default",
                    ));
                }
            }
        }
    }
    for (n, b) in &where_bounds {
        if !params.iter().any(|p| p.name == *n) {
            let at = b.first().map(|b| b.span()).unwrap_or_else(Span::call_site);
            errors.push(syn::Error::new(
                at,
                format!("`{n}` is not a type parameter here"),
            ));
        }
    }
    (params, errors)
}

/// The types a type parameter with `bounds` admits.
fn type_admits(ident: &syn::Ident, bounds: &[&syn::TypeParamBound]) -> syn::Result<Vec<Scalar>> {
    let mut admits: Option<Vec<Scalar>> = None;
    for b in bounds {
        let syn::TypeParamBound::Trait(t) = b else {
            return Err(syn::Error::new(
                b.span(),
                "lifetime bounds are not supported in kernels",
            ));
        };
        let last = t.path.segments.last().map(|s| s.ident.to_string());
        let known = match (&t.modifier, last.as_deref()) {
            (syn::TraitBoundModifier::None, Some(n)) => bound_admits(n),
            _ => None,
        };
        match known {
            Some(Some(set)) => {
                admits = Some(match admits {
                    None => set.to_vec(),
                    Some(prev) => prev.into_iter().filter(|s| set.contains(s)).collect(),
                });
            }
            Some(None) => {}
            None => {
                return Err(syn::Error::new(
                    t.path.span(),
                    format!(
                        "`{}` cannot bound a kernel's type parameter: use {BOUNDS}",
                        t.path.to_token_stream().to_string().replace(' ', "")
                    ),
                ))
            }
        }
    }
    match admits {
        Some(a) if !a.is_empty() => Ok(a),
        Some(_) => Err(syn::Error::new(
            ident.span(),
            format!("no kernel scalar type satisfies every bound of `{ident}`"),
        )),
        None => Err(syn::Error::new(
            ident.span(),
            format!(
                "`{ident}` needs a bound saying which types it stands for: {BOUNDS} \
                 (`{ident}: Float`)"
            ),
        )),
    }
}

/// The instantiations the macro checks: first every parameter at its
/// first type (const parameters at 1), then each further type of each
/// type parameter with the others at their first.
pub fn check_instances(params: &[GenericParam]) -> Vec<Vec<GenericArg>> {
    let first: Vec<GenericArg> = params
        .iter()
        .map(|p| match &p.kind {
            GenericParamKind::Type { admits } => GenericArg::Type(admits[0]),
            GenericParamKind::Const(s) => GenericArg::Const(match s {
                Scalar::Bool => ConstValue::Bool(true),
                s => ConstValue::Int(*s, 1),
            }),
        })
        .collect();
    let mut out = vec![first.clone()];
    for (i, p) in params.iter().enumerate() {
        if let GenericParamKind::Type { admits } = &p.kind {
            for s in &admits[1..] {
                let mut args = first.clone();
                args[i] = GenericArg::Type(*s);
                out.push(args);
            }
        }
    }
    out
}

/// Describes the types of an instantiation for messages: `T = i8, U = f32`
/// (const parameters stand for any value at macro time: not named).
pub fn describe(params: &[GenericParam], args: &[GenericArg]) -> Option<String> {
    let types: Vec<String> = params
        .iter()
        .zip(args)
        .filter(|(p, _)| matches!(p.kind, GenericParamKind::Type { .. }))
        .map(|(p, a)| format!("{} = {a}", p.name))
        .collect();
    (!types.is_empty()).then(|| types.join(", "))
}

/// `item` with `args` substituted for its generic parameters (which it
/// loses). The arguments must match [`generic_params`] of the item.
pub fn instantiate(
    item: &syn::ItemFn,
    params: &[GenericParam],
    args: &[GenericArg],
) -> Result<syn::ItemFn, String> {
    if params.len() != args.len() {
        return Err(format!(
            "`{}` takes {} generic argument(s) but {} were given",
            item.sig.ident,
            params.len(),
            args.len()
        ));
    }
    for (p, a) in params.iter().zip(args) {
        let ok = match (&p.kind, a) {
            (GenericParamKind::Type { admits }, GenericArg::Type(s)) => admits.contains(s),
            (GenericParamKind::Const(s), GenericArg::Const(v)) => v.scalar() == *s,
            _ => false,
        };
        if !ok {
            return Err(format!(
                "`{a}` is not a valid argument for the generic parameter `{}` of `{}`",
                p.name, item.sig.ident
            ));
        }
    }
    let mut out = item.clone();
    out.sig.generics = syn::Generics::default();
    let mut sub = Substitute {
        names: params.iter().map(|p| p.name.clone()).collect(),
        args: args.to_vec(),
    };
    sub.visit_item_fn_mut(&mut out);
    Ok(out)
}

/// The name of an instantiation: `axpy::<f32>`, `window::<i64, 5>`.
pub fn instance_name(name: &str, args: &[GenericArg]) -> String {
    if args.is_empty() {
        return name.to_string();
    }
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    format!("{name}::<{}>", args.join(", "))
}

struct Substitute {
    names: Vec<String>,
    args: Vec<GenericArg>,
}

impl Substitute {
    fn arg(&self, ident: &syn::Ident) -> Option<GenericArg> {
        let i = self.names.iter().position(|n| ident == n)?;
        Some(self.args[i])
    }

    fn single(&self, path: &syn::Path) -> Option<(GenericArg, Span)> {
        let ident = path.get_ident()?;
        Some((self.arg(ident)?, ident.span()))
    }
}

/// The tokens of a constant value, at `span`: `256usize`, `(-5i64)`, `true`.
pub(crate) fn value_expr(v: ConstValue, span: Span) -> syn::Expr {
    let lit = |text: String| {
        syn::Expr::Lit(syn::ExprLit {
            attrs: Vec::new(),
            lit: syn::Lit::Int(syn::LitInt::new(&text, span)),
        })
    };
    match v {
        ConstValue::Bool(b) => syn::Expr::Lit(syn::ExprLit {
            attrs: Vec::new(),
            lit: syn::Lit::Bool(syn::LitBool::new(b, span)),
        }),
        ConstValue::Int(s, i) if i < 0 => {
            let neg = syn::Expr::Unary(syn::ExprUnary {
                attrs: Vec::new(),
                op: syn::UnOp::Neg(syn::Token![-](span)),
                expr: Box::new(lit(format!("{}{}", i.unsigned_abs(), s.rust_name()))),
            });
            syn::Expr::Paren(syn::ExprParen {
                attrs: Vec::new(),
                paren_token: syn::token::Paren(span),
                expr: Box::new(neg),
            })
        }
        ConstValue::Int(s, i) => lit(format!("{i}{}", s.rust_name())),
        ConstValue::Float(s, f) => syn::Expr::Lit(syn::ExprLit {
            attrs: Vec::new(),
            lit: syn::Lit::Float(syn::LitFloat::new(&format!("{f:?}{}", s.rust_name()), span)),
        }),
    }
}

fn scalar_path(s: Scalar, span: Span) -> syn::Path {
    syn::Ident::new(s.rust_name(), span).into()
}

impl VisitMut for Substitute {
    fn visit_type_mut(&mut self, ty: &mut syn::Type) {
        if let syn::Type::Path(p) = ty {
            if p.qself.is_none() {
                if let Some((GenericArg::Type(s), span)) = self.single(&p.path) {
                    p.path = scalar_path(s, span);
                    return;
                }
            }
        }
        visit_mut::visit_type_mut(self, ty);
    }

    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        if let syn::Expr::Path(p) = e {
            if p.qself.is_none() {
                if let Some((GenericArg::Const(v), span)) = self.single(&p.path) {
                    *e = value_expr(v, span);
                    return;
                }
            }
        }
        visit_mut::visit_expr_mut(self, e);
    }

    fn visit_path_mut(&mut self, path: &mut syn::Path) {
        // `T::ZERO`, `T::sqrt`: the first segment names the type.
        if path.leading_colon.is_none() && path.segments.len() >= 2 {
            let first = &mut path.segments[0];
            if first.arguments.is_none() {
                if let Some(GenericArg::Type(s)) = self.arg(&first.ident) {
                    first.ident = syn::Ident::new(s.rust_name(), first.ident.span());
                }
            }
        }
        visit_mut::visit_path_mut(self, path);
    }

    fn visit_generic_argument_mut(&mut self, a: &mut syn::GenericArgument) {
        // `shared_array::<u32, B>`: a const parameter parses as a type.
        if let syn::GenericArgument::Type(syn::Type::Path(p)) = a {
            if p.qself.is_none() {
                if let Some((GenericArg::Const(v), span)) = self.single(&p.path) {
                    *a = syn::GenericArgument::Const(value_expr(v, span));
                    return;
                }
            }
        }
        visit_mut::visit_generic_argument_mut(self, a);
    }
}
