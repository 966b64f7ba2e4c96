//! Views of the launch's dynamic shared memory: the emitted text, and
//! kernels for the NVRTC corpus.

use super::irb::*;
use super::parallel::{atomic, coll};
use crate::ir::*;
use crate::KernelMode;
use Scalar::*;

pub(crate) fn view(id: u32, elem: Ty) -> Place {
    Place {
        root: PlaceRoot::DynamicShared(id),
        proj: Vec::new(),
        ty: elem,
    }
}

pub(crate) fn view_len(id: u32) -> Expr {
    Expr {
        kind: ExprKind::DynamicSharedLen(id),
        ty: ty(Usize),
    }
}

fn push_view(kb: &mut KernelBuilder, name: &str, elem: Ty) {
    kb.k.dynamic_shared.push(DynamicShared {
        name: name.into(),
        elem,
        span: SrcSpan::default(),
    });
}

/// ```ignore
/// fn dyn_views(x: &[u32], o: &mut [f64]) {
///     let buf = dynamic_shared::<u32>();
///     let wide = dynamic_shared::<f64>();     // aliases buf
///     let cells = dynamic_shared::<Cell>();   // Cell { hits: u32, weight: f64 }
///     let int = dynamic_shared::<u64>();      // a C++ keyword
///     let _spare = dynamic_shared::<u8>();    // never used
///     let i = global_index();
///     let t = thread_idx().x as usize;
///     buf[t] = x[i];
///     sync_threads();
///     atomic_add(&mut buf[t % 4], 1);
///     cells[t % cells.len()].weight = t as f64;
///     atomic_add(&mut cells[0].hits, 1);
///     atomic_max(&mut int[1], t as u64);
///     sync_threads();
///     o[i] = wide[0] + buf.len() as f64;
/// }
/// ```
pub(crate) fn dyn_views_kernel() -> Kernel {
    let mut kb = KernelBuilder::batch("dyn_views");
    let cell = kb.add_struct("Cell", &[("hits", ty(U32)), ("weight", ty(F64))]);
    let dim = kb.dim3();
    let sx = kb.site("x", 1);
    let so = kb.site("o", 1);
    let sv = kb.site("buf", 1);
    let sc = kb.site("cells", 1);
    let sb = kb.site("sync_threads()", 1);
    push_view(&mut kb, "buf", ty(U32));
    push_view(&mut kb, "wide", ty(F64));
    push_view(&mut kb, "cells", Ty::Struct(cell));
    push_view(&mut kb, "int", ty(U64));
    push_view(&mut kb, "_spare", ty(U8));
    let mut f = FnBuilder::new("dyn_views", Ty::Unit);
    let x = f.slice("x", ty(U32), false);
    let o = f.slice("o", ty(F64), true);
    let i = f.let_("i", intr(Intrinsic::GlobalIndex, vec![], ty(Usize)), false);
    let tx = Expr {
        kind: ExprKind::Field(
            Box::new(intr(Intrinsic::ThreadIdx, vec![], Ty::Struct(dim))),
            0,
        ),
        ty: ty(U32),
    };
    let t = f.let_("t", cast(tx, Usize), false);
    let tt = || local(t, ty(Usize));
    let buf = |e: Expr| index(view(0, ty(U32)), e, sv, ty(U32));
    f.push(StmtKind::Assign {
        place: buf(tt()),
        value: load(index(
            place_param(x, ty(U32)),
            local(i, ty(Usize)),
            sx,
            ty(U32),
        )),
    });
    let sync = || StmtKind::Expr(coll(CollectiveOp::SyncThreads, vec![], Ty::Unit, sb));
    f.push(sync());
    f.push(StmtKind::Expr(atomic(
        AtomicOp::Add,
        buf(bin(BinOp::Rem, tt(), usize_(4))),
        vec![int(U32, 1)],
    )));
    let cells = |e: Expr| index(view(2, Ty::Struct(cell)), e, sc, Ty::Struct(cell));
    f.push(StmtKind::Assign {
        place: field(cells(bin(BinOp::Rem, tt(), view_len(2))), 1, ty(F64)),
        value: cast(tt(), F64),
    });
    f.push(StmtKind::Expr(atomic(
        AtomicOp::Add,
        field(cells(usize_(0)), 0, ty(U32)),
        vec![int(U32, 1)],
    )));
    f.push(StmtKind::Expr(atomic(
        AtomicOp::Max,
        index(view(3, ty(U64)), usize_(1), sv, ty(U64)),
        vec![cast(tt(), U64)],
    )));
    f.push(sync());
    f.push(StmtKind::Assign {
        place: index(place_param(o, ty(F64)), local(i, ty(Usize)), so, ty(F64)),
        value: bin(
            BinOp::Add,
            load(index(view(1, ty(F64)), usize_(0), sv, ty(F64))),
            cast(view_len(0), F64),
        ),
    });
    kb.entry(f.finish())
}

/// Every kernel of this file, for the NVRTC corpus.
pub(crate) fn corpus() -> Vec<(String, Kernel)> {
    let mut unchecked = dyn_views_kernel();
    unchecked.bounds_checks = false;
    vec![
        ("dyn_views".into(), dyn_views_kernel()),
        ("dyn_views_unchecked".into(), unchecked),
    ]
}

#[test]
fn cuda_dynamic_shared_views_point_into_one_extern_area() {
    let c = code_of(&dyn_views_kernel());
    assert!(!c.contains("#error"), "{c}");
    for text in [
        "#ifndef SPINDLE_HOST_SHIM\n// The launch's dynamic shared memory; every view starts at byte 0.\n\
         extern __shared__ __align__(16) unsigned char spindle_dyn_smem[];\n#endif",
        "asm(\"mov.u32 %0, %%dynamic_smem_size;\" : \"=r\"(n));",
        "  uint32_t* dsh0_buf = (uint32_t*)spindle_dyn_smem;\n  \
         const uint64_t dsh0_buf_len = (uint64_t)spindle_dynamic_smem_size() / (uint64_t)sizeof(uint32_t);",
        "double* dsh1_wide = (double*)spindle_dyn_smem;",
        // Only `len()` of `wide` is never read: no bounds check without an index.
        "S_Cell* dsh2_cells = (S_Cell*)spindle_dyn_smem;",
        "uint64_t* dsh3_int = (uint64_t*)spindle_dyn_smem;",
        "[[maybe_unused]] uint8_t* dsh4__spare = (uint8_t*)spindle_dyn_smem;",
        "[[maybe_unused]] const uint64_t dsh4__spare_len = ",
        // Indices that fit in 32 bits (a thread index, a remainder of one)
        // are checked without widening; `global_index()` may not fit.
        "p_x[spindle_check(spindle_fault, l0_i, p_x_len, 0u)]",
        "dsh0_buf[spindle_check_u32(spindle_fault, (uint32_t)l1_t, dsh0_buf_len, 2u)] = ",
        "(void)spindle_atomic_add_u32(&dsh0_buf[spindle_check_u32(spindle_fault, \
         (uint32_t)spindle_rem_u64(spindle_fault, l1_t, 4ull), dsh0_buf_len, 2u)], 1u);",
        "spindle_rem_u64(spindle_fault, l1_t, dsh2_cells_len), dsh2_cells_len, 3u)].weight = (double)l1_t;",
        "(void)spindle_atomic_add_u32(&dsh2_cells[spindle_check_u32(spindle_fault, 0u, dsh2_cells_len, 3u)].hits, 1u);",
        "(void)spindle_atomic_max_u64(&dsh3_int[spindle_check_u32(spindle_fault, 1u, dsh3_int_len, 2u)], l1_t);",
        "dsh1_wide[spindle_check_u32(spindle_fault, 0u, dsh1_wide_len, 2u)] + ((double)dsh0_buf_len)",
    ] {
        assert!(c.contains(text), "{text} missing:\n{c}");
    }
    // One area and one size helper, however many views.
    assert_eq!(c.matches("unsigned char spindle_dyn_smem[]").count(), 1);
    assert_eq!(
        c.matches("uint32_t spindle_dynamic_smem_size(void)")
            .count(),
        1
    );
    // Declared after the static shared arrays and before the first statement.
    let decl = c.find("uint32_t* dsh0_buf =").unwrap();
    let first = c.find("uint64_t l0_i =").unwrap();
    assert!(decl < first, "{c}");
    // Views alias: none is `__restrict__`.
    assert!(!c.contains("__restrict__ dsh"), "{c}");
}

#[test]
fn cuda_dynamic_shared_lengths_are_unused_without_bounds_checks() {
    let mut k = dyn_views_kernel();
    k.bounds_checks = false;
    let c = code_of(&k);
    assert!(!c.contains("#error"), "{c}");
    for text in [
        // `buf.len()` and `cells.len()` are read; the others only indexed.
        "  const uint64_t dsh0_buf_len =",
        "[[maybe_unused]] const uint64_t dsh1_wide_len =",
        "  const uint64_t dsh2_cells_len =",
        "[[maybe_unused]] const uint64_t dsh3_int_len =",
        "dsh0_buf[l1_t] = ",
        "(void)spindle_atomic_max_u64(&dsh3_int[1ull], l1_t);",
    ] {
        assert!(c.contains(text), "{text} missing:\n{c}");
    }
}

#[test]
fn cuda_kernels_without_dynamic_shared_views_declare_no_area() {
    let c = code_of(&saxpy());
    assert!(!c.contains("spindle_dyn_smem"), "{c}");
    assert!(!c.contains("dynamic_smem_size"), "{c}");
}

#[test]
fn cuda_malformed_dynamic_shared_views_are_invalid() {
    // Outside the entry.
    let mut kb = KernelBuilder::batch("k");
    push_view(&mut kb, "buf", ty(U32));
    let mut d = FnBuilder::new("helper", ty(U32));
    d.push(StmtKind::Return(Some(load(index(
        view(0, ty(U32)),
        usize_(0),
        0,
        ty(U32),
    )))));
    kb.device_fn(d.finish());
    let k = kb.entry(FnBuilder::new("k", Ty::Unit).finish());
    assert!(code_of(&k).contains("used outside the kernel entry"));
    // An id out of range, and a view without an index.
    let mut kb = KernelBuilder::batch("k");
    push_view(&mut kb, "buf", ty(U32));
    let mut f = FnBuilder::new("k", Ty::Unit);
    f.push(StmtKind::Expr(view_len(3)));
    f.push(StmtKind::Assign {
        place: view(0, ty(U32)),
        value: int(U32, 1),
    });
    let c = code_of(&kb.entry(f.finish()));
    assert!(c.contains("dynamic shared view id 3 out of range"), "{c}");
    assert!(
        c.contains("dynamic shared view used without an index"),
        "{c}"
    );
    // In a ring kernel.
    let mut kb = KernelBuilder::with_mode("r", KernelMode::Ring);
    push_view(&mut kb, "buf", ty(U32));
    let c = code_of(&kb.entry(FnBuilder::new("r", Ty::Unit).finish()));
    assert!(c.contains("dynamic shared memory in a ring kernel"), "{c}");
}
