use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Named {
    id: u32,
    name: *const u8,
    parts: (f32, f32),
}

fn main() {}
