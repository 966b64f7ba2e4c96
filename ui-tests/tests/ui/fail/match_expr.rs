use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [u32]) {
    let i = global_index();
    y[i] = match i {
        0 => 1,
        _ => 2,
    };
}

fn main() {}
