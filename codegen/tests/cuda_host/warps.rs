//! Warp operations, with the threads of each block as concurrent OS
//! threads: shuffles, votes and `lane_id` follow the IR's rules on a
//! partial warp; a thread that faulted leaves barriers and warps; and the
//! concurrent kernels are race-free under ThreadSanitizer.

use super::atomics::int_atomics_kernel;
use super::harness::*;
use super::shared::{block_sum_kernel, REDUCE_BLOCK};
use spindle_codegen::ir::*;
use Scalar::*;

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
        let_(i, intr(Intrinsic::GlobalIndex, vec![], ty(Usize))),
        let_(
            v,
            load(index(place_param(0, ty(s)), get(i, Usize), 0, ty(s))),
        ),
        let_(lane, intr(Intrinsic::LaneId, vec![], ty(U32))),
        StmtKind::Expr(coll(C::SyncWarp, vec![], Ty::Unit)),
    ];
    let shuffles = [
        (
            C::Shuffle,
            bin(BinOp::Add, bin(BinOp::Mul, ln(), int(U32, 7)), int(U32, 3)),
        ),
        (C::ShuffleDown, int(U32, 5)),
        (C::ShuffleUp, int(U32, 2)),
        (C::ShuffleXor, int(U32, 9)),
    ];
    for (k, (op, arg)) in shuffles.into_iter().enumerate() {
        body.push(StmtKind::Assign {
            place: strided(1, s, get(i, Usize), 4, k as i128),
            value: coll(op, vec![get(v, s), arg], ty(s)),
        });
    }
    let b = |k| strided(2, U32, get(i, Usize), 5, k);
    let votes = [
        (
            C::Ballot,
            bin(
                BinOp::Eq,
                bin(BinOp::Rem, get(i, Usize), int(Usize, 3)),
                int(Usize, 0),
            ),
        ),
        (C::All, bin(BinOp::Lt, ln(), int(U32, 40))),
        (C::All, bin(BinOp::Ne, ln(), int(U32, 5))),
        (C::Any, bin(BinOp::Eq, ln(), int(U32, 20))),
    ];
    for (k, (op, p)) in votes.into_iter().enumerate() {
        let e = if op == C::Ballot {
            coll(op, vec![p], ty(U32))
        } else {
            cast(coll(op, vec![p], ty(Bool)), U32)
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
            ("i", ty(Usize), false),
            ("v", ty(s), false),
            ("lane", ty(U32), false),
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
            shared_bytes: 0,
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
    let o = |e: Expr| index(place_param(0, ty(U32)), e, 0, ty(U32));
    let tx = || cast(get(tid, Usize), U32);
    let body = vec![
        let_(tid, geom(Intrinsic::ThreadIdx)),
        if_then(
            bin(BinOp::Eq, get(tid, Usize), int(Usize, 5)),
            vec![StmtKind::Assign {
                place: o(int(Usize, 100)),
                value: int(U32, 1),
            }],
        ),
        sync_threads(),
        StmtKind::Assign {
            place: o(get(tid, Usize)),
            value: bin(
                BinOp::Add,
                tx(),
                coll(CollectiveOp::ShuffleXor, vec![tx(), int(U32, 1)], ty(U32)),
            ),
        },
    ];
    let f = function(
        "finished",
        vec![("o", rw(U32))],
        vec![("t", ty(Usize), false)],
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
            shared_bytes: 0,
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
            shared_bytes: 0,
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
            shared_bytes: 0,
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
            shared_bytes: 0,
        },
    ];
    let r = run_with("tsan", &launches, "-O1", Sanitizer::Thread);
    assert_eq!(
        r.values[&("block_sum".to_string(), 1, 1)],
        (128..256).sum::<u64>()
    );
    assert_eq!(r.values[&("atomics_u64".to_string(), 1, 0)], 64);
}

/// Sub-warp shuffles of every kind at a width from a parameter, and a
/// width that is not a power of two.
const WIDTHS: &str = "fn widths(x: &[i64], o: &mut [i64], w: &[u32]) {
    let i = global_index();
    let v = x[i];
    let width = w[0];
    let lane = lane_id();
    o[4 * i] = warp_shuffle_width(v, lane * 3 + 1, width);
    o[4 * i + 1] = warp_shuffle_down_width(v, 3, width);
    o[4 * i + 2] = warp_shuffle_up_width(v, 2, width);
    o[4 * i + 3] = warp_shuffle_xor_width(v, 5, width);
}";

#[test]
fn cuda_host_sub_warp_shuffles_read_their_segment() {
    require_gxx!();
    let kernel = |name: &str| {
        let mut k = from_rust(WIDTHS);
        k.name = name.to_string();
        k
    };
    let x: Vec<u64> = (0..WARP_BLOCK as u64 * 2).map(|i| i * 1_000_003).collect();
    let n = x.len();
    let launch = |name: &str, width: u32| Launch {
        kernel: kernel(name),
        slices: vec![
            (I64, x.clone(), false),
            (I64, vec![0; 4 * n], true),
            (U32, vec![width as u64], false),
        ],
        grid: 2,
        block: WARP_BLOCK,
        concurrent: true,
        shared_bytes: 0,
    };
    let widths = [1u32, 2, 4, 8, 16, 32];
    let mut launches: Vec<Launch> = widths
        .iter()
        .map(|&w| launch(&format!("widths_{w}"), w))
        .collect();
    // Width 12: every thread stops before shuffling; the concurrent
    // threads race for the record, so its kind, site, width and 32 are
    // certain, not which thread won.
    launches.push(launch("widths_12", 12));
    let r = run("sub_warp", &launches, "-O1");
    for &w in &widths {
        let name = format!("widths_{w}");
        assert_eq!(
            r.faults[&name][0], 0,
            "{name} faulted: {:?}",
            r.faults[&name]
        );
        for i in 0..n {
            let (b, tid) = (i / WARP_BLOCK as usize, i % WARP_BLOCK as usize);
            let w0 = tid / 32 * 32;
            let len = (WARP_BLOCK as usize - w0).min(32) as u64;
            let lane = (tid - w0) as u64;
            let (wd, seg) = (w as u64, lane - lane % w as u64);
            let sources = [
                Some(seg + (lane * 3 + 1) % wd),
                (lane % wd + 3 < wd).then_some(lane + 3),
                (2 <= lane % wd).then(|| lane - 2),
                Some(lane ^ 5).filter(|&j| j < seg + wd),
            ];
            for (k, src) in sources.into_iter().enumerate() {
                let want = match src.filter(|&s| s < len) {
                    Some(s) => x[b * WARP_BLOCK as usize + w0 + s as usize],
                    None => x[i],
                };
                assert_eq!(
                    r.values[&(name.clone(), 1, 4 * i + k)],
                    want,
                    "{name}: thread {i}, shuffle {k}"
                );
            }
        }
    }
    let f = r.faults["widths_12"];
    let site = kernel("widths_12")
        .fault_sites
        .iter()
        .position(|s| s.what == "warp_shuffle_width()")
        .unwrap() as u64;
    assert_eq!(
        [f[0], f[1], f[2], f[3], f[4]],
        [1, FaultKind::ShuffleWidth as u64, site, 12, 32]
    );
    assert!((0..n as u64 * 4).all(|k| r.values[&("widths_12".to_string(), 1, k as usize)] == 0));
}
