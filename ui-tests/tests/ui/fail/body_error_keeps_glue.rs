use spindle::prelude::*;

// Errors in a kernel's body are the only errors: the host glue is still
// generated from the signature, so the calls in `main` type-check.
#[kernel(mode = "batch")]
fn scale(a: f32, y: &mut [f32]) {
    let i = global_index();
    println!("{}", i);
    y[i] *= a;
}

#[kernel(mode = "ring")]
fn count(state: &mut u32, msg: u32) -> u32 {
    let seen = vec![msg];
    *state += 1;
    *state
}

fn main() -> spindle::Result<()> {
    let dev = Device::cpu();
    let mut y = dev.upload(&[1.0f32; 4])?;
    scale::launch(&dev, Launch::for_elements(4), 2.0, &mut y)?;
    let mut actor = count::spawn(&dev, 0)?;
    actor.call(1)?;
    Ok(())
}
