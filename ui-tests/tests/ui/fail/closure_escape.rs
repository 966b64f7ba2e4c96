use spindle::prelude::*;

// A closure cannot leave the function that makes it: returned, ...
#[device]
fn make_adder(k: u32) -> impl Fn(u32) -> u32 {
    move |v| v + k
}

// ... or stored.
#[device]
fn keep<F: Fn(u32) -> u32>(f: F) -> u32 {
    let stored = (f, 1u32);
    stored.1
}

// A kernel takes values and slices, not closures.
#[kernel(mode = "batch")]
fn k(f: impl Fn(u32) -> u32, y: &mut [u32]) {
    y[0] = 1;
}

fn main() {}
