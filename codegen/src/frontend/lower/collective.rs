//! Operations a block or warp performs together: `sync_threads()`,
//! `sync_warp()`, the warp shuffles and votes → [`HExprKind::Collective`],
//! each with its own fault site (the CPU backend names it when only part
//! of the block or warp reaches the call).

use syn::spanned::Spanned;

use super::Lowerer;
use crate::frontend::hir::{HExpr, HExprKind};
use crate::ir::{CollectiveOp, Scalar};

/// A collective's parameters (as the `spindle::gpu` stub names them) and
/// result.
struct Signature {
    params: &'static [&'static str],
    ret: Ret,
}

enum Ret {
    Unit,
    /// The type of the first argument (shuffles).
    Value,
    Bool,
    U32,
}

/// The signature of `op`, or of its sub-warp form (`width`: a shuffle's
/// `_width` name, with a third parameter).
fn signature(op: CollectiveOp, width: bool) -> Signature {
    use CollectiveOp as C;
    let (params, ret): (&'static [&'static str], Ret) = match (op, width) {
        (C::SyncThreads | C::SyncWarp, _) => (&[], Ret::Unit),
        (C::Shuffle, false) => (&["v", "src_lane"], Ret::Value),
        (C::Shuffle, true) => (&["v", "src_lane", "width"], Ret::Value),
        (C::ShuffleDown | C::ShuffleUp, false) => (&["v", "delta"], Ret::Value),
        (C::ShuffleDown | C::ShuffleUp, true) => (&["v", "delta", "width"], Ret::Value),
        (C::ShuffleXor, false) => (&["v", "mask"], Ret::Value),
        (C::ShuffleXor, true) => (&["v", "mask", "width"], Ret::Value),
        (C::All | C::Any, _) => (&["p"], Ret::Bool),
        (C::Ballot, _) => (&["p"], Ret::U32),
    };
    Signature { params, ret }
}

/// The largest segment width: a warp.
const MAX_WIDTH: u128 = crate::ir::WARP_SIZE as u128;

impl Lowerer<'_, '_, '_> {
    /// `op` called as `p(args)`; `width`: its sub-warp form
    /// (`warp_shuffle_up_width(v, delta, width)`).
    pub(super) fn collective(
        &mut self,
        op: CollectiveOp,
        width: bool,
        p: &syn::ExprPath,
        c: &syn::ExprCall,
    ) -> HExpr {
        let name = match (width, op.width_name()) {
            (true, Some(n)) => n,
            _ => op.rust_name(),
        };
        let span = c.span();
        let sig = signature(op, width);
        if c.args.len() != sig.params.len() {
            let msg = if sig.params.is_empty() {
                format!("`{name}()` takes no arguments")
            } else {
                format!(
                    "`{name}` takes {} argument(s) (`{name}({})`), {} given",
                    sig.params.len(),
                    sig.params.join(", "),
                    c.args.len()
                )
            };
            self.error_at(c.paren_token.span.join(), msg);
            return self.error_expr(span);
        }
        let explicit = match (self.turbofish(p), &sig.ret) {
            (Err(()), _) => return self.error_expr(span),
            (Ok(Some(_)), ret) if !matches!(ret, Ret::Value) => {
                return self.reject_call(p, &format!("`{name}` takes no type arguments"));
            }
            (Ok(t), _) => t,
        };
        let args = self.operands(&c.args);
        let ty = match sig.ret {
            Ret::Unit => self.types().unit(),
            Ret::Value => {
                let v = &args[0];
                let (vty, vspan) = (v.ty, v.span);
                if let Some(t) = explicit {
                    self.expect_ty(t, vty, vspan, &format!(" in `{name}::<T>`"));
                }
                let u32_ty = self.types().scalar(Scalar::U32);
                for (a, what) in args.iter().zip(sig.params).skip(1) {
                    let (aty, aspan) = (a.ty, a.span);
                    self.expect_ty(u32_ty, aty, aspan, &format!(" for `{what}` of `{name}`"));
                }
                if width {
                    self.literal_width(&c.args[2], name);
                }
                vty
            }
            Ret::Bool | Ret::U32 => {
                let b = self.types().scalar(Scalar::Bool);
                let (aty, aspan) = (args[0].ty, args[0].span);
                self.expect_ty(b, aty, aspan, &format!(" in `{name}` (it takes a `bool`)"));
                if matches!(sig.ret, Ret::Bool) {
                    b
                } else {
                    self.types().scalar(Scalar::U32)
                }
            }
        };
        let site = self.site(&format!("{name}()"), span);
        HExpr {
            kind: HExprKind::Collective { op, args, site },
            ty,
            span,
        }
    }

    /// A literal segment width must be a power of two from 1 to 32 (one
    /// computed at run time is checked when the shuffle runs).
    fn literal_width(&mut self, arg: &syn::Expr, name: &str) {
        let mut e = arg;
        while let syn::Expr::Paren(p) = e {
            e = &p.expr;
        }
        let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) = e
        else {
            return;
        };
        let Ok(w) = lit.base10_parse::<u128>() else {
            return;
        };
        if w == 0 || w > MAX_WIDTH || !w.is_power_of_two() {
            self.error_at(
                lit.span(),
                format!(
                    "the width of `{name}` must be a power of two from 1 to 32 (the lanes of \
                     a segment, as CUDA's `width`), found {w}"
                ),
            );
        }
    }
}
