//! A moving-window statistic as a ring actor: the last 32 samples live in
//! the actor's state (an array in GPU memory); each sample is answered with
//! the window's mean, minimum and maximum.
//!
//! ```text
//! cargo run --release --example ring_window
//! ```

use spindle::prelude::*;

pub const WINDOW: usize = 32;

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Window {
    pub values: [f32; WINDOW],
    pub next: u32,
    pub filled: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Summary {
    pub mean: f32,
    pub min: f32,
    pub max: f32,
    pub count: u32,
}

/// Adds `sample` to the window and summarises the window.
#[kernel(mode = "ring")]
pub fn window(state: &mut Window, sample: f32) -> Summary {
    state.values[state.next as usize] = sample;
    state.next = (state.next + 1) % WINDOW as u32;
    if state.filled < WINDOW as u32 {
        state.filled += 1;
    }
    let mut sum = 0.0f32;
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for k in 0..state.filled as usize {
        let v = state.values[k];
        sum += v;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Summary {
        mean: sum / state.filled as f32,
        min: lo,
        max: hi,
        count: state.filled,
    }
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let mut actor = window::spawn(&dev, Window::default())?;
    let mut reference = Window::default();
    let mut matches = 0;
    let n = 2_000;
    for i in 0..n {
        let sample = ((i as f32) * 0.37).sin() * 10.0 + (i % 13) as f32;
        let got = actor.call(sample)?;
        if got == window(&mut reference, sample) {
            matches += 1;
        }
        if i == n - 1 {
            println!("last summary on {}: {got:?}", dev.name());
        }
    }
    let state = actor.shutdown()?;
    println!(
        "{n} samples: {matches}/{n} summaries match the host reference; final window matches: {}",
        state == reference
    );
    Ok(())
}
