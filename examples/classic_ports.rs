//! Five classic CUDA programs written as spindle kernels the way a CUDA
//! programmer would port them: `u32` index arithmetic from `thread_idx()`
//! and `block_idx()`, then `as usize` to index. Each runs here against a
//! plain Rust reference; `tests/classic_ports.rs` also compiles each next
//! to its CUDA original with NVRTC and compares their registers.
//!
//! - `matrix_mul_32`: a tiled matrix multiply, one 32×32 block per 32×32
//!   tile of the result, the tiles of both operands staged in shared memory
//!   (the `MatrixMulCUDA<32>` kernel of NVIDIA's CUDA samples);
//! - `reduce_sum`: a block-wide sum in dynamic shared memory, each thread
//!   adding two elements on load, then a tree of halving strides;
//! - `transpose_32`: a transpose through a 32×33 shared tile (the padding
//!   column avoids shared-memory bank conflicts), 32×8 threads per tile;
//! - `stencil_1d`: a radius-3 stencil over a shared tile with halos;
//! - `vector_add`: one element per thread.
//!
//! ```text
//! cargo run --release --example classic_ports
//! ```

use spindle::prelude::*;

/// Side of the tiles of `matrix_mul_32` and `transpose_32`.
pub const TILE: u32 = 32;
/// Rows of threads per block in `transpose_32` (each copies 4 rows).
pub const TRANSPOSE_ROWS: u32 = 8;
/// The transpose tile: 32 rows of 33 (one padding column).
pub const TRANSPOSE_TILE: usize = 32 * 33;
/// Radius of `stencil_1d`.
pub const RADIUS: u32 = 3;
/// Threads per block of `stencil_1d`.
pub const STENCIL_BLOCK: u32 = 256;
/// The stencil's shared tile: a block plus a halo on each side.
pub const STENCIL_TILE: usize = 262;

/// `c = a · b` for row-major `a` (`wa` columns) and `b` (`wb` columns),
/// both widths multiples of 32; launched as `(wb / 32, rows / 32)` blocks
/// of 32×32 threads.
#[kernel(mode = "batch")]
pub fn matrix_mul_32(c: &mut [f32], a: &[f32], b: &[f32], wa: u32, wb: u32) {
    let a_tile = shared_array::<f32, 1024>();
    let b_tile = shared_array::<f32, 1024>();
    let bx = block_idx().x;
    let by = block_idx().y;
    let tx = thread_idx().x;
    let ty = thread_idx().y;
    // The first and last tile of `a` this block reads, and the first of `b`.
    let a_first = wa * 32 * by;
    let a_last = a_first + wa - 1;
    let mut ia = a_first;
    let mut ib = 32 * bx;
    let mut sum = 0.0f32;
    while ia <= a_last {
        a_tile[(ty * 32 + tx) as usize] = a[(ia + wa * ty + tx) as usize];
        b_tile[(ty * 32 + tx) as usize] = b[(ib + wb * ty + tx) as usize];
        sync_threads();
        for k in 0..32u32 {
            sum += a_tile[(ty * 32 + k) as usize] * b_tile[(k * 32 + tx) as usize];
        }
        sync_threads();
        ia += 32;
        ib += 32 * wb;
    }
    let ic = wb * 32 * by + 32 * bx;
    c[(ic + wb * ty + tx) as usize] = sum;
}

/// `sums[block]` = the sum of the block's `2 * block_dim` elements of `x`
/// (those past the end count as 0); the launch gives each block
/// `block_dim * 4` bytes of dynamic shared memory and a power-of-two
/// block size.
#[kernel(mode = "batch")]
pub fn reduce_sum(x: &[f32], sums: &mut [f32], n: u32) {
    let partial = dynamic_shared::<f32>();
    let tid = thread_idx().x;
    let i = block_idx().x * (block_dim().x * 2) + thread_idx().x;
    let mut sum = if i < n { x[i as usize] } else { 0.0 };
    if i + block_dim().x < n {
        sum += x[(i + block_dim().x) as usize];
    }
    partial[tid as usize] = sum;
    sync_threads();
    let mut s = block_dim().x / 2;
    while s > 0 {
        if tid < s {
            sum += partial[(tid + s) as usize];
            partial[tid as usize] = sum;
        }
        sync_threads();
        s >>= 1;
    }
    if tid == 0 {
        sums[block_idx().x as usize] = sum;
    }
}

/// `out` (`height` × `width`) = the transpose of `input` (`width` ×
/// `height`, row-major), both sides multiples of 32; launched as
/// `(width / 32, height / 32)` blocks of 32×8 threads.
#[kernel(mode = "batch")]
pub fn transpose_32(out: &mut [f32], input: &[f32], width: u32, height: u32) {
    let tile = shared_array::<f32, TRANSPOSE_TILE>();
    let tx = thread_idx().x;
    let ty = thread_idx().y;
    let x_in = block_idx().x * 32 + tx;
    let y_in = block_idx().y * 32 + ty;
    let x_out = block_idx().y * 32 + tx;
    let y_out = block_idx().x * 32 + ty;
    for j in (0..32u32).step_by(8) {
        tile[((ty + j) * 33 + tx) as usize] = input[((y_in + j) * width + x_in) as usize];
    }
    sync_threads();
    for j in (0..32u32).step_by(8) {
        out[((y_out + j) * height + x_out) as usize] = tile[(tx * 33 + ty + j) as usize];
    }
}

/// `out[g]` = the sum of `input[g .. g + 7]`: a radius-3 stencil over an
/// input padded by 3 on each side (`input.len() == out.len() + 6`);
/// launched as blocks of 256 threads covering `out` exactly.
#[kernel(mode = "batch")]
pub fn stencil_1d(input: &[i32], out: &mut [i32]) {
    let tile = shared_array::<i32, STENCIL_TILE>();
    let g = block_idx().x * block_dim().x + thread_idx().x;
    let local = thread_idx().x + RADIUS;
    // `input[g + RADIUS]` is the centre of output `g`.
    tile[local as usize] = input[(g + RADIUS) as usize];
    if thread_idx().x < RADIUS {
        tile[(local - RADIUS) as usize] = input[g as usize];
        tile[(local + STENCIL_BLOCK) as usize] = input[(g + RADIUS + STENCIL_BLOCK) as usize];
    }
    sync_threads();
    let mut sum = 0i32;
    for offset in -3i32..=3 {
        sum = sum.wrapping_add(tile[(local as i32 + offset) as usize]);
    }
    out[g as usize] = sum;
}

/// `c = a + b`, one element per thread.
#[kernel(mode = "batch")]
pub fn vector_add(a: &[f32], b: &[f32], c: &mut [f32], n: u32) {
    let i = block_dim().x * block_idx().x + thread_idx().x;
    if i < n {
        c[i as usize] = a[i as usize] + b[i as usize];
    }
}

/// The launch of `matrix_mul_32` for a `rows × wb` result.
pub fn matrix_mul_launch(rows: u32, wb: u32) -> Launch {
    Launch::new((wb / TILE, rows / TILE, 1), (TILE, TILE, 1))
}

/// `a · b` in plain Rust, summing in the kernel's order.
pub fn matrix_mul_reference(a: &[f32], b: &[f32], wa: usize, wb: usize) -> Vec<f32> {
    let rows = a.len() / wa;
    let mut c = vec![0.0f32; rows * wb];
    for r in 0..rows {
        for col in 0..wb {
            let mut sum = 0.0f32;
            for k in 0..wa {
                sum += a[r * wa + k] * b[k * wb + col];
            }
            c[r * wb + col] = sum;
        }
    }
    c
}

/// The launch of `reduce_sum` for `n` elements in blocks of `block`
/// threads (a power of two).
pub fn reduce_launch(n: u32, block: u32) -> Launch {
    let blocks = n.div_ceil(2 * block).max(1);
    Launch::new(blocks, block).shared_bytes(block * 4)
}

/// The per-block sums of `reduce_sum` in plain Rust, adding in the
/// kernel's order (the tree of halving strides).
pub fn reduce_reference(x: &[f32], block: usize) -> Vec<f32> {
    let blocks = x.len().div_ceil(2 * block).max(1);
    (0..blocks)
        .map(|b| {
            let at = |i: usize| x.get(i).copied().unwrap_or(0.0);
            let mut p: Vec<f32> = (0..block)
                .map(|t| {
                    let i = b * 2 * block + t;
                    let mut s = at(i);
                    if i + block < x.len() {
                        s += at(i + block);
                    }
                    s
                })
                .collect();
            let mut s = block / 2;
            while s > 0 {
                for t in 0..s {
                    p[t] += p[t + s];
                }
                s /= 2;
            }
            p[0]
        })
        .collect()
}

/// The launch of `transpose_32` for a `width × height` input.
pub fn transpose_launch(width: u32, height: u32) -> Launch {
    Launch::new((width / TILE, height / TILE, 1), (TILE, TRANSPOSE_ROWS, 1))
}

/// The launch of `stencil_1d` for `n` outputs (a multiple of 256).
pub fn stencil_launch(n: u32) -> Launch {
    Launch::new(n / STENCIL_BLOCK, STENCIL_BLOCK)
}

/// The stencil in plain Rust.
pub fn stencil_reference(input: &[i32]) -> Vec<i32> {
    input
        .windows(2 * RADIUS as usize + 1)
        .map(|w| w.iter().fold(0i32, |s, &v| s.wrapping_add(v)))
        .collect()
}

fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    println!("running on {}", dev.name());

    let (rows, wa, wb) = (128usize, 96usize, 64usize);
    let a: Vec<f32> = (0..rows * wa).map(|i| (i % 7) as f32 - 3.0).collect();
    let b: Vec<f32> = (0..wa * wb).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = dev.zeros::<f32>(rows * wb)?;
    let launch = matrix_mul_launch(rows as u32, wb as u32);
    let (ab, bb) = (dev.upload(&a)?, dev.upload(&b)?);
    matrix_mul_32::launch(&dev, launch, &mut c, &ab, &bb, wa as u32, wb as u32)?;
    assert_eq!(c.to_vec()?, matrix_mul_reference(&a, &b, wa, wb));
    println!("matrix_mul_32: {rows}x{wa} · {wa}x{wb} matches");

    let x: Vec<f32> = (0..10_000).map(|i| (i % 13) as f32).collect();
    let mut sums = dev.zeros::<f32>(x.len().div_ceil(512))?;
    let xb = dev.upload(&x)?;
    reduce_sum::launch(
        &dev,
        reduce_launch(x.len() as u32, 256),
        &xb,
        &mut sums,
        x.len() as u32,
    )?;
    assert_eq!(sums.to_vec()?, reduce_reference(&x, 256));
    println!("reduce_sum: {} elements match", x.len());

    let (w, h) = (96usize, 64usize);
    let m: Vec<f32> = (0..w * h).map(|i| i as f32).collect();
    let mut t = dev.zeros::<f32>(w * h)?;
    let mb = dev.upload(&m)?;
    transpose_32::launch(
        &dev,
        transpose_launch(w as u32, h as u32),
        &mut t,
        &mb,
        w as u32,
        h as u32,
    )?;
    let t = t.to_vec()?;
    assert!((0..h).all(|y| (0..w).all(|x| t[x * h + y] == m[y * w + x])));
    println!("transpose_32: {w}x{h} matches");

    let n = 1024usize;
    let input: Vec<i32> = (0..n + 6).map(|i| (i as i32 * 37) % 101 - 50).collect();
    let mut out = dev.zeros::<i32>(n)?;
    let ib = dev.upload(&input)?;
    stencil_1d::launch(&dev, stencil_launch(n as u32), &ib, &mut out)?;
    assert_eq!(out.to_vec()?, stencil_reference(&input));
    println!("stencil_1d: {n} outputs match");

    let n = 50_000usize;
    let x: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let y: Vec<f32> = (0..n).map(|i| (n - i) as f32).collect();
    let mut z = dev.zeros::<f32>(n)?;
    let (xb, yb) = (dev.upload(&x)?, dev.upload(&y)?);
    vector_add::launch(&dev, Launch::for_elements(n), &xb, &yb, &mut z, n as u32)?;
    assert!(z.to_vec()?.iter().all(|&v| v == n as f32));
    println!("vector_add: {n} elements match");
    Ok(())
}
