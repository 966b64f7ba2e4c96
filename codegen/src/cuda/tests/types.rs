//! Structs, arrays, thread geometry and the ring handler.

use super::irb::*;
use crate::cuda::{c_type, emit, emit_ring_handler, EmitOptions};
use crate::ir::*;
use Scalar::*;

fn code(k: &Kernel) -> String {
    emit(
        k,
        &EmitOptions {
            line_directives: false,
        },
    )
    .code
}

fn struct_lit(id: StructId, fields: Vec<Expr>) -> Expr {
    Expr {
        kind: ExprKind::StructLit(fields),
        ty: Ty::Struct(id),
    }
}

fn array_lit(elem: Ty, items: Vec<Expr>) -> Expr {
    Expr {
        ty: arr(elem, items.len() as u32),
        kind: ExprKind::ArrayLit(items),
    }
}

fn repeat(v: Expr, n: u32) -> Expr {
    Expr {
        ty: arr(v.ty.clone(), n),
        kind: ExprKind::ArrayRepeat(Box::new(v), n),
    }
}

fn field_of(e: Expr, idx: u32, t: Ty) -> Expr {
    Expr {
        kind: ExprKind::Field(Box::new(e), idx),
        ty: t,
    }
}

/// Structs with arrays, nesting, C keywords as field names, an
/// over-aligned struct, two structs of one name; struct and array values.
pub(crate) fn structs_kernel() -> Kernel {
    let mut kb = KernelBuilder::batch("structs");
    let dim3 = kb.dim3();
    let v3 = arr(ty(F32), 3);
    let particle = kb.add_struct(
        "Particle",
        &[
            ("pos", v3.clone()),
            ("vel", v3.clone()),
            ("alive", ty(Bool)),
            ("id", ty(U64)),
        ],
    );
    let cells = arr(arr(ty(U16), 3), 2);
    let grid = kb.add_struct(
        "Grid",
        &[("cells", cells.clone()), ("p", Ty::Struct(particle))],
    );
    let class = kb.add_struct(
        "Class",
        &[
            ("int", ty(I32)),
            ("float", ty(F32)),
            ("class", ty(U8)),
            ("__x", ty(U8)),
            ("_Y", ty(I8)),
        ],
    );
    let v4 = kb.push_struct(StructDef {
        name: "V4".into(),
        size: 16,
        align: 16,
        fields: vec![FieldDef {
            name: "x".into(),
            offset: 0,
            ty: ty(F32),
        }],
    });
    let tally_a = kb.add_struct("Tally", &[("n", ty(U32))]);
    let tally_b = kb.add_struct("Tally", &[("n", ty(U64))]);
    let sp = kb.site("ps", 1);
    let sa = kb.site("q.pos", 1);
    let sg = kb.site("grid.cells", 1);
    let mut f = FnBuilder::new("structs", Ty::Unit);
    let p = f.value("p", Ty::Struct(particle));
    let g = f.value("grid", Ty::Struct(grid));
    let ps = f.slice("ps", Ty::Struct(particle), true);
    let w = f.value("w", Ty::Struct(v4));
    let ta = f.value("ta", Ty::Struct(tally_a));
    let tb = f.value("tb", Ty::Struct(tally_b));
    let pt = Ty::Struct(particle);
    // let mut q = p; q.pos[1] = 2.0; q.vel = [1.0; 3]; q.vel = [1.0, 2.0, w.x];
    let q = f.let_("q", load(place_param(p, pt.clone())), true);
    let qf = |i: u32, t: Ty| field(place_local(q, pt.clone()), i, t);
    f.push(StmtKind::Assign {
        place: index(qf(0, v3.clone()), usize_(1), sa, ty(F32)),
        value: float(F32, 2.0),
    });
    f.push(StmtKind::Assign {
        place: qf(1, v3.clone()),
        value: repeat(float(F32, 1.0), 3),
    });
    f.push(StmtKind::Assign {
        place: qf(1, v3.clone()),
        value: array_lit(
            ty(F32),
            vec![
                float(F32, 1.0),
                float(F32, 0.1),
                load(field(place_param(w, Ty::Struct(v4)), 0, ty(F32))),
            ],
        ),
    });
    // let t = thread_idx(); let tx = thread_idx().x + block_idx().y + block_dim().z + grid_dim().x;
    let d3 = Ty::Struct(dim3);
    let geo = |i: Intrinsic| intr(i, vec![], Ty::Struct(dim3));
    let t = f.let_("t", geo(Intrinsic::ThreadIdx), false);
    let sum = [
        field_of(geo(Intrinsic::ThreadIdx), 0, ty(U32)),
        field_of(geo(Intrinsic::BlockIdx), 1, ty(U32)),
        field_of(geo(Intrinsic::BlockDim), 2, ty(U32)),
        field_of(geo(Intrinsic::GridDim), 0, ty(U32)),
        load(field(place_local(t, d3.clone()), 1, ty(U32))),
    ]
    .into_iter()
    .reduce(|a, b| bin(BinOp::Add, a, b))
    .unwrap();
    let tx = f.let_("tx", sum, false);
    // ps[i] = Particle { pos: q.pos, vel: [0.0; 3], alive: true, id: tx as u64 };
    let i = f.let_("i", intr(Intrinsic::GlobalIndex, vec![], ty(Usize)), false);
    f.push(StmtKind::Assign {
        place: index(
            place_param(ps, pt.clone()),
            local(i, ty(Usize)),
            sp,
            pt.clone(),
        ),
        value: struct_lit(
            particle,
            vec![
                load(qf(0, v3.clone())),
                repeat(float(F32, 0.0), 3),
                boolean(true),
                cast(local(tx, ty(U32)), U64),
            ],
        ),
    });
    // let c = grid.cells[1][i % 3]; ps[0].pos[2] += c as f32;
    let cells_place = field(place_param(g, Ty::Struct(grid)), 0, cells.clone());
    let row = index(cells_place, usize_(1), sg, arr(ty(U16), 3));
    let cell = index(
        row,
        bin(BinOp::Rem, local(i, ty(Usize)), usize_(3)),
        sg,
        ty(U16),
    );
    let c = f.let_("c", load(cell), false);
    let ps0 = index(place_param(ps, pt.clone()), usize_(0), sp, pt.clone());
    f.push(StmtKind::CompoundAssign {
        place: index(field(ps0, 0, v3.clone()), usize_(2), sa, ty(F32)),
        op: BinOp::Add,
        value: cast(local(c, ty(U16)), F32),
    });
    // let k = Class { .. }; let v = k.int + Class { .. }.class as i32;
    let class_lit = || {
        struct_lit(
            class,
            vec![
                int(I32, 1),
                float(F32, 2.5),
                int(U8, 3),
                int(U8, 4),
                int(I8, -5),
            ],
        )
    };
    let k = f.let_("k", class_lit(), false);
    let v = bin(
        BinOp::Add,
        load(field(place_local(k, Ty::Struct(class)), 0, ty(I32))),
        cast(field_of(class_lit(), 2, ty(U8)), I32),
    );
    let v = f.let_("v", v, false);
    f.push(StmtKind::Assign {
        place: field(place_local(k, Ty::Struct(class)), 0, ty(I32)),
        value: local(v, ty(I32)),
    });
    // let arrays = [[1u8; 2]; 2]; let tallies = (ta.n as u64) + tb.n;
    f.let_("arrays", repeat(repeat(int(U8, 1), 2), 2), false);
    f.let_(
        "tallies",
        bin(
            BinOp::Add,
            cast(
                load(field(place_param(ta, Ty::Struct(tally_a)), 0, ty(U32))),
                U64,
            ),
            load(field(place_param(tb, Ty::Struct(tally_b)), 0, ty(U64))),
        ),
        false,
    );
    kb.entry(f.finish())
}

#[test]
fn cuda_structs_are_declared_with_layout_asserts() {
    let c = code(&structs_kernel());
    assert!(c.contains("struct S_Particle {\n  spindle_arr_3_float pos;\n  spindle_arr_3_float vel;\n  bool alive;\n  uint64_t id;\n};"), "{c}");
    assert!(c.contains("static_assert(sizeof(S_Particle) == 40, \"S_Particle (Particle): size differs from Rust\");"), "{c}");
    assert!(c.contains("static_assert(offsetof(S_Particle, id) == 32, \"S_Particle (Particle).id: offset differs from Rust\");"), "{c}");
    assert!(
        c.contains("struct spindle_arr_3_float { float v[3]; };"),
        "{c}"
    );
    // Wrappers come before the structs that hold them.
    assert!(
        c.find("struct spindle_arr_3_float {").unwrap() < c.find("struct S_Particle {").unwrap()
    );
    assert!(
        c.find("struct spindle_arr_3_uint16_t {").unwrap()
            < c.find("struct spindle_arr_2_spindle_arr_3_uint16_t {")
                .unwrap()
    );
    // Fields named like C keywords or reserved names are renamed.
    assert!(c.contains("struct S_Class {\n  int32_t f0__int;\n  float f1__float;\n  uint8_t f2__class;\n  uint8_t f3____x;\n  int8_t f4___Y;\n};"), "{c}");
    assert!(c.contains("struct alignas(16) S_V4 {"), "{c}");
    // Two structs named alike get distinct C names.
    assert!(
        c.contains("struct S_Tally {") && c.contains("struct S6__Tally {"),
        "{c}"
    );
}

#[test]
fn cuda_struct_and_array_values() {
    let c = code(&structs_kernel());
    assert!(c.contains("S_Particle l0_q = p_p;"), "{c}");
    assert!(c.contains("l0_q.pos.v[1ull] = 2.0f;"), "{c}");
    assert!(
        c.contains("l0_q.vel = spindle_repeat_spindle_arr_3_float(1.0f);"),
        "{c}"
    );
    assert!(
        c.contains("l0_q.vel = spindle_arr_3_float{{1.0f, 0.1f, p_w.x}};"),
        "{c}"
    );
    assert!(
        c.contains("S_Dim3 l1_t = S_Dim3{threadIdx.x, threadIdx.y, threadIdx.z};"),
        "{c}"
    );
    assert!(
        // The first three cannot wrap (CUDA's launch limits), the last two can.
        c.contains("(((uint32_t)(((int32_t)threadIdx.x + (int32_t)blockIdx.y) + (int32_t)blockDim.z)) + gridDim.x) + l1_t.y;"),
        "{c}"
    );
    assert!(
        c.contains(
            "S_Particle{l0_q.pos, spindle_repeat_spindle_arr_3_float(0.0f), true, ((uint64_t)l2_tx)}"
        ),
        "{c}"
    );
    // Both indices are always in bounds: no checks.
    assert!(
        c.contains(
            "uint16_t l4_c = p_grid.cells.v[1ull].v[spindle_rem_u64(spindle_fault, l3_i, 3ull)];"
        ),
        "{c}"
    );
    assert!(
        c.contains("(int32_t)S_Class{1, 2.5f, ((uint8_t)3), ((uint8_t)4), ((int8_t)-5)}.f2__class"),
        "{c}"
    );
    assert!(c.contains("[[maybe_unused]] spindle_arr_2_spindle_arr_2_uint8_t l7_arrays = spindle_repeat_spindle_arr_2_spindle_arr_2_uint8_t(spindle_repeat_spindle_arr_2_uint8_t(((uint8_t)1)));"), "{c}");
    assert_eq!(
        c_type(&structs_kernel(), &arr(arr(ty(F32), 4), 2)),
        "spindle_arr_2_spindle_arr_4_float"
    );
}

#[test]
fn cuda_ring_handler_is_a_device_function() {
    let k = crate::ring::samples::tally();
    let c = code(&k);
    assert!(!c.contains("__global__"), "{c}");
    assert!(c.contains("__device__ S_Tally spindle_handler_tally(SpindleFault* spindle_fault, S_Tally* p_state, const S_Add& p_msg) {"), "{c}");
    assert!(c.contains("(*p_state).count += 1u;"), "{c}");
    assert!(c.contains("(*p_state).sum += p_msg.value;"), "{c}");
    assert!(c.contains("return *p_state;"), "{c}");
    assert!(c.contains("spindle_load_acquire_sys_u32"), "{c}");
    let h = emit_ring_handler(&k, &EmitOptions::default());
    assert_eq!(h.handler, "spindle_handler_tally");
    assert_eq!(
        (
            h.state_type.as_str(),
            h.msg_type.as_str(),
            h.reply_type.as_str()
        ),
        ("S_Tally", "S_Add", "S_Tally")
    );
    assert_eq!(h.code, emit(&k, &EmitOptions::default()).code);
}

#[test]
fn cuda_unsupported_layouts_become_errors() {
    let mut kb = KernelBuilder::batch("packed");
    let s = kb.push_struct(StructDef {
        name: "Packed".into(),
        size: 5,
        align: 1,
        fields: vec![
            FieldDef {
                name: "a".into(),
                offset: 0,
                ty: ty(U8),
            },
            FieldDef {
                name: "b".into(),
                offset: 1,
                ty: ty(U32),
            },
        ],
    });
    let mut f = FnBuilder::new("packed", Ty::Unit);
    f.value("p", Ty::Struct(s));
    f.value("z", arr(ty(F32), 0));
    let c = code(&kb.entry(f.finish()));
    assert!(c.contains("#error \"spindle: struct Packed: field `b` is at offset 1 in Rust but would be at 4 in C"), "{c}");
    assert!(
        c.contains("#error \"spindle: zero-length array type [f32; 0]"),
        "{c}"
    );
}
