//! Everyday Rust in kernels — `match`, tuples, patterns, methods, enums,
//! iteration, sub-slices, closures, `Option`, `break` with a value, struct
//! update, `mem::swap` — run on the CPU backend (and a GPU when present)
//! against Rust's own result.
//!
//! As in `semantics.rs`, each construct lives in a `#[device]` function,
//! which is ordinary Rust on the host: the reference is the very same
//! function compiled by rustc, and a kernel maps it over random inputs.

// The kernels spell constructs out on purpose (a `match` that `matches!`
// could write, `k % 2 == 0`): they are what is under test.
#![allow(
    clippy::match_overlapping_arm,
    clippy::manual_range_patterns,
    clippy::match_like_matches_macro,
    clippy::manual_is_multiple_of
)]

mod common;
#[macro_use]
#[path = "common/idioms.rs"]
mod harness;

use harness::*;

use spindle::prelude::*;

// ------------------------------------------------------------------- match

#[device]
fn classify(x: i32) -> u32 {
    match x % 4 {
        0 => 10,
        1 | 2 => 20,
        -3..=-1 => 30,
        _ => 40,
    }
}

#[device]
fn match_ranges(v: u32) -> u32 {
    // Overlapping ranges: the first arm that matches wins, as in Rust.
    let a = match v {
        0..=9 => 1,
        5..=20 => 2,
        21.. => 3,
    };
    // Guards fall through to later arms when they fail.
    let b = match v % 10 {
        n if n > 7 => n * 100,
        n @ 2..=5 if v > 50 => n + 1000,
        3 | 4 => 7,
        _ => 0,
    };
    // A statement match with a block arm and an early exit.
    let mut c = 0u32;
    match v & 3 {
        0 => {
            c += 5;
            if v > 100 {
                return a + b + 1;
            }
        }
        1 => c = 9,
        _ => {}
    }
    let d = match v > 30 {
        true => 1u32,
        false => 2,
    };
    a * 1_000_000 + b * 100 + c * 10 + d
}

const LIMIT: u32 = 77;

#[device]
fn match_consts_and_matches(v: u32) -> [bool; 4] {
    let is_limit = match v {
        LIMIT => true,
        _ => false,
    };
    [
        is_limit,
        matches!(v % 8, 1 | 3 | 5),
        matches!(v, 10..=20 if v % 2 == 0),
        matches!((v % 3, v % 5), (0, 0) | (1, _)),
    ]
}

// ------------------------------------------------------------------ tuples

#[device]
fn div_rem(a: u32, b: u32) -> (u32, u32) {
    if b == 0 {
        return (0, a);
    }
    (a / b, a % b)
}

#[device]
fn tuples(a: u32, b: u32) -> [u32; 8] {
    let (q, r) = div_rem(a, b % 17);
    let pair = (q, (r, a ^ b));
    let (x, (y, z)) = pair;
    let (mut m, _) = (x + 1, y);
    m *= 2;
    // Swapping through a tuple evaluates both sides first.
    let (mut s, mut t) = (a, b);
    (s, t) = (t, s);
    let (u, v) = (t.wrapping_sub(s), pair.1 .0);
    let w = match (a % 3, b % 2) {
        (0, 0) => 1,
        (0, _) => 2,
        (_, 1) => 3,
        (n, _) => n + 10,
    };
    let [e0, _, e2] = [a, b, z];
    [q, r, z, m, u, v + w, e0 ^ e2, s]
}

#[device]
fn float_tuples(x: f32) -> [f32; 3] {
    let (s, c) = x.sin_cos();
    let t: (f32, f32) = (c, s);
    [s, c, t.0 * t.1]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Span3 {
    lo: u32,
    hi: u32,
    weight: f32,
}

#[device]
fn struct_patterns(a: u32, b: u32) -> [u32; 4] {
    let s = Span3 {
        lo: a.min(b),
        hi: a.max(b),
        weight: 1.5,
    };
    let Span3 { lo, hi, .. } = s;
    let wider = Span3 { hi: hi + 10, ..s };
    let width = match wider {
        Span3 { lo: 0, .. } => 0,
        Span3 { lo: l, hi: h, .. } if h - l > 100 => 1,
        Span3 { weight, .. } => weight as u32 + 2,
    };
    [lo, hi, wider.hi - wider.lo, width]
}

// ------------------------------------------------------- loops with values

#[device]
fn break_values(n: u32) -> [u32; 3] {
    let mut i = 0u32;
    let steps = loop {
        if i * i >= n {
            break i;
        }
        i += 1;
    };
    let mut k = n;
    let collatz = 'outer: loop {
        let mut inner = 0u32;
        loop {
            if k <= 1 {
                break 'outer inner;
            }
            k = if k % 2 == 0 { k / 2 } else { 3 * k + 1 };
            inner += 1;
            if inner == 5 {
                break;
            }
        }
        if k > 1000 {
            break 9999;
        }
    };
    let mut x = n;
    let mut y = n / 2 + 1;
    core::mem::swap(&mut x, &mut y);
    let old = std::mem::replace(&mut x, 3);
    [steps, collatz, x * 100_000 + y + old]
}

// ----------------------------------------------------- methods and enums

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Vec2 {
    x: f32,
    y: f32,
}

#[device]
impl Vec2 {
    const ORIGIN: Vec2 = Vec2 { x: 0.0, y: 0.0 };
    const UNIT: f32 = 1.0;

    fn new(x: f32, y: f32) -> Self {
        Vec2 { x, y }
    }

    fn dot(&self, o: Vec2) -> f32 {
        self.x * o.x + self.y * o.y
    }

    fn scale(&mut self, k: f32) {
        self.x *= k;
        self.y *= k;
    }

    fn scaled(mut self, k: f32) -> Self {
        self.scale(k);
        self
    }

    fn len2(self) -> f32 {
        self.dot(self)
    }

    fn swap_xy(&mut self) {
        core::mem::swap(&mut self.x, &mut self.y);
    }

    fn bump(&mut self) -> f32 {
        self.x += Self::UNIT;
        self.x
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(u32)]
enum Op {
    #[default]
    Add,
    Mul,
    Halt,
}

#[device]
impl Op {
    fn apply(self, a: u32, b: u32) -> u32 {
        match self {
            Op::Add => a.wrapping_add(b),
            Op::Mul => a.wrapping_mul(b),
            Op::Halt => a,
        }
    }

    fn from_bits(b: u32) -> Op {
        match b % 3 {
            0 => Op::Add,
            1 => Self::Mul,
            _ => Op::Halt,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(i8)]
enum Sign {
    Neg = -1,
    Zero = 0,
    Pos = 1,
}

#[device]
fn sign_of(v: i32) -> Sign {
    if v < 0 {
        Sign::Neg
    } else if v == 0 {
        Sign::Zero
    } else {
        Sign::Pos
    }
}

#[device]
fn methods(a: f32, b: f32) -> [f32; 6] {
    let mut p = Vec2::new(a, b);
    let q = Vec2 {
        x: b,
        ..Vec2::ORIGIN
    };
    let d = p.dot(q);
    p.scale(2.0);
    let r = p.scaled(0.5).len2();
    let mut arr = [p, q];
    arr[1].swap_xy();
    let bumped = arr[0].bump();
    [
        d,
        p.x,
        r,
        arr[1].x,
        bumped,
        Vec2::ORIGIN.len2() + Vec2::dot(&p, q),
    ]
}

#[device]
fn enums(code: u32, a: u32) -> [u32; 5] {
    let op = Op::from_bits(code);
    let is_add = op == Op::Add;
    let n = op as u32;
    let s = sign_of(a as i32 - 100);
    let sign = match s {
        Sign::Neg => 1u32,
        Sign::Zero => 2,
        Sign::Pos => 3,
    };
    [
        op.apply(a, 3),
        is_add as u32,
        n,
        matches!(op, Op::Mul | Op::Halt) as u32,
        sign * 1000 + (s as i8 as i32 + 5) as u32,
    ]
}

#[kernel(mode = "batch")]
fn scale_points(k: f32, pts: &mut [Vec2]) {
    let i = global_index();
    if i < pts.len() {
        pts[i].scale(k);
        pts[i].swap_xy();
    }
}

#[kernel(mode = "batch")]
fn run_ops(ops: &[Op], a: &[u32], out: &mut [u32], kinds: &mut [Op]) {
    let i = global_index();
    if i < ops.len() {
        out[i] = ops[i].apply(a[i], 7);
        kinds[i] = if ops[i] == Op::Halt { Op::Add } else { ops[i] };
    }
}

#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
struct Cmd {
    op: Op,
    value: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Acc {
    total: u32,
    last: Op,
    count: u32,
}

#[device]
impl Acc {
    fn apply(&mut self, c: Cmd) -> u32 {
        if c.op != Op::Halt {
            self.total = c.op.apply(self.total, c.value);
            self.count += 1;
        }
        self.last = c.op;
        self.total
    }
}

#[kernel(mode = "ring")]
fn machine(state: &mut Acc, cmd: Cmd) -> Acc {
    state.apply(cmd);
    *state
}

// ------------------------------------------------------------------ kernels

map1!(k_classify, classify, i32, u32);
map1!(k_match_ranges, match_ranges, u32, u32);
map1!(k_match_consts, match_consts_and_matches, u32, [bool; 4]);
map2!(k_tuples, tuples, u32, u32, [u32; 8]);
map1!(k_float_tuples, float_tuples, f32, [f32; 3]);
map2!(k_struct_patterns, struct_patterns, u32, u32, [u32; 4]);
map1!(k_break_values, break_values, u32, [u32; 3]);
map2!(k_methods, methods, f32, f32, [f32; 6]);
map2!(k_enums, enums, u32, u32, [u32; 5]);

#[test]
fn match_on_integers_ranges_guards_and_constants() {
    let mut rng = common::rng("match_on_integers_ranges_guards_and_constants");
    let ints: Vec<i32> = (0..N)
        .map(|i| match i {
            0 => i32::MIN,
            1 => i32::MAX,
            _ => rng.i32(-100..100),
        })
        .collect();
    check_map!(k_classify, classify, ints);
    let edges = [0, 9, 10, 20, 21, 50, 51, 100, 101, u32::MAX, 77];
    check_map!(k_match_ranges, match_ranges, u32s(&mut rng, &edges, 300));
    check_map!(
        k_match_consts,
        match_consts_and_matches,
        u32s(&mut rng, &edges, 100)
    );
}

#[test]
fn tuples_destructuring_and_struct_patterns() {
    let mut rng = common::rng("tuples_destructuring_and_struct_patterns");
    let edges = [0, 1, u32::MAX, 16, 17, 34];
    check_map!(
        k_tuples,
        tuples,
        u32s(&mut rng, &edges, u32::MAX),
        u32s(&mut rng, &edges, 1000)
    );
    let floats: Vec<f32> = (0..N).map(|_| rng.f32() * 20.0 - 10.0).collect();
    check_map!(k_float_tuples, float_tuples, floats);
    check_map!(
        k_struct_patterns,
        struct_patterns,
        u32s(&mut rng, &edges, 300),
        u32s(&mut rng, &edges, 300)
    );
}

#[test]
fn break_with_values_and_mem_swap() {
    let mut rng = common::rng("break_with_values_and_mem_swap");
    check_map!(
        k_break_values,
        break_values,
        u32s(&mut rng, &[0, 1, 2, 27, 1000], 5000)
    );
}

#[test]
fn methods_associated_items_and_enums() {
    let mut rng = common::rng("methods_associated_items_and_enums");
    let fs = |rng: &mut fastrand::Rng| (0..N).map(|_| rng.f32() * 8.0 - 4.0).collect::<Vec<_>>();
    check_map!(k_methods, methods, fs(&mut rng), fs(&mut rng));
    check_map!(
        k_enums,
        enums,
        u32s(&mut rng, &[0, 1, 2, 3], 1000),
        u32s(&mut rng, &[0, 99, 100, 101, u32::MAX], 300)
    );
}

#[test]
fn methods_on_slice_elements_and_enums_in_buffers() {
    let mut rng = common::rng("methods_on_slice_elements_and_enums_in_buffers");
    for dev in devices("methods_on_slice_elements_and_enums_in_buffers") {
        let pts: Vec<Vec2> = (0..N)
            .map(|_| Vec2::new(rng.f32() * 10.0, rng.f32() - 0.5))
            .collect();
        let mut buf = dev.upload(&pts).unwrap();
        scale_points::launch(&dev, Launch::for_elements(N), 3.0, &mut buf).unwrap();
        let want: Vec<Vec2> = pts
            .iter()
            .map(|p| {
                let mut p = *p;
                p.scale(3.0);
                p.swap_xy();
                p
            })
            .collect();
        assert_eq!(buf.to_vec().unwrap(), want, "on {}", dev.name());

        let ops: Vec<Op> = (0..N).map(|_| Op::from_bits(rng.u32(..))).collect();
        let a: Vec<u32> = (0..N).map(|_| rng.u32(..)).collect();
        let (ob, ab) = (dev.upload(&ops).unwrap(), dev.upload(&a).unwrap());
        let mut out = dev.zeros::<u32>(N).unwrap();
        let mut kinds = dev.zeros::<Op>(N).unwrap();
        run_ops::launch(
            &dev,
            Launch::for_elements(N),
            &ob,
            &ab,
            &mut out,
            &mut kinds,
        )
        .unwrap();
        let (out, kinds) = (out.to_vec().unwrap(), kinds.to_vec().unwrap());
        for i in 0..N {
            assert_eq!(
                out[i],
                ops[i].apply(a[i], 7),
                "element {i} on {}",
                dev.name()
            );
            let k = if ops[i] == Op::Halt { Op::Add } else { ops[i] };
            assert_eq!(kinds[i], k, "element {i} on {}", dev.name());
        }
    }
}

#[test]
fn ring_actor_with_enum_messages_and_a_mut_self_method() {
    let mut rng = common::rng("ring_actor_with_enum_messages_and_a_mut_self_method");
    for dev in devices("ring_actor_with_enum_messages_and_a_mut_self_method") {
        let mut actor = machine::spawn(&dev, Acc::default()).unwrap();
        let mut want = Acc::default();
        for _ in 0..200 {
            let cmd = Cmd {
                op: Op::from_bits(rng.u32(..)),
                value: rng.u32(..1000),
            };
            want.apply(cmd);
            assert_eq!(actor.call(cmd).unwrap(), want, "on {}", dev.name());
        }
        assert_eq!(actor.shutdown().unwrap(), want);
    }
}

#[test]
fn every_kernel_here_compiles_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("every_kernel_here_compiles_with_nvrtc (idioms)");
}
