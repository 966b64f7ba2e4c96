//! Iteration (`for v in arr`, `.iter()`, `.iter_mut()`, `.enumerate()`,
//! `.rev()`, `.iter().sum()`) over arrays, slices and shared arrays,
//! sub-slices and their checks, closures and `Option`s, linked from Rust
//! source, emitted, compiled as host C++ and run against the same
//! functions run by rustc here.

use super::harness::*;
use super::idioms::{link_rust, map_launch, outputs};
use spindle_codegen::ir::Scalar;
use Scalar::*;

twin! { ITERATE: fn iterate(a: u32, b: u32) -> [u32; 6] {
    let arr = [a, b, a ^ b, a.wrapping_mul(3), b / 3 + 1];
    let mut s = 0u32;
    for v in arr {
        s = s.wrapping_mul(3).wrapping_add(v);
    }
    let mut w = 0u32;
    for (i, v) in arr.iter().enumerate() {
        w ^= v.rotate_left(i as u32);
    }
    let mut r = 0u32;
    for (i, &v) in arr.iter().enumerate().rev() {
        r = r.wrapping_mul(7).wrapping_add(v ^ i as u32);
    }
    let mut m = arr;
    let mut c = 0u32;
    for v in m {
        m[0] = m[0].wrapping_add(v);
        c = c.wrapping_mul(3).wrapping_add(v);
    }
    let mut z = arr;
    for v in z.iter_mut() {
        *v = v.wrapping_mul(2) ^ 1;
    }
    let small = [a % 1000, b % 1000, 7];
    let t: u32 = small.iter().sum();
    let p = small.iter().rev().product::<u32>();
    [s, w, r, c ^ m[0], z[1] ^ z[3], t ^ p]
} }

#[test]
fn cuda_host_iteration_over_arrays_slices_and_shared_arrays() {
    require_gxx!();
    let u32s: Vec<u32> = (0..200).chain([u32::MAX, 1000, 27, 77]).collect();
    let bs: Vec<u32> = u32s.iter().map(|v| v.wrapping_mul(2654435761)).collect();
    let bits = |v: &[u32]| v.iter().map(|x| *x as u64).collect::<Vec<_>>();
    let map = link_rust(
        "fn k_iterate(a: &[u32], b: &[u32], out: &mut [u32]) {
            let i = global_index();
            if i < a.len() {
                for (k, v) in iterate(a[i], b[i]).iter().enumerate() { out[i * 6 + k] = *v; }
            }
        }",
        &[ITERATE],
        &[],
    );
    let slices = link_rust(
        "fn k_slices(x: &[u32], y: &mut [u32], out: &mut [u32]) {
            let i = global_index();
            if i < out.len() {
                let mut s = 0u32;
                for v in x { s = s.wrapping_mul(3).wrapping_add(*v); }
                let t: u32 = x.iter().sum();
                out[i] = s ^ t;
            }
            if i == 0 {
                for (k, v) in y.iter_mut().enumerate() { *v = v.wrapping_mul(3) ^ k as u32; }
            }
        }",
        &[],
        &[],
    );
    let shared = link_rust(
        "fn k_shared(x: &[u32], out: &mut [u32]) {
            let tile = shared_array::<u32, 32>();
            let t = thread_idx().x as usize;
            let i = global_index();
            tile[t] = x[i];
            sync_threads();
            if t == 0 {
                for v in tile.iter_mut() { *v = v.wrapping_add(1); }
            }
            sync_threads();
            let mut s = 0u32;
            for (k, v) in tile.iter().enumerate().rev() { s = s.wrapping_mul(5).wrapping_add(*v ^ k as u32); }
            out[i] = s;
        }",
        &[],
        &[],
    );
    let x: Vec<u32> = (0..64u32).map(|v| v.wrapping_mul(0x9e37_79b9)).collect();
    let y: Vec<u32> = (0..40u32).map(|v| v * 11 + 3).collect();
    let launches = [
        map_launch(map, &[(U32, bits(&u32s)), (U32, bits(&bs))], U32, 6),
        Launch {
            kernel: slices,
            slices: vec![
                (U32, bits(&x[..13]), false),
                (U32, bits(&y), true),
                (U32, vec![0; 50], true),
            ],
            grid: 2,
            block: 32,
            concurrent: false,
            shared_bytes: 0,
        },
        Launch {
            kernel: shared,
            slices: vec![(U32, bits(&x), false), (U32, vec![0; 64], true)],
            grid: 2,
            block: 32,
            concurrent: true,
            shared_bytes: 0,
        },
    ];
    let r = run("idioms_iter", &launches, "-O1");
    for name in ["k_iterate", "k_slices", "k_shared"] {
        assert_eq!(r.faults[name][0], 0, "{name} faulted: {:?}", r.faults[name]);
    }
    let got = outputs(&r, "k_iterate", 2, u32s.len(), 6);
    for t in 0..u32s.len() {
        let want: Vec<u64> = iterate(u32s[t], bs[t]).iter().map(|v| *v as u64).collect();
        assert_eq!(got[t], want, "k_iterate, thread {t}");
    }
    let xs = &x[..13];
    let s = xs
        .iter()
        .fold(0u32, |s, v| s.wrapping_mul(3).wrapping_add(*v));
    let t = xs.iter().fold(0u32, |s, v| s.wrapping_add(*v));
    for i in 0..50 {
        assert_eq!(
            r.values[&("k_slices".to_string(), 2, i)],
            (s ^ t) as u64,
            "out[{i}]"
        );
    }
    for (k, v) in y.iter().enumerate() {
        let want = v.wrapping_mul(3) ^ k as u32;
        assert_eq!(
            r.values[&("k_slices".to_string(), 1, k)],
            want as u64,
            "y[{k}]"
        );
    }
    for b in 0..2 {
        let tile: Vec<u32> = x[b * 32..][..32]
            .iter()
            .map(|v| v.wrapping_add(1))
            .collect();
        let s = tile.iter().enumerate().rev().fold(0u32, |s, (k, v)| {
            s.wrapping_mul(5).wrapping_add(v ^ k as u32)
        });
        for t in 0..32 {
            let got = r.values[&("k_shared".to_string(), 1, b * 32 + t)];
            assert_eq!(got, s as u64, "k_shared block {b} thread {t}");
        }
    }
}

twin! { VIEWS: fn views(a: u32, b: u32) -> [u32; 6] {
    let arr = [a, b, a ^ b, a.wrapping_mul(3), b / 3 + 1, 7];
    let k = (b % 7) as usize;
    let w = &arr[1..4];
    let mut s = 0u32;
    for v in w {
        s = s.wrapping_mul(3).wrapping_add(*v);
    }
    let t: u32 = arr[k..].iter().sum();
    let head = &arr[..=k.min(5)];
    let (l, r) = arr.split_at(k.min(6));
    let inner = &w[1..];
    [s, t, head.len() as u32 + l.len() as u32 * 10, r.len() as u32, inner[0] ^ inner[1], w[2]]
} }

#[test]
fn cuda_host_sub_slices_and_their_checks() {
    require_gxx!();
    let u32s: Vec<u32> = (0..200).chain([u32::MAX, 1000, 27, 77]).collect();
    let bs: Vec<u32> = u32s.iter().map(|v| v.wrapping_mul(2654435761)).collect();
    let bits = |v: &[u32]| v.iter().map(|x| *x as u64).collect::<Vec<_>>();
    let map = link_rust(
        "fn k_views(a: &[u32], b: &[u32], out: &mut [u32]) {
            let i = global_index();
            if i < a.len() {
                for (k, v) in views(a[i], b[i]).iter().enumerate() { out[i * 6 + k] = *v; }
            }
        }",
        &[VIEWS],
        &[],
    );
    let mut launches = vec![map_launch(
        map,
        &[(U32, bits(&u32s)), (U32, bits(&bs))],
        U32,
        6,
    )];
    // (from, to, at) → the fault's (index, len); (2, 6, 3) reads x[5].
    let cases = [(2, 6, 3), (2, 12, 0), (5, 3, 0), (2, 6, 4)];
    for (n, (from, to, at)) in cases.iter().enumerate() {
        let src = format!(
            "fn k_view_fault{n}(p: &[u32], x: &[u32], out: &mut [u32]) {{
                let w = &x[p[0] as usize..p[1] as usize];
                out[0] = w[p[2] as usize];
            }}"
        );
        launches.push(Launch {
            kernel: link_rust(Box::leak(src.into_boxed_str()), &[], &[]),
            slices: vec![
                (U32, vec![*from, *to, *at], false),
                (U32, (1..=10).collect(), false),
                (U32, vec![0], true),
            ],
            grid: 1,
            block: 1,
            concurrent: false,
            shared_bytes: 0,
        });
    }
    let r = run("idioms_views", &launches, "-O1");
    assert_eq!(
        r.faults["k_views"][0], 0,
        "k_views faulted: {:?}",
        r.faults["k_views"]
    );
    let got = outputs(&r, "k_views", 2, u32s.len(), 6);
    for t in 0..u32s.len() {
        let want: Vec<u64> = views(u32s[t], bs[t]).iter().map(|v| *v as u64).collect();
        assert_eq!(got[t], want, "k_views, thread {t}");
    }
    assert_eq!(r.faults["k_view_fault0"][0], 0);
    assert_eq!(r.values[&("k_view_fault0".to_string(), 2, 0)], 6);
    for (n, (index, len)) in [(1, (12, 10)), (2, (5, 3)), (3, (4, 4))] {
        let f = r.faults[&format!("k_view_fault{n}")];
        // [flag, kind (1: out of bounds), site, index, len, ..]
        assert_eq!(
            (f[0], f[1], f[3], f[4]),
            (1, 1, index, len),
            "case {n}: {f:?}"
        );
    }
}

twin! { HALVE: fn halve(n: u32) -> Option<u32> {
    if n % 2 == 1 {
        None
    } else {
        Some(n / 2)
    }
} }

twin! { HALVINGS: fn halvings(a: u32, b: u32) -> Option<u32> {
    let x = halve(a)?;
    let y = halve(x)?;
    Some(y + b % 3)
} }

twin! { CLOSURES_OPTIONS: fn closures_options(a: u32, b: u32) -> [u32; 6] {
    let k = b % 13;
    let scale = |v: u32| v.wrapping_mul(k);
    let k = 1000u32;
    let mut count = 0u32;
    let mut bump = |by: u32| {
        count += by;
        count
    };
    bump(1);
    bump(a % 5);
    let mut base = a % 100;
    let mut next = move || {
        base += 1;
        base
    };
    next();
    let second = next();
    base += 10;
    let h = halvings(a, b).unwrap_or(77);
    let mut n = a % 64;
    let mut steps = 0u32;
    while let Some(m) = halve(n) {
        if m == 0 {
            break;
        }
        n = m;
        steps += 1;
    }
    let xs = [a % 7, b % 7, 3];
    let got = match xs.get((b % 5) as usize) {
        Some(&v) => v,
        None => 99,
    };
    [scale(a) ^ k, count, second * 1000 + base, h, steps, got + halve(b).is_some() as u32 * 100]
} }

#[test]
fn cuda_host_closures_and_options() {
    require_gxx!();
    let u32s: Vec<u32> = (0..200).chain([u32::MAX, 1000, 27, 64]).collect();
    let bs: Vec<u32> = u32s.iter().map(|v| v.wrapping_mul(2654435761)).collect();
    let bits = |v: &[u32]| v.iter().map(|x| *x as u64).collect::<Vec<_>>();
    let k = link_rust(
        "fn k_closures_options(a: &[u32], b: &[u32], out: &mut [u32]) {
            let i = global_index();
            if i < a.len() {
                for (k, v) in closures_options(a[i], b[i]).iter().enumerate() { out[i * 6 + k] = *v; }
            }
        }",
        &[CLOSURES_OPTIONS, HALVINGS, HALVE],
        &[],
    );
    let launches = [map_launch(
        k,
        &[(U32, bits(&u32s)), (U32, bits(&bs))],
        U32,
        6,
    )];
    let r = run("idioms_closures", &launches, "-O1");
    let name = "k_closures_options";
    assert_eq!(r.faults[name][0], 0, "{name} faulted: {:?}", r.faults[name]);
    let got = outputs(&r, name, 2, u32s.len(), 6);
    for t in 0..u32s.len() {
        let want: Vec<u64> = closures_options(u32s[t], bs[t])
            .iter()
            .map(|v| *v as u64)
            .collect();
        assert_eq!(got[t], want, "{name}, thread {t}");
    }
}

#[test]
fn cuda_host_assertions_record_their_fault() {
    require_gxx!();
    let src = |name: &str, check: &str| -> &'static str {
        Box::leak(
            format!(
                "fn {name}(x: &[u32], out: &mut [u32]) {{
                    let i = global_index();
                    let v = x[i];
                    {check};
                    out[i] = v + 1;
                }}"
            )
            .into_boxed_str(),
        )
    };
    let cases = [
        ("k_assert", "assert!(v < 10, \"too big\")"),
        ("k_assert_eq", "assert_eq!(v % 5, 0)"),
        ("k_panic", "if v == 50 { panic!(\"fifty\") }"),
    ];
    let mut x: Vec<u64> = (0..64).map(|i| i % 2 * 5).collect();
    x[37] = 51;
    let launches: Vec<Launch> = cases
        .iter()
        .map(|(name, check)| Launch {
            kernel: link_rust(src(name, check), &[], &[]),
            slices: vec![(U32, x.clone(), false), (U32, vec![0; 64], true)],
            grid: 2,
            block: 32,
            concurrent: false,
            shared_bytes: 0,
        })
        .collect();
    // The site each assertion records, found by its message.
    let wants = [
        "too big",
        "assertion `left == right` failed: v % 5 == 0",
        "fifty",
    ];
    let sites: Vec<u64> = launches
        .iter()
        .zip(wants)
        .map(|(l, want)| {
            let sites = &l.kernel.fault_sites;
            let at = sites.iter().position(|s| s.what == want);
            at.unwrap_or_else(|| panic!("no site `{want}` in {sites:?}")) as u64
        })
        .collect();
    let r = run("idioms_assert", &launches, "-O1");
    // [flag, kind (7: assertion), site, index, len, block.x, thread.x]
    for (n, name) in ["k_assert", "k_assert_eq"].iter().enumerate() {
        let f = r.faults[*name];
        assert_eq!(
            (f[0], f[1], f[2], f[5], f[6]),
            (1, 7, sites[n], 1, 5),
            "{name}: {f:?}"
        );
        // Threads other than the faulting one ran to the end.
        assert_eq!(r.values[&(name.to_string(), 1, 36)], 1, "{name}");
    }
    assert_eq!(r.faults["k_panic"][0], 0, "51 is not 50");
}
