use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct S {
    v: f32,
}

#[kernel(mode = "ring", threads = 2048)]
fn k(state: &mut S, msg: f32) -> f32 {
    state.v += msg;
    state.v
}

fn main() {}
