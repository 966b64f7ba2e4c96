//! Views of the launch's dynamic shared memory: sized by the launch,
//! per block and zeroed for each, aliasing one another from byte 0, and
//! bounds-checked against the launch's size.

use super::barriers::block_sum_in;
use super::groups::configurations;
use super::*;
use crate::fault::expect_fault;
use crate::{Error, FaultKind};

fn run(e: Expr) -> Stmt {
    stmt(StmtKind::Expr(e))
}

fn tid() -> Expr {
    dim(Intrinsic::ThreadIdx, 0)
}

fn tid_usize() -> Expr {
    cast(tid(), Scalar::Usize)
}

fn block_usize() -> Expr {
    cast(dim(Intrinsic::BlockIdx, 0), Scalar::Usize)
}

fn if_thread0(then_: Vec<Stmt>) -> Stmt {
    if_(bin(BinOp::Eq, tid(), int(Scalar::U32, 0)), then_, vec![])
}

/// The block reduction of `barriers.rs` with its tile in dynamic shared
/// memory: the block size and `shared_bytes` (room for one `u32` per
/// thread, plus a few bytes more or not) chosen per launch, in every
/// grouping.
#[test]
fn a_block_reduction_through_a_view_sized_by_the_launch() {
    let k = block_sum_in(|kb| PlaceRoot::DynamicShared(kb.dynamic_shared("tile", ty(Scalar::U32))));
    let sizes = [
        (1000usize, 100u32, 0u32),
        (999, 48, 3),
        (4096, 256, 0),
        (77, 1, 0),
        (300, 33, 16),
        (2048, 1024, 0),
    ];
    for dev in configurations() {
        for (n, block, extra) in sizes {
            let xs: Vec<u32> = (0..n as u32).map(|v| v * 3 + 1).collect();
            let blocks = n.div_ceil(block as usize);
            let xm = mem(&xs);
            let mut om = mem(&vec![0u32; blocks]);
            let l = Launch::new(blocks as u32, block).shared_bytes(4 * block + extra);
            dev.launch(
                &k,
                &l,
                &mut [arg_in::<u32>(&xm, n), arg_out::<u32>(&mut om, blocks)],
            )
            .unwrap();
            // Threads past `n` left their element as it started: zero.
            let want: Vec<u32> = xs.chunks(block as usize).map(|c| c.iter().sum()).collect();
            assert_eq!(
                read::<u32>(&om),
                want,
                "n {n}, blocks of {block}, group lanes {}",
                dev.group_lanes
            );
        }
    }
}

/// Every thread reads its element before writing it (zero, in every block
/// of every group), then writes its block number; after a barrier it reads
/// a neighbour's: its own block's number. The kernel's shared array sits
/// beside the view without touching it.
#[test]
fn views_are_per_block_and_start_zeroed() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("per_block");
    let before = kb.slice("before", u.clone(), true);
    let after = kb.slice("after", u.clone(), true);
    let filler = kb.shared("filler", u.clone(), 3);
    let buf = kb.dynamic_shared("buf", u.clone());
    let i = kb.local("i", ty(Scalar::Usize));
    let s = kb.site("buf", 1);
    let bar = kb.site("sync_threads()", 2);
    let iu = || local(i, ty(Scalar::Usize));
    let at = |idx: Expr| dyn_elem(buf, idx, s, u.clone());
    let next = bin(
        BinOp::Rem,
        bin(BinOp::Add, tid(), int(Scalar::U32, 1)),
        dim(Intrinsic::BlockDim, 0),
    );
    let k = kb.build(vec![
        let_(i, global_index()),
        store_elem(before, iu(), s, u.clone(), load(at(tid_usize()))),
        assign(at(tid_usize()), dim(Intrinsic::BlockIdx, 0)),
        assign(
            shared_elem(filler, usize_(2), s, u.clone()),
            int(Scalar::U32, 0xffff_ffff),
        ),
        sync_threads(bar),
        store_elem(
            after,
            iu(),
            s,
            u.clone(),
            load(at(cast(next, Scalar::Usize))),
        ),
    ]);
    let (blocks, bt) = (90u32, 40u32);
    let n = (blocks * bt) as usize;
    for dev in configurations() {
        let (mut bm, mut am) = (mem(&vec![7u32; n]), mem(&vec![7u32; n]));
        dev.launch(
            &k,
            &Launch::new(blocks, bt).shared_bytes(4 * bt + 4),
            &mut [arg_out::<u32>(&mut bm, n), arg_out::<u32>(&mut am, n)],
        )
        .unwrap();
        assert_eq!(
            read::<u32>(&bm),
            vec![0; n],
            "group lanes {}",
            dev.group_lanes
        );
        let want: Vec<u32> = (0..n as u32).map(|i| i / bt).collect();
        assert_eq!(read::<u32>(&am), want, "group lanes {}", dev.group_lanes);
    }
}

/// Two views of the same bytes: thread 0 writes `u32`s (the second one its
/// block's number), every thread reads a `u8` back, little-endian; each
/// view's length is the launch's 10 bytes over its element size, rounded
/// down.
#[test]
fn views_of_different_types_alias_from_byte_zero() {
    let (u, b, us) = (ty(Scalar::U32), ty(Scalar::U8), ty(Scalar::Usize));
    let mut kb = KernelBuilder::new("alias");
    let out = kb.slice("out", b.clone(), true);
    let lens = kb.slice("lens", us.clone(), true);
    let words = kb.dynamic_shared("words", u.clone());
    let bytes = kb.dynamic_shared("bytes", b.clone());
    let s = kb.site("words", 1);
    let bar = kb.site("sync_threads()", 2);
    let k = kb.build(vec![
        if_thread0(vec![
            assign(
                dyn_elem(words, usize_(0), s, u.clone()),
                int(Scalar::U32, 0x0403_0201),
            ),
            assign(
                dyn_elem(words, usize_(1), s, u.clone()),
                bin(
                    BinOp::Add,
                    dim(Intrinsic::BlockIdx, 0),
                    int(Scalar::U32, 0xa0b0_c000),
                ),
            ),
        ]),
        sync_threads(bar),
        if_(
            bin(BinOp::Lt, tid(), int(Scalar::U32, 10)),
            vec![store_elem(
                out,
                bin(
                    BinOp::Add,
                    bin(BinOp::Mul, block_usize(), usize_(10)),
                    tid_usize(),
                ),
                s,
                b.clone(),
                load(dyn_elem(bytes, tid_usize(), s, b.clone())),
            )],
            vec![],
        ),
        if_thread0(vec![
            store_elem(lens, usize_(0), s, us.clone(), dyn_len(words)),
            store_elem(lens, usize_(1), s, us.clone(), dyn_len(bytes)),
        ]),
    ]);
    let blocks = 7u32;
    for dev in configurations() {
        let n = 10 * blocks as usize;
        let mut om = mem(&vec![0xeeu8; n]);
        let mut lm = mem(&[0usize; 2]);
        dev.launch(
            &k,
            &Launch::new(blocks, 32).shared_bytes(10),
            &mut [arg_out::<u8>(&mut om, n), arg_out::<usize>(&mut lm, 2)],
        )
        .unwrap();
        let want: Vec<u8> = (0..blocks as u8)
            .flat_map(|blk| [1, 2, 3, 4, blk, 0xc0, 0xb0, 0xa0, 0, 0])
            .collect();
        assert_eq!(read::<u8>(&om), want, "group lanes {}", dev.group_lanes);
        assert_eq!(read::<usize>(&lm), vec![2, 10]);
    }
}

/// A view of structs: fields written through `view[t].field`, the whole
/// neighbour's struct copied out after a barrier.
#[test]
fn a_view_of_structs_reads_and_writes_fields_and_whole_values() {
    let (u, f, us) = (ty(Scalar::U32), ty(Scalar::F64), ty(Scalar::Usize));
    let mut kb = KernelBuilder::new("structs");
    let pair = kb.add_struct("Pair", &[("a", u.clone()), ("b", f.clone())]);
    let pt = Ty::Struct(pair);
    let out_a = kb.slice("out_a", u.clone(), true);
    let out_b = kb.slice("out_b", f.clone(), true);
    let view = kb.dynamic_shared("pairs", pt.clone());
    let copy = kb.local("copy", pt.clone());
    let i = kb.local("i", us.clone());
    let s = kb.site("pairs", 1);
    let bar = kb.site("sync_threads()", 2);
    let field = |idx: Expr, fld: u32, ty: Ty| Place {
        root: PlaceRoot::DynamicShared(view),
        proj: vec![
            Proj::Index {
                index: Box::new(idx),
                site: s,
            },
            Proj::Field(fld),
        ],
        ty,
    };
    let next = cast(
        bin(
            BinOp::Rem,
            bin(BinOp::Add, tid(), int(Scalar::U32, 1)),
            dim(Intrinsic::BlockDim, 0),
        ),
        Scalar::Usize,
    );
    let copy_field = |fld: u32, ty: Ty| {
        load(Place {
            root: PlaceRoot::Local(copy),
            proj: vec![Proj::Field(fld)],
            ty,
        })
    };
    let k = kb.build(vec![
        let_(i, global_index()),
        assign(
            field(tid_usize(), 0, u.clone()),
            bin(
                BinOp::Add,
                tid(),
                bin(
                    BinOp::Mul,
                    dim(Intrinsic::BlockIdx, 0),
                    int(Scalar::U32, 1000),
                ),
            ),
        ),
        assign(
            field(tid_usize(), 1, f.clone()),
            bin(
                BinOp::Mul,
                cast(tid(), Scalar::F64),
                float(Scalar::F64, 0.5),
            ),
        ),
        sync_threads(bar),
        let_(copy, load(dyn_elem(view, next, s, pt.clone()))),
        store_elem(
            out_a,
            local(i, us.clone()),
            s,
            u.clone(),
            copy_field(0, u.clone()),
        ),
        store_elem(
            out_b,
            local(i, us.clone()),
            s,
            f.clone(),
            copy_field(1, f.clone()),
        ),
    ]);
    let size = kb_size(&k, pair);
    assert_eq!(size, 16);
    let (blocks, bt) = (9u32, 24u32);
    let n = (blocks * bt) as usize;
    for dev in configurations() {
        let (mut am, mut bm) = (mem(&vec![0u32; n]), mem(&vec![0f64; n]));
        dev.launch(
            &k,
            &Launch::new(blocks, bt).shared_bytes(size * bt),
            &mut [arg_out::<u32>(&mut am, n), arg_out::<f64>(&mut bm, n)],
        )
        .unwrap();
        let next = |i: u32| (i % bt + 1) % bt;
        let want_a: Vec<u32> = (0..n as u32).map(|i| next(i) + i / bt * 1000).collect();
        let want_b: Vec<f64> = (0..n as u32).map(|i| next(i) as f64 * 0.5).collect();
        assert_eq!(read::<u32>(&am), want_a, "group lanes {}", dev.group_lanes);
        assert_eq!(read::<f64>(&bm), want_b, "group lanes {}", dev.group_lanes);
    }
}

fn kb_size(k: &Kernel, id: StructId) -> u32 {
    k.structs[id as usize].size
}

/// A histogram in a view with as many bins as the launch gives it room
/// for (`view.len()`): atomics on the view per block, then each block's
/// bins added to the global ones.
#[test]
fn an_atomic_histogram_in_a_view() {
    let (u, us) = (ty(Scalar::U32), ty(Scalar::Usize));
    let mut kb = KernelBuilder::new("histogram");
    let x = kb.slice("x", u.clone(), false);
    let hist = kb.slice("hist", u.clone(), true);
    let bins = kb.dynamic_shared("bins", u.clone());
    let i = kb.local("i", us.clone());
    let old = kb.local("old", u.clone());
    let s = kb.site("bins", 1);
    let bar = kb.site("sync_threads()", 2);
    let iu = || local(i, us.clone());
    let k = kb.build(vec![
        let_(i, global_index()),
        if_(
            bin(BinOp::Lt, iu(), slice_len(x)),
            vec![let_(
                old,
                atomic(
                    AtomicOp::Add,
                    dyn_elem(
                        bins,
                        bin(
                            BinOp::Rem,
                            cast(elem(x, iu(), s, u.clone()), Scalar::Usize),
                            dyn_len(bins),
                        ),
                        s,
                        u.clone(),
                    ),
                    vec![int(Scalar::U32, 1)],
                ),
            )],
            vec![],
        ),
        sync_threads(bar),
        if_(
            bin(BinOp::Lt, tid_usize(), dyn_len(bins)),
            vec![run(atomic(
                AtomicOp::Add,
                place_index(PlaceRoot::Param(hist), tid_usize(), s, u.clone()),
                vec![load(dyn_elem(bins, tid_usize(), s, u.clone()))],
            ))],
            vec![],
        ),
    ]);
    let n = 5000usize;
    let xs: Vec<u32> = (0..n as u32)
        .map(|v| v.wrapping_mul(2_654_435_761) >> 7)
        .collect();
    for dev in configurations() {
        for (nbins, block) in [(16u32, 64u32), (7, 100), (64, 256)] {
            let xm = mem(&xs);
            let mut hm = mem(&vec![0u32; nbins as usize]);
            let l = Launch::new((n as u32).div_ceil(block), block).shared_bytes(4 * nbins + 2);
            dev.launch(
                &k,
                &l,
                &mut [
                    arg_in::<u32>(&xm, n),
                    arg_out::<u32>(&mut hm, nbins as usize),
                ],
            )
            .unwrap();
            let mut want = vec![0u32; nbins as usize];
            for &v in &xs {
                want[(v % nbins) as usize] += 1;
            }
            assert_eq!(
                read::<u32>(&hm),
                want,
                "{nbins} bins, group lanes {}",
                dev.group_lanes
            );
        }
    }
}

/// `buf[t] = 1` in blocks of 8 with room for 6 `u32`s (and for none):
/// the first out-of-bounds thread's fault names the view, its index and
/// the view's length.
#[test]
fn an_index_past_the_view_is_out_of_bounds() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("past_the_end");
    let out = kb.slice("out", u.clone(), true);
    let buf = kb.dynamic_shared("buf", u.clone());
    let s = kb.site("buf", 7);
    let k = kb.build(vec![
        assign(
            dyn_elem(buf, tid_usize(), s, u.clone()),
            int(Scalar::U32, 1),
        ),
        store_elem(
            out,
            global_index(),
            s,
            u.clone(),
            load(dyn_elem(buf, tid_usize(), s, u.clone())),
        ),
    ]);
    for (bytes, first_bad, len) in [(24u32, 6u64, 6u64), (27, 6, 6), (0, 0, 0), (3, 0, 0)] {
        for dev in configurations() {
            let mut om = mem(&[0u32; 24]);
            let err = dev
                .launch(
                    &k,
                    &Launch::new(3, 8).shared_bytes(bytes),
                    &mut [arg_out::<u32>(&mut om, 24)],
                )
                .unwrap_err();
            let f = expect_fault(err);
            assert_eq!(
                (f.kernel.as_str(), f.what.as_str()),
                ("past_the_end", "buf")
            );
            assert_eq!(
                f.kind,
                FaultKind::OutOfBounds {
                    index: first_bad,
                    len
                },
                "{bytes} bytes"
            );
            assert_eq!(f.at(), ([0, 0, 0], [first_bad as u32, 0, 0]));
            // The threads in bounds ran to the end.
            let want: Vec<u32> = (0..24).map(|i| ((i % 8) < first_bad) as u32).collect();
            assert_eq!(read::<u32>(&om), want, "{bytes} bytes");
        }
    }
}

/// `len()` of views of 4-, 8- and 12-byte elements rounds the launch's
/// bytes down, and the last element of each is in bounds.
#[test]
fn a_view_has_the_launch_bytes_over_its_element_size_rounded_down() {
    let (u, us) = (ty(Scalar::U32), ty(Scalar::Usize));
    let mut kb = KernelBuilder::new("lens");
    let triple = kb.add_struct(
        "Triple",
        &[("a", u.clone()), ("b", u.clone()), ("c", u.clone())],
    );
    let lens = kb.slice("lens", us.clone(), true);
    let views = [
        kb.dynamic_shared("words", u.clone()),
        kb.dynamic_shared("longs", ty(Scalar::U64)),
        kb.dynamic_shared("triples", Ty::Struct(triple)),
    ];
    let s = kb.site("view", 1);
    let mut body = vec![];
    for (j, v) in views.into_iter().enumerate() {
        body.push(store_elem(
            lens,
            usize_(j as i128),
            s,
            us.clone(),
            dyn_len(v),
        ));
    }
    // The last `u64` of the view (when there is one) is written and read.
    body.push(if_(
        bin(BinOp::Gt, dyn_len(views[1]), usize_(0)),
        vec![
            assign(
                dyn_elem(
                    views[1],
                    bin(BinOp::Sub, dyn_len(views[1]), usize_(1)),
                    s,
                    ty(Scalar::U64),
                ),
                int(Scalar::U64, 0x1122_3344_5566_7788),
            ),
            store_elem(
                lens,
                usize_(3),
                s,
                us.clone(),
                cast(
                    load(dyn_elem(
                        views[1],
                        bin(BinOp::Sub, dyn_len(views[1]), usize_(1)),
                        s,
                        ty(Scalar::U64),
                    )),
                    Scalar::Usize,
                ),
            ),
        ],
        vec![],
    ));
    let k = kb.build(body);
    for bytes in [0u32, 1, 7, 8, 12, 20, 23, 100, 4096 + 5] {
        let mut lm = mem(&[0usize; 4]);
        launch(
            &k,
            Launch::new(2, 1).shared_bytes(bytes),
            &mut [arg_out::<usize>(&mut lm, 4)],
        )
        .unwrap();
        let b = bytes as usize;
        let last = if b >= 8 { 0x1122_3344_5566_7788 } else { 0 };
        assert_eq!(
            read::<usize>(&lm),
            vec![b / 4, b / 8, b / 12, last],
            "{bytes} bytes"
        );
    }
}

/// A ring kernel with a view is refused with a clear error (the front end
/// never builds one), and a launch asking for more shared memory than a
/// block may have is invalid.
#[test]
fn ring_kernels_and_oversized_launches_are_refused() {
    let u = ty(Scalar::U32);
    let mut kb = KernelBuilder::new("ring_view").ring(4, u.clone());
    let state = kb.state(u.clone());
    kb.value("msg", u.clone());
    let buf = kb.dynamic_shared("buf", u.clone());
    let s = kb.site("buf", 1);
    let _ = state;
    let k = kb.build(vec![stmt(StmtKind::Return(Some(load(dyn_elem(
        buf,
        usize_(0),
        s,
        u.clone(),
    )))))]);
    match CpuDevice::new().ring_handler(&k) {
        Err(Error::Unsupported(m)) => {
            assert!(
                m.contains("ring_view") && m.contains("dynamic shared"),
                "{m}"
            )
        }
        other => panic!("expected Unsupported, got {:?}", other.map(|_| ())),
    }

    let k = block_sum_in(|kb| PlaceRoot::DynamicShared(kb.dynamic_shared("tile", u.clone())));
    let xm = mem(&[1u32; 4]);
    let mut om = mem(&[0u32; 1]);
    let err = launch(
        &k,
        Launch::new(1, 4).shared_bytes(1 << 20),
        &mut [arg_in::<u32>(&xm, 4), arg_out::<u32>(&mut om, 1)],
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidLaunch { .. }), "{err:?}");
}

/// A kernel without views ignores the launch's dynamic shared memory.
#[test]
fn a_kernel_without_views_runs_with_dynamic_shared_memory_given() {
    let k = saxpy_kernel();
    let n = 300;
    let x = mem(&vec![1.0f32; n]);
    let mut y = mem(&vec![2.0f32; n]);
    launch(
        &k,
        Launch::new(3, 100).shared_bytes(4096),
        &mut [
            KernelArg::value(&3.0f32),
            arg_in::<f32>(&x, n),
            arg_out::<f32>(&mut y, n),
        ],
    )
    .unwrap();
    assert_eq!(read::<f32>(&y), vec![5.0; n]);
}
