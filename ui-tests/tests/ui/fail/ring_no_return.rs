use spindle::prelude::*;

#[kernel(mode = "ring")]
fn k(state: &mut u64, msg: u32) {
    *state += msg as u64;
}

fn main() {}
