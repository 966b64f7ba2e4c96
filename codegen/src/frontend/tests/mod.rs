//! Front-end tests: macro-time checks, inference, lowering, linking.
//! Each test parses Rust source with `syn::parse_str`, as the runtime does.

mod annotate;
mod basics;
mod closure_args;
mod consts;
mod dynamic_shared;
mod errors;
mod generics;
mod idioms;
mod infer;
mod intrinsic_errors;
mod intrinsics;
mod iter_extremes;
mod link;
mod lower;

use crate::ir::{Kernel, Local, Scalar, Ty};
use crate::layout::{FieldLayout, StructLayout, TypeDesc};
use crate::{ItemSource, KernelMode, KernelOptions, LinkError};

pub(super) fn parse(src: &str) -> syn::ItemFn {
    syn::parse_str(src).expect("test source parses")
}

pub(super) fn batch() -> KernelOptions {
    KernelOptions::new(KernelMode::Batch)
}

pub(super) fn ring() -> KernelOptions {
    KernelOptions::new(KernelMode::Ring)
}

/// Macro-time errors of a kernel: (message, line, column) of each.
pub(super) fn kernel_errors(src: &str, options: KernelOptions) -> Vec<(String, usize, usize)> {
    match super::analyze_kernel(&parse(src), &options) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .into_iter()
            .map(|e| {
                let s = e.span().start();
                (e.to_string(), s.line, s.column)
            })
            .collect(),
    }
}

/// The file name tests link under, and the line the kernel source starts on.
pub(super) const FILE: &str = "src/kernels.rs";
pub(super) const LINE: u32 = 10;

pub(super) fn item_source(src: &'static str, line: u32) -> ItemSource<'static> {
    let item = parse(src);
    let name: &'static str = Box::leak(item.sig.ident.to_string().into_boxed_str());
    ItemSource {
        name,
        source: src,
        file: FILE,
        line,
        consts: &[],
    }
}

pub(super) fn try_link(
    src: &'static str,
    options: KernelOptions,
    device_fns: &[&'static str],
    types: &[&'static TypeDesc],
) -> Result<Kernel, LinkError> {
    let kernel = item_source(src, LINE);
    let devs: Vec<ItemSource<'static>> = device_fns
        .iter()
        .enumerate()
        .map(|(i, s)| item_source(s, 100 + 20 * i as u32))
        .collect();
    crate::link(&kernel, &options, &devs, types)
}

pub(super) fn link(
    src: &'static str,
    options: KernelOptions,
    device_fns: &[&'static str],
    types: &[&'static TypeDesc],
) -> Kernel {
    match try_link(src, options, device_fns, types) {
        Ok(k) => k,
        Err(e) => panic!("link failed: {e}"),
    }
}

/// The local named `name` (the last one, if shadowed).
pub(super) fn local<'k>(k: &'k Kernel, name: &str) -> &'k Local {
    k.entry
        .locals
        .iter()
        .rev()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no local `{name}` in {:#?}", k.entry.locals))
}

pub(super) const fn s(x: Scalar) -> Ty {
    Ty::Scalar(x)
}

pub(super) static F32: TypeDesc = TypeDesc::Scalar(Scalar::F32);
pub(super) static U32: TypeDesc = TypeDesc::Scalar(Scalar::U32);
pub(super) static POS: TypeDesc = TypeDesc::Array { elem: &F32, len: 3 };
static PARTICLE_FIELDS: [FieldLayout; 2] = [
    FieldLayout {
        name: "pos",
        offset: 0,
        ty: &POS,
    },
    FieldLayout {
        name: "mass",
        offset: 12,
        ty: &F32,
    },
];
static PARTICLE_LAYOUT: StructLayout = StructLayout {
    name: "Particle",
    args: &[],
    size: 16,
    align: 4,
    fields: &PARTICLE_FIELDS,
};
/// `Particle { pos: [f32; 3], mass: f32 }`
pub(super) static PARTICLE: TypeDesc = TypeDesc::Struct(&PARTICLE_LAYOUT);

static HIST: TypeDesc = TypeDesc::Array { elem: &U32, len: 8 };
static TALLY_FIELDS: [FieldLayout; 3] = [
    FieldLayout {
        name: "count",
        offset: 0,
        ty: &U32,
    },
    FieldLayout {
        name: "sum",
        offset: 4,
        ty: &F32,
    },
    FieldLayout {
        name: "hist",
        offset: 8,
        ty: &HIST,
    },
];
static TALLY_LAYOUT: StructLayout = StructLayout {
    name: "Tally",
    args: &[],
    size: 40,
    align: 4,
    fields: &TALLY_FIELDS,
};
/// `Tally { count: u32, sum: f32, hist: [u32; 8] }`
pub(super) static TALLY: TypeDesc = TypeDesc::Struct(&TALLY_LAYOUT);

static ADD_FIELDS: [FieldLayout; 1] = [FieldLayout {
    name: "value",
    offset: 0,
    ty: &F32,
}];
static ADD_LAYOUT: StructLayout = StructLayout {
    name: "Add",
    args: &[],
    size: 4,
    align: 4,
    fields: &ADD_FIELDS,
};
/// `Add { value: f32 }`
pub(super) static ADD: TypeDesc = TypeDesc::Struct(&ADD_LAYOUT);

static SWARM_PARTS: TypeDesc = TypeDesc::Array {
    elem: &PARTICLE,
    len: 2,
};
static SWARM_FIELDS: [FieldLayout; 2] = [
    FieldLayout {
        name: "parts",
        offset: 0,
        ty: &SWARM_PARTS,
    },
    FieldLayout {
        name: "leader",
        offset: 32,
        ty: &U32,
    },
];
static SWARM_LAYOUT: StructLayout = StructLayout {
    name: "Swarm",
    args: &[],
    size: 36,
    align: 4,
    fields: &SWARM_FIELDS,
};
/// `Swarm { parts: [Particle; 2], leader: u32 }`
pub(super) static SWARM: TypeDesc = TypeDesc::Struct(&SWARM_LAYOUT);

/// Asserts that analyzing `src` as a kernel reports an error containing
/// `msg`, whose span starts at the first occurrence of `at` in `src`.
#[track_caller]
pub(super) fn assert_rejects(src: &str, options: KernelOptions, msg: &str, at: &str) {
    let errs = kernel_errors(src, options);
    let Some(err) = errs.iter().find(|e| e.0.contains(msg)) else {
        panic!("no error containing {msg:?} for\n{src}\ngot {errs:#?}");
    };
    let offset = src
        .find(at)
        .unwrap_or_else(|| panic!("{at:?} not in source"));
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count();
    assert_eq!(
        (err.1, err.2),
        (line, column),
        "error {:?} should point at {at:?}",
        err.0
    );
}

/// Every expression in a block, in pre-order.
pub(super) fn exprs(b: &crate::ir::Block) -> Vec<&crate::ir::Expr> {
    use crate::ir::{Expr, ExprKind, Place, Proj, StmtKind};
    fn place<'a>(p: &'a Place, out: &mut Vec<&'a Expr>) {
        for pr in &p.proj {
            if let Proj::Index { index, .. } = pr {
                expr(index, out);
            }
        }
    }
    fn expr<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        out.push(e);
        match &e.kind {
            ExprKind::Load(p) | ExprKind::Borrow(p) => place(p, out),
            ExprKind::Unary(_, a)
            | ExprKind::Cast(a)
            | ExprKind::Field(a, _)
            | ExprKind::Assert { cond: a, .. } => expr(a, out),
            ExprKind::ArrayRepeat(a, _) => expr(a, out),
            ExprKind::Binary(_, a, b)
            | ExprKind::Check {
                index: a, len: b, ..
            } => {
                expr(a, out);
                expr(b, out);
            }
            ExprKind::Atomic { place: p, args, .. } => {
                place(p, out);
                args.iter().for_each(|a| expr(a, out));
            }
            ExprKind::Call(_, args)
            | ExprKind::Collective { args, .. }
            | ExprKind::Intrinsic(_, args)
            | ExprKind::StructLit(args)
            | ExprKind::ArrayLit(args) => args.iter().for_each(|a| expr(a, out)),
            ExprKind::Lit(_) | ExprKind::SliceLen(_) | ExprKind::DynamicSharedLen(_) => {}
        }
    }
    fn block<'a>(b: &'a crate::ir::Block, out: &mut Vec<&'a Expr>) {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Let { init, .. } => init.iter().for_each(|e| expr(e, out)),
                StmtKind::Assign { place: p, value }
                | StmtKind::CompoundAssign {
                    place: p, value, ..
                } => {
                    place(p, out);
                    expr(value, out);
                }
                StmtKind::Expr(e) => expr(e, out),
                StmtKind::If {
                    cond,
                    then_block,
                    else_block,
                } => {
                    expr(cond, out);
                    block(then_block, out);
                    block(else_block, out);
                }
                StmtKind::While { cond, body, .. } => {
                    expr(cond, out);
                    block(body, out);
                }
                StmtKind::Loop { body, .. } | StmtKind::Block(body) => block(body, out),
                StmtKind::For {
                    start,
                    end,
                    step,
                    body,
                    ..
                } => {
                    expr(start, out);
                    expr(end, out);
                    step.iter().for_each(|e| expr(e, out));
                    block(body, out);
                }
                StmtKind::Return(e) => e.iter().for_each(|e| expr(e, out)),
                StmtKind::Break(_) | StmtKind::Continue(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    block(b, &mut out);
    out
}

/// Every statement in a block, in pre-order.
pub(super) fn stmts(b: &crate::ir::Block) -> Vec<&crate::ir::StmtKind> {
    use crate::ir::StmtKind;
    let mut out = Vec::new();
    for s in &b.stmts {
        out.push(&s.kind);
        match &s.kind {
            StmtKind::If {
                then_block,
                else_block,
                ..
            } => {
                out.extend(stmts(then_block));
                out.extend(stmts(else_block));
            }
            StmtKind::While { body, .. }
            | StmtKind::Loop { body, .. }
            | StmtKind::Block(body)
            | StmtKind::For { body, .. } => out.extend(stmts(body)),
            _ => {}
        }
    }
    out
}
