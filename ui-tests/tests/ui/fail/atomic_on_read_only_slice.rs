use spindle::prelude::*;

#[kernel(mode = "batch")]
fn count(hist: &[u32], x: &[u32]) {
    let i = global_index();
    if i < x.len() {
        atomic_add(&mut hist[(x[i] % 16) as usize], 1);
    }
}

fn main() {}
