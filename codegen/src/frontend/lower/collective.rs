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

fn signature(op: CollectiveOp) -> Signature {
    use CollectiveOp as C;
    let (params, ret): (&'static [&'static str], Ret) = match op {
        C::SyncThreads | C::SyncWarp => (&[], Ret::Unit),
        C::Shuffle => (&["v", "src_lane"], Ret::Value),
        C::ShuffleDown | C::ShuffleUp => (&["v", "delta"], Ret::Value),
        C::ShuffleXor => (&["v", "mask"], Ret::Value),
        C::All | C::Any => (&["p"], Ret::Bool),
        C::Ballot => (&["p"], Ret::U32),
    };
    Signature { params, ret }
}

impl Lowerer<'_, '_, '_> {
    pub(super) fn collective(
        &mut self,
        op: CollectiveOp,
        p: &syn::ExprPath,
        c: &syn::ExprCall,
    ) -> HExpr {
        let name = op.rust_name();
        let span = c.span();
        let sig = signature(op);
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
                let (a, what) = (&args[1], sig.params[1]);
                let (aty, aspan) = (a.ty, a.span);
                self.expect_ty(u32_ty, aty, aspan, &format!(" for `{what}` of `{name}`"));
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
}
