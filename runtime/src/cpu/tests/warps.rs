//! Warps: `lane_id()` and warp membership in linear thread order (2-D and
//! 3-D blocks too), shuffles of every kind and width, votes, partial last
//! warps, finished lanes, divergent warp operations; fences.

use std::fmt::Debug;

use super::groups::configurations;
use super::*;
use crate::fault::expect_fault;
use crate::FaultKind;
use CollectiveOp::*;

/// Threads per block in these tests: a full warp and a partial one of 16.
pub(super) const BT: usize = 48;

pub(super) fn tid() -> Expr {
    dim(Intrinsic::ThreadIdx, 0)
}

/// `out[i] = op(a[i], b[i], …)` for the input slices `inputs` (name and
/// element type; the result has the first one's type), with the warp
/// operation's site named `op_site`.
pub(super) fn collective_kernel(
    name: &str,
    op: CollectiveOp,
    op_site: &str,
    inputs: &[(&str, Ty)],
) -> Arc<Kernel> {
    let t = inputs[0].1.clone();
    let mut kb = KernelBuilder::new(name);
    let params: Vec<(ParamId, Ty)> = inputs
        .iter()
        .map(|(n, ty)| (kb.slice(n, ty.clone(), false), ty.clone()))
        .collect();
    let out = kb.slice("out", t.clone(), true);
    let site = kb.site("out", 1);
    let ws = kb.site(op_site, 2);
    let i = kb.local("i", ty(Scalar::Usize));
    let iu = || local(i, ty(Scalar::Usize));
    let args = params
        .iter()
        .map(|(p, ty)| elem(*p, iu(), site, ty.clone()))
        .collect();
    kb.build(vec![
        let_(i, global_index()),
        store_elem(out, iu(), site, t.clone(), collective(op, args, ws, t)),
    ])
}

/// `out[i] = op(v[i], idx[i])` over blocks of 48 threads.
fn shuffle_kernel(s: Scalar, op: CollectiveOp) -> Arc<Kernel> {
    let inputs = [("v", ty(s)), ("idx", ty(Scalar::U32))];
    collective_kernel("shuffle", op, &format!("{}()", op.rust_name()), &inputs)
}

/// What a shuffle gives lane `i` of a grid of `bt`-thread blocks.
fn shuffle_model<T: Copy>(op: CollectiveOp, v: &[T], idx: &[u32], bt: usize) -> Vec<T> {
    (0..v.len())
        .map(|i| {
            let (b, t) = (i / bt, i % bt);
            let w0 = t / 32 * 32;
            let (len, lane, x) = ((bt - w0).min(32) as u64, (t - w0) as u64, idx[i] as u64);
            let src = match op {
                Shuffle => Some(x % 32),
                ShuffleDown => Some(lane + x),
                ShuffleUp => lane.checked_sub(x),
                _ => Some(lane ^ x),
            };
            match src {
                Some(s) if s < len => v[b * bt + w0 + s as usize],
                _ => v[i],
            }
        })
        .collect()
}

fn check_shuffle<T: DeviceType + Default + PartialEq + Debug>(s: Scalar, v: &[T]) {
    let n = v.len();
    assert_eq!(n % BT, 0);
    let pats = [0u32, 1, 2, 5, 15, 16, 17, 31, 32, 33, 40, 47, u32::MAX];
    for op in [Shuffle, ShuffleDown, ShuffleUp, ShuffleXor] {
        let k = shuffle_kernel(s, op);
        let idx: Vec<u32> = (0..n).map(|i| pats[(i * 7 + i / 5) % pats.len()]).collect();
        let (vm, im) = (mem(v), mem(&idx));
        for dev in configurations() {
            let mut om = mem(&vec![T::default(); n]);
            dev.launch(
                &k,
                &Launch::new((n / BT) as u32, BT as u32),
                &mut [
                    arg_in::<T>(&vm, n),
                    arg_in::<u32>(&im, n),
                    arg_out::<T>(&mut om, n),
                ],
            )
            .unwrap();
            assert_eq!(
                read::<T>(&om),
                shuffle_model(op, v, &idx, BT),
                "{op:?} of {s:?}"
            );
        }
    }
}

#[test]
fn shuffles_of_every_kind_and_width_read_the_right_lane() {
    let n = BT * 5;
    check_shuffle::<u32>(
        Scalar::U32,
        &(0..n as u32).map(|i| i * 10).collect::<Vec<_>>(),
    );
    check_shuffle::<i8>(Scalar::I8, &(0..n).map(|i| i as i8).collect::<Vec<_>>());
    check_shuffle::<u16>(
        Scalar::U16,
        &(0..n as u16).map(|i| i * 3).collect::<Vec<_>>(),
    );
    check_shuffle::<f64>(
        Scalar::F64,
        &(0..n).map(|i| i as f64 * 0.5).collect::<Vec<_>>(),
    );
    check_shuffle::<bool>(
        Scalar::Bool,
        &(0..n).map(|i| i % 3 == 0).collect::<Vec<_>>(),
    );
    check_shuffle::<i64>(
        Scalar::I64,
        &(0..n as i64).map(|i| -i << 33).collect::<Vec<_>>(),
    );
}

#[test]
fn shuffle_sources_spelled_out() {
    // One block of 48: v = thread index.
    let v: Vec<u32> = (0..48).collect();
    let run = |op, x: u32| {
        let k = shuffle_kernel(Scalar::U32, op);
        let (vm, im) = (mem(&v), mem(&[x; 48]));
        let mut om = mem(&[0u32; 48]);
        launch(
            &k,
            Launch::new(1, 48),
            &mut [
                arg_in::<u32>(&vm, 48),
                arg_in::<u32>(&im, 48),
                arg_out::<u32>(&mut om, 48),
            ],
        )
        .unwrap();
        read::<u32>(&om)
    };
    let got = run(ShuffleDown, 1);
    assert_eq!(
        (got[0], got[30], got[31], got[32], got[46], got[47]),
        (1, 31, 31, 33, 47, 47)
    );
    let got = run(ShuffleUp, 3);
    assert_eq!(
        (got[2], got[3], got[34], got[35], got[47]),
        (2, 0, 34, 32, 44)
    );
    let got = run(ShuffleXor, 16);
    assert_eq!((got[0], got[20], got[32], got[47]), (16, 4, 32, 47));
    // Source lane 35 % 32 = 3: lane 3 of each warp.
    let got = run(Shuffle, 35);
    assert_eq!((got[0], got[31], got[32], got[47]), (3, 3, 35, 35));
    // Source 20: the second warp has only 16 lanes.
    let got = run(Shuffle, 20);
    assert_eq!((got[0], got[32], got[40]), (20, 32, 40));
}

/// Threads with `t % 5 == 4` return first: they have finished, so the
/// warp operations are not divergent, and a shuffle from one gives the
/// caller its own value; votes leave them out.
#[test]
fn finished_lanes_neither_diverge_nor_take_part() {
    let (u, b) = (ty(Scalar::U32), ty(Scalar::Bool));
    let mut kb = KernelBuilder::new("finished");
    let out = kb.slice("out", u.clone(), true);
    let all = kb.slice("all", b.clone(), true);
    let site = kb.site("out", 1);
    let ws = kb.site("warp_shuffle_xor()", 2);
    let i = kb.local("i", ty(Scalar::Usize));
    let iu = || local(i, ty(Scalar::Usize));
    let k = kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(
                BinOp::Eq,
                bin(BinOp::Rem, tid(), int(Scalar::U32, 5)),
                int(Scalar::U32, 4),
            ),
            vec![stmt(StmtKind::Return(None))],
            vec![],
        ),
        store_elem(
            out,
            iu(),
            site,
            u.clone(),
            collective(ShuffleXor, vec![tid(), int(Scalar::U32, 1)], ws, u.clone()),
        ),
        store_elem(
            all,
            iu(),
            site,
            b.clone(),
            collective(
                All,
                vec![bin(
                    BinOp::Ne,
                    bin(BinOp::Rem, tid(), int(Scalar::U32, 5)),
                    int(Scalar::U32, 4),
                )],
                ws,
                b.clone(),
            ),
        ),
    ]);
    let mut om = mem(&[99u32; 96]);
    let mut am = mem(&[false; 96]);
    launch(
        &k,
        Launch::new(2, 48),
        &mut [arg_out::<u32>(&mut om, 96), arg_out::<bool>(&mut am, 96)],
    )
    .unwrap();
    let want: Vec<u32> = (0..96u32)
        .map(|i| {
            let t = i % 48;
            let src = ((t % 32) ^ 1) + t / 32 * 32;
            match (t % 5, src % 5) {
                (4, _) => 99,
                (_, 4) => t,
                _ if src >= 48 => t,
                _ => src,
            }
        })
        .collect();
    assert_eq!(read::<u32>(&om), want);
    let want: Vec<bool> = (0..96).map(|i| i % 48 % 5 != 4).collect();
    assert_eq!(read::<bool>(&am), want);
}

#[test]
fn votes_cover_the_active_lanes_of_each_warp() {
    let (u, b) = (ty(Scalar::U32), ty(Scalar::Bool));
    let mut kb = KernelBuilder::new("votes");
    let p = kb.slice("p", b.clone(), false);
    let all = kb.slice("all", b.clone(), true);
    let any = kb.slice("any", b.clone(), true);
    let ballot = kb.slice("ballot", u.clone(), true);
    let site = kb.site("p", 1);
    let ws = kb.site("warp_all()", 2);
    let i = kb.local("i", ty(Scalar::Usize));
    let pv = kb.local("pv", b.clone());
    let iu = || local(i, ty(Scalar::Usize));
    let pe = || local(pv, b.clone());
    let k = kb.build(vec![
        let_(i, global_index()),
        let_(pv, elem(p, iu(), site, b.clone())),
        store_elem(
            all,
            iu(),
            site,
            b.clone(),
            collective(All, vec![pe()], ws, b.clone()),
        ),
        store_elem(
            any,
            iu(),
            site,
            b.clone(),
            collective(Any, vec![pe()], ws, b.clone()),
        ),
        store_elem(
            ballot,
            iu(),
            site,
            u.clone(),
            collective(Ballot, vec![pe()], ws, u.clone()),
        ),
    ]);
    let blocks = 6;
    let n = blocks * BT;
    let ps: Vec<bool> = (0..n)
        .map(|i| {
            let t = i % BT;
            match i / BT {
                0 => true,
                1 => false,
                2 => t.is_multiple_of(3),
                3 => t != 40,
                4 => t == 47 || t == 31,
                _ => t >= 32,
            }
        })
        .collect();
    let pm = mem(&ps);
    for dev in configurations() {
        let (mut am, mut ym, mut bm) = (
            mem(&vec![false; n]),
            mem(&vec![false; n]),
            mem(&vec![0u32; n]),
        );
        dev.launch(
            &k,
            &Launch::new(blocks as u32, BT as u32),
            &mut [
                arg_in::<bool>(&pm, n),
                arg_out::<bool>(&mut am, n),
                arg_out::<bool>(&mut ym, n),
                arg_out::<u32>(&mut bm, n),
            ],
        )
        .unwrap();
        let warp = |i: usize| {
            let w0 = i / BT * BT + i % BT / 32 * 32;
            w0..(w0 + 32).min(i / BT * BT + BT)
        };
        let want_ballot: Vec<u32> = (0..n)
            .map(|i| {
                let r = warp(i);
                r.clone()
                    .filter(|&j| ps[j])
                    .fold(0, |acc, j| acc | 1 << (j - r.start))
            })
            .collect();
        let want_all: Vec<bool> = (0..n).map(|i| warp(i).all(|j| ps[j])).collect();
        let want_any: Vec<bool> = (0..n).map(|i| warp(i).any(|j| ps[j])).collect();
        assert_eq!(read::<u32>(&bm), want_ballot);
        assert_eq!(read::<bool>(&am), want_all);
        assert_eq!(read::<bool>(&ym), want_any);
        // Spelled out: block 3's second warp lacks lane 8 (thread 40).
        assert_eq!(read::<u32>(&bm)[3 * BT + 33], 0xFFFF & !(1 << 8));
    }
}

/// 2-D and 3-D blocks: lanes and warps follow the linear thread index
/// (`x` fastest): `lane[l] = lane_id()`, `first[l]` = the linear index of
/// lane 0 of its warp (by a shuffle), `ballot[l] = warp_ballot(true)`.
#[test]
fn lanes_and_warps_follow_the_linear_thread_index() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("linear");
    let lane = kb.slice("lane", u.clone(), true);
    let first = kb.slice("first", u.clone(), true);
    let ballot = kb.slice("ballot", u.clone(), true);
    let site = kb.site("lane", 1);
    let ws = kb.site("warp_shuffle()", 2);
    let lin = kb.local("lin", u.clone());
    let at = kb.local("at", ty(Scalar::Usize));
    let au = || local(at, ty(Scalar::Usize));
    let bt = bin(
        BinOp::Mul,
        bin(
            BinOp::Mul,
            dim(Intrinsic::BlockDim, 0),
            dim(Intrinsic::BlockDim, 1),
        ),
        dim(Intrinsic::BlockDim, 2),
    );
    let k = kb.build(vec![
        let_(lin, linear_tid()),
        let_(
            at,
            cast(
                bin(
                    BinOp::Add,
                    bin(BinOp::Mul, dim(Intrinsic::BlockIdx, 0), bt),
                    local(lin, u.clone()),
                ),
                Scalar::Usize,
            ),
        ),
        store_elem(lane, au(), site, u.clone(), lane_id()),
        store_elem(
            first,
            au(),
            site,
            u.clone(),
            collective(
                Shuffle,
                vec![local(lin, u.clone()), int(Scalar::U32, 0)],
                ws,
                u.clone(),
            ),
        ),
        store_elem(
            ballot,
            au(),
            site,
            u.clone(),
            collective(Ballot, vec![boolean(true)], ws, ty(Scalar::U32)),
        ),
    ]);
    for (block, threads) in [
        ((8u32, 6u32, 1u32), 48usize),
        ((4, 3, 5), 60),
        ((1, 40, 1), 40),
    ] {
        for dev in configurations() {
            let n = 3 * threads;
            let (mut lm, mut fm, mut bm) = (
                mem(&vec![0u32; n]),
                mem(&vec![0u32; n]),
                mem(&vec![0u32; n]),
            );
            dev.launch(
                &k,
                &Launch::new(3, block),
                &mut [
                    arg_out::<u32>(&mut lm, n),
                    arg_out::<u32>(&mut fm, n),
                    arg_out::<u32>(&mut bm, n),
                ],
            )
            .unwrap();
            let t = |i: usize| i % threads;
            let want_lane: Vec<u32> = (0..n).map(|i| (t(i) % 32) as u32).collect();
            let want_first: Vec<u32> = (0..n).map(|i| (t(i) / 32 * 32) as u32).collect();
            let want_ballot: Vec<u32> = (0..n)
                .map(|i| {
                    let len = (threads - t(i) / 32 * 32).min(32);
                    if len == 32 {
                        u32::MAX
                    } else {
                        (1 << len) - 1
                    }
                })
                .collect();
            assert_eq!(read::<u32>(&lm), want_lane, "block {block:?}");
            assert_eq!(read::<u32>(&fm), want_first, "block {block:?}");
            assert_eq!(read::<u32>(&bm), want_ballot, "block {block:?}");
        }
    }
}

/// `if thread_idx().x != 35 { out[i] = warp_ballot(true) }` in blocks of
/// 64: the second warp diverges (its lowest active thread, 32, is
/// reported), the first gets its ballot.
#[test]
fn a_warp_operation_without_all_its_threads_is_divergent() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("warp_divergent");
    let out = kb.slice("out", u.clone(), true);
    let site = kb.site("out", 1);
    let ws = kb.site("warp_ballot()", 6);
    let k = kb.build(vec![if_(
        bin(BinOp::Ne, tid(), int(Scalar::U32, 35)),
        vec![store_elem(
            out,
            global_index(),
            site,
            u.clone(),
            collective(Ballot, vec![boolean(true)], ws, u.clone()),
        )],
        vec![],
    )]);
    for dev in configurations() {
        let mut om = mem(&[0u32; 128]);
        let err = dev
            .launch(&k, &Launch::new(2, 64), &mut [arg_out::<u32>(&mut om, 128)])
            .unwrap_err();
        let f = expect_fault(err);
        assert_eq!(
            (f.what.as_str(), f.kind),
            ("warp_ballot()", FaultKind::DivergentWarp)
        );
        assert_eq!(f.at(), ([0, 0, 0], [32, 0, 0]));
        assert_eq!(f.location.to_string(), "test.rs:6 in `warp_divergent`");
        let want: Vec<u32> = (0..128)
            .map(|i| if i % 64 < 32 { u32::MAX } else { 0 })
            .collect();
        assert_eq!(read::<u32>(&om), want);
    }
}

/// `if thread_idx().x < 40 { sync_warp() }` in blocks of 64 (2-D, 16 × 4):
/// the first warp is whole, the second is not.
#[test]
fn sync_warp_checks_each_warp() {
    let mut kb = KernelBuilder::new("sync_warp");
    let ws = kb.site("sync_warp()", 4);
    let cond = |limit: u32| bin(BinOp::Lt, linear_tid(), int(Scalar::U32, limit as i128));
    let sync_warp = stmt(StmtKind::Expr(collective(SyncWarp, vec![], ws, Ty::Unit)));
    let k = kb.build(vec![if_(cond(40), vec![sync_warp], vec![])]);
    let err = launch(&k, Launch::new(1, (16, 4, 1)), &mut []).unwrap_err();
    let f = expect_fault(err);
    assert_eq!(
        (f.kind, f.at()),
        (FaultKind::DivergentWarp, ([0, 0, 0], [0, 2, 0]))
    );
    let mut kb = KernelBuilder::new("sync_warp");
    let ws = kb.site("sync_warp()", 4);
    let sync_warp = stmt(StmtKind::Expr(collective(SyncWarp, vec![], ws, Ty::Unit)));
    let k = kb.build(vec![if_(cond(32), vec![sync_warp], vec![])]);
    launch(&k, Launch::new(2, (16, 4, 1)), &mut []).unwrap();
}

#[test]
fn fences_run() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("fences");
    let out = kb.slice("out", u.clone(), true);
    let site = kb.site("out", 1);
    let fence = |i| stmt(StmtKind::Expr(intr(i, vec![], Ty::Unit)));
    let k = kb.build(vec![
        store_elem(out, global_index(), site, u.clone(), lane_id()),
        fence(Intrinsic::ThreadFence),
        fence(Intrinsic::ThreadFenceBlock),
        fence(Intrinsic::ThreadFenceSystem),
    ]);
    let mut om = mem(&[0u32; 64]);
    launch(&k, Launch::new(2, 32), &mut [arg_out::<u32>(&mut om, 64)]).unwrap();
    assert_eq!(
        read::<u32>(&om),
        (0..64).map(|i| i % 32).collect::<Vec<u32>>()
    );
}
