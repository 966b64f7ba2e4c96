//! IR → [`Program`]: registers for scalar locals and temporaries, blobs for
//! aggregates, device functions inlined at each call site, and every
//! operation resolved to its monomorphic lane kernel.
//!
//! Temporaries are reused: each statement releases the registers it
//! allocated, so a kernel's register file stays small and cache-resident.
//! Locals of a function get their registers when the function is entered
//! (the entry's before any temporary; an inlined callee's at its call).
//!
//! A `let` writes its local on every lane, active or not: a lane that is
//! inactive at a `let` is outside that local's scope, so its copy is dead.
//! This lets `let x = a + b` compute straight into `x`'s register.

use std::collections::HashMap;

use spindle_codegen::ir::{Block, Function, Kernel, LoopId, ParamKind, Scalar, Stmt, StmtKind, Ty};

use super::ops;
use super::program::{
    Addr, BlobDef, BlobId, Body, Fixed, Inst, MaskSlot, ParamBinding, Program, Reg, RetSlot, Root,
    Width,
};

/// A compile error: the IR uses something this backend does not run, or is
/// malformed. The launch reports it as `Error::Unsupported`.
pub(crate) type CompileResult<T> = Result<T, String>;

/// Where a parameter or local lives.
#[derive(Clone, Copy, Debug)]
pub(super) enum Storage {
    /// A scalar in a register.
    Reg(Reg),
    /// An aggregate (or the ring state) in memory.
    Mem(Addr),
    /// A slice parameter of the entry.
    Slice { slot: u32, mutable: bool },
    /// A unit-typed local.
    Unit,
}

/// The state of one function being compiled (the entry, or one inlined
/// call of a device function).
pub(super) struct FnCtx<'k> {
    pub func: &'k Function,
    pub params: Vec<Storage>,
    pub locals: Vec<Storage>,
    /// The frame `return` leaves.
    pub ret_frame: MaskSlot,
    /// Where `return value` writes.
    pub ret: Storage,
    pub loops: HashMap<LoopId, MaskSlot>,
}

/// The compiler's state for one kernel.
pub(super) struct Compiler<'k> {
    pub k: &'k Kernel,
    /// Finished bodies.
    code: Vec<Inst>,
    /// The sequence being built.
    cur: Vec<Inst>,
    next_reg: u32,
    max_reg: u32,
    fixed: Vec<Fixed>,
    fixed_regs: HashMap<Fixed, Reg>,
    blobs: Vec<BlobDef>,
    blob_bytes: u32,
    masks: u32,
    pub inline_depth: u32,
    /// The first instruction that failed [`Inst::check_operands`].
    malformed: Option<String>,
    /// Byte offset of each shared array in a block's area.
    pub shared: Vec<u32>,
    /// Whether a barrier or warp operation was emitted.
    pub collectives: bool,
    /// Whether a place in dynamic shared memory was compiled.
    pub dynamic_shared: bool,
}

/// Calls nested deeper than this are taken for recursion.
pub(super) const MAX_INLINE_DEPTH: u32 = 64;

/// Compiles a kernel for the CPU backend.
pub(crate) fn compile(k: &Kernel) -> CompileResult<Program> {
    let mut c = Compiler {
        k,
        code: Vec::new(),
        cur: Vec::new(),
        next_reg: 0,
        max_reg: 0,
        fixed: Vec::new(),
        fixed_regs: HashMap::new(),
        blobs: Vec::new(),
        blob_bytes: 0,
        masks: 1, // slot 0: the active lanes
        inline_depth: 0,
        malformed: None,
        shared: Vec::new(),
        collectives: false,
        dynamic_shared: false,
    };
    let shared_bytes = c.shared_layout()?;
    c.check_dynamic_shared()?;
    let f = &k.entry;
    let mut params = Vec::new();
    let mut bindings = Vec::new();
    let mut uniforms = 0u32;
    let mut slices = 0u32;
    let mut init = Vec::new();
    for (i, p) in f.params.iter().enumerate() {
        let (storage, binding) = match &p.kind {
            ParamKind::Value(Ty::Scalar(s)) => {
                let w = Width::of_size(s.size());
                let fixed = c.fixed(Fixed::Param { param: i as u32, w });
                let binding = ParamBinding::Scalar {
                    size: s.size() as u32,
                };
                if p.mutable {
                    let r = c.temp();
                    init.push(Inst::MoveAll { w, d: r, s: fixed });
                    (Storage::Reg(r), binding)
                } else {
                    (Storage::Reg(fixed), binding)
                }
            }
            ParamKind::Value(ty) => {
                let size = c.size_of(ty)?;
                let slot = uniforms;
                uniforms += 1;
                let uniform = Addr {
                    root: Root::Uniform(slot),
                    konst: 0,
                    off: None,
                };
                let storage = if p.mutable {
                    let at = c.blob(size)?;
                    init.push(Inst::Copy {
                        size,
                        dst: at,
                        src: uniform,
                    });
                    Storage::Mem(at)
                } else {
                    Storage::Mem(uniform)
                };
                (storage, ParamBinding::Uniform { slot, size })
            }
            ParamKind::Slice { elem, mutable } => {
                let slot = slices;
                slices += 1;
                let elem_size = c.size_of(elem)?;
                (
                    Storage::Slice {
                        slot,
                        mutable: *mutable,
                    },
                    ParamBinding::Slice {
                        slot,
                        elem_size,
                        mutable: *mutable,
                    },
                )
            }
            ParamKind::Ref(_) => {
                return Err("a kernel entry with a `&mut` parameter".into());
            }
            ParamKind::StateRef(ty) => {
                let size = c.size_of(ty)?;
                (
                    Storage::Mem(Addr {
                        root: Root::State,
                        konst: 0,
                        off: None,
                    }),
                    ParamBinding::State { size },
                )
            }
        };
        params.push(storage);
        bindings.push(binding);
    }
    let ret = c.value_storage(&f.ret)?;
    let ret_slot = match ret {
        Storage::Reg(r) => Some(RetSlot::Reg(r, Width::of_size(scalar_of(&f.ret)?.size()))),
        Storage::Mem(Addr {
            root: Root::Blob(b),
            ..
        }) => Some(RetSlot::Blob(b, c.size_of(&f.ret)?)),
        _ => None,
    };
    let mut cx = c.enter(f, params, ret)?;
    let block_init = c.push_body(init);
    // The entry's body runs as is: a `return` parks its lanes in the
    // frame, and nothing runs after the body that would need them back.
    let entry = c.body(|c| c.block(&mut cx, &f.body))?;
    let global_index = c.fixed_regs.get(&Fixed::GlobalIndex).copied();
    // ForCond's `done` is not in generic_reads' three slots; it is never
    // the global index (a temporary).
    let global_index_read =
        global_index.is_some_and(|gi| c.code.iter().any(|i| i.generic_reads().contains(&Some(gi))));
    if let Some(m) = c.malformed {
        return Err(m);
    }
    Ok(Program {
        code: c.code,
        entry,
        block_init,
        temps: c.max_reg,
        fixed: c.fixed,
        blobs: c.blobs,
        blob_bytes: c.blob_bytes,
        mask_slots: c.masks,
        params: bindings,
        global_index,
        global_index_read,
        ret: ret_slot,
        shared_bytes,
        dynamic_shared: c.dynamic_shared,
        collectives: c.collectives,
    })
}

/// The scalar inside `ty`, or an error.
pub(super) fn scalar_of(ty: &Ty) -> CompileResult<Scalar> {
    ty.as_scalar()
        .ok_or_else(|| format!("expected a scalar type, found {ty:?}"))
}

impl<'k> Compiler<'k> {
    /// A new temporary register (released at the end of the statement).
    pub fn temp(&mut self) -> Reg {
        let r = Reg(self.next_reg);
        self.next_reg += 1;
        self.max_reg = self.max_reg.max(self.next_reg);
        r
    }

    /// What fixed register `r` holds, if it is one.
    pub fn fixed_kind(&self, r: Reg) -> Option<Fixed> {
        r.is_fixed()
            .then(|| self.fixed[(r.0 & !Reg::FIXED) as usize])
    }

    /// The fixed register holding `f` (shared by every use).
    pub fn fixed(&mut self, f: Fixed) -> Reg {
        if let Some(r) = self.fixed_regs.get(&f) {
            return *r;
        }
        let r = Reg(Reg::FIXED | self.fixed.len() as u32);
        self.fixed.push(f);
        self.fixed_regs.insert(f, r);
        r
    }

    /// A fixed register holding constant `bits` of width `w`.
    pub fn konst(&mut self, bits: u64, w: Width) -> Reg {
        self.fixed(Fixed::Const { bits, w })
    }

    /// A new per-lane blob of `size` bytes; an error when a thread's
    /// local values would pass 4 GiB (the offsets are 32-bit).
    pub fn blob(&mut self, size: u32) -> CompileResult<Addr> {
        let id: BlobId = self.blobs.len() as u32;
        // Keep every blob 8-aligned per lane unit so lane copies start aligned.
        let offset = self.blob_bytes;
        let end = u64::from(offset) + u64::from(size).div_ceil(8) * 8;
        self.blob_bytes = u32::try_from(end).map_err(|_| {
            format!(
                "its local values take more than the 4 GiB per thread the CPU backend \
                 addresses ({end} bytes or more)"
            )
        })?;
        self.blobs.push(BlobDef { size, offset });
        Ok(Addr {
            root: Root::Blob(id),
            konst: 0,
            off: None,
        })
    }

    /// `n` new mask slots.
    pub fn mask_slots(&mut self, n: u32) -> MaskSlot {
        let s = self.masks;
        self.masks += n;
        s
    }

    /// Appends an instruction to the current sequence.
    pub fn emit(&mut self, i: Inst) {
        self.check(&i);
        self.cur.push(i);
    }

    fn check(&mut self, i: &Inst) {
        if self.malformed.is_none() {
            self.malformed = i.check_operands().err();
        }
    }

    /// Size of a value type, checked against the IR's own struct table.
    pub fn size_of(&self, ty: &Ty) -> CompileResult<u32> {
        self.check_ty(ty)?;
        let size = wide_size_of(self.k, ty);
        u32::try_from(size).map_err(|_| {
            format!(
                "a value of type `{}` takes {size} bytes, more than the 4 GiB the CPU \
                 backend addresses",
                self.k.ty_name(ty)
            )
        })
    }

    fn check_ty(&self, ty: &Ty) -> CompileResult<()> {
        match ty {
            Ty::Struct(id) if *id as usize >= self.k.structs.len() => {
                Err(format!("unknown struct id {id}"))
            }
            Ty::Array(e, _) => self.check_ty(e),
            _ => Ok(()),
        }
    }

    /// Fresh storage for a value of type `ty`.
    pub fn value_storage(&mut self, ty: &Ty) -> CompileResult<Storage> {
        Ok(match ty {
            Ty::Unit => Storage::Unit,
            Ty::Scalar(_) => Storage::Reg(self.temp()),
            _ => {
                let size = self.size_of(ty)?;
                Storage::Mem(self.blob(size)?)
            }
        })
    }

    /// Sets up a function's locals and return frame.
    pub fn enter<'f>(
        &mut self,
        f: &'f Function,
        params: Vec<Storage>,
        ret: Storage,
    ) -> CompileResult<FnCtx<'f>> {
        let mut locals = Vec::with_capacity(f.locals.len());
        for l in &f.locals {
            locals.push(self.value_storage(&l.ty)?);
        }
        let ret_frame = self.mask_slots(2);
        Ok(FnCtx {
            func: f,
            params,
            locals,
            ret_frame,
            ret,
            loops: HashMap::new(),
        })
    }

    /// Moves `insts` into the program as a body.
    fn push_body(&mut self, insts: Vec<Inst>) -> Body {
        for i in &insts {
            self.check(i);
        }
        let start = self.code.len() as u32;
        self.code.extend(insts);
        Body {
            start,
            end: self.code.len() as u32,
        }
    }

    /// Compiles what `f` emits into a separate body.
    pub fn body(&mut self, f: impl FnOnce(&mut Self) -> CompileResult<()>) -> CompileResult<Body> {
        let outer = std::mem::take(&mut self.cur);
        let r = f(self);
        let inner = std::mem::replace(&mut self.cur, outer);
        r?;
        Ok(self.push_body(inner))
    }

    pub fn block(&mut self, cx: &mut FnCtx<'_>, b: &Block) -> CompileResult<()> {
        for s in &b.stmts {
            let mark = self.next_reg;
            self.stmt(cx, s)?;
            self.next_reg = mark;
        }
        Ok(())
    }

    fn stmt(&mut self, cx: &mut FnCtx<'_>, s: &Stmt) -> CompileResult<()> {
        match &s.kind {
            StmtKind::Let { local, init } => {
                let Some(init) = init else { return Ok(()) };
                if reads_local(init, *local) {
                    return Err(format!("`let` of local {local} reads that local"));
                }
                match local_storage(cx, *local)? {
                    Storage::Reg(r) if !cx.func.locals[*local as usize].mutable => {
                        // An immutable local initialised from a fixed
                        // register (`let i = global_index();`) can only
                        // ever hold that value: read the fixed register.
                        let v = self.scalar_into(cx, init, Some(r))?;
                        if v.is_fixed() {
                            cx.locals[*local as usize] = Storage::Reg(v);
                        } else if v != r {
                            let w = self.width_of(&init.ty)?;
                            self.emit(Inst::MoveAll { w, d: r, s: v });
                        }
                    }
                    Storage::Reg(r) => {
                        let v = self.scalar_into(cx, init, Some(r))?;
                        if v != r {
                            let w = self.width_of(&init.ty)?;
                            self.emit(Inst::MoveAll { w, d: r, s: v });
                        }
                    }
                    Storage::Mem(at) => {
                        let src = self.aggregate(cx, init)?;
                        let size = self.size_of(&init.ty)?;
                        self.emit(Inst::Copy { size, dst: at, src });
                    }
                    Storage::Unit => {
                        self.expr(cx, init, None)?;
                    }
                    Storage::Slice { .. } => return Err("a local cannot hold a slice".into()),
                }
            }
            StmtKind::Assign { place, value } => {
                let v = self.expr(cx, value, None)?;
                let loc = self.place(cx, place)?;
                self.store(loc, v, &place.ty)?;
            }
            StmtKind::CompoundAssign { place, op, value } => {
                let v = self.expr(cx, value, None)?;
                let v = self.reg_of(v)?;
                let loc = self.place(cx, place)?;
                let cur = self.load_loc(loc, &place.ty, None)?;
                let cur = self.reg_of(cur)?;
                let r = self.binary_regs(*op, scalar_of(&place.ty)?, &value.ty, cur, v, None)?;
                self.store(loc, super::compile_expr::Val::Reg(r), &place.ty)?;
            }
            StmtKind::Expr(e) => {
                self.expr(cx, e, None)?;
            }
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                let c = self.scalar_into(cx, cond, None)?;
                let slot = self.mask_slots(2);
                let then_ = self.body(|c| c.block(cx, then_block))?;
                let else_ = self.body(|c| c.block(cx, else_block))?;
                self.emit(Inst::If {
                    cond: c,
                    slot,
                    then_,
                    else_,
                });
            }
            StmtKind::While { id, cond, body } => {
                let frame = self.mask_slots(2);
                cx.loops.insert(*id, frame);
                let mut cr = None;
                let pre = self.body(|c| {
                    cr = Some(c.scalar_into(cx, cond, None)?);
                    Ok(())
                })?;
                let body = self.body(|c| c.block(cx, body))?;
                self.emit(Inst::Loop {
                    frame,
                    pre,
                    cond: cr,
                    body,
                    post: Body::default(),
                });
            }
            StmtKind::Loop { id, body } => {
                let frame = self.mask_slots(2);
                cx.loops.insert(*id, frame);
                let body = self.body(|c| c.block(cx, body))?;
                self.emit(Inst::Loop {
                    frame,
                    pre: Body::default(),
                    cond: None,
                    body,
                    post: Body::default(),
                });
            }
            StmtKind::For {
                id,
                var,
                start,
                end,
                inclusive,
                step,
                body,
            } => {
                self.for_loop(cx, *id, *var, start, end, *inclusive, step.as_ref(), body)?;
            }
            StmtKind::Break(id) => {
                let f = loop_frame(cx, *id)?;
                self.emit(Inst::Break(f));
            }
            StmtKind::Continue(id) => {
                let f = loop_frame(cx, *id)?;
                self.emit(Inst::Continue(f + 1));
            }
            StmtKind::Return(value) => {
                if let Some(e) = value {
                    let v = self.expr(cx, e, None)?;
                    match cx.ret {
                        Storage::Reg(r) => {
                            let s = self.reg_of(v)?;
                            let w = self.width_of(&e.ty)?;
                            self.emit(Inst::Move { w, d: r, s });
                        }
                        Storage::Mem(at) => {
                            let src = self.addr_of(v)?;
                            let size = self.size_of(&e.ty)?;
                            self.emit(Inst::Copy { size, dst: at, src });
                        }
                        _ => {}
                    }
                }
                self.emit(Inst::Return(cx.ret_frame));
            }
            StmtKind::Block(b) => self.block(cx, b)?,
        }
        Ok(())
    }

    /// `for var in start..end` (`..=` when inclusive), stepping by `step`:
    /// the bounds are evaluated once; a step that overflows the type ends
    /// the loop (as Rust's iterators do). A zero step runs no iteration
    /// (Rust panics).
    #[allow(clippy::too_many_arguments)]
    fn for_loop(
        &mut self,
        cx: &mut FnCtx<'_>,
        id: LoopId,
        var: u32,
        start: &spindle_codegen::ir::Expr,
        end: &spindle_codegen::ir::Expr,
        inclusive: bool,
        step: Option<&spindle_codegen::ir::Expr>,
        body: &Block,
    ) -> CompileResult<()> {
        let Storage::Reg(var_reg) = local_storage(cx, var)? else {
            return Err("a `for` variable must be an integer".into());
        };
        let s = scalar_of(&cx.func.locals[var as usize].ty)?;
        let (cond_excl, cond_incl, step_fn) =
            ops::for_loop(s).ok_or_else(|| format!("a `for` loop over `{}`", s.rust_name()))?;
        let w = Width::of_size(s.size());
        let counter = self.temp();
        let v = self.scalar_into(cx, start, Some(counter))?;
        if v != counter {
            self.emit(Inst::MoveAll {
                w,
                d: counter,
                s: v,
            });
        }
        let end_reg = self.temp();
        let v = self.scalar_into(cx, end, Some(end_reg))?;
        if v != end_reg {
            self.emit(Inst::MoveAll {
                w,
                d: end_reg,
                s: v,
            });
        }
        let step_reg = match step {
            Some(e) => {
                let r = self.temp();
                let v = self.scalar_into(cx, e, Some(r))?;
                if v != r {
                    self.emit(Inst::MoveAll { w, d: r, s: v });
                }
                r
            }
            None => self.konst(1, w),
        };
        let done = self.temp();
        self.emit(Inst::Clear { d: done });
        let cond = self.temp();
        let frame = self.mask_slots(2);
        cx.loops.insert(id, frame);
        let f = if inclusive { cond_incl } else { cond_excl };
        let pre = self.push_body(vec![Inst::ForCond {
            f,
            cond,
            counter,
            end: end_reg,
            step: step_reg,
            done,
        }]);
        let body = self.body(|c| {
            c.emit(Inst::MoveAll {
                w,
                d: var_reg,
                s: counter,
            });
            c.block(cx, body)
        })?;
        let post = self.push_body(vec![Inst::ForStep {
            f: step_fn,
            counter,
            step: step_reg,
            done,
        }]);
        self.emit(Inst::Loop {
            frame,
            pre,
            cond: Some(cond),
            body,
            post,
        });
        Ok(())
    }

    /// The register width of a scalar type.
    pub fn width_of(&self, ty: &Ty) -> CompileResult<Width> {
        Ok(Width::of_size(scalar_of(ty)?.size()))
    }
}

/// Whether `e` reads local `id` (valid IR never does in that local's own
/// `let`; the direct-write of a `let` relies on it).
fn reads_local(e: &spindle_codegen::ir::Expr, id: u32) -> bool {
    use spindle_codegen::ir::{ExprKind, PlaceRoot, Proj};
    let place_reads = |p: &spindle_codegen::ir::Place| {
        p.root == PlaceRoot::Local(id)
            || p.proj
                .iter()
                .any(|pr| matches!(pr, Proj::Index { index, .. } if reads_local(index, id)))
    };
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::SliceLen(_) | ExprKind::DynamicSharedLen(_) => false,
        ExprKind::Load(p) | ExprKind::Borrow(p) => place_reads(p),
        ExprKind::Unary(_, a)
        | ExprKind::Cast(a)
        | ExprKind::Field(a, _)
        | ExprKind::ArrayRepeat(a, _)
        | ExprKind::Assert { cond: a, .. } => reads_local(a, id),
        ExprKind::Binary(_, a, b)
        | ExprKind::Check {
            index: a, len: b, ..
        } => reads_local(a, id) || reads_local(b, id),
        ExprKind::Atomic { place, args, .. } => {
            place_reads(place) || args.iter().any(|a| reads_local(a, id))
        }
        ExprKind::Call(_, args)
        | ExprKind::Collective { args, .. }
        | ExprKind::Intrinsic(_, args)
        | ExprKind::StructLit(args)
        | ExprKind::ArrayLit(args) => args.iter().any(|a| reads_local(a, id)),
    }
}

fn local_storage(cx: &FnCtx<'_>, id: u32) -> CompileResult<Storage> {
    cx.locals
        .get(id as usize)
        .copied()
        .ok_or_else(|| format!("unknown local {id} in `{}`", cx.func.name))
}

fn loop_frame(cx: &FnCtx<'_>, id: LoopId) -> CompileResult<MaskSlot> {
    cx.loops.get(&id).copied().ok_or_else(|| {
        format!(
            "`break`/`continue` names unknown loop {id} in `{}`",
            cx.func.name
        )
    })
}

/// The size of `ty` in bytes, without the 32-bit wrap-around of
/// `Kernel::size_of` (an array of arrays can pass 4 GiB).
fn wide_size_of(k: &Kernel, ty: &Ty) -> u64 {
    match ty {
        Ty::Array(elem, len) => wide_size_of(k, elem).saturating_mul(u64::from(*len)),
        _ => u64::from(k.size_of(ty)),
    }
}
