//! Calls of `#[device]` functions and of the items of `#[device] impl`
//! blocks — methods (`p.dot(q)`), associated functions (`Vec2::new(..)`,
//! `Self::new(..)`), associated constants (`Vec2::ORIGIN`) — and the
//! variants of `DeviceType` enums (`Op::Add`).
//!
//! The items of `impl Vec2` are linked under `Vec2::name`; a constant is
//! the function that computes it (see [`crate::frontend::const_as_fn`]).
//! At macro time no signature is known: arguments are checked on their
//! own and results have external types, and a path `Owner::ITEM` records
//! `Owner` so the glue hands its `DeviceType` metadata to the linker
//! (which finds the owner's impl blocks from it).
//!
//! Arguments: `&mut place` is a borrow of the place (a `&mut T`
//! parameter, `&mut self`), `&value` passes the value (a `&T` parameter is
//! read-only, so a copy means the same), anything else is a value.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;

use super::closure_pass::{hidden_params, ClosureRef};
use super::place::Access;
use super::stmt::strip;
use super::Lowerer;
use crate::frontend::env::Env;
use crate::frontend::hir::{CalleeKey, HExpr, HExprKind, HLit, HParamKind};
use crate::frontend::signature::{check_signature, record_path, FnRole, Signature};
use crate::frontend::types::Shape;

impl Lowerer<'_, '_, '_> {
    /// The name `Self` stands for here, or an error.
    pub(super) fn self_name(&mut self, at: impl ToTokens) -> Option<String> {
        match &self.self_ty {
            Some(s) => Some(s.clone()),
            None => {
                self.error(at, "`Self` is only known inside a `#[device] impl` block");
                None
            }
        }
    }

    /// Lowers call arguments left to right (see the module doc).
    pub(super) fn call_args<'x>(
        &mut self,
        es: impl IntoIterator<Item = &'x syn::Expr>,
    ) -> Vec<HExpr> {
        self.call_args_with(es, false).0
    }

    /// [`Self::call_args`]; with `closures`, an argument that is a
    /// closure is made where it stands and returned apart, with its
    /// position.
    fn call_args_with<'x>(
        &mut self,
        es: impl IntoIterator<Item = &'x syn::Expr>,
        closures: bool,
    ) -> (Vec<HExpr>, Vec<(usize, ClosureRef)>) {
        let mut out: Vec<HExpr> = Vec::new();
        let mut passed = Vec::new();
        for (i, e) in es.into_iter().enumerate() {
            let mark = self.stmts.len();
            if closures {
                if let Some(r) = self.closure_ref(e) {
                    // A `move` closure's copies are made here, after the
                    // arguments before it.
                    if self.stmts.len() != mark {
                        self.spill_args(&mut out, mark);
                    }
                    passed.push((i, r));
                    continue;
                }
            }
            let v = match strip(e) {
                syn::Expr::Reference(r) if r.mutability.is_some() => {
                    match self.place_for_write(&r.expr) {
                        Some(place) => {
                            let ty = place.ty;
                            HExpr {
                                kind: HExprKind::Borrow(place),
                                ty,
                                span: r.span(),
                            }
                        }
                        None => self.error_expr(r.span()),
                    }
                }
                syn::Expr::Reference(r) => self.expr(&r.expr),
                _ => self.expr(e),
            };
            if self.stmts.len() != mark {
                self.spill_args(&mut out, mark);
            }
            out.push(v);
        }
        (out, passed)
    }

    /// Moves the arguments `out` into temporaries declared at statement
    /// index `mark` (before a later argument's statements).
    fn spill_args(&mut self, out: &mut [HExpr], mark: usize) {
        let mut at = mark;
        for o in out.iter_mut() {
            let before = self.stmts.len();
            let old = std::mem::replace(o, self.unit_expr(Span::call_site()));
            *o = self.spill_at(at, old);
            at += self.stmts.len() - before;
        }
    }

    /// A call of a free `#[device]` fn (`helper(x)`, `geom::helper(x)`) or
    /// of an associated fn (`Vec2::new(x, y)`, `Self::new(..)`).
    pub(super) fn device_call(&mut self, p: &syn::ExprPath, c: &syn::ExprCall) -> HExpr {
        let span = c.span();
        let (args, closures) = self.call_args_with(&c.args, true);
        let segs = crate::frontend::path_idents(&p.path);
        let name = segs.last().expect("a path has a segment").clone();
        let owner = associated_owner(&segs);
        let full = match owner {
            // `Self` of a generic struct's block is an instantiation
            // (`Pair<f32>`): its items are the struct's.
            Some("Self") => match self.self_name(p) {
                Some(t) => format!("{}::{name}", t.split('<').next().unwrap_or(&t)),
                None => return self.error_expr(span),
            },
            Some(o) => format!("{o}::{name}"),
            None => name.clone(),
        };
        if full == self.fn_name && (owner.is_some() || self.lookup(&name).is_none()) {
            return self.reject_call(p, &recursion(&full));
        }
        if !self.cx.env.is_link() {
            match owner {
                None => record_path(self.cx.device_paths, &p.path),
                Some("Self") => {}
                Some(_) => record_path(self.cx.struct_paths, &owner_path(&p.path)),
            }
            for (i, r) in &closures {
                self.check_passed_closure(*r, &c.args[*i]);
            }
            return self.external_call(args, span);
        }
        let Some(key) = self.cx.env.callee(&full) else {
            let msg = match owner {
                None => format!(
                    "no `#[device]` fn named `{name}` was found: kernels can only call functions \
                     marked `#[device]` (and the device intrinsics in `spindle::gpu`)"
                ),
                Some(_) => {
                    let (o, _) = full.rsplit_once("::").expect("qualified");
                    format!(
                        "no associated function `{name}` of `{o}` was found: kernels call the \
                         functions of `#[device] impl {o} {{ … }}` blocks"
                    )
                }
            };
            return self.reject_call(p, &msg);
        };
        if !closures.is_empty() || self.takes_closures(key) {
            return self.closure_call(key, &full, p, args, closures, c);
        }
        let Some(key) = self.generic_callee(key, &full, &p.path, &args) else {
            return self.error_expr(span);
        };
        self.finish_call(key, &full, args, span, c)
    }

    /// A call whose callee is unknown (macro time): checks nothing more,
    /// gives an external value.
    fn external_call(&mut self, args: Vec<HExpr>, span: Span) -> HExpr {
        for a in &args {
            let t = self.types().fresh_external();
            let _ = self.types().unify(t, a.ty);
        }
        let ty = self.types().fresh_external();
        HExpr {
            kind: HExprKind::Call(0, args),
            ty,
            span,
        }
    }

    /// The signature of device fn `key` (link time).
    fn callee_signature(
        &mut self,
        key: CalleeKey,
        name: &str,
        at: &dyn ToTokens,
    ) -> Option<Signature> {
        let Env::Link(link) = self.cx.env else {
            return None;
        };
        let item = match link.item(key) {
            Ok(item) => item,
            Err(e) => {
                let msg = format!("the source of `#[device] fn {name}` does not parse: {e}");
                self.error(at, msg);
                return None;
            }
        };
        // The callee's own problems are reported when it is lowered; its
        // array lengths may name constants of its own module.
        let mut ignored = Vec::new();
        let self_ty = link.self_ty(key);
        let mut cx = self.type_cx();
        cx.consts = link.src(key).consts;
        cx.self_ty = self_ty.as_deref();
        let mut sig = check_signature(&item, FnRole::Device, &mut cx, &mut ignored);
        let span = sig.params.last().map_or(Span::call_site(), |p| p.span);
        sig.params.extend(hidden_params(&link.closures(key), span));
        Some(sig)
    }

    /// Whether device fn `key` has closure parameters (link time).
    fn takes_closures(&self, key: CalleeKey) -> bool {
        match self.cx.env {
            Env::Link(link) => link
                .item(key)
                .is_ok_and(|item| crate::frontend::closure_param::takes_closures(&item)),
            Env::Macro => false,
        }
    }

    /// Checks `args` against the signature of device fn `key` and makes
    /// the call.
    pub(super) fn finish_call(
        &mut self,
        key: CalleeKey,
        name: &str,
        args: Vec<HExpr>,
        span: Span,
        at: &dyn ToTokens,
    ) -> HExpr {
        let Some(sig) = self.callee_signature(key, name, at) else {
            return self.error_expr(span);
        };
        if sig.params.len() != args.len() {
            let msg = format!(
                "`{name}` takes {} argument(s) but {} were given",
                sig.params.len(),
                args.len()
            );
            return self.reject_call(at, &msg);
        }
        let mut ok = true;
        for (param, arg) in sig.params.iter().zip(&args) {
            let borrowed = matches!(arg.kind, HExprKind::Borrow(_));
            let wants_ref = matches!(param.kind, HParamKind::Ref(_) | HParamKind::Slice { .. });
            if borrowed != wants_ref && !matches!(arg.kind, HExprKind::Error) {
                let msg = if wants_ref {
                    format!(
                        "`{name}` takes `{}` as `&mut`: pass `&mut place`",
                        param.name
                    )
                } else {
                    format!(
                        "`{name}` takes `{}` by value (or `&`): remove `&mut`",
                        param.name
                    )
                };
                self.error_at(arg.span, msg);
                ok = false;
                continue;
            }
            let pty = param.kind.value_ty();
            self.expect_ty(
                pty,
                arg.ty,
                arg.span,
                &format!(" for argument `{}`", param.name),
            );
        }
        if !ok {
            return self.error_expr(span);
        }
        self.calls.push((key, span));
        HExpr {
            kind: HExprKind::Call(key, args),
            ty: sig.ret,
            span,
        }
    }

    /// `recv.name(args)` where `recv` has the named type `owner` (a
    /// `DeviceType` struct or enum): a method of a `#[device] impl owner`
    /// block. `recv` is borrowed for `&mut self`, copied otherwise.
    pub(super) fn user_method(
        &mut self,
        recv: Access,
        owner: String,
        m: &syn::ExprMethodCall,
    ) -> HExpr {
        let span = m.span();
        let name = m.method.to_string();
        let full = format!("{owner}::{name}");
        if full == self.fn_name {
            self.error(&m.method, recursion(&full));
            return self.error_expr(span);
        }
        // A method call dereferences a reference receiver (`state.apply(c)`).
        let recv = match recv {
            Access::Place { place, text, .. } => Access::Place {
                place,
                text,
                bare_state: false,
            },
            other => other,
        };
        if !self.cx.env.is_link() {
            let v = self.access_into_value(recv, &m.receiver);
            let mut args = vec![v];
            let mark = self.stmts.len();
            let rest = self.call_args(&m.args);
            if self.stmts.len() != mark {
                let v = args.pop().expect("the receiver");
                args.push(self.spill_at(mark, v));
            }
            args.extend(rest);
            return self.external_call(args, span);
        }
        let Some(key) = self.cx.env.callee(&full) else {
            self.error(
                &m.method,
                format!(
                    "no method `{name}` of `{owner}` was found: kernels call the methods of \
                     `#[device] impl {owner} {{ … }}` blocks"
                ),
            );
            return self.error_expr(span);
        };
        let Some(sig) = self.callee_signature(key, &full, &m.method) else {
            return self.error_expr(span);
        };
        if sig.params.first().map(|p| p.name.as_str()) != Some("self") {
            self.error(
                &m.method,
                format!("`{full}` has no `self` parameter: call it as `{full}(…)`"),
            );
            return self.error_expr(span);
        }
        let receiver = if matches!(sig.params[0].kind, HParamKind::Ref(_)) {
            let recv = match recv {
                // A temporary (`Vec2::new(1.0, 2.0).scale(2.0)`) is borrowed
                // where it is stored.
                Access::Value(v) => {
                    let s = self.subject_of_value(v);
                    Access::Place {
                        place: s.place,
                        text: String::new(),
                        bare_state: false,
                    }
                }
                other => other,
            };
            let Some(place) = self.writable(recv, &m.receiver) else {
                return self.error_expr(span);
            };
            let ty = place.ty;
            HExpr {
                kind: HExprKind::Borrow(place),
                ty,
                span: m.receiver.span(),
            }
        } else {
            self.access_into_value(recv, &m.receiver)
        };
        let mark = self.stmts.len();
        let rest = self.call_args(&m.args);
        let receiver = match receiver {
            _ if self.stmts.len() == mark => receiver,
            // A borrowed receiver stays borrowed: the indices of its place
            // are evaluated before the arguments' statements.
            HExpr {
                kind: HExprKind::Borrow(mut place),
                ty,
                span,
            } => {
                self.spill_indices(&mut place, mark, span);
                HExpr {
                    kind: HExprKind::Borrow(place),
                    ty,
                    span,
                }
            }
            other => self.spill_at(mark, other),
        };
        let mut args = vec![receiver];
        args.extend(rest);
        // A method of a generic struct's block: the instantiation its
        // receiver and arguments (or its turbofish) name.
        let mut path = syn::Path::from(m.method.clone());
        if let Some(t) = &m.turbofish {
            path.segments[0].arguments = syn::PathArguments::AngleBracketed(t.clone());
        }
        let Some(key) = self.generic_callee(key, &full, &path, &args) else {
            return self.error_expr(span);
        };
        self.finish_call(key, &full, args, span, &m.method)
    }

    /// `Owner::ITEM` in value position: an enum variant (a literal of the
    /// enum's type) or an associated constant (a call of the function that
    /// computes it).
    pub(super) fn associated_value(&mut self, p: &syn::ExprPath) -> HExpr {
        let span = p.span();
        let segs = crate::frontend::path_idents(&p.path);
        let item = segs.last().expect("a path has a segment").clone();
        let owner = match associated_owner(&segs) {
            Some("Self") => match self.self_name(p) {
                Some(t) => t.split('<').next().unwrap_or(&t).to_string(),
                None => return self.error_expr(span),
            },
            Some(o) => o.to_string(),
            None => unreachable!("called for associated paths"),
        };
        let env = self.cx.env;
        if !env.is_link() {
            if segs[segs.len() - 2] != "Self" {
                record_path(self.cx.struct_paths, &owner_path(&p.path));
            }
            return HExpr {
                kind: HExprKind::Const,
                ty: self.types().fresh_external(),
                span,
            };
        }
        if let Some(e) = env.enum_layout(&owner) {
            let key = self.types().struct_key(&owner);
            let ty = self.types().known(Shape::Struct(key));
            return match e.variants.iter().find(|v| v.name == item) {
                Some(v) => HExpr {
                    kind: HExprKind::Lit(HLit::Int(v.value)),
                    ty,
                    span,
                },
                None => {
                    let all: Vec<&str> = e.variants.iter().map(|v| v.name).collect();
                    self.reject_call(
                        p,
                        &format!(
                            "`{owner}` has no variant `{item}`; its variants are: {}",
                            all.join(", ")
                        ),
                    )
                }
            };
        }
        let full = format!("{owner}::{item}");
        let Some(key) = env.callee(&full) else {
            return self.reject_call(
                p,
                &format!(
                    "no associated constant `{item}` of `{owner}` was found: kernels read the \
                     constants of `#[device] impl {owner} {{ … }}` blocks and the variants of \
                     `#[derive(DeviceType)]` enums"
                ),
            );
        };
        self.finish_call(key, &full, Vec::new(), span, p)
    }
}

/// Why a function that calls itself is rejected.
fn recursion(name: &str) -> String {
    format!(
        "`{name}` calls itself: recursion is not supported on the GPU (a thread has a small \
         fixed stack); rewrite it as a loop"
    )
}

/// The type an associated item's path names (`Vec2` of `Vec2::new`,
/// `geom::Vec2` of `geom::Vec2::new`, `Self`): the segment before the last
/// when it is written in upper case (modules are snake case, types
/// CamelCase).
pub(super) fn associated_owner(segs: &[String]) -> Option<&str> {
    if segs.len() < 2 {
        return None;
    }
    let owner = segs[segs.len() - 2].as_str();
    owner
        .starts_with(|c: char| c.is_ascii_uppercase())
        .then_some(owner)
}

/// `a::B` of the path `a::B::c`.
fn owner_path(p: &syn::Path) -> syn::Path {
    let mut owner = p.clone();
    owner.segments.pop();
    let last = owner
        .segments
        .pop()
        .expect("an associated path has an owner");
    owner.segments.push(last.into_value());
    owner
}
