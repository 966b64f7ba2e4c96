use spindle::prelude::*;

#[kernel(mode = "ring")]
fn k(state: u64, msg: u32) -> u64 {
    state + msg as u64
}

fn main() {}
