//! Value ranges of integer expressions, so the emitter can write index
//! arithmetic that ptxas keeps in few registers.
//!
//! Why it matters: a kernel indexes with `u32` arithmetic on thread
//! indices and `for` variables, and C's unsigned arithmetic wraps, so
//! NVVM cannot move a bounds check `ty * 32 + k < 1024` to the form
//! `ty * 32 < 1024 - k` that compares a register with a constant. Once a
//! loop over `k` is unrolled, every `ty * 32 + k` (and its 64-bit widening)
//! is then a separate loop-invariant value that NVVM and ptxas hoist out of
//! the enclosing loop and keep live: a tiled matrix multiply went from the
//! CUDA original's 30 registers to 154. Where this module proves that an
//! expression and its operands stay within `i32` (or `i64`), the emitter
//! writes it in signed arithmetic (no wrap, so NVVM may reassociate and
//! fold the comparison into constants), compares bounds checks in 32 bits,
//! and drops a check whose index provably lies below a constant length.
//!
//! The facts used, all of which hold for every launch CUDA accepts (and
//! the host shims follow the same limits): `threadIdx.x, .y < 1024`,
//! `threadIdx.z < 64`, `blockDim` in `1..=1024` (`1..=64` for `z`),
//! `blockIdx.x < 2^31 - 1`, `blockIdx.y, .z < 65535`, `gridDim` likewise
//! plus one, a lane below 32; a literal is its value; a `for` variable lies
//! between its range's bounds; a local with one definition and no other
//! write has the range of that definition; and the operators' exact
//! interval arithmetic, widened to the whole type wherever it could wrap.
//! Everything else (memory, calls, parameters, mutated locals) may hold
//! any value of its type. The analysis is flow-insensitive, so each fact
//! holds at every point where the value can be read.

use std::cell::RefCell;

use super::scalar::{int_max, int_min};
use crate::ir::{
    BinOp, Block, Expr, ExprKind, Function, Intrinsic, Lit, LocalId, Place, PlaceRoot, Scalar,
    StmtKind, UnOp,
};

/// A non-empty closed interval of integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interval {
    pub(crate) lo: i128,
    pub(crate) hi: i128,
}

impl Interval {
    pub(crate) const fn new(lo: i128, hi: i128) -> Interval {
        Interval { lo, hi }
    }

    /// Every value of an integer type.
    pub(crate) fn full(s: Scalar) -> Interval {
        Interval::new(int_min(s), int_max(s))
    }

    /// `self` lies within `other`.
    pub(crate) fn within(self, other: Interval) -> bool {
        other.lo <= self.lo && self.hi <= other.hi
    }

    /// `self` if it lies within the type, else the whole type (the value
    /// may have wrapped).
    fn or_full(self, s: Scalar) -> Interval {
        let full = Interval::full(s);
        if self.within(full) {
            self
        } else {
            full
        }
    }

    fn nonneg(self) -> bool {
        self.lo >= 0
    }
}

/// The signed C types the emitter can do non-wrapping arithmetic in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signed {
    I32,
    I64,
}

impl Signed {
    pub(crate) fn scalar(self) -> Scalar {
        match self {
            Signed::I32 => Scalar::I32,
            Signed::I64 => Scalar::I64,
        }
    }

    pub(crate) fn interval(self) -> Interval {
        Interval::full(self.scalar())
    }
}

/// How a local gets its value.
#[derive(Clone, Copy)]
enum Def<'f> {
    /// Unknown: a parameter-like value, or written more than once.
    Any,
    /// `let x = init;`, never written again.
    Let(&'f Expr),
    /// The variable of `for x in start..end` (`..=end` when inclusive).
    For {
        start: &'f Expr,
        end: &'f Expr,
        inclusive: bool,
    },
}

#[derive(Clone, Copy)]
enum Memo {
    Todo,
    Busy,
    Done(Interval),
}

/// The ranges of one function's integer expressions.
pub(crate) struct Ranges<'f> {
    f: &'f Function,
    defs: Vec<Def<'f>>,
    memo: RefCell<Vec<Memo>>,
}

impl<'f> Ranges<'f> {
    pub(crate) fn new(f: &'f Function) -> Ranges<'f> {
        let mut defs = Definitions {
            defs: vec![None; f.locals.len()],
            written: vec![false; f.locals.len()],
        };
        defs.block(&f.body);
        let defs = (0..f.locals.len())
            .map(|i| match (defs.defs[i], defs.written[i]) {
                (Some(Some(d)), false) if !matches!(d, Def::For { .. }) || !f.locals[i].mutable => {
                    d
                }
                _ => Def::Any,
            })
            .collect();
        Ranges {
            f,
            defs,
            memo: RefCell::new(vec![Memo::Todo; f.locals.len()]),
        }
    }

    /// The values an integer expression can have; `None` for other types.
    pub(crate) fn of(&self, e: &Expr) -> Option<Interval> {
        let s = e.ty.as_scalar().filter(|s| s.is_int())?;
        let r = match self.exact(e) {
            Some(r) => r.or_full(s),
            None => self.other(e, s),
        };
        Some(r)
    }

    /// The exact values of `a op b` for `+`, `-`, `*` (as if computed
    /// without wrapping), when the operands' ranges are known.
    pub(crate) fn exact(&self, e: &Expr) -> Option<Interval> {
        let ExprKind::Binary(op, a, b) = &e.kind else {
            return None;
        };
        let (x, y) = (self.of(a)?, self.of(b)?);
        let r = match op {
            BinOp::Add => Interval::new(x.lo.checked_add(y.lo)?, x.hi.checked_add(y.hi)?),
            BinOp::Sub => Interval::new(x.lo.checked_sub(y.hi)?, x.hi.checked_sub(y.lo)?),
            BinOp::Mul => {
                let p = [
                    x.lo.checked_mul(y.lo)?,
                    x.lo.checked_mul(y.hi)?,
                    x.hi.checked_mul(y.lo)?,
                    x.hi.checked_mul(y.hi)?,
                ];
                Interval::new(*p.iter().min()?, *p.iter().max()?)
            }
            _ => return None,
        };
        Some(r)
    }

    /// The narrowest signed C type in which `e` (an integer `+`, `-` or
    /// `*`) and its operands all fit without wrapping, if any: the emitter
    /// may then compute it there.
    pub(crate) fn no_wrap(&self, e: &Expr) -> Option<Signed> {
        let ExprKind::Binary(BinOp::Add | BinOp::Sub | BinOp::Mul, a, b) = &e.kind else {
            return None;
        };
        let s = e.ty.as_scalar().filter(|s| s.is_int())?;
        let r = self.exact(e)?;
        if !r.within(Interval::full(s)) {
            return None;
        }
        let (x, y) = (self.of(a)?, self.of(b)?);
        let fits = |n: Signed| [r, x, y].iter().all(|v| v.within(n.interval()));
        if fits(Signed::I32) {
            Some(Signed::I32)
        } else if s.bits() == 64 && fits(Signed::I64) {
            Some(Signed::I64)
        } else {
            None
        }
    }

    /// Everything but `+`, `-`, `*` of known operands.
    fn other(&self, e: &Expr, s: Scalar) -> Interval {
        let full = Interval::full(s);
        let r = match &e.kind {
            ExprKind::Lit(Lit::Int(v)) => Interval::new(*v, *v),
            ExprKind::Load(p) => self.load(p).unwrap_or(full),
            ExprKind::Field(inner, field) => geometry(inner, *field).unwrap_or(full),
            ExprKind::Intrinsic(i, args) => self.intrinsic(*i, args).unwrap_or(full),
            ExprKind::Cast(a) => match a.ty.as_scalar() {
                Some(Scalar::Bool) => Interval::new(0, 1),
                Some(from) if from.is_int() => self.of(a).unwrap_or(full),
                _ => full,
            },
            ExprKind::Unary(UnOp::Neg, a) => self
                .of(a)
                .and_then(|x| Some(Interval::new(x.hi.checked_neg()?, x.lo.checked_neg()?)))
                .unwrap_or(full),
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, s).unwrap_or(full),
            ExprKind::Check { index, .. } => self.of(index).unwrap_or(full),
            _ => full,
        };
        r.or_full(s)
    }

    fn binary(&self, op: BinOp, a: &Expr, b: &Expr, s: Scalar) -> Option<Interval> {
        let (x, y) = (self.of(a)?, self.of(b)?);
        match op {
            // A zero divisor faults, so a value that is produced had a
            // divisor of at least 1.
            BinOp::Div if x.nonneg() && y.nonneg() && y.hi >= 1 => {
                Some(Interval::new(x.lo / y.hi, x.hi / y.lo.max(1)))
            }
            BinOp::Rem if x.nonneg() && y.nonneg() && y.hi >= 1 => {
                Some(Interval::new(0, x.hi.min(y.hi - 1)))
            }
            BinOp::BitAnd if x.nonneg() && y.nonneg() => Some(Interval::new(0, x.hi.min(y.hi))),
            BinOp::BitOr | BinOp::BitXor if x.nonneg() && y.nonneg() => {
                Some(Interval::new(0, all_ones_to(x.hi.max(y.hi))))
            }
            // Shift amounts are masked to the width, so an amount known
            // to lie below it is used as it is.
            BinOp::Shr if x.nonneg() && y.lo >= 0 && y.hi < s.bits() as i128 => {
                Some(Interval::new(x.lo >> y.hi, x.hi >> y.lo))
            }
            BinOp::Shl if x.nonneg() && y.lo >= 0 && y.hi < s.bits() as i128 => Some(
                Interval::new(x.lo.checked_shl(y.lo as u32)?, shl(x.hi, y.hi as u32)?),
            ),
            _ => None,
        }
    }

    fn intrinsic(&self, i: Intrinsic, args: &[Expr]) -> Option<Interval> {
        let arg = |k: usize| args.get(k).and_then(|a| self.of(a));
        let bits = |k: usize| {
            let s = args.get(k)?.ty.as_scalar()?;
            Some(Interval::new(0, s.bits() as i128))
        };
        match i {
            Intrinsic::GlobalIndex => Some(Interval::new(
                0,
                (BLOCK_IDX_X_MAX as i128) * (THREADS_MAX as i128) + (THREADS_MAX as i128 - 1),
            )),
            Intrinsic::LaneId => Some(Interval::new(0, crate::ir::WARP_SIZE as i128 - 1)),
            Intrinsic::Min => {
                let (x, y) = (arg(0)?, arg(1)?);
                Some(Interval::new(x.lo.min(y.lo), x.hi.min(y.hi)))
            }
            Intrinsic::Max => {
                let (x, y) = (arg(0)?, arg(1)?);
                Some(Interval::new(x.lo.max(y.lo), x.hi.max(y.hi)))
            }
            Intrinsic::CountOnes
            | Intrinsic::CountZeros
            | Intrinsic::LeadingZeros
            | Intrinsic::TrailingZeros => bits(0),
            _ => None,
        }
    }

    /// A local read whole.
    fn load(&self, p: &Place) -> Option<Interval> {
        let PlaceRoot::Local(id) = p.root else {
            return None;
        };
        if !p.proj.is_empty() {
            return None;
        }
        let s = p.ty.as_scalar().filter(|s| s.is_int())?;
        Some(self.local(id).unwrap_or(Interval::full(s)))
    }

    fn local(&self, id: LocalId) -> Option<Interval> {
        let i = id as usize;
        let state = *self.memo.borrow().get(i)?;
        match state {
            Memo::Done(r) => return Some(r),
            // A definition that (through others) reads itself: assume anything.
            Memo::Busy => return None,
            Memo::Todo => {}
        }
        self.memo.borrow_mut()[i] = Memo::Busy;
        let s = self.f.locals[i].ty.as_scalar().filter(|s| s.is_int())?;
        let r = match self.defs[i] {
            Def::Any => None,
            Def::Let(init) => self.of(init),
            Def::For {
                start,
                end,
                inclusive,
            } => self.of(start).zip(self.of(end)).map(|(a, b)| {
                let hi = if inclusive { b.hi } else { b.hi - 1 };
                // An empty range never runs the body: any interval will do.
                Interval::new(a.lo, hi.max(a.lo))
            }),
        }
        .unwrap_or(Interval::full(s));
        self.memo.borrow_mut()[i] = Memo::Done(r);
        Some(r)
    }
}

/// Threads per block, and the largest `x` block index, CUDA allows.
const THREADS_MAX: u32 = crate::ir::MAX_BLOCK_THREADS;
const BLOCK_IDX_X_MAX: u32 = (1 << 31) - 2;

/// `thread_idx().x` and the like.
fn geometry(inner: &Expr, field: u32) -> Option<Interval> {
    let ExprKind::Intrinsic(i, args) = &inner.kind else {
        return None;
    };
    if !args.is_empty() {
        return None;
    }
    let grid_max: i128 = if field == 0 {
        BLOCK_IDX_X_MAX as i128 + 1
    } else {
        65535
    };
    let threads_max: i128 = if field == 2 {
        crate::ir::MAX_BLOCK_Z as i128
    } else {
        THREADS_MAX as i128
    };
    let r = match i {
        Intrinsic::ThreadIdx => Interval::new(0, threads_max - 1),
        Intrinsic::BlockDim => Interval::new(1, threads_max),
        Intrinsic::BlockIdx => Interval::new(0, grid_max - 1),
        Intrinsic::GridDim => Interval::new(1, grid_max),
        _ => return None,
    };
    (field < 3).then_some(r)
}

/// The smallest `2^k - 1` that is at least `v` (`v ≥ 0`).
fn all_ones_to(v: i128) -> i128 {
    let mut m = 0i128;
    while m < v {
        m = m * 2 + 1;
    }
    m
}

/// `v << n` for `v ≥ 0`, if it does not overflow `i128`.
fn shl(v: i128, n: u32) -> Option<i128> {
    let r = v.checked_shl(n)?;
    (r >> n == v).then_some(r)
}

/// Finds each local's definitions and whether anything else writes it.
struct Definitions<'f> {
    /// `None`: no definition seen; `Some(None)`: more than one.
    defs: Vec<Option<Option<Def<'f>>>>,
    written: Vec<bool>,
}

impl<'f> Definitions<'f> {
    fn define(&mut self, id: LocalId, d: Def<'f>) {
        if let Some(slot) = self.defs.get_mut(id as usize) {
            *slot = match slot {
                None => Some(Some(d)),
                Some(_) => Some(None),
            };
        }
    }

    fn write(&mut self, p: &Place) {
        if let PlaceRoot::Local(id) = p.root {
            if let Some(w) = self.written.get_mut(id as usize) {
                *w = true;
            }
        }
    }

    fn block(&mut self, b: &'f Block) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Let { local, init } => match init {
                    Some(e) => {
                        self.define(*local, Def::Let(e));
                        self.expr(e);
                    }
                    None => self.define(*local, Def::Any),
                },
                StmtKind::Assign { place, value }
                | StmtKind::CompoundAssign { place, value, .. } => {
                    self.write(place);
                    self.expr(value);
                }
                StmtKind::Expr(e) | StmtKind::Return(Some(e)) => self.expr(e),
                StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                } => {
                    self.expr(cond);
                    self.block(then_block);
                    self.block(else_block);
                }
                StmtKind::While { cond, body, .. } => {
                    self.expr(cond);
                    self.block(body);
                }
                StmtKind::Loop { body, .. } => self.block(body),
                StmtKind::For {
                    var,
                    start,
                    end,
                    inclusive,
                    body,
                    ..
                } => {
                    self.define(
                        *var,
                        Def::For {
                            start,
                            end,
                            inclusive: *inclusive,
                        },
                    );
                    self.block(body);
                }
                StmtKind::Block(b) => self.block(b),
                StmtKind::Return(None) | StmtKind::Break(_) | StmtKind::Continue(_) => {}
            }
        }
    }

    /// Atomics write a place, and a borrow lends one to a callee that
    /// may write it.
    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Atomic { place, args, .. } => {
                self.write(place);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Borrow(place) => self.write(place),
            ExprKind::Unary(_, a)
            | ExprKind::Cast(a)
            | ExprKind::Field(a, _)
            | ExprKind::ArrayRepeat(a, _)
            | ExprKind::Assert { cond: a, .. } => self.expr(a),
            ExprKind::Binary(_, a, b)
            | ExprKind::Check {
                index: a, len: b, ..
            } => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Call(_, args)
            | ExprKind::Intrinsic(_, args)
            | ExprKind::Collective { args, .. }
            | ExprKind::StructLit(args)
            | ExprKind::ArrayLit(args) => args.iter().for_each(|a| self.expr(a)),
            // A place's indices may hold calls that borrow.
            ExprKind::Load(p) => {
                for pr in &p.proj {
                    if let crate::ir::Proj::Index { index, .. } = pr {
                        self.expr(index);
                    }
                }
            }
            ExprKind::Lit(_) | ExprKind::SliceLen(_) | ExprKind::DynamicSharedLen(_) => {}
        }
    }
}
