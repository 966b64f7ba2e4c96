use spindle::prelude::*;

// An option given twice is an error at the second one, even when both
// agree: the attribute says one thing.
#[kernel(mode = "ring", threads = 32, threads = 64)]
fn tally(state: &mut u32, msg: u32) -> u32 {
    *state += msg;
    *state
}

#[kernel(mode = "batch", mode = "batch")]
fn fill(y: &mut [u32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = 1;
    }
}

fn main() {}
