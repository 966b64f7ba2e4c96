//! Tests of the CPU backend with hand-built IR (the front end is tested on
//! its own; these pin the interpreter's semantics).
mod alloc;
mod arith;
mod atomics;
mod barriers;
mod bench;
mod control;
mod dynamic_shared;
mod faults;
mod groups;
mod intrinsics;
mod memory;
mod ring;
mod warp_segments;
mod warps;

use std::sync::Arc;

use spindle_codegen::ir::*;
use spindle_codegen::KernelMode;

use super::{CpuDevice, HostMem, InterpretedHandler};
use crate::buffer::Mem;
use crate::kernel::KernelArg;
use crate::queue::Storage;
use crate::types::{bytes_of, DeviceType};
use crate::{Launch, Result};

/// Builds a kernel: parameters, locals, fault sites, structs.
pub(super) struct KernelBuilder {
    k: Kernel,
}

impl KernelBuilder {
    pub fn new(name: &str) -> Self {
        KernelBuilder {
            k: Kernel {
                file: "test.rs".into(),
                structs: vec![dim3_def()],
                ..Kernel::new(name, KernelMode::Batch, Function::new(name, Ty::Unit))
            },
        }
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

    /// An immutable local (`let x`).
    pub fn local(&mut self, name: &str, ty: Ty) -> LocalId {
        self.k.entry.locals.push(Local {
            name: name.into(),
            ty,
            mutable: false,
        });
        self.k.entry.locals.len() as u32 - 1
    }

    /// A mutable local (`let mut x`).
    pub fn local_mut(&mut self, name: &str, ty: Ty) -> LocalId {
        self.k.entry.locals.push(Local {
            name: name.into(),
            ty,
            mutable: true,
        });
        self.k.entry.locals.len() as u32 - 1
    }

    pub fn site(&mut self, what: &str, line: u32) -> SiteId {
        self.k.fault_sites.push(FaultSite {
            what: what.into(),
            function: self.k.name.clone(),
            span: SrcSpan { line, column: 0 },
        });
        self.k.fault_sites.len() as u32 - 1
    }

    pub fn add_struct(&mut self, name: &str, fields: &[(&str, Ty)]) -> StructId {
        let mut offset = 0u32;
        let mut align = 1u32;
        let mut defs = vec![];
        for (n, t) in fields {
            let a = self.k.align_of(t);
            let s = self.k.size_of(t);
            offset = offset.div_ceil(a) * a;
            defs.push(FieldDef {
                name: n.to_string(),
                offset,
                ty: t.clone(),
            });
            offset += s;
            align = align.max(a);
        }
        self.k.structs.push(StructDef {
            name: name.into(),
            size: offset.div_ceil(align) * align,
            align,
            fields: defs,
        });
        self.k.structs.len() as u32 - 1
    }

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

    pub fn struct_size(&self, id: StructId) -> u32 {
        self.k.structs[id as usize].size
    }

    pub fn ring(mut self, threads: u32, ret: Ty) -> Self {
        self.k.mode = KernelMode::Ring;
        self.k.threads = threads;
        self.k.entry.ret = ret;
        self
    }

    pub fn no_bounds_checks(mut self) -> Self {
        self.k.bounds_checks = false;
        self
    }

    pub fn build(mut self, body: Vec<Stmt>) -> Arc<Kernel> {
        self.k.entry.body = Block { stmts: body };
        Arc::new(self.k)
    }
}

// ---- expressions ----

pub(super) fn sc(s: Scalar) -> Ty {
    Ty::Scalar(s)
}

pub(super) fn ex(kind: ExprKind, ty: Ty) -> Expr {
    Expr { kind, ty }
}

pub(super) fn int(s: Scalar, v: i128) -> Expr {
    ex(ExprKind::Lit(Lit::Int(v)), sc(s))
}

pub(super) fn usize_(v: i128) -> Expr {
    int(Scalar::Usize, v)
}

pub(super) fn float(s: Scalar, v: f64) -> Expr {
    ex(ExprKind::Lit(Lit::Float(v)), sc(s))
}

pub(super) fn boolean(b: bool) -> Expr {
    ex(ExprKind::Lit(Lit::Bool(b)), sc(Scalar::Bool))
}

pub(super) fn place_local(id: LocalId, ty: Ty) -> Place {
    Place {
        root: PlaceRoot::Local(id),
        proj: vec![],
        ty,
    }
}

pub(super) fn place_param(id: ParamId, ty: Ty) -> Place {
    Place {
        root: PlaceRoot::Param(id),
        proj: vec![],
        ty,
    }
}

/// `root[idx]` of element type `ty`.
pub(super) fn place_index(root: PlaceRoot, idx: Expr, site: SiteId, ty: Ty) -> Place {
    Place {
        root,
        proj: vec![Proj::Index {
            index: Box::new(idx),
            site,
        }],
        ty,
    }
}

pub(super) fn load(p: Place) -> Expr {
    let ty = p.ty.clone();
    ex(ExprKind::Load(p), ty)
}

pub(super) fn local(id: LocalId, ty: Ty) -> Expr {
    load(place_local(id, ty))
}

pub(super) fn param(id: ParamId, ty: Ty) -> Expr {
    load(place_param(id, ty))
}

/// `slice[idx]` of a slice parameter.
pub(super) fn elem(p: ParamId, idx: Expr, site: SiteId, ty: Ty) -> Expr {
    load(place_index(PlaceRoot::Param(p), idx, site, ty))
}

pub(super) fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let ty = if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) {
        sc(Scalar::Bool)
    } else {
        a.ty.clone()
    };
    ex(ExprKind::Binary(op, Box::new(a), Box::new(b)), ty)
}

pub(super) fn un(op: UnOp, a: Expr) -> Expr {
    let ty = a.ty.clone();
    ex(ExprKind::Unary(op, Box::new(a)), ty)
}

pub(super) fn cast(a: Expr, to: Scalar) -> Expr {
    ex(ExprKind::Cast(Box::new(a)), sc(to))
}

pub(super) fn intr(i: Intrinsic, args: Vec<Expr>, ty: Ty) -> Expr {
    ex(ExprKind::Intrinsic(i, args), ty)
}

pub(super) fn global_index() -> Expr {
    intr(Intrinsic::GlobalIndex, vec![], sc(Scalar::Usize))
}

/// `thread_idx().x` etc.: `which` is ThreadIdx/BlockIdx/BlockDim/GridDim.
pub(super) fn dim(which: Intrinsic, axis: u32) -> Expr {
    ex(
        ExprKind::Field(Box::new(intr(which, vec![], Ty::Struct(0))), axis),
        sc(Scalar::U32),
    )
}

pub(super) fn slice_len(p: ParamId) -> Expr {
    ex(ExprKind::SliceLen(p), sc(Scalar::Usize))
}

/// `shared[idx]` of a shared array with element type `ty`.
pub(super) fn shared_elem(id: u32, idx: Expr, site: SiteId, ty: Ty) -> Place {
    place_index(PlaceRoot::Shared(id), idx, site, ty)
}

/// `view[idx]` of a dynamic shared view with element type `ty`.
pub(super) fn dyn_elem(id: u32, idx: Expr, site: SiteId, ty: Ty) -> Place {
    place_index(PlaceRoot::DynamicShared(id), idx, site, ty)
}

/// `view.len()` of a dynamic shared view.
pub(super) fn dyn_len(id: u32) -> Expr {
    ex(ExprKind::DynamicSharedLen(id), sc(Scalar::Usize))
}

/// `op(&mut place, args…)`.
pub(super) fn atomic(op: AtomicOp, place: Place, args: Vec<Expr>) -> Expr {
    let ty = place.ty.clone();
    ex(ExprKind::Atomic { op, place, args }, ty)
}

/// A barrier or warp operation giving `ty`.
pub(super) fn collective(op: CollectiveOp, args: Vec<Expr>, site: SiteId, ty: Ty) -> Expr {
    ex(ExprKind::Collective { op, args, site }, ty)
}

/// `sync_threads();`
pub(super) fn sync_threads(site: SiteId) -> Stmt {
    st(StmtKind::Expr(collective(
        CollectiveOp::SyncThreads,
        vec![],
        site,
        Ty::Unit,
    )))
}

pub(super) fn lane_id() -> Expr {
    intr(Intrinsic::LaneId, vec![], sc(Scalar::U32))
}

/// The linear thread index in the block, `x + y × bdx + z × bdx × bdy`
/// (u32).
pub(super) fn linear_tid() -> Expr {
    let t = |axis| dim(Intrinsic::ThreadIdx, axis);
    let b = |axis| dim(Intrinsic::BlockDim, axis);
    // x + bdx × (y + bdy × z)
    let yz = bin(BinOp::Add, t(1), bin(BinOp::Mul, b(1), t(2)));
    bin(BinOp::Add, t(0), bin(BinOp::Mul, b(0), yz))
}

// ---- statements ----

pub(super) fn st(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SrcSpan::default(),
    }
}

pub(super) fn let_(local: LocalId, init: Expr) -> Stmt {
    st(StmtKind::Let {
        local,
        init: Some(init),
    })
}

pub(super) fn assign(place: Place, value: Expr) -> Stmt {
    st(StmtKind::Assign { place, value })
}

pub(super) fn compound(place: Place, op: BinOp, value: Expr) -> Stmt {
    st(StmtKind::CompoundAssign { place, op, value })
}

pub(super) fn if_(cond: Expr, then_: Vec<Stmt>, else_: Vec<Stmt>) -> Stmt {
    st(StmtKind::If {
        cond,
        then_block: Block { stmts: then_ },
        else_block: Block { stmts: else_ },
    })
}

/// `out[i] = value` for a slice parameter.
pub(super) fn store_elem(p: ParamId, idx: Expr, site: SiteId, ty: Ty, value: Expr) -> Stmt {
    assign(place_index(PlaceRoot::Param(p), idx, site, ty), value)
}

// ---- running ----

pub(super) fn mem<T: DeviceType>(data: &[T]) -> Arc<Storage> {
    Arc::new(Storage::new(Mem::Cpu(
        HostMem::from_bytes(bytes_of(data), String::new).unwrap(),
    )))
}

pub(super) fn read<T: DeviceType + Default>(m: &Storage) -> Vec<T> {
    let Mem::Cpu(h) = &m.mem else {
        panic!("not host memory")
    };
    // SAFETY (test): no launch is running on the memory.
    let bytes = unsafe { h.bytes() };
    let n = bytes.len() / std::mem::size_of::<T>();
    (0..n)
        // SAFETY (test): `T` is plain data and the bytes came from `T`s.
        .map(|i| unsafe {
            std::ptr::read_unaligned(bytes.as_ptr().add(i * std::mem::size_of::<T>()).cast::<T>())
        })
        .collect()
}

pub(super) fn arg_in<T: DeviceType>(m: &Arc<Storage>, len: usize) -> KernelArg<'_> {
    KernelArg::Slice {
        desc: &T::DESC,
        mem: m,
        len,
    }
}

pub(super) fn arg_out<T: DeviceType>(m: &mut Arc<Storage>, len: usize) -> KernelArg<'_> {
    KernelArg::SliceMut {
        desc: &T::DESC,
        mem: m,
        len,
    }
}

pub(super) fn launch(k: &Arc<Kernel>, l: Launch, args: &mut [KernelArg<'_>]) -> Result<()> {
    CpuDevice::new().launch(k, &l, args)
}

/// A kernel `out[i] = f(x[i])` over `i = global_index() < out.len()`.
pub(super) fn map_kernel(a: Scalar, r: Scalar, f: impl Fn(Expr) -> Expr) -> Arc<Kernel> {
    let mut k = KernelBuilder::new("map");
    let x = k.slice("x", sc(a), false);
    let out = k.slice("out", sc(r), true);
    let i = k.local("i", sc(Scalar::Usize));
    let sx = k.site("x", 2);
    let so = k.site("out", 3);
    let body = vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, local(i, sc(Scalar::Usize)), slice_len(out)),
            vec![store_elem(
                out,
                local(i, sc(Scalar::Usize)),
                so,
                sc(r),
                f(elem(x, local(i, sc(Scalar::Usize)), sx, sc(a))),
            )],
            vec![],
        ),
    ];
    k.build(body)
}

/// A kernel `out[i] = f(x[i], y[i])`.
pub(super) fn zip_kernel(
    a: Scalar,
    b: Scalar,
    r: Scalar,
    f: impl Fn(Expr, Expr) -> Expr,
) -> Arc<Kernel> {
    let mut k = KernelBuilder::new("zip");
    let x = k.slice("x", sc(a), false);
    let y = k.slice("y", sc(b), false);
    let out = k.slice("out", sc(r), true);
    let i = k.local("i", sc(Scalar::Usize));
    let s = k.site("x", 2);
    let iu = || local(i, sc(Scalar::Usize));
    let body = vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(out)),
            vec![store_elem(
                out,
                iu(),
                s,
                sc(r),
                f(elem(x, iu(), s, sc(a)), elem(y, iu(), s, sc(b))),
            )],
            vec![],
        ),
    ];
    k.build(body)
}

/// Runs a [`map_kernel`] over `xs` in blocks of 64 threads.
pub(super) fn run_map<A: DeviceType, R: DeviceType + Default>(k: &Arc<Kernel>, xs: &[A]) -> Vec<R> {
    let x = mem(xs);
    let mut out = mem(&vec![R::default(); xs.len()]);
    let l = Launch::new((xs.len() as u32).div_ceil(64), 64);
    launch(
        k,
        l,
        &mut [arg_in::<A>(&x, xs.len()), arg_out::<R>(&mut out, xs.len())],
    )
    .unwrap();
    read(&out)
}

/// Runs a [`zip_kernel`].
pub(super) fn run_zip<A: DeviceType, B: DeviceType, R: DeviceType + Default>(
    k: &Arc<Kernel>,
    xs: &[A],
    ys: &[B],
) -> Vec<R> {
    assert_eq!(xs.len(), ys.len());
    let (x, y) = (mem(xs), mem(ys));
    let mut out = mem(&vec![R::default(); xs.len()]);
    let l = Launch::new((xs.len() as u32).div_ceil(64), 64);
    launch(
        k,
        l,
        &mut [
            arg_in::<A>(&x, xs.len()),
            arg_in::<B>(&y, ys.len()),
            arg_out::<R>(&mut out, xs.len()),
        ],
    )
    .unwrap();
    read(&out)
}

/// The saxpy kernel of the README's quickstart: `y[i] = a * x[i] + y[i]`.
pub(super) fn saxpy_kernel() -> Arc<Kernel> {
    let mut k = KernelBuilder::new("saxpy");
    let f = sc(Scalar::F32);
    let a = k.value("a", f.clone());
    let x = k.slice("x", f.clone(), false);
    let y = k.slice("y", f.clone(), true);
    let i = k.local("i", sc(Scalar::Usize));
    let sx = k.site("x", 4);
    let sy = k.site("y", 4);
    let iu = || local(i, sc(Scalar::Usize));
    k.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(y)),
            vec![store_elem(
                y,
                iu(),
                sy,
                f.clone(),
                bin(
                    BinOp::Add,
                    bin(
                        BinOp::Mul,
                        param(a, f.clone()),
                        elem(x, iu(), sx, f.clone()),
                    ),
                    elem(y, iu(), sy, f.clone()),
                ),
            )],
            vec![],
        ),
    ])
}

#[test]
fn saxpy_runs_over_a_partial_last_block() {
    let k = saxpy_kernel();
    let n = 1000;
    let xs: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let ys: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.5).collect();
    let x = mem(&xs);
    let mut y = mem(&ys);
    let a = 3.0f32;
    launch(
        &k,
        Launch::for_elements(n),
        &mut [
            KernelArg::value(&a),
            arg_in::<f32>(&x, n),
            arg_out::<f32>(&mut y, n),
        ],
    )
    .unwrap();
    let got: Vec<f32> = read(&y);
    let want: Vec<f32> = xs.iter().zip(&ys).map(|(x, y)| a * x + y).collect();
    assert_eq!(got, want);
}
