// Formerly rejected; `match` now lowers to the same `if` chain on every backend.
use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [u32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = match i {
            0 => 1,
            1..=3 => 2,
            _ => 3,
        };
    }
}

fn main() -> spindle::Result<()> {
    let dev = Device::cpu();
    let mut y = dev.zeros::<u32>(6)?;
    k::launch(&dev, Launch::for_elements(6), &mut y)?;
    assert_eq!(y.to_vec()?, vec![1, 2, 2, 2, 3, 3]);
    Ok(())
}
