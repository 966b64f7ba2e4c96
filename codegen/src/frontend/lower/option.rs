//! `Option` values: `Some(v)`, `None`, `Option<T>` returned by `#[device]`
//! fns and held in locals (never in buffers), `is_some()`, `is_none()`,
//! `unwrap_or(d)`, and `x.get(i)` of slices, arrays and shared arrays;
//! `if let` / `while let` / `match` take them apart (see `pattern.rs`).
//!
//! An `Option<T>` is an anonymous struct `{ is_some: bool, value: T }`;
//! `None` holds a zero `value`.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::place::Access;
use super::stmt::{binary, local_place};
use super::Lowerer;
use crate::frontend::anon::{OPTION_IS_SOME, OPTION_VALUE};
use crate::frontend::hir::{HExpr, HExprKind, HLit, HProj, HStmtKind};
use crate::frontend::types::{Kind, Shape, TyVar};
use crate::ir::{BinOp, Scalar, UnOp};

impl Lowerer<'_, '_, '_> {
    /// `Some(v)`.
    pub(super) fn some_value(&mut self, v: HExpr, span: Span) -> HExpr {
        let bool_ty = self.types().scalar(Scalar::Bool);
        let ty = self.types().known(Shape::Option(v.ty));
        HExpr {
            kind: HExprKind::StructLit(vec![
                HExpr {
                    kind: HExprKind::Lit(HLit::Bool(true)),
                    ty: bool_ty,
                    span,
                },
                v,
            ]),
            ty,
            span,
        }
    }

    /// `None` (of an `Option` whose type inference decides).
    pub(super) fn none_value(&mut self, span: Span) -> HExpr {
        let bool_ty = self.types().scalar(Scalar::Bool);
        let inner = self.types().fresh(Kind::Any);
        let ty = self.types().known(Shape::Option(inner));
        HExpr {
            kind: HExprKind::StructLit(vec![
                HExpr {
                    kind: HExprKind::Lit(HLit::Bool(false)),
                    ty: bool_ty,
                    span,
                },
                HExpr {
                    kind: HExprKind::Zero,
                    ty: inner,
                    span,
                },
            ]),
            ty,
            span,
        }
    }

    /// A method of an `Option` value `recv` holding a `T` of type `inner`.
    pub(super) fn option_method(
        &mut self,
        recv: Access,
        inner: TyVar,
        m: &syn::ExprMethodCall,
    ) -> HExpr {
        let span = m.span();
        let name = m.method.to_string();
        let bool_ty = self.types().scalar(Scalar::Bool);
        let o = self.access_into_value(recv, &m.receiver);
        match (name.as_str(), m.args.len()) {
            ("is_some", 0) | ("is_none", 0) => {
                let is_some = HExpr {
                    kind: HExprKind::Field(Box::new(o), OPTION_IS_SOME),
                    ty: bool_ty,
                    span,
                };
                if name == "is_some" {
                    return is_some;
                }
                HExpr {
                    kind: HExprKind::Unary(UnOp::Not, Box::new(is_some)),
                    ty: bool_ty,
                    span,
                }
            }
            // `Option<&T>` is held as `Option<T>`.
            ("copied", 0) | ("cloned", 0) => o,
            ("unwrap_or", 1) => {
                if let syn::Expr::Reference(r) = &m.args[0] {
                    // `x.get(i).unwrap_or(&0)`, `x.iter().max().unwrap_or(&0)`.
                    self.error(
                        r,
                        "kernels hold the `&T` of an `Option<&T>` as a copy of its value: write \
                         `.copied().unwrap_or(v)` (`x.iter().max().copied().unwrap_or(0)`)",
                    );
                    return self.error_expr(span);
                }
                // `o`, then the default (Rust evaluates it before the call).
                let subject = self.subject_of_value(o);
                let d = self.expr(&m.args[0]);
                self.expect_ty(
                    inner,
                    d.ty,
                    d.span,
                    " (`unwrap_or` takes the `Option`'s type)",
                );
                let r = self.temp(inner, span);
                self.push_let(r, Some(d), span);
                let cond = subject.part(HProj::Field(OPTION_IS_SOME), bool_ty).load();
                let value = subject.part(HProj::Field(OPTION_VALUE), inner).load();
                self.push(
                    HStmtKind::If {
                        cond,
                        then_block: vec![crate::frontend::hir::HStmt {
                            kind: HStmtKind::Assign {
                                place: local_place(r, inner),
                                value,
                            },
                            span: self.src_span(span),
                        }],
                        else_block: Vec::new(),
                    },
                    span,
                );
                self.load_local(r, span)
            }
            _ => {
                self.error(
                    &m.method,
                    format!(
                        "`{name}` of an `Option` is not supported in kernels: use `is_some()`, \
                         `is_none()`, `unwrap_or(v)`, `if let Some(v) = …` or `match` (a kernel \
                         cannot panic, so there is no `unwrap`)"
                    ),
                );
                self.error_expr(span)
            }
        }
    }

    /// `o?` of an `Option` in a function returning `Option`: its value,
    /// or `return None`.
    pub(super) fn try_option(&mut self, t: &syn::ExprTry) -> HExpr {
        let span = t.span();
        let v = self.expr(&t.expr);
        let inner = self.types().fresh(Kind::Any);
        let o = self.types().known(Shape::Option(inner));
        if !self.expect_ty(o, v.ty, v.span, " (`?` applies to an `Option` in kernels)") {
            return self.error_expr(span);
        }
        let subject = self.subject_of_value(v);
        let bool_ty = self.types().scalar(Scalar::Bool);
        let is_some = subject.part(HProj::Field(OPTION_IS_SOME), bool_ty).load();
        let cond = self.not(is_some);
        let none = self.none_value(span);
        let ret = self.ret;
        self.expect_ty(
            ret,
            none.ty,
            span,
            " (`?` returns `None`: the function must return an `Option`)",
        );
        let line = self.src_span(span);
        self.push(
            HStmtKind::If {
                cond,
                then_block: vec![crate::frontend::hir::HStmt {
                    kind: HStmtKind::Return(Some(none)),
                    span: line,
                }],
                else_block: Vec::new(),
            },
            span,
        );
        subject.part(HProj::Field(OPTION_VALUE), inner).load()
    }

    /// `x.get(i)` of a slice, array, shared array or sub-slice: `Some(x[i])`
    /// when `i < x.len()`, else `None`.
    pub(super) fn get_call(&mut self, recv: Access, m: &syn::ExprMethodCall) -> HExpr {
        let span = m.span();
        let usize_ty = self.types().scalar(Scalar::Usize);
        let bool_ty = self.types().scalar(Scalar::Bool);
        let len = self.length(recv.clone(), m.receiver.span(), span);
        let i = self.expr(&m.args[0]);
        self.expect_ty(usize_ty, i.ty, i.span, " (indices are `usize`)");
        let it = self.temp(usize_ty, span);
        self.push_let(it, Some(i), span);
        let none = self.none_value(span);
        let ty = none.ty;
        let r = self.temp(ty, span);
        self.push_let(r, Some(none), span);
        let li = self.load_local(it, span);
        let cond = binary(BinOp::Lt, li, len, bool_ty, span);
        let then_block = self.nested(|l| {
            let li = l.load_local(it, span);
            let mark = l.stmts.len();
            let elem = l.index_into(recv, li, mark, &m.receiver, span);
            let v = l.access_into_value(elem, &m.receiver);
            let some = l.some_value(v, span);
            l.expect_ty(ty, some.ty, span, "");
            l.push(
                HStmtKind::Assign {
                    place: local_place(r, ty),
                    value: some,
                },
                span,
            );
        });
        self.push(
            HStmtKind::If {
                cond,
                then_block,
                else_block: Vec::new(),
            },
            span,
        );
        self.load_local(r, span)
    }
}
