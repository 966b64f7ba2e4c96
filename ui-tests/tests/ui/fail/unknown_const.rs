use spindle::prelude::*;

const WINDOW: usize = 32;

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let i = global_index();
    y[i] = (i % WINDOWS) as f32;
}

fn main() {}
