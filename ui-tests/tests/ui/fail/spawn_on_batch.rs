use spindle::prelude::*;

#[kernel(mode = "batch")]
fn fill(y: &mut [u32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = 1;
    }
}

fn main() {
    let dev = Device::cpu();
    let _ = fill::spawn(&dev, 0u32);
}
