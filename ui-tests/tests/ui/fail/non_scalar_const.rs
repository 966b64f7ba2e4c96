use spindle::prelude::*;

const WEIGHTS: [f32; 3] = [0.25, 0.5, 0.25];
const LABEL: &str = "blur";

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let i = global_index();
    y[i] = WEIGHTS[i % 3] * LABEL.len() as f32;
}

fn main() {}
