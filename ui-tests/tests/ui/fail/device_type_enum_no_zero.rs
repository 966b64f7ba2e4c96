use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(u8)]
enum Level {
    Low = 1,
    High = 2,
}

fn main() {}
