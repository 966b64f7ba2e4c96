//! Which locals a function reads, and which block-shared arrays and
//! dynamic shared views (and their lengths) it uses: the others are
//! declared `[[maybe_unused]]`, since NVRTC warns about
//! variables never read (Rust code often has them, e.g. `let _unused = ...`).
//! Also whether it performs block or warp operations (the ring loop's
//! launch geometry depends on it).

use std::collections::HashSet;

use crate::ir::{Block, Expr, ExprKind, Function, LocalId, Place, PlaceRoot, Proj, StmtKind};

/// Every local whose value some expression or compound assignment reads.
pub(crate) fn read_locals(f: &Function) -> HashSet<LocalId> {
    let mut read = Read::default();
    block(&f.body, &mut read);
    read.locals
}

/// Every block-shared array (by index) some place of `f` is rooted in.
pub(crate) fn used_shared(f: &Function) -> HashSet<u32> {
    let mut read = Read::default();
    block(&f.body, &mut read);
    read.shared
}

/// Whether `f` performs a block or warp operation
/// ([`ExprKind::Collective`]).
pub(crate) fn uses_collectives(f: &Function) -> bool {
    let mut read = Read::default();
    block(&f.body, &mut read);
    read.collective
}

/// The dynamic shared views (by index) some place of `f` is rooted in,
/// and those whose length `f` reads (`len()`, or a bounds check).
pub(crate) fn used_dynamic_shared(
    f: &Function,
    bounds_checks: bool,
) -> (HashSet<u32>, HashSet<u32>) {
    let mut read = Read::default();
    block(&f.body, &mut read);
    let mut lens = read.dynamic_lens;
    if bounds_checks {
        lens.extend(read.dynamic.iter().copied());
    }
    (read.dynamic, lens)
}

#[derive(Default)]
struct Read {
    locals: HashSet<LocalId>,
    shared: HashSet<u32>,
    dynamic: HashSet<u32>,
    dynamic_lens: HashSet<u32>,
    collective: bool,
}

fn block(b: &Block, read: &mut Read) {
    for s in &b.stmts {
        match &s.kind {
            StmtKind::Let { init, .. } => {
                if let Some(e) = init {
                    expr(e, read);
                }
            }
            StmtKind::Assign { place, value } => {
                expr(value, read);
                shared_root(place, read);
                indices(place, read);
            }
            StmtKind::CompoundAssign { place, value, .. } => {
                expr(value, read);
                place_read(place, read);
            }
            StmtKind::Expr(e) => expr(e, read),
            StmtKind::If {
                cond,
                then_block,
                else_block,
            } => {
                expr(cond, read);
                block(then_block, read);
                block(else_block, read);
            }
            StmtKind::While { cond, body, .. } => {
                expr(cond, read);
                block(body, read);
            }
            StmtKind::Loop { body, .. } => block(body, read),
            StmtKind::For {
                start,
                end,
                step,
                body,
                ..
            } => {
                expr(start, read);
                expr(end, read);
                if let Some(s) = step {
                    expr(s, read);
                }
                block(body, read);
            }
            StmtKind::Return(Some(e)) => expr(e, read),
            StmtKind::Return(None) | StmtKind::Break(_) | StmtKind::Continue(_) => {}
            StmtKind::Block(b) => block(b, read),
        }
    }
}

fn place_read(p: &Place, read: &mut Read) {
    if let PlaceRoot::Local(id) = p.root {
        read.locals.insert(id);
    }
    shared_root(p, read);
    indices(p, read);
}

fn shared_root(p: &Place, read: &mut Read) {
    match p.root {
        PlaceRoot::Shared(id) => {
            read.shared.insert(id);
        }
        PlaceRoot::DynamicShared(id) => {
            read.dynamic.insert(id);
        }
        PlaceRoot::Local(_) | PlaceRoot::Param(_) => {}
    }
}

fn indices(p: &Place, read: &mut Read) {
    for pr in &p.proj {
        if let Proj::Index { index, .. } = pr {
            expr(index, read);
        }
    }
}

fn expr(e: &Expr, read: &mut Read) {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::SliceLen(_) => {}
        ExprKind::DynamicSharedLen(id) => {
            read.dynamic_lens.insert(*id);
        }
        ExprKind::Load(p) | ExprKind::Borrow(p) => place_read(p, read),
        ExprKind::Unary(_, a)
        | ExprKind::Cast(a)
        | ExprKind::Field(a, _)
        | ExprKind::ArrayRepeat(a, _)
        | ExprKind::Assert { cond: a, .. } => expr(a, read),
        ExprKind::Binary(_, a, b)
        | ExprKind::Check {
            index: a, len: b, ..
        } => {
            expr(a, read);
            expr(b, read);
        }
        ExprKind::Atomic { place, args, .. } => {
            shared_root(place, read);
            indices(place, read);
            for a in args {
                expr(a, read);
            }
        }
        ExprKind::Collective { args, .. } => {
            read.collective = true;
            for a in args {
                expr(a, read);
            }
        }
        ExprKind::Call(_, args)
        | ExprKind::Intrinsic(_, args)
        | ExprKind::StructLit(args)
        | ExprKind::ArrayLit(args) => {
            for a in args {
                expr(a, read);
            }
        }
    }
}
