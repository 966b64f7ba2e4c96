//! The harness of the everyday-Rust tests: each construct lives in a
//! `#[device]` function (ordinary Rust on the host), a kernel maps it over
//! inputs, and every device's output is compared with Rust's own result.
#![allow(dead_code, unused_macros)]

use spindle::prelude::*;

/// A batch kernel `$kernel` mapping `$f` over one input slice.
macro_rules! map1 {
    ($kernel:ident, $f:ident, $a:ty, $r:ty) => {
        #[kernel(mode = "batch")]
        fn $kernel(a: &[$a], out: &mut [$r]) {
            let i = global_index();
            if i < out.len() {
                out[i] = $f(a[i]);
            }
        }
    };
}

/// A batch kernel `$kernel` mapping `$f` over two input slices.
macro_rules! map2 {
    ($kernel:ident, $f:ident, $a:ty, $b:ty, $r:ty) => {
        #[kernel(mode = "batch")]
        fn $kernel(a: &[$a], b: &[$b], out: &mut [$r]) {
            let i = global_index();
            if i < out.len() {
                out[i] = $f(a[i], b[i]);
            }
        }
    };
}

/// The CPU backend, and the GPU when there is one.
pub fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![super::common::cpu()];
    devs.extend(super::common::gpu(test));
    devs
}

/// Runs `$kernel` over inputs `$a` (and `$b`) on every device and checks
/// each output against `$f` run by Rust.
macro_rules! check_map {
    ($kernel:ident, $f:ident, $a:expr) => {{
        let a = $a;
        let want: Vec<_> = a.iter().map(|x| $f(*x)).collect();
        for dev in devices(stringify!($kernel)) {
            let ab = dev.upload(&a).unwrap();
            // Start from the last answer everywhere, so an element the
            // kernel skips is noticed.
            let mut out = dev.upload(&vec![want[want.len() - 1]; a.len()]).unwrap();
            $kernel::launch(&dev, Launch::for_elements(a.len()), &ab, &mut out).unwrap();
            let got = out.to_vec().unwrap();
            for i in 0..a.len() {
                assert!(
                    same(&got[i], &want[i]),
                    "{} on {} for input {:?}: kernel gave {:?}, Rust gives {:?}",
                    stringify!($f),
                    dev.name(),
                    a[i],
                    got[i],
                    want[i]
                );
            }
        }
    }};
    ($kernel:ident, $f:ident, $a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        let want: Vec<_> = a.iter().zip(&b).map(|(x, y)| $f(*x, *y)).collect();
        for dev in devices(stringify!($kernel)) {
            let ab = dev.upload(&a).unwrap();
            let bb = dev.upload(&b).unwrap();
            let mut out = dev.upload(&vec![want[want.len() - 1]; a.len()]).unwrap();
            $kernel::launch(&dev, Launch::for_elements(a.len()), &ab, &bb, &mut out).unwrap();
            let got = out.to_vec().unwrap();
            for i in 0..a.len() {
                assert!(
                    same(&got[i], &want[i]),
                    "{} on {} for inputs ({:?}, {:?}): kernel gave {:?}, Rust gives {:?}",
                    stringify!($f),
                    dev.name(),
                    a[i],
                    b[i],
                    got[i],
                    want[i]
                );
            }
        }
    }};
}

/// Bitwise equality (floats compared by bits, so `-0.0` and NaNs count).
pub fn same<T: std::fmt::Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

pub const N: usize = 2000;

/// `N` random `u32`s below `max`, starting with `edges`.
pub fn u32s(rng: &mut fastrand::Rng, edges: &[u32], max: u32) -> Vec<u32> {
    (0..N)
        .map(|i| edges.get(i).copied().unwrap_or_else(|| rng.u32(0..max)))
        .collect()
}
