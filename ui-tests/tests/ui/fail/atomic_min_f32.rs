use spindle::prelude::*;

#[kernel(mode = "batch")]
fn lowest(x: &[f32], low: &mut [f32]) {
    let i = global_index();
    if i < x.len() {
        atomic_min(&mut low[0], x[i]);
    }
}

fn main() {}
