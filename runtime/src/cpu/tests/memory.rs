//! Places (structs, arrays, slices of structs), parameters, grids and faults.

use super::*;
use crate::fault::expect_fault;
use crate::FaultKind;

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
#[derive(Clone, Copy, Debug, Default, PartialEq, spindle_macros::DeviceType)]
struct Point {
    x: f32,
    y: f32,
    tag: u8,
    w: [u16; 3],
}

#[test]
fn slices_of_structs_and_struct_locals() {
    let mut kb = KernelBuilder::new("points");
    let f = ty(Scalar::F32);
    let w = Ty::Array(Box::new(ty(Scalar::U16)), 3);
    let pt = kb.add_struct(
        "Point",
        &[
            ("x", f.clone()),
            ("y", f.clone()),
            ("tag", ty(Scalar::U8)),
            ("w", w.clone()),
        ],
    );
    assert_eq!(kb.struct_size(pt) as usize, std::mem::size_of::<Point>());
    let pty = Ty::Struct(pt);
    let pts = kb.slice("pts", pty.clone(), false);
    let out = kb.slice("out", pty.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let p = kb.local_mut("p", pty.clone());
    let q = kb.local("q", pty.clone());
    let s = kb.site("pts", 1);
    let sw = kb.site("p.w", 2);
    let iu = || local(i, ty(Scalar::Usize));
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
                cast(load(field(pts_i(), 2, ty(Scalar::U8))), Scalar::F32),
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
                        load(field(pl(), 2, ty(Scalar::U8))),
                        int(Scalar::U8, 3),
                    ),
                    Scalar::Usize,
                ),
                sw,
                ty(Scalar::U16),
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
            expr(
                ExprKind::StructLit(vec![
                    load(field(place_local(q, pty.clone()), 0, f.clone())),
                    bin(
                        BinOp::Add,
                        load(field(place_local(q, pty.clone()), 1, f.clone())),
                        f32_(1.0),
                    ),
                    load(field(place_local(q, pty.clone()), 2, ty(Scalar::U8))),
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
    let t = ty(Scalar::I32);
    let arr = Ty::Array(Box::new(t.clone()), 8);
    let row = Ty::Array(Box::new(t.clone()), 3);
    let mat = Ty::Array(Box::new(row.clone()), 2);
    let mut kb = KernelBuilder::new("arrays");
    let x = kb.slice("x", t.clone(), false);
    let out = kb.slice("out", t.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let v = kb.local("v", t.clone());
    let a = kb.local_mut("a", arr.clone());
    let m = kb.local("m", mat.clone());
    let j = kb.local("j", ty(Scalar::Usize));
    let s = kb.site("x", 1);
    let sa = kb.site("a", 2);
    let sm = kb.site("m", 3);
    let iu = || local(i, ty(Scalar::Usize));
    let vl = || local(v, t.clone());
    let i32_ = |n| int(Scalar::I32, n);
    let a_at = |e: Expr| index(place_local(a, arr.clone()), e, sa, t.clone());
    let as_idx = |e: Expr| cast(e, Scalar::Usize);
    let k = kb.build(vec![
        let_(i, global_index()),
        let_(v, elem(x, iu(), s, t.clone())),
        let_(
            a,
            expr(ExprKind::ArrayRepeat(Box::new(i32_(0)), 8), arr.clone()),
        ),
        stmt(StmtKind::For {
            id: 0,
            var: j,
            start: usize_(0),
            end: usize_(8),
            inclusive: false,
            step: None,
            body: Block {
                stmts: vec![assign(
                    a_at(local(j, ty(Scalar::Usize))),
                    bin(
                        BinOp::Mul,
                        cast(local(j, ty(Scalar::Usize)), Scalar::I32),
                        vl(),
                    ),
                )],
            },
        }),
        let_(
            m,
            expr(
                ExprKind::ArrayLit(vec![
                    expr(
                        ExprKind::ArrayLit(vec![i32_(1), i32_(2), i32_(3)]),
                        row.clone(),
                    ),
                    expr(
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
    let f = ty(Scalar::F32);
    let t = ty(Scalar::I32);
    let off = Ty::Array(Box::new(f.clone()), 4);
    let mut kb = KernelBuilder::new("params");
    let ps = kb.add_struct("Params", &[("scale", f.clone()), ("offset", off.clone())]);
    let p = kb.value("p", Ty::Struct(ps));
    let bias = kb.value_mut("bias", t.clone());
    let out = kb.slice("out", f.clone(), true);
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("out", 1);
    let so = kb.site("p.offset", 1);
    let iu = || local(i, ty(Scalar::Usize));
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
    let f = expect_fault(err);
    assert_eq!(
        f.kind,
        FaultKind::OutOfBounds {
            index: 300,
            len: 300
        }
    );
    assert_eq!(f.at(), ([2, 0, 0], [44, 0, 0]));
    let got: Vec<f32> = read(&om);
    let want: Vec<f32> = (0..n)
        .map(|i| params.offset[i % 4] * params.scale + (-50 + i as i32) as f32)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn two_dimensional_grid_transposes() {
    // out[r * C + c] = inp[c * R + r] for r < R, c < C with 2-D blocks.
    let (rows, cols) = (19usize, 37usize);
    let f = ty(Scalar::F32);
    let us = ty(Scalar::Usize);
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

/// Threads of every block writing one element of global memory, and others
/// reading it meanwhile, race as GPU threads do: each read and the final
/// value are one of the values written. Blocks run on several host
/// threads, so without atomic accesses this would be a data race in the
/// host process (`scripts/miri.sh` runs this test under Miri).
#[test]
fn blocks_racing_on_one_element_read_and_leave_a_written_value() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("race");
    let out = kb.slice("out", u.clone(), true);
    let s = kb.site("out", 1);
    let block = dim(Intrinsic::BlockIdx, 0);
    let blocks = 6u32;
    let k = kb.build(vec![
        store_elem(
            out,
            usize_(0),
            s,
            u.clone(),
            bin(BinOp::Add, block.clone(), int(Scalar::U32, 100)),
        ),
        store_elem(
            out,
            bin(BinOp::Add, cast(block, Scalar::Usize), usize_(1)),
            s,
            u.clone(),
            elem(out, usize_(0), s, u.clone()),
        ),
    ]);
    for dev in super::groups::configurations() {
        let n = 1 + blocks as usize;
        let mut om = mem(&vec![0u32; n]);
        dev.launch(
            &k,
            &Launch::new(blocks, 8),
            &mut [arg_out::<u32>(&mut om, n)],
        )
        .unwrap();
        let got = read::<u32>(&om);
        let written = 100..100 + blocks;
        assert!(written.contains(&got[0]), "{got:?}");
        for (b, &v) in got[1..].iter().enumerate() {
            // Its own block wrote element 0 before reading it; another
            // block may have written it since.
            assert!(written.contains(&v), "block {b} read {v}: {got:?}");
        }
    }
}
