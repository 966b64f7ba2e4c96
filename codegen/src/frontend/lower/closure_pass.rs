//! Closures passed to `#[device]` fns: the caller's side (which closure an
//! argument is, what it captures, the hidden arguments) and the callee's
//! (its closure parameters, bound to the closures of its instantiation).
//! See the module doc of `closure`.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::closure::{idents, Closure};
use super::stmt::strip;
use super::{Binding, Lowerer};
use crate::frontend::closure_param::{closure_param, Capture, CaptureKind, ClosureArg, Origin};
use crate::frontend::env::Env;
use crate::frontend::hir::{CalleeKey, HExpr, HExprKind, HParam, HParamKind, HPlace, Owner};
use crate::frontend::signature::{value_type, ClosureParam};
use crate::ir::PlaceRoot;
use crate::ExternalConst;

/// A call argument that is a closure.
#[derive(Clone, Copy, Debug)]
pub(super) enum ClosureRef {
    /// By index into `Lowerer::closures`.
    Local(u32),
    /// A closure parameter at macro time.
    Param,
    /// A closure that already produced an error.
    Failed,
}

/// What [`Lowerer::enter_origin`] replaced.
pub(super) struct Saved<'e> {
    line_base: u32,
    consts: &'e [ExternalConst<'e>],
    self_ty: Option<String>,
    fn_name: String,
    owner: Owner,
}

/// The hidden parameters of the captures of `closures`, in order.
pub(super) fn hidden_params(closures: &[ClosureArg], span: Span) -> Vec<HParam> {
    closures
        .iter()
        .flat_map(|c| &c.captures)
        .map(|cap| HParam {
            name: cap.name.clone(),
            kind: match cap.kind {
                CaptureKind::Value => HParamKind::Value(cap.ty),
                CaptureKind::Ref | CaptureKind::Reborrow => HParamKind::Ref(cap.ty),
                CaptureKind::Slice { mutable } => HParamKind::Slice {
                    elem: cap.ty,
                    mutable,
                },
            },
            mutable: cap.mutable,
            span,
        })
        .collect()
}

/// The positions of the closure parameters among `item`'s inputs.
pub(super) fn closure_positions(item: &syn::ItemFn) -> Vec<usize> {
    item.sig
        .inputs
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a, syn::FnArg::Typed(t) if closure_param(&t.ty).is_some()))
        .map(|(i, _)| i)
        .collect()
}

impl<'e> Lowerer<'_, '_, 'e> {
    /// Binds the function's closure parameters: at link time to the
    /// closures of its instantiation (their captures become hidden
    /// parameters), at macro time to their signatures.
    pub(super) fn bind_closure_params(&mut self, params: Vec<ClosureParam>) {
        let imported = match (self.cx.env, self.owner) {
            (Env::Link(link), Owner::Device(key)) => link.closures(key),
            _ => Vec::new(),
        };
        if !params.is_empty() && imported.len() == params.len() {
            for (p, arg) in params.iter().zip(imported) {
                let mut scope = Vec::new();
                let hidden = hidden_params(std::slice::from_ref(&arg), p.span);
                for (h, cap) in hidden.into_iter().zip(&arg.captures) {
                    let id = self.params.len() as u32;
                    if cap.kind == CaptureKind::Ref {
                        self.captured_vars.push(id);
                    }
                    scope.push((h.name.clone(), Binding::Param(id)));
                    self.params.push(h);
                }
                self.closures.push(Closure {
                    expr: arg.expr,
                    scopes: vec![scope],
                    origin: Some(arg.origin),
                    checked: true,
                });
                let id = (self.closures.len() - 1) as u32;
                self.scopes[0].push((p.name.clone(), Binding::Closure(id)));
            }
        } else {
            for (j, p) in params.iter().enumerate() {
                self.scopes[0].push((p.name.clone(), Binding::ClosureParam(j as u32)));
            }
        }
        self.closure_params = params;
    }

    /// Lowering moves into the function where a closure was written.
    pub(super) fn enter_origin(&mut self, o: &Origin) -> Saved<'e> {
        let saved = Saved {
            line_base: self.line_base,
            consts: self.cx.consts,
            self_ty: self.self_ty.clone(),
            fn_name: self.fn_name.clone(),
            owner: self.owner,
        };
        if let Env::Link(link) = self.cx.env {
            let src = link.owner_src(o.owner);
            self.line_base = src.line;
            self.cx.consts = src.consts;
        }
        self.self_ty = o.self_ty.clone();
        self.fn_name = o.fn_name.clone();
        self.owner = o.owner;
        saved
    }

    pub(super) fn leave_origin(&mut self, s: Saved<'e>) {
        self.line_base = s.line_base;
        self.cx.consts = s.consts;
        self.self_ty = s.self_ty;
        self.fn_name = s.fn_name;
        self.owner = s.owner;
    }

    /// `f(args)` of a closure parameter at macro time: the arguments and
    /// the result have the types its signature writes.
    pub(super) fn call_closure_param(&mut self, j: u32, c: &syn::ExprCall) -> HExpr {
        let span = c.span();
        let p = self.closure_params[j as usize].clone();
        if self.cx.env.is_link() {
            self.error(
                &c.func,
                format!("`{}` was given no closure to call", p.name),
            );
            return self.error_expr(span);
        }
        if p.sig.inputs.len() != c.args.len() {
            self.error(
                &c.args,
                format!(
                    "`{}` takes {} argument(s), {} given",
                    p.name,
                    p.sig.inputs.len(),
                    c.args.len()
                ),
            );
            return self.error_expr(span);
        }
        let args = self.operands(&c.args);
        for (arg, t) in args.iter().zip(&p.sig.inputs) {
            match value_type(&mut self.type_cx(), t) {
                Ok(want) => {
                    self.expect_ty(want, arg.ty, arg.span, " (the closure's parameter type)");
                }
                Err(e) => self.errors.push(e),
            }
        }
        let ty = match &p.sig.output {
            None => self.types().unit(),
            Some(t) => match value_type(&mut self.type_cx(), t) {
                Ok(t) => t,
                Err(e) => {
                    self.errors.push(e);
                    self.types().fresh_external()
                }
            },
        };
        HExpr {
            kind: HExprKind::Call(0, args),
            ty,
            span,
        }
    }

    /// The closure a call argument is, if it is one: a closure literal
    /// (made here), a closure's name, or `&` of one.
    pub(super) fn closure_ref(&mut self, e: &syn::Expr) -> Option<ClosureRef> {
        match strip(e) {
            syn::Expr::Closure(c) => Some(match self.bind_closure(c) {
                Some(id) => ClosureRef::Local(id),
                None => ClosureRef::Failed,
            }),
            syn::Expr::Path(p) if p.qself.is_none() => {
                match self.lookup(&p.path.get_ident()?.to_string())? {
                    Binding::Closure(id) => Some(ClosureRef::Local(id)),
                    Binding::ClosureParam(_) => Some(ClosureRef::Param),
                    _ => None,
                }
            }
            syn::Expr::Reference(r) if r.mutability.is_none() => match strip(&r.expr) {
                syn::Expr::Path(_) => self.closure_ref(&r.expr),
                _ => None,
            },
            _ => None,
        }
    }

    /// At macro time: checks what a closure passed to a function
    /// (argument `at`) captures, and its body (once, with arguments of
    /// unknown types, discarding the code).
    pub(super) fn check_passed_closure(&mut self, r: ClosureRef, at: &syn::Expr) {
        let ClosureRef::Local(id) = r else { return };
        let _ = self.export_closure(id, at);
        if self.closures[id as usize].checked {
            return;
        }
        let span = self.closures[id as usize].expr.span();
        let n = self.closures[id as usize].expr.inputs.len();
        let _discarded = self.nested(|l| {
            let args = (0..n)
                .map(|_| HExpr {
                    kind: HExprKind::Error,
                    ty: l.types().fresh_external(),
                    span,
                })
                .collect();
            let _ = l.inline_closure(id, args);
        });
    }

    /// A call of device fn `key` (`name`, by path `p`) that passes
    /// `closures` (with their argument positions) besides `args`: the
    /// call of its instantiation for those closures, their captures
    /// appended to the arguments.
    pub(super) fn closure_call(
        &mut self,
        key: CalleeKey,
        name: &str,
        p: &syn::ExprPath,
        args: Vec<HExpr>,
        closures: Vec<(usize, ClosureRef)>,
        c: &syn::ExprCall,
    ) -> HExpr {
        let span = c.span();
        let Env::Link(link) = self.cx.env else {
            return self.error_expr(span);
        };
        let Ok(item) = link.item(key) else {
            return self.finish_call(key, name, args, span, c);
        };
        let want = closure_positions(&item);
        let given: Vec<usize> = closures.iter().map(|(i, _)| *i).collect();
        if want != given {
            let msg = match want.iter().find(|i| !given.contains(i)) {
                Some(i) => format!(
                    "`{name}` takes a closure as argument {}: pass `|x| …` or a closure bound by \
                     `let`",
                    i + 1
                ),
                None => format!(
                    "`{name}` takes no closure here: closures are passed to parameters like \
                     `f: impl Fn(u32) -> u32`"
                ),
            };
            return self.reject_call(p, &msg);
        }
        // The arguments at their positions, for inferring generic ones.
        let mut aligned = args.clone();
        for i in &want {
            let e = self.error_expr(span);
            aligned.insert(*i, e);
        }
        let Some(key) = self.generic_callee(key, name, &p.path, &aligned) else {
            return self.error_expr(span);
        };
        let mut exported = Vec::new();
        let mut hidden = Vec::new();
        for (i, r) in &closures {
            let at = &c.args[*i];
            let ClosureRef::Local(id) = r else {
                return self.error_expr(span);
            };
            let Some((closure, values)) = self.export_closure(*id, at) else {
                return self.error_expr(span);
            };
            exported.push(closure);
            hidden.extend(values);
        }
        let key = match link.closure_instance(key, exported) {
            Ok(k) => k,
            Err(msg) => return self.reject_call(p, &msg),
        };
        let mut all = args;
        all.extend(hidden);
        self.finish_call(key, name, all, span, c)
    }

    /// Closure `id` as an argument: what it captures, and the hidden
    /// argument passing each capture. `None` after an error (at `at`).
    fn export_closure(&mut self, id: u32, at: &syn::Expr) -> Option<(ClosureArg, Vec<HExpr>)> {
        let clo = self.closures[id as usize].clone();
        let span = at.span();
        let is_move = clo.expr.capture.is_some();
        let own: Vec<String> = clo
            .expr
            .inputs
            .iter()
            .flat_map(|p| idents(quote::ToTokens::to_token_stream(p)))
            .collect();
        let mut names: Vec<String> = Vec::new();
        for n in idents(quote::ToTokens::to_token_stream(&clo.expr.body)) {
            if !own.contains(&n) && !names.contains(&n) {
                names.push(n);
            }
        }
        let outer = std::mem::replace(&mut self.scopes, clo.scopes.clone());
        let mut captures = Vec::new();
        let mut values = Vec::new();
        let mut failed = false;
        for name in names {
            let Some(b) = self.lookup(&name) else {
                continue;
            };
            match self.capture(&name, b, is_move, span) {
                Ok((cap, v)) => {
                    captures.push(cap);
                    values.push(v);
                }
                Err(msg) => {
                    self.error(at, msg);
                    failed = true;
                }
            }
        }
        self.scopes = outer;
        if failed {
            return None;
        }
        let origin = match clo.origin {
            Some(o) => o,
            None => Origin {
                owner: self.owner,
                fn_name: self.fn_name.clone(),
                self_ty: self.self_ty.clone(),
                depth: match self.cx.env {
                    Env::Link(link) => link.depth(self.owner),
                    Env::Macro => 0,
                },
            },
        };
        Some((
            ClosureArg {
                expr: clo.expr,
                origin,
                captures,
            },
            values,
        ))
    }

    /// How a closure captures `name` (bound to `b`), and the hidden
    /// argument that passes it; why it cannot, as an error message.
    fn capture(
        &mut self,
        name: &str,
        b: Binding,
        is_move: bool,
        span: Span,
    ) -> Result<(Capture, HExpr), String> {
        let (root, ty, mutable_var, kind) = match b {
            Binding::Local(l) => {
                let local = &self.locals[l as usize];
                (PlaceRoot::Local(l), local.ty, local.mutable, None)
            }
            Binding::Param(p) => {
                let param = &self.params[p as usize];
                let kind = match param.kind {
                    HParamKind::Value(_) => None,
                    HParamKind::MsgRef(_) => Some(CaptureKind::Value),
                    HParamKind::StateRef(_) | HParamKind::Ref(_)
                        if self.captured_vars.contains(&p) =>
                    {
                        Some(CaptureKind::Ref)
                    }
                    HParamKind::StateRef(_) | HParamKind::Ref(_) => Some(CaptureKind::Reborrow),
                    HParamKind::Slice { mutable, .. } => Some(CaptureKind::Slice { mutable }),
                };
                (
                    PlaceRoot::Param(p),
                    param.kind.value_ty(),
                    param.mutable,
                    kind,
                )
            }
            Binding::Closure(_) | Binding::ClosureParam(_) => {
                return Err(format!(
                    "this closure calls the closure `{name}`, which a closure passed to a \
                     `#[device] fn` cannot do yet: write `{name}`'s body out in it, or make \
                     `{name}` a `#[device] fn`"
                ))
            }
            Binding::Shared(mem) => {
                return Err(format!(
                    "this closure captures `{name}`, {}, which a closure passed to a \
                     `#[device] fn` cannot: read the values it needs into locals first",
                    mem.what()
                ))
            }
            Binding::View(_) => {
                return Err(format!(
                    "this closure captures the sub-slice `{name}`, which a closure passed to a \
                     `#[device] fn` cannot: capture the slice it views and index it with the \
                     offset"
                ))
            }
            Binding::Alias(_) => {
                return Err(format!(
                    "this closure captures `{name}`, an element borrowed by a loop, which a \
                     closure passed to a `#[device] fn` cannot: copy it into a local first"
                ))
            }
        };
        let kind = kind.unwrap_or(if !is_move && mutable_var {
            CaptureKind::Ref
        } else {
            CaptureKind::Value
        });
        let place = HPlace {
            root,
            proj: Vec::new(),
            ty,
        };
        let value = match kind {
            CaptureKind::Value => HExpr {
                kind: HExprKind::Load(place),
                ty,
                span,
            },
            CaptureKind::Ref | CaptureKind::Reborrow => HExpr {
                kind: HExprKind::Borrow(place),
                ty,
                span,
            },
            // The whole slice: its element type is the place's.
            CaptureKind::Slice { .. } => HExpr {
                kind: HExprKind::Borrow(place),
                ty,
                span,
            },
        };
        let cap = Capture {
            name: name.to_string(),
            kind,
            ty,
            mutable: kind == CaptureKind::Value && is_move,
        };
        Ok((cap, value))
    }
}
