use spindle::prelude::*;

#[device]
fn half(v: u32) -> Option<u32> {
    if v % 2 == 0 {
        Some(v / 2)
    } else {
        None
    }
}

#[kernel(mode = "batch")]
fn k(x: &[u32], y: &mut [u32]) {
    let i = global_index();
    let Some(h) = half(x[i]);
    y[i] = h;
}

fn main() {}
