use spindle::prelude::*;

#[derive(Clone, Copy)]
struct Plain {
    v: f32,
}

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Tagged<T: Scalar> {
    value: T,
    extra: Plain,
}

fn main() {}
