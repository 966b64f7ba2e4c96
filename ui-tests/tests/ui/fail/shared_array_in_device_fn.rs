use spindle::prelude::*;

#[device]
fn stage(v: f32) -> f32 {
    let tile = shared_array::<f32, 256>();
    tile[thread_idx().x as usize] = v;
    sync_threads();
    tile[0]
}

// A kernel calling the rejected helper gets no second error.
#[kernel(mode = "batch")]
fn uses_stage(x: &mut [f32]) {
    let i = global_index();
    x[i] = stage(x[i]);
}

fn main() {}
