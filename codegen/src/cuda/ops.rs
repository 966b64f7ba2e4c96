//! Operators and casts with Rust semantics, as C expressions over operand
//! texts that are each evaluated exactly once.
//!
//! C++ undefined behaviour never leaks in: signed and narrow integer
//! arithmetic runs in the unsigned type of at least 32 bits and is cast
//! back; shift amounts are masked; division checks its divisor; float→int
//! casts saturate explicitly.

use super::expr::paren;
use super::scalar::{
    float_lit, int_lit, int_max, int_min, tag, unsigned_c, wide_c, wraps_natively,
};
use super::Ctx;
use crate::ir::{BinOp, Scalar, UnOp};

impl Ctx<'_> {
    /// `a op b` where both operands have type `s` (for shifts, `b` has type
    /// `rhs`); comparisons give `bool`.
    pub(crate) fn binary(&mut self, op: BinOp, s: Scalar, rhs: Scalar, a: &str, b: &str) -> String {
        let c = s.c_name();
        if op.is_comparison() {
            let sym = match op {
                BinOp::Eq => "==",
                BinOp::Ne => "!=",
                BinOp::Lt => "<",
                BinOp::Le => "<=",
                BinOp::Gt => ">",
                _ => ">=",
            };
            return format!("({a} {sym} {b})");
        }
        if s.is_float() {
            return match op {
                BinOp::Add => format!("({a} + {b})"),
                BinOp::Sub => format!("({a} - {b})"),
                BinOp::Mul => format!("({a} * {b})"),
                BinOp::Div => format!("({a} / {b})"),
                BinOp::Rem => {
                    let f = if s == Scalar::F32 { "fmodf" } else { "fmod" };
                    format!("{f}({a}, {b})")
                }
                _ => self.invalid(&format!("operator {op:?} on {}", s.rust_name())),
            };
        }
        if s == Scalar::Bool {
            return match op {
                BinOp::And => format!("({a} && {b})"),
                BinOp::Or => format!("({a} || {b})"),
                // Non-short-circuit `&`, `|`, `^` on bool: both sides already evaluated.
                BinOp::BitAnd => format!("((bool)({a} & {b}))"),
                BinOp::BitOr => format!("((bool)({a} | {b}))"),
                BinOp::BitXor => format!("({a} != {b})"),
                _ => self.invalid(&format!("operator {op:?} on bool")),
            };
        }
        let w = wide_c(s);
        match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let sym = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    _ => "*",
                };
                if wraps_natively(s) {
                    format!("({a} {sym} {b})")
                } else {
                    format!("(({c})(({w}){} {sym} ({w}){}))", paren(a), paren(b))
                }
            }
            BinOp::Div | BinOp::Rem => {
                let f = self.div_helper(op == BinOp::Div, s);
                format!("{f}(spindle_fault, {a}, {b})")
            }
            BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => {
                let sym = match op {
                    BinOp::BitAnd => "&",
                    BinOp::BitOr => "|",
                    _ => "^",
                };
                if s.bits() >= 32 {
                    format!("({a} {sym} {b})")
                } else {
                    format!("(({c})({a} {sym} {b}))")
                }
            }
            BinOp::Shl | BinOp::Shr => {
                let amount = if rhs == Scalar::U32 {
                    format!("({b} & {}u)", s.bits() - 1)
                } else {
                    format!("((uint32_t){} & {}u)", paren(b), s.bits() - 1)
                };
                if op == BinOp::Shl {
                    if wraps_natively(s) {
                        format!("({a} << {amount})")
                    } else {
                        format!("(({c})(({w}){} << {amount}))", paren(a))
                    }
                } else if wraps_natively(s) {
                    format!("({a} >> {amount})")
                } else {
                    // Signed: arithmetic shift (the promoted value keeps its sign).
                    format!("(({c})({a} >> {amount}))")
                }
            }
            BinOp::And | BinOp::Or => {
                format!("({a} {} {b})", if op == BinOp::And { "&&" } else { "||" })
            }
            _ => self.invalid(&format!("operator {op:?} on {}", s.rust_name())),
        }
    }

    /// `-a` (wrapping for integers) or `!a` (logical on bool, bitwise on integers).
    pub(crate) fn unary(&mut self, op: UnOp, s: Scalar, a: &str) -> String {
        let c = s.c_name();
        match (op, s) {
            (UnOp::Not, Scalar::Bool) => format!("(!{a})"),
            (UnOp::Not, _) if s.is_int() => format!("(({c})~{a})"),
            (UnOp::Neg, _) if s.is_float() => format!("(-{a})"),
            (UnOp::Neg, _) if s.is_int() => {
                let w = wide_c(s);
                format!("(({c})(({w})0 - ({w}){}))", paren(a))
            }
            _ => self.invalid(&format!("operator {op:?} on {}", s.rust_name())),
        }
    }

    /// `a as to` for a value of type `from`.
    pub(crate) fn cast(&mut self, from: Scalar, to: Scalar, a: &str) -> String {
        if from.c_name() == to.c_name() {
            return a.to_string();
        }
        if from.is_float() && to.is_int() {
            let f = self.float_to_int_helper(from, to);
            return format!("{f}({a})");
        }
        if to == Scalar::Bool {
            // Not a Rust cast; kept total for robustness.
            return format!("({a} != 0)");
        }
        // int→int truncates or extends by the source's signedness, int→float
        // rounds to nearest, bool→number is 0/1, f64→f32 rounds to nearest:
        // exactly C's conversions for values that fit, which these are.
        format!("(({}){})", to.c_name(), paren(a))
    }

    /// `spindle_div_i32` / `spindle_rem_i32`: faults on a zero divisor and on
    /// `MIN / -1`, as Rust panics on both.
    fn div_helper(&mut self, div: bool, s: Scalar) -> String {
        let name = format!("spindle_{}_{}", if div { "div" } else { "rem" }, tag(s));
        self.helper(&name, |_| {
            let c = s.c_name();
            let sym = if div { "/" } else { "%" };
            let overflow = if s.is_signed_int() {
                format!(
                    "  if (a == {} && b == {}) spindle_fault_exit(f, SPINDLE_FAULT_DIVIDE_OVERFLOW, SPINDLE_NO_SITE, 0ull, 0ull);\n",
                    int_lit(s, int_min(s)),
                    int_lit(s, -1)
                )
            } else {
                String::new()
            };
            format!(
                "__device__ __forceinline__ {c} {name}(SpindleFault* f, {c} a, {c} b) {{\n  \
                 if (b == {zero}) spindle_fault_exit(f, SPINDLE_FAULT_DIVIDE_BY_ZERO, SPINDLE_NO_SITE, 0ull, 0ull);\n\
                 {overflow}  return ({c})(a {sym} b);\n}}\n",
                zero = int_lit(s, 0),
            )
        })
    }

    /// `spindle_f32_to_i32`: saturating, NaN → 0, as Rust's `as`.
    fn float_to_int_helper(&mut self, from: Scalar, to: Scalar) -> String {
        let name = format!("spindle_{}_to_{}", tag(from), tag(to));
        self.helper(&name, |_| {
            let fc = from.c_name();
            let c = to.c_name();
            // Both bounds are powers of two, exact in either float type.
            let lo = float_lit(from, int_min(to) as f64);
            let hi = float_lit(from, (int_max(to) + 1) as f64);
            let below = if to.is_signed_int() {
                format!("  if (x <= {lo}) return {};\n", int_lit(to, int_min(to)))
            } else {
                // Also catches (-1, 0), which truncates to 0 anyway.
                format!("  if (x <= {lo}) return {};\n", int_lit(to, 0))
            };
            format!(
                "__device__ __forceinline__ {c} {name}({fc} x) {{\n  \
                 if (x != x) return {zero};\n{below}  if (x >= {hi}) return {max};\n  \
                 return ({c})x;\n}}\n",
                zero = int_lit(to, 0),
                max = int_lit(to, int_max(to)),
            )
        })
    }
}

/// `(uint32_t)(uint8_t)(x)`: an integer's bits zero-extended to the helper
/// width (32 or 64 bits).
pub(crate) fn zero_extended(s: Scalar, a: &str) -> String {
    let u = unsigned_c(s);
    let w = wide_c(s);
    // A cast binds tighter than every binary operator: no outer parentheses needed.
    if u == w {
        format!("({w}){}", paren(a))
    } else {
        format!("({w})({u}){}", paren(a))
    }
}
