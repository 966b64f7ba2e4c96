use spindle::prelude::*;

#[kernel(mode = "stream")]
fn k(x: &mut [f32]) {
    x[0] = 1.0;
}

fn main() {}
