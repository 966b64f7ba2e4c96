use spindle::prelude::*;

#[kernel(mode = "batch")]
fn axpy<T: Float>(a: T, x: &[T], y: &mut [T]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

#[device]
fn clamp01<T: Float>(v: T) -> T {
    v.max(T::ZERO).min(T::ONE)
}

#[kernel(mode = "batch")]
fn block_sum<const B: usize>(x: &[u32], out: &mut [u32]) {
    let tile = shared_array::<u32, B>();
    let t = thread_idx().x as usize;
    tile[t] = x[block_idx().x as usize * B + t];
    sync_threads();
    if t == 0 {
        let mut s = 0;
        for k in 0..B {
            s += tile[k];
        }
        out[block_idx().x as usize] = s;
    }
}

#[kernel(mode = "ring")]
fn accumulate<T: Float>(state: &mut T, msg: T) -> T {
    *state = clamp01(*state + msg);
    *state
}

#[kernel(mode = "batch")]
fn bits<T: Int + AtomicInt>(x: &[T], out: &mut [u32], hist: &mut [T]) {
    let i = global_index();
    if i < x.len() {
        out[i] = x[i].count_ones() + (x[i] >> 1).leading_zeros();
        atomic_add(&mut hist[0], x[i] & T::ONE);
        let _wide: f64 = x[i].cast::<f64>();
    }
}

fn main() -> spindle::Result<()> {
    let dev = Device::cpu();
    let n = 8;
    let x64 = dev.upload(&vec![1.0f64; n])?;
    let mut y64 = dev.upload(&vec![1.0f64; n])?;
    axpy::launch(&dev, Launch::for_elements(n), 2.0f64, &x64, &mut y64)?;
    let x32 = dev.upload(&vec![1.0f32; n])?;
    let mut y32 = dev.upload(&vec![1.0f32; n])?;
    axpy::launch::<f32>(&dev, Launch::for_elements(n), 2.0, &x32, &mut y32)?;
    let x = dev.upload(&vec![1u32; 512])?;
    let mut out = dev.zeros::<u32>(2)?;
    block_sum::launch::<256>(&dev, Launch::new(2u32, 256u32), &x, &mut out)?;
    let _src: String = axpy::cuda_source::<f32>();
    let mut acc = accumulate::spawn(&dev, 0.0f64)?;
    acc.call(0.5)?;
    acc.shutdown()?;
    let _ = bits::cuda_source::<u64>();
    Ok(())
}
