use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct Pair<T: Scalar> {
    lo: T,
    hi: T,
}

#[device]
impl<T: Num> Pair<f32> {
    fn lo(&self) -> f32 {
        self.lo
    }
}

#[device]
impl<T: Num> Pair<T> {
    const ZERO: f32 = 0.0;
}

fn main() {}
