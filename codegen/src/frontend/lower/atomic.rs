//! Atomics: `atomic_add(&mut place, v)` … `atomic_cas(&mut place, current,
//! new)` → [`HExprKind::Atomic`]. The place must be memory that threads
//! share; whether its type supports the operation is checked once types
//! are final ([`super::super::finalize`]).

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;

use super::place::Access;
use super::stmt::strip;
use super::Lowerer;
use crate::frontend::hir::{HAtomic, HExpr, HExprKind, HParamKind, HPlace};
use crate::frontend::signature::value_type;
use crate::frontend::types::{Shape, TyVar};
use crate::ir::{AtomicOp, PlaceRoot};

/// What atomics work on, for messages.
pub(super) const ATOMIC_PLACES: &str = "atomics work on memory that threads share: an element \
     of a `&mut [T]` parameter (`&mut out[i]`), an element of a shared array (`&mut tile[i]`), \
     or the ring state (`&mut state.count`)";

impl Lowerer<'_, '_, '_> {
    pub(super) fn atomic(&mut self, op: AtomicOp, p: &syn::ExprPath, c: &syn::ExprCall) -> HExpr {
        let name = op.rust_name();
        let span = c.span();
        let usage = match op {
            AtomicOp::Cas => format!("`{name}(&mut place, current, new)`"),
            _ => format!("`{name}(&mut place, value)`"),
        };
        if c.args.len() != 1 + op.arity() {
            self.error_at(
                c.paren_token.span.join(),
                format!(
                    "`{name}` takes {} arguments ({usage}), {} given",
                    1 + op.arity(),
                    c.args.len()
                ),
            );
            return self.error_expr(span);
        }
        let Ok(explicit) = self.turbofish(p) else {
            return self.error_expr(span);
        };
        let first = &c.args[0];
        let Some(mut place) = self.atomic_place(first, name, &usage) else {
            // Lower the values anyway, for their own errors.
            let _ = self.operands(c.args.iter().skip(1));
            return self.error_expr(span);
        };
        let mark = self.stmts.len();
        let args = self.operands(c.args.iter().skip(1));
        if self.stmts.len() != mark {
            // A value needed statements: the place's indices come first.
            self.spill_indices(&mut place, mark, span);
        }
        if let Some(t) = explicit {
            self.expect_ty(t, place.ty, first.span(), &format!(" in `{name}::<T>`"));
        }
        // A struct or array place is reported once types are final; its
        // arguments are not compared with it.
        let scalar_place = !matches!(
            self.types().shape(place.ty),
            Some(Shape::Array(..) | Shape::Struct(_) | Shape::Generic(..) | Shape::Unit)
        );
        for a in args.iter().filter(|_| scalar_place) {
            self.expect_ty(
                place.ty,
                a.ty,
                a.span,
                &format!(" in argument of `{name}` (the place's type)"),
            );
        }
        let ty = place.ty;
        HExpr {
            kind: HExprKind::Atomic(Box::new(HAtomic {
                op,
                place,
                args,
                place_span: token_range(first),
            })),
            ty,
            span,
        }
    }

    /// The type in an optional `::<T>` on the intrinsic's name: `Ok(None)`
    /// without one, `Err` after reporting a malformed one.
    pub(super) fn turbofish(&mut self, p: &syn::ExprPath) -> Result<Option<TyVar>, ()> {
        let segs = &p.path.segments;
        let n = segs.len();
        let mut explicit = None;
        for (i, seg) in segs.iter().enumerate() {
            match &seg.arguments {
                syn::PathArguments::None => {}
                syn::PathArguments::AngleBracketed(a) if i + 1 == n && a.args.len() == 1 => {
                    let syn::GenericArgument::Type(t) = &a.args[0] else {
                        self.error(a, "write the value type: `::<u32>`");
                        return Err(());
                    };
                    match value_type(&mut self.type_cx(), t) {
                        Ok(v) => explicit = Some(v),
                        Err(e) => {
                            self.errors.push(e);
                            return Err(());
                        }
                    }
                }
                args => {
                    let name = &segs[n - 1].ident;
                    self.error(
                        args,
                        format!("`{name}` takes one type argument at most: `{name}::<u32>`"),
                    );
                    return Err(());
                }
            }
        }
        Ok(explicit)
    }

    /// The place an atomic updates: `&mut place` (or the ring state
    /// reference itself), rooted in memory threads share.
    fn atomic_place(&mut self, first: &syn::Expr, name: &str, usage: &str) -> Option<HPlace> {
        let (target, by_ref) = match strip(first) {
            syn::Expr::Reference(r) if r.mutability.is_some() => (&*r.expr, true),
            syn::Expr::Reference(r) => {
                self.error(
                    r,
                    format!("`{name}` writes to its place: take it with `&mut`, as in {usage}"),
                );
                return None;
            }
            other => (other, false),
        };
        let (place, text, bare_state) = match self.access(target) {
            Access::Place {
                place,
                text,
                bare_state,
            } => (place, text, bare_state),
            Access::Slice { text, .. } | Access::View { text, .. } => {
                self.error(
                    target,
                    format!("`{text}` is a whole slice: pass one element, `&mut {text}[i]`"),
                );
                return None;
            }
            Access::Shared { mem, text } => {
                let what = mem.what();
                self.error(
                    target,
                    format!("`{text}` is {what}: pass one of its elements, `&mut {text}[i]`"),
                );
                return None;
            }
            Access::Value(v) => {
                if !matches!(v.kind, HExprKind::Error) {
                    self.error(
                        target,
                        format!(
                            "`{name}` needs a place to update, written {usage}; {ATOMIC_PLACES}"
                        ),
                    );
                }
                return None;
            }
        };
        if bare_state && by_ref {
            self.error(
                first,
                format!(
                    "`{text}` is already a `&mut` reference: pass it as it is (`{name}({text}, \
                     …)`) or write `&mut *{text}`"
                ),
            );
            return None;
        }
        if !by_ref && !bare_state {
            self.error(
                first,
                format!("the first argument of `{name}` is the place to update: {usage}"),
            );
            return None;
        }
        if let Some(msg) = self.unshared_root(&place, &text, name) {
            self.error(target, msg);
            return None;
        }
        Some(place)
    }

    /// Why `place` is not memory that threads share, if it is not.
    fn unshared_root(&self, place: &HPlace, text: &str, name: &str) -> Option<String> {
        let id = match place.root {
            PlaceRoot::Shared(_) | PlaceRoot::DynamicShared(_) => return None,
            PlaceRoot::Local(id) => {
                let local = &self.locals[id as usize].name;
                return Some(format!(
                    "`{name}` cannot update `{text}`: `{local}` is a local variable, private to \
                     this thread; {ATOMIC_PLACES}"
                ));
            }
            PlaceRoot::Param(id) => id,
        };
        let param = &self.params[id as usize];
        let p = &param.name;
        match param.kind {
            HParamKind::StateRef(_) | HParamKind::Slice { mutable: true, .. } => None,
            HParamKind::Slice { mutable: false, .. } => Some(format!(
                "`{name}` cannot update `{text}`: `{p}` is a `&[T]` parameter, which is read-only; \
                 take `&mut [T]` to update it atomically"
            )),
            HParamKind::MsgRef(_) => Some(format!(
                "`{name}` cannot update `{text}`: the message is read-only; {ATOMIC_PLACES}"
            )),
            HParamKind::Value(_) if self.role.is_ring() && id == 1 => Some(format!(
                "`{name}` cannot update `{text}`: the message is read-only; {ATOMIC_PLACES}"
            )),
            HParamKind::Value(_) => Some(format!(
                "`{name}` cannot update `{text}`: `{p}` is a by-value parameter, private to this \
                 thread; {ATOMIC_PLACES}"
            )),
            // The caller's place may be a local, private to its thread.
            HParamKind::Ref(_) => Some(format!(
                "`{name}` cannot update `{text}` through the reference `{p}`: {ATOMIC_PLACES}"
            )),
        }
    }
}

/// The first and last token spans of `t` (a range rustc can underline even
/// where `Span::join` is unavailable).
fn token_range(t: &syn::Expr) -> (Span, Span) {
    let mut tokens = t.to_token_stream().into_iter();
    let first = tokens.next().map_or_else(|| t.span(), |tt| tt.span());
    let last = tokens.last().map_or(first, |tt| tt.span());
    (first, last)
}
