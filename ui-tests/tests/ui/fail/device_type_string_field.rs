use spindle::prelude::*;

#[derive(Clone, DeviceType)]
#[repr(C)]
struct Label {
    id: u32,
    text: String,
}

fn main() {}
