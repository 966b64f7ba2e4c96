use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [u32]) {
    let i = global_index();
    let (0, j) = (i, i + 1);
    y[i] = j as u32;
}

fn main() {}
