//! Views of the launch's dynamic shared memory, with the area's size
//! chosen at launch: a block reduction sized by `block_dim()`, aliasing
//! views reused for atomic counters, and an index past a view's length
//! faulting with the view's length.

use super::harness::*;
use spindle_codegen::ir::*;
use Scalar::*;

fn view(kernel: &mut Kernel, name: &str, elem: Ty) {
    kernel.dynamic_shared.push(DynamicShared {
        name: name.into(),
        elem,
        span: SrcSpan::default(),
    });
}

/// ```ignore
/// fn dyn_reduce(x: &[u32], sums: &mut [u32], out: &mut [u64]) {
///     let buf = dynamic_shared::<u32>();
///     let wide = dynamic_shared::<u64>(); // the same bytes
///     let t = thread_idx().x as usize;
///     let b = block_idx().x as usize;
///     buf[t] = x[global_index()];
///     sync_threads();
///     let mut step = block_dim().x as usize / 2;
///     while step > 0 {
///         if t < step { buf[t] += buf[t + step]; }
///         sync_threads();
///         step /= 2;
///     }
///     if t == 0 { sums[b] = buf[0]; }
///     sync_threads();
///     if t < 2 { wide[t] = 0; }
///     sync_threads();
///     atomic_add(&mut wide[t % 2], 1);
///     sync_threads();
///     if t < 2 { out[b * 4 + t] = wide[t]; }
///     if t == 0 { out[b * 4 + 2] = buf.len() as u64; out[b * 4 + 3] = wide.len() as u64; }
/// }
/// ```
fn dyn_reduce_kernel(name: &str) -> Kernel {
    let (tid, bid, step) = (0, 1, 2);
    let tt = || get(tid, Usize);
    let buf = |e: Expr| index(dynamic_shared(0, ty(U32)), e, 1, ty(U32));
    let wide = |e: Expr| index(dynamic_shared(1, ty(U64)), e, 1, ty(U64));
    let out = |k: Expr| {
        let idx = bin(
            BinOp::Add,
            bin(BinOp::Mul, get(bid, Usize), int(Usize, 4)),
            k,
        );
        index(place_param(2, ty(U64)), idx, 0, ty(U64))
    };
    let block_dim_x = geom(Intrinsic::BlockDim);
    let body = vec![
        let_(tid, geom(Intrinsic::ThreadIdx)),
        let_(bid, geom(Intrinsic::BlockIdx)),
        StmtKind::Assign {
            place: buf(tt()),
            value: load(index(
                place_param(0, ty(U32)),
                intr(Intrinsic::GlobalIndex, vec![], ty(Usize)),
                0,
                ty(U32),
            )),
        },
        sync_threads(),
        let_(step, bin(BinOp::Div, block_dim_x, int(Usize, 2))),
        StmtKind::While {
            id: 0,
            cond: bin(BinOp::Gt, get(step, Usize), int(Usize, 0)),
            body: block(vec![
                if_then(
                    bin(BinOp::Lt, tt(), get(step, Usize)),
                    vec![StmtKind::CompoundAssign {
                        place: buf(tt()),
                        op: BinOp::Add,
                        value: load(buf(bin(BinOp::Add, tt(), get(step, Usize)))),
                    }],
                ),
                sync_threads(),
                StmtKind::Assign {
                    place: place_local(step, ty(Usize)),
                    value: bin(BinOp::Div, get(step, Usize), int(Usize, 2)),
                },
            ]),
        },
        if_then(
            bin(BinOp::Eq, tt(), int(Usize, 0)),
            vec![StmtKind::Assign {
                place: index(place_param(1, ty(U32)), get(bid, Usize), 0, ty(U32)),
                value: load(buf(int(Usize, 0))),
            }],
        ),
        sync_threads(),
        if_then(
            bin(BinOp::Lt, tt(), int(Usize, 2)),
            vec![StmtKind::Assign {
                place: wide(tt()),
                value: int(U64, 0),
            }],
        ),
        sync_threads(),
        StmtKind::Expr(atomic(
            AtomicOp::Add,
            wide(bin(BinOp::Rem, tt(), int(Usize, 2))),
            vec![int(U64, 1)],
        )),
        sync_threads(),
        if_then(
            bin(BinOp::Lt, tt(), int(Usize, 2)),
            vec![StmtKind::Assign {
                place: out(tt()),
                value: load(wide(tt())),
            }],
        ),
        if_then(
            bin(BinOp::Eq, tt(), int(Usize, 0)),
            vec![
                StmtKind::Assign {
                    place: out(int(Usize, 2)),
                    value: cast(dynamic_shared_len(0), U64),
                },
                StmtKind::Assign {
                    place: out(int(Usize, 3)),
                    value: cast(dynamic_shared_len(1), U64),
                },
            ],
        ),
    ];
    let f = function(
        name,
        vec![("x", ro(U32)), ("sums", rw(U32)), ("out", rw(U64))],
        vec![
            ("t", ty(Usize), false),
            ("b", ty(Usize), false),
            ("step", ty(Usize), true),
        ],
        body,
    );
    let mut k = kernel(name, f, 2, vec![dim3_def()]);
    view(&mut k, "buf", ty(U32));
    view(&mut k, "wide", ty(U64));
    k
}

#[test]
fn cuda_host_dynamic_shared_block_reduction_sized_at_launch() {
    require_gxx!();
    let grid = 3usize;
    let mut launches = Vec::new();
    let mut cases = Vec::new();
    // Block sizes chosen at launch; the area one u32 larger than needed,
    // so `wide.len()` rounds down.
    for block in [32u32, 64, 256] {
        let name = format!("dyn_reduce_{block}");
        let n = grid * block as usize;
        let xs: Vec<u64> = (0..n as u64)
            .map(|i| (i * 37 + block as u64) % 101)
            .collect();
        let shared_bytes = block * 4 + 4;
        launches.push(Launch {
            kernel: dyn_reduce_kernel(&name),
            slices: vec![
                (U32, xs.clone(), false),
                (U32, vec![0; grid], true),
                (U64, vec![0; grid * 4], true),
            ],
            grid: grid as u32,
            block,
            concurrent: true,
            shared_bytes,
        });
        cases.push((name, block as usize, xs, shared_bytes as u64));
    }
    let r = run("dyn_reduce", &launches, "-O1");
    for (name, block, xs, bytes) in cases {
        assert_eq!(r.faults[&name][0], 0, "{name}: {:?}", r.faults[&name]);
        for b in 0..grid {
            let want: u64 = xs[b * block..(b + 1) * block].iter().sum();
            let got = |slice, i| r.values[&(name.clone(), slice, i)];
            assert_eq!(got(1, b), want, "{name} block {b}");
            let half = block as u64 / 2;
            assert_eq!([got(2, b * 4), got(2, b * 4 + 1)], [half, half], "{name}");
            assert_eq!(
                [got(2, b * 4 + 2), got(2, b * 4 + 3)],
                [bytes / 4, bytes / 8]
            );
        }
    }
}

/// `fn dyn_oob(o: &mut [u32]) { let buf = dynamic_shared::<u32>(); let
/// cells = dynamic_shared::<Cell>(); let t = …; buf[t] = t as u32;
/// o[t] = buf[t]; cells[t / 2].hits = 1; }` (`Cell { hits: u32, w: f64 }`):
/// `buf` holds 10 elements and `cells` 2, so thread 4 faults at `cells`
/// first, and without `cells`, thread 10 at `buf`.
fn dyn_oob_kernel(name: &str, cells_too: bool) -> Kernel {
    let cell = StructDef {
        name: "Cell".into(),
        size: 16,
        align: 8,
        fields: vec![
            FieldDef {
                name: "hits".into(),
                offset: 0,
                ty: ty(U32),
            },
            FieldDef {
                name: "w".into(),
                offset: 8,
                ty: ty(F64),
            },
        ],
    };
    let tid = 0;
    let tt = || get(tid, Usize);
    let mut body = vec![
        let_(tid, geom(Intrinsic::ThreadIdx)),
        StmtKind::Assign {
            place: index(dynamic_shared(0, ty(U32)), tt(), 1, ty(U32)),
            value: cast(tt(), U32),
        },
        StmtKind::Assign {
            place: index(place_param(0, ty(U32)), tt(), 0, ty(U32)),
            value: load(index(dynamic_shared(0, ty(U32)), tt(), 1, ty(U32))),
        },
    ];
    if cells_too {
        let mut hits = index(
            dynamic_shared(1, Ty::Struct(1)),
            bin(BinOp::Div, tt(), int(Usize, 2)),
            2,
            Ty::Struct(1),
        );
        hits.proj.push(Proj::Field(0));
        hits.ty = ty(U32);
        body.push(StmtKind::Assign {
            place: hits,
            value: int(U32, 1),
        });
    }
    let f = function(
        name,
        vec![("o", rw(U32))],
        vec![("t", ty(Usize), false)],
        body,
    );
    let mut k = kernel(name, f, 3, vec![dim3_def(), cell]);
    view(&mut k, "buf", ty(U32));
    view(&mut k, "cells", Ty::Struct(1));
    k
}

#[test]
fn cuda_host_dynamic_shared_index_past_the_view_faults_with_its_length() {
    require_gxx!();
    let launch = |name: &str, cells_too| Launch {
        kernel: dyn_oob_kernel(name, cells_too),
        slices: vec![(U32, vec![0; 16], true)],
        grid: 1,
        block: 16,
        // Threads one after another: the first fault is the first thread's.
        concurrent: false,
        shared_bytes: 40,
    };
    let r = run(
        "dyn_oob",
        &[launch("dyn_oob_buf", false), launch("dyn_oob_cells", true)],
        "-O1",
    );
    // [flag, kind, site, index, len, block.x, thread.x]
    let oob = FaultKind::OutOfBounds as u64;
    assert_eq!(r.faults["dyn_oob_buf"], [1, oob, 1, 10, 10, 0, 10]);
    assert_eq!(r.faults["dyn_oob_cells"], [1, oob, 2, 2, 2, 0, 4]);
    for i in 0..16 {
        let got = r.values[&("dyn_oob_buf".to_string(), 0, i)];
        assert_eq!(got, if i < 10 { i as u64 } else { 0 }, "thread {i}");
        let got = r.values[&("dyn_oob_cells".to_string(), 0, i)];
        // A fault ends only its thread: threads 5..10 also store `o[t]`.
        assert_eq!(got, if i < 10 { i as u64 } else { 0 }, "thread {i}");
    }
}
