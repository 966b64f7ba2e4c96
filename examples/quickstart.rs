//! The first program: saxpy (`y = a·x + y`) as a batch kernel.
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
    Ok(())
}
