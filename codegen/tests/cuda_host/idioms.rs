//! Everyday Rust (`match`, tuples, patterns, `break` with a value,
//! struct update, `mem::swap`, …) linked by the front end from Rust
//! source, emitted, compiled as host C++ and run; each result is checked
//! against the same function run by rustc here (each function is written
//! once: [`twin!`] compiles it and keeps its source for the linker).

use super::harness::*;
use spindle_codegen::ir::{Kernel, Scalar};
use spindle_codegen::layout::TypeDesc;
use spindle_codegen::{ItemSource, KernelMode, KernelOptions};
use Scalar::*;

/// Defines the function for this test and `const $src: &str` holding its
/// source for the linker.
macro_rules! twin {
    ($src:ident: fn $name:ident $($rest:tt)*) => {
        // Some are only linked, not run as the reference.
        #[allow(clippy::all, dead_code)]
        fn $name $($rest)*
        const $src: &str = stringify!(fn $name $($rest)*);
    };
}

/// Links kernel `src` with these device functions and types.
pub fn link_rust(
    src: &'static str,
    device: &[&'static str],
    types: &[&'static TypeDesc],
) -> Kernel {
    let item = |s: &'static str| {
        let f: syn::ItemFn = syn::parse_str(s).unwrap_or_else(|e| panic!("{e}: {s}"));
        let name: &'static str = Box::leak(f.sig.ident.to_string().into_boxed_str());
        ItemSource {
            name,
            source: s,
            file: "tests/idioms.rs",
            line: 1,
            consts: &[],
        }
    };
    let devs: Vec<ItemSource<'_>> = device.iter().map(|s| item(s)).collect();
    let options = KernelOptions::new(KernelMode::Batch);
    spindle_codegen::link(&item(src), &options, &devs, types).unwrap_or_else(|e| panic!("{e}"))
}

/// One thread per input: `out[i * n + k]` is element `k` of `f(a[i], b[i])`.
pub fn map_launch(kernel: Kernel, ins: &[(Scalar, Vec<u64>)], out: Scalar, n: usize) -> Launch {
    let len = ins[0].1.len();
    let mut slices: Vec<(Scalar, Vec<u64>, bool)> =
        ins.iter().map(|(s, v)| (*s, v.clone(), false)).collect();
    slices.push((out, vec![0; len * n], true));
    Launch {
        kernel,
        slices,
        grid: (len as u32).div_ceil(32),
        block: 32,
        concurrent: false,
        shared_bytes: 0,
    }
}

/// The outputs of kernel `name` (its last slice, `slot`) as `n` values per thread.
pub fn outputs(r: &Results, name: &str, slot: usize, threads: usize, n: usize) -> Vec<Vec<u64>> {
    (0..threads)
        .map(|t| {
            (0..n)
                .map(|k| r.values[&(name.to_string(), slot, t * n + k)])
                .collect()
        })
        .collect()
}

twin! { CLASSIFY: fn classify(x: i32) -> u32 {
    match x % 4 {
        0 => 10,
        1 | 2 => 20,
        -3..=-1 => 30,
        _ => 40,
    }
} }

twin! { RANGES: fn ranges(v: u32) -> [u32; 4] {
    let a = match v {
        0..=9 => 1,
        5..=20 => 2,
        21.. => 3,
    };
    let b = match v % 10 {
        n if n > 7 => n * 100,
        n @ 2..=5 if v > 50 => n + 1000,
        3 | 4 => 7,
        _ => 0,
    };
    let c = if let 0..=3 = v % 8 { 1 } else { 2 };
    let d = matches!((v % 3, v % 5), (0, 0) | (1, _)) as u32;
    [a, b, c, d]
} }

twin! { DIV_REM: fn div_rem(a: u32, b: u32) -> (u32, u32) {
    if b == 0 {
        return (0, a);
    }
    (a / b, a % b)
} }

twin! { TUPLES: fn tuples(a: u32, b: u32) -> [u32; 6] {
    let (q, r) = div_rem(a, b % 17);
    let pair = (q, (r, a ^ b));
    let (x, (y, z)) = pair;
    let (mut s, mut t) = (a, b);
    (s, t) = (t, s);
    let w = match (a % 3, b % 2) {
        (0, 0) => 1,
        (0, _) => 2,
        (_, 1) => 3,
        (n, _) => n + 10,
    };
    let [e0, _, e2] = [x, y, z];
    [q, r, w, e0 ^ e2, s, t]
} }

twin! { BREAKS: fn breaks(n: u32) -> [u32; 3] {
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
    let mut arr = [n, 1, 2, 3];
    arr.swap(0, 3);
    [steps, collatz, x * 100_000 + y + old + arr[0] * 7 + arr[3]]
} }

#[test]
fn cuda_host_match_tuples_break_values_and_swaps() {
    require_gxx!();
    let ints: Vec<i32> = (-150..150).chain([i32::MIN, i32::MAX, -4, 4]).collect();
    let u32s: Vec<u32> = (0..300).chain([u32::MAX, 1000, 27, 77]).collect();
    let bs: Vec<u32> = u32s
        .iter()
        .map(|v| v.wrapping_mul(2654435761) % 1000)
        .collect();
    // `breaks` searches for a square root: it ends for these inputs (for
    // `u32::MAX`, `i * i` wraps before reaching it, in Rust too).
    let small: Vec<u32> = u32s.iter().map(|v| v % 100_000).collect();
    let bits = |v: &[u32]| v.iter().map(|x| *x as u64).collect::<Vec<_>>();
    let kernels = [
        (
            link_rust(
                "fn k_classify(a: &[i32], out: &mut [u32]) {
                    let i = global_index();
                    if i < a.len() { out[i] = classify(a[i]); }
                }",
                &[CLASSIFY],
                &[],
            ),
            vec![(
                I32,
                ints.iter().map(|x| *x as u32 as u64).collect::<Vec<_>>(),
            )],
            1,
        ),
        (
            link_rust(
                "fn k_ranges(a: &[u32], out: &mut [u32]) {
                    let i = global_index();
                    if i < a.len() {
                        let r = ranges(a[i]);
                        for k in 0..4 { out[i * 4 + k] = r[k]; }
                    }
                }",
                &[RANGES],
                &[],
            ),
            vec![(U32, bits(&u32s))],
            4,
        ),
        (
            link_rust(
                "fn k_tuples(a: &[u32], b: &[u32], out: &mut [u32]) {
                    let i = global_index();
                    if i < a.len() {
                        let r = tuples(a[i], b[i]);
                        for k in 0..6 { out[i * 6 + k] = r[k]; }
                    }
                }",
                &[TUPLES, DIV_REM],
                &[],
            ),
            vec![(U32, bits(&u32s)), (U32, bits(&bs))],
            6,
        ),
        (
            link_rust(
                "fn k_breaks(a: &[u32], out: &mut [u32]) {
                    let i = global_index();
                    if i < a.len() {
                        let r = breaks(a[i]);
                        for k in 0..3 { out[i * 3 + k] = r[k]; }
                    }
                }",
                &[BREAKS],
                &[],
            ),
            vec![(U32, bits(&small))],
            3,
        ),
    ];
    let shapes: Vec<(String, usize, usize, usize)> = kernels
        .iter()
        .map(|(k, ins, n)| (k.name.clone(), ins.len(), ins[0].1.len(), *n))
        .collect();
    let launches: Vec<Launch> = kernels
        .into_iter()
        .map(|(k, ins, n)| map_launch(k, &ins, U32, n))
        .collect();
    let r = run("idioms_match", &launches, "-O1");
    for (name, slot, threads, n) in &shapes {
        assert_eq!(r.faults[name][0], 0, "{name} faulted: {:?}", r.faults[name]);
        let got = outputs(&r, name, *slot, *threads, *n);
        for t in 0..*threads {
            let want: Vec<u64> = match name.as_str() {
                "k_classify" => vec![classify(ints[t]) as u64],
                "k_ranges" => ranges(u32s[t]).iter().map(|x| *x as u64).collect(),
                "k_tuples" => tuples(u32s[t], bs[t]).iter().map(|x| *x as u64).collect(),
                _ => breaks(small[t]).iter().map(|x| *x as u64).collect(),
            };
            assert_eq!(got[t], want, "{name}, thread {t}");
        }
    }
}

// ------------------------------------------------------ methods and enums

/// Defines the impl block for this test and `const $src: &str` holding its
/// source, whose items [`impl_items`] hands to the linker.
macro_rules! twin_impl {
    ($src:ident: impl $t:ident { $($body:tt)* }) => {
        #[allow(clippy::all)]
        impl $t { $($body)* }
        const $src: &str = stringify!(impl $t { $($body)* });
    };
}

/// The items of an impl block's source, named `Type::item` as the linker
/// expects them.
fn impl_items(src: &str) -> Vec<(&'static str, &'static str)> {
    let imp: syn::ItemImpl = syn::parse_str(src).unwrap();
    let ty = quote::ToTokens::to_token_stream(&imp.self_ty).to_string();
    imp.items
        .iter()
        .map(|item| {
            let name = match item {
                syn::ImplItem::Fn(f) => f.sig.ident.to_string(),
                syn::ImplItem::Const(c) => c.ident.to_string(),
                _ => unreachable!("fns and consts only"),
            };
            let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
            (
                leak(format!("{ty}::{name}")),
                leak(quote::ToTokens::to_token_stream(item).to_string()),
            )
        })
        .collect()
}

/// Links kernel `src` with free device functions and impl items.
fn link_with_impls(
    src: &'static str,
    free: &[&'static str],
    impls: &[&str],
    types: &[&'static TypeDesc],
) -> Kernel {
    let named = |name: &'static str, s: &'static str| ItemSource {
        name,
        source: s,
        file: "tests/idioms.rs",
        line: 1,
        consts: &[],
    };
    let name_of = |s: &'static str| -> &'static str {
        let f: syn::ItemFn = syn::parse_str(s).unwrap_or_else(|e| panic!("{e}: {s}"));
        Box::leak(f.sig.ident.to_string().into_boxed_str())
    };
    let mut devs: Vec<ItemSource<'_>> = free.iter().map(|s| named(name_of(s), s)).collect();
    for imp in impls {
        devs.extend(impl_items(imp).into_iter().map(|(n, s)| named(n, s)));
    }
    let options = KernelOptions::new(KernelMode::Batch);
    spindle_codegen::link(&named(name_of(src), src), &options, &devs, types)
        .unwrap_or_else(|e| panic!("{e}"))
}

use spindle_codegen::layout::{EnumLayout, EnumVariant, FieldLayout, StructLayout};

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Vec2 {
    x: f32,
    y: f32,
}

static F32_DESC: TypeDesc = TypeDesc::Scalar(F32);
static VEC2_FIELDS: [FieldLayout; 2] = [
    FieldLayout {
        name: "x",
        offset: 0,
        ty: &F32_DESC,
    },
    FieldLayout {
        name: "y",
        offset: 4,
        ty: &F32_DESC,
    },
];
static VEC2_LAYOUT: StructLayout = StructLayout {
    name: "Vec2",
    args: &[],
    size: 8,
    align: 4,
    fields: &VEC2_FIELDS,
};
static VEC2: TypeDesc = TypeDesc::Struct(&VEC2_LAYOUT);

#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u32)]
enum Op {
    Add,
    Mul,
    Halt = 7,
}

static OP_VARIANTS: [EnumVariant; 3] = [
    EnumVariant {
        name: "Add",
        value: Op::Add as i128,
    },
    EnumVariant {
        name: "Mul",
        value: Op::Mul as i128,
    },
    EnumVariant {
        name: "Halt",
        value: Op::Halt as i128,
    },
];
static OP_LAYOUT: EnumLayout = EnumLayout {
    name: "Op",
    repr: U32,
    variants: &OP_VARIANTS,
};
static OP: TypeDesc = TypeDesc::Enum(&OP_LAYOUT);

twin_impl! { VEC2_IMPL: impl Vec2 {
    const ORIGIN: Vec2 = Vec2 { x: 0.0, y: 0.0 };
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
    fn swap_xy(&mut self) {
        core::mem::swap(&mut self.x, &mut self.y);
    }
} }

twin_impl! { OP_IMPL: impl Op {
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
} }

twin! { METHODS: fn methods(a: f32, b: f32) -> [f32; 5] {
    let mut p = Vec2::new(a, b);
    let q = Vec2 { x: b, ..Vec2::ORIGIN };
    let d = p.dot(q);
    p.scale(2.0);
    let r = p.scaled(0.5).dot(q);
    let mut arr = [p, q];
    arr[1].swap_xy();
    [d, p.x, r, arr[1].y, Vec2::dot(&arr[0], Vec2::ORIGIN)]
} }

twin! { ENUMS: fn enums(code: u32, a: u32) -> [u32; 4] {
    let op = Op::from_bits(code);
    [op.apply(a, 3), (op == Op::Add) as u32, op as u32, matches!(op, Op::Mul | Op::Halt) as u32]
} }

twin! { BUMP: fn bump(c: &mut u32, by: u32) -> u32 {
    *c += by;
    *c
} }

#[test]
fn cuda_host_methods_mut_references_and_enums() {
    require_gxx!();
    let fs: Vec<f32> = (0..200).map(|i| (i as f32 - 100.0) * 0.37).collect();
    let gs: Vec<f32> = fs.iter().map(|f| f * -1.5 + 2.0).collect();
    let us: Vec<u32> = (0..200).map(|i| i * 7919 % 1000).collect();
    let f_bits = |v: &[f32]| v.iter().map(|x| x.to_bits() as u64).collect::<Vec<_>>();
    let u_bits = |v: &[u32]| v.iter().map(|x| *x as u64).collect::<Vec<_>>();
    let k_methods = link_with_impls(
        "fn k_methods(a: &[f32], b: &[f32], out: &mut [f32]) {
            let i = global_index();
            if i < a.len() {
                let r = methods(a[i], b[i]);
                for k in 0..5 { out[i * 5 + k] = r[k]; }
            }
        }",
        &[METHODS],
        &[VEC2_IMPL],
        &[&VEC2],
    );
    let k_enums = link_with_impls(
        "fn k_enums(a: &[u32], out: &mut [u32], acc: &mut [u32]) {
            let i = global_index();
            if i < a.len() {
                let r = enums(a[i], a[i] / 3);
                for k in 0..4 { out[i * 4 + k] = r[k]; }
                let mut local = i as u32;
                let b = bump(&mut local, 2);
                out[i * 4] += bump(&mut acc[i], b + local);
            }
        }",
        &[ENUMS, BUMP],
        &[OP_IMPL],
        &[&OP],
    );
    let launches = vec![
        map_launch(k_methods, &[(F32, f_bits(&fs)), (F32, f_bits(&gs))], F32, 5),
        Launch {
            kernel: k_enums,
            slices: vec![
                (U32, u_bits(&us), false),
                (U32, vec![0; us.len() * 4], true),
                (U32, u_bits(&us), true),
            ],
            grid: (us.len() as u32).div_ceil(32),
            block: 32,
            concurrent: false,
            shared_bytes: 0,
        },
    ];
    let r = run("idioms_methods", &launches, "-O1");
    for name in ["k_methods", "k_enums"] {
        assert_eq!(r.faults[name][0], 0, "{name} faulted: {:?}", r.faults[name]);
    }
    let got = outputs(&r, "k_methods", 2, fs.len(), 5);
    for t in 0..fs.len() {
        let want: Vec<u64> = methods(fs[t], gs[t])
            .iter()
            .map(|x| x.to_bits() as u64)
            .collect();
        assert_eq!(got[t], want, "methods({}, {})", fs[t], gs[t]);
    }
    let got = outputs(&r, "k_enums", 1, us.len(), 4);
    for (t, &a) in us.iter().enumerate() {
        let mut want: Vec<u64> = enums(a, a / 3).iter().map(|x| *x as u64).collect();
        let mut local = t as u32;
        let b = bump(&mut local, 2);
        let mut acc = a;
        want[0] = (want[0] as u32).wrapping_add(bump(&mut acc, b + local)) as u64;
        assert_eq!(got[t], want, "enums({a})");
        assert_eq!(
            r.values[&("k_enums".to_string(), 2, t)],
            acc as u64,
            "acc[{t}]"
        );
    }
}

twin! { SET: fn set(k: &mut usize, v: usize) {
    *k = v;
} }

/// A local lent as `&mut` to a callee holds what the callee wrote: the
/// index it then makes is checked (the emitter's range analysis must not
/// take the local's one `let` for its only definition).
#[test]
fn cuda_host_a_borrowed_index_keeps_its_bounds_check() {
    require_gxx!();
    let k = link_rust(
        "fn k_borrowed(a: &[u32], out: &mut [u32]) {
            let i = global_index();
            if i < a.len() {
                let arr = [1u32, 2, 3, 4];
                let mut k = 0usize;
                set(&mut k, a[i] as usize);
                out[i] = arr[k];
            }
        }",
        &[SET],
        &[],
    );
    let r = run(
        "idioms_borrowed",
        &[map_launch(k, &[(U32, vec![0, 3, 9, 1])], U32, 1)],
        "-O1",
    );
    let f = r.faults["k_borrowed"];
    // flag, kind (OutOfBounds), site, index, len, block, thread
    assert_eq!((f[0], f[1], f[3], f[4], f[6]), (1, 1, 9, 4, 2), "{f:?}");
    assert_eq!(r.values[&("k_borrowed".to_string(), 1, 1)], 4);
}
