//! Small builders for hand-written IR.
#![allow(dead_code)] // builders used as the tests grow

use crate::ir::*;
use crate::KernelMode;

pub(crate) fn ty(s: Scalar) -> Ty {
    Ty::Scalar(s)
}

pub(crate) fn arr(elem: Ty, len: u32) -> Ty {
    Ty::Array(Box::new(elem), len)
}

/// A kernel under construction.
pub(crate) struct KernelBuilder {
    pub(crate) k: Kernel,
}

impl KernelBuilder {
    pub(crate) fn new(name: &str, mode: KernelMode) -> Self {
        KernelBuilder {
            k: Kernel {
                file: "src/kernels.rs".to_string(),
                ..Kernel::new(name, mode, FnBuilder::new(name, Ty::Unit).finish())
            },
        }
    }

    pub(crate) fn batch(name: &str) -> Self {
        Self::new(name, KernelMode::Batch)
    }

    pub(crate) fn add_struct(&mut self, def: StructDef) -> StructId {
        self.k.structs.push(def);
        self.k.structs.len() as u32 - 1
    }

    /// A struct laid out as `#[repr(C)]` would.
    pub(crate) fn repr_c(&mut self, name: &str, fields: &[(&str, Ty)]) -> StructId {
        let mut off = 0u32;
        let mut align = 1;
        let mut defs = Vec::new();
        for (n, t) in fields {
            let a = self.k.align_of(t);
            align = align.max(a);
            off = off.div_ceil(a) * a;
            defs.push(FieldDef {
                name: n.to_string(),
                offset: off,
                ty: t.clone(),
            });
            off += self.k.size_of(t);
        }
        self.add_struct(StructDef {
            name: name.to_string(),
            size: off.div_ceil(align) * align,
            align,
            fields: defs,
        })
    }

    pub(crate) fn dim3(&mut self) -> StructId {
        self.add_struct(dim3_def())
    }

    pub(crate) fn site(&mut self, what: &str) -> SiteId {
        self.k.fault_sites.push(FaultSite {
            what: what.to_string(),
            function: self.k.name.clone(),
            span: SrcSpan { line: 1, column: 0 },
        });
        self.k.fault_sites.len() as u32 - 1
    }

    pub(crate) fn device_fn(&mut self, f: Function) -> FnId {
        self.k.device_fns.push(f);
        self.k.device_fns.len() as u32 - 1
    }

    pub(crate) fn entry(mut self, f: Function) -> Kernel {
        self.k.entry = f;
        self.k
    }
}

/// A function under construction; statements get increasing line numbers.
pub(crate) struct FnBuilder {
    pub(crate) f: Function,
    line: u32,
}

impl FnBuilder {
    pub(crate) fn new(name: &str, ret: Ty) -> Self {
        FnBuilder {
            f: Function {
                name: name.to_string(),
                params: Vec::new(),
                ret,
                locals: Vec::new(),
                body: Block::default(),
                span: SrcSpan {
                    line: 10,
                    column: 0,
                },
            },
            line: 10,
        }
    }

    pub(crate) fn param(&mut self, name: &str, kind: ParamKind) -> ParamId {
        self.f.params.push(Param {
            name: name.to_string(),
            kind,
            mutable: false,
        });
        self.f.params.len() as u32 - 1
    }

    pub(crate) fn value(&mut self, name: &str, t: Ty) -> ParamId {
        self.param(name, ParamKind::Value(t))
    }

    pub(crate) fn slice(&mut self, name: &str, elem: Ty, mutable: bool) -> ParamId {
        self.param(name, ParamKind::Slice { elem, mutable })
    }

    pub(crate) fn local(&mut self, name: &str, t: Ty, mutable: bool) -> LocalId {
        self.f.locals.push(Local {
            name: name.to_string(),
            ty: t,
            mutable,
        });
        self.f.locals.len() as u32 - 1
    }

    /// Appends a statement to the body.
    pub(crate) fn push(&mut self, kind: StmtKind) {
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
    pub(crate) fn let_(&mut self, name: &str, init: Expr, mutable: bool) -> LocalId {
        let id = self.local(name, init.ty.clone(), mutable);
        self.push(StmtKind::Let {
            local: id,
            init: Some(init),
        });
        id
    }

    pub(crate) fn finish(self) -> Function {
        self.f
    }
}

pub(crate) fn s(kind: StmtKind) -> Stmt {
    Stmt {
        kind,
        span: SrcSpan { line: 0, column: 0 },
    }
}

pub(crate) fn block(stmts: Vec<StmtKind>) -> Block {
    Block {
        stmts: stmts.into_iter().map(s).collect(),
    }
}

pub(crate) fn int(sc: Scalar, v: i128) -> Expr {
    Expr {
        kind: ExprKind::Lit(Lit::Int(v)),
        ty: ty(sc),
    }
}

pub(crate) fn usize_(v: i128) -> Expr {
    int(Scalar::Usize, v)
}

pub(crate) fn float(sc: Scalar, v: f64) -> Expr {
    Expr {
        kind: ExprKind::Lit(Lit::Float(v)),
        ty: ty(sc),
    }
}

pub(crate) fn boolean(b: bool) -> Expr {
    Expr {
        kind: ExprKind::Lit(Lit::Bool(b)),
        ty: ty(Scalar::Bool),
    }
}

pub(crate) fn local(id: LocalId, t: Ty) -> Place {
    Place {
        root: PlaceRoot::Local(id),
        proj: Vec::new(),
        ty: t,
    }
}

pub(crate) fn param(id: ParamId, t: Ty) -> Place {
    Place {
        root: PlaceRoot::Param(id),
        proj: Vec::new(),
        ty: t,
    }
}

pub(crate) fn index(mut p: Place, i: Expr, site: SiteId, elem: Ty) -> Place {
    p.proj.push(Proj::Index {
        index: Box::new(i),
        site,
    });
    p.ty = elem;
    p
}

pub(crate) fn field(mut p: Place, f: u32, t: Ty) -> Place {
    p.proj.push(Proj::Field(f));
    p.ty = t;
    p
}

pub(crate) fn load(p: Place) -> Expr {
    Expr {
        ty: p.ty.clone(),
        kind: ExprKind::Load(p),
    }
}

/// Reads local `id` of type `t`.
pub(crate) fn get(id: LocalId, t: Ty) -> Expr {
    load(local(id, t))
}

pub(crate) fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let t = if op.is_comparison() {
        ty(Scalar::Bool)
    } else {
        a.ty.clone()
    };
    Expr {
        kind: ExprKind::Binary(op, Box::new(a), Box::new(b)),
        ty: t,
    }
}

pub(crate) fn un(op: UnOp, a: Expr) -> Expr {
    Expr {
        ty: a.ty.clone(),
        kind: ExprKind::Unary(op, Box::new(a)),
    }
}

pub(crate) fn cast(a: Expr, to: Scalar) -> Expr {
    Expr {
        kind: ExprKind::Cast(Box::new(a)),
        ty: ty(to),
    }
}

pub(crate) fn intr(i: Intrinsic, args: Vec<Expr>, t: Ty) -> Expr {
    Expr {
        kind: ExprKind::Intrinsic(i, args),
        ty: t,
    }
}

pub(crate) fn call(f: FnId, args: Vec<Expr>, t: Ty) -> Expr {
    Expr {
        kind: ExprKind::Call(f, args),
        ty: t,
    }
}

pub(crate) fn slice_len(p: ParamId) -> Expr {
    Expr {
        kind: ExprKind::SliceLen(p),
        ty: ty(Scalar::Usize),
    }
}

/// The saxpy kernel of the README's quickstart.
pub(crate) fn saxpy() -> Kernel {
    use Scalar::*;
    let mut kb = KernelBuilder::batch("saxpy");
    let sx = kb.site("x");
    let sy = kb.site("y");
    let mut f = FnBuilder::new("saxpy", Ty::Unit);
    let a = f.value("a", ty(F32));
    let x = f.slice("x", ty(F32), false);
    let y = f.slice("y", ty(F32), true);
    let i = f.let_("i", intr(Intrinsic::GlobalIndex, vec![], ty(Usize)), false);
    let at = |p: ParamId, site| index(param(p, ty(F32)), get(i, ty(Usize)), site, ty(F32));
    let value = bin(
        BinOp::Add,
        bin(BinOp::Mul, load(param(a, ty(F32))), load(at(x, sx))),
        load(at(y, sy)),
    );
    f.push(StmtKind::If {
        cond: bin(BinOp::Lt, get(i, ty(Usize)), slice_len(y)),
        then_block: block(vec![StmtKind::Assign {
            place: at(y, sy),
            value,
        }]),
        else_block: Block::default(),
    });
    kb.entry(f.finish())
}

/// The emitted unit without `#line` directives.
pub(crate) fn code_of(k: &Kernel) -> String {
    crate::cuda::emit(
        k,
        &crate::cuda::EmitOptions {
            line_directives: false,
        },
    )
    .code
}
