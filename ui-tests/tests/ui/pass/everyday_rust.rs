// Everyday Rust in a kernel, as a user writes it: match, tuples and
// destructuring, iteration, sub-slices, closures, break with a value,
// Option values from device fns, struct update, mem::swap and assertions.
use spindle::prelude::*;

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Stats {
    min: u32,
    max: u32,
    sum: u32,
}

#[device]
fn first_even(xs: [u32; 4]) -> Option<u32> {
    for v in xs {
        if v % 2 == 0 {
            return Some(v);
        }
    }
    None
}

#[kernel(mode = "batch")]
fn summarize(x: &[u32], out: &mut [Stats], evens: &mut [u32]) {
    let i = global_index();
    if i >= out.len() {
        return;
    }
    let w = &x[i * 4..i * 4 + 4];
    let (head, tail) = w.split_at(2);
    let zero = Stats { min: 0, max: 0, sum: 0 };
    let mut s = Stats { min: u32::MAX, ..zero };
    for (k, &v) in w.iter().enumerate() {
        s.min = s.min.min(v);
        s.max = s.max.max(v);
        assert!(k < 4);
    }
    let add = |a: u32, b: u32| a.wrapping_add(b);
    s.sum = add(head.iter().sum(), tail.iter().sum());
    let (mut lo, mut hi) = (s.min, s.max);
    if lo > hi {
        core::mem::swap(&mut lo, &mut hi);
    }
    let steps = loop {
        if lo >= hi {
            break 0u32;
        }
        break match hi - lo {
            0..=9 => 1,
            10..=99 => 2,
            _ => 3,
        };
    };
    let arr = [w[0], w[1], w[2], w[3]];
    evens[i] = first_even(arr).unwrap_or(steps);
    out[i] = s;
}

fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let x: Vec<u32> = (0..32).map(|v| v * 7 % 23).collect();
    let xb = dev.upload(&x)?;
    let mut out = dev.zeros::<Stats>(8)?;
    let mut evens = dev.zeros::<u32>(8)?;
    summarize::launch(&dev, Launch::for_elements(8), &xb, &mut out, &mut evens)?;
    let got = out.to_vec()?;
    for (i, w) in x.chunks(4).enumerate() {
        let want = Stats {
            min: *w.iter().min().unwrap(),
            max: *w.iter().max().unwrap(),
            sum: w.iter().sum(),
        };
        assert_eq!(got[i], want);
    }
    Ok(())
}
