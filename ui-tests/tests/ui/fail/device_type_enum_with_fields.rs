use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(u32)]
enum Shape {
    Dot,
    Circle(f32),
}

fn main() {}
