use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(x: &[f32], out: &mut [f32]) {
    let i = global_index();
    let a = warp_shuffle_up_width(x[i], 1, 12);
    let b = warp_shuffle_xor_width(x[i], 1, 64);
    out[i] = a + b + warp_shuffle_down_width(x[i], 1, 0);
}

fn main() {}
