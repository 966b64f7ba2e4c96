//! Closure parameters of `#[device]` fns: `f: impl Fn(u32) -> u32`, or a
//! type parameter `F: Fn(u32) -> u32` (also `FnMut`, `FnOnce`).
//!
//! Such a fn is never compiled on its own. Each call passes a closure, and
//! the call is to an instantiation of the fn for that closure (see
//! `LinkEnv::closure_instance`): where the fn calls its parameter, the
//! closure's body is inlined, and what the closure captures is passed as
//! hidden parameters appended to the fn's own (see
//! [`crate::frontend::lower`]'s closure module).
//!
//! [`normalize`] first rewrites a type parameter bounded by a closure
//! trait into the equivalent `impl` parameter, so the generics machinery
//! only sees spindle's scalar bounds.

use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};

/// A closure parameter's signature as written: `Fn(A, B) -> R` (or
/// `FnMut`, `FnOnce`: how captures are passed makes each exact, see
/// [`CaptureKind`]).
#[derive(Clone, Debug)]
pub(super) struct ClosureSig {
    pub inputs: Vec<syn::Type>,
    /// `None` for `()`.
    pub output: Option<syn::Type>,
}

/// The closure trait bound `b` names, with its arguments.
fn fn_bound(b: &syn::TypeParamBound) -> Option<ClosureSig> {
    let syn::TypeParamBound::Trait(t) = b else {
        return None;
    };
    if !matches!(t.modifier, syn::TraitBoundModifier::None) || t.lifetimes.is_some() {
        return None;
    }
    let seg = t.path.segments.last()?;
    if !matches!(seg.ident.to_string().as_str(), "Fn" | "FnMut" | "FnOnce") {
        return None;
    }
    let syn::PathArguments::Parenthesized(args) = &seg.arguments else {
        return None;
    };
    let output = match &args.output {
        syn::ReturnType::Default => None,
        syn::ReturnType::Type(_, t) => match &**t {
            syn::Type::Tuple(u) if u.elems.is_empty() => None,
            t => Some(t.clone()),
        },
    };
    Some(ClosureSig {
        inputs: args.inputs.iter().cloned().collect(),
        output,
    })
}

/// Bounds that may accompany a closure trait (`impl Fn(u32) -> u32 + Copy`).
fn harmless_bound(b: &syn::TypeParamBound) -> bool {
    match b {
        syn::TypeParamBound::Lifetime(_) => true,
        syn::TypeParamBound::Trait(t) => t
            .path
            .get_ident()
            .is_some_and(|i| matches!(i.to_string().as_str(), "Copy" | "Clone" | "Send" | "Sync")),
        _ => false,
    }
}

/// The closure signature of a list of bounds: exactly one closure trait,
/// and otherwise only marker bounds.
fn closure_bounds<'b>(
    bounds: impl IntoIterator<Item = &'b syn::TypeParamBound>,
) -> Option<ClosureSig> {
    let mut found = None;
    for b in bounds {
        match fn_bound(b) {
            Some(sig) if found.is_none() => found = Some(sig),
            Some(_) => return None,
            None if harmless_bound(b) => {}
            None => return None,
        }
    }
    found
}

/// The closure signature of a parameter type `impl Fn(..) -> ..`.
pub(super) fn closure_param(ty: &syn::Type) -> Option<ClosureSig> {
    match ty {
        syn::Type::ImplTrait(t) => closure_bounds(&t.bounds),
        syn::Type::Paren(p) => closure_param(&p.elem),
        syn::Type::Group(g) => closure_param(&g.elem),
        _ => None,
    }
}

/// Whether `item` takes a closure parameter.
pub(super) fn takes_closures(item: &syn::ItemFn) -> bool {
    item.sig.inputs.iter().any(|a| match a {
        syn::FnArg::Typed(t) => closure_param(&t.ty).is_some(),
        syn::FnArg::Receiver(_) => false,
    })
}

/// Whether a type parameter of `item` is bounded by a closure trait (so
/// [`normalize`] has something to rewrite).
pub(super) fn has_closure_generics(item: &syn::ItemFn) -> bool {
    let g = &item.sig.generics;
    let in_params = g.params.iter().any(|p| {
        matches!(p, syn::GenericParam::Type(t) if t.bounds.iter().any(|b| fn_bound(b).is_some()))
    });
    let in_where = g.where_clause.as_ref().is_some_and(|w| {
        w.predicates.iter().any(|p| {
            matches!(p, syn::WherePredicate::Type(t) if t.bounds.iter().any(|b| fn_bound(b).is_some()))
        })
    });
    in_params || in_where
}

/// Rewrites each type parameter `F` bounded by a closure trait (in its
/// list or a `where` clause) into `impl Fn(..)` in the parameter whose type
/// is `F`, and drops it from the generics. A closure type parameter used
/// anywhere else is an error (`Vec<F>`, `&F`, a return type).
pub(super) fn normalize(item: &mut syn::ItemFn) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    let g = &item.sig.generics;
    let mut closure_params: Vec<(String, syn::TypeImplTrait)> = Vec::new();
    for p in &g.params {
        let syn::GenericParam::Type(t) = p else {
            continue;
        };
        let mut bounds: Vec<syn::TypeParamBound> = t.bounds.iter().cloned().collect();
        if let Some(w) = &g.where_clause {
            for pred in &w.predicates {
                if let syn::WherePredicate::Type(pt) = pred {
                    if matches!(&pt.bounded_ty, syn::Type::Path(tp) if tp.path.is_ident(&t.ident)) {
                        bounds.extend(pt.bounds.iter().cloned());
                    }
                }
            }
        }
        if bounds.iter().any(|b| fn_bound(b).is_some()) {
            if closure_bounds(&bounds).is_none() {
                errors.push(syn::Error::new(
                    t.ident.span(),
                    format!(
                        "`{}` of a `#[device] fn` is bounded by one closure trait \
                         (`{}: Fn(u32) -> u32`, `FnMut`, `FnOnce`) and nothing else",
                        t.ident, t.ident
                    ),
                ));
                continue;
            }
            closure_params.push((
                t.ident.to_string(),
                syn::TypeImplTrait {
                    impl_token: syn::Token![impl](t.ident.span()),
                    bounds: bounds.into_iter().collect(),
                },
            ));
        }
    }
    if closure_params.is_empty() {
        return errors;
    }
    let is_closure = |name: &str| closure_params.iter().position(|(n, _)| n == name);
    // The parameters typed `F`.
    for arg in item.sig.inputs.iter_mut() {
        let syn::FnArg::Typed(t) = arg else { continue };
        if let syn::Type::Path(tp) = &*t.ty {
            if let Some(i) = tp
                .path
                .get_ident()
                .and_then(|id| is_closure(&id.to_string()))
            {
                *t.ty = syn::Type::ImplTrait(closure_params[i].1.clone());
            }
        }
    }
    // Any other use of `F` stays and is reported.
    let names: Vec<String> = closure_params.iter().map(|(n, _)| n.clone()).collect();
    let generics = &mut item.sig.generics;
    generics.params = std::mem::take(&mut generics.params)
        .into_iter()
        .filter(
            |p| !matches!(p, syn::GenericParam::Type(t) if names.contains(&t.ident.to_string())),
        )
        .collect();
    if let Some(w) = &mut generics.where_clause {
        w.predicates = std::mem::take(&mut w.predicates)
            .into_iter()
            .filter(|pred| {
                !matches!(pred, syn::WherePredicate::Type(pt)
                    if matches!(&pt.bounded_ty, syn::Type::Path(tp)
                        if tp.path.get_ident().is_some_and(|i| names.contains(&i.to_string()))))
            })
            .collect();
        if w.predicates.is_empty() {
            generics.where_clause = None;
        }
    }
    let mut uses = Uses {
        names: &names,
        found: Vec::new(),
    };
    uses.visit_item_fn_mut(item);
    for (span, name) in uses.found {
        errors.push(syn::Error::new(
            span,
            format!(
                "the closure type `{name}` can only be the type of a parameter (`f: {name}`): \
                 kernels call closures and pass them on, but do not store or return them"
            ),
        ));
    }
    errors
}

/// Finds uses of closure type parameters left after [`normalize`].
struct Uses<'n> {
    names: &'n [String],
    found: Vec<(proc_macro2::Span, String)>,
}

impl VisitMut for Uses<'_> {
    fn visit_type_mut(&mut self, ty: &mut syn::Type) {
        if let syn::Type::Path(tp) = ty {
            if let Some(id) = tp.path.get_ident() {
                if self.names.contains(&id.to_string()) {
                    self.found.push((id.span(), id.to_string()));
                    return;
                }
            }
        }
        visit_mut::visit_type_mut(self, ty);
    }
}

/// A closure passed to a closure parameter, as the instantiation it
/// makes sees it.
#[derive(Clone, Debug)]
pub(super) struct ClosureArg {
    pub expr: syn::ExprClosure,
    pub origin: Origin,
    /// What it captures, in the order of the hidden parameters.
    pub captures: Vec<Capture>,
}

impl ClosureArg {
    /// Two closure arguments with the same identity make the same
    /// instantiation: the same closure, written at the same place of the
    /// same function, capturing the same way.
    pub fn same(&self, other: &ClosureArg) -> bool {
        let at = |c: &ClosureArg| {
            let s = c.expr.span().start();
            (s.line, s.column)
        };
        self.origin.owner == other.origin.owner
            && at(self) == at(other)
            && self.captures.len() == other.captures.len()
            && self
                .captures
                .iter()
                .zip(&other.captures)
                .all(|(a, b)| a.name == b.name && a.kind == b.kind && a.mutable == b.mutable)
            && quote::ToTokens::to_token_stream(&self.expr).to_string()
                == quote::ToTokens::to_token_stream(&other.expr).to_string()
    }
}

/// Where a closure was written: whose names, constants and source lines
/// its body means.
#[derive(Clone, Debug)]
pub(super) struct Origin {
    pub owner: super::hir::Owner,
    /// The function's name (fault sites in the body name it).
    pub fn_name: String,
    /// In a `#[device] impl Name` block: `Name`.
    pub self_ty: Option<String>,
    /// How many closure instantiations deep the function is (the kernel
    /// and plain device fns: 0); bounds recursion through closures.
    pub depth: u32,
}

/// A variable a closure captures, passed as a hidden parameter.
#[derive(Clone, Debug)]
pub(super) struct Capture {
    pub name: String,
    pub kind: CaptureKind,
    /// The value's type (a slice's element type).
    pub ty: super::types::TyVar,
    /// A by-value copy the closure may change (a `move` closure's).
    pub mutable: bool,
}

/// How a captured variable is passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CaptureKind {
    /// A copy: what a `move` closure holds, and what a variable nobody can
    /// change while the closure lives reads the same as.
    Value,
    /// The variable itself (`&mut`): a `mut` variable a closure captures
    /// by reference, which it may change (`FnMut`); named without `*`.
    Ref,
    /// A `&mut T` parameter (ring state, `&mut self`), passed on; read
    /// and written through `*` as the reference it is.
    Reborrow,
    /// A slice parameter of the kernel.
    Slice { mutable: bool },
}

/// Closure instantiations nested deeper than this are recursion through
/// closures.
pub(super) const MAX_CLOSURE_DEPTH: u32 = 8;
