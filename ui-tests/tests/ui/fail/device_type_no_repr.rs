use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
struct Point {
    x: f32,
    y: f32,
}

fn main() {}
