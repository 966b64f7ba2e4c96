use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k<T: Copy>(x: &[T], y: &mut [T]) {
    let i = global_index();
    y[i] = x[i];
}

fn main() {}
