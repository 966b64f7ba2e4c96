//! Assertions: `assert!`, `assert_eq!`, `assert_ne!`, their `debug_`
//! forms (kept only when the user's build has `debug_assertions`, as in
//! Rust), `panic!("literal")` and `unreachable!()`. A failed one stops the
//! thread with a [`FaultKind::Assertion`](crate::ir::FaultKind::Assertion)
//! fault whose site names the message, which the launch (or the actor)
//! reports.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;

use super::place::tokens_text;
use super::Lowerer;
use crate::frontend::hir::{HExpr, HExprKind, HLit};
use crate::ir::{BinOp, Scalar};

/// The assertion macros kernels support.
pub(super) const ASSERTIONS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "panic",
    "unreachable",
];

impl Lowerer<'_, '_, '_> {
    /// One of [`ASSERTIONS`]: its check, pushed as a statement; the value
    /// is `()` (`!` for `panic!` and `unreachable!`).
    pub(super) fn assertion(&mut self, name: &str, mac: &syn::Macro) -> HExpr {
        let span = mac.span();
        let args =
            match mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated) {
                Ok(a) => a.into_iter().collect::<Vec<_>>(),
                Err(e) => {
                    self.errors.push(e);
                    return self.error_expr(span);
                }
            };
        let base = name.strip_prefix("debug_").unwrap_or(name);
        if base != name && !self.cx.debug_assertions {
            // Rust does not evaluate a `debug_assert!` without
            // `debug_assertions`.
            return self.unit_expr(span);
        }
        let (needed, what) = match base {
            "assert" => (1, None),
            "assert_eq" => (2, Some((BinOp::Eq, "=="))),
            "assert_ne" => (2, Some((BinOp::Ne, "!="))),
            _ => (0, None),
        };
        if args.len() < needed {
            self.error(
                mac,
                format!("`{name}!` takes {needed} argument(s) before its message"),
            );
            return self.error_expr(span);
        }
        let Some(custom) = self.message(mac, &args[needed..]) else {
            return self.error_expr(span);
        };
        let bool_ty = self.types().scalar(Scalar::Bool);
        let (cond, message) = match (base, what) {
            ("assert", _) => {
                let c = self.cond_expr(&args[0]);
                let text = tokens_text(&args[0]);
                (c, custom.unwrap_or(format!("assertion failed: {text}")))
            }
            (_, Some((op, sym))) => {
                let (l, r) = (&args[0], &args[1]);
                let v = self.operands([l, r]);
                let mut v = v.into_iter();
                let (a, b) = (v.next().expect("two"), v.next().expect("two"));
                self.expect_ty(a.ty, b.ty, b.span, &format!(" in `{name}!`"));
                let c = super::stmt::binary(op, a, b, bool_ty, span);
                let text = format!(
                    "assertion `left {sym} right` failed: {} {sym} {}",
                    tokens_text(l),
                    tokens_text(r)
                );
                let text = match custom {
                    Some(m) => format!("assertion `left {sym} right` failed: {m}"),
                    None => text,
                };
                (c, text)
            }
            ("unreachable", _) => {
                let m = match custom {
                    Some(m) => format!("internal error: entered unreachable code: {m}"),
                    None => "internal error: entered unreachable code".to_string(),
                };
                (bool_lit(false, bool_ty, span), m)
            }
            _ => {
                let m = custom.unwrap_or_else(|| "explicit panic".to_string());
                (bool_lit(false, bool_ty, span), m)
            }
        };
        let site = self.site(&message, span);
        let check = HExpr {
            kind: HExprKind::Assert {
                cond: Box::new(cond),
                site,
            },
            ty: self.types().unit(),
            span,
        };
        self.push(crate::frontend::hir::HStmtKind::Expr(check), span);
        if matches!(base, "panic" | "unreachable") {
            self.never_expr(span)
        } else {
            self.unit_expr(span)
        }
    }

    /// The message after an assertion's operands: `None` inside when there
    /// is none; `None` outside after an error.
    fn message(&mut self, mac: &syn::Macro, rest: &[syn::Expr]) -> Option<Option<String>> {
        match rest {
            [] => Some(None),
            [syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            })] if !s.value().contains(['{', '}']) => Some(Some(s.value())),
            _ => {
                self.error(
                    mac,
                    "a kernel's assertion message is a string literal without formatting \
                     (`assert!(ok, \"what went wrong\")`): a GPU thread cannot format text",
                );
                None
            }
        }
    }
}

fn bool_lit(v: bool, ty: crate::frontend::types::TyVar, span: Span) -> HExpr {
    HExpr {
        kind: HExprKind::Lit(HLit::Bool(v)),
        ty,
        span,
    }
}
