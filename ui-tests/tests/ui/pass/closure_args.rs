// Closures passed to `#[device]` fns: `impl Fn`, a type parameter
// `F: Fn(..)`, `impl FnMut`, passed on from one device fn to another.
use spindle::prelude::*;

#[device]
fn apply_twice(f: impl Fn(u32) -> u32, v: u32) -> u32 {
    f(f(v))
}

#[device]
fn fold<F: Fn(u32, u32) -> u32>(f: F, init: u32, n: u32) -> u32 {
    let mut acc = init;
    for i in 0..n {
        acc = f(acc, i);
    }
    acc
}

#[device]
fn each(mut f: impl FnMut(u32), n: u32) {
    for i in 0..n {
        f(i);
    }
}

#[device]
fn twice_plus_one(f: impl Fn(u32) -> u32, v: u32) -> u32 {
    apply_twice(f, v) + 1
}

#[kernel(mode = "batch")]
fn k(k0: u32, out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        let add = |v: u32| v + k0;
        out[i] = apply_twice(add, i as u32);
        out[i] += apply_twice(|v| v * 2, 1);
        out[i] += fold(|a, j| a * 3 + j, 1, 4) + twice_plus_one(add, 2);
        let mut count = 0u32;
        each(|j| count += j, k0);
        out[i] += count;
    }
}

fn main() {}
