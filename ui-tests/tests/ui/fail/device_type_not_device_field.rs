use spindle::prelude::*;

#[derive(Clone, Copy)]
struct Plain {
    v: f32,
}

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Outer {
    inner: Plain,
}

fn main() {}
