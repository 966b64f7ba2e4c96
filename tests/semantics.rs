//! Every construct of the batch subset, run on the CPU backend (and a GPU when
//! present) against Rust's own result.
//!
//! The operations live in `#[device]` functions, which are ordinary Rust
//! functions on the host: the reference is the very same function run by
//! rustc's code, and the kernel maps it over random inputs. (The test profile
//! turns overflow checks off, so host Rust wraps as kernels do.)

// The kernels spell constructs out on purpose (`!(a > b)`, `i % 2 == 0`,
// index loops): they are what is under test.
#![allow(
    clippy::nonminimal_bool,
    clippy::manual_is_multiple_of,
    clippy::needless_range_loop
)]

mod common;

use spindle::prelude::*;

// ---------------------------------------------------------------- operations

#[device]
fn int_ops_i32(a: i32, b: i32) -> [i32; 12] {
    let safe = if b == 0 { 1 } else { b };
    let q = if a == i32::MIN && safe == -1 {
        0
    } else {
        a / safe
    };
    let r = if a == i32::MIN && safe == -1 {
        0
    } else {
        a % safe
    };
    [
        a + b,
        a - b,
        a * b,
        q,
        r,
        -a,
        !a,
        a & b,
        a | b,
        a ^ b,
        a << b,
        a >> b,
    ]
}

#[device]
fn int_ops_u8(a: u8, b: u8) -> [u8; 10] {
    let safe = if b == 0 { 1 } else { b };
    [
        a + b,
        a - b,
        a * b,
        a / safe,
        a % safe,
        !a,
        a & b,
        a | b,
        a << b,
        a >> b,
    ]
}

#[device]
fn int_ops_i64(a: i64, b: i64) -> [i64; 8] {
    let s = b as u32;
    [
        a + b,
        a - b,
        a * b,
        -a,
        a << s,
        a >> s,
        a.wrapping_mul(3),
        a.rotate_left(s),
    ]
}

#[device]
fn int_ops_u16(a: u16, b: u16) -> [u16; 6] {
    [a + b, a - b, a * b, a << b, a >> b, a.swap_bytes()]
}

#[device]
fn int_ops_i8(a: i8, b: i8) -> [i8; 6] {
    [a + b, a - b, a * b, -a, a >> (b as u32 & 15), a.abs()]
}

#[device]
fn int_methods_u32(a: u32, b: u32) -> [u32; 14] {
    [
        a.min(b),
        a.max(b),
        a.clamp(10, 1000),
        a.pow(b % 7),
        a.wrapping_add(b),
        a.wrapping_sub(b),
        a.saturating_add(b),
        a.saturating_sub(b),
        a.count_ones(),
        a.leading_zeros(),
        a.trailing_zeros(),
        a.rotate_right(b),
        a.reverse_bits(),
        a.abs_diff(b),
    ]
}

#[device]
fn int_methods_i32(a: i32, b: i32) -> [i32; 7] {
    [
        a.abs(),
        a.signum(),
        a.min(b),
        a.max(b),
        a.saturating_add(b),
        a.wrapping_neg(),
        a.count_zeros() as i32,
    ]
}

#[device]
fn compare_and_logic(a: i32, b: i32) -> [bool; 10] {
    [
        a == b,
        a != b,
        a < b,
        a <= b,
        a > b,
        a >= b,
        a > 0 && b > 0,
        a > 0 || b > 0,
        !(a > b),
        (a & 1 == 0) ^ (b & 1 == 0),
    ]
}

#[device]
fn float_ops(a: f32, b: f32) -> [f32; 16] {
    [
        a + b,
        a - b,
        a * b,
        a / b,
        a % b,
        -a,
        a.abs(),
        a.sqrt(),
        a.min(b),
        a.max(b),
        a.mul_add(b, 1.5),
        a.floor(),
        a.ceil(),
        a.round(),
        a.trunc(),
        a.clamp(-1.0, 1.0),
    ]
}

#[device]
fn float_math(a: f32, b: f32) -> [f32; 16] {
    [
        a.exp(),
        a.ln(),
        a.log2(),
        a.sin(),
        a.cos(),
        a.tan(),
        a.atan2(b),
        a.powi(3),
        a.powf(b),
        a.tanh(),
        a.hypot(b),
        a.fract(),
        a.recip(),
        a.signum(),
        a.copysign(b),
        a.to_degrees(),
    ]
}

#[device]
fn float_f64(a: f64, b: f64) -> [f64; 8] {
    [
        a + b,
        a * b,
        a / b,
        a.sqrt(),
        a.exp(),
        a.max(b),
        a.mul_add(b, 0.25),
        a.cbrt(),
    ]
}

#[device]
fn float_preds(a: f32) -> [bool; 4] {
    [
        a.is_nan(),
        a.is_finite(),
        a.is_infinite(),
        a.is_sign_negative(),
    ]
}

#[device]
fn casts_from_f32(a: f32) -> [i64; 8] {
    [
        a as i8 as i64,
        a as u8 as i64,
        a as i16 as i64,
        a as u16 as i64,
        a as i32 as i64,
        a as u32 as i64,
        a as i64,
        (a as u64 >> 1) as i64,
    ]
}

#[device]
fn casts_from_i64(a: i64) -> [f64; 8] {
    [
        a as f32 as f64,
        a as f64,
        a as i8 as f64,
        a as u8 as f64,
        a as u16 as f64,
        a as i32 as f64,
        (a as u64) as f32 as f64,
        (a > 0) as u8 as f64,
    ]
}

#[device]
fn control_flow(n: u32, k: u32) -> [u32; 10] {
    // while with a literal typed by later use
    let mut j = 0;
    let mut sum = 0u32;
    while j < n {
        sum += j;
        j += 1;
    }
    // loop with break
    let mut steps = 0u32;
    let mut v = n;
    loop {
        if v <= 1 {
            break;
        }
        v = if v % 2 == 0 { v / 2 } else { 3 * v + 1 };
        steps += 1;
    }
    // for with step_by and continue
    let mut odd = 0u32;
    for i in (0..n).step_by(3) {
        if i % 2 == 0 {
            continue;
        }
        odd += i;
    }
    // inclusive range
    let mut tri = 0u32;
    for i in 1..=k {
        tri += i;
    }
    // labeled break out of a nested loop
    let mut found = 0u32;
    'outer: for a in 0..n {
        for b in 0..n {
            if a * b == k {
                found = a * 100 + b;
                break 'outer;
            }
        }
    }
    // nested block as a value
    let block = {
        let t = n * 2;
        t + 1
    };
    // early return path
    let early = first_multiple(n, k);
    // a reversed range, order-sensitive
    let mut digits = 0u32;
    for i in (0..n % 9).rev() {
        digits = digits.wrapping_mul(10) + i;
    }
    // labeled continue of the outer loop
    let mut pairs = 0u32;
    'rows: for a in 0..n % 7 {
        for b in 0..n % 5 {
            if b > a {
                continue 'rows;
            }
            pairs += 1;
        }
    }
    [sum, steps, odd, tri, found, block, early, j, digits, pairs]
}

#[device]
fn first_multiple(n: u32, k: u32) -> u32 {
    if k == 0 {
        return 0;
    }
    for i in 1..n {
        if i % k == 0 {
            return i;
        }
    }
    n
}

#[device]
fn local_arrays(seed: u32) -> [u32; 4] {
    let mut a = [0u32; 4];
    for d in 0..4 {
        a[d] = seed * (d as u32 + 1);
    }
    let b = [a[3], a[2], a[1], a[0]];
    let mut c = b;
    c[0] += 1;
    [c[0], b[0], a.len() as u32, c[3] ^ a[0]]
}

#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
struct Inner {
    w: [f32; 2],
    tag: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
struct Outer {
    id: u32,
    inner: Inner,
    scale: f64,
}

#[device]
fn struct_ops(o: Outer, x: f32) -> Outer {
    let mut copy = o;
    copy.inner.w[0] += x;
    copy.inner.w[1] = copy.inner.w[0] * 2.0;
    copy.inner.tag = copy.inner.tag.wrapping_add(1);
    let fresh = Inner { w: [x, -x], tag: 7 };
    Outer {
        id: o.id + fresh.tag as u32,
        inner: copy.inner,
        scale: o.scale * 2.0 + fresh.w[1] as f64,
    }
}

// ------------------------------------------------------------------ kernels

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

map2!(k_int_ops_i32, int_ops_i32, i32, i32, [i32; 12]);
map2!(k_int_ops_u8, int_ops_u8, u8, u8, [u8; 10]);
map2!(k_int_ops_i64, int_ops_i64, i64, i64, [i64; 8]);
map2!(k_int_ops_u16, int_ops_u16, u16, u16, [u16; 6]);
map2!(k_int_ops_i8, int_ops_i8, i8, i8, [i8; 6]);
map2!(k_int_methods_u32, int_methods_u32, u32, u32, [u32; 14]);
map2!(k_int_methods_i32, int_methods_i32, i32, i32, [i32; 7]);
map2!(k_compare_and_logic, compare_and_logic, i32, i32, [bool; 10]);
map2!(k_float_ops, float_ops, f32, f32, [f32; 16]);
map2!(k_float_math, float_math, f32, f32, [f32; 16]);
map2!(k_float_f64, float_f64, f64, f64, [f64; 8]);
map1!(k_float_preds, float_preds, f32, [bool; 4]);
map1!(k_casts_from_f32, casts_from_f32, f32, [i64; 8]);
map1!(k_casts_from_i64, casts_from_i64, i64, [f64; 8]);
map2!(k_control_flow, control_flow, u32, u32, [u32; 10]);
map1!(k_local_arrays, local_arrays, u32, [u32; 4]);
map2!(k_struct_ops, struct_ops, Outer, f32, Outer);

// ------------------------------------------------------------------ harness

/// Equality of results: exact, or within `ulps` units in the last place for
/// floats (GPU math library functions such as `sin` or `exp` are not
/// correctly rounded, so a GPU run allows a few ulps where the operation is
/// not IEEE-exact; the CPU backend must match bit for bit).
trait Same {
    fn same(&self, other: &Self, ulps: u64) -> bool;
}
macro_rules! same_exact {
    ($($t:ty),*) => { $(impl Same for $t { fn same(&self, o: &Self, _: u64) -> bool { self == o } })* };
}
same_exact!(bool, i8, u8, u16, u32, i32, i64);
macro_rules! same_float {
    ($($t:ty),*) => { $(impl Same for $t {
        fn same(&self, o: &Self, ulps: u64) -> bool {
            if self.to_bits() == o.to_bits() || (self.is_nan() && o.is_nan()) {
                return true;
            }
            ulps > 0
                && self.is_sign_negative() == o.is_sign_negative()
                && (self.to_bits() as i128 - o.to_bits() as i128).unsigned_abs() <= ulps as u128
        }
    })* };
}
same_float!(f32, f64);
impl<T: Same, const N: usize> Same for [T; N] {
    fn same(&self, o: &Self, ulps: u64) -> bool {
        self.iter().zip(o).all(|(a, b)| a.same(b, ulps))
    }
}
impl Same for Outer {
    fn same(&self, o: &Self, ulps: u64) -> bool {
        self.id == o.id
            && self.inner.w.same(&o.inner.w, ulps)
            && self.inner.tag == o.inner.tag
            && self.scale.same(&o.scale, ulps)
    }
}

fn check<T: Same + std::fmt::Debug>(
    what: &str,
    dev: &Device,
    ulps: u64,
    got: &[T],
    want: &[T],
    inputs: &dyn Fn(usize) -> String,
) {
    assert_eq!(got.len(), want.len());
    for i in 0..got.len() {
        assert!(
            got[i].same(&want[i], ulps),
            "{what} on {}: element {i} for input {}: kernel gave {:?}, Rust gives {:?}",
            dev.name(),
            inputs(i),
            got[i],
            want[i]
        );
    }
}

/// The CPU backend (exact), and GPU 0 when present (within `gpu_ulps`).
fn devices(gpu_ulps: u64) -> Vec<(Device, u64)> {
    let mut devs = vec![(common::cpu(), 0)];
    devs.extend(common::gpu("semantics").map(|d| (d, gpu_ulps)));
    devs
}

macro_rules! run2 {
    ($kernel:ident, $f:ident, $a:expr, $b:expr) => {
        run2!($kernel, $f, $a, $b, 0)
    };
    ($kernel:ident, $f:ident, $a:expr, $b:expr, $gpu_ulps:expr) => {{
        let (a, b) = ($a, $b);
        let want: Vec<_> = a.iter().zip(&b).map(|(x, y)| $f(*x, *y)).collect();
        for (dev, ulps) in devices($gpu_ulps) {
            let n = a.len();
            let ab = dev.upload(&a).unwrap();
            let bb = dev.upload(&b).unwrap();
            let mut out = dev.zeros(n).unwrap();
            $kernel::launch(&dev, Launch::for_elements(n), &ab, &bb, &mut out).unwrap();
            check(
                stringify!($f),
                &dev,
                ulps,
                &out.to_vec().unwrap(),
                &want,
                &|i| format!("({:?}, {:?})", a[i], b[i]),
            );
        }
    }};
}

macro_rules! run1 {
    ($kernel:ident, $f:ident, $a:expr) => {{
        let a = $a;
        let want: Vec<_> = a.iter().map(|x| $f(*x)).collect();
        for (dev, ulps) in devices(0) {
            let n = a.len();
            let ab = dev.upload(&a).unwrap();
            let mut out = dev.zeros(n).unwrap();
            $kernel::launch(&dev, Launch::for_elements(n), &ab, &mut out).unwrap();
            check(
                stringify!($f),
                &dev,
                ulps,
                &out.to_vec().unwrap(),
                &want,
                &|i| format!("{:?}", a[i]),
            );
        }
    }};
}

const N: usize = 3000;

/// Random integers with the edge values mixed in.
fn ints<T: Copy>(
    rng: &mut fastrand::Rng,
    edges: &[T],
    mut f: impl FnMut(&mut fastrand::Rng) -> T,
) -> Vec<T> {
    (0..N)
        .map(|i| {
            if i < edges.len() {
                edges[i]
            } else if rng.u8(..) < 20 {
                edges[rng.usize(..edges.len())]
            } else {
                f(rng)
            }
        })
        .collect()
}

fn floats(rng: &mut fastrand::Rng) -> Vec<f32> {
    let edges = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.5,
        -2.5,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        1e-40,
        3e9,
        -3e9,
        255.5,
        256.0,
        -129.0,
    ];
    ints(rng, &edges, |r| {
        let m = r.f32() * 2.0 - 1.0;
        m * 10f32.powi(r.i32(-3..12))
    })
}

#[test]
fn integer_arithmetic_wraps_like_rust() {
    let mut rng = common::rng("integer_arithmetic_wraps_like_rust");
    let e32 = [0, 1, -1, i32::MIN, i32::MAX, 31, 32, 33, -32];
    run2!(
        k_int_ops_i32,
        int_ops_i32,
        ints(&mut rng, &e32, |r| r.i32(..)),
        ints(&mut rng, &e32, |r| r.i32(..))
    );
    let e8 = [0, 1, 7, 8, 9, 255, 128];
    run2!(
        k_int_ops_u8,
        int_ops_u8,
        ints(&mut rng, &e8, |r| r.u8(..)),
        ints(&mut rng, &e8, |r| r.u8(..))
    );
    let e64 = [0, 1, -1, i64::MIN, i64::MAX, 63, 64, 65];
    run2!(
        k_int_ops_i64,
        int_ops_i64,
        ints(&mut rng, &e64, |r| r.i64(..)),
        ints(&mut rng, &e64, |r| r.i64(..))
    );
    let e16 = [0, 1, 15, 16, 17, u16::MAX];
    run2!(
        k_int_ops_u16,
        int_ops_u16,
        ints(&mut rng, &e16, |r| r.u16(..)),
        ints(&mut rng, &e16, |r| r.u16(..))
    );
    let ei8 = [0, 1, -1, i8::MIN, i8::MAX, 7, 8];
    run2!(
        k_int_ops_i8,
        int_ops_i8,
        ints(&mut rng, &ei8, |r| r.i8(..)),
        ints(&mut rng, &ei8, |r| r.i8(..))
    );
}

#[test]
fn integer_methods_match_std() {
    let mut rng = common::rng("integer_methods_match_std");
    let e = [0, 1, u32::MAX, 31, 32, 1 << 31];
    run2!(
        k_int_methods_u32,
        int_methods_u32,
        ints(&mut rng, &e, |r| r.u32(..)),
        ints(&mut rng, &e, |r| r.u32(..))
    );
    let e = [0, 1, -1, i32::MIN, i32::MAX];
    run2!(
        k_int_methods_i32,
        int_methods_i32,
        ints(&mut rng, &e, |r| r.i32(..)),
        ints(&mut rng, &e, |r| r.i32(..))
    );
}

#[test]
fn comparisons_and_short_circuit_logic() {
    let mut rng = common::rng("comparisons_and_short_circuit_logic");
    let e = [0, 1, -1, i32::MIN, i32::MAX];
    run2!(
        k_compare_and_logic,
        compare_and_logic,
        ints(&mut rng, &e, |r| r.i32(-5..5)),
        ints(&mut rng, &e, |r| r.i32(-5..5))
    );
}

#[test]
fn float_arithmetic_and_methods_match_std() {
    let mut rng = common::rng("float_arithmetic_and_methods_match_std");
    run2!(k_float_ops, float_ops, floats(&mut rng), floats(&mut rng));
    // exp, ln, sin, powf, … are not correctly rounded on the GPU: 8 ulps there.
    run2!(
        k_float_math,
        float_math,
        floats(&mut rng),
        floats(&mut rng),
        8
    );
    let f64s: Vec<f64> = floats(&mut rng)
        .iter()
        .map(|&v| v as f64 * 1.000001)
        .collect();
    run2!(
        k_float_f64,
        float_f64,
        f64s.clone(),
        f64s.iter().rev().copied().collect::<Vec<_>>(),
        8
    );
    run1!(k_float_preds, float_preds, floats(&mut rng));
}

#[test]
fn casts_follow_rust() {
    let mut rng = common::rng("casts_follow_rust");
    run1!(k_casts_from_f32, casts_from_f32, floats(&mut rng));
    let e = [
        0,
        1,
        -1,
        i64::MIN,
        i64::MAX,
        255,
        256,
        -129,
        1 << 53,
        (1 << 53) + 1,
    ];
    run1!(
        k_casts_from_i64,
        casts_from_i64,
        ints(&mut rng, &e, |r| r.i64(..) >> r.u32(0..63))
    );
}

#[test]
fn control_flow_matches_rust() {
    let mut rng = common::rng("control_flow_matches_rust");
    let e = [0, 1, 2, 3, 27];
    run2!(
        k_control_flow,
        control_flow,
        ints(&mut rng, &e, |r| r.u32(0..60)),
        ints(&mut rng, &e, |r| r.u32(0..60))
    );
}

#[test]
fn local_arrays_and_copies() {
    let mut rng = common::rng("local_arrays_and_copies");
    run1!(
        k_local_arrays,
        local_arrays,
        ints(&mut rng, &[0, u32::MAX], |r| r.u32(..))
    );
}

#[test]
fn structs_by_value_in_slices_and_nested() {
    let mut rng = common::rng("structs_by_value_in_slices_and_nested");
    let outers: Vec<Outer> = (0..N)
        .map(|_| Outer {
            id: rng.u32(..),
            inner: Inner {
                w: [rng.f32(), rng.f32() * -3.0],
                tag: rng.u8(..),
            },
            scale: rng.f64() * 100.0,
        })
        .collect();
    run2!(k_struct_ops, struct_ops, outers, floats(&mut rng));
}

// ------------------------------------------------------- geometry intrinsics

#[kernel(mode = "batch")]
fn geometry(out: &mut [u32]) {
    let t = thread_idx();
    let b = block_idx();
    let bd = block_dim();
    let g = grid_dim();
    let x = b.x * bd.x + t.x;
    let y = b.y * bd.y + t.y;
    let z = b.z * bd.z + t.z;
    let width = g.x * bd.x;
    let height = g.y * bd.y;
    let flat = ((z * height + y) * width + x) as usize;
    if flat < out.len() {
        out[flat] = t.x + 10 * t.y + 100 * t.z + 1000 * (b.x + 10 * b.y + 100 * b.z);
    }
}

#[test]
fn thread_geometry_in_three_dimensions() {
    let dev = common::cpu();
    let (grid, block) = ((3u32, 2u32, 2u32), (4u32, 3u32, 2u32));
    let (w, h, d) = (grid.0 * block.0, grid.1 * block.1, grid.2 * block.2);
    let mut out = dev.zeros::<u32>((w * h * d) as usize).unwrap();
    geometry::launch(&dev, Launch::new(grid, block), &mut out).unwrap();
    let got = out.to_vec().unwrap();
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let (tx, ty, tz) = (x % block.0, y % block.1, z % block.2);
                let (bx, by, bz) = (x / block.0, y / block.1, z / block.2);
                let want = tx + 10 * ty + 100 * tz + 1000 * (bx + 10 * by + 100 * bz);
                assert_eq!(
                    got[((z * h + y) * w + x) as usize],
                    want,
                    "thread at ({x}, {y}, {z})"
                );
            }
        }
    }
}

#[kernel(mode = "batch")]
fn global_ids(out: &mut [u64]) {
    let i = global_index();
    if i < out.len() {
        out[i] = i as u64 * 3 + (thread_idx().x as u64 % 2);
    }
}

#[test]
fn global_index_covers_every_element_once() {
    let dev = common::cpu();
    let n = 5000;
    let mut out = dev.zeros::<u64>(n).unwrap();
    global_ids::launch(
        &dev,
        Launch::new(((n as u32).div_ceil(128), 1, 1), 128),
        &mut out,
    )
    .unwrap();
    let got = out.to_vec().unwrap();
    for (i, v) in got.iter().enumerate() {
        assert_eq!(*v, i as u64 * 3 + (i as u64 % 128) % 2, "element {i}");
    }
}

// ------------------------------------------------------------------- faults

#[kernel(mode = "batch")]
fn shifted_copy(offset: usize, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = x[i + offset];
    }
}

#[test]
fn out_of_bounds_is_reported_with_its_place() {
    let dev = common::cpu();
    let x = dev.upload(&vec![1.0f32; 100]).unwrap();
    let mut y = dev.zeros::<f32>(100).unwrap();
    let err = shifted_copy::launch(&dev, Launch::new(1, 128), 10, &x, &mut y).unwrap_err();
    match err.fault().map(|f| (f, f.kind)) {
        Some((f, spindle::FaultKind::OutOfBounds { index, len })) => {
            assert_eq!(f.kernel, "shifted_copy");
            assert_eq!(f.what, "x");
            assert_eq!(len, 100);
            assert!((100..110).contains(&index), "index {index}");
            assert_eq!(f.block, spindle::Dim3::new(0, 0, 0));
            assert_eq!(f.thread.x as u64 + 10, index);
        }
        _ => panic!("expected OutOfBounds, got {err:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("shifted_copy") && text.contains("x["),
        "{text}"
    );
    // Threads that stayed in bounds still wrote their results.
    let got = y.to_vec().unwrap();
    assert!(got[..90].iter().all(|&v| v == 1.0));
    // The device stays usable.
    shifted_copy::launch(&dev, Launch::new(1, 128), 0, &x, &mut y).unwrap();
    assert!(y.to_vec().unwrap().iter().all(|&v| v == 1.0));
}

#[kernel(mode = "batch")]
fn divide(a: &[i32], b: &[i32], out: &mut [i32]) {
    let i = global_index();
    if i < out.len() {
        out[i] = a[i] / b[i];
    }
}

#[test]
fn integer_division_by_zero_is_an_error() {
    let dev = common::cpu();
    let a = dev.upload(&[10, 20, 30, i32::MIN]).unwrap();
    let b = dev.upload(&[2, 0, 3, 1]).unwrap();
    let mut out = dev.zeros::<i32>(4).unwrap();
    let err = divide::launch(&dev, Launch::for_elements(4), &a, &b, &mut out).unwrap_err();
    assert!(
        matches!(err.fault(), Some(f) if f.kind == spindle::FaultKind::DivideByZero
            && f.kernel == "divide" && f.thread.x == 1),
        "{err:?}"
    );
    let got = out.to_vec().unwrap();
    assert_eq!((got[0], got[2], got[3]), (5, 10, i32::MIN));
}

#[kernel(mode = "batch", bounds_checks = false)]
fn unchecked_scale(k: f32, y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] *= k;
    }
}

#[test]
fn bounds_checks_can_be_turned_off() {
    let dev = common::cpu();
    let mut y = dev.upload(&[1.0f32, 2.0, 3.0]).unwrap();
    unchecked_scale::launch(&dev, Launch::for_elements(3), 2.0, &mut y).unwrap();
    assert_eq!(y.to_vec().unwrap(), vec![2.0, 4.0, 6.0]);
}

#[test]
fn invalid_launches_are_errors() {
    let dev = common::cpu();
    let mut y = dev.upload(&[1.0f32]).unwrap();
    let err = unchecked_scale::launch(&dev, Launch::new(0, 32), 2.0, &mut y).unwrap_err();
    assert!(
        matches!(err, spindle::Error::InvalidLaunch { .. }),
        "{err:?}"
    );
    let err = unchecked_scale::launch(&dev, Launch::new(1, 2048), 2.0, &mut y).unwrap_err();
    assert!(err.to_string().contains("1024"), "{err}");
}

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_kernel_here_compiles_with_nvrtc");
}
