//! Block groups: however many blocks a host thread runs as one lane
//! vector, every thread sees its own block, and faults name it.

use super::intrinsics::run_geometry;
use super::*;
use crate::fault::expect_fault;
use crate::FaultKind;

/// A CPU device with `threads` host threads aiming at groups of
/// `group_lanes` lanes.
pub(super) fn device(threads: usize, group_lanes: usize) -> CpuDevice {
    let mut d = CpuDevice::new();
    d.threads = threads;
    d.group_lanes = group_lanes;
    d
}

/// The configurations every test here runs under: one block per group,
/// groups that do not divide the grid (a partial last group), one group
/// for everything, and several host threads.
pub(super) fn configurations() -> Vec<CpuDevice> {
    vec![
        device(1, 1),
        device(1, 24 * 5),
        device(1, 1 << 20),
        device(2, 100),
        device(3, 1 << 20),
    ]
}

#[test]
fn geometry_is_per_block_in_every_grouping() {
    for dev in configurations() {
        let (got, want) = run_geometry(&dev);
        assert_eq!(
            got, want,
            "threads {}, group lanes {}",
            dev.threads, dev.group_lanes
        );
    }
}

#[test]
fn saxpy_in_every_grouping_and_odd_block_sizes() {
    let k = saxpy_kernel();
    let n = 1234;
    let xs: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
    let want: Vec<f32> = xs.iter().map(|x| 2.0 * x + 1.0).collect();
    for dev in configurations() {
        for block in [1u32, 32, 100, 256, 1024] {
            let x = mem(&xs);
            let mut y = mem(&vec![1.0f32; n]);
            let l = Launch::new((n as u32).div_ceil(block), block);
            dev.launch(
                &k,
                &l,
                &mut [
                    KernelArg::value(&2.0f32),
                    arg_in::<f32>(&x, n),
                    arg_out::<f32>(&mut y, n),
                ],
            )
            .unwrap();
            assert_eq!(
                read::<f32>(&y),
                want,
                "block {block}, group lanes {}",
                dev.group_lanes
            );
        }
    }
}

#[test]
fn the_lowest_faulting_block_is_reported_whatever_the_grouping() {
    // if block_idx().x >= 1 { x[100] }            (early in program order)
    // if thread_idx().x == 3 { x[200 + block] }   (later: block 0 faults here)
    // out[global_index()] = 7
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("order");
    let x = kb.slice("x", u.clone(), false);
    let out = kb.slice("out", u.clone(), true);
    let sx = kb.site("x", 1);
    let sx2 = kb.site("x", 2);
    let so = kb.site("out", 3);
    let read_x = |idx: Expr, site| stmt(StmtKind::Expr(elem(x, idx, site, u.clone())));
    let k = kb.build(vec![
        if_(
            bin(BinOp::Ge, dim(Intrinsic::BlockIdx, 0), int(Scalar::U32, 1)),
            vec![read_x(usize_(100), sx)],
            vec![],
        ),
        if_(
            bin(BinOp::Eq, dim(Intrinsic::ThreadIdx, 0), int(Scalar::U32, 3)),
            vec![read_x(
                bin(
                    BinOp::Add,
                    usize_(200),
                    cast(dim(Intrinsic::BlockIdx, 0), Scalar::Usize),
                ),
                sx2,
            )],
            vec![],
        ),
        store_elem(out, global_index(), so, u.clone(), int(Scalar::U32, 7)),
    ]);
    for dev in configurations() {
        let xm = mem(&[0u32; 10]);
        let mut om = mem(&[0u32; 40]);
        let err = dev
            .launch(
                &k,
                &Launch::new(5, 8),
                &mut [arg_in::<u32>(&xm, 10), arg_out::<u32>(&mut om, 40)],
            )
            .unwrap_err();
        let f = expect_fault(err);
        assert!(
            matches!(f.kind, FaultKind::OutOfBounds { index: 200, .. }),
            "group lanes {}: {f:?}",
            dev.group_lanes
        );
        assert_eq!(
            f.at(),
            ([0, 0, 0], [3, 0, 0]),
            "group lanes {}",
            dev.group_lanes
        );
        // Block 0's other threads finished; blocks 1.. all stopped at x[100].
        let want: Vec<u32> = (0..40)
            .map(|i| if i < 8 && i != 3 { 7 } else { 0 })
            .collect();
        assert_eq!(read::<u32>(&om), want, "group lanes {}", dev.group_lanes);
    }
}

#[test]
fn comparisons_of_global_index_with_a_constant() {
    // out[gi * 2 + ty] = Σ_k bit k of (gi op_k 37) and (37 op_k gi), over 12 comparisons.
    let u = ty(Scalar::U32);
    let us = ty(Scalar::Usize);
    let mut kb = KernelBuilder::new("gicmp");
    let out = kb.slice("out", u.clone(), true);
    let lim = kb.value("lim", us.clone());
    let i = kb.local("i", us.clone());
    let s = kb.site("out", 1);
    let ops = [
        BinOp::Lt,
        BinOp::Le,
        BinOp::Gt,
        BinOp::Ge,
        BinOp::Eq,
        BinOp::Ne,
    ];
    let mut sum = int(Scalar::U32, 0);
    for (k, op) in ops.iter().enumerate() {
        for (j, (a, b)) in [
            (local(i, us.clone()), param(lim, us.clone())),
            (param(lim, us.clone()), local(i, us.clone())),
        ]
        .into_iter()
        .enumerate()
        {
            let bit = bin(
                BinOp::Shl,
                cast(bin(*op, a, b), Scalar::U32),
                int(Scalar::U32, (2 * k + j) as i128),
            );
            sum = bin(BinOp::BitOr, sum, bit);
        }
    }
    let slot = bin(
        BinOp::Add,
        bin(BinOp::Mul, local(i, us.clone()), usize_(2)),
        cast(dim(Intrinsic::ThreadIdx, 1), Scalar::Usize),
    );
    let k = kb.build(vec![
        let_(i, global_index()),
        store_elem(out, slot, s, u.clone(), sum),
    ]);
    let want_bits = |gi: u64| {
        let mut w = 0u32;
        for (k, f) in [
            (|a: u64, b: u64| a < b) as fn(u64, u64) -> bool,
            |a, b| a <= b,
            |a, b| a > b,
            |a, b| a >= b,
            |a, b| a == b,
            |a, b| a != b,
        ]
        .iter()
        .enumerate()
        {
            w |= (f(gi, 37) as u32) << (2 * k);
            w |= (f(37, gi) as u32) << (2 * k + 1);
        }
        w
    };
    for dev in configurations() {
        // 1-D blocks: indices are consecutive in each group (fast path).
        let mut om = mem(&vec![0u32; 160]);
        dev.launch(
            &k,
            &Launch::new(10, 8),
            &mut [arg_out::<u32>(&mut om, 160), KernelArg::value(&37usize)],
        )
        .unwrap();
        let got: Vec<u32> = read(&om);
        for gi in 0..80u64 {
            assert_eq!(got[gi as usize * 2], want_bits(gi), "1-D, gi {gi}");
        }
        // 2-D blocks (8 × 2): lanes repeat each index (the general path).
        let mut om = mem(&vec![0u32; 160]);
        dev.launch(
            &k,
            &Launch::new(10, (8, 2)),
            &mut [arg_out::<u32>(&mut om, 160), KernelArg::value(&37usize)],
        )
        .unwrap();
        let got: Vec<u32> = read(&om);
        let want: Vec<u32> = (0..160u64).map(|j| want_bits(j / 2)).collect();
        assert_eq!(got, want, "2-D");
    }
}
