//! The value ranges the emitter proves (`range.rs`) and what it makes of
//! them (`index.rs`): which arithmetic is written in signed types, which
//! checks are dropped and which width each remaining check has. The
//! host-compiled tests (`codegen/tests/cuda_host/ranges.rs`) run such code.

use super::irb::code_of;
use crate::cuda::range::{Interval, Ranges};
use crate::ir::{Expr, ExprKind, Kernel, StmtKind};
use crate::{link, ItemSource, KernelMode, KernelOptions};

fn kernel(src: &'static str) -> Kernel {
    let name = src["fn ".len()..src.find('(').unwrap()].trim();
    let item = ItemSource {
        name,
        source: src,
        file: "src/kernels.rs",
        line: 1,
        consts: &[],
    };
    link(&item, &KernelOptions::new(KernelMode::Batch), &[], &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// The range of each `let` initializer of the kernel's top level, in order.
fn let_ranges(src: &'static str) -> Vec<Option<(i128, i128)>> {
    let k = kernel(src);
    let r = Ranges::new(&k.entry);
    k.entry
        .body
        .stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Let { init: Some(e), .. } => Some(r.of(e).map(|i| (i.lo, i.hi))),
            _ => None,
        })
        .collect()
}

const U32: (i128, i128) = (0, u32::MAX as i128);

#[test]
fn ranges_of_thread_geometry_literals_and_operators() {
    let got = let_ranges(
        "fn k(n: u32, x: &[u32]) {
            let t = thread_idx().x;
            let z = thread_idx().z;
            let b = block_idx().x;
            let w = block_dim().y;
            let g = grid_dim().z;
            let a = t * 32 + 31;
            let s = t - 1;
            let q = t / 4;
            let r = n % 10;
            let m = n & 255;
            let o = t | 5;
            let h = t >> 3;
            let l = t << 2;
            let p = n + 1;
            let big = b * 4;
            let c = t as u8;
            let i = t as i32 - 16;
            let neg = -i;
            let u = i as u32;
            let lo = t.min(100);
            let hi = n.max(7);
            let ones = n.count_ones();
            let gi = global_index();
            let lane = lane_id();
            let e = x[0];
        }",
    );
    let want = [
        Some((0, 1023)),
        Some((0, 63)),
        Some((0, (1 << 31) - 2)),
        Some((1, 1024)),
        Some((1, 65535)),
        Some((31, 1023 * 32 + 31)),
        Some(U32), // may wrap below zero
        Some((0, 255)),
        Some((0, 9)),
        Some((0, 255)),
        Some((0, 1023)),
        Some((0, 127)),
        Some((0, 4092)),
        Some(U32), // `n + 1` may wrap
        Some(U32), // `b * 4` may exceed u32
        Some((0, 255)),
        Some((-16, 1007)),
        Some((-1007, 16)),
        Some(U32), // a negative `i32` as `u32` wraps
        Some((0, 100)),
        Some((7, u32::MAX as i128)),
        Some((0, 32)),
        Some((0, ((1i128 << 31) - 2) * 1024 + 1023)),
        Some((0, 31)),
        Some(U32), // memory
    ];
    assert_eq!(got, want);
}

#[test]
fn ranges_of_locals_follow_their_one_definition() {
    let got = let_ranges(
        "fn k(x: &mut [u32]) {
            let t = thread_idx().x;
            let once = t + 1;
            let twice = once * 2;
            let mut moved = t;
            moved += 1;
            let copy = moved;
            let later;
            later = t;
            let from_later = later;
            x[0] = copy + from_later;
        }",
    );
    let want = [
        Some((0, 1023)),
        Some((1, 1024)),
        Some((2, 2048)),
        Some((0, 1023)), // the initializer itself
        Some(U32),       // `moved` is written again
        Some(U32),       // `later` has no initializer
    ];
    assert_eq!(got, want);
}

/// The ranges of the `for` variables, read through a `let` in each body.
#[test]
fn ranges_of_for_variables() {
    let k = kernel(
        "fn k(n: u32, x: &mut [u32]) {
            for a in 0..32u32 { let v = a; x[0] = v; }
            for b in 4..=9u32 { let v = b; x[0] = v; }
            for c in (0..100u32).step_by(8) { let v = c; x[0] = v; }
            for d in 0..n { let v = d; x[0] = v; }
            for e in 5..3u32 { let v = e; x[0] = v; }
            for mut f in 0..4u32 { f += 10; let v = f; x[0] = v; }
        }",
    );
    let r = Ranges::new(&k.entry);
    let mut got = Vec::new();
    for s in &k.entry.body.stmts {
        if let StmtKind::For { body, .. } = &s.kind {
            let init = body.stmts.iter().find_map(|s| match &s.kind {
                StmtKind::Let { init: Some(e), .. } => Some(e),
                _ => None,
            });
            got.push(init.and_then(|e| r.of(e)).map(|i| (i.lo, i.hi)));
        }
    }
    let want = [
        Some((0, 31)),
        Some((4, 9)),
        Some((0, 99)),
        Some((0, u32::MAX as i128 - 1)),
        Some((5, 5)), // never runs
        Some(U32),    // assigned in the body
    ];
    assert_eq!(got, want);
}

#[test]
fn no_wrap_picks_the_narrowest_signed_type() {
    let k = kernel(
        "fn k(x: &mut [i64], y: &mut [u64]) {
            let t = thread_idx().x;
            let a = t * 8 + 3;
            let b = t as i64 * 1000000000;
            let c = global_index() * 3;
            let d = global_index() * global_index();
            x[0] = b;
            y[0] = (a as u64) + (c + d) as u64;
        }",
    );
    let r = Ranges::new(&k.entry);
    let lets: Vec<&Expr> = k
        .entry
        .body
        .stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Let { init: Some(e), .. } => Some(e),
            _ => None,
        })
        .collect();
    use crate::cuda::range::Signed;
    assert_eq!(r.no_wrap(lets[0]), None, "a load is no operator");
    assert_eq!(r.no_wrap(lets[1]), Some(Signed::I32));
    assert_eq!(r.no_wrap(lets[2]), Some(Signed::I64));
    assert_eq!(r.no_wrap(lets[3]), Some(Signed::I64));
    assert_eq!(r.no_wrap(lets[4]), None, "may exceed u64");
    assert!(matches!(lets[4].kind, ExprKind::Binary(..)));
    assert!(Interval::new(0, 4).within(Interval::new(0, 4)));
    assert!(!Interval::new(0, 5).within(Interval::new(0, 4)));
    let c = code_of(&k);
    assert!(
        c.contains("uint32_t l1_a = (uint32_t)(((int32_t)l0_t * 8) + 3);"),
        "{c}"
    );
    assert!(
        c.contains("int64_t l2_b = (int64_t)l0_t * 1000000000ll;"),
        "{c}"
    );
    assert!(
        c.contains(
            "uint64_t l3_c = (uint64_t)((int64_t)((uint64_t)blockIdx.x * blockDim.x + threadIdx.x) * 3ll);"
        ),
        "{c}"
    );
}

#[test]
fn checks_are_dropped_or_narrowed_by_the_index_range() {
    let c = code_of(&kernel(
        "fn k(x: &[u32], out: &mut [u32], n: u32) {
            let tile = shared_array::<u32, 256>();
            let t = thread_idx().x;
            tile[(t / 4) as usize] = 1;
            tile[(t & 255) as usize] = 2;
            tile[(t >> 2) as usize] = 3;
            tile[t.min(255) as usize] = 4;
            tile[t as usize] = 5;
            let mut m = t;
            m += 1;
            tile[m as usize] = 6;
            out[(t + n) as usize] = x[global_index()];
            let i = t as i32 - 16;
            out[i as usize] = tile[3];
        }",
    ));
    for text in [
        // Always in bounds: no check.
        "sh0_tile.v[((uint64_t)spindle_div_u32(spindle_fault, l0_t, 4u))] = 1u;",
        "sh0_tile.v[((uint64_t)(l0_t & 255u))] = 2u;",
        "sh0_tile.v[((uint64_t)(l0_t >> ((uint32_t)2 & 31u)))] = 3u;",
        "sh0_tile.v[((uint64_t)spindle_min_u32(l0_t, 255u))] = 4u;",
        "= sh0_tile.v[3ull];",
        // Below 2^31 against a constant length: signed 32 bits.
        "sh0_tile.v[spindle_check_i32(spindle_fault, (int32_t)l0_t, 256, 4u)] = 5u;",
        // Any u32 (a mutated local, a sum that may wrap): 32-bit index.
        "sh0_tile.v[spindle_check_u32(spindle_fault, l1_m, 256ull, 5u)] = 6u;",
        "p_out[spindle_check_u32(spindle_fault, l0_t + p_n, p_out_len, 7u)]",
        // May exceed 32 bits, or be negative: 64 bits.
        "p_x[spindle_check(spindle_fault, (uint64_t)blockIdx.x * blockDim.x + threadIdx.x, p_x_len, 6u)]",
        "p_out[spindle_check(spindle_fault, (uint64_t)l2_i, p_out_len, 9u)]",
    ] {
        assert!(c.contains(text), "{text} missing:\n{c}");
    }
    assert!(
        !c.contains("spindle_check_i32(spindle_fault, (int32_t)spindle_div"),
        "{c}"
    );
}

#[test]
fn unchecked_kernels_get_the_signed_arithmetic_and_no_checks() {
    let mut k = kernel(
        "fn k(out: &mut [u32]) {
            let tile = shared_array::<u32, 64>();
            let t = thread_idx().x;
            tile[(t * 2) as usize] = t;
            out[t as usize] = tile[t as usize];
        }",
    );
    k.bounds_checks = false;
    let c = code_of(&k);
    let body = &c[c.find("// ---- kernel").unwrap()..];
    assert!(!body.contains("spindle_check"), "{c}");
    assert!(
        c.contains("sh0_tile.v[((uint64_t)((uint32_t)((int32_t)l0_t * 2)))] = l0_t;"),
        "{c}"
    );
}
