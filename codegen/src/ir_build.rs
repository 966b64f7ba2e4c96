//! Builders for hand-written IR: the one vocabulary of the tests that build
//! kernels without the front end (the emitter's unit tests, the CPU
//! interpreter's tests, `ring::samples`). Only with the `testing` feature;
//! not part of any API.
//!
//! - [`KernelBuilder`]: a kernel — its entry's parameters and locals, fault
//!   sites, structs, device functions, shared arrays — finished with
//!   [`KernelBuilder::build`] (a body of statements) or
//!   [`KernelBuilder::entry`] (a whole [`Function`]).
//! - [`FnBuilder`]: a function whose statements get increasing lines.
//! - Free functions for types, literals, places, expressions and
//!   statements, each giving the IR node its type as the front end would.
#![doc(hidden)]

use std::sync::Arc;

use crate::ir::*;
use crate::KernelMode;

/// A kernel under construction.
pub struct KernelBuilder {
    /// The kernel so far (its entry is built in place).
    pub k: Kernel,
}

impl KernelBuilder {
    /// A batch kernel in `test.rs` with `Dim3` as struct 0 (for
    /// `thread_idx()` and the like, see [`dim`]).
    pub fn new(name: &str) -> Self {
        let mut b = Self::with_mode(name, KernelMode::Batch);
        b.k.file = "test.rs".into();
        b.k.structs.push(dim3_def());
        b
    }

    /// A kernel of `mode` in `src/kernels.rs`, with no structs.
    pub fn with_mode(name: &str, mode: KernelMode) -> Self {
        KernelBuilder {
            k: Kernel {
                file: "src/kernels.rs".into(),
                ..Kernel::new(name, mode, FnBuilder::new(name, Ty::Unit).finish())
            },
        }
    }

    /// [`KernelBuilder::with_mode`] for a batch kernel.
    pub fn batch(name: &str) -> Self {
        Self::with_mode(name, KernelMode::Batch)
    }

    fn param(&mut self, name: &str, kind: ParamKind, mutable: bool) -> ParamId {
        self.k.entry.params.push(Param {
            name: name.into(),
            kind,
            mutable,
        });
        self.k.entry.params.len() as u32 - 1
    }

    /// `name: &[elem]` or `&mut [elem]`.
    pub fn slice(&mut self, name: &str, elem: Ty, mutable: bool) -> ParamId {
        self.param(name, ParamKind::Slice { elem, mutable }, false)
    }

    /// `name: ty` by value.
    pub fn value(&mut self, name: &str, ty: Ty) -> ParamId {
        self.param(name, ParamKind::Value(ty), false)
    }

    /// `mut name: ty` by value.
    pub fn value_mut(&mut self, name: &str, ty: Ty) -> ParamId {
        self.param(name, ParamKind::Value(ty), true)
    }

    /// `state: &mut ty` (ring).
    pub fn state(&mut self, ty: Ty) -> ParamId {
        self.param("state", ParamKind::StateRef(ty), false)
    }

    /// An immutable local of the entry (`let x`).
    pub fn local(&mut self, name: &str, ty: Ty) -> LocalId {
        push_local(&mut self.k.entry, name, ty, false)
    }

    /// A mutable local of the entry (`let mut x`).
    pub fn local_mut(&mut self, name: &str, ty: Ty) -> LocalId {
        push_local(&mut self.k.entry, name, ty, true)
    }

    /// A fault site: `what` is checked at `line` of the kernel.
    pub fn site(&mut self, what: &str, line: u32) -> SiteId {
        self.k.fault_sites.push(FaultSite {
            what: what.into(),
            function: self.k.name.clone(),
            span: SrcSpan { line, column: 0 },
        });
        self.k.fault_sites.len() as u32 - 1
    }

    /// A struct as given.
    pub fn push_struct(&mut self, def: StructDef) -> StructId {
        self.k.structs.push(def);
        self.k.structs.len() as u32 - 1
    }

    /// A struct of `fields` laid out as `#[repr(C)]` would.
    pub fn add_struct(&mut self, name: &str, fields: &[(&str, Ty)]) -> StructId {
        let mut offset = 0u32;
        let mut align = 1u32;
        let mut defs = vec![];
        for (n, t) in fields {
            let a = self.k.align_of(t);
            offset = offset.div_ceil(a) * a;
            defs.push(FieldDef {
                name: n.to_string(),
                offset,
                ty: t.clone(),
            });
            offset += self.k.size_of(t);
            align = align.max(a);
        }
        self.push_struct(StructDef {
            name: name.into(),
            size: offset.div_ceil(align) * align,
            align,
            fields: defs,
        })
    }

    /// `Dim3`.
    pub fn dim3(&mut self) -> StructId {
        self.push_struct(dim3_def())
    }

    /// The size of struct `id`.
    pub fn struct_size(&self, id: StructId) -> u32 {
        self.k.structs[id as usize].size
    }

    /// A `#[device]` function.
    pub fn device_fn(&mut self, f: Function) -> FnId {
        self.k.device_fns.push(f);
        self.k.device_fns.len() as u32 - 1
    }

    /// `let name = shared_array::<elem, len>();`: the array's id.
    pub fn shared(&mut self, name: &str, elem: Ty, len: u32) -> u32 {
        self.k.shared.push(SharedArray {
            name: name.into(),
            elem,
            len,
            span: SrcSpan::default(),
        });
        self.k.shared.len() as u32 - 1
    }

    /// `let name = dynamic_shared::<elem>();`: the view's id.
    pub fn dynamic_shared(&mut self, name: &str, elem: Ty) -> u32 {
        self.k.dynamic_shared.push(DynamicShared {
            name: name.into(),
            elem,
            span: SrcSpan::default(),
        });
        self.k.dynamic_shared.len() as u32 - 1
    }

    /// A ring kernel of `threads` threads whose handler returns `ret`.
    pub fn ring(mut self, threads: u32, ret: Ty) -> Self {
        self.k.mode = KernelMode::Ring;
        self.k.threads = threads;
        self.k.entry.ret = ret;
        self
    }

    /// `#[kernel(bounds_checks = false)]`.
    pub fn no_bounds_checks(mut self) -> Self {
        self.k.bounds_checks = false;
        self
    }

    /// The kernel, with `body` as its entry's body.
    pub fn build(mut self, body: Vec<Stmt>) -> Arc<Kernel> {
        self.k.entry.body = Block { stmts: body };
        Arc::new(self.k)
    }

    /// The kernel, with `f` as its entry.
    pub fn entry(mut self, f: Function) -> Kernel {
        self.k.entry = f;
        self.k
    }
}

fn push_local(f: &mut Function, name: &str, ty: Ty, mutable: bool) -> LocalId {
    f.locals.push(Local {
        name: name.into(),
        ty,
        mutable,
    });
    f.locals.len() as u32 - 1
}

/// A function under construction; statements get increasing line numbers
/// (from 11).
pub struct FnBuilder {
    pub f: Function,
    line: u32,
}

impl FnBuilder {
    pub fn new(name: &str, ret: Ty) -> Self {
        FnBuilder {
            f: Function {
                span: SrcSpan {
                    line: 10,
                    column: 0,
                },
                ..Function::new(name, ret)
            },
            line: 10,
        }
    }

    /// A parameter of any kind.
    pub fn param(&mut self, name: &str, kind: ParamKind) -> ParamId {
        self.f.params.push(Param {
            name: name.to_string(),
            kind,
            mutable: false,
        });
        self.f.params.len() as u32 - 1
    }

    /// `name: t` by value.
    pub fn value(&mut self, name: &str, t: Ty) -> ParamId {
        self.param(name, ParamKind::Value(t))
    }

    /// `name: &[elem]` or `&mut [elem]`.
    pub fn slice(&mut self, name: &str, elem: Ty, mutable: bool) -> ParamId {
        self.param(name, ParamKind::Slice { elem, mutable })
    }

    /// A local.
    pub fn local(&mut self, name: &str, t: Ty, mutable: bool) -> LocalId {
        push_local(&mut self.f, name, t, mutable)
    }

    /// Appends a statement to the body.
    pub fn push(&mut self, kind: StmtKind) {
        self.line += 1;
        self.f.body.stmts.push(Stmt {
            kind,
            span: SrcSpan {
                line: self.line,
                column: 4,
            },
        });
    }

    /// `let name: t = init;` and its id.
    pub fn let_(&mut self, name: &str, init: Expr, mutable: bool) -> LocalId {
        let id = self.local(name, init.ty.clone(), mutable);
        self.push(StmtKind::Let {
            local: id,
            init: Some(init),
        });
        id
    }

    pub fn finish(self) -> Function {
        self.f
    }
}

// ---- types and literals ----

/// The scalar type `s`.
pub fn ty(s: Scalar) -> Ty {
    Ty::Scalar(s)
}

/// `[elem; len]`.
pub fn arr(elem: Ty, len: u32) -> Ty {
    Ty::Array(Box::new(elem), len)
}

/// An expression of `kind` and type `ty`.
pub fn expr(kind: ExprKind, ty: Ty) -> Expr {
    Expr { kind, ty }
}

/// An integer literal of type `s`.
pub fn int(s: Scalar, v: i128) -> Expr {
    expr(ExprKind::Lit(Lit::Int(v)), ty(s))
}

/// A `usize` literal.
pub fn usize_(v: i128) -> Expr {
    int(Scalar::Usize, v)
}

/// A float literal of type `s`.
pub fn float(s: Scalar, v: f64) -> Expr {
    expr(ExprKind::Lit(Lit::Float(v)), ty(s))
}

/// `true` or `false`.
pub fn boolean(b: bool) -> Expr {
    expr(ExprKind::Lit(Lit::Bool(b)), ty(Scalar::Bool))
}

// ---- places ----

/// `root` with the projections `proj`, of type `ty`.
pub fn place(root: PlaceRoot, proj: Vec<Proj>, ty: Ty) -> Place {
    Place { root, proj, ty }
}

/// Local `id`.
pub fn place_local(id: LocalId, ty: Ty) -> Place {
    place(PlaceRoot::Local(id), vec![], ty)
}

/// Parameter `id`.
pub fn place_param(id: ParamId, ty: Ty) -> Place {
    place(PlaceRoot::Param(id), vec![], ty)
}

/// `p[i]`, of element type `elem`, checked at `site`.
pub fn index(mut p: Place, i: Expr, site: SiteId, elem: Ty) -> Place {
    p.proj.push(Proj::Index {
        index: Box::new(i),
        site,
    });
    p.ty = elem;
    p
}

/// `root[idx]` of element type `ty`.
pub fn place_index(root: PlaceRoot, idx: Expr, site: SiteId, ty: Ty) -> Place {
    index(place(root, vec![], ty.clone()), idx, site, ty)
}

/// Field `f` of `p`, of type `t`.
pub fn field(mut p: Place, f: u32, t: Ty) -> Place {
    p.proj.push(Proj::Field(f));
    p.ty = t;
    p
}

/// `shared[idx]` of a shared array with element type `ty`.
pub fn shared_elem(id: u32, idx: Expr, site: SiteId, ty: Ty) -> Place {
    place_index(PlaceRoot::Shared(id), idx, site, ty)
}

/// `view[idx]` of a dynamic shared view with element type `ty`.
pub fn dyn_elem(id: u32, idx: Expr, site: SiteId, ty: Ty) -> Place {
    place_index(PlaceRoot::DynamicShared(id), idx, site, ty)
}

// ---- expressions ----

/// Reads `p`.
pub fn load(p: Place) -> Expr {
    let ty = p.ty.clone();
    expr(ExprKind::Load(p), ty)
}

/// Reads local `id`.
pub fn local(id: LocalId, ty: Ty) -> Expr {
    load(place_local(id, ty))
}

/// Reads parameter `id`.
pub fn param(id: ParamId, ty: Ty) -> Expr {
    load(place_param(id, ty))
}

/// `slice[idx]` of a slice parameter.
pub fn elem(p: ParamId, idx: Expr, site: SiteId, ty: Ty) -> Expr {
    load(place_index(PlaceRoot::Param(p), idx, site, ty))
}

/// `a op b`: `bool` for comparisons and `&&`/`||`, else `a`'s type.
pub fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let t = if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) {
        ty(Scalar::Bool)
    } else {
        a.ty.clone()
    };
    expr(ExprKind::Binary(op, Box::new(a), Box::new(b)), t)
}

/// `op a`.
pub fn un(op: UnOp, a: Expr) -> Expr {
    let t = a.ty.clone();
    expr(ExprKind::Unary(op, Box::new(a)), t)
}

/// `a as to`.
pub fn cast(a: Expr, to: Scalar) -> Expr {
    expr(ExprKind::Cast(Box::new(a)), ty(to))
}

/// An intrinsic call giving `t`.
pub fn intr(i: Intrinsic, args: Vec<Expr>, t: Ty) -> Expr {
    expr(ExprKind::Intrinsic(i, args), t)
}

/// A call of device function `f` giving `t`.
pub fn call(f: FnId, args: Vec<Expr>, t: Ty) -> Expr {
    expr(ExprKind::Call(f, args), t)
}

/// `global_index()`.
pub fn global_index() -> Expr {
    intr(Intrinsic::GlobalIndex, vec![], ty(Scalar::Usize))
}

/// `thread_idx().x` etc.: `which` is ThreadIdx/BlockIdx/BlockDim/GridDim,
/// with `Dim3` as struct 0.
pub fn dim(which: Intrinsic, axis: u32) -> Expr {
    expr(
        ExprKind::Field(Box::new(intr(which, vec![], Ty::Struct(0))), axis),
        ty(Scalar::U32),
    )
}

/// `lane_id()`.
pub fn lane_id() -> Expr {
    intr(Intrinsic::LaneId, vec![], ty(Scalar::U32))
}

/// `slice.len()` of a slice parameter.
pub fn slice_len(p: ParamId) -> Expr {
    expr(ExprKind::SliceLen(p), ty(Scalar::Usize))
}

/// `view.len()` of a dynamic shared view.
pub fn dyn_len(id: u32) -> Expr {
    expr(ExprKind::DynamicSharedLen(id), ty(Scalar::Usize))
}

/// `op(&mut place, args…)`.
pub fn atomic(op: AtomicOp, place: Place, args: Vec<Expr>) -> Expr {
    let t = place.ty.clone();
    expr(ExprKind::Atomic { op, place, args }, t)
}

/// A barrier or warp operation giving `t`.
pub fn collective(op: CollectiveOp, args: Vec<Expr>, site: SiteId, t: Ty) -> Expr {
    expr(ExprKind::Collective { op, args, site }, t)
}

// ---- statements ----

/// A statement of `kind` at line 0.
pub fn stmt(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SrcSpan::default(),
    }
}

/// A block of statements of `kinds`.
pub fn block(kinds: Vec<StmtKind>) -> Block {
    Block {
        stmts: kinds.into_iter().map(stmt).collect(),
    }
}

/// `let local = init;`
pub fn let_(local: LocalId, init: Expr) -> Stmt {
    stmt(StmtKind::Let {
        local,
        init: Some(init),
    })
}

/// `place = value;`
pub fn assign(place: Place, value: Expr) -> Stmt {
    stmt(StmtKind::Assign { place, value })
}

/// `place op= value;`
pub fn compound(place: Place, op: BinOp, value: Expr) -> Stmt {
    stmt(StmtKind::CompoundAssign { place, op, value })
}

/// `if cond { then_ } else { else_ }`
pub fn if_(cond: Expr, then_: Vec<Stmt>, else_: Vec<Stmt>) -> Stmt {
    stmt(StmtKind::If {
        cond,
        then_block: Block { stmts: then_ },
        else_block: Block { stmts: else_ },
    })
}

/// `out[i] = value` for a slice parameter.
pub fn store_elem(p: ParamId, idx: Expr, site: SiteId, ty: Ty, value: Expr) -> Stmt {
    assign(place_index(PlaceRoot::Param(p), idx, site, ty), value)
}

/// `sync_threads();`
pub fn sync_threads(site: SiteId) -> Stmt {
    stmt(StmtKind::Expr(collective(
        CollectiveOp::SyncThreads,
        vec![],
        site,
        Ty::Unit,
    )))
}
