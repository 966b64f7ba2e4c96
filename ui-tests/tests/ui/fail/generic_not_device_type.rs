use spindle::prelude::*;

#[kernel(mode = "batch")]
fn axpy<T: Float>(a: T, x: &[T], y: &mut [T]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

fn main() {
    let _ = axpy::cuda_source::<String>();
    let _ = axpy::cuda_source::<u32>();
}
