use spindle::prelude::*;

#[device]
fn stage(v: f32) -> f32 {
    let tile = shared_array::<f32, 256>();
    tile[thread_idx().x as usize] = v;
    sync_threads();
    tile[0]
}

fn main() {}
