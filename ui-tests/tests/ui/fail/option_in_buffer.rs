use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(x: &[Option<u32>], y: &mut [u32]) {
    let i = global_index();
    y[i] = x[i].unwrap_or(0);
}

fn main() {}
