//! Expressions, places and calls of the IR → instructions.
//!
//! An expression compiles to a [`Val`]: a register (possibly a local's or a
//! fixed one, read without copying) or, for structs and arrays, an address.
//! Expressions never write locals, so reading a local in place is safe.

use spindle_codegen::ir::{
    BinOp, Expr, ExprKind, FnId, Intrinsic, Lit, ParamKind, Place, PlaceRoot, Proj, Scalar, Ty,
};

use super::compile::{scalar_of, CompileResult, Compiler, FnCtx, Storage, MAX_INLINE_DEPTH};
use super::compile_place::Loc;
use super::intrinsics::{self, IntrinsicKernel};
use super::ops::{self, BinKernel};
use super::program::{Addr, Fixed, Inst, Len, Reg, Root, Width};

/// The value of a compiled expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Val {
    Reg(Reg),
    Mem(Addr),
    Unit,
}

impl<'k> Compiler<'k> {
    pub fn reg_of(&self, v: Val) -> CompileResult<Reg> {
        match v {
            Val::Reg(r) => Ok(r),
            other => Err(format!("expected a scalar value, found {other:?}")),
        }
    }

    pub fn addr_of(&self, v: Val) -> CompileResult<Addr> {
        match v {
            Val::Mem(a) => Ok(a),
            other => Err(format!("expected a struct or array value, found {other:?}")),
        }
    }

    /// A scalar expression, computed into `dst` when it needs a new
    /// register; returns the register holding the value.
    pub fn scalar_into(
        &mut self,
        cx: &mut FnCtx<'_>,
        e: &Expr,
        dst: Option<Reg>,
    ) -> CompileResult<Reg> {
        let v = self.expr(cx, e, dst)?;
        self.reg_of(v)
    }

    /// A struct or array expression: the address of its value.
    pub fn aggregate(&mut self, cx: &mut FnCtx<'_>, e: &Expr) -> CompileResult<Addr> {
        let v = self.expr(cx, e, None)?;
        self.addr_of(v)
    }

    /// `dst`, or a new temporary.
    pub fn dst(&mut self, dst: Option<Reg>) -> Reg {
        dst.unwrap_or_else(|| self.temp())
    }

    pub fn expr(&mut self, cx: &mut FnCtx<'_>, e: &Expr, dst: Option<Reg>) -> CompileResult<Val> {
        match &e.kind {
            ExprKind::Lit(lit) => Ok(Val::Reg(self.literal(*lit, &e.ty)?)),
            ExprKind::Atomic { op, place, args } => self.atomic(cx, *op, place, args, &e.ty, dst),
            ExprKind::Collective { op, args, site } => {
                self.collective(cx, *op, args, *site, &e.ty, dst)
            }
            ExprKind::Load(place) => {
                let loc = self.place(cx, place)?;
                self.load_loc(loc, &place.ty, dst)
            }
            ExprKind::Unary(op, a) => {
                let s = scalar_of(&a.ty)?;
                let a = self.scalar_into(cx, a, None)?;
                let f =
                    ops::unary(*op, s).ok_or_else(|| format!("`{op:?}` on `{}`", s.rust_name()))?;
                let d = self.dst(dst);
                self.emit(Inst::Map1 { f, d, a });
                Ok(Val::Reg(d))
            }
            ExprKind::Binary(op @ (BinOp::And | BinOp::Or), a, b) => self.logic(cx, *op, a, b, dst),
            ExprKind::Binary(op, a, b) => {
                let s = scalar_of(&a.ty)?;
                let ra = self.scalar_into(cx, a, None)?;
                let rb = self.scalar_into(cx, b, None)?;
                Ok(Val::Reg(self.binary_regs(*op, s, &b.ty, ra, rb, dst)?))
            }
            ExprKind::Cast(a) => {
                let (from, to) = (scalar_of(&a.ty)?, scalar_of(&e.ty)?);
                let r = self.scalar_into(cx, a, None)?;
                Ok(Val::Reg(self.cast_reg(r, from, to, dst)?))
            }
            ExprKind::Call(f, args) => self.call(cx, *f, args, &e.ty),
            ExprKind::Borrow(_) => Err("a borrow outside a call argument".into()),
            ExprKind::Intrinsic(i, args) => self.intrinsic(cx, *i, args, &e.ty, dst),
            ExprKind::StructLit(fields) => {
                let Ty::Struct(id) = e.ty else {
                    return Err(format!("a struct literal of type {:?}", e.ty));
                };
                let def = self.k.struct_def(id);
                if def.fields.len() != fields.len() {
                    return Err(format!(
                        "struct `{}` literal with {} fields",
                        def.name,
                        fields.len()
                    ));
                }
                let parts: Vec<(u32, Ty)> = def
                    .fields
                    .iter()
                    .map(|f| (f.offset, f.ty.clone()))
                    .collect();
                let mut vals = Vec::with_capacity(fields.len());
                for f in fields {
                    vals.push(self.expr(cx, f, None)?);
                }
                let at = self.blob(self.size_of(&e.ty)?)?;
                for ((offset, ty), v) in parts.iter().zip(vals) {
                    let part = Addr {
                        konst: at.konst + offset,
                        ..at
                    };
                    self.store(
                        Loc::Mem {
                            at: part,
                            writable: true,
                        },
                        v,
                        ty,
                    )?;
                }
                Ok(Val::Mem(at))
            }
            ExprKind::ArrayLit(elems) => {
                let Ty::Array(elem_ty, len) = &e.ty else {
                    return Err(format!("an array literal of type {:?}", e.ty));
                };
                if *len as usize != elems.len() {
                    return Err(format!(
                        "array literal of {} elements for [_; {len}]",
                        elems.len()
                    ));
                }
                let stride = self.size_of(elem_ty)?;
                let mut vals = Vec::with_capacity(elems.len());
                for x in elems {
                    vals.push(self.expr(cx, x, None)?);
                }
                let at = self.blob(self.size_of(&e.ty)?)?;
                for (k, v) in vals.into_iter().enumerate() {
                    let part = Addr {
                        konst: at.konst + k as u32 * stride,
                        ..at
                    };
                    self.store(
                        Loc::Mem {
                            at: part,
                            writable: true,
                        },
                        v,
                        elem_ty,
                    )?;
                }
                Ok(Val::Mem(at))
            }
            ExprKind::ArrayRepeat(x, count) => {
                let Ty::Array(elem_ty, _) = &e.ty else {
                    return Err(format!("an array repeat of type {:?}", e.ty));
                };
                let elem = self.size_of(elem_ty)?;
                let v = self.expr(cx, x, None)?;
                let at = self.blob(self.size_of(&e.ty)?)?;
                if *count > 0 {
                    self.store(Loc::Mem { at, writable: true }, v, elem_ty)?;
                    self.emit(Inst::Repeat {
                        elem,
                        count: *count,
                        at,
                    });
                }
                Ok(Val::Mem(at))
            }
            ExprKind::Field(inner, field) => {
                if let ExprKind::Intrinsic(i, args) = &inner.kind {
                    if let (Some(axis), true) = (geometry(*i, 0), args.is_empty()) {
                        let _ = axis;
                        if *field > 2 {
                            return Err(format!("field {field} of Dim3"));
                        }
                        return Ok(Val::Reg(self.fixed(geometry(*i, *field as u8).unwrap())));
                    }
                }
                let Ty::Struct(id) = inner.ty else {
                    return Err(format!("a field of type {:?}", inner.ty));
                };
                let def = self.k.struct_def(id);
                let fd = def
                    .fields
                    .get(*field as usize)
                    .ok_or_else(|| format!("field {field} of `{}`", def.name))?;
                let (offset, ty) = (fd.offset, fd.ty.clone());
                let base = self.aggregate(cx, inner)?;
                let at = Addr {
                    konst: base.konst + offset,
                    ..base
                };
                self.load_loc(
                    Loc::Mem {
                        at,
                        writable: false,
                    },
                    &ty,
                    dst,
                )
            }
            ExprKind::SliceLen(p) => match cx.params.get(*p as usize) {
                Some(Storage::Slice { slot, .. }) => {
                    Ok(Val::Reg(self.fixed(Fixed::SliceLen(*slot))))
                }
                _ => Err(format!("`.len()` of parameter {p}, which is not a slice")),
            },
            ExprKind::DynamicSharedLen(id) => {
                let (_, elem) = self.dynamic_shared_view(*id)?;
                Ok(Val::Reg(self.fixed(Fixed::DynamicSharedLen(elem))))
            }
            ExprKind::Assert { cond, site } => {
                let cond = self.scalar_into(cx, cond, None)?;
                self.emit(Inst::Assert { cond, site: *site });
                Ok(Val::Unit)
            }
            ExprKind::Check {
                index,
                len,
                site,
                inclusive,
            } => {
                let idx = self.scalar_into(cx, index, None)?;
                let len = self.scalar_into(cx, len, None)?;
                self.emit(Inst::Check {
                    idx,
                    len,
                    site: *site,
                    inclusive: *inclusive,
                });
                Ok(Val::Reg(idx))
            }
        }
    }

    /// The fixed register of a literal.
    fn literal(&mut self, lit: Lit, ty: &Ty) -> CompileResult<Reg> {
        let s = scalar_of(ty)?;
        let w = Width::of_size(s.size());
        let bits = match (lit, s) {
            (Lit::Bool(b), Scalar::Bool) => b as u64,
            (Lit::Int(v), Scalar::F32) => (v as f32).to_bits() as u64,
            (Lit::Int(v), Scalar::F64) => (v as f64).to_bits(),
            (Lit::Int(v), _) if s.is_int() => v as u64,
            (Lit::Float(v), Scalar::F32) => (v as f32).to_bits() as u64,
            (Lit::Float(v), Scalar::F64) => v.to_bits(),
            _ => return Err(format!("literal {lit:?} of type `{}`", s.rust_name())),
        };
        let mask = if w == Width::W8 {
            u64::MAX
        } else {
            (1u64 << (w.bytes() * 8)) - 1
        };
        Ok(self.konst(bits & mask, w))
    }

    /// `a op b` on registers, with `a: s` (and `b: b_ty` for shifts).
    pub fn binary_regs(
        &mut self,
        op: BinOp,
        s: Scalar,
        b_ty: &Ty,
        a: Reg,
        b: Reg,
        dst: Option<Reg>,
    ) -> CompileResult<Reg> {
        let b = if matches!(op, BinOp::Shl | BinOp::Shr) {
            self.cast_reg(b, scalar_of(b_ty)?, Scalar::U32, None)?
        } else {
            b
        };
        let k = ops::binary(op, s).ok_or_else(|| format!("`{op:?}` on `{}`", s.rust_name()))?;
        let d = self.dst(dst);
        // `global_index() < n` and friends: the commonest guard of a kernel.
        let gi = Some(Fixed::GlobalIndex);
        let uniform = |r| self.fixed_kind(r).is_some_and(|f| f.launch_uniform());
        if let (true, BinKernel::Map(fallback)) = (
            op.is_comparison() && matches!(s, Scalar::Usize | Scalar::U64),
            k,
        ) {
            if self.fixed_kind(a) == gi && uniform(b) {
                self.emit(Inst::GlobalCmp {
                    op,
                    fallback,
                    d,
                    a,
                    b,
                });
                return Ok(d);
            }
            if self.fixed_kind(b) == gi && uniform(a) {
                // `n > i` is `i < n`.
                let op = match op {
                    BinOp::Lt => BinOp::Gt,
                    BinOp::Le => BinOp::Ge,
                    BinOp::Gt => BinOp::Lt,
                    BinOp::Ge => BinOp::Le,
                    other => other,
                };
                if let Some(BinKernel::Map(fallback)) = ops::binary(op, s) {
                    self.emit(Inst::GlobalCmp {
                        op,
                        fallback,
                        d,
                        a: b,
                        b: a,
                    });
                    return Ok(d);
                }
            }
        }
        self.emit(match k {
            BinKernel::Map(f) => Inst::Map2 { f, d, a, b },
            BinKernel::Div(f) => Inst::Div { f, d, a, b },
        });
        Ok(d)
    }

    /// `r as to` with `r: from`; no code when the bits stay the same.
    pub fn cast_reg(
        &mut self,
        r: Reg,
        from: Scalar,
        to: Scalar,
        dst: Option<Reg>,
    ) -> CompileResult<Reg> {
        if !ops::needs_code(from, to) {
            return Ok(r);
        }
        let f = ops::cast(from, to)
            .ok_or_else(|| format!("cast `{}` as `{}`", from.rust_name(), to.rust_name()))?;
        let d = self.dst(dst);
        self.emit(Inst::Map1 { f, d, a: r });
        Ok(d)
    }

    /// Short-circuit `&&` / `||`. When the right operand cannot fault it is
    /// computed on every lane and combined bitwise; otherwise it runs only
    /// on the lanes that need it, like an `if`.
    fn logic(
        &mut self,
        cx: &mut FnCtx<'_>,
        op: BinOp,
        a: &Expr,
        b: &Expr,
        dst: Option<Reg>,
    ) -> CompileResult<Val> {
        let ra = self.scalar_into(cx, a, None)?;
        if is_pure(b) {
            let rb = self.scalar_into(cx, b, None)?;
            return Ok(Val::Reg(self.binary_regs(
                op,
                Scalar::Bool,
                &b.ty,
                ra,
                rb,
                dst,
            )?));
        }
        let t = self.dst(dst);
        self.emit(Inst::MoveAll {
            w: Width::W1,
            d: t,
            s: ra,
        });
        let slot = self.mask_slots(2);
        let rhs = self.body(|c| {
            let rb = c.scalar_into(cx, b, None)?;
            c.emit(Inst::Move {
                w: Width::W1,
                d: t,
                s: rb,
            });
            Ok(())
        })?;
        let empty = self.body(|_| Ok(()))?;
        let (then_, else_) = if op == BinOp::And {
            (rhs, empty)
        } else {
            (empty, rhs)
        };
        self.emit(Inst::If {
            cond: t,
            slot,
            then_,
            else_,
        });
        Ok(Val::Reg(t))
    }

    fn intrinsic(
        &mut self,
        cx: &mut FnCtx<'_>,
        i: Intrinsic,
        args: &[Expr],
        ty: &Ty,
        dst: Option<Reg>,
    ) -> CompileResult<Val> {
        if i == Intrinsic::GlobalIndex {
            return Ok(Val::Reg(self.fixed(Fixed::GlobalIndex)));
        }
        if let Some(v) = self.sync_intrinsic(i, ty)? {
            return Ok(v);
        }
        if geometry(i, 0).is_some() {
            // A whole Dim3 value: store the three fixed registers.
            let at = self.blob(self.size_of(ty)?)?;
            for axis in 0..3u8 {
                let s = self.fixed(geometry(i, axis).unwrap());
                let part = Addr {
                    konst: at.konst + 4 * axis as u32,
                    ..at
                };
                self.emit(Inst::Store {
                    w: Width::W4,
                    s,
                    at: part,
                });
            }
            return Ok(Val::Mem(at));
        }
        let first = scalar_of(
            &args
                .first()
                .ok_or_else(|| format!("`{i:?}` without arguments"))?
                .ty,
        )?;
        let mut regs = Vec::with_capacity(args.len());
        for (k, a) in args.iter().enumerate() {
            let r = self.scalar_into(cx, a, None)?;
            let want = intrinsics::arg_type(i, k, first);
            regs.push(self.cast_reg(r, scalar_of(&a.ty)?, want, None)?);
        }
        let ret = scalar_of(ty)?;
        if intrinsics::result_type(i, first) != ret {
            return Err(format!(
                "`{i:?}` on `{}` giving `{}`",
                first.rust_name(),
                ret.rust_name()
            ));
        }
        let k = intrinsics::intrinsic(i, first)
            .ok_or_else(|| format!("`{i:?}` on `{}`", first.rust_name()))?;
        let d = self.dst(dst);
        let inst = match (k, regs.as_slice()) {
            (IntrinsicKernel::Map1(f), [a]) => Inst::Map1 { f, d, a: *a },
            (IntrinsicKernel::Map2(f), [a, b]) => Inst::Map2 { f, d, a: *a, b: *b },
            (IntrinsicKernel::Map3(f), [a, b, c]) => Inst::Map3 {
                f,
                d,
                a: *a,
                b: *b,
                c: *c,
            },
            _ => return Err(format!("`{i:?}` with {} arguments", args.len())),
        };
        self.emit(inst);
        Ok(Val::Reg(d))
    }

    /// Inlines a `#[device]` function call: arguments by value, a fresh
    /// frame that the callee's `return`s leave.
    fn call(&mut self, cx: &mut FnCtx<'_>, id: FnId, args: &[Expr], ty: &Ty) -> CompileResult<Val> {
        let k = self.k;
        let f = k
            .device_fns
            .get(id as usize)
            .ok_or_else(|| format!("unknown device function {id}"))?;
        if f.params.len() != args.len() {
            return Err(format!("`{}` called with {} arguments", f.name, args.len()));
        }
        if self.inline_depth >= MAX_INLINE_DEPTH {
            return Err(format!(
                "calls nested deeper than {MAX_INLINE_DEPTH} (recursion?) at `{}`",
                f.name
            ));
        }
        // Arguments in order; a borrowed place is resolved (its indices
        // checked) where it stands among them.
        let mut vals = Vec::with_capacity(args.len());
        for (p, a) in f.params.iter().zip(args) {
            vals.push(match (&p.kind, &a.kind) {
                (ParamKind::Ref(_), ExprKind::Borrow(place)) => Arg::Lent(self.lend(cx, place)?),
                // A whole slice parameter, lent to the callee's.
                (ParamKind::Slice { .. }, ExprKind::Borrow(place)) => {
                    match (place.root, place.proj.is_empty()) {
                        (PlaceRoot::Param(p), true) => match cx.params.get(p as usize) {
                            Some(s @ Storage::Slice { .. }) => Arg::Lent(*s),
                            _ => return Err(format!("`{}`: parameter {p} is not a slice", f.name)),
                        },
                        _ => {
                            return Err(format!(
                                "`{}`: a slice parameter takes a whole slice",
                                f.name
                            ))
                        }
                    }
                }
                (ParamKind::Ref(_), _) | (_, ExprKind::Borrow(_)) => {
                    return Err(format!(
                        "`{}`: a `&mut` parameter needs a borrow and only it takes one",
                        f.name
                    ))
                }
                _ => Arg::Value(self.expr(cx, a, None)?),
            });
        }
        let mut params = Vec::with_capacity(args.len());
        for ((p, v), a) in f.params.iter().zip(vals).zip(args) {
            let v = match v {
                Arg::Lent(storage) => {
                    params.push(storage);
                    continue;
                }
                Arg::Value(v) => v,
            };
            let storage = match (v, p.mutable) {
                (Val::Reg(r), false) => Storage::Reg(r),
                (Val::Mem(at), false) => Storage::Mem(at),
                (Val::Unit, _) => Storage::Unit,
                (Val::Reg(r), true) => {
                    let d = self.temp();
                    let w = self.width_of(&a.ty)?;
                    self.emit(Inst::MoveAll { w, d, s: r });
                    Storage::Reg(d)
                }
                (Val::Mem(src), true) => {
                    let size = self.size_of(&a.ty)?;
                    let dst = self.blob(size)?;
                    self.emit(Inst::Copy { size, dst, src });
                    Storage::Mem(dst)
                }
            };
            params.push(storage);
        }
        let ret = self.value_storage(ty)?;
        let mut callee = self.enter(f, params, ret)?;
        self.inline_depth += 1;
        let body = self.body(|c| c.block(&mut callee, &f.body));
        self.inline_depth -= 1;
        let body = body?;
        self.emit(Inst::Region {
            frame: callee.ret_frame,
            body,
        });
        Ok(match ret {
            Storage::Reg(r) => Val::Reg(r),
            Storage::Mem(at) => Val::Mem(at),
            _ => Val::Unit,
        })
    }
}

/// A call argument, compiled.
enum Arg {
    Value(Val),
    /// The storage a `&mut` parameter works on: the caller's place.
    Lent(Storage),
}

impl<'k> Compiler<'k> {
    /// The place `&mut place` lends a `ParamKind::Ref` parameter, as the
    /// callee's storage: a register or memory of the caller.
    fn lend(&mut self, cx: &mut FnCtx<'_>, place: &Place) -> CompileResult<Storage> {
        Ok(match self.place(cx, place)? {
            Loc::Reg(r) if r.is_fixed() => {
                return Err("a `&mut` borrow of a constant or an immutable parameter".into())
            }
            Loc::Reg(r) => Storage::Reg(r),
            Loc::Mem { at, .. } => Storage::Mem(at),
            Loc::SliceElem {
                slot, idx, site, ..
            } => {
                let off = self.temp();
                let stride = self.size_of(&place.ty)?;
                self.emit(Inst::Index {
                    off,
                    base: None,
                    idx,
                    len: Len::Slice(slot),
                    stride,
                    site,
                });
                Storage::Mem(Addr {
                    root: Root::Slice(slot),
                    konst: 0,
                    off: Some(off),
                })
            }
        })
    }
}

/// The fixed register of axis `axis` of a geometry intrinsic.
fn geometry(i: Intrinsic, axis: u8) -> Option<Fixed> {
    match i {
        Intrinsic::ThreadIdx => Some(Fixed::ThreadIdx(axis)),
        Intrinsic::BlockIdx => Some(Fixed::BlockIdx(axis)),
        Intrinsic::BlockDim => Some(Fixed::BlockDim(axis)),
        Intrinsic::GridDim => Some(Fixed::GridDim(axis)),
        _ => None,
    }
}

/// Whether evaluating `e` can neither fault nor have effects, so it may
/// run on inactive lanes.
fn is_pure(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::SliceLen(_) | ExprKind::DynamicSharedLen(_) => true,
        ExprKind::Check { .. } | ExprKind::Assert { .. } => false,
        ExprKind::Load(p) => p.proj.iter().all(|pr| matches!(pr, Proj::Field(_))),
        ExprKind::Unary(_, a)
        | ExprKind::Cast(a)
        | ExprKind::Field(a, _)
        | ExprKind::ArrayRepeat(a, _) => is_pure(a),
        ExprKind::Binary(op, a, b) => {
            let div = matches!(op, BinOp::Div | BinOp::Rem)
                && a.ty.as_scalar().is_some_and(|s| s.is_int());
            !div && is_pure(a) && is_pure(b)
        }
        ExprKind::Intrinsic(
            Intrinsic::ThreadFence | Intrinsic::ThreadFenceBlock | Intrinsic::ThreadFenceSystem,
            _,
        ) => false,
        ExprKind::Intrinsic(_, args) | ExprKind::StructLit(args) | ExprKind::ArrayLit(args) => {
            args.iter().all(is_pure)
        }
        ExprKind::Call(..)
        | ExprKind::Borrow(_)
        | ExprKind::Atomic { .. }
        | ExprKind::Collective { .. } => false,
    }
}
