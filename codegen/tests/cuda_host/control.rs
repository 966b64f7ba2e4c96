//! Loops that must stop where Rust's do, and the fault record.

use super::harness::*;
use spindle_codegen::ir::*;
use Scalar::*;

fn for_range(
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

fn block(stmts: Vec<StmtKind>) -> Block {
    Block {
        stmts: stmts.into_iter().map(|k| st(k, 0)).collect(),
    }
}

fn if_then(cond: Expr, then: Vec<StmtKind>) -> StmtKind {
    StmtKind::If {
        cond,
        then_block: block(then),
        else_block: Block::default(),
    }
}

fn get(id: LocalId, s: Scalar) -> Expr {
    load(place_local(id, ty(s)))
}

/// The loops Rust runs in `loops_in_rust`, as IR.
fn loops_kernel() -> Kernel {
    let sum = 0;
    let add = |v: Expr| StmtKind::CompoundAssign {
        place: place_local(sum, ty(I64)),
        op: BinOp::Add,
        value: v,
    };
    let body = vec![
        StmtKind::Let {
            local: sum,
            init: Some(int(I64, 0)),
        },
        // for b in 0u8..=255 { sum += b as i64 }
        for_range(
            0,
            1,
            int(U8, 0),
            int(U8, 255),
            true,
            None,
            vec![add(cast(get(1, U8), I64))],
        ),
        // for k in (-7i64..100).step_by(9) { if k == 2 { continue } sum += k }
        for_range(
            1,
            2,
            int(I64, -7),
            int(I64, 100),
            false,
            Some(int(I64, 9)),
            vec![
                if_then(
                    bin(BinOp::Eq, get(2, I64), int(I64, 2)),
                    vec![StmtKind::Continue(1)],
                ),
                add(get(2, I64)),
            ],
        ),
        // for z in (0i8..=127).step_by(50) { sum += z as i64 * 1000 }
        for_range(
            2,
            3,
            int(I8, 0),
            int(I8, 127),
            true,
            Some(int(I8, 50)),
            vec![add(bin(BinOp::Mul, cast(get(3, I8), I64), int(I64, 1000)))],
        ),
        // let mut guard = 0u32;
        // 'outer: loop { guard += 1; if guard > 3 { break }
        //   for q in 0u16..=9 { if q == 5 { continue 'outer } if q == 7 { break 'outer } sum += 1 } }
        StmtKind::Let {
            local: 4,
            init: Some(int(U32, 0)),
        },
        StmtKind::Loop {
            id: 3,
            body: block(vec![
                StmtKind::CompoundAssign {
                    place: place_local(4, ty(U32)),
                    op: BinOp::Add,
                    value: int(U32, 1),
                },
                if_then(
                    bin(BinOp::Gt, get(4, U32), int(U32, 3)),
                    vec![StmtKind::Break(3)],
                ),
                for_range(
                    4,
                    5,
                    int(U16, 0),
                    int(U16, 9),
                    true,
                    None,
                    vec![
                        if_then(
                            bin(BinOp::Eq, get(5, U16), int(U16, 5)),
                            vec![StmtKind::Continue(3)],
                        ),
                        if_then(
                            bin(BinOp::Eq, get(5, U16), int(U16, 7)),
                            vec![StmtKind::Break(3)],
                        ),
                        add(int(I64, 1)),
                    ],
                ),
            ]),
        },
        // for mut j in 0i32..10 { j += 100; sum += j as i64 }
        for_range(
            5,
            6,
            int(I32, 0),
            int(I32, 10),
            false,
            None,
            vec![
                StmtKind::CompoundAssign {
                    place: place_local(6, ty(I32)),
                    op: BinOp::Add,
                    value: int(I32, 100),
                },
                add(cast(get(6, I32), I64)),
            ],
        ),
        // for u in (250u8..=255).step_by(2) { sum += u as i64 * 7 }
        for_range(
            6,
            7,
            int(U8, 250),
            int(U8, 255),
            true,
            Some(int(U8, 2)),
            vec![add(bin(BinOp::Mul, cast(get(7, U8), I64), int(I64, 7)))],
        ),
        // let mut w = 1u64; while w < 1000 { w *= 3 } sum += w as i64;
        StmtKind::Let {
            local: 8,
            init: Some(int(U64, 1)),
        },
        StmtKind::While {
            id: 7,
            cond: bin(BinOp::Lt, get(8, U64), int(U64, 1000)),
            body: block(vec![StmtKind::CompoundAssign {
                place: place_local(8, ty(U64)),
                op: BinOp::Mul,
                value: int(U64, 3),
            }]),
        },
        add(cast(get(8, U64), I64)),
        StmtKind::Assign {
            place: index(place_param(0, ty(I64)), int(Usize, 0), 0, ty(I64)),
            value: get(sum, I64),
        },
    ];
    let locals = vec![
        ("sum", ty(I64), true),
        ("b", ty(U8), false),
        ("k", ty(I64), false),
        ("z", ty(I8), false),
        ("guard", ty(U32), true),
        ("q", ty(U16), false),
        ("j", ty(I32), true),
        ("u", ty(U8), false),
        ("w", ty(U64), true),
    ];
    let f = function(
        "loops",
        vec![(
            "out",
            ParamKind::Slice {
                elem: ty(I64),
                mutable: true,
            },
        )],
        locals,
        body,
    );
    kernel("loops", f, 1, vec![])
}

#[allow(unused_assignments, clippy::explicit_counter_loop)]
fn loops_in_rust() -> i64 {
    let mut sum = 0i64;
    for b in 0u8..=255 {
        sum += b as i64;
    }
    for k in (-7i64..100).step_by(9) {
        if k == 2 {
            continue;
        }
        sum += k;
    }
    for z in (0i8..=127).step_by(50) {
        sum += z as i64 * 1000;
    }
    let mut guard = 0u32;
    'outer: loop {
        guard += 1;
        if guard > 3 {
            break;
        }
        for q in 0u16..=9 {
            if q == 5 {
                continue 'outer;
            }
            if q == 7 {
                break 'outer;
            }
            sum += 1;
        }
    }
    for mut j in 0i32..10 {
        j += 100;
        sum += j as i64;
    }
    for u in (250u8..=255).step_by(2) {
        sum += u as i64 * 7;
    }
    let mut w = 1u64;
    while w < 1000 {
        w *= 3;
    }
    sum + w as i64
}

/// Arrays and structs are values: a copy does not see later writes to the
/// original. `out` gets `[b[0], a[0], r[3], p.v[1], q.v[1], p.k]`.
fn values_kernel() -> Kernel {
    let a3 = Ty::Array(Box::new(ty(I32)), 3);
    let a2 = Ty::Array(Box::new(ty(I32)), 2);
    let r4 = Ty::Array(Box::new(ty(U8)), 4);
    let pair = StructDef {
        name: "Pair".into(),
        size: 12,
        align: 4,
        fields: vec![
            FieldDef {
                name: "v".into(),
                offset: 0,
                ty: a2.clone(),
            },
            FieldDef {
                name: "k".into(),
                offset: 8,
                ty: ty(I32),
            },
        ],
    };
    let pt = Ty::Struct(0);
    let e = |kind, ty: &Ty| Expr {
        kind,
        ty: ty.clone(),
    };
    let elem = |p: Place, i: i128, ty: Ty| index(p, int(Usize, i), 0, ty);
    let field = |mut p: Place, f: u32, ty: Ty| {
        p.proj.push(Proj::Field(f));
        p.ty = ty;
        p
    };
    let out = |i: i128, v: Expr| StmtKind::Assign {
        place: elem(place_param(0, ty(I32)), i, ty(I32)),
        value: v,
    };
    let body = vec![
        StmtKind::Let {
            local: 0,
            init: Some(e(
                ExprKind::ArrayLit(vec![int(I32, 1), int(I32, 2), int(I32, 3)]),
                &a3,
            )),
        },
        StmtKind::Let {
            local: 1,
            init: Some(load(place_local(0, a3.clone()))),
        },
        StmtKind::Assign {
            place: elem(place_local(0, a3.clone()), 0, ty(I32)),
            value: int(I32, 10),
        },
        StmtKind::Let {
            local: 2,
            init: Some(e(ExprKind::ArrayRepeat(Box::new(int(U8, 7)), 4), &r4)),
        },
        StmtKind::Let {
            local: 3,
            init: Some(e(
                ExprKind::StructLit(vec![
                    e(ExprKind::ArrayLit(vec![int(I32, 4), int(I32, 6)]), &a2),
                    int(I32, -9),
                ]),
                &pt,
            )),
        },
        StmtKind::Let {
            local: 4,
            init: Some(load(place_local(3, pt.clone()))),
        },
        StmtKind::Assign {
            place: elem(field(place_local(4, pt.clone()), 0, a2.clone()), 1, ty(I32)),
            value: int(I32, 5),
        },
        out(0, load(elem(place_local(1, a3.clone()), 0, ty(I32)))),
        out(1, load(elem(place_local(0, a3.clone()), 0, ty(I32)))),
        out(
            2,
            cast(load(elem(place_local(2, r4.clone()), 3, ty(U8))), I32),
        ),
        out(
            3,
            load(elem(
                field(place_local(3, pt.clone()), 0, a2.clone()),
                1,
                ty(I32),
            )),
        ),
        out(
            4,
            load(elem(
                field(place_local(4, pt.clone()), 0, a2.clone()),
                1,
                ty(I32),
            )),
        ),
        out(5, load(field(place_local(4, pt.clone()), 1, ty(I32)))),
    ];
    let locals = vec![
        ("a", a3.clone(), true),
        ("b", a3, false),
        ("r", r4, false),
        ("p", pt.clone(), false),
        ("q", pt, true),
    ];
    let f = function(
        "values",
        vec![(
            "out",
            ParamKind::Slice {
                elem: ty(I32),
                mutable: true,
            },
        )],
        locals,
        body,
    );
    kernel("values", f, 1, vec![pair])
}

/// `name(x: &[T], y: &[T], out: &mut [T])`: `out[i] = x[i] op y[i]` for
/// every thread `i < out.len()`.
fn elementwise(name: &str, s: Scalar, op: BinOp) -> Kernel {
    let i = || get(0, Usize);
    let elem = |p: u32, site: u32| index(place_param(p, ty(s)), i(), site, ty(s));
    let body = vec![
        StmtKind::Let {
            local: 0,
            init: Some(intr(Intrinsic::GlobalIndex, vec![], ty(Usize))),
        },
        if_then(
            bin(
                BinOp::Lt,
                i(),
                Expr {
                    kind: ExprKind::SliceLen(2),
                    ty: ty(Usize),
                },
            ),
            vec![StmtKind::Assign {
                place: elem(2, 2),
                value: bin(op, load(elem(0, 0)), load(elem(1, 1))),
            }],
        ),
    ];
    let ro = ParamKind::Slice {
        elem: ty(s),
        mutable: false,
    };
    let f = function(
        name,
        vec![
            ("x", ro.clone()),
            ("y", ro),
            (
                "out",
                ParamKind::Slice {
                    elem: ty(s),
                    mutable: true,
                },
            ),
        ],
        vec![("i", ty(Usize), false)],
        body,
    );
    kernel(name, f, 3, vec![])
}

#[test]
fn cuda_host_loops_values_and_faults_match_rust() {
    require_gxx!();
    let f = |v: f32| v.to_bits() as u64;
    let launches = vec![
        Launch {
            kernel: values_kernel(),
            slices: vec![(I32, vec![0; 6], true)],
            grid: 1,
            block: 1,
            concurrent: false,
            shared_bytes: 0,
        },
        Launch {
            kernel: loops_kernel(),
            slices: vec![(I64, vec![0], true)],
            grid: 1,
            block: 1,
            concurrent: false,
            shared_bytes: 0,
        },
        // x is shorter than out: thread 4 (block 1, thread 0) reads x[4] first.
        Launch {
            kernel: elementwise("bounds", F32, BinOp::Add),
            slices: vec![
                (F32, (0..4).map(|k| f(k as f32)).collect(), false),
                (F32, (0..6).map(|k| f(10.0 * k as f32)).collect(), false),
                (F32, vec![f(-1.0); 6], true),
            ],
            grid: 2,
            block: 4,
            concurrent: false,
            shared_bytes: 0,
        },
        Launch {
            kernel: elementwise("div_zero", I32, BinOp::Div),
            slices: vec![
                (I32, vec![10, 20, 30, 40, 50], false),
                (I32, vec![1, 2, 0, 4, 5], false),
                (I32, vec![99; 5], true),
            ],
            grid: 1,
            block: 5,
            concurrent: false,
            shared_bytes: 0,
        },
        Launch {
            kernel: elementwise("rem_overflow", I32, BinOp::Rem),
            slices: vec![
                (I32, vec![7, i32::MIN as u32 as u64, 9], false),
                (I32, vec![2, u32::MAX as u64, 4], false),
                (I32, vec![99; 3], true),
            ],
            grid: 1,
            block: 3,
            concurrent: false,
            shared_bytes: 0,
        },
    ];
    // Optimised: the fault paths must survive the optimiser.
    let r = run("faults", &launches, "-O2");
    assert_eq!(r.values[&("loops".into(), 0, 0)] as i64, loops_in_rust());
    assert_eq!(r.faults["loops"][0], 0);
    // Fault: [flag, kind, site, index, len, block.x, thread.x].
    assert_eq!(r.faults["bounds"], [1, 1, 0, 4, 4, 1, 0]);
    let out: Vec<f32> = (0..6)
        .map(|k| f32::from_bits(r.values[&("bounds".into(), 2, k)] as u32))
        .collect();
    assert_eq!(
        out,
        [0.0, 11.0, 22.0, 33.0, -1.0, -1.0],
        "threads 4 and 5 stop before writing"
    );
    assert_eq!(r.faults["div_zero"], [1, 2, u32::MAX as u64, 0, 0, 0, 2]);
    let out: Vec<u64> = (0..5)
        .map(|k| r.values[&("div_zero".into(), 2, k)])
        .collect();
    assert_eq!(out, [10, 10, 99, 10, 10], "only the faulting thread stops");
    assert_eq!(
        r.faults["rem_overflow"],
        [1, 3, u32::MAX as u64, 0, 0, 0, 1]
    );
    let out: Vec<u64> = (0..3)
        .map(|k| r.values[&("rem_overflow".into(), 2, k)])
        .collect();
    assert_eq!(out, [1, 99, 1]);
    let out: Vec<i32> = (0..6)
        .map(|k| r.values[&("values".into(), 0, k)] as u32 as i32)
        .collect();
    assert_eq!(out, [1, 10, 7, 6, 5, -9]);
}
