use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Pair {
    a: f32,
    b: f32,
}

#[kernel(mode = "batch")]
fn k(p: &[Pair], out: &mut [Pair]) {
    let i = global_index();
    let mine = p[i];
    out[i] = warp_shuffle_down(mine, 1);
}

fn main() {}
