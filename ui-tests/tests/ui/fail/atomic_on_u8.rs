use spindle::prelude::*;

#[kernel(mode = "batch")]
fn count(x: &[u32], hist: &mut [u8]) {
    let i = global_index();
    if i < x.len() {
        atomic_add(&mut hist[(x[i] % 16) as usize], 1);
    }
}

fn main() {}
