use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let i = global_index();
    y[i] = y[i].to_string().len() as f32;
}

fn main() {}
