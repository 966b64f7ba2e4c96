//! Places of the IR → addresses: locals in registers or blobs, slice
//! elements, elements of dynamic shared views, struct fields and
//! bounds-checked array indices; and reading and writing them.

use spindle_codegen::ir::{ParamKind, Place, PlaceRoot, Proj, Ty};

use super::compile::{CompileResult, Compiler, FnCtx, Storage};
use super::compile_expr::Val;
use super::program::{Addr, Inst, Len, Reg, Root, Width};

/// A place, resolved.
#[derive(Clone, Copy, Debug)]
pub(super) enum Loc {
    /// A scalar local or parameter.
    Reg(Reg),
    /// `slice[idx]` with a scalar element: the fast path.
    SliceElem {
        slot: u32,
        idx: Reg,
        site: u32,
        mutable: bool,
    },
    /// Anything in memory.
    Mem { at: Addr, writable: bool },
}

impl<'k> Compiler<'k> {
    /// Resolves a place, emitting its index computations (with their
    /// bounds checks) in order.
    pub fn place(&mut self, cx: &mut FnCtx<'_>, p: &Place) -> CompileResult<Loc> {
        let (storage, root_ty) = match p.root {
            PlaceRoot::Local(id) => {
                let s = cx
                    .locals
                    .get(id as usize)
                    .copied()
                    .ok_or_else(|| format!("unknown local {id}"))?;
                (s, Some(cx.func.locals[id as usize].ty.clone()))
            }
            PlaceRoot::Param(id) => {
                let s = cx
                    .params
                    .get(id as usize)
                    .copied()
                    .ok_or_else(|| format!("unknown parameter {id}"))?;
                let ty = match &cx.func.params[id as usize].kind {
                    ParamKind::Value(t) | ParamKind::StateRef(t) | ParamKind::Ref(t) => {
                        Some(t.clone())
                    }
                    ParamKind::Slice { elem, .. } => Some(elem.clone()),
                };
                (s, ty)
            }
            PlaceRoot::DynamicShared(id) => return self.dynamic_shared_place(cx, id, p),
            PlaceRoot::Shared(id) => {
                let (at, ty) = self.shared_root(id)?;
                (Storage::Mem(at), Some(ty))
            }
        };
        let ty = root_ty.unwrap_or(Ty::Unit);
        let (at, writable, rest) = match storage {
            Storage::Reg(r) => {
                if !p.proj.is_empty() {
                    return Err("a projection of a scalar".into());
                }
                return Ok(Loc::Reg(r));
            }
            Storage::Unit => return Err("a place of type ()".into()),
            Storage::Slice { slot, mutable } => {
                let Some(Proj::Index { index, site }) = p.proj.first() else {
                    return Err("a slice used without an index".into());
                };
                let idx = self.scalar_into(cx, index, None)?;
                if p.proj.len() == 1 && ty.as_scalar().is_some() {
                    return Ok(Loc::SliceElem {
                        slot,
                        idx,
                        site: *site,
                        mutable,
                    });
                }
                let off = self.temp();
                let stride = self.size_of(&ty)?;
                self.emit(Inst::Index {
                    off,
                    base: None,
                    idx,
                    len: Len::Slice(slot),
                    stride,
                    site: *site,
                });
                (
                    Addr {
                        root: Root::Slice(slot),
                        konst: 0,
                        off: Some(off),
                    },
                    mutable,
                    &p.proj[1..],
                )
            }
            Storage::Mem(at) => (at, !matches!(at.root, Root::Uniform(_)), &p.proj[..]),
        };
        self.project(cx, p, at, writable, ty, rest)
    }

    /// `view[idx]…` of dynamic shared view `id`: like a slice parameter's
    /// element, checked against the view's length at run time, in the
    /// block's dynamic shared area (where every view starts).
    fn dynamic_shared_place(
        &mut self,
        cx: &mut FnCtx<'_>,
        id: u32,
        p: &Place,
    ) -> CompileResult<Loc> {
        let (ty, elem) = self.dynamic_shared_view(id)?;
        let Some(Proj::Index { index, site }) = p.proj.first() else {
            return Err("a dynamic shared view used without an index".into());
        };
        let idx = self.scalar_into(cx, index, None)?;
        let off = self.temp();
        self.emit(Inst::Index {
            off,
            base: None,
            idx,
            len: Len::DynamicShared { elem },
            stride: elem,
            site: *site,
        });
        self.dynamic_shared = true;
        let at = Addr {
            root: Root::DynamicShared,
            konst: 0,
            off: Some(off),
        };
        self.project(cx, p, at, true, ty, &p.proj[1..])
    }

    /// Applies the projections `rest` of `p` to `at`, a place of type `ty`.
    fn project(
        &mut self,
        cx: &mut FnCtx<'_>,
        p: &Place,
        mut at: Addr,
        writable: bool,
        mut ty: Ty,
        rest: &[Proj],
    ) -> CompileResult<Loc> {
        for proj in rest {
            match proj {
                Proj::Field(i) => {
                    let Ty::Struct(id) = ty else {
                        return Err(format!("field {i} of {ty:?}"));
                    };
                    let def = self.k.struct_def(id);
                    let f = def
                        .fields
                        .get(*i as usize)
                        .ok_or_else(|| format!("field {i} of `{}`", def.name))?;
                    at.konst += f.offset;
                    ty = f.ty.clone();
                }
                Proj::Index { index, site } => {
                    let Ty::Array(elem, len) = ty else {
                        return Err(format!("an index into {ty:?}"));
                    };
                    let idx = self.scalar_into(cx, index, None)?;
                    let stride = self.size_of(&elem)?;
                    let off = self.temp();
                    self.emit(Inst::Index {
                        off,
                        base: at.off,
                        idx,
                        len: Len::Const(len as u64),
                        stride,
                        site: *site,
                    });
                    at.off = Some(off);
                    ty = *elem;
                }
            }
        }
        if ty != p.ty {
            return Err(format!("place of type {:?} typed {:?}", ty, p.ty));
        }
        Ok(Loc::Mem { at, writable })
    }

    /// Reads a resolved place of type `ty`.
    pub fn load_loc(&mut self, loc: Loc, ty: &Ty, dst: Option<Reg>) -> CompileResult<Val> {
        match loc {
            Loc::Reg(r) => Ok(Val::Reg(r)),
            Loc::SliceElem {
                slot, idx, site, ..
            } => {
                let w = self.width_of(ty)?;
                let d = self.dst(dst);
                self.emit(Inst::LoadSlice {
                    w,
                    d,
                    slice: slot,
                    idx,
                    site,
                });
                Ok(Val::Reg(d))
            }
            Loc::Mem { at, .. } => match ty {
                Ty::Scalar(s) => {
                    let d = self.dst(dst);
                    self.emit(Inst::Load {
                        w: Width::of_size(s.size()),
                        d,
                        at,
                    });
                    Ok(Val::Reg(d))
                }
                Ty::Unit => Ok(Val::Unit),
                _ => Ok(Val::Mem(at)),
            },
        }
    }

    /// Writes `v` (of type `ty`) to a resolved place on the active lanes.
    pub fn store(&mut self, loc: Loc, v: Val, ty: &Ty) -> CompileResult<()> {
        match (loc, v) {
            (Loc::Reg(d), Val::Reg(s)) => {
                let w = self.width_of(ty)?;
                if d != s {
                    self.emit(Inst::Move { w, d, s });
                }
            }
            (
                Loc::SliceElem {
                    slot,
                    idx,
                    site,
                    mutable,
                },
                Val::Reg(s),
            ) => {
                if !mutable {
                    return Err("a store into a `&[T]` parameter".into());
                }
                let w = self.width_of(ty)?;
                self.emit(Inst::StoreSlice {
                    w,
                    s,
                    slice: slot,
                    idx,
                    site,
                });
            }
            (Loc::Mem { at, writable }, v) => {
                if !writable {
                    return Err("a store into a read-only parameter".into());
                }
                match v {
                    Val::Reg(s) => {
                        let w = self.width_of(ty)?;
                        self.emit(Inst::Store { w, s, at });
                    }
                    Val::Mem(src) => {
                        let size = self.size_of(ty)?;
                        self.emit(Inst::Copy { size, dst: at, src });
                    }
                    Val::Unit => {}
                }
            }
            (_, Val::Unit) => {}
            (loc, v) => return Err(format!("store of {v:?} into {loc:?}")),
        }
        Ok(())
    }
}
