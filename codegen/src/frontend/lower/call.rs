//! Function calls (device intrinsics, `f32::sqrt(x)`-style calls,
//! `#[device]` fns) and paths that name constants (`f32::MAX`,
//! `core::f32::consts::PI`, module-level `const`s).

use quote::ToTokens;
use syn::spanned::Spanned;

use super::stmt::strip;
use super::Lowerer;
use crate::frontend::consts::{self, Lookup};
use crate::frontend::hir::{HExpr, HExprKind, HLit};
use crate::frontend::path_idents;
use crate::frontend::types::Shape;
use crate::ir::{AtomicOp, CollectiveOp, Intrinsic, Scalar, DIM3};
use crate::layout::ConstValue;

impl Lowerer<'_, '_, '_> {
    pub(super) fn call(&mut self, c: &syn::ExprCall) -> HExpr {
        if let syn::Expr::Path(p) = strip(&c.func) {
            if let Some(ident) = p.path.get_ident() {
                match self.lookup(&ident.to_string()) {
                    Some(super::Binding::Closure(id)) => return self.call_closure(id, c),
                    Some(super::Binding::ClosureParam(j)) => return self.call_closure_param(j, c),
                    _ => {}
                }
                if ident == "Some" && c.args.len() == 1 {
                    let v = self.expr(&c.args[0]);
                    return self.some_value(v, c.span());
                }
            }
        }
        let syn::Expr::Path(p) = strip(&c.func) else {
            return self.reject_call(
                &c.func,
                "only named functions can be called in kernels (`helper(x)` for a `#[device] fn`)",
            );
        };
        if p.qself.is_some() {
            return self.reject_call(p, "qualified paths (`<T as Trait>::f`) are not supported");
        }
        if let Some(last) = gpu_name(p) {
            if last == "shared_array" {
                self.misplaced_shared_array(p);
                return self.error_expr(c.span());
            }
            if last == "dynamic_shared" {
                self.misplaced_dynamic_shared(p);
                return self.error_expr(c.span());
            }
            if let Some(op) = AtomicOp::ALL.into_iter().find(|o| o.rust_name() == last) {
                return self.atomic(op, p, c);
            }
            if let Some(op) = CollectiveOp::ALL
                .into_iter()
                .find(|o| o.rust_name() == last)
            {
                return self.collective(op, false, p, c);
            }
            if let Some(op) = CollectiveOp::ALL
                .into_iter()
                .find(|o| o.width_name() == Some(last.as_str()))
            {
                return self.collective(op, true, p, c);
            }
        }
        // Generic arguments name an instantiation of a `#[device]` fn.
        if p.path
            .segments
            .iter()
            .rev()
            .skip(1)
            .any(|s| !s.arguments.is_none())
        {
            return self.reject_call(
                p,
                "generic calls are not supported in kernels: call a concrete function",
            );
        }
        let segs = path_idents(&p.path);
        let last = segs.last().expect("a path has a segment").as_str();
        let prefix = &segs[..segs.len() - 1];
        if let Some(intrinsic) = gpu_name(p).and_then(|n| nullary(&n)) {
            if !c.args.is_empty() {
                return self.reject_call(&c.args, &format!("`{last}()` takes no arguments"));
            }
            let ty = match intrinsic {
                Intrinsic::GlobalIndex => self.types().scalar(Scalar::Usize),
                Intrinsic::LaneId => self.types().scalar(Scalar::U32),
                Intrinsic::ThreadFence
                | Intrinsic::ThreadFenceBlock
                | Intrinsic::ThreadFenceSystem => self.types().unit(),
                _ => {
                    let key = self.types().struct_key(DIM3);
                    self.types().known(Shape::Struct(key))
                }
            };
            return HExpr {
                kind: HExprKind::Intrinsic(intrinsic, Vec::new()),
                ty,
                span: c.span(),
            };
        }
        if let Some(scalar) = scalar_prefix(prefix) {
            let args = self.operands(&c.args);
            let mut args = args.into_iter();
            let Some(receiver) = args.next() else {
                return self.reject_call(
                    c,
                    &format!(
                        "`{}::{last}` takes the value as its first argument",
                        scalar.rust_name()
                    ),
                );
            };
            let t = self.types().scalar(scalar);
            self.expect_ty(t, receiver.ty, receiver.span, "");
            let span = p.path.segments.last().expect("non-empty").ident.span();
            return self.method_intrinsic(last, receiver, args.collect(), span, c.span());
        }
        if let Some(op) = mem_op(&segs) {
            return self.mem_call(op, c);
        }
        if let Some(t) = trait_call(&segs) {
            return self.reject_call(
                p,
                &format!(
                    "`{}` calls the `{t}` trait, which kernels cannot call: write a struct \
                     literal, or an associated fn in a `#[device] impl` block",
                    segs.join("::")
                ),
            );
        }
        if let Some(msg) = std_call(&segs) {
            return self.reject_call(p, &msg);
        }
        self.device_call(p, c)
    }

    pub(super) fn reject_call(&mut self, t: impl ToTokens, msg: &str) -> HExpr {
        let span = t.to_token_stream().into_iter().next().map(|t| t.span());
        self.error(t, msg);
        self.error_expr(span.unwrap_or_else(proc_macro2::Span::call_site))
    }

    /// A path in value position that is not a local or parameter: a std
    /// numeric constant, a module-level constant, or an error.
    pub(super) fn path_value(&mut self, p: &syn::ExprPath) -> HExpr {
        let span = p.span();
        let segs = path_idents(&p.path);
        if p.qself.is_none() && p.path.segments.iter().all(|s| s.arguments.is_none()) {
            if let Some((lit, scalar)) = constant(&segs) {
                let ty = self.types().scalar(scalar);
                return HExpr {
                    kind: HExprKind::Lit(lit),
                    ty,
                    span,
                };
            }
        }
        if p.qself.is_none() && super::impls::associated_owner(&segs).is_some() {
            return self.associated_value(p);
        }
        if p.qself.is_none() && p.path.is_ident("None") {
            return self.none_value(span);
        }
        if let Err(msg) = consts::classify(p) {
            self.error(p, msg);
            return self.error_expr(span);
        }
        let (env, values) = (self.cx.env, self.cx.consts);
        match consts::lookup(env, values, self.cx.const_paths, &p.path) {
            // Its type is the constant's, which only the linker knows.
            Lookup::Unknown => HExpr {
                kind: HExprKind::Const,
                ty: self.types().fresh_external(),
                span,
            },
            Lookup::Value(v) => {
                let (lit, scalar) = match v {
                    ConstValue::Bool(b) => (HLit::Bool(b), Scalar::Bool),
                    ConstValue::Int(s, i) => (HLit::Int(i), s),
                    ConstValue::Float(s, f) => (HLit::Float(f), s),
                };
                let ty = self.types().scalar(scalar);
                HExpr {
                    kind: HExprKind::Lit(lit),
                    ty,
                    span,
                }
            }
            Lookup::Missing(msg) => {
                self.error(p, msg);
                self.error_expr(span)
            }
        }
    }
}

/// `T::default()`, `T::from(x)`, …: std traits every type may have
/// (kernels call only inherent items of `#[device] impl` blocks).
fn trait_call(segs: &[String]) -> Option<&'static str> {
    super::impls::associated_owner(segs)?;
    Some(match segs.last().map(String::as_str)? {
        "default" => "Default",
        "from" | "try_from" => "From",
        "clone" => "Clone",
        "eq" | "ne" => "PartialEq",
        "cmp" | "partial_cmp" => "Ord",
        _ => return None,
    })
}

/// `std::mem::swap`, `core::mem::replace`, `mem::swap`, …: the name.
fn mem_op(segs: &[String]) -> Option<&str> {
    let rest = match segs.first().map(String::as_str) {
        Some("std" | "core") => &segs[1..],
        _ => segs,
    };
    match rest {
        [m, op] if m == "mem" && matches!(op.as_str(), "swap" | "replace") => Some(op),
        _ => None,
    }
}

/// The name of a function called by a path that may name a device
/// intrinsic: `name`, `gpu::name`, `spindle::gpu::name`,
/// `spindle::prelude::name`.
pub(super) fn gpu_name(p: &syn::ExprPath) -> Option<String> {
    if p.qself.is_some() {
        return None;
    }
    let segs = path_idents(&p.path);
    let (last, prefix) = segs.split_last()?;
    let gpu_path =
        prefix.is_empty() || matches!(prefix.last().map(String::as_str), Some("gpu" | "prelude"));
    gpu_path.then(|| last.clone())
}

/// The intrinsics called without arguments: thread geometry, `lane_id()`,
/// fences.
fn nullary(name: &str) -> Option<Intrinsic> {
    Some(match name {
        "thread_idx" => Intrinsic::ThreadIdx,
        "block_idx" => Intrinsic::BlockIdx,
        "block_dim" => Intrinsic::BlockDim,
        "grid_dim" => Intrinsic::GridDim,
        "global_index" => Intrinsic::GlobalIndex,
        "lane_id" => Intrinsic::LaneId,
        "thread_fence" => Intrinsic::ThreadFence,
        "thread_fence_block" => Intrinsic::ThreadFenceBlock,
        "thread_fence_system" => Intrinsic::ThreadFenceSystem,
        _ => return None,
    })
}

/// `f32` in `f32::sqrt` or `std::f32::sqrt`.
fn scalar_prefix(prefix: &[String]) -> Option<Scalar> {
    let rest = match prefix.first().map(String::as_str) {
        Some("std" | "core") => &prefix[1..],
        _ => prefix,
    };
    match rest {
        [t] => Scalar::from_rust_name(t).filter(|s| *s != Scalar::Bool),
        _ => None,
    }
}

/// Why a call into std (or another non-device path) is rejected.
fn std_call(segs: &[String]) -> Option<String> {
    let first = segs[0].as_str();
    let last = segs.last().expect("non-empty").as_str();
    if matches!(first, "std" | "core" | "alloc") {
        return Some(format!(
            "`{}` is not supported in kernels: only float/integer math methods and the \
             intrinsics in `spindle::gpu` are available",
            segs.join("::")
        ));
    }
    if matches!(last, "Ok" | "Err") {
        return Some(
            "`Result` is not supported in kernels (they cannot return errors): use an `Option`"
                .into(),
        );
    }
    if matches!(last, "Some" | "None") {
        return Some(format!(
            "`{}` holds one value: `Some(v)`, `None`",
            segs.join("::")
        ));
    }
    if segs.len() >= 2 {
        let owner = &segs[segs.len() - 2];
        if matches!(owner.as_str(), "Vec" | "String" | "Box") {
            return Some(format!(
                "`{owner}` cannot be used on the GPU: kernels cannot allocate; use slices and \
                 fixed-size arrays"
            ));
        }
    }
    None
}

/// A std numeric constant by path: `u32::MAX`, `f32::EPSILON`,
/// `std::f64::consts::PI`.
fn constant(segs: &[String]) -> Option<(HLit, Scalar)> {
    let rest = match segs.first().map(String::as_str) {
        Some("std" | "core") => &segs[1..],
        _ => segs,
    };
    match rest {
        [t, name] => {
            let s = Scalar::from_rust_name(t).filter(|s| *s != Scalar::Bool)?;
            scalar_const(s, name)
        }
        [t, consts, name] if consts == "consts" => {
            let s = Scalar::from_rust_name(t).filter(|s| s.is_float())?;
            let v = float_const(name)?;
            let v = if s == Scalar::F32 { v.1 as f64 } else { v.0 };
            Some((HLit::Float(v), s))
        }
        _ => None,
    }
}

fn scalar_const(s: Scalar, name: &str) -> Option<(HLit, Scalar)> {
    if s.is_int() {
        let bits = s.bits();
        let (min, max) = if s.is_signed_int() {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        return match name {
            "MAX" => Some((HLit::Int(max), s)),
            "MIN" => Some((HLit::Int(min), s)),
            // `spindle::gpu::Num`'s constants.
            "ZERO" => Some((HLit::Int(0), s)),
            "ONE" => Some((HLit::Int(1), s)),
            "BITS" => Some((HLit::Int(bits as i128), Scalar::U32)),
            _ => None,
        };
    }
    let (v64, v32) = match name {
        "ZERO" => (0.0, 0.0),
        "ONE" => (1.0, 1.0),
        "MAX" => (f64::MAX, f32::MAX),
        "MIN" => (f64::MIN, f32::MIN),
        "MIN_POSITIVE" => (f64::MIN_POSITIVE, f32::MIN_POSITIVE),
        "EPSILON" => (f64::EPSILON, f32::EPSILON),
        "INFINITY" => (f64::INFINITY, f32::INFINITY),
        "NEG_INFINITY" => (f64::NEG_INFINITY, f32::NEG_INFINITY),
        "NAN" => (f64::NAN, f32::NAN),
        _ => return None,
    };
    let v = if s == Scalar::F32 { v32 as f64 } else { v64 };
    Some((HLit::Float(v), s))
}

/// A `std::f64::consts` / `std::f32::consts` value, as (f64, f32).
fn float_const(name: &str) -> Option<(f64, f32)> {
    use std::{f32::consts as c32, f64::consts as c64};
    Some(match name {
        "PI" => (c64::PI, c32::PI),
        "TAU" => (c64::TAU, c32::TAU),
        "E" => (c64::E, c32::E),
        "SQRT_2" => (c64::SQRT_2, c32::SQRT_2),
        "FRAC_1_SQRT_2" => (c64::FRAC_1_SQRT_2, c32::FRAC_1_SQRT_2),
        "LN_2" => (c64::LN_2, c32::LN_2),
        "LN_10" => (c64::LN_10, c32::LN_10),
        "LOG2_E" => (c64::LOG2_E, c32::LOG2_E),
        "LOG10_E" => (c64::LOG10_E, c32::LOG10_E),
        "LOG2_10" => (c64::LOG2_10, c32::LOG2_10),
        "LOG10_2" => (c64::LOG10_2, c32::LOG10_2),
        "FRAC_PI_2" => (c64::FRAC_PI_2, c32::FRAC_PI_2),
        "FRAC_PI_3" => (c64::FRAC_PI_3, c32::FRAC_PI_3),
        "FRAC_PI_4" => (c64::FRAC_PI_4, c32::FRAC_PI_4),
        "FRAC_PI_6" => (c64::FRAC_PI_6, c32::FRAC_PI_6),
        "FRAC_PI_8" => (c64::FRAC_PI_8, c32::FRAC_PI_8),
        "FRAC_1_PI" => (c64::FRAC_1_PI, c32::FRAC_1_PI),
        "FRAC_2_PI" => (c64::FRAC_2_PI, c32::FRAC_2_PI),
        "FRAC_2_SQRT_PI" => (c64::FRAC_2_SQRT_PI, c32::FRAC_2_SQRT_PI),
        _ => return None,
    })
}
