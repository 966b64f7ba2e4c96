use spindle::prelude::*;

#[kernel(mode = "ring")]
fn k(msg: f32) -> f32 {
    msg * 2.0
}

fn main() {}
