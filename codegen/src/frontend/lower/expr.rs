//! Expressions: literals, operators, casts, value-producing `if` and
//! blocks, array and struct literals, and the constructs that are rejected.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;

use super::stmt::{binary, compound_op, local_place};
use super::Lowerer;
use crate::frontend::hir::{HExpr, HExprKind, HLit, HStmtKind};
use crate::frontend::signature::{array_len, ArrayLen};
use crate::frontend::types::{Kind, Shape};
use crate::ir::{BinOp, LocalId, Scalar, UnOp};

impl Lowerer<'_, '_, '_> {
    /// Lowers an expression in value position.
    pub(super) fn expr(&mut self, e: &syn::Expr) -> HExpr {
        match e {
            syn::Expr::Lit(l) => self.lit(&l.lit),
            syn::Expr::Paren(p) => self.expr(&p.expr),
            syn::Expr::Group(g) => self.expr(&g.expr),
            syn::Expr::Path(_) | syn::Expr::Field(_) | syn::Expr::Index(_) => self.access_value(e),
            syn::Expr::Unary(u) => match u.op {
                syn::UnOp::Deref(_) => self.access_value(e),
                syn::UnOp::Neg(_) => self.unary(UnOp::Neg, u),
                syn::UnOp::Not(_) => self.unary(UnOp::Not, u),
                _ => self.reject(e, "this operator is not supported in kernels"),
            },
            syn::Expr::Binary(b) if compound_op(&b.op).is_some() => {
                self.stmt_expr(e);
                self.unit_expr(e.span())
            }
            syn::Expr::Binary(b) => self.binary(b),
            syn::Expr::Cast(c) => self.cast(c),
            syn::Expr::Call(c) => self.call(c),
            syn::Expr::MethodCall(m) => self.method_call(m),
            syn::Expr::If(i) => self.value_if(i),
            syn::Expr::Match(m) => self.match_value(m),
            syn::Expr::Block(b) => self.value_block(b),
            syn::Expr::Array(a) => self.array_lit(a),
            syn::Expr::Repeat(r) => self.array_repeat(r),
            syn::Expr::Struct(s) => self.struct_lit(s),
            // A `loop` that nothing breaks out of never finishes (`!`).
            syn::Expr::Loop(l) if !super::loops::breaks_out(l) => {
                self.stmt_expr(e);
                self.never_expr(e.span())
            }
            syn::Expr::Loop(l) if l.attrs.is_empty() => self.loop_value(l),
            syn::Expr::Assign(_)
            | syn::Expr::While(_)
            | syn::Expr::Loop(_)
            | syn::Expr::ForLoop(_) => {
                self.stmt_expr(e);
                self.unit_expr(e.span())
            }
            syn::Expr::Return(_) | syn::Expr::Break(_) | syn::Expr::Continue(_) => {
                self.stmt_expr(e);
                self.never_expr(e.span())
            }
            syn::Expr::Tuple(t) if t.elems.is_empty() => self.unit_expr(e.span()),
            syn::Expr::Tuple(t) => self.tuple_lit(t),
            syn::Expr::Macro(m) => self.macro_expr(&m.mac),
            syn::Expr::Try(t) => self.try_option(t),
            _ => {
                let msg = super::reject::rejection(e);
                self.reject(e, msg)
            }
        }
    }

    /// A macro in value position: `matches!`, the assertions; anything
    /// else is rejected.
    pub(super) fn macro_expr(&mut self, mac: &syn::Macro) -> HExpr {
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        match name.as_str() {
            "matches" => self.matches_macro(mac),
            n if super::assert::ASSERTIONS.contains(&n) => self.assertion(n, mac),
            _ => {
                let msg = super::reject::macro_message(mac);
                self.reject(mac, &msg)
            }
        }
    }

    fn reject(&mut self, e: impl ToTokens, msg: &str) -> HExpr {
        let span = e.to_token_stream().into_iter().next().map(|t| t.span());
        self.error(e, msg);
        self.error_expr(span.unwrap_or_else(Span::call_site))
    }

    fn lit(&mut self, l: &syn::Lit) -> HExpr {
        let span = l.span();
        let (lit, ty) =
            match l {
                syn::Lit::Bool(b) => (HLit::Bool(b.value), self.types().scalar(Scalar::Bool)),
                syn::Lit::Byte(b) => (
                    HLit::Int(b.value() as i128),
                    self.types().scalar(Scalar::U8),
                ),
                syn::Lit::Int(i) => {
                    let suffix = i.suffix();
                    if matches!(suffix, "f32" | "f64") {
                        let v: f64 = i.base10_digits().parse().unwrap_or(f64::INFINITY);
                        let s = Scalar::from_rust_name(suffix).expect("a float suffix");
                        (HLit::Float(v), self.types().scalar(s))
                    } else {
                        let ty = match suffix {
                            "" => self.types().fresh(Kind::Int),
                            s => match Scalar::from_rust_name(s).filter(|s| s.is_int()) {
                                Some(s) => self.types().scalar(s),
                                None => return self.reject(
                                    l,
                                    "this literal suffix is not supported (128-bit integers are \
                                     not available on the GPU)",
                                ),
                            },
                        };
                        match i.base10_parse::<u64>() {
                            Ok(v) => (HLit::Int(v as i128), ty),
                            Err(_) => {
                                return self.reject(l, "integer literal is too large for 64 bits")
                            }
                        }
                    }
                }
                syn::Lit::Float(f) => {
                    let ty = match f.suffix() {
                        "" => self.types().fresh(Kind::Float),
                        "f32" => self.types().scalar(Scalar::F32),
                        "f64" => self.types().scalar(Scalar::F64),
                        _ => return self.reject(l, "unsupported float literal suffix"),
                    };
                    match f.base10_parse::<f64>() {
                        Ok(v) => (HLit::Float(v), ty),
                        Err(_) => return self.reject(l, "invalid float literal"),
                    }
                }
                syn::Lit::Str(_) | syn::Lit::ByteStr(_) | syn::Lit::CStr(_) => {
                    return self.reject(l, "strings are not supported in kernels")
                }
                syn::Lit::Char(_) => return self.reject(
                    l,
                    "`char` is not supported in kernels: use an integer (e.g. `b'a'` or `97u32`)",
                ),
                _ => return self.reject(l, "this literal is not supported in kernels"),
            };
        HExpr {
            kind: HExprKind::Lit(lit),
            ty,
            span,
        }
    }

    fn unary(&mut self, op: UnOp, u: &syn::ExprUnary) -> HExpr {
        let inner = self.expr(&u.expr);
        let ty = inner.ty;
        HExpr {
            kind: HExprKind::Unary(op, Box::new(inner)),
            ty,
            span: u.span(),
        }
    }

    fn binary(&mut self, b: &syn::ExprBinary) -> HExpr {
        let (op, sym) = match b.op {
            syn::BinOp::Add(_) => (BinOp::Add, "+"),
            syn::BinOp::Sub(_) => (BinOp::Sub, "-"),
            syn::BinOp::Mul(_) => (BinOp::Mul, "*"),
            syn::BinOp::Div(_) => (BinOp::Div, "/"),
            syn::BinOp::Rem(_) => (BinOp::Rem, "%"),
            syn::BinOp::BitAnd(_) => (BinOp::BitAnd, "&"),
            syn::BinOp::BitOr(_) => (BinOp::BitOr, "|"),
            syn::BinOp::BitXor(_) => (BinOp::BitXor, "^"),
            syn::BinOp::Shl(_) => (BinOp::Shl, "<<"),
            syn::BinOp::Shr(_) => (BinOp::Shr, ">>"),
            syn::BinOp::Eq(_) => (BinOp::Eq, "=="),
            syn::BinOp::Ne(_) => (BinOp::Ne, "!="),
            syn::BinOp::Lt(_) => (BinOp::Lt, "<"),
            syn::BinOp::Le(_) => (BinOp::Le, "<="),
            syn::BinOp::Gt(_) => (BinOp::Gt, ">"),
            syn::BinOp::Ge(_) => (BinOp::Ge, ">="),
            syn::BinOp::And(_) => return self.short_circuit(b, BinOp::And),
            syn::BinOp::Or(_) => return self.short_circuit(b, BinOp::Or),
            _ => return self.reject(b.op, "this operator is not supported in kernels"),
        };
        let l = self.expr(&b.left);
        let mark = self.stmts.len();
        let r = self.expr(&b.right);
        let l = self.spill_before(mark, l);
        let span = b.span();
        let ty = if matches!(op, BinOp::Shl | BinOp::Shr) {
            self.expect_kind(l.ty, Kind::Int, l.span, &format!("`{sym}`"));
            self.expect_kind(r.ty, Kind::Int, r.span, &format!("`{sym}`'s shift amount"));
            l.ty
        } else if op.is_comparison() {
            self.expect_ty(l.ty, r.ty, r.span, &format!(" in `{sym}`"));
            self.types().scalar(Scalar::Bool)
        } else {
            self.expect_ty(
                l.ty,
                r.ty,
                r.span,
                &format!(" in `{sym}` (convert with `as`)"),
            );
            l.ty
        };
        binary(op, l, r, ty, span)
    }

    /// `a && b` / `a || b`. When `b` needs statements, they may only run when
    /// `a` does not decide the result: `let t = a; if t { …; t = b; }`.
    fn short_circuit(&mut self, b: &syn::ExprBinary, op: BinOp) -> HExpr {
        let bool_ty = self.types().scalar(Scalar::Bool);
        let l = self.expr(&b.left);
        self.expect_ty(bool_ty, l.ty, l.span, " (`&&`/`||` take `bool`)");
        let mut r = None;
        let r_stmts = self.nested(|lw| r = Some(lw.expr(&b.right)));
        let r = r.expect("set by the closure");
        self.expect_ty(bool_ty, r.ty, r.span, " (`&&`/`||` take `bool`)");
        let span = b.span();
        if r_stmts.is_empty() {
            return binary(op, l, r, bool_ty, span);
        }
        let tmp = self.temp(bool_ty, span);
        self.push_let(tmp, Some(l), span);
        let t = self.load_local(tmp, span);
        let cond = if op == BinOp::And { t } else { self.not(t) };
        let mut then_block = r_stmts;
        let line = self.src_span(span);
        then_block.push(crate::frontend::hir::HStmt {
            kind: HStmtKind::Assign {
                place: local_place(tmp, bool_ty),
                value: r,
            },
            span: line,
        });
        self.push(
            HStmtKind::If {
                cond,
                then_block,
                else_block: Vec::new(),
            },
            span,
        );
        self.load_local(tmp, span)
    }

    pub(super) fn cast(&mut self, c: &syn::ExprCast) -> HExpr {
        let inner = self.expr(&c.expr);
        let target = match crate::frontend::signature::value_type(&mut self.type_cx(), &c.ty) {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(e);
                return self.error_expr(c.span());
            }
        };
        let Some(ts) = self.types().scalar_of(target) else {
            return self.reject(&c.ty, "`as` converts between scalar types only");
        };
        // Like rustc, an unsuffixed literal cast to a type of its own kind
        // takes that type (`300 as u8` is an overflowing `u8` literal).
        if is_literal(&inner) {
            let fits = match self.types().open_kind(inner.ty) {
                Some(Kind::Int) => ts.is_int(),
                Some(Kind::Float) => ts.is_float(),
                _ => false,
            };
            if fits {
                let _ = self.types().unify(inner.ty, target);
            }
        }
        HExpr {
            kind: HExprKind::Cast(Box::new(inner)),
            ty: target,
            span: c.span(),
        }
    }

    fn value_if(&mut self, i: &syn::ExprIf) -> HExpr {
        let span = i.span();
        if let syn::Expr::Let(l) = &*i.cond {
            return self.if_let_value(i, l);
        }
        if i.else_branch.is_none() {
            self.if_stmt(i);
            return self.unit_expr(span);
        }
        let cond = self.cond_expr(&i.cond);
        let ty = self.types().fresh(Kind::Any);
        let mut dest: Option<LocalId> = None;
        let mut then_value = None;
        let then_block = self.nested(|l| {
            let v = l.block_value(&i.then_branch);
            then_value = Some(l.store_value(&mut dest, ty, v));
        });
        let mut else_value = None;
        let else_block = self.nested(|l| {
            let (_, e) = i.else_branch.as_ref().expect("checked above");
            let v = match &**e {
                syn::Expr::If(inner) => l.value_if(inner),
                syn::Expr::Match(m) => l.match_value(m),
                syn::Expr::Block(b) => l.block_value(&b.block),
                other => l.expr(other),
            };
            else_value = Some(l.store_value(&mut dest, ty, v));
        });
        if let Some(d) = dest {
            self.push_let(d, None, span);
        }
        self.push(
            HStmtKind::If {
                cond,
                then_block,
                else_block,
            },
            i.if_token.span,
        );
        match (dest, then_value, else_value) {
            (Some(d), _, _) => self.load_local(d, span),
            (None, Some(Stored::Never), Some(Stored::Never)) => self.never_expr(span),
            _ => self.unit_expr(span),
        }
    }

    /// Writes a branch's value into the result temporary `dest` (created on
    /// the first real value).
    pub(super) fn store_value(
        &mut self,
        dest: &mut Option<LocalId>,
        ty: crate::frontend::types::TyVar,
        v: HExpr,
    ) -> Stored {
        match v.kind {
            HExprKind::Never => return Stored::Never,
            HExprKind::Error => return Stored::Value,
            _ => {}
        }
        if !self.expect_ty(ty, v.ty, v.span, " between the branches") {
            return Stored::Value;
        }
        if matches!(v.kind, HExprKind::Unit) {
            return Stored::Unit;
        }
        let d = *dest.get_or_insert_with(|| self.temp(ty, v.span));
        let span = v.span;
        self.push(
            HStmtKind::Assign {
                place: local_place(d, ty),
                value: v,
            },
            span,
        );
        Stored::Value
    }

    fn value_block(&mut self, b: &syn::ExprBlock) -> HExpr {
        if let Some(label) = &b.label {
            return self.reject(
                label,
                "labeled blocks are not supported: use a labeled loop (`'outer: loop { … }`)",
            );
        }
        let span = b.span();
        if let [syn::Stmt::Expr(only, None)] = b.block.stmts.as_slice() {
            return self.expr(only);
        }
        let ty = self.types().fresh(Kind::Any);
        let mut dest = None;
        let mut stored = Stored::Unit;
        let body = self.nested(|l| {
            let v = l.block_value(&b.block);
            stored = l.store_value(&mut dest, ty, v);
        });
        if let Some(d) = dest {
            self.push_let(d, None, span);
        }
        self.push(HStmtKind::Block(body), span);
        match (dest, stored) {
            (Some(d), _) => self.load_local(d, span),
            (None, Stored::Never) => self.never_expr(span),
            _ => self.unit_expr(span),
        }
    }

    /// Lowers operands left to right; when one needs statements, the ones
    /// before it are spilled into temporaries first.
    pub(super) fn operands<'x>(
        &mut self,
        es: impl IntoIterator<Item = &'x syn::Expr>,
    ) -> Vec<HExpr> {
        let mut out: Vec<HExpr> = Vec::new();
        for e in es {
            let mark = self.stmts.len();
            let v = self.expr(e);
            if self.stmts.len() != mark {
                let mut at = mark;
                for o in out.iter_mut() {
                    if !o.is_constant() {
                        let old = std::mem::replace(o, self.unit_expr(Span::call_site()));
                        *o = self.spill_before(at, old);
                        at += 1;
                    }
                }
            }
            out.push(v);
        }
        out
    }

    /// `(a, b, …)`: elements evaluated left to right.
    fn tuple_lit(&mut self, t: &syn::ExprTuple) -> HExpr {
        let elems = self.operands(&t.elems);
        for v in &elems {
            if self.types().shape(v.ty) == Some(Shape::Unit) {
                return self.reject(t, "tuples holding `()` are not supported");
            }
        }
        let tys = elems.iter().map(|v| v.ty).collect();
        let ty = self.types().tuple(tys);
        HExpr {
            kind: HExprKind::StructLit(elems),
            ty,
            span: t.span(),
        }
    }

    fn array_lit(&mut self, a: &syn::ExprArray) -> HExpr {
        let elems = self.operands(&a.elems);
        let elem_ty = self.types().fresh(Kind::Any);
        for v in &elems {
            self.expect_ty(elem_ty, v.ty, v.span, " between array elements");
        }
        let ty = self
            .types()
            .known(Shape::Array(elem_ty, elems.len() as u32));
        HExpr {
            kind: HExprKind::ArrayLit(elems),
            ty,
            span: a.span(),
        }
    }

    fn array_repeat(&mut self, r: &syn::ExprRepeat) -> HExpr {
        let len = match array_len(&mut self.type_cx(), &r.len) {
            Ok(n) => n,
            Err(e) => {
                self.errors.push(e);
                return self.error_expr(r.span());
            }
        };
        let v = self.expr(&r.expr);
        let (ty, len) = match len {
            ArrayLen::Known(n) => (self.types().known(Shape::Array(v.ty, n)), n),
            // A constant length: the array's type is known to the linker
            // only (the IR built at macro time is thrown away).
            ArrayLen::External => (self.types().fresh_external(), 0),
        };
        HExpr {
            kind: HExprKind::ArrayRepeat(Box::new(v), len),
            ty,
            span: r.span(),
        }
    }

    fn struct_lit(&mut self, s: &syn::ExprStruct) -> HExpr {
        let span = s.span();
        let Some((name, ty)) = self.struct_type_of_path(&s.path, s.qself.is_some()) else {
            return self.error_expr(span);
        };
        let mut names = Vec::new();
        for f in &s.fields {
            match &f.member {
                syn::Member::Named(n) => names.push(n.clone()),
                syn::Member::Unnamed(_) => {
                    return self.reject(&f.member, "tuple structs are not supported in kernels")
                }
            }
        }
        let values = self.operands(s.fields.iter().map(|f| &f.expr));
        // `..base` is evaluated after the fields, once; when it needs
        // statements, the fields' values are evaluated before them.
        let mut values = values;
        let base = s.rest.as_ref().map(|rest| {
            let mark = self.stmts.len();
            let b = self.expr(rest);
            if self.stmts.len() != mark {
                let mut at = mark;
                for v in values.iter_mut() {
                    let before = self.stmts.len();
                    let old = std::mem::replace(v, self.unit_expr(span));
                    *v = self.spill_at(at, old);
                    at += self.stmts.len() - before;
                }
            }
            self.expect_ty(ty, b.ty, b.span, " in `..base`");
            let at = self.stmts.len();
            self.temp_at(at, b, rest.span())
        });
        let Ok(defs) = self.fields_of_type(ty, s.path.span()) else {
            return self.error_expr(span);
        };
        let Some(defs) = defs else {
            // Fields unknown at macro time: each value has an external type.
            for v in &values {
                let t = self.types().fresh_external();
                let _ = self.types().unify(t, v.ty);
            }
            return HExpr {
                kind: HExprKind::StructLit(values),
                ty,
                span,
            };
        };
        if defs.is_empty() {
            return self.reject(
                &s.path,
                &format!("`{name}` is an enum: write a variant (`{name}::A`)"),
            );
        }
        // Rust evaluates the fields in source order; the IR lists them in
        // declaration order. When the orders differ, evaluate the
        // non-constant values into temporaries first.
        let order: Vec<Option<usize>> = names
            .iter()
            .map(|n| defs.iter().position(|d| *n == d.name))
            .collect();
        let in_order = order.windows(2).all(|w| w[0] < w[1]);
        let values: Vec<HExpr> = if in_order {
            values
        } else {
            values
                .into_iter()
                .map(|v| {
                    let at = self.stmts.len();
                    self.spill_at(at, v)
                })
                .collect()
        };
        let mut slots: Vec<Option<HExpr>> = defs.iter().map(|_| None).collect();
        let mut ok = true;
        for (n, v) in names.iter().zip(values) {
            let Some(i) = defs.iter().position(|d| *n == d.name) else {
                let all: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
                self.error(
                    n,
                    format!(
                        "`{name}` has no field `{n}`; its fields are: {}",
                        all.join(", ")
                    ),
                );
                ok = false;
                continue;
            };
            if slots[i].is_some() {
                self.error(n, format!("field `{n}` is given twice"));
                ok = false;
                continue;
            }
            self.expect_ty(defs[i].ty, v.ty, v.span, &format!(" for field `{n}`"));
            slots[i] = Some(v);
        }
        if let Some(b) = base {
            for (i, slot) in slots.iter_mut().enumerate() {
                if slot.is_none() {
                    let whole = self.load_local(b, span);
                    *slot = Some(HExpr {
                        kind: HExprKind::Field(Box::new(whole), i as u32),
                        ty: defs[i].ty,
                        span,
                    });
                }
            }
        }
        let missing: Vec<&str> = defs
            .iter()
            .zip(&slots)
            .filter(|(_, s)| s.is_none())
            .map(|(d, _)| d.name.as_str())
            .collect();
        if ok && !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                &s.path,
                format!("missing field(s) {list} in `{name}` literal"),
            );
            ok = false;
        }
        if !ok {
            return self.error_expr(span);
        }
        HExpr {
            kind: HExprKind::StructLit(
                slots.into_iter().map(|s| s.expect("all present")).collect(),
            ),
            ty,
            span,
        }
    }
}

/// The macros kernels may use.
pub(super) fn supported_macro(mac: &syn::Macro) -> bool {
    let name = mac
        .path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    name == "matches" || super::assert::ASSERTIONS.contains(&name.as_str())
}

/// How a branch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stored {
    Value,
    Unit,
    Never,
}

/// A literal, possibly under unary operators (`-1`, `!0`).
fn is_literal(e: &HExpr) -> bool {
    match &e.kind {
        HExprKind::Lit(_) => true,
        HExprKind::Unary(_, inner) => is_literal(inner),
        _ => false,
    }
}
