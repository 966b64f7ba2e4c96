//! Control flow under divergence: every lane must end where the same Rust
//! would, whatever its neighbours do.

use super::*;

pub(super) fn while_(id: LoopId, cond: Expr, body: Vec<Stmt>) -> Stmt {
    stmt(StmtKind::While {
        id,
        cond,
        body: Block { stmts: body },
    })
}

pub(super) fn loop_(id: LoopId, body: Vec<Stmt>) -> Stmt {
    stmt(StmtKind::Loop {
        id,
        body: Block { stmts: body },
    })
}

pub(super) fn for_(
    id: LoopId,
    var: LocalId,
    start: Expr,
    end: Expr,
    inclusive: bool,
    step: Option<Expr>,
    body: Vec<Stmt>,
) -> Stmt {
    stmt(StmtKind::For {
        id,
        var,
        start,
        end,
        inclusive,
        step,
        body: Block { stmts: body },
    })
}

/// A kernel `out[i] = <body result in local r>` for `i < out.len()`,
/// with `v = x[i]` in scope: `build(k, v, r)` gives the statements.
fn per_thread(
    a: Scalar,
    r: Scalar,
    build: impl FnOnce(&mut KernelBuilder, LocalId, LocalId) -> Vec<Stmt>,
) -> Arc<Kernel> {
    let mut k = KernelBuilder::new("per_thread");
    let x = k.slice("x", ty(a), false);
    let out = k.slice("out", ty(r), true);
    let i = k.local("i", ty(Scalar::Usize));
    let v = k.local("v", ty(a));
    let res = k.local_mut("r", ty(r));
    let s = k.site("x", 1);
    let iu = || local(i, ty(Scalar::Usize));
    let mut inner = vec![let_(v, elem(x, iu(), s, ty(a)))];
    inner.extend(build(&mut k, v, res));
    inner.push(store_elem(out, iu(), s, ty(r), local(res, ty(r))));
    let body = vec![
        let_(i, global_index()),
        if_(bin(BinOp::Lt, iu(), slice_len(out)), inner, vec![]),
    ];
    k.build(body)
}

fn i32_(v: i128) -> Expr {
    int(Scalar::I32, v)
}

#[test]
fn divergent_if_else_and_nested_ifs() {
    let t = ty(Scalar::I32);
    let k = per_thread(Scalar::I32, Scalar::I32, |_, v, r| {
        let v = || local(v, t.clone());
        vec![if_(
            bin(BinOp::Eq, bin(BinOp::Rem, v(), i32_(2)), i32_(0)),
            vec![
                assign(place_local(r, t.clone()), bin(BinOp::Mul, v(), i32_(10))),
                if_(
                    bin(BinOp::Gt, v(), i32_(50)),
                    vec![compound(place_local(r, t.clone()), BinOp::Add, i32_(1))],
                    vec![],
                ),
            ],
            vec![if_(
                bin(BinOp::Lt, v(), i32_(0)),
                vec![assign(place_local(r, t.clone()), i32_(-7))],
                vec![assign(
                    place_local(r, t.clone()),
                    bin(BinOp::Add, v(), i32_(1)),
                )],
            )],
        )]
    });
    let xs: Vec<i32> = (-70..130).collect();
    let got: Vec<i32> = run_map(&k, &xs);
    let want: Vec<i32> = xs
        .iter()
        .map(|&v| {
            if v % 2 == 0 {
                v * 10 + (v > 50) as i32
            } else if v < 0 {
                -7
            } else {
                v + 1
            }
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn while_loops_with_per_lane_trip_counts() {
    // let mut r = 0; let mut j = 0; while j < v { r += j * j; j += 1 }
    let t = ty(Scalar::I32);
    let k = per_thread(Scalar::I32, Scalar::I32, |k, v, r| {
        let j = k.local_mut("j", t.clone());
        vec![
            let_(r, i32_(0)),
            let_(j, i32_(0)),
            while_(
                0,
                bin(BinOp::Lt, local(j, t.clone()), local(v, t.clone())),
                vec![
                    compound(
                        place_local(r, t.clone()),
                        BinOp::Add,
                        bin(BinOp::Mul, local(j, t.clone()), local(j, t.clone())),
                    ),
                    compound(place_local(j, t.clone()), BinOp::Add, i32_(1)),
                ],
            ),
        ]
    });
    let xs: Vec<i32> = (0..100).map(|i| (i * 37) % 50 - 3).collect();
    let got: Vec<i32> = run_map(&k, &xs);
    let want: Vec<i32> = xs
        .iter()
        .map(|&v| (0..v.max(0)).map(|j| j * j).sum())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn for_loops_with_steps_inclusive_ends_and_overflow() {
    // r = sum over j in v..=255 (u8) step 100 as u32, + count of 0..v
    let u = ty(Scalar::U32);
    let b = ty(Scalar::U8);
    let k = per_thread(Scalar::U8, Scalar::U32, |k, v, r| {
        let j = k.local("j", b.clone());
        let m = k.local("m", b.clone());
        vec![
            let_(r, int(Scalar::U32, 0)),
            for_(
                0,
                j,
                local(v, b.clone()),
                int(Scalar::U8, 255),
                true,
                Some(int(Scalar::U8, 100)),
                vec![compound(
                    place_local(r, u.clone()),
                    BinOp::Add,
                    cast(local(j, b.clone()), Scalar::U32),
                )],
            ),
            for_(
                1,
                m,
                int(Scalar::U8, 0),
                local(v, b.clone()),
                false,
                None,
                vec![compound(
                    place_local(r, u.clone()),
                    BinOp::Add,
                    int(Scalar::U32, 1000),
                )],
            ),
        ]
    });
    let xs: Vec<u8> = vec![0, 1, 5, 55, 155, 200, 250, 255];
    let got: Vec<u32> = run_map(&k, &xs);
    let want: Vec<u32> = xs
        .iter()
        .map(|&v| (v..=255u8).step_by(100).map(|j| j as u32).sum::<u32>() + 1000 * v as u32)
        .collect();
    assert_eq!(got, want);
    // 0..=255 step 100 visits 0, 100, 200 and stops at the overflow.
    assert_eq!(got[0], 300);
    assert_eq!(got[7], 255 + 255 * 1000);

    // An inclusive range ending at the type's maximum, step 1.
    let k = per_thread(Scalar::U8, Scalar::U32, |k, v, r| {
        let j = k.local("j", b.clone());
        vec![
            let_(r, int(Scalar::U32, 0)),
            for_(
                0,
                j,
                local(v, b.clone()),
                int(Scalar::U8, 255),
                true,
                None,
                vec![compound(
                    place_local(r, u.clone()),
                    BinOp::Add,
                    int(Scalar::U32, 1),
                )],
            ),
        ]
    });
    assert_eq!(run_map::<u8, u32>(&k, &[250, 255, 0]), vec![6, 1, 256]);
}

#[test]
fn labeled_break_and_continue() {
    // 'outer: for a in 0..v { for b in 0..v { if b > a { continue 'outer } if a * b > 30 { break 'outer }
    //     if b == 2 { continue } r += a * 10 + b } }
    let t = ty(Scalar::I32);
    let k = per_thread(Scalar::I32, Scalar::I32, |k, v, r| {
        let a = k.local("a", t.clone());
        let b = k.local("b", t.clone());
        let l = |x| local(x, t.clone());
        vec![
            let_(r, i32_(0)),
            for_(
                0,
                a,
                i32_(0),
                l(v),
                false,
                None,
                vec![for_(
                    1,
                    b,
                    i32_(0),
                    l(v),
                    false,
                    None,
                    vec![
                        if_(
                            bin(BinOp::Gt, l(b), l(a)),
                            vec![stmt(StmtKind::Continue(0))],
                            vec![],
                        ),
                        if_(
                            bin(BinOp::Gt, bin(BinOp::Mul, l(a), l(b)), i32_(30)),
                            vec![stmt(StmtKind::Break(0))],
                            vec![],
                        ),
                        if_(
                            bin(BinOp::Eq, l(b), i32_(2)),
                            vec![stmt(StmtKind::Continue(1))],
                            vec![],
                        ),
                        compound(
                            place_local(r, t.clone()),
                            BinOp::Add,
                            bin(BinOp::Add, bin(BinOp::Mul, l(a), i32_(10)), l(b)),
                        ),
                    ],
                )],
            ),
        ]
    });
    let xs: Vec<i32> = (0..20).collect();
    let got: Vec<i32> = run_map(&k, &xs);
    let want: Vec<i32> = xs
        .iter()
        .map(|&v| {
            let mut r = 0;
            'outer: for a in 0..v {
                for b in 0..v {
                    if b > a {
                        continue 'outer;
                    }
                    if a * b > 30 {
                        break 'outer;
                    }
                    if b == 2 {
                        continue;
                    }
                    r += a * 10 + b;
                }
            }
            r
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn loop_with_break_and_early_return() {
    // let mut r = v; loop { if r < 0 { out[i] = -1; return } if r % 7 == 0 { break } r -= 3 }
    // (then stored by per_thread)
    let t = ty(Scalar::I32);
    let mut kb = KernelBuilder::new("ret");
    let x = kb.slice("x", t.clone(), false);
    let out = kb.slice("out", t.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let r = kb.local_mut("r", t.clone());
    let s = kb.site("x", 1);
    let iu = || local(i, ty(Scalar::Usize));
    let l = || local(r, t.clone());
    let k = kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Ge, iu(), slice_len(out)),
            vec![stmt(StmtKind::Return(None))],
            vec![],
        ),
        let_(r, elem(x, iu(), s, t.clone())),
        loop_(
            0,
            vec![
                if_(
                    bin(BinOp::Lt, l(), i32_(0)),
                    vec![
                        store_elem(out, iu(), s, t.clone(), i32_(-1)),
                        stmt(StmtKind::Return(None)),
                    ],
                    vec![],
                ),
                if_(
                    bin(BinOp::Eq, bin(BinOp::Rem, l(), i32_(7)), i32_(0)),
                    vec![stmt(StmtKind::Break(0))],
                    vec![],
                ),
                compound(place_local(r, t.clone()), BinOp::Sub, i32_(3)),
            ],
        ),
        store_elem(out, iu(), s, t.clone(), bin(BinOp::Mul, l(), i32_(100))),
    ]);
    let xs: Vec<i32> = (0..90).collect();
    // 100 threads for 90 elements: the extra ones return first.
    let xm = mem(&xs);
    let mut om = mem(&vec![5i32; 90]);
    launch(
        &k,
        Launch::new(1, 100),
        &mut [arg_in::<i32>(&xm, 90), arg_out::<i32>(&mut om, 90)],
    )
    .unwrap();
    let got: Vec<i32> = read(&om);
    let want: Vec<i32> = xs
        .iter()
        .map(|&v| {
            let mut r = v;
            loop {
                if r < 0 {
                    return -1;
                }
                if r % 7 == 0 {
                    break;
                }
                r -= 3;
            }
            r * 100
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn short_circuit_guards_out_of_bounds_reads() {
    // if i < x.len() && x[i] > 10 || i == 0 { out[i] = 1 } — more threads than x.
    let mut kb = KernelBuilder::new("guard");
    let t = ty(Scalar::I32);
    let x = kb.slice("x", t.clone(), false);
    let out = kb.slice("out", t.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("x", 1);
    let iu = || local(i, ty(Scalar::Usize));
    let k = kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(
                BinOp::Or,
                bin(
                    BinOp::And,
                    bin(BinOp::Lt, iu(), slice_len(x)),
                    bin(BinOp::Gt, elem(x, iu(), s, t.clone()), i32_(10)),
                ),
                bin(BinOp::Eq, iu(), usize_(0)),
            ),
            vec![store_elem(out, iu(), s, t.clone(), i32_(1))],
            vec![],
        ),
    ]);
    let xs: Vec<i32> = vec![0, 20, 5, 30];
    let xm = mem(&xs);
    let mut om = mem(&[0i32; 8]);
    launch(
        &k,
        Launch::new(1, 8),
        &mut [arg_in::<i32>(&xm, 4), arg_out::<i32>(&mut om, 8)],
    )
    .unwrap();
    assert_eq!(read::<i32>(&om), vec![1, 1, 0, 1, 0, 0, 0, 0]);
}

/// `fn collatz(n: u32) -> u32`: steps to reach 1, or 9999 past 100 steps
/// (an early return from inside a loop of a device function).
fn collatz_fn() -> Function {
    let u = ty(Scalar::U32);
    let l = |id| local(id, u.clone());
    let u32_ = |v| int(Scalar::U32, v);
    Function {
        name: "collatz".into(),
        params: vec![Param {
            name: "n".into(),
            kind: ParamKind::Value(u.clone()),
            mutable: false,
        }],
        ret: u.clone(),
        locals: vec![
            Local {
                name: "steps".into(),
                ty: u.clone(),
                mutable: true,
            },
            Local {
                name: "v".into(),
                ty: u.clone(),
                mutable: true,
            },
        ],
        body: Block {
            stmts: vec![
                let_(0, u32_(0)),
                let_(1, param(0, u.clone())),
                while_(
                    0,
                    bin(BinOp::Ne, l(1), u32_(1)),
                    vec![
                        if_(
                            bin(BinOp::Eq, bin(BinOp::Rem, l(1), u32_(2)), u32_(0)),
                            vec![assign(
                                place_local(1, u.clone()),
                                bin(BinOp::Div, l(1), u32_(2)),
                            )],
                            vec![assign(
                                place_local(1, u.clone()),
                                bin(BinOp::Add, bin(BinOp::Mul, l(1), u32_(3)), u32_(1)),
                            )],
                        ),
                        compound(place_local(0, u.clone()), BinOp::Add, u32_(1)),
                        if_(
                            bin(BinOp::Gt, l(0), u32_(100)),
                            vec![stmt(StmtKind::Return(Some(u32_(9999))))],
                            vec![],
                        ),
                    ],
                ),
                stmt(StmtKind::Return(Some(l(0)))),
            ],
        },
        span: SrcSpan::default(),
    }
}

#[test]
fn device_function_calls_with_early_returns() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("calls");
    let f = kb.device_fn(collatz_fn());
    let x = kb.slice("x", u.clone(), false);
    let out = kb.slice("out", u.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("x", 1);
    let iu = || local(i, ty(Scalar::Usize));
    let call = |a: Expr| expr(ExprKind::Call(f, vec![a]), u.clone());
    // out[i] = collatz(x[i]) + collatz(x[i] + 1) * 100000
    let k = kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(out)),
            vec![store_elem(
                out,
                iu(),
                s,
                u.clone(),
                bin(
                    BinOp::Add,
                    call(elem(x, iu(), s, u.clone())),
                    bin(
                        BinOp::Mul,
                        call(bin(
                            BinOp::Add,
                            elem(x, iu(), s, u.clone()),
                            int(Scalar::U32, 1),
                        )),
                        int(Scalar::U32, 100000),
                    ),
                ),
            )],
            vec![],
        ),
    ]);
    let collatz = |n: u32| {
        let (mut steps, mut v) = (0u32, n);
        while v != 1 {
            v = if v % 2 == 0 { v / 2 } else { v * 3 + 1 };
            steps += 1;
            if steps > 100 {
                return 9999;
            }
        }
        steps
    };
    let xs: Vec<u32> = (1..200).collect();
    let got: Vec<u32> = run_map(&k, &xs);
    let want: Vec<u32> = xs
        .iter()
        .map(|&v| collatz(v) + collatz(v + 1) * 100000)
        .collect();
    assert_eq!(got, want);
    assert!(
        want.iter().any(|w| w % 100000 == 9999),
        "some lanes take the early return"
    );
}
