use spindle::prelude::*;

#[kernel(mode = "batch")]
fn k(y: &mut [f32]) {
    let clamp = |v: f32| {
        if v < 0.0 {
            return 0.0;
        }
        v
    };
    let i = global_index();
    y[i] = clamp(y[i]);
}

fn main() {}
