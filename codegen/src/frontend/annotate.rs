//! `annotate_lets`: writes the front end's inferred types into the copy of
//! the function rustc checks, so rustc verifies our inference.
//!
//! Only `let`s without an annotation whose type is a scalar or an array of
//! scalars, inferred without any external item (see [`type_tokens`]), and
//! whose value cannot be a reference in Rust (see [`may_be_reference`]),
//! are annotated. The `let`s
//! are found again by address: the analysis borrows the same syntax tree
//! that is then walked mutably, and nothing moves in between.

use std::collections::HashMap;

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::ToTokens;

use super::signature::FnRole;
use super::types::{Shape, TyVar, Types};

pub(super) fn annotate(item: &mut syn::ItemFn, role: FnRole, self_ty: Option<&str>) {
    // The front end sees a generic item's instantiations only: rustc checks
    // the generic body against the bounds instead.
    if super::is_generic(item) {
        return;
    }
    let annotations = {
        let analysis = super::analyze(item, role, self_ty);
        if !analysis.errors.is_empty() {
            return;
        }
        let mut map = HashMap::new();
        for local in &analysis.lowered.locals {
            let Some(key) = local.let_key else { continue };
            if let Some(tokens) = type_tokens(&analysis.types, local.ty) {
                map.insert(key, tokens);
            }
        }
        map
    };
    if !annotations.is_empty() {
        block(&mut item.block, &annotations);
    }
}

/// The Rust spelling of `v`, if made of scalars and arrays and inferred
/// without external items.
///
/// At macro time an external type never has a shape, so a known shape
/// always comes from the function itself (a suffix, an annotation, a
/// parameter, a std method); unifying it with an external value only
/// constrains that value, and rustc checks that constraint where it is
/// used. An unsuffixed literal whose type is still open is different: if it
/// meets an external value, rustc takes that value's type, which the
/// macro cannot know, so it is not annotated.
fn type_tokens(types: &Types, v: TyVar) -> Option<String> {
    match types.shape(v) {
        Some(Shape::Scalar(s)) => Some(s.rust_name().to_string()),
        Some(Shape::Array(elem, len)) => Some(format!("[{}; {}]", type_tokens(types, elem)?, len)),
        Some(_) => None,
        None if types.is_external(v) => None,
        None => types.default_scalar(v).map(|s| s.rust_name().to_string()),
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|t| match t {
            TokenTree::Group(g) => {
                let mut n = Group::new(g.delimiter(), respan(g.stream(), span));
                n.set_span(span);
                TokenTree::Group(n)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

fn local(l: &mut syn::Local, annotations: &HashMap<usize, String>) {
    if let Some(init) = &mut l.init {
        expr(&mut init.expr, annotations);
        if let Some((_, otherwise)) = &mut init.diverge {
            expr(otherwise, annotations);
        }
    }
    let key = l as *const syn::Local as usize;
    let Some(text) = annotations.get(&key) else {
        return;
    };
    if l.init
        .as_ref()
        .is_some_and(|init| may_be_reference(&init.expr))
    {
        return;
    }
    let span = l.pat.to_token_stream().into_iter().next().map(|t| t.span());
    let Ok(tokens) = text.parse::<TokenStream>() else {
        return;
    };
    let Ok(ty) = syn::parse2::<syn::Type>(respan(tokens, span.unwrap_or_else(Span::call_site)))
    else {
        return;
    };
    let pat = std::mem::replace(&mut l.pat, syn::Pat::Verbatim(TokenStream::new()));
    l.pat = syn::Pat::Type(syn::PatType {
        attrs: Vec::new(),
        pat: Box::new(pat),
        colon_token: Default::default(),
        ty: Box::new(ty),
    });
}

/// Whether `e` may be a reference in Rust where the front end holds a copy
/// of the value (an item of `.iter()`, the value of an `Option<&T>`): a
/// name, `a.min(b)` / `.max` / `.clamp` of one (`Ord` for `&T` keeps the
/// reference), or a block, `if` or `match` whose value may be one. Its
/// `let` is left to rustc: `let y: u32 = v` would not compile for `v: &u32`.
fn may_be_reference(e: &syn::Expr) -> bool {
    use syn::Expr as E;
    let tail = |b: &syn::Block| match b.stmts.last() {
        Some(syn::Stmt::Expr(e, None)) => may_be_reference(e),
        _ => false,
    };
    match e {
        E::Path(_) => true,
        E::Paren(p) => may_be_reference(&p.expr),
        E::Group(g) => may_be_reference(&g.expr),
        E::Block(b) => tail(&b.block),
        E::If(i) => {
            tail(&i.then_branch)
                || i.else_branch
                    .as_ref()
                    .is_some_and(|(_, e)| may_be_reference(e))
        }
        E::Match(m) => m.arms.iter().any(|arm| may_be_reference(&arm.body)),
        E::MethodCall(m) => {
            matches!(m.method.to_string().as_str(), "min" | "max" | "clamp")
                && may_be_reference(&m.receiver)
        }
        _ => false,
    }
}

fn block(b: &mut syn::Block, annotations: &HashMap<usize, String>) {
    for s in &mut b.stmts {
        match s {
            syn::Stmt::Local(l) => local(l, annotations),
            syn::Stmt::Expr(e, _) => expr(e, annotations),
            _ => {}
        }
    }
}

/// Visits every block nested in `e` (the constructs of the subset).
fn expr(e: &mut syn::Expr, a: &HashMap<usize, String>) {
    use syn::Expr as E;
    match e {
        E::Block(b) => block(&mut b.block, a),
        E::If(i) => {
            expr(&mut i.cond, a);
            block(&mut i.then_branch, a);
            if let Some((_, e)) = &mut i.else_branch {
                expr(e, a);
            }
        }
        E::While(w) => {
            expr(&mut w.cond, a);
            block(&mut w.body, a);
        }
        E::Loop(l) => block(&mut l.body, a),
        E::ForLoop(f) => {
            expr(&mut f.expr, a);
            block(&mut f.body, a);
        }
        E::Paren(p) => expr(&mut p.expr, a),
        E::Group(g) => expr(&mut g.expr, a),
        E::Unary(u) => expr(&mut u.expr, a),
        E::Reference(r) => expr(&mut r.expr, a),
        E::Cast(c) => expr(&mut c.expr, a),
        E::Field(f) => expr(&mut f.base, a),
        E::Binary(b) => {
            expr(&mut b.left, a);
            expr(&mut b.right, a);
        }
        E::Assign(x) => {
            expr(&mut x.left, a);
            expr(&mut x.right, a);
        }
        E::Index(i) => {
            expr(&mut i.expr, a);
            expr(&mut i.index, a);
        }
        E::Call(c) => c.args.iter_mut().for_each(|x| expr(x, a)),
        E::MethodCall(m) => {
            expr(&mut m.receiver, a);
            m.args.iter_mut().for_each(|x| expr(x, a));
        }
        E::Array(arr) => arr.elems.iter_mut().for_each(|x| expr(x, a)),
        E::Tuple(t) => t.elems.iter_mut().for_each(|x| expr(x, a)),
        E::Let(l) => expr(&mut l.expr, a),
        E::Match(m) => {
            expr(&mut m.expr, a);
            for arm in &mut m.arms {
                if let Some((_, g)) = &mut arm.guard {
                    expr(g, a);
                }
                expr(&mut arm.body, a);
            }
        }
        E::Closure(c) => expr(&mut c.body, a),
        E::Break(b) => {
            if let Some(x) = &mut b.expr {
                expr(x, a);
            }
        }
        E::Repeat(r) => expr(&mut r.expr, a),
        E::Struct(s) => s.fields.iter_mut().for_each(|f| expr(&mut f.expr, a)),
        E::Return(r) => {
            if let Some(x) = &mut r.expr {
                expr(x, a);
            }
        }
        E::Range(r) => {
            if let Some(x) = &mut r.start {
                expr(x, a);
            }
            if let Some(x) = &mut r.end {
                expr(x, a);
            }
        }
        _ => {}
    }
}
