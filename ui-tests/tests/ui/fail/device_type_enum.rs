use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
enum Kind {
    A,
    B,
}

fn main() {}
