use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Pair<T> {
    lo: T,
    hi: T,
}

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Sized<T: Scalar, const N: usize> {
    v: [T; N],
}

fn main() {}
