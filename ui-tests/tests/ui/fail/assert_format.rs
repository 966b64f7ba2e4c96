use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(x: &[u32], y: &mut [u32]) {
    let i = global_index();
    assert!(x[i] < 10, "x[{}] = {} is too big", i, x[i]);
    y[i] = x[i];
}

fn main() {}
