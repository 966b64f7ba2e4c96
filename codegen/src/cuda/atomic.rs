//! Atomic read-modify-writes of a place
//! ([`ExprKind::Atomic`](crate::ir::ExprKind::Atomic)).
//!
//! `atomic_add(&mut y[i], v)` becomes `spindle_atomic_add_u32(&p_y[spindle_check(..)], v)`:
//! the place's index checks run first (Rust creates the `&mut` before it
//! evaluates `v`), then the operands, then the atomic, which returns the
//! old value. Each operation and type is one device-only helper,
//! `spindle_atomic_<op>_<i32|u32|i64|u64|f32|f64>` (`isize`/`usize` share
//! the 64-bit ones); `host-shims/host_shim_scalar.h` defines the host versions with
//! GCC `__atomic` builtins. On the device:
//!
//! - 32-bit integers: CUDA's `atomicAdd/Sub/Min/Max/And/Or/Xor/Exch/CAS`;
//! - `u64`: the same, but `Sub` is `atomicAdd` of the wrapping negation
//!   (CUDA has no 64-bit `atomicSub`);
//! - `i64`: `atomicMin/Max(long long*)`; every other operation on the
//!   `unsigned long long` overloads through casts, which wrapping
//!   arithmetic makes bit-identical;
//! - `f32` `Add`/`Sub`: a compare-and-swap loop on the bits, since the
//!   hardware's `atom.add.f32` flushes subnormal inputs and results to zero
//!   (the PTX ISA says so, and an NVIDIA forum thread, "atomicAdd(float)
//!   does not add very small values", shows it on a GPU) and Rust's `+` does
//!   not; `f64`: `atomicAdd(double*)` (no flushing),
//!   `Sub` adding the negation (`a - b` is `a + (-b)` in IEEE 754);
//!   `Exchange` swaps the bits.
//!
//! Every atomic is device scope (`atomicX`, not `atomicX_block`), whether
//! the place is global memory, a shared array or the ring state.

use super::expr::Seq;
use super::scalar::tag;
use super::stmt::FnEmitter;
use super::Ctx;
use crate::ir::{AtomicOp, Expr, ParamKind, Place, PlaceRoot, Scalar};

impl FnEmitter<'_, '_> {
    /// `spindle_atomic_<op>_<t>(&place, args…)`.
    pub(crate) fn atomic(&mut self, op: AtomicOp, place: &Place, args: &[Expr]) -> String {
        let Some(s) = place.ty.as_scalar().filter(|s| op.supports(*s)) else {
            return self.ctx.invalid(&format!(
                "{} on a place of type {}",
                op.rust_name(),
                self.ctx.kernel.ty_name(&place.ty)
            ));
        };
        if args.len() != op.arity() || args.iter().any(|a| a.ty != place.ty) {
            return self.ctx.invalid(&format!(
                "{} takes {} operands of the place's type",
                op.rust_name(),
                op.arity()
            ));
        }
        let writable = match place.root {
            PlaceRoot::Local(_) => false,
            PlaceRoot::Shared(_) | PlaceRoot::DynamicShared(_) => true,
            PlaceRoot::Param(id) => match self.f.params.get(id as usize).map(|p| &p.kind) {
                Some(ParamKind::Slice { mutable, .. }) => *mutable,
                Some(ParamKind::StateRef(_)) => true,
                _ => false,
            },
        };
        if !writable {
            return self.ctx.invalid(&format!(
                "{} on a place that is not a mutable slice element, shared array or ring state",
                op.rust_name()
            ));
        }
        let mut seq = Seq::default();
        let start = self.pre.len();
        let p = self.place(place);
        let effects = self.place_effects(place);
        self.seq_add_c(
            &mut seq,
            start,
            format!("&{p}"),
            effects,
            format!("{}*", s.c_name()),
        );
        for a in args {
            let start = self.pre.len();
            let text = self.expr(a);
            let effects = self.effects(a);
            self.seq_add(&mut seq, start, text, effects, &a.ty);
        }
        let f = self.ctx.atomic_helper(op, s);
        let args: Vec<&str> = seq.texts.iter().map(|t| super::expr::bare(t)).collect();
        format!("{f}({})", args.join(", "))
    }
}

/// The helper's operation name: `add`, `exchange`, `cas`.
fn op_name(op: AtomicOp) -> &'static str {
    op.rust_name().trim_start_matches("atomic_")
}

impl Ctx<'_> {
    /// The device-only helper for `op` on `s`, defined on first use.
    pub(crate) fn atomic_helper(&mut self, op: AtomicOp, s: Scalar) -> String {
        let t = tag(s);
        let name = format!("spindle_atomic_{}_{t}", op_name(op));
        if name == "spindle_atomic_cas_u32" {
            // The fault record's helper: always in the prelude.
            return name;
        }
        let c = s.c_name();
        let (sig, body) = if op == AtomicOp::Cas {
            (
                format!("{c}* p, {c} current, {c} desired"),
                atomic_cas_body(s),
            )
        } else {
            (format!("{c}* p, {c} v"), atomic_body(op, s))
        };
        self.device_only_helper(&name, |_| {
            format!("__device__ __forceinline__ {c} {name}({sig}) {{\n  {body}\n}}\n")
        })
    }
}

/// The CUDA function of an operation with a native overload.
fn cuda_fn(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add => "atomicAdd",
        AtomicOp::Sub => "atomicSub",
        AtomicOp::Min => "atomicMin",
        AtomicOp::Max => "atomicMax",
        AtomicOp::And => "atomicAnd",
        AtomicOp::Or => "atomicOr",
        AtomicOp::Xor => "atomicXor",
        AtomicOp::Exchange => "atomicExch",
        AtomicOp::Cas => "atomicCAS",
    }
}

/// The body of a one-operand helper `(T* p, T v)`.
fn atomic_body(op: AtomicOp, s: Scalar) -> String {
    let f = cuda_fn(op);
    const ULL: &str = "unsigned long long";
    match (s, op) {
        // int32_t / uint32_t are CUDA's `int` / `unsigned int`: every overload exists.
        (Scalar::I32 | Scalar::U32, _) => format!("return {f}(p, v);"),
        (Scalar::U64 | Scalar::Usize, AtomicOp::Sub) => "return atomicAdd(p, 0ull - v);".into(),
        (Scalar::U64 | Scalar::Usize, _) => format!("return {f}(p, v);"),
        (Scalar::I64 | Scalar::Isize, AtomicOp::Min | AtomicOp::Max) => {
            format!("return (int64_t){f}((long long*)p, (long long)v);")
        }
        (Scalar::I64 | Scalar::Isize, AtomicOp::Sub) => {
            format!("return (int64_t)atomicAdd(({ULL}*)p, 0ull - ({ULL})v);")
        }
        (Scalar::I64 | Scalar::Isize, _) => {
            format!("return (int64_t){f}(({ULL}*)p, ({ULL})v);")
        }
        (Scalar::F32, AtomicOp::Exchange) => "return atomicExch(p, v);".into(),
        // A CAS loop on the bits: `atom.add.f32` would flush subnormals.
        // Bits, not `==`, decide success, so NaN and -0.0 cannot loop or slip.
        (Scalar::F32, _) => {
            let sign = if op == AtomicOp::Sub { "-" } else { "+" };
            format!(
                "uint32_t* q = (uint32_t*)p;\n  uint32_t old = *(volatile uint32_t*)q;\n  \
                 for (;;) {{\n    const uint32_t assumed = old;\n    \
                 old = atomicCAS(q, assumed, __float_as_uint(__uint_as_float(assumed) {sign} v));\n    \
                 if (old == assumed) return __uint_as_float(old);\n  }}"
            )
        }
        (Scalar::F64, AtomicOp::Add) => "return atomicAdd(p, v);".into(),
        (Scalar::F64, AtomicOp::Sub) => "return atomicAdd(p, -v);".into(),
        (Scalar::F64, _) => format!(
            "return __longlong_as_double((long long)atomicExch(({ULL}*)p, ({ULL})__double_as_longlong(v)));"
        ),
        _ => "__builtin_unreachable();".into(),
    }
}

/// The body of `(T* p, T current, T desired)`.
fn atomic_cas_body(s: Scalar) -> String {
    match s {
        Scalar::I32 | Scalar::U32 | Scalar::U64 | Scalar::Usize => {
            "return atomicCAS(p, current, desired);".into()
        }
        _ => "return (int64_t)atomicCAS((unsigned long long*)p, (unsigned long long)current, \
              (unsigned long long)desired);"
            .into(),
    }
}
