//! Bounds checks, and the integer arithmetic they compare, written so that
//! ptxas keeps them in few registers (the reasons are in `range.rs`).
//!
//! - `+`, `-`, `*` that provably never wrap are computed in `int32_t` (or
//!   `int64_t`): signed overflow cannot happen, so NVVM may treat the
//!   arithmetic as exact and fold `i + c < n` into `i < n - c`.
//! - A check is dropped when its index provably lies below a constant
//!   length (an array or block-shared array).
//! - A check of an index that provably lies in `0..2^31` against a constant
//!   length compares in signed 32 bits (`spindle_check_i32`); one whose
//!   index fits in 32 bits compares without widening it first and hands
//!   the out-of-line fault path a 32-bit index (`spindle_check_u32`);
//!   every other index is checked in 64 bits (`spindle_check`).
//!
//! Every check still records the same fault (kind, site, index, length,
//! block, thread) through the out-of-line `spindle_fault_exit` of the
//! prelude; the hot path is a compare and a branch the compiler is told is
//! unlikely.

use super::expr::paren;
use super::range::{Interval, Signed};
use super::scalar::int_lit;
use super::stmt::FnEmitter;
use crate::ir::{BinOp, Expr, ExprKind, Lit, SiteId};

/// The length an index is checked against.
pub(crate) enum Len {
    /// An array's: known when emitting.
    Const(u32),
    /// A slice's or dynamic shared view's: the C expression that holds it.
    Runtime(String),
}

impl Signed {
    fn c_name(self) -> &'static str {
        self.scalar().c_name()
    }
}

impl FnEmitter<'_, '_> {
    /// `a + b`, `a - b` or `a * b` in signed arithmetic, when it provably
    /// never wraps and evaluating it has no effects (so operand order does
    /// not matter); `None` otherwise.
    pub(crate) fn no_wrap_binary(&mut self, e: &Expr) -> Option<String> {
        let n = self.ranges.no_wrap(e)?;
        if self.effects(e) {
            return None;
        }
        let text = self.signed(e, n);
        let c = self.ctx.c_type(&e.ty);
        Some(if c == n.c_name() {
            text
        } else {
            format!("(({c}){text})")
        })
    }

    /// The C text, of type `n`, of an effect-free integer expression whose
    /// range lies within `n`.
    fn signed(&mut self, e: &Expr, n: Signed) -> String {
        if let ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub | BinOp::Mul), a, b) = &e.kind {
            let narrow_enough = match self.ranges.no_wrap(e) {
                Some(m) => m == n || m == Signed::I32,
                None => false,
            };
            if narrow_enough {
                let x = self.signed(a, n);
                let y = self.signed(b, n);
                let sym = match op {
                    BinOp::Add => "+",
                    BinOp::Sub => "-",
                    _ => "*",
                };
                return format!("({x} {sym} {y})");
            }
        }
        if let ExprKind::Lit(Lit::Int(v)) = e.kind {
            return int_lit(n.scalar(), v);
        }
        if let ExprKind::Cast(inner) = &e.kind {
            if self
                .ranges
                .of(inner)
                .is_some_and(|r| r.within(n.interval()))
            {
                // A conversion that keeps the value: `(u32 expr) as usize`.
                return self.signed(inner, n);
            }
        }
        let text = self.expr(e);
        if self.ctx.c_type(&e.ty) == n.c_name() {
            text
        } else {
            format!("({}){}", n.c_name(), paren(&text))
        }
    }

    /// The C text of `index` checked against `len` (see the module doc),
    /// and whether it still holds a check.
    pub(crate) fn checked_index(&mut self, index: &Expr, len: Len, site: SiteId) -> (String, bool) {
        let r = self
            .ranges
            .of(index)
            .unwrap_or(Interval::new(0, u64::MAX as i128));
        let u32_max = Interval::new(0, u32::MAX as i128);
        let i32_max = Interval::new(0, i32::MAX as i128);
        let text = match len {
            Len::Const(n) if r.within(Interval::new(0, n as i128 - 1)) => {
                return (self.expr(index), false)
            }
            Len::Const(n) if r.within(i32_max) && n <= i32::MAX as u32 && !self.effects(index) => {
                let i = self.signed(index, Signed::I32);
                let i = super::expr::bare(&i);
                format!("spindle_check_i32(spindle_fault, {i}, {n}, {site}u)")
            }
            len if r.within(u32_max) => {
                let i = self.u32_index(index);
                format!(
                    "spindle_check_u32(spindle_fault, {i}, {}, {site}u)",
                    len_text(len)
                )
            }
            len => {
                let i = self.expr(index);
                format!(
                    "spindle_check(spindle_fault, {}, {}, {site}u)",
                    super::expr::bare(&i),
                    len_text(len)
                )
            }
        };
        (text, true)
    }

    /// [`ExprKind::Check`]: `index` after its check, the operands
    /// evaluated in order (without bounds checks, `index` alone).
    pub(crate) fn check(
        &mut self,
        index: &Expr,
        len: &Expr,
        site: SiteId,
        inclusive: bool,
    ) -> String {
        let v = self.operands([index, len]);
        if !self.ctx.kernel.bounds_checks {
            return v[0].clone();
        }
        let f = if inclusive {
            "spindle_check_le"
        } else {
            "spindle_check"
        };
        format!(
            "{f}(spindle_fault, {}, {}, {site}u)",
            super::expr::bare(&v[0]),
            super::expr::bare(&v[1])
        )
    }

    /// `index` (a `usize` that fits in 32 bits) as a `uint32_t`, without
    /// the widening its source may have (`(u32 expr) as usize`).
    fn u32_index(&mut self, index: &Expr) -> String {
        let u32_max = Interval::new(0, u32::MAX as i128);
        if let ExprKind::Lit(Lit::Int(v)) = index.kind {
            return format!("{v}u");
        }
        let inner = match &index.kind {
            ExprKind::Cast(inner) if self.ranges.of(inner).is_some_and(|r| r.within(u32_max)) => {
                &**inner
            }
            _ => index,
        };
        let text = self.expr(inner);
        if self.ctx.c_type(&inner.ty) == "uint32_t" {
            super::expr::bare(&text).to_string()
        } else {
            format!("(uint32_t){}", paren(&text))
        }
    }
}

fn len_text(len: Len) -> String {
    match len {
        Len::Const(n) => format!("{n}ull"),
        Len::Runtime(text) => text,
    }
}
