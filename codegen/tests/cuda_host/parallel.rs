//! Atomics, block-shared arrays, barriers and warp operations, run with the
//! threads of each block as concurrent OS threads
//! (`spindle_host_launch_concurrent`): contended atomics give exact
//! results, `sync_threads` orders a shared-memory reduction, and warp
//! operations follow the IR's rules (partial warps, finished threads).

use super::harness::*;
use spindle_codegen::ir::*;
use Scalar::*;

fn get(id: LocalId, s: Scalar) -> Expr {
    load(local(id, t(s)))
}

fn slice_len(p: ParamId) -> Expr {
    Expr {
        kind: ExprKind::SliceLen(p),
        ty: t(Usize),
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

fn let_(local: LocalId, init: Expr) -> StmtKind {
    StmtKind::Let {
        local,
        init: Some(init),
    }
}

fn ro(s: Scalar) -> ParamKind {
    ParamKind::Slice {
        elem: t(s),
        mutable: false,
    }
}

fn rw(s: Scalar) -> ParamKind {
    ParamKind::Slice {
        elem: t(s),
        mutable: true,
    }
}

/// `slice[i * stride + k]` of type `s`.
fn strided(p: ParamId, s: Scalar, i: Expr, stride: i128, k: i128) -> Place {
    let idx = bin(
        BinOp::Add,
        bin(BinOp::Mul, i, lit(Usize, stride)),
        lit(Usize, k),
    );
    at(param(p, t(s)), idx, 1, t(s))
}

/// `thread_idx().x` / `block_idx().x` as `usize` (struct 0 is `Dim3`).
fn geom(which: Intrinsic) -> Expr {
    cast(
        Expr {
            kind: ExprKind::Field(Box::new(intr(which, vec![], Ty::Struct(0))), 0),
            ty: t(U32),
        },
        Usize,
    )
}

fn sync_threads() -> StmtKind {
    StmtKind::Expr(coll(CollectiveOp::SyncThreads, vec![], Ty::Unit))
}

/// `v` wrapped into the range of integer type `s`.
fn wrap(s: Scalar, v: i128) -> i128 {
    let m = 1i128 << s.bits();
    let r = v.rem_euclid(m);
    if s.is_signed_int() && r >= m / 2 {
        r - m
    } else {
        r
    }
}

fn bits(s: Scalar, v: i128) -> u64 {
    (v as u64) & mask(s)
}

const ATOMIC_THREADS: (u32, u32) = (4, 64);

/// `atomics_<t>(x: &[T], acc: &mut [T], olds: &mut [T])`: thread `i` does
/// every integer atomic on `acc[0..10]` (see the test), keeping each old
/// value in `olds[i * 10 + k]`; `acc[8]` is incremented by a CAS loop.
fn int_atomics_kernel(s: Scalar) -> Kernel {
    let name = format!("atomics_{}", s.rust_name());
    let (i, v, cur, old) = (0, 1, 2, 3);
    let acc = |k: i128| at(param(1, t(s)), lit(Usize, k), 1, t(s));
    let olds = |k: i128| strided(2, s, get(i, Usize), 10, k);
    let mut then = vec![let_(v, load(at(param(0, t(s)), get(i, Usize), 0, t(s))))];
    let ops = [
        (AtomicOp::Add, lit(s, 1)),
        (AtomicOp::Sub, lit(s, 1)),
        (AtomicOp::Min, get(v, s)),
        (AtomicOp::Max, get(v, s)),
        (AtomicOp::And, get(v, s)),
        (AtomicOp::Or, get(v, s)),
        (AtomicOp::Xor, get(v, s)),
        (AtomicOp::Exchange, get(v, s)),
    ];
    for (k, (op, arg)) in ops.into_iter().enumerate() {
        then.push(StmtKind::Assign {
            place: olds(k as i128),
            value: atomic(op, acc(k as i128), vec![arg]),
        });
    }
    // let mut cur = atomic_add(&mut acc[8], 0);
    // loop { let old = atomic_cas(&mut acc[8], cur, cur + 1); if old == cur { break; } cur = old; }
    then.push(let_(cur, atomic(AtomicOp::Add, acc(8), vec![lit(s, 0)])));
    then.push(StmtKind::Loop {
        id: 0,
        body: block(vec![
            let_(
                old,
                atomic(
                    AtomicOp::Cas,
                    acc(8),
                    vec![get(cur, s), bin(BinOp::Add, get(cur, s), lit(s, 1))],
                ),
            ),
            if_then(
                bin(BinOp::Eq, get(old, s), get(cur, s)),
                vec![StmtKind::Break(0)],
            ),
            StmtKind::Assign {
                place: local(cur, t(s)),
                value: get(old, s),
            },
        ]),
    });
    then.push(StmtKind::Assign {
        place: olds(8),
        value: get(cur, s),
    });
    then.push(StmtKind::Assign {
        place: olds(9),
        value: atomic(AtomicOp::Add, acc(9), vec![get(v, s)]),
    });
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], t(Usize))),
        if_then(bin(BinOp::Lt, get(i, Usize), slice_len(0)), then),
    ];
    let f = function(
        &name,
        vec![("x", ro(s)), ("acc", rw(s)), ("olds", rw(s))],
        vec![
            ("i", t(Usize), false),
            ("v", t(s), false),
            ("cur", t(s), true),
            ("old", t(s), false),
        ],
        body,
    );
    kernel(&name, f, 2, vec![])
}

/// Sorted, as a multiset.
fn sorted(mut v: Vec<i128>) -> Vec<i128> {
    v.sort();
    v
}

#[test]
fn cuda_host_integer_atomics_are_exact_under_contention() {
    require_gxx!();
    let (grid, block) = ATOMIC_THREADS;
    let n = (grid * block) as usize;
    let types = [I32, U32, I64, U64, Isize, Usize];
    let mut launches = Vec::new();
    let mut setups = Vec::new();
    for s in types {
        let max = wrap(s, (1i128 << (s.bits() - 1 + !s.is_signed_int() as u32)) - 1);
        let min = wrap(
            s,
            if s.is_signed_int() {
                -(1i128 << (s.bits() - 1))
            } else {
                0
            },
        );
        let xs: Vec<i128> = (0..n as i128)
            .map(|i| wrap(s, i * 0x9E37_79B9_7F4A_7C15 + 12345))
            .collect();
        // Add and the CAS loop wrap past MAX; Sub wraps past MIN.
        let init: Vec<i128> = vec![
            wrap(s, max - 100),
            wrap(s, min + 100),
            wrap(s, 7),
            wrap(s, 7),
            wrap(s, -1),
            0,
            wrap(s, 0x5A5A_5A5A),
            wrap(s, 42),
            wrap(s, max - 50),
            wrap(s, 3),
        ];
        launches.push(Launch {
            kernel: int_atomics_kernel(s),
            slices: vec![
                (s, xs.iter().map(|v| bits(s, *v)).collect(), false),
                (s, init.iter().map(|v| bits(s, *v)).collect(), true),
                (s, vec![0; n * 10], true),
            ],
            grid,
            block,
            concurrent: true,
        });
        setups.push((s, xs, init));
    }
    let r = run("int_atomics", &launches, "-O1");
    for (s, xs, init) in setups {
        let name = format!("atomics_{}", s.rust_name());
        assert_eq!(r.faults[&name][0], 0, "{name} faulted");
        let acc = |k: usize| wrap(s, r.values[&(name.clone(), 1, k)] as i128);
        let olds = |k: usize| -> Vec<i128> {
            (0..n)
                .map(|i| wrap(s, r.values[&(name.clone(), 2, i * 10 + k)] as i128))
                .collect()
        };
        let nn = n as i128;
        assert_eq!(acc(0), wrap(s, init[0] + nn), "{name} add");
        let want: Vec<i128> = (0..nn).map(|k| wrap(s, init[0] + k)).collect();
        assert_eq!(sorted(olds(0)), sorted(want), "{name} add: old values");
        assert_eq!(acc(1), wrap(s, init[1] - nn), "{name} sub");
        let want: Vec<i128> = (0..nn).map(|k| wrap(s, init[1] - k)).collect();
        assert_eq!(sorted(olds(1)), sorted(want), "{name} sub: old values");
        let lo = xs.iter().copied().chain([init[2]]).min().unwrap();
        let hi = xs.iter().copied().chain([init[3]]).max().unwrap();
        assert_eq!(acc(2), lo, "{name} min");
        assert_eq!(acc(3), hi, "{name} max");
        let and = xs.iter().fold(bits(s, init[4]), |a, x| a & bits(s, *x));
        let or = xs.iter().fold(bits(s, init[5]), |a, x| a | bits(s, *x));
        let xor = xs.iter().fold(bits(s, init[6]), |a, x| a ^ bits(s, *x));
        assert_eq!(bits(s, acc(4)), and, "{name} and");
        assert_eq!(bits(s, acc(5)), or, "{name} or");
        assert_eq!(bits(s, acc(6)), xor, "{name} xor");
        // Exchange: the old values and the final one are the initial value
        // and every thread's, each once.
        let mut got = olds(7);
        got.push(acc(7));
        let mut want = xs.clone();
        want.push(init[7]);
        assert_eq!(sorted(got), sorted(want), "{name} exchange");
        assert_eq!(acc(8), wrap(s, init[8] + nn), "{name} cas loop");
        let want: Vec<i128> = (0..nn).map(|k| wrap(s, init[8] + k)).collect();
        assert_eq!(
            sorted(olds(8)),
            sorted(want),
            "{name} cas: each value won once"
        );
        let sum = xs.iter().fold(init[9], |a, x| wrap(s, a + x));
        assert_eq!(acc(9), sum, "{name} add of v");
    }
}

/// `fatomics_<t>(x: &[T], acc: &mut [T], olds: &mut [T])`: `acc[0] += x[i]`,
/// `acc[1] -= x[i]`, `acc[2] += T::MIN_POSITIVE subnormal`, exchange on
/// `acc[3]` (olds at `i * 2`, `i * 2 + 1`).
fn float_atomics_kernel(s: Scalar) -> Kernel {
    let name = format!("fatomics_{}", s.rust_name());
    let (i, v) = (0, 1);
    let acc = |k: i128| at(param(1, t(s)), lit(Usize, k), 1, t(s));
    let tiny = if s == F32 {
        f64::from(f32::from_bits(1))
    } else {
        f64::from_bits(1)
    };
    let then = vec![
        let_(v, load(at(param(0, t(s)), get(i, Usize), 0, t(s)))),
        StmtKind::Expr(atomic(AtomicOp::Add, acc(0), vec![get(v, s)])),
        StmtKind::Expr(atomic(AtomicOp::Sub, acc(1), vec![get(v, s)])),
        StmtKind::Assign {
            place: strided(2, s, get(i, Usize), 2, 0),
            value: atomic(AtomicOp::Add, acc(2), vec![flit(s, tiny)]),
        },
        StmtKind::Assign {
            place: strided(2, s, get(i, Usize), 2, 1),
            value: atomic(AtomicOp::Exchange, acc(3), vec![get(v, s)]),
        },
    ];
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], t(Usize))),
        if_then(bin(BinOp::Lt, get(i, Usize), slice_len(0)), then),
    ];
    let f = function(
        &name,
        vec![("x", ro(s)), ("acc", rw(s)), ("olds", rw(s))],
        vec![("i", t(Usize), false), ("v", t(s), false)],
        body,
    );
    kernel(&name, f, 2, vec![])
}

#[test]
fn cuda_host_float_atomics_are_exact_with_representable_values() {
    require_gxx!();
    let (grid, block) = ATOMIC_THREADS;
    let n = (grid * block) as usize;
    // Quarters: every partial sum is exact, in any order.
    let xs: Vec<f64> = (0..n).map(|i| (i % 8) as f64 * 0.25 + 1.0).collect();
    let sum: f64 = xs.iter().sum();
    let mut launches = Vec::new();
    for s in [F32, F64] {
        let enc = |v: f64| {
            if s == F32 {
                (v as f32).to_bits() as u64
            } else {
                v.to_bits()
            }
        };
        launches.push(Launch {
            kernel: float_atomics_kernel(s),
            slices: vec![
                (s, xs.iter().map(|v| enc(*v)).collect(), false),
                (s, vec![enc(10.0), enc(1000.0), enc(0.0), enc(-3.5)], true),
                (s, vec![0; n * 2], true),
            ],
            grid,
            block,
            concurrent: true,
        });
    }
    let r = run("float_atomics", &launches, "-O1");
    for s in [F32, F64] {
        let name = format!("fatomics_{}", s.rust_name());
        let dec = |b: u64| {
            if s == F32 {
                f64::from(f32::from_bits(b as u32))
            } else {
                f64::from_bits(b)
            }
        };
        let acc = |k: usize| dec(r.values[&(name.clone(), 1, k)]);
        assert_eq!(acc(0), 10.0 + sum, "{name} add");
        assert_eq!(acc(1), 1000.0 - sum, "{name} sub");
        // n subnormal steps: no flushing to zero.
        let tiny = if s == F32 {
            f64::from(f32::from_bits(1))
        } else {
            f64::from_bits(1)
        };
        assert_eq!(acc(2), tiny * n as f64, "{name} subnormal add");
        let mut olds: Vec<f64> = (0..n)
            .map(|i| dec(r.values[&(name.clone(), 2, i * 2)]))
            .collect();
        olds.sort_by(f64::total_cmp);
        let want: Vec<f64> = (0..n).map(|k| tiny * k as f64).collect();
        assert_eq!(olds, want, "{name} subnormal add: old values");
        let mut got: Vec<f64> = (0..n)
            .map(|i| dec(r.values[&(name.clone(), 2, i * 2 + 1)]))
            .chain([acc(3)])
            .collect();
        got.sort_by(f64::total_cmp);
        let mut want: Vec<f64> = xs.iter().copied().chain([-3.5]).collect();
        want.sort_by(f64::total_cmp);
        assert_eq!(got, want, "{name} exchange");
    }
}

/// `histogram(x: &[u32], bins: &mut [u32])`: `atomic_add(&mut bins[x[i] % bins.len()], 1)`.
fn histogram_kernel() -> Kernel {
    let i = 0;
    let xi = load(at(param(0, t(U32)), get(i, Usize), 0, t(U32)));
    let bin_of = bin(BinOp::Rem, cast(xi, Usize), slice_len(1));
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], t(Usize))),
        if_then(
            bin(BinOp::Lt, get(i, Usize), slice_len(0)),
            vec![StmtKind::Expr(atomic(
                AtomicOp::Add,
                at(param(1, t(U32)), bin_of, 1, t(U32)),
                vec![lit(U32, 1)],
            ))],
        ),
    ];
    let f = function(
        "histogram",
        vec![("x", ro(U32)), ("bins", rw(U32))],
        vec![("i", t(Usize), false)],
        body,
    );
    kernel("histogram", f, 2, vec![])
}

#[test]
fn cuda_host_histogram_counts_every_element() {
    require_gxx!();
    let xs: Vec<u64> = (0..1000u64).map(|i| (i * i + 7 * i) % 1013).collect();
    let bins = 5;
    let r = run(
        "histogram",
        &[Launch {
            kernel: histogram_kernel(),
            slices: vec![(U32, xs.clone(), false), (U32, vec![0; bins], true)],
            grid: 8,
            block: 128,
            concurrent: true,
        }],
        "-O1",
    );
    for b in 0..bins {
        let want = xs.iter().filter(|x| **x as usize % bins == b).count() as u64;
        assert_eq!(r.values[&("histogram".to_string(), 1, b)], want, "bin {b}");
    }
}

const REDUCE_BLOCK: u32 = 128;

/// `block_sum(x: &[u32], sums: &mut [u32], hits: &mut [u32])` with
/// `tile: [u32; 128]` and `cells: [Cell; 4]` (`Cell { hits: u32, last: u64 }`):
/// a tree reduction of the block's values through shared memory with
/// `sync_threads`, and per-cell hit counts by atomics on struct fields.
fn block_sum_kernel() -> Kernel {
    let cell = StructDef {
        name: "Cell".into(),
        size: 16,
        align: 8,
        fields: vec![
            FieldDef {
                name: "hits".into(),
                offset: 0,
                ty: t(U32),
            },
            FieldDef {
                name: "last".into(),
                offset: 8,
                ty: t(U64),
            },
        ],
    };
    let (i, tid, step) = (0, 1, 2);
    let tile = |e: Expr| at(shared(0, t(U32), REDUCE_BLOCK), e, 1, t(U32));
    let cells = |e: Expr| at(shared(1, Ty::Struct(1), 4), e, 1, Ty::Struct(1));
    let hits = |e: Expr| {
        let mut p = cells(e);
        p.proj.push(Proj::Field(0));
        p.ty = t(U32);
        p
    };
    let tidx = || get(tid, Usize);
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], t(Usize))),
        let_(tid, geom(Intrinsic::ThreadIdx)),
        // Shared memory starts undefined: clear the cells first.
        if_then(
            bin(BinOp::Lt, tidx(), lit(Usize, 4)),
            vec![StmtKind::Assign {
                place: hits(tidx()),
                value: lit(U32, 0),
            }],
        ),
        StmtKind::Assign {
            place: tile(tidx()),
            value: load(at(param(0, t(U32)), get(i, Usize), 0, t(U32))),
        },
        sync_threads(),
        StmtKind::Expr(atomic(
            AtomicOp::Add,
            hits(bin(BinOp::Rem, tidx(), lit(Usize, 4))),
            vec![lit(U32, 1)],
        )),
        let_(step, lit(Usize, REDUCE_BLOCK as i128 / 2)),
        StmtKind::While {
            id: 0,
            cond: bin(BinOp::Gt, get(step, Usize), lit(Usize, 0)),
            body: block(vec![
                if_then(
                    bin(BinOp::Lt, tidx(), get(step, Usize)),
                    vec![StmtKind::CompoundAssign {
                        place: tile(tidx()),
                        op: BinOp::Add,
                        value: load(tile(bin(BinOp::Add, tidx(), get(step, Usize)))),
                    }],
                ),
                sync_threads(),
                StmtKind::Assign {
                    place: local(step, t(Usize)),
                    value: bin(BinOp::Div, get(step, Usize), lit(Usize, 2)),
                },
            ]),
        },
        if_then(
            bin(BinOp::Eq, tidx(), lit(Usize, 0)),
            vec![StmtKind::Assign {
                place: at(param(1, t(U32)), geom(Intrinsic::BlockIdx), 1, t(U32)),
                value: load(tile(lit(Usize, 0))),
            }],
        ),
        // hits[block * 4 + t] = cells[t].hits for t < 4.
        if_then(
            bin(BinOp::Lt, tidx(), lit(Usize, 4)),
            vec![StmtKind::Assign {
                place: at(
                    param(2, t(U32)),
                    bin(
                        BinOp::Add,
                        bin(BinOp::Mul, geom(Intrinsic::BlockIdx), lit(Usize, 4)),
                        tidx(),
                    ),
                    1,
                    t(U32),
                ),
                value: load(hits(tidx())),
            }],
        ),
    ];
    let f = function(
        "block_sum",
        vec![("x", ro(U32)), ("sums", rw(U32)), ("hits", rw(U32))],
        vec![
            ("i", t(Usize), false),
            ("t", t(Usize), false),
            ("step", t(Usize), true),
        ],
        body,
    );
    let mut k = kernel("block_sum", f, 2, vec![dim3_def(), cell]);
    k.shared = vec![
        SharedArray {
            name: "tile".into(),
            elem: t(U32),
            len: REDUCE_BLOCK,
            span: SrcSpan::default(),
        },
        SharedArray {
            name: "cells".into(),
            elem: Ty::Struct(1),
            len: 4,
            span: SrcSpan::default(),
        },
    ];
    k
}

#[test]
fn cuda_host_shared_memory_block_reduction_with_sync_threads() {
    require_gxx!();
    let grid = 3;
    let n = (grid * REDUCE_BLOCK) as usize;
    let xs: Vec<u64> = (0..n as u64).map(|i| (i * 37) % 101).collect();
    let r = run(
        "block_sum",
        &[Launch {
            kernel: block_sum_kernel(),
            slices: vec![
                (U32, xs.clone(), false),
                (U32, vec![0; grid as usize], true),
                (U32, vec![0; grid as usize * 4], true),
            ],
            grid,
            block: REDUCE_BLOCK,
            concurrent: true,
        }],
        "-O1",
    );
    assert_eq!(r.faults["block_sum"][0], 0);
    for b in 0..grid as usize {
        let want: u64 = xs[b * REDUCE_BLOCK as usize..(b + 1) * REDUCE_BLOCK as usize]
            .iter()
            .sum();
        assert_eq!(
            r.values[&("block_sum".to_string(), 1, b)],
            want,
            "block {b}"
        );
        for c in 0..4 {
            let got = r.values[&("block_sum".to_string(), 2, b * 4 + c)];
            assert_eq!(got, REDUCE_BLOCK as u64 / 4, "block {b} cell {c}");
        }
    }
}

const WARP_BLOCK: u32 = 48;

/// `warps_<t>(x: &[T], o: &mut [T], b: &mut [u32])`, every thread in range:
/// four shuffles of `x[i]` into `o[i * 4 ..]`; ballot, all, all, any and
/// the lane into `b[i * 5 ..]`.
fn warps_kernel(s: Scalar) -> Kernel {
    use CollectiveOp as C;
    let name = format!("warps_{}", s.rust_name());
    let (i, v, lane) = (0, 1, 2);
    let ln = || get(lane, U32);
    let mut body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], t(Usize))),
        let_(v, load(at(param(0, t(s)), get(i, Usize), 0, t(s)))),
        let_(lane, intr(Intrinsic::LaneId, vec![], t(U32))),
        StmtKind::Expr(coll(C::SyncWarp, vec![], Ty::Unit)),
    ];
    let shuffles = [
        (
            C::Shuffle,
            bin(BinOp::Add, bin(BinOp::Mul, ln(), lit(U32, 7)), lit(U32, 3)),
        ),
        (C::ShuffleDown, lit(U32, 5)),
        (C::ShuffleUp, lit(U32, 2)),
        (C::ShuffleXor, lit(U32, 9)),
    ];
    for (k, (op, arg)) in shuffles.into_iter().enumerate() {
        body.push(StmtKind::Assign {
            place: strided(1, s, get(i, Usize), 4, k as i128),
            value: coll(op, vec![get(v, s), arg], t(s)),
        });
    }
    let b = |k| strided(2, U32, get(i, Usize), 5, k);
    let votes = [
        (
            C::Ballot,
            bin(
                BinOp::Eq,
                bin(BinOp::Rem, get(i, Usize), lit(Usize, 3)),
                lit(Usize, 0),
            ),
        ),
        (C::All, bin(BinOp::Lt, ln(), lit(U32, 40))),
        (C::All, bin(BinOp::Ne, ln(), lit(U32, 5))),
        (C::Any, bin(BinOp::Eq, ln(), lit(U32, 20))),
    ];
    for (k, (op, p)) in votes.into_iter().enumerate() {
        let e = if op == C::Ballot {
            coll(op, vec![p], t(U32))
        } else {
            cast(coll(op, vec![p], t(Bool)), U32)
        };
        body.push(StmtKind::Assign {
            place: b(k as i128),
            value: e,
        });
    }
    body.push(StmtKind::Assign {
        place: b(4),
        value: ln(),
    });
    let f = function(
        &name,
        vec![("x", ro(s)), ("o", rw(s)), ("b", rw(U32))],
        vec![
            ("i", t(Usize), false),
            ("v", t(s), false),
            ("lane", t(U32), false),
        ],
        body,
    );
    kernel(&name, f, 2, vec![])
}

/// Distinct values of type `s` for thread `i`, as bits.
fn warp_value(s: Scalar, i: u64) -> u64 {
    match s {
        Bool => (i % 3 == 1) as u64,
        F32 => (i as f32 * -1.5 + 0.25).to_bits() as u64,
        F64 => (i as f64 * 1e300 / 7.0).to_bits(),
        _ => (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5) & mask(s),
    }
}

#[test]
fn cuda_host_warp_operations_follow_the_ir_rules() {
    require_gxx!();
    let grid = 2;
    let n = (grid * WARP_BLOCK) as usize;
    let types = [Bool, I8, U16, I32, U32, I64, Usize, F32, F64];
    let launches: Vec<Launch> = types
        .iter()
        .map(|&s| Launch {
            kernel: warps_kernel(s),
            slices: vec![
                (s, (0..n as u64).map(|i| warp_value(s, i)).collect(), false),
                (s, vec![0; n * 4], true),
                (U32, vec![0; n * 5], true),
            ],
            grid,
            block: WARP_BLOCK,
            concurrent: true,
        })
        .collect();
    let r = run("warps", &launches, "-O1");
    for s in types {
        let name = format!("warps_{}", s.rust_name());
        assert_eq!(r.faults[&name][0], 0, "{name} faulted");
        for i in 0..n {
            let t_in_block = i as u32 % WARP_BLOCK;
            let lane = t_in_block % 32;
            let warp_base = i - lane as usize;
            // Lanes that exist in this warp (the block's last may be partial).
            let members = (WARP_BLOCK - (t_in_block - lane)).min(32);
            let from = |src: Option<u64>| match src {
                Some(l) if l < members as u64 => warp_value(s, warp_base as u64 + l),
                _ => warp_value(s, i as u64),
            };
            let want = [
                from(Some(((lane * 7 + 3) % 32) as u64)),
                from(Some(lane as u64 + 5)),
                from(lane.checked_sub(2).map(u64::from)),
                from(Some((lane ^ 9) as u64)),
            ];
            for (k, w) in want.iter().enumerate() {
                let got = r.values[&(name.clone(), 1, i * 4 + k)];
                assert_eq!(got, *w, "{name}: thread {i} shuffle {k}");
            }
            let ballot = (0..members)
                .filter(|l| (warp_base + *l as usize).is_multiple_of(3))
                .fold(0u64, |a, l| a | 1 << l);
            let b = |k| r.values[&(name.clone(), 2, i * 5 + k)];
            assert_eq!(b(0), ballot, "{name}: thread {i} ballot");
            assert_eq!(b(1), 1, "{name}: thread {i} all(lane < 40)");
            assert_eq!(b(2), 0, "{name}: thread {i} all(lane != 5)");
            assert_eq!(
                b(3),
                (members > 20) as u64,
                "{name}: thread {i} any(lane == 20)"
            );
            assert_eq!(b(4), lane as u64, "{name}: thread {i} lane_id");
        }
    }
}

/// `finished(o: &mut [u32])`: thread 5 faults (out of bounds) before a
/// `sync_threads`; the others pass it, then shuffle with lane ^ 1.
fn finished_kernel() -> Kernel {
    let tid = 0;
    let o = |e: Expr| at(param(0, t(U32)), e, 0, t(U32));
    let tx = || cast(get(tid, Usize), U32);
    let body = vec![
        let_(tid, geom(Intrinsic::ThreadIdx)),
        if_then(
            bin(BinOp::Eq, get(tid, Usize), lit(Usize, 5)),
            vec![StmtKind::Assign {
                place: o(lit(Usize, 100)),
                value: lit(U32, 1),
            }],
        ),
        sync_threads(),
        StmtKind::Assign {
            place: o(get(tid, Usize)),
            value: bin(
                BinOp::Add,
                tx(),
                coll(CollectiveOp::ShuffleXor, vec![tx(), lit(U32, 1)], t(U32)),
            ),
        },
    ];
    let f = function(
        "finished",
        vec![("o", rw(U32))],
        vec![("t", t(Usize), false)],
        body,
    );
    kernel("finished", f, 1, vec![dim3_def()])
}

#[test]
fn cuda_host_a_faulted_thread_leaves_barriers_and_warps() {
    require_gxx!();
    let r = run(
        "finished",
        &[Launch {
            kernel: finished_kernel(),
            slices: vec![(U32, vec![999; 8], true)],
            grid: 1,
            block: 8,
            concurrent: true,
        }],
        "-O1",
    );
    let f = r.faults["finished"];
    // flag, kind OutOfBounds, site 0, index 100, len 8, block 0, thread 5
    assert_eq!(f, [1, 1, 0, 100, 8, 0, 5]);
    let o = |k| r.values[&("finished".to_string(), 0, k)];
    assert_eq!(o(5), 999, "the faulted thread wrote nothing");
    // Lane 4's partner (5) finished: lane 4 gets its own value.
    assert_eq!(o(4), 8);
    for k in [0usize, 1, 2, 3, 6, 7] {
        assert_eq!(o(k), k as u64 + (k as u64 ^ 1), "thread {k}");
    }
}

/// The ring kernel of DESIGN.md's shape, on 64 threads:
/// ```ignore
/// #[kernel(mode = "ring", threads = 64)]
/// fn block_sum(state: &mut Totals, msg: u32) -> Totals {
///     let partial = shared_array::<u32, 64>();
///     let t = thread_idx().x as usize;
///     partial[t] = msg + t as u32;
///     sync_threads();
///     if t == 0 {
///         let mut s = 0u32;
///         for k in 0..64 { s += partial[k]; }
///         atomic_add(&mut state.sum, s as u64);
///     }
///     atomic_add(&mut state.calls, 1);
///     atomic_max(&mut state.largest, msg);
///     sync_threads();
///     *state
/// }
/// ```
fn ring_block_sum() -> Kernel {
    let totals = StructDef {
        name: "Totals".into(),
        size: 16,
        align: 8,
        fields: [("calls", U32, 0), ("largest", U32, 4), ("sum", U64, 8)]
            .into_iter()
            .map(|(n, s, offset)| FieldDef {
                name: n.into(),
                offset,
                ty: t(s),
            })
            .collect(),
    };
    let st = Ty::Struct(1);
    let (tid, sum, k) = (0, 1, 2);
    let partial = |e: Expr| at(shared(0, t(U32), 64), e, 0, t(U32));
    let state_field = |f: u32, s: Scalar| {
        let mut p = param(0, st.clone());
        p.proj.push(Proj::Field(f));
        p.ty = t(s);
        p
    };
    let msg = || load(param(1, t(U32)));
    let body = vec![
        let_(tid, geom(Intrinsic::ThreadIdx)),
        StmtKind::Assign {
            place: partial(get(tid, Usize)),
            value: bin(BinOp::Add, msg(), cast(get(tid, Usize), U32)),
        },
        sync_threads(),
        if_then(
            bin(BinOp::Eq, get(tid, Usize), lit(Usize, 0)),
            vec![
                let_(sum, lit(U32, 0)),
                StmtKind::For {
                    id: 0,
                    var: k,
                    start: lit(Usize, 0),
                    end: lit(Usize, 64),
                    inclusive: false,
                    step: None,
                    body: block(vec![StmtKind::CompoundAssign {
                        place: local(sum, t(U32)),
                        op: BinOp::Add,
                        value: load(partial(get(k, Usize))),
                    }]),
                },
                StmtKind::Expr(atomic(
                    AtomicOp::Add,
                    state_field(2, U64),
                    vec![cast(get(sum, U32), U64)],
                )),
            ],
        ),
        StmtKind::Expr(atomic(
            AtomicOp::Add,
            state_field(0, U32),
            vec![lit(U32, 1)],
        )),
        StmtKind::Expr(atomic(AtomicOp::Max, state_field(1, U32), vec![msg()])),
        sync_threads(),
        StmtKind::Return(Some(load(param(0, st.clone())))),
    ];
    let mut f = function(
        "block_sum",
        vec![
            ("state", ParamKind::StateRef(st.clone())),
            ("msg", ParamKind::Value(t(U32))),
        ],
        vec![
            ("t", t(Usize), false),
            ("s", t(U32), true),
            ("k", t(Usize), false),
        ],
        body,
    );
    f.ret = st;
    let mut kernel = kernel("block_sum", f, 1, vec![dim3_def(), totals]);
    kernel.mode = spindle_codegen::KernelMode::Ring;
    kernel.threads = 64;
    kernel.shared = vec![SharedArray {
        name: "partial".into(),
        elem: t(U32),
        len: 64,
        span: SrcSpan::default(),
    }];
    kernel
}

#[test]
fn cuda_host_ring_handler_with_a_shared_array_barriers_and_state_atomics() {
    require_gxx!();
    let k = ring_block_sum();
    let h = spindle_codegen::cuda::emit_ring_handler(
        &k,
        &spindle_codegen::cuda::EmitOptions::default(),
    );
    let dir = std::env::temp_dir().join(format!("spindle-cuda-host-ring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("block_sum.cu");
    std::fs::write(&unit, &h.code).unwrap();
    // One block of 64 threads per message, as the ring loop runs the
    // handler; the static shared array outlives each call.
    let msgs = [3u32, 11, 7, 1];
    let main = format!(
        "#include \"{shim}\"\nnamespace k {{\n#include \"{unit}\"\n}}\nint main() {{\n  \
         k::SpindleFault fault{{}};\n  k::{s} state{{}};\n  k::{s} reply{{}};\n  \
         for (uint32_t msg : {{{msgs}}}) {{\n    \
         spindle_host_launch_concurrent(1, 64, [&] {{\n      \
         k::{s} r = k::{handler}(&fault, &state, msg);\n      \
         if (threadIdx.x == 0) reply = r;\n    }});\n    \
         std::printf(\"%u %u %llu\\n\", reply.calls, reply.largest, (unsigned long long)reply.sum);\n  }}\n  \
         std::printf(\"fault %u\\n\", fault.flag);\n}}\n",
        shim = shim_path(),
        unit = unit.display(),
        s = h.state_type,
        handler = h.handler,
        msgs = msgs.map(|m| m.to_string()).join(", "),
    );
    let out = compile_and_run(&dir, &main, "-O1");
    let _ = std::fs::remove_dir_all(&dir);
    let mut lines = out.lines();
    let (mut calls, mut largest, mut sum) = (0u64, 0u64, 0u64);
    for m in msgs {
        calls += 64;
        largest = largest.max(m as u64);
        sum += (0..64).map(|t| (m + t) as u64).sum::<u64>();
        assert_eq!(
            lines.next(),
            Some(format!("{calls} {largest} {sum}").as_str()),
            "after message {m}:\n{out}"
        );
    }
    assert_eq!(lines.next(), Some("fault 0"));
}

#[test]
fn cuda_host_concurrent_kernels_have_no_data_races() {
    require_gxx!();
    // The shared-memory reduction, contended atomics and warp exchanges,
    // under ThreadSanitizer: barriers order the shared array's plain
    // accesses, and every atomic is one.
    let xs: Vec<u64> = (0..REDUCE_BLOCK as u64 * 2).collect();
    let n = 2 * WARP_BLOCK as usize;
    let launches = [
        Launch {
            kernel: block_sum_kernel(),
            slices: vec![
                (U32, xs, false),
                (U32, vec![0; 2], true),
                (U32, vec![0; 8], true),
            ],
            grid: 2,
            block: REDUCE_BLOCK,
            concurrent: true,
        },
        Launch {
            kernel: int_atomics_kernel(U64),
            slices: vec![
                (U64, (0..64).collect(), false),
                (U64, vec![0; 10], true),
                (U64, vec![0; 640], true),
            ],
            grid: 1,
            block: 64,
            concurrent: true,
        },
        Launch {
            kernel: warps_kernel(F32),
            slices: vec![
                (
                    F32,
                    (0..n as u64).map(|i| warp_value(F32, i)).collect(),
                    false,
                ),
                (F32, vec![0; n * 4], true),
                (U32, vec![0; n * 5], true),
            ],
            grid: 2,
            block: WARP_BLOCK,
            concurrent: true,
        },
    ];
    let r = run_with("tsan", &launches, "-O1", Sanitizer::Thread);
    assert_eq!(
        r.values[&("block_sum".to_string(), 1, 1)],
        (128..256).sum::<u64>()
    );
    assert_eq!(r.values[&("atomics_u64".to_string(), 1, 0)], 64);
}

/// A kernel from Rust source, linked by the front end.
fn from_rust(src: &'static str) -> Kernel {
    let name = src["fn ".len()..src.find('(').unwrap()].trim();
    let item = spindle_codegen::ItemSource {
        name,
        source: src,
        file: "src/kernels.rs",
        line: 1,
        consts: &[],
    };
    let options = spindle_codegen::KernelOptions::new(spindle_codegen::KernelMode::Batch);
    spindle_codegen::link(&item, &options, &[], &[]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cuda_host_rust_source_block_reduction_and_warp_sum() {
    require_gxx!();
    let reduce = from_rust(
        "fn reduce(x: &[u32], out: &mut [u32], hits: &mut [u32]) {
            let tile = shared_array::<u32, 64>();
            let seen = shared_array::<u32, 4>();
            let t = thread_idx().x as usize;
            if t < 4 {
                seen[t] = 0;
            }
            tile[t] = x[global_index()];
            sync_threads();
            atomic_add(&mut seen[t % 4], 1);
            let mut s = 32;
            while s > 0 {
                if t < s {
                    tile[t] += tile[t + s];
                }
                sync_threads();
                s /= 2;
            }
            let b = block_idx().x as usize;
            if t == 0 {
                out[b] = tile[0];
            }
            if t < 4 {
                hits[b * 4 + t] = seen[t];
            }
        }",
    );
    let warp_sum = from_rust(
        "fn warp_sum(x: &[i64], out: &mut [i64]) {
            let i = global_index();
            let mut v = x[i];
            let mut d = 16;
            while d > 0 {
                v = v.wrapping_add(warp_shuffle_xor(v, d));
                d /= 2;
            }
            out[i] = v;
        }",
    );
    let xs: Vec<u64> = (0..192u64).map(|i| i * i % 1000).collect();
    let ys: Vec<i64> = (0..64i64).map(|i| i * 1_000_000_007 - 5).collect();
    let r = run(
        "rust_source",
        &[
            Launch {
                kernel: reduce,
                slices: vec![
                    (U32, xs.clone(), false),
                    (U32, vec![0; 3], true),
                    (U32, vec![0; 12], true),
                ],
                grid: 3,
                block: 64,
                concurrent: true,
            },
            Launch {
                kernel: warp_sum,
                slices: vec![
                    (I64, ys.iter().map(|y| *y as u64).collect(), false),
                    (I64, vec![0; 64], true),
                ],
                grid: 1,
                block: 64,
                concurrent: true,
            },
        ],
        "-O1",
    );
    for b in 0..3 {
        let want: u64 = xs[b * 64..(b + 1) * 64].iter().sum();
        assert_eq!(r.values[&("reduce".to_string(), 1, b)], want, "block {b}");
        for c in 0..4 {
            assert_eq!(r.values[&("reduce".to_string(), 2, b * 4 + c)], 16);
        }
    }
    // A butterfly: every lane ends with its warp's sum.
    for i in 0..64 {
        let w = i / 32;
        let want = ys[w * 32..(w + 1) * 32]
            .iter()
            .fold(0i64, |a, y| a.wrapping_add(*y));
        assert_eq!(
            r.values[&("warp_sum".to_string(), 1, i)],
            want as u64,
            "lane {i}"
        );
    }
}
