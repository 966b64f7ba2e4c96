//! Places (structs, arrays, slices of structs), parameters, grids and faults.

use super::*;
use crate::Error;

fn field(p: Place, i: u32, ty: Ty) -> Place {
    let mut p = p;
    p.proj.push(Proj::Field(i));
    p.ty = ty;
    p
}

fn index(p: Place, idx: Expr, site: SiteId, ty: Ty) -> Place {
    let mut p = p;
    p.proj.push(Proj::Index {
        index: Box::new(idx),
        site,
    });
    p.ty = ty;
    p
}

fn f32_(v: f64) -> Expr {
    float(Scalar::F32, v)
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Point {
    x: f32,
    y: f32,
    tag: u8,
    w: [u16; 3],
}

// SAFETY (test): repr(C) plain data, valid for every bit pattern the
// kernel writes. `DESC` is a placeholder: the CPU launch path does not read
// it (the IR's own `StructDef` gives the layout, checked against
// `size_of::<Point>()` below).
unsafe impl DeviceType for Point {
    const DESC: spindle_codegen::layout::TypeDesc =
        spindle_codegen::layout::TypeDesc::Scalar(Scalar::U8);
}

#[test]
fn slices_of_structs_and_struct_locals() {
    let mut kb = KernelBuilder::new("points");
    let f = sc(Scalar::F32);
    let w = Ty::Array(Box::new(sc(Scalar::U16)), 3);
    let pt = kb.add_struct(
        "Point",
        &[
            ("x", f.clone()),
            ("y", f.clone()),
            ("tag", sc(Scalar::U8)),
            ("w", w.clone()),
        ],
    );
    assert_eq!(kb.struct_size(pt) as usize, std::mem::size_of::<Point>());
    let pty = Ty::Struct(pt);
    let pts = kb.slice("pts", pty.clone(), false);
    let out = kb.slice("out", pty.clone(), true);
    let i = kb.local("i", sc(Scalar::Usize));
    let p = kb.local_mut("p", pty.clone());
    let q = kb.local("q", pty.clone());
    let s = kb.site("pts", 1);
    let sw = kb.site("p.w", 2);
    let iu = || local(i, sc(Scalar::Usize));
    let pts_i = || index(place_param(pts, pty.clone()), iu(), s, pty.clone());
    let pl = || place_local(p, pty.clone());
    let k = kb.build(vec![
        let_(i, global_index()),
        // let mut p = pts[i];
        let_(p, load(pts_i())),
        // p.x = p.x * p.y + pts[i].tag as f32;
        assign(
            field(pl(), 0, f.clone()),
            bin(
                BinOp::Add,
                bin(
                    BinOp::Mul,
                    load(field(pl(), 0, f.clone())),
                    load(field(pl(), 1, f.clone())),
                ),
                cast(load(field(pts_i(), 2, sc(Scalar::U8))), Scalar::F32),
            ),
        ),
        // let q = p;  (a copy)
        let_(q, local(p, pty.clone())),
        // p.y = 0.0; p.w[tag % 3] += 1000;
        assign(field(pl(), 1, f.clone()), f32_(0.0)),
        compound(
            index(
                field(pl(), 3, w.clone()),
                cast(
                    bin(
                        BinOp::Rem,
                        load(field(pl(), 2, sc(Scalar::U8))),
                        int(Scalar::U8, 3),
                    ),
                    Scalar::Usize,
                ),
                sw,
                sc(Scalar::U16),
            ),
            BinOp::Add,
            int(Scalar::U16, 1000),
        ),
        // out[i] = Point { x: q.x, y: q.y + 1.0, tag: q.tag, w: p.w };
        store_elem(
            out,
            iu(),
            s,
            pty.clone(),
            ex(
                ExprKind::StructLit(vec![
                    load(field(place_local(q, pty.clone()), 0, f.clone())),
                    bin(
                        BinOp::Add,
                        load(field(place_local(q, pty.clone()), 1, f.clone())),
                        f32_(1.0),
                    ),
                    load(field(place_local(q, pty.clone()), 2, sc(Scalar::U8))),
                    load(field(pl(), 3, w.clone())),
                ]),
                pty.clone(),
            ),
        ),
    ]);
    let input: Vec<Point> = (0..128)
        .map(|i| Point {
            x: i as f32,
            y: 0.5,
            tag: (i * 7 % 256) as u8,
            w: [i as u16, 1, 2],
        })
        .collect();
    let got: Vec<Point> = run_map(&k, &input);
    let want: Vec<Point> = input
        .iter()
        .map(|p| {
            let mut p = *p;
            p.x = p.x * p.y + p.tag as f32;
            let q = p;
            p.y = 0.0;
            p.w[(p.tag % 3) as usize] += 1000;
            Point {
                x: q.x,
                y: q.y + 1.0,
                tag: q.tag,
                w: p.w,
            }
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn local_arrays_with_dynamic_indices() {
    // let mut a = [0i32; 8]; for j in 0..8 { a[j] = j as i32 * v; }
    // let m = [[1, 2, 3], [v, 5, 6]];
    // r = a[(v % 8) as usize] + a[((v + 3) % 8) as usize] * 100 + m[1][0] * 10000 + m[(v%2)][2]
    let t = sc(Scalar::I32);
    let arr = Ty::Array(Box::new(t.clone()), 8);
    let row = Ty::Array(Box::new(t.clone()), 3);
    let mat = Ty::Array(Box::new(row.clone()), 2);
    let mut kb = KernelBuilder::new("arrays");
    let x = kb.slice("x", t.clone(), false);
    let out = kb.slice("out", t.clone(), true);
    let i = kb.local("i", sc(Scalar::Usize));
    let v = kb.local("v", t.clone());
    let a = kb.local_mut("a", arr.clone());
    let m = kb.local("m", mat.clone());
    let j = kb.local("j", sc(Scalar::Usize));
    let s = kb.site("x", 1);
    let sa = kb.site("a", 2);
    let sm = kb.site("m", 3);
    let iu = || local(i, sc(Scalar::Usize));
    let vl = || local(v, t.clone());
    let i32_ = |n| int(Scalar::I32, n);
    let a_at = |e: Expr| index(place_local(a, arr.clone()), e, sa, t.clone());
    let as_idx = |e: Expr| cast(e, Scalar::Usize);
    let k = kb.build(vec![
        let_(i, global_index()),
        let_(v, elem(x, iu(), s, t.clone())),
        let_(
            a,
            ex(ExprKind::ArrayRepeat(Box::new(i32_(0)), 8), arr.clone()),
        ),
        st(StmtKind::For {
            id: 0,
            var: j,
            start: usize_(0),
            end: usize_(8),
            inclusive: false,
            step: None,
            body: Block {
                stmts: vec![assign(
                    a_at(local(j, sc(Scalar::Usize))),
                    bin(
                        BinOp::Mul,
                        cast(local(j, sc(Scalar::Usize)), Scalar::I32),
                        vl(),
                    ),
                )],
            },
        }),
        let_(
            m,
            ex(
                ExprKind::ArrayLit(vec![
                    ex(
                        ExprKind::ArrayLit(vec![i32_(1), i32_(2), i32_(3)]),
                        row.clone(),
                    ),
                    ex(
                        ExprKind::ArrayLit(vec![vl(), i32_(5), i32_(6)]),
                        row.clone(),
                    ),
                ]),
                mat.clone(),
            ),
        ),
        store_elem(
            out,
            iu(),
            s,
            t.clone(),
            bin(
                BinOp::Add,
                bin(
                    BinOp::Add,
                    load(a_at(as_idx(bin(BinOp::Rem, vl(), i32_(8))))),
                    bin(
                        BinOp::Mul,
                        load(a_at(as_idx(bin(
                            BinOp::Rem,
                            bin(BinOp::Add, vl(), i32_(3)),
                            i32_(8),
                        )))),
                        i32_(100),
                    ),
                ),
                bin(
                    BinOp::Add,
                    bin(
                        BinOp::Mul,
                        load(index(
                            index(place_local(m, mat.clone()), usize_(1), sm, row.clone()),
                            usize_(0),
                            sm,
                            t.clone(),
                        )),
                        i32_(10000),
                    ),
                    load(index(
                        index(
                            place_local(m, mat.clone()),
                            as_idx(bin(BinOp::Rem, vl(), i32_(2))),
                            sm,
                            row.clone(),
                        ),
                        usize_(2),
                        sm,
                        t.clone(),
                    )),
                ),
            ),
        ),
    ]);
    let xs: Vec<i32> = (0..128).collect();
    let got: Vec<i32> = run_map(&k, &xs);
    let want: Vec<i32> = xs
        .iter()
        .map(|&v| {
            let mut a = [0i32; 8];
            for (j, e) in a.iter_mut().enumerate() {
                *e = j as i32 * v;
            }
            let m = [[1, 2, 3], [v, 5, 6]];
            a[(v % 8) as usize]
                + a[((v + 3) % 8) as usize] * 100
                + m[1][0] * 10000
                + m[(v % 2) as usize][2]
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn by_value_parameters_struct_and_mutable() {
    // fn k(p: Params { scale: f32, offset: [f32; 4] }, mut bias: i32, out: &mut [f32])
    // bias += i as i32; out[i] = p.offset[i % 4] * p.scale + bias as f32
    let f = sc(Scalar::F32);
    let t = sc(Scalar::I32);
    let off = Ty::Array(Box::new(f.clone()), 4);
    let mut kb = KernelBuilder::new("params");
    let ps = kb.add_struct("Params", &[("scale", f.clone()), ("offset", off.clone())]);
    let p = kb.value("p", Ty::Struct(ps));
    let bias = kb.value_mut("bias", t.clone());
    let out = kb.slice("out", f.clone(), true);
    let i = kb.local("i", sc(Scalar::Usize));
    let s = kb.site("out", 1);
    let so = kb.site("p.offset", 1);
    let iu = || local(i, sc(Scalar::Usize));
    let k = kb.build(vec![
        let_(i, global_index()),
        compound(
            place_param(bias, t.clone()),
            BinOp::Add,
            cast(iu(), Scalar::I32),
        ),
        store_elem(
            out,
            iu(),
            s,
            f.clone(),
            bin(
                BinOp::Add,
                bin(
                    BinOp::Mul,
                    load(index(
                        field(place_param(p, Ty::Struct(ps)), 1, off.clone()),
                        bin(BinOp::Rem, iu(), usize_(4)),
                        so,
                        f.clone(),
                    )),
                    load(field(place_param(p, Ty::Struct(ps)), 0, f.clone())),
                ),
                cast(param(bias, t.clone()), Scalar::F32),
            ),
        ),
    ]);
    #[repr(C)]
    struct Params {
        scale: f32,
        offset: [f32; 4],
    }
    let params = Params {
        scale: 2.0,
        offset: [1.0, -1.0, 0.5, 10.0],
    };
    // SAFETY (test): plain repr(C) data.
    let bytes =
        unsafe { std::slice::from_raw_parts((&params as *const Params).cast::<u8>(), 20) }.to_vec();
    let n = 300;
    let mut om = mem(&vec![0f32; n]);
    // 384 threads for 300 elements: the extra ones fault, the rest finish.
    let err = launch(
        &k,
        Launch::new(3, 128),
        &mut [
            KernelArg::Value {
                desc: &f32::DESC,
                bytes,
            },
            KernelArg::value(&-50i32),
            arg_out::<f32>(&mut om, n),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfBounds {
                index: 300,
                len: 300,
                block: [2, 0, 0],
                thread: [44, 0, 0],
                ..
            }
        ),
        "{err:?}"
    );
    let got: Vec<f32> = read(&om);
    let want: Vec<f32> = (0..n)
        .map(|i| params.offset[i % 4] * params.scale + (-50 + i as i32) as f32)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn out_of_bounds_faults_name_the_first_thread_and_others_finish() {
    // out[i + 3] = i as u32 + 1 over 128 threads (4 blocks of 32) for 100 elements.
    let u = sc(Scalar::U32);
    let mut kb = KernelBuilder::new("oob");
    let out = kb.slice("out", u.clone(), true);
    let i = kb.local("i", sc(Scalar::Usize));
    let s = kb.site("out", 42);
    let iu = || local(i, sc(Scalar::Usize));
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
    match err {
        Error::OutOfBounds {
            kernel,
            what,
            index,
            len,
            block,
            thread,
            location,
        } => {
            assert_eq!(kernel, "oob");
            assert_eq!(what, "out");
            assert_eq!((index, len), (100, 100));
            assert_eq!(block, [3, 0, 0]);
            assert_eq!(thread, [1, 0, 0]);
            assert_eq!(location, "test.rs:42 in `oob`");
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
    let got: Vec<u32> = read(&om);
    let want: Vec<u32> = (0..100).map(|j| if j < 3 { 0 } else { j - 2 }).collect();
    assert_eq!(got, want);
}

#[test]
fn out_of_bounds_in_a_local_array_and_in_a_read() {
    // let a = [1, 2, 3]; out[i] = a[x[i]]  — reading x[i] past x, and a[x[i]] past a.
    let t = sc(Scalar::I32);
    let arr = Ty::Array(Box::new(t.clone()), 3);
    let mut kb = KernelBuilder::new("oob2");
    let x = kb.slice("x", sc(Scalar::Usize), false);
    let out = kb.slice("out", t.clone(), true);
    let i = kb.local("i", sc(Scalar::Usize));
    let a = kb.local("a", arr.clone());
    let sx = kb.site("x", 5);
    let sa = kb.site("a", 6);
    let so = kb.site("out", 7);
    let iu = || local(i, sc(Scalar::Usize));
    let k = kb.build(vec![
        let_(i, global_index()),
        let_(
            a,
            ex(
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
                elem(x, iu(), sx, sc(Scalar::Usize)),
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
    match err {
        Error::OutOfBounds {
            what,
            index,
            len,
            thread,
            ..
        } => {
            // Both faults happen in one block: the read of x (threads 4..)
            // comes first in program order.
            assert_eq!((what.as_str(), index, len, thread), ("x", 4, 4, [4, 0, 0]));
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
    assert_eq!(read::<i32>(&om), vec![1, 3, 0, 2, 0, 0, 0, 0]);
    // Without the x fault: a[7] is the one reported.
    let err = launch(
        &k,
        Launch::new(1, 4),
        &mut [arg_in::<usize>(&xm, 4), arg_out::<i32>(&mut om, 8)],
    )
    .unwrap_err();
    match err {
        Error::OutOfBounds {
            what,
            index,
            len,
            thread,
            ..
        } => {
            assert_eq!((what.as_str(), index, len, thread), ("a", 7, 3, [2, 0, 0]));
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
}

#[test]
fn bounds_checks_off_still_never_touches_memory_out_of_bounds() {
    let u = sc(Scalar::U32);
    let mut kb = KernelBuilder::new("unchecked");
    let out = kb.slice("out", u.clone(), true);
    let i = kb.local("i", sc(Scalar::Usize));
    let s = kb.site("out", 1);
    let k = kb.no_bounds_checks().build(vec![
        let_(i, global_index()),
        store_elem(
            out,
            local(i, sc(Scalar::Usize)),
            s,
            u.clone(),
            int(Scalar::U32, 9),
        ),
    ]);
    let mut om = mem(&[0u32; 10]);
    let err = launch(&k, Launch::new(1, 16), &mut [arg_out::<u32>(&mut om, 10)]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfBounds {
                index: 10,
                len: 10,
                ..
            }
        ),
        "{err:?}"
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
    match &err {
        Error::Arithmetic {
            what,
            thread,
            block,
            ..
        } => {
            assert!(what.contains("by zero"), "{what}");
            assert_eq!((*thread, *block), ([1, 0, 0], [0, 0, 0]));
        }
        other => panic!("expected Arithmetic, got {other:?}"),
    }
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
    match &err {
        Error::Arithmetic { what, thread, .. } => {
            assert!(what.contains("overflow"), "{what}");
            assert_eq!(*thread, [3, 0, 0]);
        }
        other => panic!("expected Arithmetic, got {other:?}"),
    }
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
    assert!(
        matches!(
            err,
            Error::Arithmetic {
                thread: [1, 0, 0],
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(read::<u8>(&om), vec![1, 0]);
}

#[test]
fn two_dimensional_grid_transposes() {
    // out[r * C + c] = inp[c * R + r] for r < R, c < C with 2-D blocks.
    let (rows, cols) = (19usize, 37usize);
    let f = sc(Scalar::F32);
    let us = sc(Scalar::Usize);
    let mut kb = KernelBuilder::new("transpose");
    let inp = kb.slice("inp", f.clone(), false);
    let out = kb.slice("out", f.clone(), true);
    let r = kb.local("r", us.clone());
    let c = kb.local("c", us.clone());
    let s = kb.site("inp", 1);
    let lin = |axis| {
        cast(
            bin(
                BinOp::Add,
                bin(
                    BinOp::Mul,
                    dim(Intrinsic::BlockIdx, axis),
                    dim(Intrinsic::BlockDim, axis),
                ),
                dim(Intrinsic::ThreadIdx, axis),
            ),
            Scalar::Usize,
        )
    };
    let rl = || local(r, us.clone());
    let cl = || local(c, us.clone());
    let k = kb.build(vec![
        let_(r, lin(1)),
        let_(c, lin(0)),
        if_(
            bin(
                BinOp::And,
                bin(BinOp::Lt, rl(), usize_(rows as i128)),
                bin(BinOp::Lt, cl(), usize_(cols as i128)),
            ),
            vec![store_elem(
                out,
                bin(
                    BinOp::Add,
                    bin(BinOp::Mul, rl(), usize_(cols as i128)),
                    cl(),
                ),
                s,
                f.clone(),
                elem(
                    inp,
                    bin(
                        BinOp::Add,
                        bin(BinOp::Mul, cl(), usize_(rows as i128)),
                        rl(),
                    ),
                    s,
                    f.clone(),
                ),
            )],
            vec![],
        ),
    ]);
    let input: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
    let im = mem(&input);
    let mut om = mem(&vec![-1f32; rows * cols]);
    launch(
        &k,
        Launch::new((5, 5), (8, 4)),
        &mut [
            arg_in::<f32>(&im, rows * cols),
            arg_out::<f32>(&mut om, rows * cols),
        ],
    )
    .unwrap();
    let got: Vec<f32> = read(&om);
    let mut want = vec![0f32; rows * cols];
    for rr in 0..rows {
        for cc in 0..cols {
            want[rr * cols + cc] = input[cc * rows + rr];
        }
    }
    assert_eq!(got, want);
}

#[test]
fn many_blocks_on_many_host_threads() {
    let k = map_kernel(Scalar::U64, Scalar::U64, |x| {
        bin(BinOp::Mul, x, int(Scalar::U64, 3))
    });
    let xs: Vec<u64> = (0..200_003).collect();
    let got: Vec<u64> = run_map(&k, &xs);
    assert_eq!(got, xs.iter().map(|v| v * 3).collect::<Vec<_>>());
}

#[test]
fn compiled_programs_are_cached_per_kernel() {
    let dev = CpuDevice::new();
    let k = map_kernel(Scalar::U32, Scalar::U32, |x| x);
    let p1 = dev.program(&k).unwrap();
    let p2 = dev.program(&k).unwrap();
    assert!(Arc::ptr_eq(&p1, &p2));
    let other = map_kernel(Scalar::U32, Scalar::U32, |x| x);
    let p3 = dev.program(&other).unwrap();
    assert!(!Arc::ptr_eq(&p1, &p3));
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
    let x = kb.slice("x", sc(Scalar::U32), false);
    let s = kb.site("x", 1);
    let k = kb.build(vec![store_elem(
        x,
        usize_(0),
        s,
        sc(Scalar::U32),
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
