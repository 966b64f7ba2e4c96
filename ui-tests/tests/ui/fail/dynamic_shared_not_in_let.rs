use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let i = global_index();
    dynamic_shared::<f32>()[thread_idx().x as usize] = y[i];
    sync_threads();
}

fn main() {}
