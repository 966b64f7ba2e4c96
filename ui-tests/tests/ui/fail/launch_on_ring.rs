use spindle::prelude::*;

#[kernel(mode = "ring")]
fn counter(state: &mut u64, msg: u32) -> u64 {
    *state += msg as u64;
    *state
}

fn main() {
    let dev = Device::cpu();
    let _ = counter::launch(&dev, Launch::for_elements(1), 0u64, 1u32);
}
