use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let i = global_index();
    println!("{}", i);
    y[i] = 0.0;
}

fn main() {}
