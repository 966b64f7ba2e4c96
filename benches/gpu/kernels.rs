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

/// The ring figures' handler: add the message to the state, reply with it.
#[kernel(mode = "ring")]
pub fn bump(state: &mut u32, msg: u32) -> u32 {
    *state += msg;
    *state
}

/// An 8-byte message.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Msg8 {
    pub words: [u32; 2],
}

/// A 64-byte message.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Msg64 {
    pub words: [u32; 16],
}

/// A 256-byte message.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Msg256 {
    pub words: [u32; 64],
}

/// Pipelined figures: the handler reads the message's first word.
#[kernel(mode = "ring")]
pub fn sink8(state: &mut u32, msg: Msg8) -> u32 {
    *state += msg.words[0];
    *state
}

#[kernel(mode = "ring")]
pub fn sink64(state: &mut u32, msg: Msg64) -> u32 {
    *state += msg.words[0];
    *state
}

#[kernel(mode = "ring")]
pub fn sink256(state: &mut u32, msg: Msg256) -> u32 {
    *state += msg.words[0];
    *state
}
