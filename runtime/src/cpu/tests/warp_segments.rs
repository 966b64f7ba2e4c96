//! Sub-warp shuffles (`warp_shuffle_width` and the like, `[v, x, width]`):
//! every kind at every width against the definition of `CollectiveOp`,
//! widths that differ between lanes, a segment that calls while the rest of
//! its warp does not (allowed) or only part of a segment (divergent), and a
//! width that is not a power of two from 1 to 32 (a fault naming it).

use super::groups::configurations;
use super::warps::{collective_kernel, tid, BT};
use super::*;
use crate::fault::expect_fault;
use crate::FaultKind;
use CollectiveOp::*;

/// `out[i] = op(v[i], x[i], width[i])` over blocks of 48 threads.
fn width_kernel(op: CollectiveOp) -> Arc<Kernel> {
    let u = ty(Scalar::U32);
    let inputs = [("v", ty(Scalar::I64)), ("x", u.clone()), ("width", u)];
    let name = op.width_name().unwrap();
    collective_kernel("shuffle_width", op, &format!("{name}()"), &inputs)
}

/// The definition, written out: the source lane of `lane` in a warp of
/// `len` lanes, or `None` for the caller's own value.
fn source(op: CollectiveOp, lane: u64, x: u64, width: u64, len: u64) -> Option<u64> {
    let seg = lane - lane % width;
    let src = match op {
        Shuffle => Some(seg + x % width),
        ShuffleDown => (lane % width + x < width).then_some(lane + x),
        ShuffleUp => (x <= lane % width).then(|| lane - x),
        _ => Some(lane ^ x).filter(|&j| j < seg + width),
    };
    src.filter(|&s| s < len)
}

fn model(op: CollectiveOp, v: &[i64], x: &[u32], w: &[u32]) -> Vec<i64> {
    (0..v.len())
        .map(|i| {
            let (b, t) = (i / BT, i % BT);
            let w0 = t / 32 * 32;
            let len = (BT - w0).min(32) as u64;
            let lane = (t - w0) as u64;
            match source(op, lane, x[i] as u64, w[i] as u64, len) {
                Some(s) => v[b * BT + w0 + s as usize],
                None => v[i],
            }
        })
        .collect()
}

fn run(op: CollectiveOp, v: &[i64], x: &[u32], w: &[u32]) -> Vec<Result<Vec<i64>>> {
    let n = v.len();
    let k = width_kernel(op);
    let (vm, xm, wm) = (mem(v), mem(x), mem(w));
    configurations()
        .into_iter()
        .map(|dev| {
            let mut om = mem(&vec![0i64; n]);
            dev.launch(
                &k,
                &Launch::new((n / BT) as u32, BT as u32),
                &mut [
                    arg_in::<i64>(&vm, n),
                    arg_in::<u32>(&xm, n),
                    arg_in::<u32>(&wm, n),
                    arg_out::<i64>(&mut om, n),
                ],
            )
            .map(|()| read::<i64>(&om))
        })
        .collect()
}

#[test]
fn every_kind_at_every_width_reads_its_segment() {
    let n = BT * 3;
    let v: Vec<i64> = (0..n as i64).map(|i| i * 1000 - 7).collect();
    let pats = [0u32, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 32, 33, 40, u32::MAX];
    for width in [1u32, 2, 4, 8, 16, 32] {
        for op in [Shuffle, ShuffleDown, ShuffleUp, ShuffleXor] {
            let x: Vec<u32> = (0..n).map(|i| pats[(i * 7 + i / 5) % pats.len()]).collect();
            let w = vec![width; n];
            for got in run(op, &v, &x, &w) {
                assert_eq!(got.unwrap(), model(op, &v, &x, &w), "{op:?} width {width}");
            }
        }
    }
}

#[test]
fn width_32_is_the_whole_warp_shuffle() {
    // The sub-warp form at 32 gives what the plain one gives.
    let n = BT * 2;
    let v: Vec<i64> = (0..n as i64).map(|i| i * 3 + 1).collect();
    for op in [Shuffle, ShuffleDown, ShuffleUp, ShuffleXor] {
        for d in [0u32, 1, 5, 31, 32, 47] {
            let x = vec![d; n];
            let want: Vec<i64> = (0..n)
                .map(|i| {
                    let (b, t) = (i / BT, i % BT);
                    let w0 = t / 32 * 32;
                    let (len, lane) = ((BT - w0).min(32) as u64, (t - w0) as u64);
                    let x = d as u64;
                    let src = match op {
                        Shuffle => Some(x % 32),
                        ShuffleDown => Some(lane + x),
                        ShuffleUp => lane.checked_sub(x),
                        _ => Some(lane ^ x),
                    };
                    match src {
                        Some(s) if s < len => v[b * BT + w0 + s as usize],
                        _ => v[i],
                    }
                })
                .collect();
            for got in run(op, &v, &x, &vec![32; n]) {
                assert_eq!(got.unwrap(), want, "{op:?} x={d}");
            }
        }
    }
}

#[test]
fn lanes_may_use_different_widths() {
    let n = BT;
    let v: Vec<i64> = (0..n as i64).map(|i| 100 + i).collect();
    let widths = [1u32, 2, 4, 8, 16, 32];
    let w: Vec<u32> = (0..n).map(|i| widths[(i / 3) % widths.len()]).collect();
    for op in [Shuffle, ShuffleDown, ShuffleUp, ShuffleXor] {
        let x: Vec<u32> = (0..n as u32).map(|i| i % 11).collect();
        for got in run(op, &v, &x, &w) {
            assert_eq!(got.unwrap(), model(op, &v, &x, &w), "{op:?}");
        }
    }
}

/// `if lane_id() < k { out[i] = warp_shuffle_up_width(v, 1, 8) }`.
fn first_lanes_kernel(k: u32) -> Arc<Kernel> {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("first_lanes");
    let out = kb.slice("out", u.clone(), true);
    let site = kb.site("out", 1);
    let ws = kb.site("warp_shuffle_up_width()", 4);
    kb.build(vec![if_(
        bin(BinOp::Lt, lane_id(), int(Scalar::U32, k as i128)),
        vec![store_elem(
            out,
            global_index(),
            site,
            u.clone(),
            collective(
                ShuffleUp,
                vec![tid(), int(Scalar::U32, 1), int(Scalar::U32, 8)],
                ws,
                u.clone(),
            ),
        )],
        vec![],
    )])
}

#[test]
fn a_whole_segment_may_call_without_the_rest_of_its_warp() {
    // Lanes 0..8 of each warp: the first segment of 8, complete.
    let k = first_lanes_kernel(8);
    for dev in configurations() {
        let mut om = mem(&[u32::MAX; 64]);
        dev.launch(&k, &Launch::new(1, 64), &mut [arg_out::<u32>(&mut om, 64)])
            .unwrap();
        let want: Vec<u32> = (0..64u32)
            .map(|t| match t % 32 {
                0 => t,
                l if l < 8 => t - 1,
                _ => u32::MAX,
            })
            .collect();
        assert_eq!(read::<u32>(&om), want);
    }
}

#[test]
fn part_of_a_segment_is_divergent() {
    // Lanes 0..4 of a segment of 8: the other four are parked.
    let k = first_lanes_kernel(4);
    for dev in configurations() {
        let mut om = mem(&[u32::MAX; 64]);
        let err = dev
            .launch(&k, &Launch::new(1, 64), &mut [arg_out::<u32>(&mut om, 64)])
            .unwrap_err();
        let f = expect_fault(err);
        assert_eq!(
            (f.what.as_str(), f.kind),
            ("warp_shuffle_up_width()", FaultKind::DivergentWarp)
        );
        assert_eq!(f.at().1, [0, 0, 0]);
    }
}

#[test]
fn a_bad_width_stops_its_thread_and_names_the_width() {
    let n = BT;
    let v: Vec<i64> = (0..n as i64).collect();
    let x = vec![1u32; n];
    for bad in [0u32, 3, 12, 33, 64, u32::MAX] {
        // Thread 37 (lane 5 of the partial warp) gives a bad width.
        let w: Vec<u32> = (0..n).map(|i| if i == 37 { bad } else { 16 }).collect();
        for got in run(ShuffleDown, &v, &x, &w) {
            let err = got.unwrap_err();
            let text = err.to_string();
            let f = expect_fault(err);
            assert_eq!(
                (f.what.as_str(), f.kind),
                (
                    "warp_shuffle_down_width()",
                    FaultKind::ShuffleWidth { width: bad.into() }
                )
            );
            assert!(
                text.contains("`warp_shuffle_down_width()` with width")
                    && text.contains(&format!("width {bad}:"))
                    && text.contains("power of two from 1 to 32"),
                "{text}"
            );
            assert_eq!(f.at(), ([0, 0, 0], [37, 0, 0]));
            assert_eq!(f.location.to_string(), "test.rs:2 in `shuffle_width`");
        }
    }
}
