use spindle::prelude::*;

#[kernel(mode = "ring")]
fn k(state: &mut u64, msg: u32, scale: u32) -> u64 {
    *state += (msg * scale) as u64;
    *state
}

fn main() {}
