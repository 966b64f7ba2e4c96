use spindle::prelude::*;

trait Weight {}

#[kernel(mode = "batch")]
fn weigh<T: Weight>(x: &mut [f32]) {
    x[0] = 1.0;
}

#[device]
fn halve<const H: f32>(x: f32) -> f32 {
    x * 0.5
}

fn main() {}
