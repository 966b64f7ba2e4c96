//! A 2-D grid: a 3×3 box blur over a grayscale image, one thread per pixel,
//! launched with 16×16 blocks.
//!
//! ```text
//! cargo run --release --example blur_2d
//! ```

use spindle::prelude::*;

/// Averages each pixel with its in-bounds neighbours.
#[kernel(mode = "batch")]
pub fn box_blur(width: u32, height: u32, src: &[f32], dst: &mut [f32]) {
    let x = block_idx().x * block_dim().x + thread_idx().x;
    let y = block_idx().y * block_dim().y + thread_idx().y;
    if x >= width || y >= height {
        return;
    }
    let mut sum = 0.0f32;
    let mut count = 0u32;
    for dy in 0..3u32 {
        for dx in 0..3u32 {
            // Neighbour (x + dx - 1, y + dy - 1), skipping those outside.
            let nx = x + dx;
            let ny = y + dy;
            if nx >= 1 && ny >= 1 && nx - 1 < width && ny - 1 < height {
                sum += src[((ny - 1) * width + (nx - 1)) as usize];
                count += 1;
            }
        }
    }
    dst[(y * width + x) as usize] = sum / count as f32;
}

/// The launch geometry covering a `width`×`height` image with 16×16 blocks.
pub fn blur_launch(width: u32, height: u32) -> Launch {
    Launch::new((width.div_ceil(16), height.div_ceil(16)), (16, 16))
}

/// The same blur in plain Rust, as the reference.
pub fn blur_reference(width: u32, height: u32, src: &[f32]) -> Vec<f32> {
    let (w, h) = (width as i64, height as i64);
    let mut out = vec![0.0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0.0f32;
            let mut count = 0u32;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx >= 0 && ny >= 0 && nx < w && ny < h {
                        sum += src[(ny * w + nx) as usize];
                        count += 1;
                    }
                }
            }
            out[(y * w + x) as usize] = sum / count as f32;
        }
    }
    out
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let (width, height) = (640u32, 480u32);
    let src: Vec<f32> = (0..width * height)
        .map(|i| ((i * 2654435761u32) >> 24) as f32 / 255.0)
        .collect();
    let input = dev.upload(&src)?;
    let mut output = dev.zeros::<f32>(src.len())?;
    box_blur::launch(
        &dev,
        blur_launch(width, height),
        width,
        height,
        &input,
        &mut output,
    )?;
    let got = output.to_vec()?;
    let want = blur_reference(width, height, &src);
    let max_err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "blurred {width}x{height} on {}: max difference from the Rust reference {max_err:e}",
        dev.name()
    );
    Ok(())
}
