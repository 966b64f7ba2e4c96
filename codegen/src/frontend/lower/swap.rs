//! `mem::swap(&mut a, &mut b)`, `mem::replace(&mut a, v)` and
//! `xs.swap(i, j)`: written out as reads and writes of the places.
//!
//! Rust borrows each place (evaluating its indices and checking them)
//! before anything moves; here each place's indices are evaluated once
//! into temporaries and the place is read right away (the read is the
//! bounds check), so a place out of bounds faults before anything is
//! written, as the panic would in Rust.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::stmt::strip;
use super::Lowerer;
use crate::frontend::hir::{HExpr, HExprKind, HPlace, HStmtKind};
use crate::ir::LocalId;

impl Lowerer<'_, '_, '_> {
    /// `mem::swap` or `mem::replace`.
    pub(super) fn mem_call(&mut self, op: &str, c: &syn::ExprCall) -> HExpr {
        let span = c.span();
        if c.args.len() != 2 {
            return self.reject_call(
                c,
                &format!("`mem::{op}` takes two arguments: `mem::{op}(&mut a, b)`"),
            );
        }
        let Some((a, old)) = self.borrow_mut(&c.args[0], op) else {
            return self.error_expr(span);
        };
        if op == "swap" {
            let Some((b, other)) = self.borrow_mut(&c.args[1], op) else {
                return self.error_expr(span);
            };
            if !self.expect_ty(a.ty, b.ty, c.args[1].span(), " in `mem::swap`") {
                return self.error_expr(span);
            }
            let (va, vb) = (self.load_local(old, span), self.load_local(other, span));
            self.push(
                HStmtKind::Assign {
                    place: a,
                    value: vb,
                },
                span,
            );
            self.push(
                HStmtKind::Assign {
                    place: b,
                    value: va,
                },
                span,
            );
            return self.unit_expr(span);
        }
        let v = self.expr(&c.args[1]);
        if !self.expect_ty(a.ty, v.ty, v.span, " in `mem::replace`") {
            return self.error_expr(span);
        }
        self.push(HStmtKind::Assign { place: a, value: v }, span);
        self.load_local(old, span)
    }

    /// `&mut place` as an argument of `mem::{op}`: the place, with its
    /// indices evaluated once, and a temporary holding its value (read
    /// now: the read checks the indices).
    fn borrow_mut(&mut self, e: &syn::Expr, op: &str) -> Option<(HPlace, LocalId)> {
        let syn::Expr::Reference(r) = strip(e) else {
            self.error(
                e,
                format!("`mem::{op}` takes the place to change as `&mut place`"),
            );
            return None;
        };
        if r.mutability.is_none() {
            self.error(
                r,
                format!("`mem::{op}` needs a mutable borrow: `&mut place`"),
            );
            return None;
        }
        let mut place = self.place_for_write(&r.expr)?;
        let span = r.span();
        let at = self.stmts.len();
        self.spill_indices(&mut place, at, span);
        let t = self.read_into_temp(&place, span);
        Some((place, t))
    }

    /// `let t = place;` — returns `t`.
    pub(super) fn read_into_temp(&mut self, place: &HPlace, span: Span) -> LocalId {
        let ty = place.ty;
        let t = self.temp(ty, span);
        let v = HExpr {
            kind: HExprKind::Load(place.clone()),
            ty,
            span,
        };
        self.push_let(t, Some(v), span);
        t
    }

    /// `xs.swap(i, j)` on an array or a slice: both indices are checked
    /// before anything is written.
    pub(super) fn slice_swap(
        &mut self,
        mut base: super::place::Access,
        m: &syn::ExprMethodCall,
    ) -> HExpr {
        let span = m.span();
        if m.args.len() != 2 {
            self.error(&m.method, "`swap` takes two indices: `xs.swap(i, j)`");
            return self.error_expr(span);
        }
        if let super::place::Access::Place { place, .. } = &mut base {
            let at = self.stmts.len();
            self.spill_indices(place, at, span);
        }
        let ij = self.operands(m.args.iter());
        let mut places = Vec::new();
        for v in ij {
            let at = self.stmts.len();
            let v = self.spill_at(at, v);
            let mark = self.stmts.len();
            let a = self.index_into(base.clone(), v, mark, &m.receiver, span);
            places.push(self.writable(a, &m.receiver));
        }
        let (Some(a), Some(b)) = (places[0].take(), places[1].take()) else {
            return self.error_expr(span);
        };
        let ta = self.read_into_temp(&a, span);
        let tb = self.read_into_temp(&b, span);
        let (va, vb) = (self.load_local(ta, span), self.load_local(tb, span));
        self.push(
            HStmtKind::Assign {
                place: a,
                value: vb,
            },
            span,
        );
        self.push(
            HStmtKind::Assign {
                place: b,
                value: va,
            },
            span,
        );
        self.unit_expr(span)
    }
}
