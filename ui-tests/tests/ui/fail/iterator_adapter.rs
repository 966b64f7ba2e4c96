use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(x: &[f32], y: &mut [f32]) {
    let mut s = 0.0;
    for (a, b) in x.iter().zip(y.iter()) {
        s += a * b;
    }
    y[0] = s;
}

fn main() {}
