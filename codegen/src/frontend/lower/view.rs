//! Sub-slices: `&x[a..b]`, `&mut y[a..]`, `&x[..b]`, `&x[a..=b]`,
//! `&x[..]`, and `x.split_at(k)` / `split_at_mut(k)`, of slice
//! parameters, arrays, shared arrays and other sub-slices.
//!
//! A sub-slice is a *view*: the thing it looks into, a start and a length,
//! the last two held in locals. The range is checked once, where the view
//! is made, as Rust checks it there (`start <= end`, then `end <= len`);
//! an element `w[i]` is checked against the view's own length, then read
//! from the base at `start + i`.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::place::{tokens_text, Access};
use super::stmt::{binary, local_place, strip};
use super::{Binding, Lowerer};
use crate::frontend::hir::{HExpr, HExprKind, HLit, HParamKind, HStmtKind};
use crate::ir::{BinOp, LocalId, Scalar};

/// A sub-slice, by index into `Lowerer::views`.
#[derive(Clone)]
pub(super) struct View {
    /// What it looks into: a slice parameter, shared memory or an array
    /// place (never a value or another view).
    pub base: Access,
    /// `usize` locals: the first element's index in `base`, and the length.
    pub start: LocalId,
    pub len: LocalId,
    /// `&mut` (its items are `&mut T`).
    pub mutable: bool,
}

impl Lowerer<'_, '_, '_> {
    /// `x[range]` (under a `&`): a view of `base` (which `base_expr` names).
    pub(super) fn sub_slice(
        &mut self,
        base: Access,
        r: &syn::ExprRange,
        base_expr: &syn::Expr,
        span: Span,
    ) -> Access {
        let usize_ty = self.types().scalar(Scalar::Usize);
        let bound = |l: &mut Self, e: &Option<Box<syn::Expr>>| {
            e.as_ref().map(|e| {
                let v = l.expr(e);
                l.expect_ty(usize_ty, v.ty, v.span, " (slice bounds are `usize`)");
                v
            })
        };
        let start = bound(self, &r.start);
        let mark = self.stmts.len();
        let mut end = bound(self, &r.end);
        let start = start.map(|s| self.spill_before(mark, s));
        if matches!(r.limits, syn::RangeLimits::Closed(_)) {
            end = end.map(|e| {
                let one = lit(1, usize_ty, span);
                binary(BinOp::Add, e, one, usize_ty, span)
            });
        }
        let text = format!("{}[{}]", tokens_text(base_expr), tokens_text_range(r));
        self.make_view(base, start, end, &text, span)
    }

    /// A view of `base` from `start` (default 0) to `end` (default its
    /// length), checked now; `text` names it in fault messages.
    fn make_view(
        &mut self,
        base: Access,
        start: Option<HExpr>,
        end: Option<HExpr>,
        text: &str,
        span: Span,
    ) -> Access {
        let usize_ty = self.types().scalar(Scalar::Usize);
        let Some((base, offset, base_len, mutable)) = self.view_base(base, span) else {
            return Access::Value(self.error_expr(span));
        };
        let s = self.temp(usize_ty, span);
        let start = start.unwrap_or_else(|| lit(0, usize_ty, span));
        self.push_let(s, Some(start), span);
        let e = self.temp(usize_ty, span);
        let end = end.unwrap_or(base_len.clone());
        self.push_let(e, Some(end), span);
        let site = self.site(text, span);
        // `start <= end`, then `end <= len`, as Rust checks a range.
        let (ls, le) = (self.load_local(s, span), self.load_local(e, span));
        let c = check(ls, le, site, true, usize_ty, span);
        self.push(HStmtKind::Expr(c), span);
        let le = self.load_local(e, span);
        let c = check(le, base_len, site, true, usize_ty, span);
        self.push(HStmtKind::Expr(c), span);
        let len = self.temp(usize_ty, span);
        let (ls, le) = (self.load_local(s, span), self.load_local(e, span));
        self.push_let(len, Some(binary(BinOp::Sub, le, ls, usize_ty, span)), span);
        let start = match offset {
            None => s,
            Some(o) => {
                let t = self.temp(usize_ty, span);
                let ls = self.load_local(s, span);
                self.push_let(t, Some(binary(BinOp::Add, o, ls, usize_ty, span)), span);
                t
            }
        };
        self.views.push(View {
            base,
            start,
            len,
            mutable,
        });
        Access::View {
            view: (self.views.len() - 1) as u32,
            text: text.to_string(),
        }
    }

    /// What a view of `a` looks into, the offset of `a` in it (for a view
    /// of a view), the length of `a`, and whether it can be written.
    fn view_base(&mut self, a: Access, span: Span) -> Option<(Access, Option<HExpr>, HExpr, bool)> {
        match a {
            Access::View { view, .. } => {
                let v = self.views[view as usize].clone();
                let start = self.load_local(v.start, span);
                let len = self.load_local(v.len, span);
                Some((v.base, Some(start), len, v.mutable))
            }
            Access::Value(v) if matches!(v.kind, HExprKind::Error) => None,
            Access::Value(v) => {
                // An array rvalue: a temporary holds it.
                let ty = v.ty;
                let tmp = self.temp(ty, span);
                self.push_let(tmp, Some(v), span);
                let a = Access::Place {
                    place: local_place(tmp, ty),
                    text: "the array".to_string(),
                    bare_state: false,
                };
                let len = self.length(a.clone(), span, span);
                Some((a, None, len, true))
            }
            Access::Place {
                mut place, text, ..
            } => {
                let mark = self.stmts.len();
                self.spill_indices(&mut place, mark, span);
                let a = Access::Place {
                    place,
                    text,
                    bare_state: false,
                };
                let len = self.length(a.clone(), span, span);
                Some((a, None, len, true))
            }
            Access::Slice { param, .. } => {
                let mutable = matches!(
                    self.params[param as usize].kind,
                    HParamKind::Slice { mutable: true, .. }
                );
                let len = self.length(a.clone(), span, span);
                Some((a, None, len, mutable))
            }
            Access::Shared { .. } => {
                let len = self.length(a.clone(), span, span);
                Some((a, None, len, true))
            }
        }
    }

    /// Element `index` of view `view`, named `text` in fault messages.
    pub(super) fn view_element(
        &mut self,
        view: u32,
        text: &str,
        index: HExpr,
        base_expr: &syn::Expr,
        span: Span,
    ) -> Access {
        let v = self.views[view as usize].clone();
        let usize_ty = self.types().scalar(Scalar::Usize);
        let site = self.site(text, span);
        let len = self.load_local(v.len, span);
        let index = check(index, len, site, false, usize_ty, span);
        let start = self.load_local(v.start, span);
        let at = binary(BinOp::Add, start, index, usize_ty, span);
        let mark = self.stmts.len();
        self.index_into(v.base, at, mark, base_expr, span)
    }

    /// The length of view `view`.
    pub(super) fn view_len(&mut self, view: u32, span: Span) -> HExpr {
        let len = self.views[view as usize].len;
        self.load_local(len, span)
    }

    /// Whether view `view` is `&mut`.
    pub(super) fn view_mutable(&self, view: u32) -> bool {
        self.views[view as usize].mutable
    }

    /// `let w = &x[a..b];`, `let (l, r) = x.split_at(k);`: binds views;
    /// `false` when `l` is no such `let`.
    pub(super) fn view_let(&mut self, l: &syn::Local) -> bool {
        let Some(init) = &l.init else { return false };
        if init.diverge.is_some() {
            return false;
        }
        match strip(&init.expr) {
            syn::Expr::Reference(r) if is_range_index(&r.expr) => {
                let a = self.access(&r.expr);
                if let Access::View { view, .. } = a {
                    if r.mutability.is_none() {
                        self.views[view as usize].mutable = false;
                    }
                    self.bind_view(&l.pat, view);
                }
                true
            }
            syn::Expr::MethodCall(m)
                if matches!(m.method.to_string().as_str(), "split_at" | "split_at_mut")
                    && m.args.len() == 1 =>
            {
                self.split_at(l, m);
                true
            }
            _ => false,
        }
    }

    /// `let (l, r) = x.split_at(k);` (or `split_at_mut`).
    fn split_at(&mut self, l: &syn::Local, m: &syn::ExprMethodCall) {
        let span = m.span();
        let pats = match strip_pat(&l.pat) {
            syn::Pat::Tuple(t) if t.elems.len() == 2 => [&t.elems[0], &t.elems[1]],
            p => {
                self.error(
                    p,
                    "`split_at` gives two sub-slices: bind them with `let (left, right) = …`",
                );
                return;
            }
        };
        let base = self.access(&m.receiver);
        let usize_ty = self.types().scalar(Scalar::Usize);
        let k = self.expr(&m.args[0]);
        self.expect_ty(usize_ty, k.ty, k.span, " (`split_at` takes a `usize`)");
        let kt = self.temp(usize_ty, span);
        self.push_let(kt, Some(k), span);
        let text = tokens_text(&m.receiver);
        let mutable = m.method == "split_at_mut";
        // A view of a view, an rvalue or an indexed place is evaluated
        // once: make the whole view first, then the two halves of it.
        let whole = self.make_view(base, None, None, &text, span);
        let halves = [(None, Some(kt)), (Some(kt), None)];
        for (pat, (from, to)) in pats.into_iter().zip(halves) {
            let load = |lw: &mut Self, t: Option<LocalId>| t.map(|t| lw.load_local(t, span));
            let (from, to) = (load(self, from), load(self, to));
            let name = match (&from, &to) {
                (None, _) => format!("{text}[..k]"),
                _ => format!("{text}[k..]"),
            };
            if let Access::View { view, .. } = self.make_view(whole.clone(), from, to, &name, span)
            {
                if !mutable {
                    self.views[view as usize].mutable = false;
                }
                self.bind_view(pat, view);
            }
        }
    }

    /// Binds `pat` (a name, maybe typed) to view `view`.
    fn bind_view(&mut self, pat: &syn::Pat, view: u32) {
        match strip_pat(pat) {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                self.scopes
                    .last_mut()
                    .expect("a scope is open")
                    .push((p.ident.to_string(), Binding::View(view)));
            }
            syn::Pat::Wild(_) => {}
            p => self.error(
                p,
                "a sub-slice binds to a name: `let w = &x[a..b];` (then `w[i]`, `w.len()`, \
                 `for v in w`)",
            ),
        }
    }
}

/// `x[a..b]`: an index by a range.
pub(super) fn is_range_index(e: &syn::Expr) -> bool {
    matches!(strip(e), syn::Expr::Index(ix) if matches!(strip(&ix.index), syn::Expr::Range(_)))
}

fn strip_pat(p: &syn::Pat) -> &syn::Pat {
    match p {
        syn::Pat::Type(t) => strip_pat(&t.pat),
        syn::Pat::Paren(p) => strip_pat(&p.pat),
        p => p,
    }
}

fn lit(v: i128, ty: crate::frontend::types::TyVar, span: Span) -> HExpr {
    HExpr {
        kind: HExprKind::Lit(HLit::Int(v)),
        ty,
        span,
    }
}

/// `index`, after checking `index < len` (`<=` when `inclusive`).
fn check(
    index: HExpr,
    len: HExpr,
    site: crate::ir::SiteId,
    inclusive: bool,
    ty: crate::frontend::types::TyVar,
    span: Span,
) -> HExpr {
    HExpr {
        kind: HExprKind::Check {
            index: Box::new(index),
            len: Box::new(len),
            site,
            inclusive,
        },
        ty,
        span,
    }
}

/// The source text of a range (`a..b`).
fn tokens_text_range(r: &syn::ExprRange) -> String {
    let part = |e: &Option<Box<syn::Expr>>| e.as_ref().map(|e| tokens_text(e)).unwrap_or_default();
    let dots = match r.limits {
        syn::RangeLimits::HalfOpen(_) => "..",
        syn::RangeLimits::Closed(_) => "..=",
    };
    format!("{}{dots}{}", part(&r.start), part(&r.end))
}
