//! Everyday Rust in kernels: closures passed to `#[device]` fns taking
//! `impl Fn(..)`, a type parameter `F: Fn(..)`, `impl FnMut(..)` and
//! `impl FnOnce(..)` — run on the CPU backend (and a GPU when present)
//! against Rust's own result, as in `idioms.rs`.

// The kernels spell constructs out on purpose: they are what is under test.
#![allow(clippy::manual_is_multiple_of)]

mod common;
#[macro_use]
#[path = "common/idioms.rs"]
mod harness;

use harness::*;
use spindle::prelude::*;

#[device]
fn apply_twice(f: impl Fn(u32) -> u32, v: u32) -> u32 {
    f(f(v))
}

/// Passes its closure on to another device fn.
#[device]
fn apply_twice_plus(f: impl Fn(u32) -> u32, v: u32, plus: u32) -> u32 {
    apply_twice(f, v).wrapping_add(plus)
}

#[device]
fn fold_upto<F: Fn(u32, u32) -> u32>(f: F, init: u32, n: u32) -> u32 {
    let mut acc = init;
    for i in 0..n {
        acc = f(acc, i);
    }
    acc
}

#[device]
fn each_upto(mut f: impl FnMut(u32), n: u32) {
    let mut i = 0;
    while i < n {
        f(i);
        i += 1;
    }
}

#[device]
fn call_three(mut f: impl FnMut() -> u32) -> u32 {
    f();
    f();
    f()
}

#[device]
fn once(f: impl FnOnce(u32) -> (u32, bool), v: u32) -> u32 {
    let (a, b) = f(v);
    if b {
        a
    } else {
        a / 2
    }
}

#[device]
fn pair_map<T: Num, F>(f: F, a: T, b: T) -> (T, T)
where
    F: Fn(T) -> T,
{
    (f(a), f(b))
}

#[device]
fn both(f: impl Fn(u32) -> u32, g: impl Fn(u32) -> u32, v: u32) -> u32 {
    f(v) ^ g(v)
}

/// Closures written in a device fn, capturing its parameters and locals.
#[device]
fn closure_args(a: u32, b: u32) -> [u32; 10] {
    let k = b % 17;
    let add = |v: u32| v.wrapping_add(k);
    let twice = apply_twice(add, a);
    // The same closure again (one instantiation), and a literal one.
    let again = apply_twice(add, b);
    let lit = apply_twice(|v| v.wrapping_mul(3) ^ k, a);
    let passed_on = apply_twice_plus(add, a % 1000, 7);
    let folded = fold_upto(|acc, i| acc.wrapping_mul(31).wrapping_add(i ^ k), a, b % 9);
    // `FnMut`: changes a `mut` local of the caller through the closure.
    let mut sum = 0u32;
    each_upto(|i| sum = sum.wrapping_add(i * k), a % 12);
    // A `move` closure is copied into the call: its own copy counts, the
    // caller's stays where it was.
    let mut c = a % 5;
    let mut counter = move || {
        c += 1;
        c
    };
    let three = call_three(counter);
    let after = counter();
    let o = once(move |v| (v.wrapping_add(k), v % 2 == 0), b);
    let (p, q) = pair_map(|x: i64| x * x - 3, (a % 1000) as i64, (b % 1000) as i64);
    let bo = both(|v| v + 1, |v| v.wrapping_mul(k), a % 10_000);
    [
        twice,
        again ^ lit,
        passed_on,
        folded,
        sum,
        three * 100 + after * 10 + c,
        o,
        p as u32,
        q as u32,
        bo,
    ]
}

map2!(k_closure_args, closure_args, u32, u32, [u32; 10]);

/// The kernel's own closures, capturing its scalar parameter and a local.
#[kernel(mode = "batch")]
fn kernel_closures(k0: u32, out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        let add = |v: u32| v + k0;
        out[i] = apply_twice(add, i as u32);
        out[i] += apply_twice(|v| v * 2, 1);
        let mut hits = 0u32;
        each_upto(
            |j| {
                if (j + k0) % 3 == 0 {
                    hits += 1;
                }
            },
            i as u32 % 10,
        );
        out[i] = out[i] * 100 + hits;
    }
}

fn kernel_closures_rust(k0: u32, i: u32) -> u32 {
    let add = |v: u32| v + k0;
    let mut v = apply_twice(add, i);
    v += apply_twice(|v| v * 2, 1);
    let mut hits = 0u32;
    each_upto(
        |j| {
            if (j + k0) % 3 == 0 {
                hits += 1;
            }
        },
        i % 10,
    );
    v * 100 + hits
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Tally {
    count: u32,
    sum: u64,
}

/// A ring handler's closure, changing the actor's state through the
/// reference it captures and reading the message.
#[kernel(mode = "ring")]
fn tally(state: &mut Tally, msg: u32) -> Tally {
    each_upto(
        |i| {
            state.count += 1;
            state.sum += (msg + i) as u64;
        },
        msg % 7,
    );
    *state
}

#[test]
fn ring_handler_closure_changes_the_state() {
    for dev in devices("ring_handler_closure_changes_the_state") {
        let mut actor = tally::spawn(&dev, Tally::default()).unwrap();
        let mut want = Tally::default();
        for msg in [0u32, 1, 6, 7, 13, 100, 1000] {
            for i in 0..msg % 7 {
                want.count += 1;
                want.sum += (msg + i) as u64;
            }
            assert_eq!(actor.call(msg).unwrap(), want, "on {}", dev.name());
        }
        assert_eq!(actor.shutdown().unwrap(), want);
    }
}

#[device]
fn for_range(mut f: impl FnMut(usize), lo: usize, hi: usize) {
    for i in lo..hi {
        f(i);
    }
}

/// Closures capturing the kernel's slices: read through a `&[T]`, written
/// through a `&mut [T]` (an `FnMut`), with their own bounds checks.
#[kernel(mode = "batch")]
fn window_sums(x: &[u32], width: usize, out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        let mut s = 0u32;
        for_range(|j| s = s.wrapping_add(x[j]), i, i + width);
        out[i] = s;
    }
}

#[kernel(mode = "batch")]
fn double_into(x: &[u32], out: &mut [u32]) {
    let i = global_index();
    if i == 0 {
        let n = out.len();
        for_range(|j| out[j] = x[j] * 2 + n as u32, 0, n);
    }
}

#[test]
fn closures_capture_slices() {
    let mut rng = common::rng("closures_capture_slices");
    let x: Vec<u32> = (0..64).map(|_| rng.u32(..1 << 20)).collect();
    for dev in devices("closures_capture_slices") {
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u32>(60).unwrap();
        window_sums::launch(&dev, Launch::for_elements(60), &xb, 4, &mut out).unwrap();
        let want: Vec<u32> = (0..60).map(|i| x[i..i + 4].iter().sum()).collect();
        assert_eq!(out.to_vec().unwrap(), want, "on {}", dev.name());

        let mut out = dev.zeros::<u32>(50).unwrap();
        double_into::launch(&dev, Launch::new(1, 32u32), &xb, &mut out).unwrap();
        let want: Vec<u32> = (0..50).map(|i| x[i] * 2 + 50).collect();
        assert_eq!(out.to_vec().unwrap(), want, "on {}", dev.name());

        // Past the end of `x` inside the closure: the fault names `x`.
        let mut out = dev.zeros::<u32>(64).unwrap();
        let e = window_sums::launch(&dev, Launch::for_elements(64), &xb, 4, &mut out).unwrap_err();
        match e.fault() {
            Some(f) => assert_eq!(
                f.kind,
                spindle::FaultKind::OutOfBounds { index: 64, len: 64 },
                "{e} on {}",
                dev.name()
            ),
            None => panic!("no fault on {}: {e}", dev.name()),
        }
        // At the closure's line in the kernel, which wrote it.
        let msg = e.to_string();
        let line = 1 + include_str!("idioms_closure_args.rs")
            .lines()
            .position(|l| l.contains("for_range(|j| s = s.wrapping_add(x[j])"))
            .unwrap();
        let at = format!("tests/idioms_closure_args.rs:{line} in `window_sums`");
        assert!(
            msg.contains("`x[64]` with length 64") && msg.contains(&at),
            "{msg}"
        );
    }
}

#[test]
fn closure_args_match_rust() {
    let mut rng = common::rng("closure_args_match_rust");
    let edges = [0, 1, 2, 16, 17, 100, u32::MAX, u32::MAX - 1];
    check_map!(
        k_closure_args,
        closure_args,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, u32::MAX)
    );
}

#[test]
fn kernel_closures_match_rust() {
    for dev in devices("kernel_closures_match_rust") {
        let mut out = dev.zeros::<u32>(200).unwrap();
        kernel_closures::launch(&dev, Launch::for_elements(200), 11, &mut out).unwrap();
        let want: Vec<u32> = (0..200).map(|i| kernel_closures_rust(11, i)).collect();
        assert_eq!(out.to_vec().unwrap(), want, "on {}", dev.name());
    }
}

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc(
        "every_kernel_here_compiles_with_nvrtc (idioms_closure_args)",
    );
}
