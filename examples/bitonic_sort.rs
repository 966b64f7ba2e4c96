//! A multi-pass algorithm: bitonic sort of `u32` keys, one launch per
//! compare-and-swap stage, all in device memory.
//!
//! ```text
//! cargo run --release --example bitonic_sort
//! ```

use spindle::prelude::*;

/// One stage of the bitonic network: thread `i` compares `keys[i]` with
/// `keys[i ^ j]` and orders the pair by the direction bit `k` of `i`.
#[kernel(mode = "batch")]
pub fn bitonic_stage(j: u32, k: u32, keys: &mut [u32]) {
    let i = global_index() as u32;
    let partner = i ^ j;
    if partner > i && (partner as usize) < keys.len() {
        let a = keys[i as usize];
        let b = keys[partner as usize];
        let ascending = (i & k) == 0;
        if (a > b) == ascending {
            keys[i as usize] = b;
            keys[partner as usize] = a;
        }
    }
}

/// Sorts `keys` (length a power of two) on `dev`, returning the launches made.
///
/// # Errors
///
/// A length that is not a power of two, or a failed launch.
pub fn bitonic_sort(dev: &Device, keys: &mut Buffer<u32>) -> spindle::Result<u32> {
    let n = keys.len();
    if !n.is_power_of_two() {
        return Err(spindle::Error::Buffer(format!(
            "bitonic sort needs a power-of-two length, got {n} keys"
        )));
    }
    let mut launches = 0;
    let mut k = 2u32;
    while k as usize <= n {
        let mut j = k / 2;
        while j > 0 {
            bitonic_stage::launch(dev, Launch::for_elements(n), j, k, keys)?;
            launches += 1;
            j /= 2;
        }
        k *= 2;
    }
    Ok(launches)
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let n = 1 << 16;
    let mut state = 0x9e3779b9u32;
    let host: Vec<u32> = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        })
        .collect();
    let mut keys = dev.upload(&host)?;
    let launches = bitonic_sort(&dev, &mut keys)?;
    let got = keys.to_vec()?;
    let mut want = host.clone();
    want.sort_unstable();
    println!(
        "sorted {n} keys on {} in {launches} launches: {}",
        dev.name(),
        if got == want {
            "matches sort_unstable"
        } else {
            "WRONG"
        }
    );
    Ok(())
}
