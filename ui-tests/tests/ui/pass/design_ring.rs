// The README's ring example, as a user writes it.
use spindle::prelude::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Tally { count: u32, sum: f32 }
#[derive(Clone, Copy, Debug, DeviceType)]
#[repr(C)]
struct Add { value: f32 }

#[kernel(mode = "ring")]
fn tally(state: &mut Tally, msg: Add) -> Tally {
    state.count += 1;
    state.sum += msg.value;
    *state
}

fn main() -> spindle::Result<()> {
    let dev = Device::default()?;      // CUDA GPU 0 if usable, else CPU backend
    let mut actor = tally::spawn(&dev, Tally::default())?;
    let t = actor.call(Add { value: 2.0 })?;           // send + wait for the reply
    for _ in 0..1000 { actor.send(Add { value: 1.0 })?; }  // pipelined
    for _ in 0..1000 { let _reply = actor.recv()?; }       // replies in send order
    let last: Tally = actor.shutdown()?;                // drains, stops, returns state
    assert_eq!(t, Tally { count: 1, sum: 2.0 });
    assert_eq!(last, Tally { count: 1001, sum: 1002.0 });
    assert_eq!(tally::MODE, KernelMode::Ring);
    Ok(())
}
