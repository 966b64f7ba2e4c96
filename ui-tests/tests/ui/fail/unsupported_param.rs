use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(names: Vec<f32>, out: &mut [f32]) {
    out[0] = 1.0;
}

fn main() {}
