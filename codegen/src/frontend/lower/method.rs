//! Method calls: `.len()` on slices, arrays and shared memory, and the std
//! float and integer methods that map to [`Intrinsic`]s.

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::place::Access;
use super::{Lowerer, SharedMem};
use crate::frontend::hir::{HExpr, HExprKind, HLit};
use crate::frontend::types::{Kind, Shape, TyVar};
use crate::ir::{Intrinsic, Scalar, DIM3};

/// Which types a method exists on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(in crate::frontend) enum Domain {
    Float,
    Int,
    /// Floats and integers (`abs`, `min`, …).
    Numeric,
}

/// The type of a method argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    SameAsSelf,
    I32,
    U32,
}

/// The type of a method's result.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ret {
    SameAsSelf,
    Bool,
    U32,
    /// The unsigned type of the receiver's width (`abs_diff`).
    Unsigned,
}

struct MethodInfo {
    intrinsic: Intrinsic,
    domain: Domain,
    args: &'static [Arg],
    ret: Ret,
}

fn method_info(name: &str) -> Option<MethodInfo> {
    use Arg::*;
    use Domain::*;
    use Intrinsic as I;
    let (intrinsic, domain, args, ret): (I, Domain, &'static [Arg], Ret) = match name {
        "abs" => (I::Abs, Numeric, &[], Ret::SameAsSelf),
        "signum" => (I::Signum, Numeric, &[], Ret::SameAsSelf),
        "min" => (I::Min, Numeric, &[SameAsSelf], Ret::SameAsSelf),
        "max" => (I::Max, Numeric, &[SameAsSelf], Ret::SameAsSelf),
        "clamp" => (
            I::Clamp,
            Numeric,
            &[SameAsSelf, SameAsSelf],
            Ret::SameAsSelf,
        ),
        "sqrt" => (I::Sqrt, Float, &[], Ret::SameAsSelf),
        "cbrt" => (I::Cbrt, Float, &[], Ret::SameAsSelf),
        "exp" => (I::Exp, Float, &[], Ret::SameAsSelf),
        "exp2" => (I::Exp2, Float, &[], Ret::SameAsSelf),
        "ln" => (I::Ln, Float, &[], Ret::SameAsSelf),
        "log2" => (I::Log2, Float, &[], Ret::SameAsSelf),
        "log10" => (I::Log10, Float, &[], Ret::SameAsSelf),
        "log" => (I::Log, Float, &[SameAsSelf], Ret::SameAsSelf),
        "sin" => (I::Sin, Float, &[], Ret::SameAsSelf),
        "cos" => (I::Cos, Float, &[], Ret::SameAsSelf),
        "tan" => (I::Tan, Float, &[], Ret::SameAsSelf),
        "asin" => (I::Asin, Float, &[], Ret::SameAsSelf),
        "acos" => (I::Acos, Float, &[], Ret::SameAsSelf),
        "atan" => (I::Atan, Float, &[], Ret::SameAsSelf),
        "atan2" => (I::Atan2, Float, &[SameAsSelf], Ret::SameAsSelf),
        "sinh" => (I::Sinh, Float, &[], Ret::SameAsSelf),
        "cosh" => (I::Cosh, Float, &[], Ret::SameAsSelf),
        "tanh" => (I::Tanh, Float, &[], Ret::SameAsSelf),
        "powi" => (I::Powi, Float, &[I32], Ret::SameAsSelf),
        "powf" => (I::Powf, Float, &[SameAsSelf], Ret::SameAsSelf),
        "floor" => (I::Floor, Float, &[], Ret::SameAsSelf),
        "ceil" => (I::Ceil, Float, &[], Ret::SameAsSelf),
        "round" => (I::Round, Float, &[], Ret::SameAsSelf),
        "trunc" => (I::Trunc, Float, &[], Ret::SameAsSelf),
        "fract" => (I::Fract, Float, &[], Ret::SameAsSelf),
        "mul_add" => (I::MulAdd, Float, &[SameAsSelf, SameAsSelf], Ret::SameAsSelf),
        "recip" => (I::Recip, Float, &[], Ret::SameAsSelf),
        "hypot" => (I::Hypot, Float, &[SameAsSelf], Ret::SameAsSelf),
        "copysign" => (I::Copysign, Float, &[SameAsSelf], Ret::SameAsSelf),
        "to_degrees" => (I::ToDegrees, Float, &[], Ret::SameAsSelf),
        "to_radians" => (I::ToRadians, Float, &[], Ret::SameAsSelf),
        "is_nan" => (I::IsNan, Float, &[], Ret::Bool),
        "is_finite" => (I::IsFinite, Float, &[], Ret::Bool),
        "is_infinite" => (I::IsInfinite, Float, &[], Ret::Bool),
        "is_sign_negative" => (I::IsSignNegative, Float, &[], Ret::Bool),
        "is_sign_positive" => (I::IsSignPositive, Float, &[], Ret::Bool),
        "pow" => (I::Pow, Int, &[U32], Ret::SameAsSelf),
        "wrapping_add" => (I::WrappingAdd, Int, &[SameAsSelf], Ret::SameAsSelf),
        "wrapping_sub" => (I::WrappingSub, Int, &[SameAsSelf], Ret::SameAsSelf),
        "wrapping_mul" => (I::WrappingMul, Int, &[SameAsSelf], Ret::SameAsSelf),
        "wrapping_neg" => (I::WrappingNeg, Int, &[], Ret::SameAsSelf),
        "saturating_add" => (I::SaturatingAdd, Int, &[SameAsSelf], Ret::SameAsSelf),
        "saturating_sub" => (I::SaturatingSub, Int, &[SameAsSelf], Ret::SameAsSelf),
        "count_ones" => (I::CountOnes, Int, &[], Ret::U32),
        "count_zeros" => (I::CountZeros, Int, &[], Ret::U32),
        "leading_zeros" => (I::LeadingZeros, Int, &[], Ret::U32),
        "trailing_zeros" => (I::TrailingZeros, Int, &[], Ret::U32),
        "rotate_left" => (I::RotateLeft, Int, &[U32], Ret::SameAsSelf),
        "rotate_right" => (I::RotateRight, Int, &[U32], Ret::SameAsSelf),
        "reverse_bits" => (I::ReverseBits, Int, &[], Ret::SameAsSelf),
        "swap_bytes" => (I::SwapBytes, Int, &[], Ret::SameAsSelf),
        "is_power_of_two" => (I::IsPowerOfTwo, Int, &[], Ret::Bool),
        "abs_diff" => (I::AbsDiff, Int, &[SameAsSelf], Ret::Unsigned),
        _ => return None,
    };
    Some(MethodInfo {
        intrinsic,
        domain,
        args,
        ret,
    })
}

/// The types an intrinsic's receiver may have (checked again once types
/// are final).
pub(in crate::frontend) fn intrinsic_domain(i: Intrinsic) -> Option<Domain> {
    use Intrinsic as I;
    match i {
        I::ThreadIdx
        | I::BlockIdx
        | I::BlockDim
        | I::GridDim
        | I::GlobalIndex
        | I::LaneId
        | I::ThreadFence
        | I::ThreadFenceBlock
        | I::ThreadFenceSystem => None,
        I::Abs | I::Min | I::Max | I::Clamp | I::Signum => Some(Domain::Numeric),
        I::Pow
        | I::WrappingAdd
        | I::WrappingSub
        | I::WrappingMul
        | I::WrappingNeg
        | I::SaturatingAdd
        | I::SaturatingSub
        | I::CountOnes
        | I::CountZeros
        | I::LeadingZeros
        | I::TrailingZeros
        | I::RotateLeft
        | I::RotateRight
        | I::ReverseBits
        | I::SwapBytes
        | I::IsPowerOfTwo
        | I::AbsDiff => Some(Domain::Int),
        _ => Some(Domain::Float),
    }
}

/// Methods that exist in std but have no place in a kernel, with advice.
fn known_unsupported(name: &str) -> Option<&'static str> {
    Some(match name {
        "step_by" | "rev" => "`step_by` and `rev` are only supported on a `for` loop's range",
        "clone" | "to_owned" => "values are copied implicitly in kernels: remove the call",
        "iter" | "iter_mut" | "into_iter" | "map" | "sum" | "product" | "fold" | "zip"
        | "enumerate" | "copied" | "cloned" => {
            "iterators are supported as a `for` loop's source (`for v in x.iter()`, \
             `x.iter_mut()`, `x.iter().enumerate()`) and in `x.iter().sum()`, `.product()`, \
             `.min()` and `.max()`; for anything else write a `for` loop"
        }
        "unwrap" | "expect" => {
            "`unwrap`/`expect` are not supported in kernels (a kernel cannot panic): use \
             `unwrap_or(v)`, `if let Some(v) = …` or `match`"
        }
        "to_string" | "chars" | "as_str" => "strings are not supported in kernels",
        "into" | "from" | "try_into" => "conversions are written with `as` in kernels (`x as f32`)",
        _ => return None,
    })
}

/// `v.cast::<U>()` of `spindle::gpu::Num` as the `v as U` it means.
fn num_cast(m: &syn::ExprMethodCall) -> Option<syn::ExprCast> {
    if m.method != "cast" || !m.args.is_empty() {
        return None;
    }
    let t = m.turbofish.as_ref()?;
    let [syn::GenericArgument::Type(ty)] = t.args.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    Some(syn::ExprCast {
        attrs: Vec::new(),
        expr: m.receiver.clone(),
        as_token: syn::Token![as](m.method.span()),
        ty: Box::new(ty.clone()),
    })
}

impl Lowerer<'_, '_, '_> {
    pub(super) fn method_call(&mut self, m: &syn::ExprMethodCall) -> HExpr {
        if let Some(v) = self.iter_fold(m) {
            return v;
        }
        let name = m.method.to_string();
        if let Some(c) = num_cast(m) {
            return self.cast(&c);
        }
        if let Some(t) = &m.turbofish {
            self.error(t, "generic method calls are not supported in kernels");
            return self.error_expr(m.span());
        }
        if matches!(name.as_str(), "clone" | "to_owned" | "into" | "try_into") {
            let msg = known_unsupported(&name).expect("listed");
            self.error(&m.method, msg);
            return self.error_expr(m.span());
        }
        let recv = match self.access(&m.receiver) {
            // A method call dereferences a reference receiver (`v.abs()`
            // of an `&mut` item).
            Access::Place { place, text, .. } => Access::Place {
                place,
                text,
                bare_state: false,
            },
            other => other,
        };
        let recv_ty = match &recv {
            Access::Place { place, .. } => Some(place.ty),
            Access::Value(v) if matches!(v.kind, HExprKind::Error) => return v.clone(),
            Access::Value(v) => Some(v.ty),
            Access::Slice { .. } | Access::Shared { .. } | Access::View { .. } => None,
        };
        if let Some(Some(Shape::Option(inner))) = recv_ty.map(|t| self.types().shape(t)) {
            return self.option_method(recv, inner, m);
        }
        match recv_ty.map(|t| self.types().shape(t)) {
            // A `DeviceType` struct or enum: a method of its impl blocks.
            Some(Some(Shape::Struct(key) | Shape::Generic(key, _)))
                if self.types().struct_name(key) != DIM3 =>
            {
                let owner = self.types().struct_name(key).to_string();
                return self.user_method(recv, owner, m);
            }
            // Macro time, a value of a type only the linker knows: a
            // method of some impl block, unless std has it.
            Some(None)
                if !self.cx.env.is_link()
                    && method_info(&name).is_none()
                    && !matches!(name.as_str(), "len" | "swap" | "sin_cos") =>
            {
                return self.user_method(recv, String::new(), m);
            }
            _ => {}
        }
        match name.as_str() {
            "len" if m.args.is_empty() => return self.len_call(recv, m),
            "swap" => return self.slice_swap(recv, m),
            "get" if m.args.len() == 1 => return self.get_call(recv, m),
            "sin_cos" if m.args.is_empty() => {
                let x = self.access_into_value(recv, &m.receiver);
                return self.sin_cos(x, m);
            }
            _ => {}
        }
        if let Some(msg) = known_unsupported(&name) {
            self.error(&m.method, msg);
            return self.error_expr(m.span());
        }
        if method_info(&name).is_none() {
            return self.unknown_method(&name, m.method.span(), m.span());
        }
        let receiver = self.access_into_value(recv, &m.receiver);
        let mark = self.stmts.len();
        let args = self.operands(m.args.iter());
        let receiver = self.spill_before(mark, receiver);
        self.method_intrinsic(&name, receiver, args, m.method.span(), m.span())
    }

    /// `x.sin_cos()`: `(x.sin(), x.cos())`, as std computes it.
    fn sin_cos(&mut self, x: HExpr, m: &syn::ExprMethodCall) -> HExpr {
        let span = m.span();
        let at = self.stmts.len();
        let t = self.temp_at(at, x, span);
        let load = |l: &mut Self| l.load_local(t, span);
        let (a, b) = (load(self), load(self));
        let sin = self.method_intrinsic("sin", a, Vec::new(), m.method.span(), span);
        let cos = self.method_intrinsic("cos", b, Vec::new(), m.method.span(), span);
        let ty = self.types().tuple(vec![sin.ty, cos.ty]);
        HExpr {
            kind: HExprKind::StructLit(vec![sin, cos]),
            ty,
            span,
        }
    }

    fn unknown_method(&mut self, name: &str, name_span: Span, span: Span) -> HExpr {
        self.error_at(
            name_span,
            format!(
                "`{name}` is not a method kernels support: float math (`sqrt`, `abs`, `powi`, \
                 `mul_add`, `min`, `clamp`, `is_nan`, …), integer methods (`min`, `pow`, \
                 `wrapping_add`, `count_ones`, `rotate_left`, …) and `.len()` on slices and \
                 arrays"
            ),
        );
        self.error_expr(span)
    }

    /// `.len()`: a slice parameter's length, or an array's (a constant).
    fn len_call(&mut self, recv: Access, m: &syn::ExprMethodCall) -> HExpr {
        self.length(recv, m.receiver.span(), m.span())
    }

    /// The length of a slice, array or shared memory `recv` (at
    /// `recv_span`), as `.len()` gives it.
    pub(super) fn length(&mut self, recv: Access, recv_span: Span, span: Span) -> HExpr {
        let usize_ty = self.types().scalar(Scalar::Usize);
        let ty = match recv {
            Access::View { view, .. } => return self.view_len(view, span),
            Access::Slice { param, .. } => {
                return HExpr {
                    kind: HExprKind::SliceLen(param),
                    ty: usize_ty,
                    span,
                }
            }
            Access::Shared {
                mem: SharedMem::Dynamic(id),
                ..
            } => {
                return HExpr {
                    kind: HExprKind::DynamicSharedLen(id),
                    ty: usize_ty,
                    span,
                }
            }
            Access::Shared {
                mem: SharedMem::Array(id),
                ..
            } => match self.shared[id as usize].len {
                Some(len) => {
                    return HExpr {
                        kind: HExprKind::Lit(HLit::Int(len as i128)),
                        ty: usize_ty,
                        span,
                    }
                }
                // Macro time, a constant length: a `usize` the linker knows.
                None => {
                    return HExpr {
                        kind: HExprKind::Error,
                        ty: usize_ty,
                        span,
                    }
                }
            },
            Access::Place { place, .. } => place.ty,
            Access::Value(v) if matches!(v.kind, HExprKind::Error) => return v,
            Access::Value(v) => v.ty,
        };
        match self.types().shape(ty) {
            Some(Shape::Array(_, len)) => HExpr {
                kind: HExprKind::Lit(HLit::Int(len as i128)),
                ty: usize_ty,
                span,
            },
            Some(_) => {
                let t = self.types().describe(ty);
                self.error_at(
                    recv_span,
                    format!("expected a slice or an array (to take its length), found `{t}`"),
                );
                self.error_expr(span)
            }
            None => {
                if self
                    .unknown_type(recv_span, "asking for its length")
                    .is_some()
                {
                    // Macro time: the length is unknown but the type is `usize`.
                    HExpr {
                        kind: HExprKind::Error,
                        ty: usize_ty,
                        span,
                    }
                } else {
                    self.error_expr(span)
                }
            }
        }
    }

    /// A std method on a scalar receiver (also the UFCS form `f32::sqrt(x)`).
    pub(super) fn method_intrinsic(
        &mut self,
        name: &str,
        receiver: HExpr,
        args: Vec<HExpr>,
        name_span: Span,
        span: Span,
    ) -> HExpr {
        let Some(info) = method_info(name) else {
            return self.unknown_method(name, name_span, span);
        };
        if args.len() != info.args.len() {
            self.error_at(
                name_span,
                format!(
                    "`{name}` takes {} argument(s), {} given",
                    info.args.len(),
                    args.len()
                ),
            );
            return self.error_expr(span);
        }
        let rty = receiver.ty;
        match info.domain {
            Domain::Float => {
                self.expect_kind(rty, Kind::Float, receiver.span, &format!("`.{name}()`"));
            }
            Domain::Int => {
                self.expect_kind(rty, Kind::Int, receiver.span, &format!("`.{name}()`"));
            }
            Domain::Numeric => {}
        }
        for (a, want) in args.iter().zip(info.args) {
            let t = match want {
                Arg::SameAsSelf => rty,
                Arg::I32 => self.types().scalar(Scalar::I32),
                Arg::U32 => self.types().scalar(Scalar::U32),
            };
            self.expect_ty(t, a.ty, a.span, &format!(" in argument of `{name}`"));
        }
        let ty = match info.ret {
            Ret::SameAsSelf => rty,
            Ret::Bool => self.types().scalar(Scalar::Bool),
            Ret::U32 => self.types().scalar(Scalar::U32),
            Ret::Unsigned => match self.unsigned_of(rty, receiver.span, name) {
                Some(t) => t,
                None => return self.error_expr(span),
            },
        };
        let mut all = vec![receiver];
        all.extend(args);
        HExpr {
            kind: HExprKind::Intrinsic(info.intrinsic, all),
            ty,
            span,
        }
    }

    /// The unsigned integer type of `ty`'s width.
    fn unsigned_of(&mut self, ty: TyVar, span: Span, name: &str) -> Option<TyVar> {
        match self.types().scalar_of(ty) {
            Some(s) if s.is_int() => Some(self.types().scalar(s.to_unsigned())),
            Some(_) => None, // already reported by the domain check
            None => self
                .unknown_type(span, &format!("calling `{name}`"))
                .map(|(_, t)| t),
        }
    }
}
