//! Atomics: every operation on every type it exists for, on global and
//! shared memory; lanes in lane order within one instruction; exact counts
//! when many host threads hit the same elements.

use std::fmt::Debug;

use super::control::loop_;
use super::*;
use crate::fault::expect_fault;
use crate::{Error, FaultKind};
use AtomicOp::*;

/// One thread: `res[0] = op(&mut g[0], a[, b]); sh[2] = init;
/// res[1] = op(&mut sh[2], a[, b]); res[2] = sh[2];`.
fn one_atomic(s: Scalar, op: AtomicOp) -> Arc<Kernel> {
    let t = ty(s);
    let mut kb = KernelBuilder::new("atomic");
    let init = kb.value("init", t.clone());
    let a = kb.value("a", t.clone());
    let b = kb.value("b", t.clone());
    let g = kb.slice("g", t.clone(), true);
    let res = kb.slice("res", t.clone(), true);
    let sh = kb.shared("sh", t.clone(), 4);
    let site = kb.site("g", 1);
    let args = || {
        let mut v = vec![param(a, t.clone())];
        if op == Cas {
            v.push(param(b, t.clone()));
        }
        v
    };
    let sh2 = || shared_elem(sh, usize_(2), site, t.clone());
    let g0 = place_index(PlaceRoot::Param(g), usize_(0), site, t.clone());
    kb.build(vec![
        store_elem(res, usize_(0), site, t.clone(), atomic(op, g0, args())),
        assign(sh2(), param(init, t.clone())),
        store_elem(res, usize_(1), site, t.clone(), atomic(op, sh2(), args())),
        store_elem(res, usize_(2), site, t.clone(), load(sh2())),
    ])
}

fn check<T: DeviceType + Default + PartialEq + Debug>(
    s: Scalar,
    op: AtomicOp,
    [init, a, b]: [T; 3],
    want: T,
) {
    let k = one_atomic(s, op);
    let mut g = mem(&[init]);
    let mut res = mem(&[T::default(); 3]);
    launch(
        &k,
        Launch::new(1, 1),
        &mut [
            KernelArg::value(&init),
            KernelArg::value(&a),
            KernelArg::value(&b),
            arg_out::<T>(&mut g, 1),
            arg_out::<T>(&mut res, 3),
        ],
    )
    .unwrap();
    let what = format!("{op:?} on {s:?}: init {init:?}, operands {a:?}, {b:?}");
    assert_eq!(read::<T>(&g), vec![want], "global: {what}");
    assert_eq!(
        read::<T>(&res),
        vec![init, init, want],
        "old, shared: {what}"
    );
}

macro_rules! int_cases {
    ($T:ty, $s:expr, $signed:expr) => {{
        let s = $s;
        let (max, min) = (<$T>::MAX, <$T>::MIN);
        let neg5 = (0 as $T).wrapping_sub(5); // -5, or MAX - 4 unsigned
        check::<$T>(s, Add, [5, 7, 0], 12);
        check::<$T>(s, Add, [max, 1, 0], min);
        check::<$T>(s, Sub, [5, 7, 0], neg5.wrapping_add(3));
        check::<$T>(s, Sub, [min, 1, 0], max);
        check::<$T>(s, Min, [neg5, 3, 0], if $signed { neg5 } else { 3 });
        check::<$T>(s, Min, [3, neg5, 0], if $signed { neg5 } else { 3 });
        check::<$T>(s, Max, [neg5, 3, 0], if $signed { 3 } else { neg5 });
        check::<$T>(s, Max, [3, neg5, 0], if $signed { 3 } else { neg5 });
        check::<$T>(s, And, [0b1100, 0b1010, 0], 0b1000);
        check::<$T>(s, And, [max, neg5, 0], max & neg5);
        check::<$T>(s, Or, [0b1100, 0b1010, 0], 0b1110);
        check::<$T>(s, Xor, [0b1100, 0b1010, 0], 0b0110);
        check::<$T>(s, Xor, [min, neg5, 0], min ^ neg5);
        check::<$T>(s, Exchange, [9, neg5, 0], neg5);
        // Cas(current, new): success writes `new`, failure nothing.
        check::<$T>(s, Cas, [9, 9, 4], 4);
        check::<$T>(s, Cas, [9, 8, 4], 9);
        check::<$T>(s, Cas, [neg5, neg5, max], max);
    }};
}

#[test]
fn every_integer_atomic_wraps_and_compares_by_signedness() {
    int_cases!(i32, Scalar::I32, true);
    int_cases!(u32, Scalar::U32, false);
    int_cases!(i64, Scalar::I64, true);
    int_cases!(u64, Scalar::U64, false);
    int_cases!(isize, Scalar::Isize, true);
    int_cases!(usize, Scalar::Usize, false);
}

macro_rules! float_cases {
    ($T:ty, $s:expr) => {{
        let s = $s;
        check::<$T>(s, Add, [1.5, 2.25, 0.0], 3.75);
        check::<$T>(s, Sub, [1.5, 2.25, 0.0], -0.75);
        check::<$T>(s, Sub, [<$T>::INFINITY, 1.0, 0.0], <$T>::INFINITY);
        check::<$T>(s, Exchange, [1.5, -2.0, 0.0], -2.0);
    }};
}

#[test]
fn float_atomics_add_subtract_and_exchange() {
    float_cases!(f32, Scalar::F32);
    float_cases!(f64, Scalar::F64);
}

#[test]
fn atomics_the_type_lacks_are_refused() {
    for (s, op) in [
        (Scalar::F32, Min),
        (Scalar::F64, And),
        (Scalar::F32, Cas),
        (Scalar::U8, Add),
        (Scalar::I16, Exchange),
    ] {
        let k = one_atomic(s, op);
        let err = CpuDevice::new().program(&k).unwrap_err();
        assert!(
            matches!(&err, Error::Unsupported(m) if m.contains(op.rust_name())),
            "{op:?} on {s:?}: {err}"
        );
    }
}

#[test]
fn atomics_on_locals_and_read_only_slices_are_refused() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("bad");
    let x = kb.slice("x", u.clone(), false);
    let site = kb.site("x", 1);
    let k = kb.build(vec![stmt(StmtKind::Expr(atomic(
        Add,
        place_index(PlaceRoot::Param(x), usize_(0), site, u.clone()),
        vec![int(Scalar::U32, 1)],
    )))]);
    assert!(CpuDevice::new().program(&k).is_err());
    let mut kb = KernelBuilder::new("bad");
    let v = kb.local_mut("v", u.clone());
    let k = kb.build(vec![
        let_(v, int(Scalar::U32, 0)),
        stmt(StmtKind::Expr(atomic(
            Add,
            place_local(v, u.clone()),
            vec![int(Scalar::U32, 1)],
        ))),
    ]);
    assert!(CpuDevice::new().program(&k).is_err());
}

/// One block of 70 threads (warps of 32, 32, 6): `old[t] =
/// atomic_add(&mut g[0], 1)`, `swapped[t] = atomic_exchange(&mut sh[0],
/// t)`, `after[t] = sh[0]`.
#[test]
fn lanes_of_one_instruction_take_turns_in_lane_order() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("order");
    let g = kb.slice("g", u.clone(), true);
    let old = kb.slice("old", u.clone(), true);
    let swapped = kb.slice("swapped", u.clone(), true);
    let after = kb.slice("after", u.clone(), true);
    let sh = kb.shared("sh", u.clone(), 1);
    let site = kb.site("g", 1);
    let i = kb.local("i", ty(Scalar::Usize));
    let iu = || local(i, ty(Scalar::Usize));
    let sh0 = || shared_elem(sh, usize_(0), site, u.clone());
    let k = kb.build(vec![
        let_(i, global_index()),
        store_elem(
            old,
            iu(),
            site,
            u.clone(),
            atomic(
                Add,
                place_index(PlaceRoot::Param(g), usize_(0), site, u.clone()),
                vec![int(Scalar::U32, 1)],
            ),
        ),
        store_elem(
            swapped,
            iu(),
            site,
            u.clone(),
            atomic(Exchange, sh0(), vec![dim(Intrinsic::ThreadIdx, 0)]),
        ),
        store_elem(after, iu(), site, u.clone(), load(sh0())),
    ]);
    let n = 70;
    let mut gm = mem(&[100u32]);
    let (mut om, mut sm, mut am) = (mem(&[0u32; 70]), mem(&[0u32; 70]), mem(&[0u32; 70]));
    launch(
        &k,
        Launch::new(1, n as u32),
        &mut [
            arg_out::<u32>(&mut gm, 1),
            arg_out::<u32>(&mut om, n),
            arg_out::<u32>(&mut sm, n),
            arg_out::<u32>(&mut am, n),
        ],
    )
    .unwrap();
    assert_eq!(read::<u32>(&gm), vec![170]);
    assert_eq!(read::<u32>(&om), (100..170).collect::<Vec<u32>>());
    let want: Vec<u32> = (0..70).map(|t: u32| t.saturating_sub(1)).collect();
    assert_eq!(read::<u32>(&sm), want);
    assert_eq!(read::<u32>(&am), vec![69; 70]);
}

/// Many blocks on several host threads: a histogram (`u32` counts and
/// `f32` counts), a 64-bit sum, a signed min/max, and a counter incremented
/// with a compare-and-swap loop: all exact.
#[test]
fn a_histogram_over_many_blocks_counts_exactly() {
    let (u, f, i64_, us) = (
        ty(Scalar::U32),
        ty(Scalar::F32),
        ty(Scalar::I64),
        ty(Scalar::Usize),
    );
    let mut kb = KernelBuilder::new("histogram");
    let x = kb.slice("x", u.clone(), false);
    let hist = kb.slice("hist", u.clone(), true);
    let fhist = kb.slice("fhist", f.clone(), true);
    let total = kb.slice("total", ty(Scalar::U64), true);
    let ext = kb.slice("ext", i64_.clone(), true);
    let i = kb.local("i", us.clone());
    let v = kb.local("v", u.clone());
    let site = kb.site("hist", 1);
    let iu = || local(i, us.clone());
    let vu = || local(v, u.clone());
    let at =
        |p: ParamId, idx: Expr, ty: &Ty| place_index(PlaceRoot::Param(p), idx, site, ty.clone());
    let run = |e: Expr| stmt(StmtKind::Expr(e));
    // Signed: v - 20, so both signs occur.
    let signed = || bin(BinOp::Sub, cast(vu(), Scalar::I64), int(Scalar::I64, 20));
    let k = kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(x)),
            vec![
                let_(v, elem(x, iu(), site, u.clone())),
                run(atomic(
                    Add,
                    at(hist, cast(vu(), Scalar::Usize), &u),
                    vec![int(Scalar::U32, 1)],
                )),
                run(atomic(
                    Add,
                    at(fhist, cast(vu(), Scalar::Usize), &f),
                    vec![float(Scalar::F32, 1.0)],
                )),
                run(atomic(
                    Add,
                    at(total, usize_(0), &ty(Scalar::U64)),
                    vec![cast(vu(), Scalar::U64)],
                )),
                run(atomic(Min, at(ext, usize_(0), &i64_), vec![signed()])),
                run(atomic(Max, at(ext, usize_(1), &i64_), vec![signed()])),
            ],
            vec![],
        ),
    ]);
    let n = 100_000usize;
    let xs: Vec<u32> = (0..n).map(|i| ((i * 7919) % 37) as u32).collect();
    let xm = mem(&xs);
    let (mut hm, mut fm, mut tm, mut em) = (
        mem(&[0u32; 37]),
        mem(&[0f32; 37]),
        mem(&[0u64]),
        mem(&[0i64, 0]),
    );
    launch(
        &k,
        Launch::new(n.div_ceil(128) as u32, 128),
        &mut [
            arg_in::<u32>(&xm, n),
            arg_out::<u32>(&mut hm, 37),
            arg_out::<f32>(&mut fm, 37),
            arg_out::<u64>(&mut tm, 1),
            arg_out::<i64>(&mut em, 2),
        ],
    )
    .unwrap();
    let mut want = [0u32; 37];
    for &v in &xs {
        want[v as usize] += 1;
    }
    assert_eq!(read::<u32>(&hm), want.to_vec());
    let fwant: Vec<f32> = want.iter().map(|&c| c as f32).collect();
    assert_eq!(read::<f32>(&fm), fwant);
    assert_eq!(read::<u64>(&tm), vec![xs.iter().map(|&v| v as u64).sum()]);
    assert_eq!(read::<i64>(&em), vec![-20, 16]);
}

/// `loop { let old = c[0]; if atomic_cas(&mut c[0], old, old + 1) == old
/// { break } }` on every thread of many blocks.
#[test]
fn a_compare_and_swap_loop_counts_every_thread() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("cas_count");
    let c = kb.slice("c", u.clone(), true);
    let old = kb.local("old", u.clone());
    let site = kb.site("c", 1);
    let c0 = || place_index(PlaceRoot::Param(c), usize_(0), site, u.clone());
    let ou = || local(old, u.clone());
    let k = kb.build(vec![loop_(
        0,
        vec![
            let_(old, load(c0())),
            if_(
                bin(
                    BinOp::Eq,
                    atomic(
                        Cas,
                        c0(),
                        vec![ou(), bin(BinOp::Add, ou(), int(Scalar::U32, 1))],
                    ),
                    ou(),
                ),
                vec![stmt(StmtKind::Break(0))],
                vec![],
            ),
        ],
    )]);
    let mut cm = mem(&[5u32]);
    launch(&k, Launch::new(40, 48), &mut [arg_out::<u32>(&mut cm, 1)]).unwrap();
    assert_eq!(read::<u32>(&cm), vec![5 + 40 * 48]);
}

/// An atomic's index is checked before its operand is evaluated: the
/// faulting thread stops with the place's site.
#[test]
fn an_atomic_out_of_bounds_faults_at_its_place() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("oob_atomic");
    let g = kb.slice("g", u.clone(), true);
    let sh = kb.shared("tile", u.clone(), 8);
    let sg = kb.site("g", 3);
    let ss = kb.site("tile", 4);
    let t = || cast(dim(Intrinsic::ThreadIdx, 0), Scalar::Usize);
    let k = kb.build(vec![
        stmt(StmtKind::Expr(atomic(
            Add,
            shared_elem(sh, t(), ss, u.clone()),
            vec![int(Scalar::U32, 1)],
        ))),
        stmt(StmtKind::Expr(atomic(
            Add,
            place_index(PlaceRoot::Param(g), t(), sg, u.clone()),
            vec![int(Scalar::U32, 1)],
        ))),
    ]);
    let mut gm = mem(&[0u32; 16]);
    let err = launch(&k, Launch::new(2, 12), &mut [arg_out::<u32>(&mut gm, 16)]).unwrap_err();
    let f = expect_fault(err);
    assert_eq!(
        (f.what.as_str(), f.kind),
        ("tile", FaultKind::OutOfBounds { index: 8, len: 8 })
    );
    assert_eq!(f.at(), ([0, 0, 0], [8, 0, 0]));
    // Threads 0..8 of both blocks got through.
    let want: Vec<u32> = (0..16).map(|t| if t < 8 { 2 } else { 0 }).collect();
    assert_eq!(read::<u32>(&gm), want);
}
