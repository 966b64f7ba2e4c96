//! Everyday Rust in kernels, continued: iteration over arrays, slices and
//! shared arrays (with `sum`, `product`, `min` and `max`), and sub-slices —
//! run on the CPU backend (and a GPU when present) against Rust's own
//! result, as in `idioms.rs`.

mod common;
#[macro_use]
#[path = "common/idioms.rs"]
mod harness;

use harness::*;
use spindle::prelude::*;

// --------------------------------------------------------------- iteration

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct P2 {
    x: f32,
    y: f32,
}

#[device]
impl P2 {
    fn dot(&self, o: P2) -> f32 {
        self.x * o.x + self.y * o.y
    }
    fn scale(&mut self, k: f32) {
        self.x *= k;
        self.y *= k;
    }
}

#[device]
fn iterate_arrays(a: u32, b: u32) -> [u32; 8] {
    let arr = [a, b, a ^ b, a.wrapping_mul(3), b / 3 + 1];
    let mut s = 0u32;
    for v in arr {
        s = s.wrapping_add(v);
    }
    let mut t = 0u32;
    for v in arr.iter() {
        t = t.wrapping_mul(31).wrapping_add(*v);
    }
    let mut w = 0u32;
    for (i, v) in arr.iter().enumerate() {
        w ^= v.rotate_left(i as u32);
    }
    let mut r = 0u32;
    for (i, &v) in arr.iter().enumerate().rev() {
        r = r.wrapping_mul(7).wrapping_add(v ^ i as u32);
    }
    let mut q = 0u32;
    for (i, v) in arr.iter().rev().enumerate() {
        q = q.wrapping_mul(5).wrapping_add(v.wrapping_add(i as u32));
    }
    // By value, Rust iterates a copy: changing the array does not change
    // the items.
    let mut m = arr;
    let mut c = 0u32;
    for v in m {
        m[0] = m[0].wrapping_add(v);
        m[4] = 9;
        c = c.wrapping_mul(3).wrapping_add(v);
    }
    let mut z = arr;
    for v in z.iter_mut() {
        *v = v.wrapping_mul(2) ^ 1;
    }
    for v in &mut z {
        *v = v.wrapping_add(1);
    }
    for &v in &arr {
        t ^= v;
    }
    for v in [1u32, 2, 3].iter().copied() {
        t = t.wrapping_add(v);
    }
    [s, t, w, r, q, c ^ m[0] ^ m[4], z[0] ^ z[4], z[2]]
}

#[device]
fn folds(a: u32, b: u32) -> [u32; 4] {
    let small = [a % 1000, b % 1000, (a ^ b) % 1000];
    let s: u32 = small.iter().sum();
    let p = [a % 100 + 1, b % 100, 3].iter().product::<u32>();
    let nested = [[a % 7, b % 7], [a % 5, 1]];
    let mut n = 0u32;
    for row in nested {
        for (j, v) in row.iter().enumerate() {
            n = n * 10 + v * (j as u32 + 1);
        }
    }
    let mut e = 0u32;
    for v in [a, b].iter().rev() {
        e = e.wrapping_mul(1000).wrapping_add(*v);
    }
    [s, p, n, e]
}

#[device]
fn float_folds(x: f32) -> [f32; 5] {
    let v = [x, -x, 0.5 * x, -0.0];
    let s: f32 = v.iter().sum();
    // Summed in the iteration's order: 1.0 reversed, 0.0 forward.
    let r: f32 = [1.0f32, 1e8 * x.signum(), -1e8].iter().rev().sum();
    let neg_zeros = [-0.0f32, -0.0];
    let z: f32 = neg_zeros.iter().sum();
    let pr: f32 = [x, 2.0, -1.5].iter().product();
    let pts = [P2 { x, y: 1.0 }, P2 { x: 2.0, y: x }];
    let mut d = 0.0;
    for p in pts.iter() {
        d += p.dot(P2 { x: 1.0, y: 2.0 });
    }
    let mut scaled = pts;
    for p in scaled.iter_mut() {
        p.scale(3.0);
    }
    [s, z, pr, d + scaled[1].x + scaled[0].y, r]
}

map2!(k_iterate_arrays, iterate_arrays, u32, u32, [u32; 8]);
map2!(k_folds, folds, u32, u32, [u32; 4]);
map1!(k_float_folds, float_folds, f32, [f32; 5]);

/// Every thread reads all of `x` (a short slice); thread 0 also rewrites
/// `y` through `iter_mut`.
#[kernel(mode = "batch")]
fn slice_iteration(x: &[u32], y: &mut [u32], out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        let mut s = 0u32;
        for v in x {
            s = s.wrapping_mul(3).wrapping_add(*v);
        }
        for (k, v) in x.iter().enumerate() {
            if k == i % x.len() {
                s ^= *v << 3;
            }
        }
        let t: u32 = x.iter().sum();
        out[i] = s ^ t;
    }
    if i == 0 {
        for v in y.iter_mut() {
            *v = v.wrapping_mul(3) + 1;
        }
        for (k, v) in y.iter_mut().enumerate() {
            *v ^= k as u32;
        }
    }
}

/// A block-shared tile read with `.iter()` after thread 0 rewrote it
/// with `iter_mut`.
#[kernel(mode = "batch")]
fn shared_iteration(x: &[u32], out: &mut [u32]) {
    let tile = shared_array::<u32, 64>();
    let t = thread_idx().x as usize;
    let i = global_index();
    tile[t] = if i < x.len() { x[i] } else { 0 };
    sync_threads();
    if t == 0 {
        for v in tile.iter_mut() {
            *v = v.wrapping_add(1);
        }
    }
    sync_threads();
    let mut s = 0u32;
    for (k, v) in tile.iter().enumerate() {
        s = s.wrapping_add(*v ^ k as u32);
    }
    let total: u32 = tile.iter().sum();
    if i < out.len() {
        out[i] = s ^ (total << 1);
    }
}

#[test]
fn iteration_over_arrays_matches_rust() {
    let mut rng = common::rng("iteration_over_arrays_matches_rust");
    let edges = [0, 1, u32::MAX, 16, 17, 999, 1000];
    check_map!(
        k_iterate_arrays,
        iterate_arrays,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, u32::MAX)
    );
    check_map!(
        k_folds,
        folds,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, u32::MAX)
    );
    let mut floats: Vec<f32> = (0..N).map(|_| rng.f32() * 20.0 - 10.0).collect();
    floats[..4].copy_from_slice(&[0.0, -0.0, f32::INFINITY, f32::NAN]);
    check_map!(k_float_folds, float_folds, floats);
}

#[test]
fn iteration_over_slices_and_shared_arrays() {
    let mut rng = common::rng("iteration_over_slices_and_shared_arrays");
    for dev in devices("iteration_over_slices_and_shared_arrays") {
        let x: Vec<u32> = (0..13).map(|_| rng.u32(..)).collect();
        let y: Vec<u32> = (0..300).map(|_| rng.u32(..)).collect();
        let n = 500;
        let (xb, mut yb) = (dev.upload(&x).unwrap(), dev.upload(&y).unwrap());
        let mut out = dev.zeros::<u32>(n).unwrap();
        slice_iteration::launch(&dev, Launch::for_elements(n), &xb, &mut yb, &mut out).unwrap();
        let mut want_s = 0u32;
        for v in &x {
            want_s = want_s.wrapping_mul(3).wrapping_add(*v);
        }
        let t = x.iter().fold(0u32, |a, v| a.wrapping_add(*v));
        let got = out.to_vec().unwrap();
        for (i, g) in got.iter().enumerate() {
            let s = want_s ^ (x[i % x.len()] << 3);
            assert_eq!(*g, s ^ t, "out[{i}] on {}", dev.name());
        }
        let want_y: Vec<u32> = y
            .iter()
            .enumerate()
            .map(|(k, v)| (v.wrapping_mul(3).wrapping_add(1)) ^ k as u32)
            .collect();
        assert_eq!(yb.to_vec().unwrap(), want_y, "y on {}", dev.name());

        let x: Vec<u32> = (0..200).map(|_| rng.u32(..)).collect();
        let xb = dev.upload(&x).unwrap();
        let mut out = dev.zeros::<u32>(x.len()).unwrap();
        let blocks = x.len().div_ceil(64) as u32;
        shared_iteration::launch(&dev, Launch::new(blocks, 64), &xb, &mut out).unwrap();
        let got = out.to_vec().unwrap();
        for (b, chunk) in got.chunks(64).enumerate() {
            let tile: Vec<u32> = (0..64)
                .map(|t| x.get(b * 64 + t).copied().unwrap_or(0).wrapping_add(1))
                .collect();
            let s = tile
                .iter()
                .enumerate()
                .fold(0u32, |a, (k, v)| a.wrapping_add(v ^ k as u32));
            let total = tile.iter().fold(0u32, |a, v| a.wrapping_add(*v));
            for (t, g) in chunk.iter().enumerate() {
                assert_eq!(
                    *g,
                    s ^ (total << 1),
                    "block {b} thread {t} on {}",
                    dev.name()
                );
            }
        }
    }
}

// ---------------------------------------------------------- min and max

#[device]
fn extremes(a: u32, b: u32) -> [i64; 8] {
    // Negative and positive `i32`s.
    let s = [
        a as i32,
        (b % 2000) as i32 - 1000,
        (a ^ b) as i32,
        -((b % 7) as i32),
    ];
    let mx = s.iter().copied().max().unwrap_or(0) as i64;
    let mn = if let Some(&m) = s.iter().min() {
        m as i64
    } else {
        1
    };
    let bytes = [a as u8, b as u8, (a >> 8) as u8];
    let bmax = bytes.iter().max().copied().unwrap_or(0) as i64;
    let signed = [a as i8, b as i8, (a >> 16) as i8];
    let smin = match signed.iter().rev().min() {
        Some(v) => *v as i64,
        None => 2,
    };
    let wide = [a as u64 * b as u64, (a as u64) << 31, u64::MAX - b as u64];
    let wmin = wide.iter().cloned().min().unwrap_or(0) as i64;
    let halves = [
        a as i16,
        (b as i16).wrapping_neg(),
        i16::MIN + (a % 3) as i16,
    ];
    let hmax = halves.iter().max().copied().unwrap_or(0) as i64;
    // A prefix of `s`, empty one time in four: `None`.
    let n = (a % 4) as usize;
    let part = &s[..n];
    let pmax = match part.iter().copied().max() {
        Some(v) => v as i64,
        None => -7777,
    };
    let pmin = if part.iter().min().is_none() {
        -8888
    } else {
        part.iter().min().copied().unwrap_or(0) as i64
    };
    // A reference item and an `Option<&T>`'s value kept in plain `let`s.
    let mut refs = 0i64;
    for v in s.iter() {
        let r = v;
        refs += *r as i64;
    }
    if let Some(m) = s.iter().max() {
        let top = m;
        refs += *top as i64;
    }
    [mx, mn, bmax, smin, wmin, hmax, pmax, pmin + refs]
}

map2!(k_extremes, extremes, u32, u32, [i64; 8]);

/// Each thread takes the least and greatest item of the window
/// `x[i..i + 3]` (clamped to the end, so empty past it) and the greatest
/// of its block's tile of `x`.
#[kernel(mode = "batch")]
fn window_extremes(x: &[i32], lo: &mut [i64], hi: &mut [i64], top: &mut [i64]) {
    let tile = shared_array::<i32, 64>();
    let t = thread_idx().x as usize;
    let i = global_index();
    let n = x.len();
    tile[t] = if i < n { x[i] } else { i32::MIN };
    sync_threads();
    if i < lo.len() {
        let w = &x[i.min(n)..(i + 3).min(n)];
        lo[i] = match w.iter().min() {
            Some(&v) => v as i64,
            None => i64::MIN,
        };
        hi[i] = if let Some(v) = w.iter().max() {
            *v as i64
        } else {
            i64::MAX
        };
        top[i] = tile.iter().copied().max().unwrap_or(0) as i64;
    }
}

#[test]
fn min_and_max_match_rust() {
    let mut rng = common::rng("min_and_max_match_rust");
    let edges = [0, 1, u32::MAX, 4, 5, 255, 256, 1 << 31, 65535];
    check_map!(
        k_extremes,
        extremes,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, u32::MAX)
    );
    for dev in devices("min_and_max_match_rust") {
        let x: Vec<i32> = (0..150).map(|_| rng.i32(-1000..1000)).collect();
        let threads = 192;
        let xb = dev.upload(&x).unwrap();
        let (mut lo, mut hi, mut top) = (
            dev.zeros::<i64>(threads).unwrap(),
            dev.zeros::<i64>(threads).unwrap(),
            dev.zeros::<i64>(threads).unwrap(),
        );
        window_extremes::launch(
            &dev,
            Launch::new(threads as u32 / 64, 64),
            &xb,
            &mut lo,
            &mut hi,
            &mut top,
        )
        .unwrap();
        let (lo, hi, top) = (
            lo.to_vec().unwrap(),
            hi.to_vec().unwrap(),
            top.to_vec().unwrap(),
        );
        for i in 0..threads {
            let w = &x[i.min(x.len())..(i + 3).min(x.len())];
            let want_lo = w.iter().min().map_or(i64::MIN, |&v| v as i64);
            let want_hi = w.iter().max().map_or(i64::MAX, |&v| v as i64);
            let b = i / 64 * 64;
            let tile = (b..b + 64).map(|k| x.get(k).copied().unwrap_or(i32::MIN));
            let want_top = tile.max().unwrap_or(0) as i64;
            let got = (lo[i], hi[i], top[i]);
            assert_eq!(
                got,
                (want_lo, want_hi, want_top),
                "thread {i} on {}",
                dev.name()
            );
        }
    }
}

// ------------------------------------------------------------- sub-slices

#[device]
fn array_views(a: u32, b: u32) -> [u32; 6] {
    let arr = [a, b, a ^ b, a.wrapping_mul(3), b / 3 + 1, 7];
    let k = (b % 7) as usize;
    let w = &arr[1..4];
    let mut s = 0u32;
    for v in w {
        s = s.wrapping_mul(3).wrapping_add(*v);
    }
    let tail = &arr[k..];
    let t: u32 = tail.iter().sum();
    let head = &arr[..=k.min(5)];
    let (l, r) = arr.split_at(k.min(6));
    let inner = &w[1..];
    [
        s,
        t,
        head.len() as u32 + l.len() as u32 * 10,
        r.len() as u32,
        inner[0] ^ inner[1],
        w[2],
    ]
}

map2!(k_array_views, array_views, u32, u32, [u32; 6]);

/// Each thread sums a window `x[i..i + 4]` (clamped to the end) and its
/// two halves, and thread 0 doubles `y[2..]` through a `&mut` view.
#[kernel(mode = "batch")]
fn windows(x: &[u32], y: &mut [u32], out: &mut [u32]) {
    let i = global_index();
    if i < out.len() {
        let end = (i + 4).min(x.len());
        let w = &x[i..end];
        let (l, r) = w.split_at(w.len() / 2);
        let mut s = 0u32;
        for (k, v) in w.iter().enumerate() {
            s = s.wrapping_add(*v * (k as u32 + 1));
        }
        let ls: u32 = l.iter().sum();
        let rs: u32 = r.iter().sum();
        out[i] = s ^ (ls << 1) ^ (rs << 2) ^ (w.len() as u32) << 28;
    }
    if i == 0 {
        let tail = &mut y[2..];
        for v in tail.iter_mut() {
            *v = v.wrapping_mul(2);
        }
        tail[0] = 99;
        let (a, b) = y.split_at_mut(1);
        a[0] = b.len() as u32;
    }
}

/// Makes `x[from..to]` and reads element `at` of it.
#[kernel(mode = "batch")]
fn view_fault(x: &[u32], from: usize, to: usize, at: usize, out: &mut [u32]) {
    let w = &x[from..to];
    out[0] = w[at];
}

#[test]
fn sub_slices_match_rust() {
    let mut rng = common::rng("sub_slices_match_rust");
    let edges = [0, 1, u32::MAX, 6, 13, 999, 1000];
    check_map!(
        k_array_views,
        array_views,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, u32::MAX)
    );
    for dev in devices("sub_slices_match_rust") {
        let x: Vec<u32> = (0..300).map(|_| rng.u32(..1 << 20)).collect();
        let y: Vec<u32> = (0..50).map(|_| rng.u32(..)).collect();
        let (xb, mut yb) = (dev.upload(&x).unwrap(), dev.upload(&y).unwrap());
        let mut out = dev.zeros::<u32>(x.len()).unwrap();
        windows::launch(&dev, Launch::for_elements(x.len()), &xb, &mut yb, &mut out).unwrap();
        let got = out.to_vec().unwrap();
        for i in 0..x.len() {
            let w = &x[i..(i + 4).min(x.len())];
            let (l, r) = w.split_at(w.len() / 2);
            let s = w
                .iter()
                .enumerate()
                .fold(0u32, |s, (k, v)| s.wrapping_add(v * (k as u32 + 1)));
            let want = s
                ^ (l.iter().sum::<u32>() << 1)
                ^ (r.iter().sum::<u32>() << 2)
                ^ (w.len() as u32) << 28;
            assert_eq!(got[i], want, "out[{i}] on {}", dev.name());
        }
        let mut want_y = y.clone();
        for v in want_y[2..].iter_mut() {
            *v = v.wrapping_mul(2);
        }
        want_y[2] = 99;
        want_y[0] = 49;
        assert_eq!(yb.to_vec().unwrap(), want_y, "y on {}", dev.name());
    }
}

#[test]
fn sub_slices_are_checked_when_made_and_when_indexed() {
    for dev in devices("sub_slices_are_checked_when_made_and_when_indexed") {
        let xb = dev.upload(&[1u32, 2, 3, 4, 5, 6, 7, 8, 9, 10]).unwrap();
        let mut out = dev.zeros::<u32>(1).unwrap();
        let run = |from, to, at, out: &mut Buffer<u32>| {
            view_fault::launch(&dev, Launch::new(1, 1), &xb, from, to, at, out)
        };
        run(2, 6, 3, &mut out).unwrap();
        assert_eq!(out.to_vec().unwrap(), [6], "on {}", dev.name());
        // (from, to, at) → (index, len) the fault records, and what it names.
        for (from, to, at, index, len, what) in [
            // The end past the slice, though `w[0]` would be inside it.
            (2, 12, 0, 12, 10, "`x[from..to][12]` with length 10"),
            // The start after the end.
            (5, 3, 0, 5, 3, "`x[from..to][5]` with length 3"),
            // Past the view, though inside the slice.
            (2, 6, 4, 4, 4, "`w[4]` with length 4"),
        ] {
            let e = run(from, to, at, &mut out).unwrap_err();
            match e.fault() {
                Some(f) => assert_eq!(
                    f.kind,
                    spindle::FaultKind::OutOfBounds { index, len },
                    "{e} on {}",
                    dev.name()
                ),
                None => panic!("x[{from}..{to}][{at}] on {}: {e}", dev.name()),
            }
            let msg = e.to_string();
            assert!(msg.contains(what), "{msg}");
        }
    }
}

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_kernel_here_compiles_with_nvrtc (idioms_iter)");
}
