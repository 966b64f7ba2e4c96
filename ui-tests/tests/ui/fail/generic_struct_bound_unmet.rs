use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Pair<T: Num> {
    lo: T,
    hi: T,
}

#[kernel(mode = "batch")]
fn flags(x: &mut [Pair<bool>]) {
    let i = global_index();
    if i < x.len() {
        x[i].lo = x[i].hi;
    }
}

fn main() {}
