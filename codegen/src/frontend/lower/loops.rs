//! Loops: `while`, `loop`, `for` over ranges (with `step_by` and `rev`),
//! and `break`.

use syn::spanned::Spanned;

use super::matching::ValueSink;
use super::stmt::{binary, local_place, strip};
use super::Lowerer;
use crate::frontend::hir::{HExpr, HExprKind, HLit, HStmt, HStmtKind};
use crate::frontend::types::Kind;
use crate::ir::{BinOp, Scalar};

impl Lowerer<'_, '_, '_> {
    pub(super) fn while_stmt(&mut self, w: &syn::ExprWhile) {
        if let syn::Expr::Let(l) = &*w.cond {
            return self.while_let(w, l);
        }
        let id = self.new_loop(w.label.as_ref());
        let mut cond = None;
        let cond_stmts = self.nested(|l| cond = Some(l.cond_expr(&w.cond)));
        let cond = cond.expect("set by the closure");
        let body = self.nested(|l| l.block_stmts(&w.body));
        self.loops.pop();
        let span = w.while_token.span;
        if cond_stmts.is_empty() {
            self.push(HStmtKind::While { id, cond, body }, span);
            return;
        }
        // The condition needs statements: evaluate them at the top of each
        // iteration of a `loop`, then leave when the condition is false.
        let mut stmts = cond_stmts;
        let exit = self.not(cond);
        let line = self.src_span(span);
        stmts.push(HStmt {
            kind: HStmtKind::If {
                cond: exit,
                then_block: vec![HStmt {
                    kind: HStmtKind::Break(id),
                    span: line,
                }],
                else_block: Vec::new(),
            },
            span: line,
        });
        stmts.push(HStmt {
            kind: HStmtKind::Block(body),
            span: line,
        });
        self.push(HStmtKind::Loop { id, body: stmts }, span);
    }

    pub(super) fn loop_stmt(&mut self, l: &syn::ExprLoop) {
        let id = self.open_loop(l.label.as_ref(), true, None);
        let body = self.nested(|lw| lw.block_stmts(&l.body));
        self.loops.pop();
        self.push(HStmtKind::Loop { id, body }, l.loop_token.span);
    }

    /// A `loop` whose value is used: `break value` stores into a
    /// temporary declared before the loop.
    pub(super) fn loop_value(&mut self, l: &syn::ExprLoop) -> HExpr {
        let span = l.span();
        let ty = self.types().fresh(crate::frontend::types::Kind::Any);
        let at = self.stmts.len();
        let id = self.open_loop(l.label.as_ref(), true, Some(ValueSink::new(ty)));
        let body = self.nested(|lw| lw.block_stmts(&l.body));
        let frame = self.loops.pop().expect("opened above");
        self.push(HStmtKind::Loop { id, body }, l.loop_token.span);
        let mut sink = frame.sink.expect("a value loop has a sink");
        if sink.stored.is_empty() {
            // Only `break;`: the loop's value is `()`.
            sink.stored.push(super::expr::Stored::Unit);
        }
        self.sink_value(sink, at, span)
    }

    pub(super) fn for_stmt(&mut self, f: &syn::ExprForLoop) {
        if self.for_each(f) {
            return;
        }
        let span = f.for_token.span;
        let (name, mutable) = match &*f.pat {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                (p.ident.to_string(), p.mutability.is_some())
            }
            syn::Pat::Wild(_) => ("_".to_string(), false),
            p => {
                self.error(
                    p,
                    "a `for` loop binds a simple name (`for i in 0..n`) or `_`; patterns are not \
                     supported",
                );
                return;
            }
        };
        let Some(range) = self.for_range(&f.expr) else {
            return;
        };
        let start = self.expr(range.start);
        let mark = self.stmts.len();
        let end = self.expr(range.end);
        let start = self.spill_before(mark, start);
        let ty = start.ty;
        if self.expect_ty(ty, end.ty, end.span, " in range bounds") {
            self.expect_kind(ty, Kind::Int, start.span, "a `for` range");
        }
        let step = range.step.map(|s| {
            let mark = self.stmts.len();
            let v = self.expr(s);
            if self.stmts.len() != mark {
                // Hoisted statements of the step come after `start`/`end`.
                self.error(s, "the `step_by` argument must be a plain expression here");
            }
            let usize_ty = self.types().scalar(Scalar::Usize);
            self.expect_ty(usize_ty, v.ty, v.span, " (`step_by` takes a `usize`)");
            if matches!(v.kind, HExprKind::Lit(HLit::Int(0))) {
                self.error(s, "`step_by(0)` panics in Rust: use a step of at least 1");
            }
            v
        });
        let id = self.new_loop(f.label.as_ref());
        if range.rev {
            self.rev_loop(id, &name, mutable, start, end, range.inclusive, f);
            self.loops.pop();
            return;
        }
        let mut var = 0;
        let body = self.nested(|l| {
            var = l.declare_local(name, ty, mutable, f.pat.span());
            l.block_stmts(&f.body);
        });
        self.loops.pop();
        self.push(
            HStmtKind::For {
                id,
                var,
                start,
                end,
                inclusive: range.inclusive,
                step,
                body,
            },
            span,
        );
    }

    /// `for v in (a..b).rev()` as `let s = a; let mut k = b; while k > s { k -= 1; let v = k; body }`
    /// and `(a..=b).rev()` as
    /// `let s = a; let mut k = b; let mut go = s <= k; while go { let v = k; go = k != s; k -= 1; body }`
    /// (the decrement may wrap after the last iteration; `k` is then unused).
    #[allow(clippy::too_many_arguments)]
    fn rev_loop(
        &mut self,
        id: crate::ir::LoopId,
        name: &str,
        mutable: bool,
        start: HExpr,
        end: HExpr,
        inclusive: bool,
        f: &syn::ExprForLoop,
    ) {
        let span = f.for_token.span;
        let ty = start.ty;
        let s = self.temp(ty, span);
        let k = self.temp(ty, span);
        self.push_let(s, Some(start), span);
        self.push_let(k, Some(end), span);
        let bool_ty = self.types().scalar(Scalar::Bool);
        let one = HExpr {
            kind: HExprKind::Lit(HLit::Int(1)),
            ty,
            span,
        };
        let decrement = HStmtKind::CompoundAssign {
            place: local_place(k, ty),
            op: BinOp::Sub,
            value: one,
        };
        let (ls, lk) = (self.load_local(s, span), self.load_local(k, span));
        let mut var = 0;
        if !inclusive {
            let cond = binary(BinOp::Gt, lk, ls, bool_ty, span);
            let body = self.nested(|l| {
                let lk = l.load_local(k, span);
                l.push(decrement, span);
                var = l.declare_local(name.to_string(), ty, mutable, f.pat.span());
                l.push_let(var, Some(lk), span);
                let inner = l.nested(|l| l.block_stmts(&f.body));
                l.push(HStmtKind::Block(inner), span);
            });
            self.push(HStmtKind::While { id, cond, body }, span);
            return;
        }
        let go = self.temp(bool_ty, span);
        let first = binary(BinOp::Le, ls, lk, bool_ty, span);
        self.push_let(go, Some(first), span);
        let cond = self.load_local(go, span);
        let body = self.nested(|l| {
            let lk = l.load_local(k, span);
            var = l.declare_local(name.to_string(), ty, mutable, f.pat.span());
            l.push_let(var, Some(lk), span);
            let (lk, ls) = (l.load_local(k, span), l.load_local(s, span));
            let more = binary(BinOp::Ne, lk, ls, bool_ty, span);
            l.push(
                HStmtKind::Assign {
                    place: local_place(go, bool_ty),
                    value: more,
                },
                span,
            );
            l.push(decrement, span);
            let inner = l.nested(|l| l.block_stmts(&f.body));
            l.push(HStmtKind::Block(inner), span);
        });
        self.push(HStmtKind::While { id, cond, body }, span);
    }

    pub(super) fn break_stmt(&mut self, b: &syn::ExprBreak) {
        let Some(frame) = self.loop_frame(b.label.as_ref(), b.span()) else {
            return;
        };
        let id = self.loops[frame].id;
        if let Some(e) = &b.expr {
            if !self.loops[frame].is_loop {
                self.error(
                    e,
                    "`break` with a value only leaves a `loop` (not `while` or `for`)",
                );
                return;
            }
            let v = self.expr(e);
            match self.loops[frame].sink.take() {
                Some(mut sink) => {
                    let stored = self.store_value(&mut sink.dest, sink.ty, v);
                    sink.stored.push(stored);
                    self.loops[frame].sink = Some(sink);
                }
                // The loop's value is not used.
                None => self.discard(v),
            }
        } else if let Some(sink) = self.loops[frame].sink.as_mut() {
            sink.stored.push(super::expr::Stored::Unit);
        }
        self.push(HStmtKind::Break(id), b.span());
    }

    /// Takes apart `a..b`, `a..=b`, `(a..b).step_by(s)`, `(a..b).rev()`.
    fn for_range<'e>(&mut self, e: &'e syn::Expr) -> Option<ForRange<'e>> {
        let unsupported = "`for` loops iterate over integer ranges (`for i in a..b`, `a..=b`, \
                           `(a..b).step_by(s)`, `(a..b).rev()`) and over arrays, slices and \
                           shared arrays (`for v in x`, `x.iter()`, `x.iter_mut()`, \
                           `x.iter().enumerate()`)";
        match strip(e) {
            syn::Expr::Range(r) => {
                let (Some(start), Some(end)) = (&r.start, &r.end) else {
                    self.error(r, "a `for` range needs both bounds (`a..b`)");
                    return None;
                };
                Some(ForRange {
                    start,
                    end,
                    inclusive: matches!(r.limits, syn::RangeLimits::Closed(_)),
                    step: None,
                    rev: false,
                })
            }
            syn::Expr::MethodCall(m)
                if matches!(strip(&m.receiver), syn::Expr::Range(_)) && m.turbofish.is_none() =>
            {
                let method = m.method.to_string();
                let mut range = self.for_range(&m.receiver)?;
                match (method.as_str(), m.args.len()) {
                    ("step_by", 1) => range.step = Some(&m.args[0]),
                    ("rev", 0) => range.rev = true,
                    _ => {
                        self.error(&m.method, unsupported);
                        return None;
                    }
                }
                Some(range)
            }
            other => {
                self.error(other, unsupported);
                None
            }
        }
    }
}

/// A `for` loop's iterator, taken apart.
struct ForRange<'e> {
    pub start: &'e syn::Expr,
    pub end: &'e syn::Expr,
    pub inclusive: bool,
    pub step: Option<&'e syn::Expr>,
    pub rev: bool,
}

/// Whether a `break` leaves loop `l` (unlabeled at its own level, or
/// naming its label from a nested loop).
pub(super) fn breaks_out(l: &syn::ExprLoop) -> bool {
    use syn::visit::Visit;
    struct Finder<'a> {
        label: Option<&'a syn::Lifetime>,
        depth: u32,
        found: bool,
    }
    impl<'ast> Visit<'ast> for Finder<'_> {
        fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
            match (&b.label, self.label) {
                (None, _) if self.depth == 0 => self.found = true,
                (Some(target), Some(own)) if target.ident == own.ident => self.found = true,
                _ => {}
            }
            syn::visit::visit_expr_break(self, b);
        }
        fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
            self.depth += 1;
            syn::visit::visit_expr_loop(self, e);
            self.depth -= 1;
        }
        fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
            self.depth += 1;
            syn::visit::visit_expr_while(self, e);
            self.depth -= 1;
        }
        fn visit_expr_for_loop(&mut self, e: &'ast syn::ExprForLoop) {
            self.depth += 1;
            syn::visit::visit_expr_for_loop(self, e);
            self.depth -= 1;
        }
    }
    let mut f = Finder {
        label: l.label.as_ref().map(|l| &l.name),
        depth: 0,
        found: false,
    };
    f.visit_block(&l.body);
    f.found
}
