use spindle::prelude::*;

#[kernel(mode = "batch")]
fn peak(x: &[f32], out: &mut [f32]) {
    out[0] = x.iter().copied().max().unwrap_or(0.0);
}

fn main() {}
