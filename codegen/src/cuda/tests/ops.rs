//! Operators and casts on every scalar type.

use super::irb::*;
use crate::cuda::{emit, EmitOptions};
use crate::ir::*;

/// Binary operators that apply to values of type `s` (result type `s`).
pub(crate) fn arith_ops(s: Scalar) -> Vec<BinOp> {
    use BinOp::*;
    if s == Scalar::Bool {
        vec![BitAnd, BitOr, BitXor, And, Or]
    } else if s.is_float() {
        vec![Add, Sub, Mul, Div, Rem]
    } else {
        vec![Add, Sub, Mul, Div, Rem, BitAnd, BitOr, BitXor, Shl, Shr]
    }
}

/// `ops_<ty>(a, b, out, flags)`: `out[k] = a op b` for every operator,
/// `flags[k] = a cmp b` for every comparison, plus the unary operators.
pub(crate) fn ops_kernel(s: Scalar) -> Kernel {
    let name = format!("ops_{}", s.rust_name());
    let mut kb = KernelBuilder::batch(&name);
    let so = kb.site("out", 1);
    let sf = kb.site("flags", 1);
    let mut f = FnBuilder::new(&name, Ty::Unit);
    let t = ty(s);
    let a = f.value("a", t.clone());
    let b = f.value("b", t.clone());
    let sh = f.value("sh", ty(Scalar::I64));
    let out = f.slice("out", t.clone(), true);
    let flags = f.slice("flags", ty(Scalar::Bool), true);
    let la = || load(place_param(a, ty(s)));
    let lb = || load(place_param(b, ty(s)));
    let mut k = 0;
    let mut put = |f: &mut FnBuilder, value: Expr| {
        let (p, site) = if value.ty == ty(Scalar::Bool) && s != Scalar::Bool {
            (flags, sf)
        } else {
            (out, so)
        };
        let place = index(
            place_param(p, value.ty.clone()),
            usize_(k),
            site,
            value.ty.clone(),
        );
        k += 1;
        f.push(StmtKind::Assign { place, value });
    };
    for op in arith_ops(s) {
        // Shifts by an i64 amount (masked like Rust's wrapping shifts) and by `b`.
        if matches!(op, BinOp::Shl | BinOp::Shr) {
            put(
                &mut f,
                bin(op, la(), load(place_param(sh, ty(Scalar::I64)))),
            );
        }
        put(&mut f, bin(op, la(), lb()));
    }
    for op in [
        BinOp::Eq,
        BinOp::Ne,
        BinOp::Lt,
        BinOp::Le,
        BinOp::Gt,
        BinOp::Ge,
    ] {
        put(&mut f, bin(op, la(), lb()));
    }
    if s.is_signed_int() || s.is_float() {
        put(&mut f, un(UnOp::Neg, la()));
    }
    if s.is_int() || s == Scalar::Bool {
        put(&mut f, un(UnOp::Not, la()));
    }
    // Compound assignment to an indexed place and to a local.
    let acc = f.let_("acc", la(), true);
    for op in arith_ops(s) {
        if matches!(op, BinOp::And | BinOp::Or) {
            continue;
        }
        let rhs = if matches!(op, BinOp::Shl | BinOp::Shr) {
            load(place_param(sh, ty(Scalar::I64)))
        } else {
            lb()
        };
        f.push(StmtKind::CompoundAssign {
            place: place_local(acc, t.clone()),
            op,
            value: rhs.clone(),
        });
        f.push(StmtKind::CompoundAssign {
            place: index(place_param(out, t.clone()), usize_(0), so, t.clone()),
            op,
            value: rhs,
        });
    }
    put(&mut f, local(acc, t.clone()));
    kb.entry(f.finish())
}

/// `casts_from_<ty>(v, out_<each type>)`: `v as T` for every scalar T.
pub(crate) fn casts_kernel(from: Scalar) -> Kernel {
    let name = format!("casts_from_{}", from.rust_name());
    let mut kb = KernelBuilder::batch(&name);
    let mut f = FnBuilder::new(&name, Ty::Unit);
    let v = f.value("v", ty(from));
    for to in Scalar::ALL {
        if to == Scalar::Bool && from != Scalar::Bool {
            continue; // not a Rust cast
        }
        if from == Scalar::Bool && to.is_float() {
            continue;
        }
        let site = kb.site(to.rust_name(), 1);
        let out = f.slice(&format!("out_{}", to.rust_name()), ty(to), true);
        f.push(StmtKind::Assign {
            place: index(place_param(out, ty(to)), usize_(0), site, ty(to)),
            value: cast(load(place_param(v, ty(from))), to),
        });
    }
    kb.entry(f.finish())
}

fn code(k: &Kernel) -> String {
    emit(
        k,
        &EmitOptions {
            line_directives: false,
        },
    )
    .code
}

#[test]
fn cuda_signed_arithmetic_wraps_in_unsigned() {
    let c = code(&ops_kernel(Scalar::I32));
    assert!(
        c.contains("= (int32_t)((uint32_t)p_a + (uint32_t)p_b);"),
        "{c}"
    );
    assert!(
        c.contains("= (int32_t)((uint32_t)p_a * (uint32_t)p_b);"),
        "{c}"
    );
    assert!(
        c.contains("= (int32_t)((uint32_t)0 - (uint32_t)p_a);"),
        "{c}"
    );
    // Shifts mask the amount to the width; left shifts run unsigned.
    assert!(
        c.contains("= (int32_t)((uint32_t)p_a << ((uint32_t)p_sh & 31u));"),
        "{c}"
    );
    assert!(
        c.contains("= (int32_t)(p_a >> ((uint32_t)p_b & 31u));"),
        "{c}"
    );
    // Division faults on zero and on MIN / -1.
    assert!(
        c.contains("int32_t spindle_t1 = spindle_div_i32(spindle_fault, p_a, p_b);"),
        "{c}"
    );
    assert!(c.contains("if (b == 0) spindle_fault_exit(f, SPINDLE_FAULT_DIVIDE_BY_ZERO, SPINDLE_NO_SITE, 0ull, 0ull);"), "{c}");
    assert!(c.contains("if (a == (-2147483647 - 1) && b == (-1)) spindle_fault_exit(f, SPINDLE_FAULT_DIVIDE_OVERFLOW"), "{c}");
    // `acc += b` on i32 is not C's `+=`.
    assert!(
        c.contains("l0_acc = (int32_t)((uint32_t)l0_acc + (uint32_t)p_b);"),
        "{c}"
    );
}

#[test]
fn cuda_narrow_arithmetic_never_promotes_to_signed_int() {
    let c = code(&ops_kernel(Scalar::U16));
    // u16 * u16 would overflow a promoted `int`: computed in uint32_t.
    assert!(
        c.contains("= (uint16_t)((uint32_t)p_a * (uint32_t)p_b);"),
        "{c}"
    );
    assert!(
        c.contains("= (uint16_t)((uint32_t)p_a << ((uint32_t)p_sh & 15u));"),
        "{c}"
    );
    assert!(c.contains("= (uint16_t)~p_a;"), "{c}");
    let c = code(&ops_kernel(Scalar::U32));
    assert!(c.contains("= p_a * p_b;"), "{c}");
    assert!(c.contains("l0_acc += p_b;"), "{c}");
}

#[test]
fn cuda_indexed_compound_assignment_checks_once() {
    let c = code(&ops_kernel(Scalar::I8));
    assert!(
        c.contains(
            "int8_t& spindle_t3 = p_out[spindle_check_u32(spindle_fault, 0u, p_out_len, 0u)];\n  \
             spindle_t3 = (int8_t)((uint32_t)spindle_t3 + (uint32_t)p_b);"
        ),
        "{c}"
    );
}

#[test]
fn cuda_float_ops() {
    let c = code(&ops_kernel(Scalar::F32));
    assert!(c.contains("= fmodf(p_a, p_b);"), "{c}");
    assert!(c.contains("= p_a / p_b;"), "{c}");
    assert!(c.contains("= -p_a;"), "{c}");
    let c = code(&ops_kernel(Scalar::F64));
    assert!(c.contains("= fmod(p_a, p_b);"), "{c}");
}

#[test]
fn cuda_bool_ops() {
    let c = code(&ops_kernel(Scalar::Bool));
    assert!(c.contains("= (bool)(p_a & p_b);"), "{c}");
    assert!(c.contains("= p_a != p_b;"), "{c}");
    assert!(c.contains("= p_a && p_b;"), "{c}");
    assert!(c.contains("= !p_a;"), "{c}");
}

#[test]
fn cuda_float_to_int_casts_saturate() {
    let c = code(&casts_kernel(Scalar::F32));
    assert!(c.contains("= spindle_f32_to_i32(p_v);"), "{c}");
    let helper = "__device__ __forceinline__ int32_t spindle_f32_to_i32(float x) {\n  \
                  if (x != x) return 0;\n  if (x <= (-2147483648.0f)) return (-2147483647 - 1);\n  \
                  if (x >= 2147483648.0f) return 2147483647;\n  return (int32_t)x;\n}";
    assert!(c.contains(helper), "{c}");
    assert!(c.contains("if (x >= 256.0f) return ((uint8_t)255);"), "{c}");
    assert!(c.contains("if (x <= 0.0f) return ((uint8_t)0);"), "{c}");
    assert!(
        c.contains("if (x >= 18446744073709551616.0f) return 18446744073709551615ull;")
            || c.contains("if (x >= 1.8446744e19f) return 18446744073709551615ull;"),
        "{c}"
    );
    let c = code(&casts_kernel(Scalar::I8));
    assert!(c.contains("= (float)p_v;"), "{c}");
    assert!(c.contains("= (uint64_t)p_v;"), "{c}");
    let c = code(&casts_kernel(Scalar::Bool));
    assert!(c.contains("= (uint32_t)p_v;"), "{c}");
}
