//! A multi-pass algorithm: bitonic sort of `u32` keys, one launch per
//! compare-and-swap stage, all in device memory — launched one by one
//! (each waits for its kernel), queued all at once on a [`Queue`] (one
//! wait at the end), or recorded once into a [`Graph`] and replayed.
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
    stages(keys.len(), |j, k| {
        bitonic_stage::launch(dev, Launch::for_elements(keys.len()), j, k, keys)
    })
}

/// Queues every stage of the sort on `q` and returns before they run
/// (`keys.to_vec()` or `q.sync()` waits for them); returns the launches
/// queued.
///
/// # Errors
///
/// A length that is not a power of two, or a launch refused when queued.
pub fn bitonic_sort_queued(q: &Queue, keys: &mut Buffer<u32>) -> spindle::Result<u32> {
    stages(keys.len(), |j, k| {
        bitonic_stage::enqueue(q, Launch::for_elements(keys.len()), j, k, keys)
    })
}

/// Records every stage of the sort of `keys` into a graph: each
/// `graph.launch(&q)` then sorts whatever `keys` holds.
///
/// # Errors
///
/// As [`bitonic_sort_queued`], or what the driver refuses when the CUDA
/// graph is built.
pub fn bitonic_sort_graph(q: &Queue, keys: &mut Buffer<u32>) -> spindle::Result<Graph> {
    q.record(|q| bitonic_sort_queued(q, keys).map(|_| ()))
}

/// Calls `stage(j, k)` for every stage of the network over `n` keys, in
/// order; returns how many.
fn stages(
    n: usize,
    mut stage: impl FnMut(u32, u32) -> spindle::Result<()>,
) -> spindle::Result<u32> {
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
            stage(j, k)?;
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
    let verdict = |ok: bool| if ok { "matches sort_unstable" } else { "WRONG" };
    println!(
        "sorted {n} keys on {} in {launches} launches: {}",
        dev.name(),
        verdict(got == want)
    );
    let q = match dev.queue() {
        Ok(q) => q,
        Err(e) => {
            println!("queued and graph variants skipped: {e}");
            return Ok(());
        }
    };
    let mut keys = dev.upload(&host)?;
    bitonic_sort_queued(&q, &mut keys)?;
    println!("queued: {}", verdict(keys.to_vec()? == want));
    let mut keys = dev.upload(&host)?;
    match bitonic_sort_graph(&q, &mut keys) {
        Ok(graph) => {
            graph.launch(&q)?;
            println!(
                "graph of {} launches: {}",
                graph.len(),
                verdict(keys.to_vec()? == want)
            );
        }
        Err(e) => println!("graph variant skipped: {e}"),
    }
    q.sync()
}
