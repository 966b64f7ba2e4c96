use spindle::prelude::*;

#[kernel(mode = "batch", block = 128)]
fn k(x: &mut [f32]) {
    x[0] = 1.0;
}

fn main() {}
