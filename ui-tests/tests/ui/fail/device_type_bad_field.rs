use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Named<'a> {
    id: u32,
    name: &'a str,
}

fn main() {}
