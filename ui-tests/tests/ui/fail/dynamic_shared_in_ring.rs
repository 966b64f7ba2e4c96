use spindle::prelude::*;

// A ring kernel is spawned, not launched: nothing sizes dynamic shared
// memory, so it declares a fixed-size `shared_array` instead.
#[kernel(mode = "ring")]
fn tally(state: &mut u32, msg: u32) -> u32 {
    let seen = dynamic_shared::<u32>();
    seen[thread_idx().x as usize] = msg;
    *state += msg;
    *state
}

fn main() {}
