// The README's batch example, as a user writes it.
use spindle::prelude::*;

#[kernel(mode = "batch")]
fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();            // usize, x dimension
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let x = dev.upload(&[1.0f32; 1024])?;
    let mut y = dev.upload(&vec![2.0f32; 1024])?;
    saxpy::launch(&dev, Launch::for_elements(1024), 3.0, &x, &mut y)?;
    let out: Vec<f32> = y.to_vec()?;
    assert!(out.iter().all(|&v| v == 5.0));
    assert_eq!(saxpy::MODE, KernelMode::Batch);
    Ok(())
}
