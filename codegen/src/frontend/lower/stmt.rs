//! Statements and control flow: `let`, assignment, `if`, loops, `break`,
//! `continue`, `return`, blocks.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::pattern::Subject;
use super::Lowerer;
use crate::frontend::hir::{HExpr, HExprKind, HPlace, HProj, HStmtKind};
use crate::frontend::signature::value_type;
use crate::frontend::types::{Kind, Shape};
use crate::ir::{BinOp, LocalId, PlaceRoot, Scalar, UnOp};

impl Lowerer<'_, '_, '_> {
    /// The function body: statements, then the tail value returned.
    pub(super) fn fn_body(&mut self, block: &syn::Block) {
        if self.cx.types.shape(self.ret) == Some(Shape::Unit) {
            self.block_stmts(block);
            return;
        }
        let v = self.block_value(block);
        match v.kind {
            HExprKind::Never | HExprKind::Error => {}
            // No tail: every path returns (or rustc reports the missing value).
            HExprKind::Unit if !has_tail(block) => {}
            _ => {
                let ret = self.ret;
                if self.expect_ty(ret, v.ty, v.span, " in the returned value") {
                    let span = v.span;
                    self.push(HStmtKind::Return(Some(v)), span);
                }
            }
        }
    }

    /// Lowers a block's statements into the current list, its tail (if any)
    /// as a statement.
    pub(super) fn block_stmts(&mut self, block: &syn::Block) {
        for s in &block.stmts {
            self.stmt(s);
        }
    }

    /// Lowers a block's statements into the current list and returns its
    /// value: the tail expression, `Unit`, or `Never` when it ends in
    /// `return`/`break`/`continue`.
    pub(super) fn block_value(&mut self, block: &syn::Block) -> HExpr {
        let n = block.stmts.len();
        for s in block.stmts.iter().take(n.saturating_sub(1)) {
            self.stmt(s);
        }
        let span = block.brace_token.span.join();
        match block.stmts.last() {
            Some(syn::Stmt::Expr(e, None)) => self.expr(e),
            Some(last) => {
                self.stmt(last);
                let diverges = match last {
                    syn::Stmt::Expr(
                        syn::Expr::Return(_) | syn::Expr::Break(_) | syn::Expr::Continue(_),
                        _,
                    ) => true,
                    syn::Stmt::Expr(syn::Expr::Loop(l), _) => !super::loops::breaks_out(l),
                    _ => false,
                };
                if diverges {
                    self.never_expr(span)
                } else {
                    self.unit_expr(span)
                }
            }
            None => self.unit_expr(span),
        }
    }

    pub(super) fn unit_expr(&mut self, span: Span) -> HExpr {
        HExpr {
            kind: HExprKind::Unit,
            ty: self.types().unit(),
            span,
        }
    }

    pub(super) fn never_expr(&mut self, span: Span) -> HExpr {
        HExpr {
            kind: HExprKind::Never,
            ty: self.types().fresh(Kind::Any),
            span,
        }
    }

    fn stmt(&mut self, s: &syn::Stmt) {
        match s {
            syn::Stmt::Local(l) => self.local(l),
            syn::Stmt::Expr(e, _) => self.stmt_expr(e),
            syn::Stmt::Item(item) => self.error(
                item,
                "items (`fn`, `struct`, `const`, `static`, `use`, `impl`) cannot be declared \
                 inside a kernel: move it outside (a helper fn needs `#[device]`)",
            ),
            syn::Stmt::Macro(m) if super::expr::supported_macro(&m.mac) => {
                let v = self.macro_expr(&m.mac);
                self.discard(v);
            }
            syn::Stmt::Macro(m) => {
                let msg = super::reject::macro_message(&m.mac);
                self.error(m, msg)
            }
        }
    }

    /// An expression in statement position: evaluated for its effects.
    pub(super) fn stmt_expr(&mut self, e: &syn::Expr) {
        match e {
            syn::Expr::If(i) => self.if_stmt(i),
            syn::Expr::While(w) => self.while_stmt(w),
            syn::Expr::Loop(l) => self.loop_stmt(l),
            syn::Expr::ForLoop(f) => self.for_stmt(f),
            syn::Expr::Block(b) if b.label.is_none() => {
                let body = self.nested(|l| l.block_stmts(&b.block));
                self.push(HStmtKind::Block(body), b.span());
            }
            syn::Expr::Assign(a) => self.assign(a),
            syn::Expr::Binary(b) if compound_op(&b.op).is_some() => self.compound_assign(b),
            syn::Expr::Return(r) => self.return_stmt(r),
            syn::Expr::Break(b) => self.break_stmt(b),
            syn::Expr::Continue(c) => {
                if let Some(id) = self.loop_target(c.label.as_ref(), c.span()) {
                    self.push(HStmtKind::Continue(id), c.span());
                }
            }
            syn::Expr::Match(m) => self.match_stmt(m),
            _ => {
                let v = self.expr(e);
                self.discard(v);
            }
        }
    }

    /// Keeps the effects of a value nothing uses.
    pub(super) fn discard(&mut self, v: HExpr) {
        let skip = matches!(
            v.kind,
            HExprKind::Unit
                | HExprKind::Never
                | HExprKind::Error
                | HExprKind::Lit(_)
                | HExprKind::Const
        ) || v.is_constant();
        if !skip {
            let span = v.span;
            self.push(HStmtKind::Expr(v), span);
        }
    }

    fn local(&mut self, l: &syn::Local) {
        if self.view_let(l) || self.closure_let(l) {
            return;
        }
        if let Some(init) = &l.init {
            if init.diverge.is_some() {
                return self.let_pattern(l);
            }
            if let syn::Expr::Call(c) = strip(&init.expr) {
                if let syn::Expr::Path(p) = strip(&c.func) {
                    match super::call::gpu_name(p).as_deref() {
                        Some("shared_array") => return self.shared_let(l, c, p),
                        Some("dynamic_shared") => return self.dynamic_shared_let(l, c, p),
                        _ => {}
                    }
                }
            }
        }
        let (pat, annotation) = match &l.pat {
            syn::Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
            p => (p, None),
        };
        let (name, mutable) = match pat {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                (p.ident.clone(), p.mutability.is_some())
            }
            syn::Pat::Wild(_) if annotation.is_none() => {
                // `let _ = e;` evaluates `e` and drops it.
                if let Some(init) = &l.init {
                    self.stmt_expr(&init.expr);
                }
                return;
            }
            _ => return self.let_pattern(l),
        };
        let ty = match annotation {
            Some(t) => match value_type(&mut self.type_cx(), t) {
                Ok(v) => v,
                Err(e) => {
                    self.errors.push(e);
                    self.types().fresh_external()
                }
            },
            None => self.types().fresh(Kind::Any),
        };
        let init = l.init.as_ref().map(|init| {
            let v = self.expr(&init.expr);
            self.expect_ty(ty, v.ty, v.span, "");
            v
        });
        let id = self.declare_local(name.to_string(), ty, mutable, name.span());
        if annotation.is_none() {
            self.locals[id as usize].let_key = Some(l as *const syn::Local as usize);
        }
        if init.is_none() {
            self.deferred_init.push(id);
        }
        self.push(HStmtKind::Let { local: id, init }, l.span());
    }

    /// `let pat = e;` with a destructuring pattern, and `let pat = e else
    /// { … };`.
    fn let_pattern(&mut self, l: &syn::Local) {
        let Some(init) = &l.init else {
            self.error(
                &l.pat,
                "a destructuring `let` needs a value: `let (a, b) = pair;`",
            );
            return;
        };
        let subject = self.subject(&init.expr);
        let tested = self.pattern(&l.pat, &subject);
        match (&init.diverge, tested.cond) {
            (None, Some(_)) => {
                self.error(
                    &l.pat,
                    "this pattern may not match: use `if let`, `match`, or `let … else { … }`",
                );
                return;
            }
            (Some((_, otherwise)), cond) => {
                let else_block = self.nested(|lw| lw.stmt_expr(otherwise));
                if let Some(c) = cond {
                    let cond = self.not(c);
                    self.push(
                        HStmtKind::If {
                            cond,
                            then_block: else_block,
                            else_block: Vec::new(),
                        },
                        l.span(),
                    );
                }
            }
            (None, None) => {}
        }
        self.bind(tested.binds);
    }

    /// A condition: a `bool` expression (`if let` and `while let` are
    /// handled by their statements; a `let` anywhere else is rejected).
    pub(super) fn cond_expr(&mut self, e: &syn::Expr) -> HExpr {
        if let syn::Expr::Let(l) = e {
            self.error(
                l,
                "`let` is only supported directly in `if let` and `while let` (let chains are \
                 not): nest the `if`s",
            );
            return self.error_expr(e.span());
        }
        let v = self.expr(e);
        let b = self.types().scalar(Scalar::Bool);
        self.expect_ty(b, v.ty, v.span, " in condition");
        v
    }

    pub(super) fn if_stmt(&mut self, i: &syn::ExprIf) {
        if let syn::Expr::Let(l) = &*i.cond {
            let else_branch = i.else_branch.as_ref().map(|(_, e)| &**e);
            return self.if_let(l, &i.then_branch, else_branch, None);
        }
        let cond = self.cond_expr(&i.cond);
        let then_block = self.nested(|l| l.block_stmts(&i.then_branch));
        let else_block = match &i.else_branch {
            None => Vec::new(),
            Some((_, e)) => self.nested(|l| l.stmt_expr(e)),
        };
        self.push(
            HStmtKind::If {
                cond,
                then_block,
                else_block,
            },
            i.if_token.span,
        );
    }

    /// `!e` for a `bool` expression.
    pub(super) fn not(&mut self, e: HExpr) -> HExpr {
        let (ty, span) = (e.ty, e.span);
        HExpr {
            kind: HExprKind::Unary(UnOp::Not, Box::new(e)),
            ty,
            span,
        }
    }

    fn return_stmt(&mut self, r: &syn::ExprReturn) {
        let unit = self.cx.types.shape(self.ret) == Some(Shape::Unit);
        match (&r.expr, unit) {
            (None, true) => self.push(HStmtKind::Return(None), r.span()),
            (None, false) => {
                let t = self.cx.types.describe(self.ret);
                self.error(
                    r,
                    format!("this function returns `{t}`: write `return value;`"),
                );
            }
            (Some(e), true) => {
                let msg = if self.role.is_batch() {
                    "batch kernels return nothing: write `return;` (results go into a `&mut [T]` \
                     parameter)"
                } else {
                    "this function has no return type: write `return;`, or declare `-> T`"
                };
                self.error(e, msg);
            }
            (Some(e), false) => {
                let v = self.expr(e);
                let ret = self.ret;
                self.expect_ty(ret, v.ty, v.span, " in the returned value");
                self.push(HStmtKind::Return(Some(v)), r.span());
            }
        }
    }

    fn assign(&mut self, a: &syn::ExprAssign) {
        if matches!(
            strip(&a.left),
            syn::Expr::Tuple(_) | syn::Expr::Array(_) | syn::Expr::Infer(_)
        ) {
            // `(a, b) = rhs` is `{ let (x, y) = rhs; a = x; b = y; }`.
            let v = self.expr(&a.right);
            let subject = self.subject_of_value(v);
            return self.assign_parts(&a.left, &subject);
        }
        // Rust evaluates the assigned value first, then the place.
        let value = self.expr(&a.right);
        let mark = self.stmts.len();
        let Some(place) = self.place_for_write(&a.left) else {
            return;
        };
        let value = self.spill_before(mark, value);
        if self.expect_ty(place.ty, value.ty, value.span, " in assignment") {
            self.push(HStmtKind::Assign { place, value }, a.span());
        }
    }

    /// Assigns the parts of `subject` to the places of a destructuring
    /// assignment's left side, left to right.
    fn assign_parts(&mut self, target: &syn::Expr, subject: &Subject) {
        let span = target.span();
        match strip(target) {
            syn::Expr::Infer(_) => {}
            syn::Expr::Tuple(t) => {
                let n = t.elems.len();
                let tys = match self.types().tuple_of(subject.place.ty) {
                    Some(tys) => tys,
                    None => {
                        let tys: Vec<_> = (0..n).map(|_| self.types().fresh(Kind::Any)).collect();
                        let tt = self.types().tuple(tys.clone());
                        if !self.expect_ty(subject.place.ty, tt, span, " in assignment") {
                            return;
                        }
                        tys
                    }
                };
                if tys.len() != n {
                    let t = self.types().describe(subject.place.ty);
                    return self.error_at(
                        span,
                        format!(
                            "this assigns {n} value(s) but the tuple `{t}` has {}",
                            tys.len()
                        ),
                    );
                }
                for (i, (e, ty)) in t.elems.iter().zip(tys).enumerate() {
                    let part = subject.part(HProj::Field(i as u32), ty);
                    self.assign_parts(e, &part);
                }
            }
            syn::Expr::Array(a) => {
                let n = a.elems.len() as u32;
                let elem = self.types().fresh(Kind::Any);
                let at = self.types().known(Shape::Array(elem, n));
                if !self.expect_ty(subject.place.ty, at, span, " in assignment") {
                    return;
                }
                let site = self.site("array assignment", span);
                for (i, e) in a.elems.iter().enumerate() {
                    let usize_ty = self.types().scalar(Scalar::Usize);
                    let index = HExpr {
                        kind: HExprKind::Lit(crate::frontend::hir::HLit::Int(i as i128)),
                        ty: usize_ty,
                        span,
                    };
                    let part = subject.part(
                        HProj::Index {
                            index: Box::new(index),
                            site,
                        },
                        elem,
                    );
                    self.assign_parts(e, &part);
                }
            }
            other => {
                let Some(place) = self.place_for_write(other) else {
                    return;
                };
                let value = subject.load();
                if self.expect_ty(place.ty, value.ty, span, " in assignment") {
                    self.push(HStmtKind::Assign { place, value }, span);
                }
            }
        }
    }

    fn compound_assign(&mut self, b: &syn::ExprBinary) {
        let op = compound_op(&b.op).expect("checked by the caller");
        let value = self.expr(&b.right);
        let mark = self.stmts.len();
        let Some(place) = self.place_for_write(&b.left) else {
            return;
        };
        let value = self.spill_before(mark, value);
        let ok = if matches!(op, BinOp::Shl | BinOp::Shr) {
            self.expect_kind(place.ty, Kind::Int, b.left.span(), "a shift")
                && self.expect_kind(value.ty, Kind::Int, value.span, "a shift amount")
        } else {
            self.expect_ty(place.ty, value.ty, value.span, " in compound assignment")
        };
        if ok {
            self.push(HStmtKind::CompoundAssign { place, op, value }, b.span());
        }
    }

    /// Whether `local` may be assigned although not `mut` (declared without
    /// an initializer).
    pub(super) fn is_deferred_init(&self, local: LocalId) -> bool {
        self.deferred_init.contains(&local)
    }
}

/// `e` without parentheses and invisible groups.
pub(super) fn strip(e: &syn::Expr) -> &syn::Expr {
    match e {
        syn::Expr::Paren(p) => strip(&p.expr),
        syn::Expr::Group(g) => strip(&g.expr),
        _ => e,
    }
}

fn has_tail(block: &syn::Block) -> bool {
    matches!(block.stmts.last(), Some(syn::Stmt::Expr(_, None)))
}

pub(super) fn local_place(local: LocalId, ty: crate::frontend::types::TyVar) -> HPlace {
    HPlace {
        root: PlaceRoot::Local(local),
        proj: Vec::new(),
        ty,
    }
}

pub(super) fn binary(
    op: BinOp,
    l: HExpr,
    r: HExpr,
    ty: crate::frontend::types::TyVar,
    span: Span,
) -> HExpr {
    HExpr {
        kind: HExprKind::Binary(op, Box::new(l), Box::new(r)),
        ty,
        span,
    }
}

/// The operator of `+=`, `<<=`, …
pub(super) fn compound_op(op: &syn::BinOp) -> Option<BinOp> {
    Some(match op {
        syn::BinOp::AddAssign(_) => BinOp::Add,
        syn::BinOp::SubAssign(_) => BinOp::Sub,
        syn::BinOp::MulAssign(_) => BinOp::Mul,
        syn::BinOp::DivAssign(_) => BinOp::Div,
        syn::BinOp::RemAssign(_) => BinOp::Rem,
        syn::BinOp::BitXorAssign(_) => BinOp::BitXor,
        syn::BinOp::BitAndAssign(_) => BinOp::BitAnd,
        syn::BinOp::BitOrAssign(_) => BinOp::BitOr,
        syn::BinOp::ShlAssign(_) => BinOp::Shl,
        syn::BinOp::ShrAssign(_) => BinOp::Shr,
        _ => return None,
    })
}
