use spindle::prelude::*;

#[device]
fn apply(f: impl Fn(u32) -> u32, v: u32) -> u32 {
    f(v)
}

#[kernel(mode = "batch")]
fn k(x: &[u32], y: &mut [u32]) {
    let i = global_index();
    let tile = shared_array::<u32, 32>();
    tile[i % 32] = x[i];
    // Block-shared memory stays in the function that declares it.
    y[i] = apply(|v| v + tile[0], 1);
    let w = &x[0..2];
    // So does a sub-slice.
    y[i] = apply(|v| v + w[1], 2);
    let double = |v: u32| v * 2;
    // A passed closure does not call another closure.
    y[i] = apply(|v| double(v) + 1, 3);
}

fn main() {}
