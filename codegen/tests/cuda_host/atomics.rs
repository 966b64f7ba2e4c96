//! Atomics with the threads of each block as concurrent OS threads
//! (`spindle_host_launch_concurrent`): every operation on every type gives
//! exact results under contention, float add/sub included (with
//! exactly representable values, and subnormal steps that must not flush).

use super::harness::*;
use spindle_codegen::ir::*;
use Scalar::*;

/// `v` wrapped into the range of integer type `s`.
fn wrap(s: Scalar, v: i128) -> i128 {
    let m = 1i128 << s.bits();
    let r = v.rem_euclid(m);
    if s.is_signed_int() && r >= m / 2 {
        r - m
    } else {
        r
    }
}

fn bits(s: Scalar, v: i128) -> u64 {
    (v as u64) & mask(s)
}

const ATOMIC_THREADS: (u32, u32) = (4, 64);

/// `atomics_<t>(x: &[T], acc: &mut [T], olds: &mut [T])`: thread `i` does
/// every integer atomic on `acc[0..10]` (see the test), keeping each old
/// value in `olds[i * 10 + k]`; `acc[8]` is incremented by a CAS loop.
pub fn int_atomics_kernel(s: Scalar) -> Kernel {
    let name = format!("atomics_{}", s.rust_name());
    let (i, v, cur, old) = (0, 1, 2, 3);
    let acc = |k: i128| index(place_param(1, ty(s)), int(Usize, k), 1, ty(s));
    let olds = |k: i128| strided(2, s, get(i, Usize), 10, k);
    let mut then = vec![let_(
        v,
        load(index(place_param(0, ty(s)), get(i, Usize), 0, ty(s))),
    )];
    let ops = [
        (AtomicOp::Add, int(s, 1)),
        (AtomicOp::Sub, int(s, 1)),
        (AtomicOp::Min, get(v, s)),
        (AtomicOp::Max, get(v, s)),
        (AtomicOp::And, get(v, s)),
        (AtomicOp::Or, get(v, s)),
        (AtomicOp::Xor, get(v, s)),
        (AtomicOp::Exchange, get(v, s)),
    ];
    for (k, (op, arg)) in ops.into_iter().enumerate() {
        then.push(StmtKind::Assign {
            place: olds(k as i128),
            value: atomic(op, acc(k as i128), vec![arg]),
        });
    }
    // let mut cur = atomic_add(&mut acc[8], 0);
    // loop { let old = atomic_cas(&mut acc[8], cur, cur + 1); if old == cur { break; } cur = old; }
    then.push(let_(cur, atomic(AtomicOp::Add, acc(8), vec![int(s, 0)])));
    then.push(StmtKind::Loop {
        id: 0,
        body: block(vec![
            let_(
                old,
                atomic(
                    AtomicOp::Cas,
                    acc(8),
                    vec![get(cur, s), bin(BinOp::Add, get(cur, s), int(s, 1))],
                ),
            ),
            if_then(
                bin(BinOp::Eq, get(old, s), get(cur, s)),
                vec![StmtKind::Break(0)],
            ),
            StmtKind::Assign {
                place: place_local(cur, ty(s)),
                value: get(old, s),
            },
        ]),
    });
    then.push(StmtKind::Assign {
        place: olds(8),
        value: get(cur, s),
    });
    then.push(StmtKind::Assign {
        place: olds(9),
        value: atomic(AtomicOp::Add, acc(9), vec![get(v, s)]),
    });
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], ty(Usize))),
        if_then(bin(BinOp::Lt, get(i, Usize), slice_len(0)), then),
    ];
    let f = function(
        &name,
        vec![("x", ro(s)), ("acc", rw(s)), ("olds", rw(s))],
        vec![
            ("i", ty(Usize), false),
            ("v", ty(s), false),
            ("cur", ty(s), true),
            ("old", ty(s), false),
        ],
        body,
    );
    kernel(&name, f, 2, vec![])
}

/// Sorted, as a multiset.
fn sorted(mut v: Vec<i128>) -> Vec<i128> {
    v.sort();
    v
}

#[test]
fn cuda_host_integer_atomics_are_exact_under_contention() {
    require_gxx!();
    let (grid, block) = ATOMIC_THREADS;
    let n = (grid * block) as usize;
    let types = [I32, U32, I64, U64, Isize, Usize];
    let mut launches = Vec::new();
    let mut setups = Vec::new();
    for s in types {
        let max = wrap(s, (1i128 << (s.bits() - 1 + !s.is_signed_int() as u32)) - 1);
        let min = wrap(
            s,
            if s.is_signed_int() {
                -(1i128 << (s.bits() - 1))
            } else {
                0
            },
        );
        let xs: Vec<i128> = (0..n as i128)
            .map(|i| wrap(s, i * 0x9E37_79B9_7F4A_7C15 + 12345))
            .collect();
        // Add and the CAS loop wrap past MAX; Sub wraps past MIN.
        let init: Vec<i128> = vec![
            wrap(s, max - 100),
            wrap(s, min + 100),
            wrap(s, 7),
            wrap(s, 7),
            wrap(s, -1),
            0,
            wrap(s, 0x5A5A_5A5A),
            wrap(s, 42),
            wrap(s, max - 50),
            wrap(s, 3),
        ];
        launches.push(Launch {
            kernel: int_atomics_kernel(s),
            slices: vec![
                (s, xs.iter().map(|v| bits(s, *v)).collect(), false),
                (s, init.iter().map(|v| bits(s, *v)).collect(), true),
                (s, vec![0; n * 10], true),
            ],
            grid,
            block,
            concurrent: true,
            shared_bytes: 0,
        });
        setups.push((s, xs, init));
    }
    let r = run("int_atomics", &launches, "-O1");
    for (s, xs, init) in setups {
        let name = format!("atomics_{}", s.rust_name());
        assert_eq!(r.faults[&name][0], 0, "{name} faulted");
        let acc = |k: usize| wrap(s, r.values[&(name.clone(), 1, k)] as i128);
        let olds = |k: usize| -> Vec<i128> {
            (0..n)
                .map(|i| wrap(s, r.values[&(name.clone(), 2, i * 10 + k)] as i128))
                .collect()
        };
        let nn = n as i128;
        assert_eq!(acc(0), wrap(s, init[0] + nn), "{name} add");
        let want: Vec<i128> = (0..nn).map(|k| wrap(s, init[0] + k)).collect();
        assert_eq!(sorted(olds(0)), sorted(want), "{name} add: old values");
        assert_eq!(acc(1), wrap(s, init[1] - nn), "{name} sub");
        let want: Vec<i128> = (0..nn).map(|k| wrap(s, init[1] - k)).collect();
        assert_eq!(sorted(olds(1)), sorted(want), "{name} sub: old values");
        let lo = xs.iter().copied().chain([init[2]]).min().unwrap();
        let hi = xs.iter().copied().chain([init[3]]).max().unwrap();
        assert_eq!(acc(2), lo, "{name} min");
        assert_eq!(acc(3), hi, "{name} max");
        let and = xs.iter().fold(bits(s, init[4]), |a, x| a & bits(s, *x));
        let or = xs.iter().fold(bits(s, init[5]), |a, x| a | bits(s, *x));
        let xor = xs.iter().fold(bits(s, init[6]), |a, x| a ^ bits(s, *x));
        assert_eq!(bits(s, acc(4)), and, "{name} and");
        assert_eq!(bits(s, acc(5)), or, "{name} or");
        assert_eq!(bits(s, acc(6)), xor, "{name} xor");
        // Exchange: the old values and the final one are the initial value
        // and every thread's, each once.
        let mut got = olds(7);
        got.push(acc(7));
        let mut want = xs.clone();
        want.push(init[7]);
        assert_eq!(sorted(got), sorted(want), "{name} exchange");
        assert_eq!(acc(8), wrap(s, init[8] + nn), "{name} cas loop");
        let want: Vec<i128> = (0..nn).map(|k| wrap(s, init[8] + k)).collect();
        assert_eq!(
            sorted(olds(8)),
            sorted(want),
            "{name} cas: each value won once"
        );
        let sum = xs.iter().fold(init[9], |a, x| wrap(s, a + x));
        assert_eq!(acc(9), sum, "{name} add of v");
    }
}

/// `fatomics_<t>(x: &[T], acc: &mut [T], olds: &mut [T])`: `acc[0] += x[i]`,
/// `acc[1] -= x[i]`, `acc[2] += T::MIN_POSITIVE subnormal`, exchange on
/// `acc[3]` (olds at `i * 2`, `i * 2 + 1`).
fn float_atomics_kernel(s: Scalar) -> Kernel {
    let name = format!("fatomics_{}", s.rust_name());
    let (i, v) = (0, 1);
    let acc = |k: i128| index(place_param(1, ty(s)), int(Usize, k), 1, ty(s));
    let tiny = if s == F32 {
        f64::from(f32::from_bits(1))
    } else {
        f64::from_bits(1)
    };
    let then = vec![
        let_(
            v,
            load(index(place_param(0, ty(s)), get(i, Usize), 0, ty(s))),
        ),
        StmtKind::Expr(atomic(AtomicOp::Add, acc(0), vec![get(v, s)])),
        StmtKind::Expr(atomic(AtomicOp::Sub, acc(1), vec![get(v, s)])),
        StmtKind::Assign {
            place: strided(2, s, get(i, Usize), 2, 0),
            value: atomic(AtomicOp::Add, acc(2), vec![float(s, tiny)]),
        },
        StmtKind::Assign {
            place: strided(2, s, get(i, Usize), 2, 1),
            value: atomic(AtomicOp::Exchange, acc(3), vec![get(v, s)]),
        },
    ];
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], ty(Usize))),
        if_then(bin(BinOp::Lt, get(i, Usize), slice_len(0)), then),
    ];
    let f = function(
        &name,
        vec![("x", ro(s)), ("acc", rw(s)), ("olds", rw(s))],
        vec![("i", ty(Usize), false), ("v", ty(s), false)],
        body,
    );
    kernel(&name, f, 2, vec![])
}

#[test]
fn cuda_host_float_atomics_are_exact_with_representable_values() {
    require_gxx!();
    let (grid, block) = ATOMIC_THREADS;
    let n = (grid * block) as usize;
    // Quarters: every partial sum is exact, in any order.
    let xs: Vec<f64> = (0..n).map(|i| (i % 8) as f64 * 0.25 + 1.0).collect();
    let sum: f64 = xs.iter().sum();
    let mut launches = Vec::new();
    for s in [F32, F64] {
        let enc = |v: f64| {
            if s == F32 {
                (v as f32).to_bits() as u64
            } else {
                v.to_bits()
            }
        };
        launches.push(Launch {
            kernel: float_atomics_kernel(s),
            slices: vec![
                (s, xs.iter().map(|v| enc(*v)).collect(), false),
                (s, vec![enc(10.0), enc(1000.0), enc(0.0), enc(-3.5)], true),
                (s, vec![0; n * 2], true),
            ],
            grid,
            block,
            concurrent: true,
            shared_bytes: 0,
        });
    }
    let r = run("float_atomics", &launches, "-O1");
    for s in [F32, F64] {
        let name = format!("fatomics_{}", s.rust_name());
        let dec = |b: u64| {
            if s == F32 {
                f64::from(f32::from_bits(b as u32))
            } else {
                f64::from_bits(b)
            }
        };
        let acc = |k: usize| dec(r.values[&(name.clone(), 1, k)]);
        assert_eq!(acc(0), 10.0 + sum, "{name} add");
        assert_eq!(acc(1), 1000.0 - sum, "{name} sub");
        // n subnormal steps: no flushing to zero.
        let tiny = if s == F32 {
            f64::from(f32::from_bits(1))
        } else {
            f64::from_bits(1)
        };
        assert_eq!(acc(2), tiny * n as f64, "{name} subnormal add");
        let mut olds: Vec<f64> = (0..n)
            .map(|i| dec(r.values[&(name.clone(), 2, i * 2)]))
            .collect();
        olds.sort_by(f64::total_cmp);
        let want: Vec<f64> = (0..n).map(|k| tiny * k as f64).collect();
        assert_eq!(olds, want, "{name} subnormal add: old values");
        let mut got: Vec<f64> = (0..n)
            .map(|i| dec(r.values[&(name.clone(), 2, i * 2 + 1)]))
            .chain([acc(3)])
            .collect();
        got.sort_by(f64::total_cmp);
        let mut want: Vec<f64> = xs.iter().copied().chain([-3.5]).collect();
        want.sort_by(f64::total_cmp);
        assert_eq!(got, want, "{name} exchange");
    }
}

/// `histogram(x: &[u32], bins: &mut [u32])`: `atomic_add(&mut bins[x[i] % bins.len()], 1)`.
fn histogram_kernel() -> Kernel {
    let i = 0;
    let xi = load(index(place_param(0, ty(U32)), get(i, Usize), 0, ty(U32)));
    let bin_of = bin(BinOp::Rem, cast(xi, Usize), slice_len(1));
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], ty(Usize))),
        if_then(
            bin(BinOp::Lt, get(i, Usize), slice_len(0)),
            vec![StmtKind::Expr(atomic(
                AtomicOp::Add,
                index(place_param(1, ty(U32)), bin_of, 1, ty(U32)),
                vec![int(U32, 1)],
            ))],
        ),
    ];
    let f = function(
        "histogram",
        vec![("x", ro(U32)), ("bins", rw(U32))],
        vec![("i", ty(Usize), false)],
        body,
    );
    kernel("histogram", f, 2, vec![])
}

#[test]
fn cuda_host_histogram_counts_every_element() {
    require_gxx!();
    let xs: Vec<u64> = (0..1000u64).map(|i| (i * i + 7 * i) % 1013).collect();
    let bins = 5;
    let r = run(
        "histogram",
        &[Launch {
            kernel: histogram_kernel(),
            slices: vec![(U32, xs.clone(), false), (U32, vec![0; bins], true)],
            grid: 8,
            block: 128,
            concurrent: true,
            shared_bytes: 0,
        }],
        "-O1",
    );
    for b in 0..bins {
        let want = xs.iter().filter(|x| **x as usize % bins == b).count() as u64;
        assert_eq!(r.values[&("histogram".to_string(), 1, b)], want, "bin {b}");
    }
}
