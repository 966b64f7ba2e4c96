use spindle::prelude::*;

fn helper(v: f32) -> f32 {
    v * 2.0
}

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let i = global_index();
    y[i] = helper(y[i]);
}

fn main() {}
