use spindle::prelude::*;

#[kernel(mode = "batch")]
fn count(x: &[u32], out: &mut [u32]) {
    let mut hits = 0u32;
    let i = global_index();
    if i < x.len() && x[i] > 10 {
        atomic_add(&mut hits, 1);
    }
    out[i] = hits;
}

fn main() {}
