//! Block-shared memory, barriers, atomics and warp shuffles: a byte
//! histogram and a sum, the two classic uses.
//!
//! - `histogram`: each block counts its bytes into a block-shared
//!   histogram with shared-memory atomics, then adds it into the global one
//!   with one global atomic per bin — far fewer global atomics than one per
//!   byte.
//! - `block_sums`: each warp sums its values with `warp_shuffle_down`, the
//!   warps' sums meet in a shared array, and warp 0 adds them up.
//!
//! ```text
//! cargo run --release --example histogram
//! ```

use spindle::prelude::*;

/// Bins of the histogram: one per byte value.
pub const BINS: usize = 256;
/// Threads per block of both kernels.
pub const BLOCK: u32 = 256;

#[kernel(mode = "batch")]
pub fn histogram(data: &[u8], bins: &mut [u32]) {
    let local = shared_array::<u32, BINS>();
    let t = thread_idx().x as usize;
    // The block's threads clear the shared histogram together.
    let mut b = t;
    while b < BINS {
        local[b] = 0;
        b += block_dim().x as usize;
    }
    sync_threads();
    // Grid-stride loop: every thread counts many bytes.
    let stride = (grid_dim().x * block_dim().x) as usize;
    let mut i = global_index();
    while i < data.len() {
        atomic_add(&mut local[data[i] as usize], 1);
        i += stride;
    }
    sync_threads();
    let mut b = t;
    while b < BINS {
        let count = local[b];
        if count > 0 {
            atomic_add(&mut bins[b], count);
        }
        b += block_dim().x as usize;
    }
}

/// `sums[block] = values[block * 256 ..][..256]` summed (wrapping); the last
/// block may be short.
#[kernel(mode = "batch")]
pub fn block_sums(values: &[u32], sums: &mut [u32]) {
    let warp_sums = shared_array::<u32, 32>();
    let i = global_index();
    let mut v = if i < values.len() { values[i] } else { 0 };
    // Reduce within the warp: after the loop lane 0 holds the warp's sum.
    let mut delta = 16;
    while delta > 0 {
        v = v.wrapping_add(warp_shuffle_down(v, delta));
        delta /= 2;
    }
    let lane = lane_id() as usize;
    let warp = thread_idx().x as usize / 32;
    if lane == 0 {
        warp_sums[warp] = v;
    }
    sync_threads();
    if warp == 0 {
        let warps = (block_dim().x as usize + 31) / 32;
        let mut w = if lane < warps { warp_sums[lane] } else { 0 };
        let mut delta = 16;
        while delta > 0 {
            w = w.wrapping_add(warp_shuffle_down(w, delta));
            delta /= 2;
        }
        if lane == 0 {
            sums[block_idx().x as usize] = w;
        }
    }
}

/// The launch both kernels use for `n` elements.
pub fn launch_for(n: usize) -> Launch {
    let blocks = n.div_ceil(BLOCK as usize).max(1);
    Launch::new(blocks as u32, BLOCK)
}

/// The histogram in plain Rust, as the reference.
pub fn histogram_reference(data: &[u8]) -> Vec<u32> {
    let mut bins = vec![0u32; BINS];
    for &b in data {
        bins[b as usize] += 1;
    }
    bins
}

/// The block sums in plain Rust, as the reference.
pub fn block_sums_reference(values: &[u32]) -> Vec<u32> {
    values
        .chunks(BLOCK as usize)
        .map(|c| c.iter().fold(0u32, |a, &v| a.wrapping_add(v)))
        .collect()
}

/// Deterministic, skewed bytes (so some bins are hot).
pub fn sample_bytes(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = (x >> 32) as u32;
            if r.is_multiple_of(4) {
                b' '
            } else {
                (r % 256) as u8
            }
        })
        .collect()
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    println!("backend: {}", dev.name());

    let data = sample_bytes(1 << 20);
    let data_buf = dev.upload(&data)?;
    let mut bins = dev.zeros::<u32>(BINS)?;
    // A few blocks, each striding over the data: most counting stays in
    // shared memory.
    histogram::launch(&dev, Launch::new(64u32, BLOCK), &data_buf, &mut bins)?;
    let bins = bins.to_vec()?;
    let ok = bins == histogram_reference(&data);
    println!(
        "histogram of {} bytes: {} spaces, check {}",
        data.len(),
        bins[b' ' as usize],
        if ok { "ok" } else { "FAILED" }
    );

    let values: Vec<u32> = (0..100_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    let values_buf = dev.upload(&values)?;
    let launch = launch_for(values.len());
    let mut sums = dev.zeros::<u32>(values.len().div_ceil(BLOCK as usize))?;
    block_sums::launch(&dev, launch, &values_buf, &mut sums)?;
    let sums_ok = sums.to_vec()? == block_sums_reference(&values);
    println!(
        "block sums of {} values: check {}",
        values.len(),
        if sums_ok { "ok" } else { "FAILED" }
    );
    if !(ok && sums_ok) {
        std::process::exit(1);
    }
    Ok(())
}
