//! Patterns, as `let`, `match`, `if let`, `while let`, `matches!` and
//! `for` use them: a pattern tested against a *subject* (a place read
//! without side effects) gives the condition under which it matches and
//! the names it binds.
//!
//! The condition only reads the subject (literal comparisons, range
//! checks, `is_some`), so it needs no statements and may be evaluated as
//! often as the lowering likes; the bindings are copies of parts of the
//! subject, made when the arm is entered, as Rust's by-value bindings are.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;

use super::place::Access;
use super::stmt::binary;
use super::Lowerer;
use crate::frontend::anon::{OPTION_IS_SOME, OPTION_VALUE};
use crate::frontend::hir::{HExpr, HExprKind, HLit, HPlace, HProj, HStmtKind};
use crate::frontend::signature::value_type;
use crate::frontend::types::{Kind, Shape, TyVar};
use crate::ir::{BinOp, LocalId, Scalar};

/// What a pattern is tested against: a place whose reading cannot fault
/// or change anything (a local, a parameter, the ring state, or a field
/// of one; never a computed index).
#[derive(Clone, Debug)]
pub(super) struct Subject {
    pub place: HPlace,
    pub span: Span,
}

/// One name a pattern binds: a copy of `place`.
#[derive(Debug)]
pub(super) struct Bind {
    pub name: String,
    pub mutable: bool,
    pub span: Span,
    pub place: HPlace,
}

/// A pattern tested against a subject.
#[derive(Debug, Default)]
pub(super) struct Tested {
    /// When the pattern matches; `None` when it always does.
    pub cond: Option<HExpr>,
    pub binds: Vec<Bind>,
}

impl Subject {
    pub(super) fn part(&self, proj: HProj, ty: TyVar) -> Subject {
        let mut place = self.place.clone();
        place.proj.push(proj);
        place.ty = ty;
        Subject {
            place,
            span: self.span,
        }
    }

    pub(super) fn load(&self) -> HExpr {
        HExpr {
            kind: HExprKind::Load(self.place.clone()),
            ty: self.place.ty,
            span: self.span,
        }
    }
}

impl Lowerer<'_, '_, '_> {
    /// Evaluates a scrutinee once: a local, parameter or ring state (or a
    /// field of one) is read in place; anything else is first stored in
    /// a temporary, as Rust evaluates the scrutinee before any arm.
    pub(super) fn subject(&mut self, e: &syn::Expr) -> Subject {
        let span = e.span();
        if is_simple_place(e) {
            match self.access(e) {
                Access::Place {
                    place,
                    bare_state: false,
                    ..
                } if place.proj.iter().all(|p| matches!(p, HProj::Field(_))) => {
                    return Subject { place, span };
                }
                other => {
                    let v = self.access_into_value(other, e);
                    return self.subject_of_value(v);
                }
            }
        }
        let v = self.expr(e);
        self.subject_of_value(v)
    }

    /// A subject holding the value `v` (in a temporary).
    pub(super) fn subject_of_value(&mut self, v: HExpr) -> Subject {
        let span = v.span;
        let ty = v.ty;
        let tmp = self.temp(ty, span);
        self.push_let(tmp, Some(v), span);
        Subject {
            place: super::stmt::local_place(tmp, ty),
            span,
        }
    }

    /// Tests `pat` against `subject`.
    pub(super) fn pattern(&mut self, pat: &syn::Pat, subject: &Subject) -> Tested {
        let mut t = Tested::default();
        self.pat_into(pat, subject, &mut t);
        t
    }

    /// Declares the names a pattern binds, each a copy of its part of the
    /// subject, in the current scope.
    pub(super) fn bind(&mut self, binds: Vec<Bind>) -> Vec<LocalId> {
        let mut ids = Vec::new();
        for b in binds {
            let ty = b.place.ty;
            let init = HExpr {
                kind: HExprKind::Load(b.place),
                ty,
                span: b.span,
            };
            let id = self.declare_local(b.name, ty, b.mutable, b.span);
            self.push(
                HStmtKind::Let {
                    local: id,
                    init: Some(init),
                },
                b.span,
            );
            ids.push(id);
        }
        ids
    }

    fn and_cond(&mut self, out: &mut Tested, c: HExpr) {
        out.cond = Some(match out.cond.take() {
            None => c,
            Some(prev) => {
                let (ty, span) = (self.types().scalar(Scalar::Bool), c.span);
                binary(BinOp::And, prev, c, ty, span)
            }
        });
    }

    /// `subject op value`, with the value's type unified with the subject's.
    fn compare(&mut self, op: BinOp, subject: &Subject, value: HExpr) -> HExpr {
        let span = value.span;
        self.expect_ty(subject.place.ty, value.ty, span, " in pattern");
        let b = self.types().scalar(Scalar::Bool);
        binary(op, subject.load(), value, b, span)
    }

    fn pat_into(&mut self, pat: &syn::Pat, s: &Subject, out: &mut Tested) {
        match pat {
            syn::Pat::Wild(_) => {}
            syn::Pat::Paren(p) => self.pat_into(&p.pat, s, out),
            syn::Pat::Type(t) => {
                match value_type(&mut self.type_cx(), &t.ty) {
                    Ok(v) => {
                        self.expect_ty(v, s.place.ty, t.ty.span(), " in pattern");
                    }
                    Err(e) => self.errors.push(e),
                }
                self.pat_into(&t.pat, s, out)
            }
            syn::Pat::Ident(p) => {
                let name = p.ident.to_string();
                if p.by_ref.is_none()
                    && p.subpat.is_none()
                    && p.mutability.is_none()
                    && names_constant(&name)
                {
                    // `MAX => …`: a constant (an upper-case name), as rustc
                    // resolves it when a constant of that name is in scope.
                    let path = syn::ExprPath {
                        attrs: Vec::new(),
                        qself: None,
                        path: p.ident.clone().into(),
                    };
                    let v = self.path_value(&path);
                    let c = self.compare(BinOp::Eq, s, v);
                    return self.and_cond(out, c);
                }
                if let Some(r) = &p.by_ref {
                    self.error(
                        r,
                        "`ref` bindings are not supported in kernels: bind by value (the \
                         values kernels hold are `Copy`)",
                    );
                }
                if let Some((_, sub)) = &p.subpat {
                    self.pat_into(sub, s, out);
                }
                out.binds.push(Bind {
                    name,
                    mutable: p.mutability.is_some(),
                    span: p.ident.span(),
                    place: s.place.clone(),
                });
            }
            syn::Pat::Lit(l) => {
                let v = self.pattern_lit(&l.lit);
                let c = self.compare(BinOp::Eq, s, v);
                self.and_cond(out, c)
            }
            syn::Pat::Range(r) => self.range_pattern(r, s, out),
            syn::Pat::Or(o) => self.or_pattern(o, s, out),
            syn::Pat::Path(p) => {
                if p.qself.is_none() && p.path.is_ident("None") {
                    return self.option_pattern(None, pat, s, out);
                }
                let v = self.path_value(p);
                let c = self.compare(BinOp::Eq, s, v);
                self.and_cond(out, c)
            }
            syn::Pat::Tuple(t) => {
                let elems: Vec<&syn::Pat> = t.elems.iter().collect();
                self.tuple_pattern(&elems, pat, s, out)
            }
            syn::Pat::TupleStruct(ts) if ts.qself.is_none() && ts.path.is_ident("Some") => {
                if ts.elems.len() != 1 {
                    self.error(&ts.elems, "`Some` holds one value: `Some(v)`");
                    return;
                }
                self.option_pattern(Some(&ts.elems[0]), pat, s, out)
            }
            syn::Pat::TupleStruct(ts) => self.error(
                ts,
                "tuple struct and enum variant patterns with fields are not supported: kernel \
                 enums have no fields, and structs are matched with `Name { field, .. }`",
            ),
            syn::Pat::Struct(st) => self.struct_pattern(st, s, out),
            syn::Pat::Slice(sl) => self.array_pattern(sl, s, out),
            // Kernels hold what a reference points to as a copy (an item
            // of `x.iter()`, the value of `x.get(i)`): `&v` binds it (rustc
            // has checked that the value is a reference).
            syn::Pat::Reference(r) if r.mutability.is_none() => self.pat_into(&r.pat, s, out),
            syn::Pat::Reference(r) => self.error(
                r,
                "`&mut` patterns are not supported in kernels: bind by value",
            ),
            syn::Pat::Rest(r) => {
                self.error(r, "`..` is only allowed inside a tuple or array pattern")
            }
            other => self.error(other, "this pattern is not supported in kernels"),
        }
    }

    /// A literal in a pattern (`-1` is one literal token there).
    fn pattern_lit(&mut self, l: &syn::Lit) -> HExpr {
        let span = l.span();
        let negative = match l {
            syn::Lit::Int(i) => i.base10_digits().starts_with('-'),
            syn::Lit::Float(f) => f.base10_digits().starts_with('-'),
            _ => false,
        };
        if !negative {
            return self.expr(&syn::Expr::Lit(syn::ExprLit {
                attrs: Vec::new(),
                lit: l.clone(),
            }));
        }
        // Parse the magnitude as a literal of the same suffix, then negate.
        let text = l.to_token_stream().to_string();
        let magnitude: syn::Lit = match syn::parse_str(text.trim_start_matches('-')) {
            Ok(m) => m,
            Err(_) => {
                self.error(l, "this literal is not supported in a pattern");
                return self.error_expr(span);
            }
        };
        let inner = self.expr(&syn::Expr::Lit(syn::ExprLit {
            attrs: Vec::new(),
            lit: magnitude,
        }));
        let ty = inner.ty;
        HExpr {
            kind: HExprKind::Unary(crate::ir::UnOp::Neg, Box::new(inner)),
            ty,
            span,
        }
    }

    /// A range pattern bound: a literal (maybe negative), or a constant path.
    fn range_bound(&mut self, e: &syn::Expr) -> HExpr {
        match e {
            syn::Expr::Lit(l) => self.pattern_lit(&l.lit),
            syn::Expr::Path(p) => self.path_value(p),
            syn::Expr::Unary(_) | syn::Expr::Group(_) | syn::Expr::Paren(_) => self.expr(e),
            other => {
                self.error(other, "a range pattern's bounds are literals or constants");
                self.error_expr(other.span())
            }
        }
    }

    fn range_pattern(&mut self, r: &syn::PatRange, s: &Subject, out: &mut Tested) {
        if let Some(lo) = &r.start {
            let v = self.range_bound(lo);
            let c = self.compare(BinOp::Ge, s, v);
            self.and_cond(out, c);
        }
        if let Some(hi) = &r.end {
            let v = self.range_bound(hi);
            let op = match r.limits {
                syn::RangeLimits::Closed(_) => BinOp::Le,
                syn::RangeLimits::HalfOpen(_) => BinOp::Lt,
            };
            let c = self.compare(op, s, v);
            self.and_cond(out, c);
        }
        let numeric = match self.types().shape(s.place.ty) {
            Some(Shape::Scalar(t)) => t != Scalar::Bool,
            // Unknown yet: the comparisons constrain it.
            None => true,
            Some(_) => false,
        };
        if !numeric {
            let t = self.types().describe(s.place.ty);
            self.error(
                r,
                format!("range patterns need an integer or float, found `{t}`"),
            );
        }
    }

    fn or_pattern(&mut self, o: &syn::PatOr, s: &Subject, out: &mut Tested) {
        let mut any: Option<HExpr> = None;
        let mut always = false;
        for case in &o.cases {
            let t = self.pattern(case, s);
            if let Some(b) = t.binds.first() {
                self.error_at(
                    b.span,
                    "or-patterns that bind names are not supported in kernels: write one arm per \
                     alternative",
                );
            }
            match t.cond {
                None => always = true,
                Some(c) => {
                    any = Some(match any {
                        None => c,
                        Some(prev) => {
                            let (ty, span) = (self.types().scalar(Scalar::Bool), c.span);
                            binary(BinOp::Or, prev, c, ty, span)
                        }
                    })
                }
            }
        }
        if let (false, Some(c)) = (always, any) {
            self.and_cond(out, c);
        }
    }

    /// `(a, b, ..)` against a tuple.
    fn tuple_pattern(
        &mut self,
        elems: &[&syn::Pat],
        pat: &syn::Pat,
        s: &Subject,
        out: &mut Tested,
    ) {
        let rest = elems.iter().position(|p| matches!(p, syn::Pat::Rest(_)));
        let tys = match self.types().tuple_of(s.place.ty) {
            Some(tys) => tys,
            None if rest.is_none() => {
                let tys: Vec<TyVar> = elems
                    .iter()
                    .map(|_| self.types().fresh(Kind::Any))
                    .collect();
                let t = self.types().tuple(tys.clone());
                if !self.expect_ty(s.place.ty, t, pat.span(), " in tuple pattern") {
                    return;
                }
                tys
            }
            None => {
                if self
                    .unknown_type(pat.span(), "matching `..` in it")
                    .is_none()
                {
                    return;
                }
                // Macro time: the tuple's type is unknown; bind external values.
                for p in elems.iter().filter(|p| !matches!(p, syn::Pat::Rest(_))) {
                    let ty = self.types().fresh_external();
                    let tmp = self.temp(ty, p.span());
                    let part = Subject {
                        place: super::stmt::local_place(tmp, ty),
                        span: s.span,
                    };
                    self.pat_into(p, &part, out);
                }
                return;
            }
        };
        let fixed = elems.len() - rest.map_or(0, |_| 1);
        if fixed > tys.len() || (rest.is_none() && fixed != tys.len()) {
            let t = self.types().describe(s.place.ty);
            self.error(
                pat,
                format!(
                    "this pattern has {fixed} element(s) but the tuple `{t}` has {}",
                    tys.len()
                ),
            );
            return;
        }
        let after = elems.len() - rest.map_or(elems.len(), |r| r + 1);
        for (k, p) in elems.iter().enumerate() {
            if Some(k) == rest {
                continue;
            }
            let i = match rest {
                Some(r) if k > r => tys.len() - after + (k - r - 1),
                _ => k,
            };
            let part = s.part(HProj::Field(i as u32), tys[i]);
            self.pat_into(p, &part, out);
        }
    }

    /// `[a, b, ..]` against an array.
    fn array_pattern(&mut self, sl: &syn::PatSlice, s: &Subject, out: &mut Tested) {
        let elems: Vec<&syn::Pat> = sl.elems.iter().collect();
        let rest = elems.iter().position(|p| matches!(p, syn::Pat::Rest(_)));
        let (elem, len) = match self.types().shape(s.place.ty) {
            Some(Shape::Array(e, n)) => (e, n as usize),
            Some(_) => {
                let t = self.types().describe(s.place.ty);
                return self.error(sl, format!("array patterns match arrays, found `{t}`"));
            }
            None if rest.is_none() => {
                let e = self.types().fresh(Kind::Any);
                let t = self.types().known(Shape::Array(e, elems.len() as u32));
                self.expect_ty(s.place.ty, t, sl.span(), " in array pattern");
                (e, elems.len())
            }
            None => {
                if self
                    .unknown_type(sl.span(), "matching `..` in it")
                    .is_some()
                {
                    self.error(sl, "annotate the array's type to match `..` in it");
                }
                return;
            }
        };
        let fixed = elems.len() - rest.map_or(0, |_| 1);
        if fixed > len || (rest.is_none() && fixed != len) {
            return self.error(
                sl,
                format!("this pattern has {fixed} element(s) but the array has {len}"),
            );
        }
        let after = elems.len() - rest.map_or(elems.len(), |r| r + 1);
        let site = self.site("array pattern", sl.span());
        for (k, p) in elems.iter().enumerate() {
            if Some(k) == rest {
                continue;
            }
            let i = match rest {
                Some(r) if k > r => len - after + (k - r - 1),
                _ => k,
            };
            let usize_ty = self.types().scalar(Scalar::Usize);
            let index = HExpr {
                kind: HExprKind::Lit(HLit::Int(i as i128)),
                ty: usize_ty,
                span: p.span(),
            };
            let part = s.part(
                HProj::Index {
                    index: Box::new(index),
                    site,
                },
                elem,
            );
            self.pat_into(p, &part, out);
        }
    }

    /// `Name { a, b: pat, .. }` against a struct.
    fn struct_pattern(&mut self, st: &syn::PatStruct, s: &Subject, out: &mut Tested) {
        let Some((_, ty)) = self.struct_type_of_path(&st.path, st.qself.is_some()) else {
            return;
        };
        if !self.expect_ty(s.place.ty, ty, st.path.span(), " in struct pattern") {
            return;
        }
        for f in &st.fields {
            let fname = match &f.member {
                syn::Member::Named(n) => n.to_string(),
                syn::Member::Unnamed(i) => i.index.to_string(),
            };
            let Some((index, fty)) = self.field_of(ty, &fname, f.member.span()) else {
                continue;
            };
            let part = s.part(HProj::Field(index), fty);
            self.pat_into(&f.pat, &part, out);
        }
        if st.rest.is_none() && self.cx.env.is_link() {
            if let Ok(Some(fields)) = self.fields_of_type(ty, st.path.span()) {
                let named: Vec<String> = st
                    .fields
                    .iter()
                    .map(|f| f.member.to_token_stream().to_string())
                    .collect();
                let missing: Vec<String> = fields
                    .iter()
                    .filter(|f| !named.contains(&f.name))
                    .map(|f| format!("`{}`", f.name))
                    .collect();
                if !missing.is_empty() {
                    self.error(
                        &st.path,
                        format!(
                            "pattern does not mention field(s) {}: add them or `..`",
                            missing.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// `Some(p)` (`inner`) or `None` (no `inner`) against an `Option`.
    fn option_pattern(
        &mut self,
        inner: Option<&syn::Pat>,
        pat: &syn::Pat,
        s: &Subject,
        out: &mut Tested,
    ) {
        let value_ty = match self.types().shape(s.place.ty) {
            Some(Shape::Option(v)) => v,
            _ => {
                let v = self.types().fresh(Kind::Any);
                let o = self.types().known(Shape::Option(v));
                if !self.expect_ty(s.place.ty, o, pat.span(), " in `Option` pattern") {
                    return;
                }
                v
            }
        };
        let b = self.types().scalar(Scalar::Bool);
        let is_some = s.part(HProj::Field(OPTION_IS_SOME), b).load();
        match inner {
            None => {
                let c = self.not(is_some);
                self.and_cond(out, c);
            }
            Some(p) => {
                self.and_cond(out, is_some);
                let part = s.part(HProj::Field(OPTION_VALUE), value_ty);
                self.pat_into(p, &part, out);
            }
        }
    }
}

/// Whether a lone identifier in a pattern names a constant (rustc
/// decides by what is in scope; kernels follow the naming convention:
/// constants are upper case, bindings lower case).
fn names_constant(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// A name, a field of one, or `*name`: what may be read in place.
fn is_simple_place(e: &syn::Expr) -> bool {
    match super::stmt::strip(e) {
        syn::Expr::Path(p) => p.path.get_ident().is_some(),
        syn::Expr::Field(f) => is_simple_place(&f.base),
        syn::Expr::Unary(u) => {
            matches!(u.op, syn::UnOp::Deref(_))
                && matches!(super::stmt::strip(&u.expr), syn::Expr::Path(_))
        }
        _ => false,
    }
}
