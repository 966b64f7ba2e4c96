use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let double = |v: f32| v * 2.0;
    let i = global_index();
    let f = double;
    y[i] = f(y[i]);
}

fn main() {}
