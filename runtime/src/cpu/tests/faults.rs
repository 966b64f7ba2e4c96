//! Faults: the faulting thread stops, the others finish, and the launch
//! reports the first fault with its thread; bad input is an error.

use super::*;
use crate::fault::expect_fault;
use crate::{Dim3, Error, FaultKind, Location};

fn index(p: Place, idx: Expr, site: SiteId, ty: Ty) -> Place {
    let mut p = p;
    p.proj.push(Proj::Index {
        index: Box::new(idx),
        site,
    });
    p.ty = ty;
    p
}

#[test]
fn out_of_bounds_faults_name_the_first_thread_and_others_finish() {
    // out[i + 3] = i as u32 + 1 over 128 threads (4 blocks of 32) for 100 elements.
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("oob");
    let out = kb.slice("out", u.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("out", 42);
    let iu = || local(i, ty(Scalar::Usize));
    let k = kb.build(vec![
        let_(i, global_index()),
        store_elem(
            out,
            bin(BinOp::Add, iu(), usize_(3)),
            s,
            u.clone(),
            bin(BinOp::Add, cast(iu(), Scalar::U32), int(Scalar::U32, 1)),
        ),
    ]);
    let mut om = mem(&vec![0u32; 100]);
    let err = launch(&k, Launch::new(4, 32), &mut [arg_out::<u32>(&mut om, 100)]).unwrap_err();
    let f = expect_fault(err);
    assert_eq!(f.kernel, "oob");
    assert_eq!(f.what, "out");
    assert_eq!(
        f.kind,
        FaultKind::OutOfBounds {
            index: 100,
            len: 100
        }
    );
    assert_eq!(f.block, Dim3::new(3, 0, 0));
    assert_eq!(f.thread, Dim3::new(1, 0, 0));
    assert_eq!(
        f.location,
        Location {
            file: "test.rs".into(),
            line: Some(42),
            function: Some("oob".into())
        }
    );
    assert_eq!(f.location.to_string(), "test.rs:42 in `oob`");
    let got: Vec<u32> = read(&om);
    let want: Vec<u32> = (0..100).map(|j| if j < 3 { 0 } else { j - 2 }).collect();
    assert_eq!(got, want);
}

#[test]
fn out_of_bounds_in_a_local_array_and_in_a_read() {
    // let a = [1, 2, 3]; out[i] = a[x[i]]  — reading x[i] past x, and a[x[i]] past a.
    let t = ty(Scalar::I32);
    let arr = Ty::Array(Box::new(t.clone()), 3);
    let mut kb = KernelBuilder::new("oob2");
    let x = kb.slice("x", ty(Scalar::Usize), false);
    let out = kb.slice("out", t.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let a = kb.local("a", arr.clone());
    let sx = kb.site("x", 5);
    let sa = kb.site("a", 6);
    let so = kb.site("out", 7);
    let iu = || local(i, ty(Scalar::Usize));
    let k = kb.build(vec![
        let_(i, global_index()),
        let_(
            a,
            expr(
                ExprKind::ArrayLit(vec![
                    int(Scalar::I32, 1),
                    int(Scalar::I32, 2),
                    int(Scalar::I32, 3),
                ]),
                arr.clone(),
            ),
        ),
        store_elem(
            out,
            iu(),
            so,
            t.clone(),
            load(index(
                place_local(a, arr.clone()),
                elem(x, iu(), sx, ty(Scalar::Usize)),
                sa,
                t.clone(),
            )),
        ),
    ]);
    // Thread 2 indexes a[7]; threads 4.. read past x (len 4).
    let xm = mem(&[0usize, 2, 7, 1]);
    let mut om = mem(&[0i32; 8]);
    let err = launch(
        &k,
        Launch::new(1, 8),
        &mut [arg_in::<usize>(&xm, 4), arg_out::<i32>(&mut om, 8)],
    )
    .unwrap_err();
    // Both faults happen in one block: the read of x (threads 4..) comes
    // first in program order.
    let f = expect_fault(err);
    assert_eq!(
        (f.what.as_str(), f.kind, f.at().1),
        ("x", FaultKind::OutOfBounds { index: 4, len: 4 }, [4, 0, 0])
    );
    assert_eq!(read::<i32>(&om), vec![1, 3, 0, 2, 0, 0, 0, 0]);
    // Without the x fault: a[7] is the one reported.
    let err = launch(
        &k,
        Launch::new(1, 4),
        &mut [arg_in::<usize>(&xm, 4), arg_out::<i32>(&mut om, 8)],
    )
    .unwrap_err();
    let f = expect_fault(err);
    assert_eq!(
        (f.what.as_str(), f.kind, f.at().1),
        ("a", FaultKind::OutOfBounds { index: 7, len: 3 }, [2, 0, 0])
    );
}

#[test]
fn bounds_checks_off_still_never_touches_memory_out_of_bounds() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("unchecked");
    let out = kb.slice("out", u.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("out", 1);
    let k = kb.no_bounds_checks().build(vec![
        let_(i, global_index()),
        store_elem(
            out,
            local(i, ty(Scalar::Usize)),
            s,
            u.clone(),
            int(Scalar::U32, 9),
        ),
    ]);
    let mut om = mem(&[0u32; 10]);
    let err = launch(&k, Launch::new(1, 16), &mut [arg_out::<u32>(&mut om, 10)]).unwrap_err();
    assert_eq!(
        expect_fault(err).kind,
        FaultKind::OutOfBounds { index: 10, len: 10 }
    );
    assert_eq!(read::<u32>(&om), vec![9; 10]);
}

#[test]
fn division_by_zero_and_overflow_fault() {
    let k = zip_kernel(Scalar::I32, Scalar::I32, Scalar::I32, |x, y| {
        bin(BinOp::Div, x, y)
    });
    let xs = [10i32, 20, 30, i32::MIN, 50];
    let ys = [2i32, 0, 7, -1, 5];
    let (x, y) = (mem(&xs), mem(&ys));
    let mut om = mem(&[0i32; 5]);
    let err = launch(
        &k,
        Launch::new(1, 5),
        &mut [
            arg_in::<i32>(&x, 5),
            arg_in::<i32>(&y, 5),
            arg_out::<i32>(&mut om, 5),
        ],
    )
    .unwrap_err();
    let text = err.to_string();
    let f = expect_fault(err);
    assert_eq!(f.kind, FaultKind::DivideByZero);
    assert!(text.contains("by zero"), "{text}");
    assert_eq!(f.at(), ([0, 0, 0], [1, 0, 0]));
    assert_eq!(read::<i32>(&om), vec![5, 0, 4, 0, 10]);
    // MIN / -1 alone.
    let ys = [2i32, 1, 7, -1, 5];
    let y = mem(&ys);
    let err = launch(
        &k,
        Launch::new(1, 5),
        &mut [
            arg_in::<i32>(&x, 5),
            arg_in::<i32>(&y, 5),
            arg_out::<i32>(&mut om, 5),
        ],
    )
    .unwrap_err();
    let text = err.to_string();
    let f = expect_fault(err);
    assert_eq!(f.kind, FaultKind::DivideOverflow);
    assert!(text.contains("overflow (MIN / -1)"), "{text}");
    assert_eq!(f.at().1, [3, 0, 0]);
    // Unsigned remainder by zero.
    let k = zip_kernel(Scalar::U8, Scalar::U8, Scalar::U8, |x, y| {
        bin(BinOp::Rem, x, y)
    });
    let (x, y) = (mem(&[7u8, 9]), mem(&[3u8, 0]));
    let mut om = mem(&[0u8; 2]);
    let err = launch(
        &k,
        Launch::new(1, 2),
        &mut [
            arg_in::<u8>(&x, 2),
            arg_in::<u8>(&y, 2),
            arg_out::<u8>(&mut om, 2),
        ],
    )
    .unwrap_err();
    let f = expect_fault(err);
    assert_eq!((f.kind, f.at().1), (FaultKind::DivideByZero, [1, 0, 0]));
    assert_eq!(read::<u8>(&om), vec![1, 0]);
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let k = saxpy_kernel();
    let x = mem(&[1f32; 4]);
    let mut y = mem(&[1f32; 4]);
    // Slice longer than its buffer.
    let err = launch(
        &k,
        Launch::new(1, 4),
        &mut [
            KernelArg::value(&1f32),
            arg_in::<f32>(&x, 5),
            arg_out::<f32>(&mut y, 4),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Argument { ref param, .. } if param == "x"),
        "{err:?}"
    );
    // A by-value argument of the wrong size.
    let err = launch(
        &k,
        Launch::new(1, 4),
        &mut [
            KernelArg::value(&1f64),
            arg_in::<f32>(&x, 4),
            arg_out::<f32>(&mut y, 4),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Argument { ref param, .. } if param == "a"),
        "{err:?}"
    );
    // Too few arguments.
    let err = launch(&k, Launch::new(1, 4), &mut [KernelArg::value(&1f32)]).unwrap_err();
    assert!(matches!(err, Error::Argument { .. }), "{err:?}");
    // An invalid launch.
    let err = launch(
        &k,
        Launch::new(0, 4),
        &mut [
            KernelArg::value(&1f32),
            arg_in::<f32>(&x, 4),
            arg_out::<f32>(&mut y, 4),
        ],
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidLaunch { .. }), "{err:?}");
}

#[test]
fn unsupported_ir_is_an_error_not_a_panic() {
    // A store into a `&[T]` parameter.
    let mut kb = KernelBuilder::new("bad");
    let x = kb.slice("x", ty(Scalar::U32), false);
    let s = kb.site("x", 1);
    let k = kb.build(vec![store_elem(
        x,
        usize_(0),
        s,
        ty(Scalar::U32),
        int(Scalar::U32, 1),
    )]);
    let xm = mem(&[0u32]);
    let err = launch(&k, Launch::new(1, 1), &mut [arg_in::<u32>(&xm, 1)]).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported(ref m) if m.contains("&[T]")),
        "{err:?}"
    );
    // A local that does not exist.
    let kb = KernelBuilder::new("bad2");
    let k = kb.build(vec![let_(3, int(Scalar::U32, 1))]);
    let err = launch(&k, Launch::new(1, 1), &mut []).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported(ref m) if m.contains("unknown local")),
        "{err:?}"
    );
}

#[test]
fn inactive_lanes_never_fault() {
    // if y[i] != 0 { out[i] = x[i] / y[i] } else { out[i] = -1 }
    // and: if i == 0 || x[i - 1] > 0 { out2[i] = 1 }  (x[usize::MAX] never read)
    let t = ty(Scalar::I32);
    let mut kb = KernelBuilder::new("guarded");
    let x = kb.slice("x", t.clone(), false);
    let y = kb.slice("y", t.clone(), false);
    let out = kb.slice("out", t.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("x", 1);
    let iu = || local(i, ty(Scalar::Usize));
    let at = |p| elem(p, iu(), s, t.clone());
    let k = kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Ne, at(y), int(Scalar::I32, 0)),
            vec![store_elem(
                out,
                iu(),
                s,
                t.clone(),
                bin(BinOp::Div, at(x), at(y)),
            )],
            vec![store_elem(out, iu(), s, t.clone(), int(Scalar::I32, -1))],
        ),
        if_(
            bin(
                BinOp::Or,
                bin(BinOp::Eq, iu(), usize_(0)),
                bin(
                    BinOp::Gt,
                    elem(x, bin(BinOp::Sub, iu(), usize_(1)), s, t.clone()),
                    int(Scalar::I32, 0),
                ),
            ),
            vec![compound(
                place_index(PlaceRoot::Param(out), iu(), s, t.clone()),
                BinOp::Add,
                int(Scalar::I32, 1000),
            )],
            vec![],
        ),
    ]);
    let xs = [8i32, 9, -10, 11, 12, 0, 14, 15];
    let ys = [2i32, 0, 5, 0, 4, 1, 0, 3];
    let got: Vec<i32> = run_zip_n(&k, &xs, &ys, 8);
    let want: Vec<i32> = (0..8)
        .map(|i| {
            let q = if ys[i] != 0 { xs[i] / ys[i] } else { -1 };
            q + if i == 0 || xs[i - 1] > 0 { 1000 } else { 0 }
        })
        .collect();
    assert_eq!(got, want);
}

/// Runs a two-input kernel on one block of `threads` threads.
fn run_zip_n(k: &Arc<Kernel>, xs: &[i32], ys: &[i32], threads: u32) -> Vec<i32> {
    let (x, y) = (mem(xs), mem(ys));
    let mut o = mem(&vec![0i32; xs.len()]);
    launch(
        k,
        Launch::new(1, threads),
        &mut [
            arg_in::<i32>(&x, xs.len()),
            arg_in::<i32>(&y, ys.len()),
            arg_out::<i32>(&mut o, xs.len()),
        ],
    )
    .unwrap();
    read(&o)
}

#[test]
fn malformed_ir_is_rejected_before_it_runs() {
    // An assignment to an immutable scalar parameter (a fixed register).
    let mut kb = KernelBuilder::new("m1");
    let a = kb.value("a", ty(Scalar::U32));
    let k = kb.build(vec![assign(
        place_param(a, ty(Scalar::U32)),
        int(Scalar::U32, 1),
    )]);
    let err = launch(&k, Launch::new(1, 1), &mut [KernelArg::value(&0u32)]).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported(ref m) if m.contains("immutable parameter")),
        "{err:?}"
    );
    // A `let` whose value reads the local it declares.
    let mut kb = KernelBuilder::new("m2");
    let x = kb.local_mut("x", ty(Scalar::U32));
    let k = kb.build(vec![let_(
        x,
        bin(BinOp::Add, local(x, ty(Scalar::U32)), int(Scalar::U32, 1)),
    )]);
    let err = launch(&k, Launch::new(1, 1), &mut []).unwrap_err();
    assert!(
        matches!(err, Error::Unsupported(ref m) if m.contains("reads that local")),
        "{err:?}"
    );
}
