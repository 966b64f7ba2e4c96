//! Everyday Rust in kernels, continued: closures that do not escape and
//! `Option` values — run on the CPU backend (and a GPU when present)
//! against Rust's own result, as in `idioms.rs`.

// The kernels spell constructs out on purpose: they are what is under test.
#![allow(
    clippy::manual_unwrap_or,
    clippy::manual_unwrap_or_default,
    clippy::manual_checked_ops,
    clippy::unnecessary_literal_unwrap
)]

mod common;
#[macro_use]
#[path = "common/idioms.rs"]
mod harness;

use harness::*;
use spindle::prelude::*;

// ---------------------------------------------------------------- closures

#[device]
fn closures(a: u32, b: u32) -> [u32; 6] {
    let k = b % 13;
    let scale = |v: u32| v.wrapping_mul(k);
    // A later `k` does not change the closure's.
    let k = 1000u32;
    let add = |x: u32, y: u32| -> u32 { x.wrapping_add(y) };
    let pair = |(x, y): (u32, u32)| x ^ y;
    let mut count = 0u32;
    let mut bump = |by: u32| {
        count += by;
        count
    };
    bump(1);
    bump(a % 5);
    // A `move` closure owns a copy of `base`, which its calls change.
    let mut base = a % 100;
    let mut next = move || {
        base += 1;
        base
    };
    next();
    let second = next();
    base += 10;
    let nested = |v: u32| add(scale(v), 1);
    [
        scale(a),
        add(a, k),
        pair((a, b)),
        count,
        second * 1000 + base,
        nested(b),
    ]
}

// ----------------------------------------------------------------- options

#[device]
fn checked_div(a: u32, b: u32) -> Option<u32> {
    if b == 0 {
        None
    } else {
        Some(a / b)
    }
}

#[device]
fn find_first_above(xs: [u32; 6], limit: u32) -> Option<(usize, u32)> {
    for (i, &v) in xs.iter().enumerate() {
        if v > limit {
            return Some((i, v));
        }
    }
    None
}

#[device]
fn options(a: u32, b: u32) -> [u32; 7] {
    let q = checked_div(a, b % 4);
    let d = q.unwrap_or(7);
    let s = q.is_some() as u32 + 2 * q.is_none() as u32;
    let m = match checked_div(b, a % 3) {
        Some(v) if v > 100 => v - 100,
        Some(v) => v,
        None => 12345,
    };
    let xs = [a % 50, b % 50, a % 70, b % 90, 3, 60];
    let (at, first) = if let Some((i, v)) = find_first_above(xs, 55) {
        (i as u32, v)
    } else {
        (99, 0)
    };
    // `while let` over a counter that a device fn advances.
    let mut n = a % 20;
    let mut steps = 0u32;
    while let Some(next) = checked_div(n, 2) {
        if n == 0 {
            break;
        }
        n = next;
        steps += 1;
    }
    let got = xs.get((b % 8) as usize).copied().unwrap_or(777);
    let none: Option<u32> = None;
    [d, s, m, at * 1000 + first, steps, got, none.unwrap_or(5)]
}

map2!(k_closures, closures, u32, u32, [u32; 6]);
map2!(k_options, options, u32, u32, [u32; 7]);

/// `x.get(i)` of a slice parameter, with `if let`.
#[kernel(mode = "batch")]
fn slice_get(x: &[u32], out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        let twice = |v: u32| v * 2;
        out[i] = if let Some(v) = x.get(i * 2) {
            twice(*v)
        } else {
            1
        };
    }
}

#[test]
fn closures_match_rust() {
    let mut rng = common::rng("closures_match_rust");
    let edges = [0, 1, u32::MAX, 13, 26, 99, 100];
    check_map!(
        k_closures,
        closures,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, u32::MAX)
    );
}

#[test]
fn options_match_rust() {
    let mut rng = common::rng("options_match_rust");
    let edges = [0, 1, 2, 3, 4, 8, u32::MAX, 301, 1000];
    check_map!(
        k_options,
        options,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, 2000)
    );
    for dev in devices("options_match_rust") {
        let x: Vec<u32> = (0..100).map(|_| rng.u32(..1 << 20)).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u32>(80).unwrap();
        slice_get::launch(&dev, Launch::for_elements(80), &xb, &mut out).unwrap();
        let want: Vec<u32> = (0..80).map(|i| x.get(i * 2).map_or(1, |v| v * 2)).collect();
        assert_eq!(out.to_vec().unwrap(), want, "on {}", dev.name());
    }
}

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc(
        "every_kernel_here_compiles_with_nvrtc (idioms_closures)",
    );
}
