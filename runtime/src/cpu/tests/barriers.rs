//! Shared arrays and `sync_threads()`: per-block memory, zeroed for each
//! block; block reductions; divergent barriers reported, never hung on;
//! and a ring handler that uses all of it.

use super::control::{loop_, while_};
use super::groups::configurations;
use super::*;
use crate::fault::expect_fault;
use crate::{Error, FaultKind};

fn run(e: Expr) -> Stmt {
    stmt(StmtKind::Expr(e))
}

fn tid() -> Expr {
    dim(Intrinsic::ThreadIdx, 0)
}

fn tid_usize() -> Expr {
    cast(tid(), Scalar::Usize)
}

/// `out[block] = Σ x[i]` over each block, by a tree reduction in a shared
/// array with a barrier after every step (the stride starts at the power of
/// two at or above half the block, so every thread runs every step).
fn block_sum() -> Arc<Kernel> {
    block_sum_in(|kb| PlaceRoot::Shared(kb.shared("tile", ty(Scalar::U32), 256)))
}

/// [`block_sum`] over a `u32` tile that `tile` declares.
pub(super) fn block_sum_in(tile: impl FnOnce(&mut KernelBuilder) -> PlaceRoot) -> Arc<Kernel> {
    let (u, us) = (ty(Scalar::U32), ty(Scalar::Usize));
    let mut kb = KernelBuilder::new("block_sum");
    let x = kb.slice("x", u.clone(), false);
    let out = kb.slice("out", u.clone(), true);
    let tile = tile(&mut kb);
    let i = kb.local("i", us.clone());
    let stride = kb.local_mut("stride", u.clone());
    let bar = kb.site("sync_threads()", 9);
    let s = kb.site("tile", 5);
    let iu = || local(i, us.clone());
    let su = || local(stride, u.clone());
    let tile_at = |idx: Expr| place_index(tile, idx, s, u.clone());
    kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(x)),
            vec![assign(tile_at(tid_usize()), elem(x, iu(), s, u.clone()))],
            vec![],
        ),
        sync_threads(bar),
        // stride = next_power_of_two(block_dim) / 2
        let_(
            stride,
            bin(
                BinOp::Shr,
                intr(
                    Intrinsic::Pow,
                    vec![
                        int(Scalar::U32, 2),
                        bin(
                            BinOp::Sub,
                            int(Scalar::U32, 32),
                            intr(
                                Intrinsic::LeadingZeros,
                                vec![bin(
                                    BinOp::Sub,
                                    dim(Intrinsic::BlockDim, 0),
                                    int(Scalar::U32, 1),
                                )],
                                u.clone(),
                            ),
                        ),
                    ],
                    u.clone(),
                ),
                int(Scalar::U32, 1),
            ),
        ),
        while_(
            0,
            bin(BinOp::Gt, su(), int(Scalar::U32, 0)),
            vec![
                if_(
                    bin(
                        BinOp::Lt,
                        bin(BinOp::Add, tid(), su()),
                        dim(Intrinsic::BlockDim, 0),
                    ),
                    vec![if_(
                        bin(BinOp::Lt, tid(), su()),
                        vec![compound(
                            tile_at(tid_usize()),
                            BinOp::Add,
                            load(tile_at(cast(bin(BinOp::Add, tid(), su()), Scalar::Usize))),
                        )],
                        vec![],
                    )],
                    vec![],
                ),
                sync_threads(bar),
                assign(
                    place_local(stride, u.clone()),
                    bin(BinOp::Shr, su(), int(Scalar::U32, 1)),
                ),
            ],
        ),
        if_(
            bin(BinOp::Eq, tid(), int(Scalar::U32, 0)),
            vec![store_elem(
                out,
                cast(dim(Intrinsic::BlockIdx, 0), Scalar::Usize),
                s,
                u.clone(),
                load(tile_at(usize_(0))),
            )],
            vec![],
        ),
    ])
}

#[test]
fn a_shared_array_reduction_sums_each_block() {
    let k = block_sum();
    let sizes = [
        (1000usize, 100u32),
        (999, 48),
        (4096, 256),
        (77, 1),
        (300, 33),
    ];
    for ((n, block), dev) in sizes.into_iter().zip(configurations()) {
        let xs: Vec<u32> = (0..n as u32).map(|v| v * 3 + 1).collect();
        let blocks = n.div_ceil(block as usize);
        let xm = mem(&xs);
        let mut om = mem(&vec![0u32; blocks]);
        dev.launch(
            &k,
            &Launch::new(blocks as u32, block),
            &mut [arg_in::<u32>(&xm, n), arg_out::<u32>(&mut om, blocks)],
        )
        .unwrap();
        // Threads past `n` left their tile element as it started: zero.
        let want: Vec<u32> = xs.chunks(block as usize).map(|c| c.iter().sum()).collect();
        assert_eq!(read::<u32>(&om), want, "n {n}, blocks of {block}");
    }
}

/// Every thread reads its tile element before writing it (zero, in every
/// block of every group), then writes its block number; after a barrier
/// it reads a neighbour's: its own block's number.
#[test]
fn shared_arrays_are_per_block_and_start_zeroed() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("per_block");
    let before = kb.slice("before", u.clone(), true);
    let after = kb.slice("after", u.clone(), true);
    let filler = kb.shared("filler", ty(Scalar::U8), 3);
    let tile = kb.shared("tile", u.clone(), 40);
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("tile", 1);
    let bar = kb.site("sync_threads()", 2);
    let iu = || local(i, ty(Scalar::Usize));
    let tile_at = |idx: Expr| shared_elem(tile, idx, s, u.clone());
    let next = bin(
        BinOp::Rem,
        bin(BinOp::Add, tid(), int(Scalar::U32, 1)),
        dim(Intrinsic::BlockDim, 0),
    );
    let k = kb.build(vec![
        let_(i, global_index()),
        store_elem(before, iu(), s, u.clone(), load(tile_at(tid_usize()))),
        assign(tile_at(tid_usize()), dim(Intrinsic::BlockIdx, 0)),
        assign(
            shared_elem(filler, usize_(2), s, ty(Scalar::U8)),
            int(Scalar::U8, 255),
        ),
        sync_threads(bar),
        store_elem(
            after,
            iu(),
            s,
            u.clone(),
            load(tile_at(cast(next, Scalar::Usize))),
        ),
    ]);
    let (blocks, bt) = (90u32, 40u32);
    let n = (blocks * bt) as usize;
    for dev in configurations() {
        let (mut bm, mut am) = (mem(&vec![7u32; n]), mem(&vec![7u32; n]));
        dev.launch(
            &k,
            &Launch::new(blocks, bt),
            &mut [arg_out::<u32>(&mut bm, n), arg_out::<u32>(&mut am, n)],
        )
        .unwrap();
        assert_eq!(read::<u32>(&bm), vec![0; n]);
        let want: Vec<u32> = (0..n as u32).map(|i| i / bt).collect();
        assert_eq!(read::<u32>(&am), want);
    }
}

/// Threads past 20 return before the barrier: they have finished, so the
/// barrier is not divergent, and the rest exchange values through it.
#[test]
fn a_barrier_after_some_threads_returned_is_not_divergent() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("early_return");
    let out = kb.slice("out", u.clone(), true);
    let tile = kb.shared("tile", u.clone(), 64);
    let s = kb.site("tile", 1);
    let bar = kb.site("sync_threads()", 2);
    let tile_at = |idx: Expr| shared_elem(tile, idx, s, u.clone());
    let k = kb.build(vec![
        if_(
            bin(BinOp::Ge, tid(), int(Scalar::U32, 20)),
            vec![stmt(StmtKind::Return(None))],
            vec![],
        ),
        assign(
            tile_at(tid_usize()),
            bin(BinOp::Mul, tid(), int(Scalar::U32, 10)),
        ),
        sync_threads(bar),
        store_elem(
            out,
            global_index(),
            s,
            u.clone(),
            load(tile_at(cast(
                bin(
                    BinOp::Rem,
                    bin(BinOp::Add, tid(), int(Scalar::U32, 1)),
                    int(Scalar::U32, 20),
                ),
                Scalar::Usize,
            ))),
        ),
    ]);
    let mut om = mem(&[0u32; 128]);
    launch(&k, Launch::new(2, 64), &mut [arg_out::<u32>(&mut om, 128)]).unwrap();
    let want: Vec<u32> = (0..128)
        .map(|i| {
            let t = i % 64;
            if t < 20 {
                (t + 1) % 20 * 10
            } else {
                0
            }
        })
        .collect();
    assert_eq!(read::<u32>(&om), want);
}

fn expect_divergent(
    err: Error,
    op: &str,
    scope: &str,
    block: [u32; 3],
    thread: [u32; 3],
    line: u32,
) {
    let text = err.to_string();
    let f = expect_fault(err);
    let kind = match scope {
        "block" => FaultKind::DivergentBarrier,
        _ => FaultKind::DivergentWarp,
    };
    assert_eq!((f.what.as_str(), f.kind), (op, kind));
    assert!(
        text.contains(&format!("only some threads of the {scope}")),
        "{text}"
    );
    assert_eq!(f.at(), (block, thread));
    assert_eq!(
        f.location.to_string(),
        format!("test.rs:{line} in `{}`", f.kernel)
    );
}

/// `if block_idx().x == 2 && thread_idx().x >= 10 { sync_threads() }`:
/// block 2 diverges (its lowest thread at the barrier is reported); the
/// other threads run to the end.
#[test]
fn a_barrier_inside_an_if_is_divergent() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("divergent");
    let out = kb.slice("out", u.clone(), true);
    let s = kb.site("out", 1);
    let bar = kb.site("sync_threads()", 7);
    let k = kb.build(vec![
        if_(
            bin(
                BinOp::And,
                bin(BinOp::Eq, dim(Intrinsic::BlockIdx, 0), int(Scalar::U32, 2)),
                bin(BinOp::Ge, tid(), int(Scalar::U32, 10)),
            ),
            vec![sync_threads(bar)],
            vec![],
        ),
        store_elem(out, global_index(), s, u.clone(), int(Scalar::U32, 1)),
    ]);
    for dev in configurations() {
        let mut om = mem(&[0u32; 4 * 50]);
        let l = Launch::new(4, 50);
        let err = dev
            .launch(&k, &l, &mut [arg_out::<u32>(&mut om, 200)])
            .unwrap_err();
        expect_divergent(err, "sync_threads()", "block", [2, 0, 0], [10, 0, 0], 7);
        let want: Vec<u32> = (0..200)
            .map(|i| u32::from(!(100..150).contains(&i) || i % 50 < 10))
            .collect();
        assert_eq!(read::<u32>(&om), want);
    }
    // Taken by every thread of some blocks and none of others: fine.
    let mut kb = KernelBuilder::new("uniform");
    let out = kb.slice("out", u.clone(), true);
    let s = kb.site("out", 1);
    let bar = kb.site("sync_threads()", 7);
    let k = kb.build(vec![
        if_(
            bin(BinOp::Eq, dim(Intrinsic::BlockIdx, 0), int(Scalar::U32, 2)),
            vec![sync_threads(bar)],
            vec![sync_threads(bar), sync_threads(bar)],
        ),
        store_elem(out, global_index(), s, u.clone(), int(Scalar::U32, 1)),
    ]);
    for dev in configurations() {
        let mut om = mem(&[0u32; 4 * 50]);
        let l = Launch::new(4, 50);
        dev.launch(&k, &l, &mut [arg_out::<u32>(&mut om, 200)])
            .unwrap();
        assert_eq!(read::<u32>(&om), vec![1; 200]);
    }
}

/// Lanes parked in a loop's exit mask (left at different iterations), in
/// its continue mask, or in a device function's return mask are
/// unfinished: a barrier without them is divergent.
#[test]
fn barriers_without_parked_threads_are_divergent() {
    let u = ty(Scalar::U32);
    let site_line = 11;
    // while i < thread_idx().x { sync_threads(); i += 1 }
    let mut kb = KernelBuilder::new("loop_exit");
    let i = kb.local_mut("i", u.clone());
    let bar = kb.site("sync_threads()", site_line);
    let k = kb.build(vec![
        let_(i, int(Scalar::U32, 0)),
        while_(
            0,
            bin(BinOp::Lt, local(i, u.clone()), tid()),
            vec![
                sync_threads(bar),
                compound(place_local(i, u.clone()), BinOp::Add, int(Scalar::U32, 1)),
            ],
        ),
    ]);
    let err = launch(&k, Launch::new(3, 8), &mut []).unwrap_err();
    expect_divergent(
        err,
        "sync_threads()",
        "block",
        [0, 0, 0],
        [1, 0, 0],
        site_line,
    );

    // loop { if thread_idx().x == 3 { continue-once } ; sync_threads(); break }
    let mut kb = KernelBuilder::new("loop_continue");
    let once = kb.local_mut("once", ty(Scalar::Bool));
    let bar = kb.site("sync_threads()", site_line);
    let k = kb.build(vec![
        let_(once, boolean(false)),
        loop_(
            0,
            vec![
                if_(
                    bin(
                        BinOp::And,
                        bin(BinOp::Eq, tid(), int(Scalar::U32, 3)),
                        un(UnOp::Not, local(once, ty(Scalar::Bool))),
                    ),
                    vec![
                        assign(place_local(once, ty(Scalar::Bool)), boolean(true)),
                        stmt(StmtKind::Continue(0)),
                    ],
                    vec![],
                ),
                sync_threads(bar),
                stmt(StmtKind::Break(0)),
            ],
        ),
    ]);
    let err = launch(&k, Launch::new(1, 8), &mut []).unwrap_err();
    expect_divergent(
        err,
        "sync_threads()",
        "block",
        [0, 0, 0],
        [0, 0, 0],
        site_line,
    );

    // #[device] fn helper(t: u32) { if t == 5 { return; } sync_threads(); }
    let mut kb = KernelBuilder::new("device_return");
    let bar = kb.site("sync_threads()", site_line);
    let helper = kb.device_fn(Function {
        name: "helper".into(),
        params: vec![Param {
            name: "t".into(),
            kind: ParamKind::Value(u.clone()),
            mutable: false,
        }],
        ret: Ty::Unit,
        locals: vec![],
        body: Block {
            stmts: vec![
                if_(
                    bin(BinOp::Eq, param(0, u.clone()), int(Scalar::U32, 5)),
                    vec![stmt(StmtKind::Return(None))],
                    vec![],
                ),
                sync_threads(bar),
            ],
        },
        span: SrcSpan::default(),
    });
    let k = kb.build(vec![run(expr(
        ExprKind::Call(helper, vec![tid()]),
        Ty::Unit,
    ))]);
    let err = launch(&k, Launch::new(2, 8), &mut []).unwrap_err();
    expect_divergent(
        err,
        "sync_threads()",
        "block",
        [0, 0, 0],
        [0, 0, 0],
        site_line,
    );
}

/// A ring handler on 40 threads: each thread adds the message to its
/// element of a shared array that lives as long as the actor, a barrier,
/// then thread 0 sums the array (the reply: 40 × the sum of all messages
/// so far); every thread adds the message to `state.sum` and its
/// `msg - t` to a signed max, atomically.
#[test]
fn a_ring_handler_uses_a_shared_array_a_barrier_and_atomics() {
    let (u, i32_) = (ty(Scalar::U32), ty(Scalar::I32));
    let mut kb = KernelBuilder::new("ring_sum");
    let st_id = kb.add_struct("S", &[("sum", u.clone()), ("max", i32_.clone())]);
    let stt = Ty::Struct(st_id);
    let mut kb = kb.ring(40, u.clone());
    let state = kb.state(stt.clone());
    let msg = kb.value("msg", u.clone());
    let tile = kb.shared("tile", u.clone(), 40);
    let total = kb.local_mut("total", u.clone());
    let j = kb.local_mut("j", ty(Scalar::Usize));
    let s = kb.site("tile", 1);
    let bar = kb.site("sync_threads()", 2);
    let field = |i: u32, ty: Ty| Place {
        root: PlaceRoot::Param(state),
        proj: vec![Proj::Field(i)],
        ty,
    };
    let tile_at = |idx: Expr| shared_elem(tile, idx, s, u.clone());
    let k = kb.build(vec![
        compound(tile_at(tid_usize()), BinOp::Add, param(msg, u.clone())),
        run(atomic(
            AtomicOp::Add,
            field(0, u.clone()),
            vec![param(msg, u.clone())],
        )),
        run(atomic(
            AtomicOp::Max,
            field(1, i32_.clone()),
            vec![bin(
                BinOp::Sub,
                cast(param(msg, u.clone()), Scalar::I32),
                cast(tid(), Scalar::I32),
            )],
        )),
        sync_threads(bar),
        let_(total, int(Scalar::U32, 0)),
        let_(j, usize_(0)),
        if_(
            bin(BinOp::Eq, tid(), int(Scalar::U32, 0)),
            vec![while_(
                0,
                bin(BinOp::Lt, local(j, ty(Scalar::Usize)), usize_(40)),
                vec![
                    compound(
                        place_local(total, u.clone()),
                        BinOp::Add,
                        load(tile_at(local(j, ty(Scalar::Usize)))),
                    ),
                    compound(place_local(j, ty(Scalar::Usize)), BinOp::Add, usize_(1)),
                ],
            )],
            vec![],
        ),
        sync_threads(bar),
        stmt(StmtKind::Return(Some(local(total, u.clone())))),
    ]);
    let mut h = CpuDevice::new().ring_handler(&k).unwrap();
    let mut state = [0u8; 8];
    state[4..].copy_from_slice(&(-100i32).to_ne_bytes());
    let mut reply = [0u8; 4];
    let (mut sum, mut max) = (0u32, -100i32);
    for m in [3u32, 10, 1, 7] {
        sum += m;
        max = max.max(m as i32);
        assert_eq!(
            h.run(&mut state, &m.to_ne_bytes(), &mut reply).unwrap(),
            None
        );
        assert_eq!(u32::from_ne_bytes(reply), 40 * sum, "after message {m}");
        assert_eq!(u32::from_ne_bytes(state[..4].try_into().unwrap()), 40 * sum);
        assert_eq!(i32::from_ne_bytes(state[4..].try_into().unwrap()), max);
    }
}

/// A divergent barrier in a ring handler fails the message with
/// a divergence fault through the handler's `RingHandler` interface.
#[test]
fn a_divergent_barrier_in_a_ring_handler_is_an_error() {
    use crate::ring::RingHandler;
    let u = ty(Scalar::U32);
    let kb = KernelBuilder::new("ring_divergent");
    let mut kb = kb.ring(16, u.clone());
    let _state = kb.state(u.clone());
    let msg = kb.value("msg", u.clone());
    let bar = kb.site("sync_threads()", 3);
    let k = kb.build(vec![
        if_(
            bin(BinOp::Lt, tid(), param(msg, u.clone())),
            vec![sync_threads(bar)],
            vec![],
        ),
        stmt(StmtKind::Return(Some(int(Scalar::U32, 1)))),
    ]);
    let mut h = CpuDevice::new().ring_handler(&k).unwrap();
    let (mut state, mut reply) = ([0u8; 4], [0u8; 4]);
    // Every thread, then none: fine.
    h.handle(&mut state, &16u32.to_ne_bytes(), &mut reply)
        .unwrap();
    h.handle(&mut state, &0u32.to_ne_bytes(), &mut reply)
        .unwrap();
    let err = h
        .handle(&mut state, &9u32.to_ne_bytes(), &mut reply)
        .unwrap_err();
    expect_divergent(err, "sync_threads()", "block", [0, 0, 0], [0, 0, 0], 3);
    // The handler keeps working afterwards.
    h.handle(&mut state, &16u32.to_ne_bytes(), &mut reply)
        .unwrap();
    assert_eq!(u32::from_ne_bytes(reply), 1);
}

/// Whole shared arrays as values: `*tile = [t; 4]` by thread 0 of each
/// block, a barrier, `let copy = *tile;` in every thread, and a struct
/// element's field written through its index.
#[test]
fn whole_shared_arrays_copy_in_and_out() {
    let u = ty(Scalar::U32);
    let arr = Ty::Array(Box::new(u.clone()), 4);
    let mut kb = KernelBuilder::new("whole");
    let pair = kb.add_struct("Pair", &[("a", u.clone()), ("b", u.clone())]);
    let out = kb.slice("out", u.clone(), true);
    let tile = kb.shared("tile", u.clone(), 4);
    let pairs = kb.shared("pairs", Ty::Struct(pair), 3);
    let copy = kb.local("copy", arr.clone());
    let s = kb.site("tile", 1);
    let bar = kb.site("sync_threads()", 2);
    let whole = Place {
        root: PlaceRoot::Shared(tile),
        proj: vec![],
        ty: arr.clone(),
    };
    let pair_b = |idx: Expr| Place {
        root: PlaceRoot::Shared(pairs),
        proj: vec![
            Proj::Index {
                index: Box::new(idx),
                site: s,
            },
            Proj::Field(1),
        ],
        ty: u.clone(),
    };
    let block = || dim(Intrinsic::BlockIdx, 0);
    let k = kb.build(vec![
        if_(
            bin(BinOp::Eq, tid(), int(Scalar::U32, 0)),
            vec![
                assign(
                    whole.clone(),
                    expr(ExprKind::ArrayRepeat(Box::new(block()), 4), arr.clone()),
                ),
                assign(
                    pair_b(usize_(2)),
                    bin(BinOp::Add, block(), int(Scalar::U32, 100)),
                ),
            ],
            vec![],
        ),
        sync_threads(bar),
        let_(copy, load(whole)),
        store_elem(
            out,
            global_index(),
            s,
            u.clone(),
            bin(
                BinOp::Add,
                load(Place {
                    root: PlaceRoot::Local(copy),
                    proj: vec![Proj::Index {
                        index: Box::new(usize_(3)),
                        site: s,
                    }],
                    ty: u.clone(),
                }),
                load(pair_b(usize_(2))),
            ),
        ),
    ]);
    for dev in configurations() {
        let mut om = mem(&[0u32; 5 * 8]);
        dev.launch(&k, &Launch::new(5, 8), &mut [arg_out::<u32>(&mut om, 40)])
            .unwrap();
        let want: Vec<u32> = (0..40).map(|i| 2 * (i / 8) + 100).collect();
        assert_eq!(read::<u32>(&om), want);
    }
}
