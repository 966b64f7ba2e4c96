//! A block-wide ring handler: `threads = 64` runs the handler on 64 threads
//! of one block, like a batch body; each thread owns one lane of the state.
//! The threads count the lanes that reached a new maximum in a block-shared
//! counter (`shared_array`, `atomic_add`, `sync_threads`), and the reply is
//! thread 0's return value: that count.
//!
//! ```text
//! cargo run --release --example ring_block
//! ```

use spindle::prelude::*;

pub const LANES: usize = 64;

/// Per-lane running sums and maxima, updated by one thread each.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Lanes {
    pub sum: [f32; LANES],
    pub max: [f32; LANES],
    pub batches: u32,
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes {
            sum: [0.0; LANES],
            max: [f32::NEG_INFINITY; LANES],
            batches: 0,
        }
    }
}

/// One value per lane.
#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Batch {
    pub values: [f32; LANES],
}

/// Adds a batch to every lane; replies with how many lanes reached a new
/// maximum.
#[kernel(mode = "ring", threads = 64)]
pub fn accumulate(state: &mut Lanes, msg: Batch) -> u32 {
    let new_maxima = shared_array::<u32, 1>();
    let t = thread_idx().x as usize;
    if t == 0 {
        new_maxima[0] = 0;
        state.batches += 1;
    }
    sync_threads();
    state.sum[t] += msg.values[t];
    if msg.values[t] > state.max[t] {
        state.max[t] = msg.values[t];
        atomic_add(&mut new_maxima[0], 1);
    }
    // Every thread's count is in before thread 0 reads it.
    sync_threads();
    new_maxima[0]
}

/// The same update in plain Rust, as the reference.
pub fn accumulate_reference(state: &mut Lanes, msg: &Batch) -> u32 {
    let mut new_maxima = 0;
    for t in 0..LANES {
        state.sum[t] += msg.values[t];
        if msg.values[t] > state.max[t] {
            state.max[t] = msg.values[t];
            new_maxima += 1;
        }
    }
    state.batches += 1;
    new_maxima
}

/// A deterministic batch.
pub fn batch(i: u32) -> Batch {
    let mut values = [0.0f32; LANES];
    for (t, v) in values.iter_mut().enumerate() {
        *v = ((i as usize * LANES + t) % 97) as f32 * 0.25 - 5.0;
    }
    Batch { values }
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let mut actor = accumulate::spawn(&dev, Lanes::default())?;
    let mut reference = Lanes::default();
    let n = 1_000;
    let mut expected = Vec::new();
    for i in 0..n {
        actor.send(batch(i))?;
        expected.push(accumulate_reference(&mut reference, &batch(i)));
    }
    let mut in_order = true;
    for e in expected {
        in_order &= actor.recv()? == e;
    }
    let state = actor.shutdown()?;
    println!(
        "{n} batches over {LANES} lanes on {}: replies (new maxima per batch) match: {in_order}; final state matches: {}",
        dev.name(),
        state == reference
    );
    Ok(())
}
