use spindle::prelude::*;

#[kernel(mode = "batch")]
async fn k(y: &mut [f32]) {
    y[0] = 1.0;
}

fn main() {}
