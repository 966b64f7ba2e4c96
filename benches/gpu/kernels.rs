//! The kernels the benchmarks time (beside the examples' own).

use spindle::prelude::*;

/// The trivial kernel of the launch-overhead figures: one add per thread.
#[kernel(mode = "batch")]
pub fn touch(out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        out[i] += 1;
    }
}

/// The ring handler's work as a batch kernel (one thread): add the message
/// to the state, which is also the reply.
#[kernel(mode = "batch")]
pub fn bump_batch(msg: u32, state: &mut [u32]) {
    if global_index() == 0 {
        state[0] += msg;
    }
}
