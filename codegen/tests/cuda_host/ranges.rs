//! Index arithmetic the emitter proves cannot wrap, and the bounds checks
//! it picks from the index's range (`src/cuda/range.rs`, `index.rs`): the
//! signed arithmetic gives Rust's values (UBSan fails the run on any
//! signed overflow, so a wrong range proof cannot pass), and each width of
//! check records the fault exactly as the 64-bit one does.

use super::harness::*;
use spindle_codegen::cuda::{emit, EmitOptions};
use spindle_codegen::ir::*;
use Scalar::*;

/// Shared tiles indexed by thread and loop variables, and signed values
/// of a thread index: all arithmetic the emitter writes in `int32_t`.
const TILES: &str = "fn tiles(x: &[u32], out: &mut [u32], signed: &mut [i32]) {
    let tile = shared_array::<u32, 256>();
    let t = thread_idx().x;
    let b = block_idx().x;
    for k in 0..8u32 {
        tile[(k * 32 + t) as usize] = x[(b * 256 + k * 32 + t) as usize];
    }
    sync_threads();
    let mut sum = 0u32;
    for k in 0..8u32 {
        sum = sum.wrapping_add(tile[(t * 8 + k) as usize].wrapping_mul(k + 1));
    }
    out[(b * 32 + t) as usize] = sum;
    let d = t as i32 - 16;
    let e = d * d - 3 * d + (lane_id() as i32 - 31) * 7;
    signed[(b * 32 + t) as usize] = e;
}";

/// `tile[t * 4]` on a 64-element tile: thread 16 is the first past it
/// (a signed 32-bit check).
const OOB_I32: &str = "fn oob_i32(out: &mut [u32]) {
    let tile = shared_array::<u32, 64>();
    let t = thread_idx().x;
    tile[(t % 64) as usize] = t;
    let v = tile[(t * 4) as usize];
    out[t as usize] = t.wrapping_add(v.wrapping_mul(0));
}";

/// `x[t + 1000]` on a 1010-element slice: thread 10 is the first past it
/// (a 32-bit check against a 64-bit length).
const OOB_U32: &str = "fn oob_u32(x: &[u32], out: &mut [u32]) {
    let t = thread_idx().x;
    out[t as usize] = x[(t + 1000) as usize];
}";

/// `x[global_index() * 3]` on a 20-element slice: thread 7 is the first
/// past it (the 64-bit check).
const OOB_U64: &str = "fn oob_u64(x: &[u32], out: &mut [u32]) {
    let i = global_index();
    out[i] = x[i * 3];
}";

fn tiles_in_rust(x: &[u64], blocks: usize) -> (Vec<u64>, Vec<u64>) {
    let mut out = Vec::new();
    let mut signed = Vec::new();
    for b in 0..blocks {
        let tile = &x[b * 256..(b + 1) * 256];
        for t in 0..32usize {
            let sum = (0..8u32).fold(0u32, |s, k| {
                s.wrapping_add((tile[t * 8 + k as usize] as u32).wrapping_mul(k + 1))
            });
            out.push(sum as u64);
            let d = t as i32 - 16;
            let e = d * d - 3 * d + (t as i32 - 31) * 7;
            signed.push(e as u32 as u64);
        }
    }
    (out, signed)
}

#[test]
fn cuda_host_ranged_arithmetic_and_check_widths() {
    require_gxx!();
    let kernels = [TILES, OOB_I32, OOB_U32, OOB_U64].map(from_rust);
    // The widths this test is about are the ones the emitter chose.
    let code: Vec<String> = kernels
        .iter()
        .map(|k| emit(k, &EmitOptions::default()).code)
        .collect();
    for (k, helper) in [
        (0, "spindle_check_i32(spindle_fault, "),
        (0, "int32_t l5_d = (int32_t)l0_t - 16;"),
        (
            0,
            "int32_t l6_e = ((l5_d * l5_d) - (3 * l5_d)) + (((int32_t)spindle_lane_id() - 31) * 7);",
        ),
        (1, "spindle_check_i32(spindle_fault, (int32_t)l0_t * 4, 64, "),
        (2, "spindle_check_u32(spindle_fault, (uint32_t)((int32_t)l0_t + 1000), p_x_len, "),
        (3, "spindle_check(spindle_fault, (uint64_t)((int64_t)l0_i * 3ll), p_x_len, "),
    ] {
        assert!(code[k].contains(helper), "{helper} missing:\n{}", code[k]);
    }
    // `t % 64` never leaves the tile: no check at all.
    assert!(
        code[1]
            .contains("sh0_tile.v[((uint64_t)spindle_rem_u32(spindle_fault, l0_t, 64u))] = l0_t;"),
        "{}",
        code[1]
    );
    let [tiles, oob_i32, oob_u32, oob_u64] = kernels;
    let x: Vec<u64> = (0..512u64).map(|i| (i * 2_654_435_761) % 100_000).collect();
    let launches = vec![
        Launch {
            kernel: tiles,
            slices: vec![
                (U32, x.clone(), false),
                (U32, vec![0; 64], true),
                (I32, vec![0; 64], true),
            ],
            grid: 2,
            block: 32,
            concurrent: true,
            shared_bytes: 0,
        },
        Launch {
            kernel: oob_i32,
            slices: vec![(U32, vec![u32::MAX as u64; 32], true)],
            grid: 1,
            block: 32,
            concurrent: false,
            shared_bytes: 0,
        },
        Launch {
            kernel: oob_u32,
            slices: vec![
                (U32, (0..1010).collect(), false),
                (U32, vec![u32::MAX as u64; 32], true),
            ],
            grid: 1,
            block: 32,
            concurrent: false,
            shared_bytes: 0,
        },
        Launch {
            kernel: oob_u64,
            slices: vec![
                (U32, (0..20).map(|v| v * 10).collect(), false),
                (U32, vec![u32::MAX as u64; 16], true),
            ],
            grid: 2,
            block: 8,
            concurrent: false,
            shared_bytes: 0,
        },
    ];
    // Optimised, as NVVM optimises: the fault paths must survive it.
    let r = run("ranges", &launches, "-O2");
    let (out, signed) = tiles_in_rust(&x, 2);
    for i in 0..64 {
        assert_eq!(r.values[&("tiles".into(), 1, i)], out[i], "out[{i}]");
        assert_eq!(r.values[&("tiles".into(), 2, i)], signed[i], "signed[{i}]");
    }
    assert_eq!(
        r.faults["tiles"][0], 0,
        "tiles faulted: {:?}",
        r.faults["tiles"]
    );
    // [flag, kind, site, index, len, block.x, thread.x], as before the
    // checks came in widths.
    let oob = FaultKind::OutOfBounds as u64;
    // Site `n` of a kernel, which indexes `what`.
    let site = |k: &Kernel, n: usize, what: &str| {
        assert_eq!(k.fault_sites[n].what, what);
        n as u64
    };
    let kernels = [OOB_I32, OOB_U32, OOB_U64].map(from_rust);
    assert_eq!(
        r.faults["oob_i32"],
        [1, oob, site(&kernels[0], 1, "tile"), 64, 64, 0, 16]
    );
    assert_eq!(
        r.faults["oob_u32"],
        [1, oob, site(&kernels[1], 0, "x"), 1010, 1010, 0, 10]
    );
    assert_eq!(
        r.faults["oob_u64"],
        [1, oob, site(&kernels[2], 0, "x"), 21, 20, 0, 7]
    );
    // Threads before the faulting one wrote; it and those after did not
    // (threads run one after another).
    let got = |k: &str, s: usize, n: usize| -> Vec<u64> {
        (0..n).map(|i| r.values[&(k.to_string(), s, i)]).collect()
    };
    let none = u32::MAX as u64;
    let want: Vec<u64> = (0..32).map(|t| if t < 16 { t } else { none }).collect();
    assert_eq!(got("oob_i32", 0, 32), want);
    let want: Vec<u64> = (0..32)
        .map(|t| if t < 10 { 1000 + t } else { none })
        .collect();
    assert_eq!(got("oob_u32", 1, 32), want);
    let want: Vec<u64> = (0..16).map(|i| if i < 7 { i * 30 } else { none }).collect();
    assert_eq!(got("oob_u64", 1, 16), want);
}
