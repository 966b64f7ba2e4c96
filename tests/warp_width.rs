//! Warp shuffles within segments of `width` lanes (`warp_shuffle_width`,
//! `warp_shuffle_down_width`, `warp_shuffle_up_width`,
//! `warp_shuffle_xor_width`), through the public API on the CPU backend and
//! on a GPU when present: every kind at every width against the definition,
//! a width that is not a power of two stopping the launch with an error
//! naming it, and the CUDA samples' `shfl_scan` ported as written (its
//! second phase has only the first lanes of a warp shuffle, with `width`
//! set to their number). Every kernel also compiles with NVRTC.

mod common;

use spindle::prelude::*;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[kernel(mode = "batch")]
fn width_shuffles(x: &[i64], operand: &[u32], width: u32, out: &mut [i64]) {
    let i = global_index();
    let v = x[i];
    let p = operand[i];
    out[4 * i] = warp_shuffle_width(v, p, width);
    out[4 * i + 1] = warp_shuffle_down_width(v, p, width);
    out[4 * i + 2] = warp_shuffle_up_width(v, p, width);
    out[4 * i + 3] = warp_shuffle_xor_width(v, p, width);
}

/// The definition: the lane `kind` (idx, down, up, xor) reads for `lane` of
/// a warp of `len` lanes, or `None` for its own value.
fn source(kind: usize, lane: usize, len: usize, x: u32, width: u32) -> Option<usize> {
    let (lane, x, w) = (lane as u64, x as u64, width as u64);
    let seg = lane - lane % w;
    let src = match kind {
        0 => Some(seg + x % w),
        1 => (lane % w + x < w).then_some(lane + x),
        2 => (x <= lane % w).then(|| lane - x),
        _ => Some(lane ^ x).filter(|&j| j < seg + w),
    };
    src.filter(|&s| s < len as u64).map(|s| s as usize)
}

#[test]
fn width_shuffles_match_their_definition() {
    let mut rng = common::rng("width_shuffles_match_their_definition");
    // Blocks of 48: a full warp and a partial one of 16.
    let (blocks, block) = (3usize, 48usize);
    let n = blocks * block;
    let x: Vec<i64> = (0..n).map(|_| rng.i64(..)).collect();
    let pats = [0u32, 1, 2, 3, 4, 7, 8, 9, 15, 16, 31, 32, 33, 100, u32::MAX];
    let operand: Vec<u32> = (0..n).map(|_| pats[rng.usize(..pats.len())]).collect();
    for dev in devices("width_shuffles_match_their_definition") {
        let (xb, ob) = (dev.upload(&x).unwrap(), dev.upload(&operand).unwrap());
        for width in [1u32, 2, 4, 8, 16, 32] {
            let mut out = dev.zeros::<i64>(4 * n).unwrap();
            width_shuffles::launch(
                &dev,
                Launch::new(blocks as u32, block as u32),
                &xb,
                &ob,
                width,
                &mut out,
            )
            .unwrap_or_else(|e| panic!("width {width} on {}: {e}", dev.name()));
            let got = out.to_vec().unwrap();
            for i in 0..n {
                let (b, t) = (i / block, i % block);
                let w0 = t / 32 * 32;
                let len = (block - w0).min(32);
                for kind in 0..4 {
                    let want = match source(kind, t - w0, len, operand[i], width) {
                        Some(s) => x[b * block + w0 + s],
                        None => x[i],
                    };
                    assert_eq!(
                        got[4 * i + kind],
                        want,
                        "thread {i}, kind {kind}, operand {}, width {width} on {}",
                        operand[i],
                        dev.name()
                    );
                }
            }
        }
    }
}

#[test]
fn a_width_that_is_not_a_power_of_two_stops_the_launch() {
    for dev in devices("a_width_that_is_not_a_power_of_two_stops_the_launch") {
        let x = dev.upload(&[5i64; 64]).unwrap();
        let op = dev.upload(&[1u32; 64]).unwrap();
        for bad in [0u32, 3, 24, 64] {
            let mut out = dev.zeros::<i64>(256).unwrap();
            let err = width_shuffles::launch(&dev, Launch::new(2, 32), &x, &op, bad, &mut out)
                .expect_err("a bad width");
            let text = err.to_string();
            assert!(
                err.fault().map(|f| f.kind)
                    == Some(spindle::FaultKind::ShuffleWidth { width: bad.into() }),
                "{text} on {}",
                dev.name()
            );
            assert!(
                text.contains("width_shuffles")
                    && text.contains("`warp_shuffle_width()` with width")
                    && text.contains(&format!("width {bad}:"))
                    && text.contains("power of two from 1 to 32"),
                "{text} on {}",
                dev.name()
            );
        }
    }
}

/// The CUDA samples' `shfl_scan_test`, as written: an inclusive scan of
/// each block of `data`, each block's total into `partial_sums`. The
/// launch gives each block `block_dim / 32 * 4` bytes of dynamic shared
/// memory (the warps' totals).
#[kernel(mode = "batch")]
fn shfl_scan_test(data: &mut [i32], width: u32, partial_sums: &mut [i32]) {
    let sums = dynamic_shared::<i32>();
    let id = block_idx().x * block_dim().x + thread_idx().x;
    let lane_id = id % 32;
    let warp_id = thread_idx().x / 32;
    let mut value = data[id as usize];
    // Each warp scans its values in log steps.
    let mut i = 1;
    while i <= width {
        let n = warp_shuffle_up_width(value, i, width);
        if lane_id >= i {
            value += n;
        }
        i *= 2;
    }
    // The last lane of each warp holds the warp's total.
    if thread_idx().x % 32 == 31 {
        sums[warp_id as usize] = value;
    }
    sync_threads();
    // The first lanes of warp 0, one per warp, scan the totals.
    let warps = block_dim().x / 32;
    if warp_id == 0 && lane_id < warps {
        let mut warp_sum = sums[lane_id as usize];
        let mut i = 1;
        while i <= warps {
            let n = warp_shuffle_up_width(warp_sum, i, warps);
            if lane_id >= i {
                warp_sum += n;
            }
            i *= 2;
        }
        sums[lane_id as usize] = warp_sum;
    }
    sync_threads();
    let mut block_sum = 0;
    if warp_id > 0 {
        block_sum = sums[(warp_id - 1) as usize];
    }
    value += block_sum;
    data[id as usize] = value;
    if thread_idx().x == block_dim().x - 1 {
        partial_sums[block_idx().x as usize] = value;
    }
}

/// The samples' `uniform_add`: adds the scanned total of the blocks before
/// to every element of a block (launched for blocks 1.. of `data`).
#[kernel(mode = "batch")]
fn uniform_add(data: &mut [i32], partial_sums: &[i32], len: u32) {
    let buf = shared_array::<i32, 1>();
    let id = (block_idx().x + 1) * block_dim().x + thread_idx().x;
    if id >= len {
        return;
    }
    if thread_idx().x == 0 {
        buf[0] = partial_sums[block_idx().x as usize];
    }
    sync_threads();
    data[id as usize] += buf[0];
}

/// The samples' host side: scan every block, scan the blocks' totals in
/// one block, add them back.
fn shfl_scan(dev: &Device, input: &[i32], block: u32) -> Vec<i32> {
    let n = input.len() as u32;
    let blocks = n / block;
    let mut data = dev.upload(input).unwrap();
    let mut partial = dev.zeros::<i32>(blocks as usize).unwrap();
    let launch = Launch::new(blocks, block).shared_bytes(block / 32 * 4);
    shfl_scan_test::launch(dev, launch, &mut data, 32, &mut partial)
        .unwrap_or_else(|e| panic!("scan of {n} in blocks of {block} on {}: {e}", dev.name()));
    let mut unused = dev.zeros::<i32>(1).unwrap();
    let launch = Launch::new(1, blocks).shared_bytes(blocks.div_ceil(32) * 4);
    shfl_scan_test::launch(dev, launch, &mut partial, 32, &mut unused)
        .unwrap_or_else(|e| panic!("scan of {blocks} totals on {}: {e}", dev.name()));
    if blocks > 1 {
        uniform_add::launch(dev, Launch::new(blocks - 1, block), &mut data, &partial, n)
            .unwrap_or_else(|e| panic!("uniform_add on {}: {e}", dev.name()));
    }
    data.to_vec().unwrap()
}

#[test]
fn shfl_scan_ports_as_written() {
    let mut rng = common::rng("shfl_scan_ports_as_written");
    for dev in devices("shfl_scan_ports_as_written") {
        // Blocks of 256 (8 warps: the second phase shuffles 8 lanes with
        // width 8) and of 64 (width 2); the totals' scan runs 64 and 32
        // lanes (width 2 and 1).
        for (block, blocks) in [(256u32, 64usize), (64, 32)] {
            let n = block as usize * blocks;
            let input: Vec<i32> = (0..n).map(|_| rng.i32(-1000..1000)).collect();
            let got = shfl_scan(&dev, &input, block);
            let want: Vec<i32> = input
                .iter()
                .scan(0i32, |s, &v| {
                    *s = s.wrapping_add(v);
                    Some(*s)
                })
                .collect();
            assert_eq!(got, want, "n={n} in blocks of {block} on {}", dev.name());
        }
    }
}

#[test]
fn every_width_kernel_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_width_kernel_compiles_with_nvrtc");
}
