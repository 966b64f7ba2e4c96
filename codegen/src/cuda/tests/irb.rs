//! The emitter tests' fixtures, over the shared IR builders
//! (`crate::ir_build`).

use crate::ir::*;
pub(crate) use crate::ir_build::*;

/// The saxpy kernel of the README's quickstart.
pub(crate) fn saxpy() -> Kernel {
    use Scalar::*;
    let mut kb = KernelBuilder::batch("saxpy");
    let sx = kb.site("x", 1);
    let sy = kb.site("y", 1);
    let mut f = FnBuilder::new("saxpy", Ty::Unit);
    let a = f.value("a", ty(F32));
    let x = f.slice("x", ty(F32), false);
    let y = f.slice("y", ty(F32), true);
    let i = f.let_("i", intr(Intrinsic::GlobalIndex, vec![], ty(Usize)), false);
    let at = |p: ParamId, site| index(place_param(p, ty(F32)), local(i, ty(Usize)), site, ty(F32));
    let value = bin(
        BinOp::Add,
        bin(BinOp::Mul, param(a, ty(F32)), load(at(x, sx))),
        load(at(y, sy)),
    );
    f.push(StmtKind::If {
        cond: bin(BinOp::Lt, local(i, ty(Usize)), slice_len(y)),
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
