//! The intrinsics through which threads work together → instructions:
//! shared arrays' layout, views of dynamic shared memory, atomics, barriers
//! and warp operations, fences and `lane_id()`. Their execution lives in
//! `atomic.rs` and `collective.rs`.

use spindle_codegen::ir::{
    AtomicOp, CollectiveOp, Expr, Intrinsic, Place, Scalar, SiteId, Ty, DYNAMIC_SHARED_ALIGN,
    MAX_SHARED_BYTES,
};
use spindle_codegen::KernelMode;

use super::atomic::AtomicTy;
use super::compile::{scalar_of, CompileResult, Compiler, FnCtx};
use super::compile_expr::Val;
use super::compile_place::Loc;
use super::program::{Addr, Fixed, Inst, Len, Root, Width};

impl<'k> Compiler<'k> {
    /// Lays out the kernel's shared arrays in one per-block area, each at
    /// its element's alignment; returns the area's size (a multiple of 8).
    pub fn shared_layout(&mut self) -> CompileResult<u32> {
        let mut at = 0u64;
        for a in &self.k.shared {
            let elem = self.size_of(&a.elem)? as u64;
            let align = self.k.align_of(&a.elem).max(1) as u64;
            at = at.div_ceil(align) * align;
            self.shared.push(at as u32);
            at += elem * a.len as u64;
            if at > MAX_SHARED_BYTES as u64 {
                return Err(format!(
                    "its shared arrays need more than {MAX_SHARED_BYTES} bytes"
                ));
            }
        }
        Ok(at.div_ceil(8) as u32 * 8)
    }

    /// Where shared array `id` starts, and its type (`[elem; len]`).
    pub fn shared_root(&self, id: u32) -> CompileResult<(Addr, Ty)> {
        let (Some(a), Some(&offset)) =
            (self.k.shared.get(id as usize), self.shared.get(id as usize))
        else {
            return Err(format!("unknown shared array {id}"));
        };
        let at = Addr {
            root: Root::Shared,
            konst: offset,
            off: None,
        };
        Ok((at, Ty::Array(Box::new(a.elem.clone()), a.len)))
    }

    /// Checks the kernel's views of dynamic shared memory: only a batch
    /// kernel has them (a ring handler's block gets no launch to size
    /// them), and every element has a size and at most the area's
    /// alignment.
    pub fn check_dynamic_shared(&self) -> CompileResult<()> {
        if self.k.dynamic_shared.is_empty() {
            return Ok(());
        }
        if self.k.mode != KernelMode::Batch {
            return Err(
                "a ring kernel has no dynamic shared memory (`dynamic_shared::<T>()` is for batch kernels, whose launch sizes it)"
                    .into(),
            );
        }
        for v in &self.k.dynamic_shared {
            if self.size_of(&v.elem)? == 0 {
                return Err(format!(
                    "dynamic shared view `{}` of a zero-sized type",
                    v.name
                ));
            }
            if self.k.align_of(&v.elem) > DYNAMIC_SHARED_ALIGN {
                return Err(format!(
                    "dynamic shared view `{}` of a type aligned to more than {DYNAMIC_SHARED_ALIGN} bytes",
                    v.name
                ));
            }
        }
        Ok(())
    }

    /// Dynamic shared view `id`'s element type and size.
    pub fn dynamic_shared_view(&self, id: u32) -> CompileResult<(Ty, u32)> {
        let v = self
            .k
            .dynamic_shared
            .get(id as usize)
            .ok_or_else(|| format!("unknown dynamic shared view {id}"))?;
        Ok((v.elem.clone(), self.size_of(&v.elem)?))
    }

    /// `lane_id()` and the fences; `None` for other intrinsics.
    pub fn sync_intrinsic(&mut self, i: Intrinsic, ty: &Ty) -> CompileResult<Option<Val>> {
        Ok(Some(match i {
            Intrinsic::LaneId => {
                if *ty != Ty::Scalar(Scalar::U32) {
                    return Err(format!("`lane_id()` typed {ty:?}"));
                }
                Val::Reg(self.fixed(Fixed::LaneId))
            }
            Intrinsic::ThreadFence | Intrinsic::ThreadFenceBlock | Intrinsic::ThreadFenceSystem => {
                self.emit(Inst::Fence);
                Val::Unit
            }
            _ => return Ok(None),
        }))
    }

    /// `op(&mut place, args…)`, giving the place's old value. The place's
    /// indices are checked before the operands are evaluated (Rust
    /// evaluates `&mut place` first).
    pub fn atomic(
        &mut self,
        cx: &mut FnCtx<'_>,
        op: AtomicOp,
        place: &Place,
        args: &[Expr],
        ty: &Ty,
        dst: Option<super::program::Reg>,
    ) -> CompileResult<Val> {
        let name = op.rust_name();
        let s = scalar_of(&place.ty)?;
        let aty = AtomicTy::of(op, s).ok_or_else(|| format!("`{name}` on `{}`", s.rust_name()))?;
        if args.len() != op.arity() || args.iter().any(|a| a.ty != place.ty) || *ty != place.ty {
            return Err(format!("`{name}` with operands not of the place's type"));
        }
        let at = match self.place(cx, place)? {
            Loc::SliceElem {
                slot,
                idx,
                site,
                mutable,
            } => {
                if !mutable {
                    return Err(format!("`{name}` on an element of a `&[T]` parameter"));
                }
                let off = self.temp();
                self.emit(Inst::Index {
                    off,
                    base: None,
                    idx,
                    len: Len::Slice(slot),
                    stride: s.size() as u32,
                    site,
                });
                Addr {
                    root: Root::Slice(slot),
                    konst: 0,
                    off: Some(off),
                }
            }
            Loc::Mem { at, writable: true } => at,
            Loc::Mem { .. } => return Err(format!("`{name}` on a read-only parameter")),
            Loc::Reg(_) => return Err(format!("`{name}` on a local variable")),
        };
        let a = self.scalar_into(cx, &args[0], None)?;
        let b = match args.get(1) {
            Some(e) => self.scalar_into(cx, e, None)?,
            None => a,
        };
        let d = self.dst(dst);
        self.emit(Inst::Atomic {
            op,
            ty: aty,
            d,
            a,
            b,
            at,
        });
        Ok(Val::Reg(d))
    }

    /// A barrier or warp operation.
    pub fn collective(
        &mut self,
        cx: &mut FnCtx<'_>,
        op: CollectiveOp,
        args: &[Expr],
        site: SiteId,
        ty: &Ty,
        dst: Option<super::program::Reg>,
    ) -> CompileResult<Val> {
        let name = op.rust_name();
        self.collectives = true;
        let bad = || {
            Err(format!(
                "`{name}` with arguments or result of the wrong type"
            ))
        };
        match op {
            CollectiveOp::SyncThreads | CollectiveOp::SyncWarp => {
                if !args.is_empty() || *ty != Ty::Unit {
                    return bad();
                }
                self.emit(Inst::Barrier {
                    warp: op == CollectiveOp::SyncWarp,
                    site,
                });
                Ok(Val::Unit)
            }
            CollectiveOp::Shuffle
            | CollectiveOp::ShuffleDown
            | CollectiveOp::ShuffleUp
            | CollectiveOp::ShuffleXor => {
                // `[v, lane]`, or `[v, lane, width]` for a sub-warp shuffle.
                let (v, lane, width) = match args {
                    [v, lane] => (v, lane, None),
                    [v, lane, width] => (v, lane, Some(width)),
                    _ => return bad(),
                };
                let vs = scalar_of(&v.ty)?;
                let ls = scalar_of(&lane.ty)?;
                if v.ty != *ty || !ls.is_int() {
                    return bad();
                }
                let a = self.scalar_into(cx, v, None)?;
                let b = self.scalar_into(cx, lane, None)?;
                let b = self.cast_reg(b, ls, Scalar::U32, None)?;
                let segment = match width {
                    Some(e) => {
                        let ws = scalar_of(&e.ty)?;
                        if !ws.is_int() {
                            return bad();
                        }
                        let r = self.scalar_into(cx, e, None)?;
                        Some(self.cast_reg(r, ws, Scalar::U32, None)?)
                    }
                    None => None,
                };
                let d = self.dst(dst);
                self.emit(Inst::Warp {
                    op,
                    w: Width::of_size(vs.size()),
                    d,
                    a,
                    b,
                    segment,
                    site,
                });
                Ok(Val::Reg(d))
            }
            CollectiveOp::All | CollectiveOp::Any | CollectiveOp::Ballot => {
                let want = if op == CollectiveOp::Ballot {
                    Scalar::U32
                } else {
                    Scalar::Bool
                };
                let [p] = args else { return bad() };
                if p.ty != Ty::Scalar(Scalar::Bool) || *ty != Ty::Scalar(want) {
                    return bad();
                }
                let a = self.scalar_into(cx, p, None)?;
                let d = self.dst(dst);
                self.emit(Inst::Warp {
                    op,
                    w: Width::W1,
                    d,
                    a,
                    b: a,
                    segment: None,
                    site,
                });
                Ok(Val::Reg(d))
            }
        }
    }
}
