use spindle::prelude::*;

#[derive(Clone, Copy, DeviceType)]
#[repr(C)]
struct V {
    x: f32,
}

#[device]
impl core::ops::Neg for V {
    type Output = V;
    fn neg(self) -> V {
        V { x: -self.x }
    }
}

fn main() {}
