//! The first program: saxpy (`y = a·x + y`) as a batch kernel, then a
//! persistent ring actor that keeps a running tally in device memory.
//!
//! Runs on GPU 0 when CUDA is usable, else on the CPU backend
//! (`SPINDLE_BACKEND=cpu|cuda|auto` chooses).
//!
//! ```text
//! cargo run --release --example quickstart
//! ```

use spindle::prelude::*;

/// `y[i] = a * x[i] + y[i]` for every element.
#[kernel(mode = "batch")]
pub fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

/// The actor's state, kept in device memory between messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Tally {
    pub count: u32,
    pub sum: f32,
}

/// A message to the actor.
#[derive(Clone, Copy, Debug, DeviceType)]
#[repr(C)]
pub struct Add {
    pub value: f32,
}

/// The ring handler: one message in, one reply out, no launch per message.
#[kernel(mode = "ring")]
pub fn tally(state: &mut Tally, msg: Add) -> Tally {
    state.count += 1;
    state.sum += msg.value;
    *state
}

#[allow(dead_code)] // also compiled into tests/examples.rs, which has its own main
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    println!("backend: {} ({})", dev.backend(), dev.name());

    let n = 1 << 20;
    let x_host: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 0.5).collect();
    let y_host: Vec<f32> = (0..n).map(|i| (i % 7) as f32).collect();
    let x = dev.upload(&x_host)?;
    let mut y = dev.upload(&y_host)?;

    let start = std::time::Instant::now();
    saxpy::launch(&dev, Launch::for_elements(n), 3.0, &x, &mut y)?;
    let out = y.to_vec()?;
    let elapsed = start.elapsed();

    let wrong = out
        .iter()
        .zip(x_host.iter().zip(&y_host))
        .filter(|(got, (x, y))| **got != 3.0 * **x + **y)
        .count();
    println!(
        "saxpy over {n} elements in {:.2} ms: {}",
        elapsed.as_secs_f64() * 1e3,
        if wrong == 0 {
            "every element matches the Rust reference".to_string()
        } else {
            format!("{wrong} elements differ from the Rust reference")
        }
    );
    if wrong != 0 {
        std::process::exit(1);
    }

    let mut actor = tally::spawn(&dev, Tally::default())?;
    let first = actor.call(Add { value: 2.0 })?;
    let start = std::time::Instant::now();
    let calls = 1000;
    for _ in 0..calls {
        actor.call(Add { value: 1.0 })?;
    }
    let per_call = start.elapsed() / calls;
    for _ in 0..1000 {
        actor.send(Add { value: 1.0 })?; // pipelined
    }
    for _ in 0..1000 {
        actor.recv()?; // replies come in send order
    }
    let last = actor.shutdown()?;
    let expected = Tally {
        count: 2001,
        sum: 2002.0,
    };
    println!(
        "ring actor: first reply {first:?}, {} per call round trip, final state {last:?}: {}",
        if per_call.as_micros() > 0 {
            format!("{} µs", per_call.as_micros())
        } else {
            format!("{} ns", per_call.as_nanos())
        },
        if last == expected {
            "as expected"
        } else {
            "WRONG"
        }
    );
    if last != expected {
        std::process::exit(1);
    }
    Ok(())
}
