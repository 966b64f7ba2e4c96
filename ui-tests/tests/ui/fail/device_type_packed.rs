use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C, packed)]
struct Tight {
    a: u8,
    b: u32,
}

fn main() {}
