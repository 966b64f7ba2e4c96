use spindle::prelude::*;

#[device]
fn apply(f: impl Fn(f32) -> f32, v: f32) -> f32 {
    f(v)
}

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let i = global_index();
    y[i] = apply(|v| v * 2.0, y[i]);
}

fn main() {}
