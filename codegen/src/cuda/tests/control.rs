//! Control flow: loops, labels, short-circuit operators, calls, returns.

use super::irb::*;
use crate::cuda::{emit, EmitOptions};
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

fn lit_for(
    id: LoopId,
    var: LocalId,
    start: Expr,
    end: Expr,
    inclusive: bool,
    step: Option<Expr>,
    body: Vec<StmtKind>,
) -> StmtKind {
    StmtKind::For {
        id,
        var,
        start,
        end,
        inclusive,
        step,
        body: block(body),
    }
}

fn add_assign(l: LocalId, t: Ty, v: Expr) -> StmtKind {
    StmtKind::CompoundAssign {
        place: place_local(l, t),
        op: BinOp::Add,
        value: v,
    }
}

/// Every loop form, labeled jumps included.
pub(crate) fn loops_kernel() -> Kernel {
    let mut kb = KernelBuilder::batch("loops");
    let so = kb.site("out", 1);
    let sx = kb.site("x", 1);
    let mut f = FnBuilder::new("loops", Ty::Unit);
    let n = f.value("n", ty(U32));
    let x = f.slice("x", ty(I32), false);
    let out = f.slice("out", ty(I64), true);
    let sum = f.let_("sum", int(I64, 0), true);
    let add = |v: Expr| add_assign(sum, ty(I64), v);
    // for i in 0..n { sum += i as i64 }
    let i = f.local("i", ty(U32), false);
    f.push(lit_for(
        0,
        i,
        int(U32, 0),
        load(place_param(n, ty(U32))),
        false,
        None,
        vec![add(cast(local(i, ty(U32)), I64))],
    ));
    // for b in 0u8..=255 { sum += 1 }: must stop at the type's maximum.
    let b = f.local("b", ty(U8), false);
    f.push(lit_for(
        1,
        b,
        int(U8, 0),
        int(U8, 255),
        true,
        None,
        vec![add(int(I64, 1))],
    ));
    // for k in (-7i64..100).step_by(9) { if k == 2 { continue } sum += k }
    let k = f.local("k", ty(I64), false);
    f.push(lit_for(
        2,
        k,
        int(I64, -7),
        int(I64, 100),
        false,
        Some(int(I64, 9)),
        vec![
            StmtKind::If {
                cond: bin(BinOp::Eq, local(k, ty(I64)), int(I64, 2)),
                then_block: block(vec![StmtKind::Continue(2)]),
                else_block: Block::default(),
            },
            add(local(k, ty(I64))),
        ],
    ));
    // for mut j in 0..10 { j += 100; sum += j }: assigning j does not change the iteration.
    let j = f.local("j", ty(I32), true);
    f.push(lit_for(
        3,
        j,
        int(I32, 0),
        int(I32, 10),
        false,
        None,
        vec![
            add_assign(j, ty(I32), int(I32, 100)),
            add(cast(local(j, ty(I32)), I64)),
        ],
    ));
    // let mut w = 1; while w < 1000 { w *= 3 }
    let w = f.let_("w", int(U64, 1), true);
    f.push(StmtKind::While {
        id: 4,
        cond: bin(BinOp::Lt, local(w, ty(U64)), int(U64, 1000)),
        body: block(vec![StmtKind::CompoundAssign {
            place: place_local(w, ty(U64)),
            op: BinOp::Mul,
            value: int(U64, 3),
        }]),
    });
    // let mut p = 0usize; while p < x.len() && x[p] != 0 { p += 1 }: the
    // condition's checked read must run only when the left side holds.
    let p = f.let_("p", usize_(0), true);
    f.push(StmtKind::While {
        id: 5,
        cond: bin(
            BinOp::And,
            bin(BinOp::Lt, local(p, ty(Usize)), slice_len(x)),
            bin(
                BinOp::Ne,
                load(index(
                    place_param(x, ty(I32)),
                    local(p, ty(Usize)),
                    sx,
                    ty(I32),
                )),
                int(I32, 0),
            ),
        ),
        body: block(vec![add_assign(p, ty(Usize), usize_(1))]),
    });
    // 'outer: loop { for q in 0..=9u16 { if q == 5 { continue 'outer } if q == 7 { break 'outer } sum += 1 } }
    let q = f.local("q", ty(U16), false);
    let guard = f.let_("guard", int(U32, 0), true);
    let inner = f.local("inner", ty(I64), false);
    f.push(StmtKind::Loop {
        id: 6,
        body: block(vec![
            add_assign(guard, ty(U32), int(U32, 1)),
            StmtKind::If {
                cond: bin(BinOp::Gt, local(guard, ty(U32)), int(U32, 3)),
                then_block: block(vec![StmtKind::Break(6)]),
                else_block: Block::default(),
            },
            lit_for(
                7,
                q,
                int(U16, 0),
                int(U16, 9),
                true,
                None,
                vec![
                    StmtKind::If {
                        cond: bin(BinOp::Eq, local(q, ty(U16)), int(U16, 5)),
                        then_block: block(vec![StmtKind::Continue(6)]),
                        else_block: Block::default(),
                    },
                    StmtKind::If {
                        cond: bin(BinOp::Eq, local(q, ty(U16)), int(U16, 7)),
                        then_block: block(vec![StmtKind::Break(6)]),
                        else_block: Block::default(),
                    },
                    StmtKind::Let {
                        local: inner,
                        init: Some(int(I64, 1)),
                    },
                    add(int(I64, 1)),
                ],
            ),
        ]),
    });
    // 'rows: for r in 0..4 { for c in 0..4 { if c > r { continue 'rows } sum += 1 } }
    let r = f.local("r", ty(Usize), false);
    let c = f.local("c", ty(Usize), false);
    f.push(lit_for(
        8,
        r,
        usize_(0),
        usize_(4),
        false,
        None,
        vec![lit_for(
            9,
            c,
            usize_(0),
            usize_(4),
            false,
            None,
            vec![
                StmtKind::If {
                    cond: bin(BinOp::Gt, local(c, ty(Usize)), local(r, ty(Usize))),
                    then_block: block(vec![StmtKind::Continue(8)]),
                    else_block: Block::default(),
                },
                add(int(I64, 1)),
            ],
        )],
    ));
    // for z in (0i8..=127).step_by(50) { sum += z }: stepping past i8::MAX stops.
    let z = f.local("z", ty(I8), false);
    f.push(lit_for(
        10,
        z,
        int(I8, 0),
        int(I8, 127),
        true,
        Some(int(I8, 50)),
        vec![add(cast(local(z, ty(I8)), I64))],
    ));
    f.push(StmtKind::Block(block(vec![StmtKind::Assign {
        place: index(place_param(out, ty(I64)), usize_(0), so, ty(I64)),
        value: local(sum, ty(I64)),
    }])));
    kb.entry(f.finish())
}

/// Device functions: calls in operands, unit calls, recursion, early
/// return, names that are C keywords.
pub(crate) fn calls_kernel() -> Kernel {
    let mut kb = KernelBuilder::batch("calls");
    // fn new(int: i32, float: i32) -> i32 { if float == 0 { return 0 } int / float + 1 }
    let mut g = FnBuilder::new("new", ty(I32));
    let a = g.value("int", ty(I32));
    let b = g.value("float", ty(I32));
    g.push(StmtKind::If {
        cond: bin(BinOp::Eq, load(place_param(b, ty(I32))), int(I32, 0)),
        then_block: block(vec![StmtKind::Return(Some(int(I32, 0)))]),
        else_block: Block::default(),
    });
    g.push(StmtKind::Return(Some(bin(
        BinOp::Add,
        bin(
            BinOp::Div,
            load(place_param(a, ty(I32))),
            load(place_param(b, ty(I32))),
        ),
        int(I32, 1),
    ))));
    let new_fn = kb.device_fn(g.finish());
    // fn fact(n: u64) -> u64 { if n == 0 { 1 } else { n * fact(n - 1) } } (no trailing return)
    let mut h = FnBuilder::new("fact", ty(U64));
    let n = h.value("n", ty(U64));
    let ln = || load(place_param(n, ty(U64)));
    h.push(StmtKind::If {
        cond: bin(BinOp::Eq, ln(), int(U64, 0)),
        then_block: block(vec![StmtKind::Return(Some(int(U64, 1)))]),
        else_block: block(vec![StmtKind::Return(Some(bin(
            BinOp::Mul,
            ln(),
            call(1, vec![bin(BinOp::Sub, ln(), int(U64, 1))], ty(U64)),
        )))]),
    });
    let fact = kb.device_fn(h.finish());
    // fn touch(this: u32) {}
    let mut u = FnBuilder::new("touch", Ty::Unit);
    u.value("this", ty(U32));
    u.push(StmtKind::Return(None));
    let touch = kb.device_fn(u.finish());

    let so = kb.site("out", 1);
    let mut f = FnBuilder::new("calls", Ty::Unit);
    let x = f.value("x", arr(ty(I32), 4));
    let out = f.slice("out", ty(I32), true);
    let sx = kb.site("x", 1);
    let xi = |i: i128| {
        load(index(
            place_param(x, arr(ty(I32), 4)),
            usize_(i),
            sx,
            ty(I32),
        ))
    };
    // out[0] = new(x[0], x[1]) + new(x[2], x[3]): calls in Rust order.
    f.push(StmtKind::Assign {
        place: index(place_param(out, ty(I32)), usize_(0), so, ty(I32)),
        value: bin(
            BinOp::Add,
            call(new_fn, vec![xi(0), xi(1)], ty(I32)),
            call(new_fn, vec![xi(2), xi(3)], ty(I32)),
        ),
    });
    f.push(StmtKind::Expr(call(touch, vec![int(U32, 3)], Ty::Unit)));
    let unit = f.local("nothing", Ty::Unit, false);
    f.push(StmtKind::Let {
        local: unit,
        init: Some(call(touch, vec![int(U32, 4)], Ty::Unit)),
    });
    f.push(StmtKind::Expr(bin(BinOp::Add, xi(0), int(I32, 1))));
    let r = f.let_("r", call(fact, vec![int(U64, 10)], ty(U64)), false);
    // out[1] = if r > 5 { 1 } else { 2 } (the front end lowers it to a temporary)
    let tmp = f.local("tmp", ty(I32), true);
    f.push(StmtKind::Let {
        local: tmp,
        init: None,
    });
    f.push(StmtKind::If {
        cond: bin(BinOp::Gt, local(r, ty(U64)), int(U64, 5)),
        then_block: block(vec![StmtKind::Assign {
            place: place_local(tmp, ty(I32)),
            value: int(I32, 1),
        }]),
        else_block: block(vec![StmtKind::If {
            cond: bin(BinOp::Lt, local(r, ty(U64)), int(U64, 2)),
            then_block: block(vec![StmtKind::Assign {
                place: place_local(tmp, ty(I32)),
                value: int(I32, 2),
            }]),
            else_block: block(vec![StmtKind::Assign {
                place: place_local(tmp, ty(I32)),
                value: int(I32, 3),
            }]),
        }]),
    });
    f.push(StmtKind::Assign {
        place: index(place_param(out, ty(I32)), usize_(1), so, ty(I32)),
        value: local(tmp, ty(I32)),
    });
    f.push(StmtKind::Return(None));
    kb.entry(f.finish())
}

/// `&&`/`||` whose right side can fault.
pub(crate) fn short_circuit_kernel() -> Kernel {
    let mut kb = KernelBuilder::batch("short_circuit");
    let sx = kb.site("x", 1);
    let so = kb.site("flags", 1);
    let mut f = FnBuilder::new("short_circuit", Ty::Unit);
    let a = f.value("a", ty(I32));
    let x = f.slice("x", ty(I32), false);
    let flags = f.slice("flags", ty(Bool), true);
    let la = || load(place_param(a, ty(I32)));
    let x_at = |i: Expr| load(index(place_param(x, ty(I32)), i, sx, ty(I32)));
    // flags[0] = a >= 0 && x[a as usize] > x[0]: the right side needs a
    // temporary (two checked reads), which must only run when `a >= 0`.
    let v0 = bin(
        BinOp::And,
        bin(BinOp::Ge, la(), int(I32, 0)),
        bin(BinOp::Gt, x_at(cast(la(), Usize)), x_at(usize_(0))),
    );
    // flags[1] = a == 0 || 100 / a > 3 || x[0] == a
    let v1 = bin(
        BinOp::Or,
        bin(
            BinOp::Or,
            bin(BinOp::Eq, la(), int(I32, 0)),
            bin(BinOp::Gt, bin(BinOp::Div, int(I32, 100), la()), int(I32, 3)),
        ),
        bin(BinOp::Eq, x_at(usize_(0)), la()),
    );
    for (k, v) in [v0, v1].into_iter().enumerate() {
        f.push(StmtKind::Assign {
            place: index(
                place_param(flags, ty(Bool)),
                usize_(k as i128),
                so,
                ty(Bool),
            ),
            value: v,
        });
    }
    kb.entry(f.finish())
}

#[test]
fn cuda_for_loops_never_overflow() {
    let c = code(&loops_kernel());
    // Exclusive, unit step: a plain C loop over hoisted bounds.
    assert!(c.contains("const uint32_t spindle_t1 = 0u;\n    const uint32_t spindle_t2 = p_n;\n    for (uint32_t l1_i = spindle_t1; l1_i < spindle_t2; ++l1_i) {"), "{c}");
    // Inclusive to 255u8: counts the distance left instead of incrementing past the end.
    assert!(c.contains("if (spindle_t3 <= spindle_t4) {"), "{c}");
    let inclusive = "      uint32_t spindle_t5 = (uint32_t)((uint8_t)((uint32_t)spindle_t4 - (uint32_t)spindle_t3));\n\
                     \x20     for (uint8_t l2_b = spindle_t3;;) {\n\
                     \x20       l0_sum = (int64_t)((uint64_t)l0_sum + (uint64_t)1ll);\n\
                     \x20       if (spindle_t5 < 1u) break;\n\
                     \x20       spindle_t5 -= 1u;\n\
                     \x20       l2_b = (uint8_t)((uint32_t)l2_b + 1u);\n\
                     \x20     }";
    assert!(c.contains(inclusive), "{c}");
    // The step is kept in a type wide enough for it.
    assert!(
        c.contains("const uint32_t spindle_t22 = (uint32_t)((uint8_t)((int8_t)50));"),
        "{c}"
    );
    // `continue` in a stepped loop jumps to the step, not past it.
    assert!(c.contains("goto spindle_continue_2;"), "{c}");
    assert!(
        c.contains("spindle_continue_2: ;\n        if (spindle_t9 <= spindle_t8) break;"),
        "{c}"
    );
    // A mutable loop variable is a copy of the counter.
    assert!(c.contains("int32_t l4_j = spindle_t12;"), "{c}");
}

#[test]
fn cuda_labeled_jumps_use_labels_outside_declarations() {
    let c = code(&loops_kernel());
    assert!(c.contains("goto spindle_continue_6;"), "{c}");
    assert!(c.contains("goto spindle_break_6;"), "{c}");
    assert!(c.contains("spindle_break_6: ;"), "{c}");
    assert!(c.contains("goto spindle_continue_8;"), "{c}");
    // Loop 6 breaks itself directly.
    assert!(c.contains("if (l8_guard > 3u) {\n        break;"), "{c}");
}

#[test]
fn cuda_while_condition_is_tested_each_pass() {
    let c = code(&loops_kernel());
    // C's `&&` already skips the checked read when the left side fails.
    assert!(c.contains("while ((l6_p < p_x_len) && (p_x[spindle_check(spindle_fault, l6_p, p_x_len, 1u)] != 0)) {"), "{c}");
    assert!(c.contains("while (l5_w < 1000ull) {"), "{c}");
    // A loop variable nothing reads is marked so NVRTC does not warn.
    assert!(
        c.contains("[[maybe_unused]] int64_t l9_inner = 1ll;"),
        "{c}"
    );
}

#[test]
fn cuda_calls_keep_rust_order_and_names() {
    let c = code(&calls_kernel());
    assert!(c.contains("__device__ int32_t fn_new(SpindleFault* spindle_fault, int32_t p_int, int32_t p_float);"), "{c}");
    assert!(
        c.contains("__device__ uint64_t fn_fact(SpindleFault* spindle_fault, uint64_t p_n);"),
        "{c}"
    );
    assert!(
        c.contains("__device__ void fn_touch(SpindleFault* spindle_fault, uint32_t p_this);"),
        "{c}"
    );
    // Rust order: x[0], x[1], the first call, x[2], x[3], the second call.
    // (Constant indices below the array's length need no check.)
    let want = "  int32_t spindle_t1 = p_x.v[0ull];\n  \
                int32_t spindle_t3 = fn_new(spindle_fault, spindle_t1, p_x.v[1ull]);\n  \
                int32_t spindle_t2 = p_x.v[2ull];\n  \
                int32_t spindle_t4 = (int32_t)((uint32_t)spindle_t3 + (uint32_t)fn_new(spindle_fault, spindle_t2, p_x.v[3ull]));\n  \
                p_out[spindle_check_u32(spindle_fault, 0u, p_out_len, 0u)] = spindle_t4;";
    assert!(c.contains(want), "{c}");
    assert!(
        c.contains("fn_touch(spindle_fault, 3u);\n  fn_touch(spindle_fault, 4u);"),
        "{c}"
    );
    assert!(
        c.contains("(void)((int32_t)((uint32_t)p_x.v[0ull] + (uint32_t)1));"),
        "{c}"
    );
    assert!(
        c.contains(
            "return p_n * fn_fact(spindle_fault, p_n - 1ull);\n  }\n  __builtin_unreachable();"
        ),
        "{c}"
    );
    assert!(c.contains("} else if (l1_r < 2ull) {"), "{c}");
    assert!(c.contains("int32_t l2_tmp;"), "{c}");
}

#[test]
fn cuda_short_circuit_right_side_runs_only_when_needed() {
    let c = code(&short_circuit_kernel());
    let want = "  bool spindle_t2 = p_a >= 0;\n  if (spindle_t2) {\n    \
                int32_t spindle_t1 = p_x[spindle_check(spindle_fault, (uint64_t)p_a, p_x_len, 0u)];\n    \
                spindle_t2 = spindle_t1 > p_x[spindle_check_u32(spindle_fault, 0u, p_x_len, 0u)];\n  }\n  \
                p_flags[spindle_check_u32(spindle_fault, 0u, p_flags_len, 1u)] = spindle_t2;";
    assert!(c.contains(want), "{c}");
    assert!(c.contains("((p_a == 0) || (spindle_div_i32(spindle_fault, 100, p_a) > 3)) || (p_x[spindle_check_u32(spindle_fault, 0u, p_x_len, 0u)] == p_a)"), "{c}");
}
