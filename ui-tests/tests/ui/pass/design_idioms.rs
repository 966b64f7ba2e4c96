// The everyday-Rust example of the README ("What a kernel can contain"), used from a kernel
// and a ring actor.
use spindle::prelude::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Vec2 { x: f32, y: f32 }

#[device]                       // methods, associated fns and consts usable in kernels
impl Vec2 {
    const ORIGIN: Vec2 = Vec2 { x: 0.0, y: 0.0 };
    fn new(x: f32, y: f32) -> Self { Vec2 { x, y } }
    fn dot(&self, o: Vec2) -> f32 { self.x * o.x + self.y * o.y }
    fn scale(&mut self, k: f32) { self.x *= k; self.y *= k; }
}

#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(u32)]                    // C-like enums: in buffers, messages, state, `match`
enum Op { Add, Mul, Halt }

#[kernel(mode = "batch")]
fn project(ops: &[Op], pts: &mut [Vec2], out: &mut [f32]) {
    let i = global_index();
    if i < pts.len() {
        let (k, halt) = match ops[i] {
            Op::Add => (1.0, false),
            Op::Mul => (2.0, false),
            Op::Halt => (0.0, true),
        };
        if !halt {
            pts[i].scale(k);
        }
        out[i] = pts[i].dot(Vec2::new(1.0, 1.0)) + Vec2::ORIGIN.x;
    }
}

#[kernel(mode = "ring")]
fn last_op(state: &mut Op, msg: Op) -> Op {
    let before = *state;
    *state = msg;
    before
}

fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let ops = dev.upload(&[Op::Add, Op::Mul, Op::Halt])?;
    let mut pts = dev.upload(&[Vec2::new(1.0, 2.0); 3])?;
    let mut out = dev.zeros::<f32>(3)?;
    project::launch(&dev, Launch::for_elements(3), &ops, &mut pts, &mut out)?;
    assert_eq!(out.to_vec()?, vec![3.0, 6.0, 3.0]);
    let mut actor = last_op::spawn(&dev, Op::Halt)?;
    assert_eq!(actor.call(Op::Add)?, Op::Halt);
    assert_eq!(actor.call(Op::Mul)?, Op::Add);
    assert_eq!(actor.shutdown()?, Op::Mul);
    Ok(())
}
