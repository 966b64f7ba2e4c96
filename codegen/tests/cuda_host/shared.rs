//! Block-shared arrays and `sync_threads`, with the threads of each block
//! as concurrent OS threads: a tree reduction through shared memory with
//! atomics on struct elements, a ring handler whose shared array outlives
//! a message, and kernels written in Rust and linked by the front end.

use super::harness::*;
use spindle_codegen::ir::*;
use Scalar::*;

pub const REDUCE_BLOCK: u32 = 128;

/// `block_sum(x: &[u32], sums: &mut [u32], hits: &mut [u32])` with
/// `tile: [u32; 128]` and `cells: [Cell; 4]` (`Cell { hits: u32, last: u64 }`):
/// a tree reduction of the block's values through shared memory with
/// `sync_threads`, and per-cell hit counts by atomics on struct fields.
pub fn block_sum_kernel() -> Kernel {
    let cell = StructDef {
        name: "Cell".into(),
        size: 16,
        align: 8,
        fields: vec![
            FieldDef {
                name: "hits".into(),
                offset: 0,
                ty: ty(U32),
            },
            FieldDef {
                name: "last".into(),
                offset: 8,
                ty: ty(U64),
            },
        ],
    };
    let (i, tid, step) = (0, 1, 2);
    let tile = |e: Expr| index(shared(0, ty(U32), REDUCE_BLOCK), e, 1, ty(U32));
    let cells = |e: Expr| index(shared(1, Ty::Struct(1), 4), e, 1, Ty::Struct(1));
    let hits = |e: Expr| {
        let mut p = cells(e);
        p.proj.push(Proj::Field(0));
        p.ty = ty(U32);
        p
    };
    let tidx = || get(tid, Usize);
    let body = vec![
        let_(i, intr(Intrinsic::GlobalIndex, vec![], ty(Usize))),
        let_(tid, geom(Intrinsic::ThreadIdx)),
        // Shared memory starts undefined: clear the cells first.
        if_then(
            bin(BinOp::Lt, tidx(), int(Usize, 4)),
            vec![StmtKind::Assign {
                place: hits(tidx()),
                value: int(U32, 0),
            }],
        ),
        StmtKind::Assign {
            place: tile(tidx()),
            value: load(index(place_param(0, ty(U32)), get(i, Usize), 0, ty(U32))),
        },
        sync_threads(),
        StmtKind::Expr(atomic(
            AtomicOp::Add,
            hits(bin(BinOp::Rem, tidx(), int(Usize, 4))),
            vec![int(U32, 1)],
        )),
        let_(step, int(Usize, REDUCE_BLOCK as i128 / 2)),
        StmtKind::While {
            id: 0,
            cond: bin(BinOp::Gt, get(step, Usize), int(Usize, 0)),
            body: block(vec![
                if_then(
                    bin(BinOp::Lt, tidx(), get(step, Usize)),
                    vec![StmtKind::CompoundAssign {
                        place: tile(tidx()),
                        op: BinOp::Add,
                        value: load(tile(bin(BinOp::Add, tidx(), get(step, Usize)))),
                    }],
                ),
                sync_threads(),
                StmtKind::Assign {
                    place: place_local(step, ty(Usize)),
                    value: bin(BinOp::Div, get(step, Usize), int(Usize, 2)),
                },
            ]),
        },
        if_then(
            bin(BinOp::Eq, tidx(), int(Usize, 0)),
            vec![StmtKind::Assign {
                place: index(
                    place_param(1, ty(U32)),
                    geom(Intrinsic::BlockIdx),
                    1,
                    ty(U32),
                ),
                value: load(tile(int(Usize, 0))),
            }],
        ),
        // hits[block * 4 + t] = cells[t].hits for t < 4.
        if_then(
            bin(BinOp::Lt, tidx(), int(Usize, 4)),
            vec![StmtKind::Assign {
                place: index(
                    place_param(2, ty(U32)),
                    bin(
                        BinOp::Add,
                        bin(BinOp::Mul, geom(Intrinsic::BlockIdx), int(Usize, 4)),
                        tidx(),
                    ),
                    1,
                    ty(U32),
                ),
                value: load(hits(tidx())),
            }],
        ),
    ];
    let f = function(
        "block_sum",
        vec![("x", ro(U32)), ("sums", rw(U32)), ("hits", rw(U32))],
        vec![
            ("i", ty(Usize), false),
            ("t", ty(Usize), false),
            ("step", ty(Usize), true),
        ],
        body,
    );
    let mut k = kernel("block_sum", f, 2, vec![dim3_def(), cell]);
    k.shared = vec![
        SharedArray {
            name: "tile".into(),
            elem: ty(U32),
            len: REDUCE_BLOCK,
            span: SrcSpan::default(),
        },
        SharedArray {
            name: "cells".into(),
            elem: Ty::Struct(1),
            len: 4,
            span: SrcSpan::default(),
        },
    ];
    k
}

#[test]
fn cuda_host_shared_memory_block_reduction_with_sync_threads() {
    require_gxx!();
    let grid = 3;
    let n = (grid * REDUCE_BLOCK) as usize;
    let xs: Vec<u64> = (0..n as u64).map(|i| (i * 37) % 101).collect();
    let r = run(
        "block_sum",
        &[Launch {
            kernel: block_sum_kernel(),
            slices: vec![
                (U32, xs.clone(), false),
                (U32, vec![0; grid as usize], true),
                (U32, vec![0; grid as usize * 4], true),
            ],
            grid,
            block: REDUCE_BLOCK,
            concurrent: true,
            shared_bytes: 0,
        }],
        "-O1",
    );
    assert_eq!(r.faults["block_sum"][0], 0);
    for b in 0..grid as usize {
        let want: u64 = xs[b * REDUCE_BLOCK as usize..(b + 1) * REDUCE_BLOCK as usize]
            .iter()
            .sum();
        assert_eq!(
            r.values[&("block_sum".to_string(), 1, b)],
            want,
            "block {b}"
        );
        for c in 0..4 {
            let got = r.values[&("block_sum".to_string(), 2, b * 4 + c)];
            assert_eq!(got, REDUCE_BLOCK as u64 / 4, "block {b} cell {c}");
        }
    }
}

/// A ring kernel's shape, on 64 threads:
/// ```ignore
/// #[kernel(mode = "ring", threads = 64)]
/// fn block_sum(state: &mut Totals, msg: u32) -> Totals {
///     let partial = shared_array::<u32, 64>();
///     let t = thread_idx().x as usize;
///     partial[t] = msg + t as u32;
///     sync_threads();
///     if t == 0 {
///         let mut s = 0u32;
///         for k in 0..64 { s += partial[k]; }
///         atomic_add(&mut state.sum, s as u64);
///     }
///     atomic_add(&mut state.calls, 1);
///     atomic_max(&mut state.largest, msg);
///     sync_threads();
///     *state
/// }
/// ```
fn ring_block_sum() -> Kernel {
    let totals = StructDef {
        name: "Totals".into(),
        size: 16,
        align: 8,
        fields: [("calls", U32, 0), ("largest", U32, 4), ("sum", U64, 8)]
            .into_iter()
            .map(|(n, s, offset)| FieldDef {
                name: n.into(),
                offset,
                ty: ty(s),
            })
            .collect(),
    };
    let st = Ty::Struct(1);
    let (tid, sum, k) = (0, 1, 2);
    let partial = |e: Expr| index(shared(0, ty(U32), 64), e, 0, ty(U32));
    let state_field = |f: u32, s: Scalar| {
        let mut p = place_param(0, st.clone());
        p.proj.push(Proj::Field(f));
        p.ty = ty(s);
        p
    };
    let msg = || load(place_param(1, ty(U32)));
    let body = vec![
        let_(tid, geom(Intrinsic::ThreadIdx)),
        StmtKind::Assign {
            place: partial(get(tid, Usize)),
            value: bin(BinOp::Add, msg(), cast(get(tid, Usize), U32)),
        },
        sync_threads(),
        if_then(
            bin(BinOp::Eq, get(tid, Usize), int(Usize, 0)),
            vec![
                let_(sum, int(U32, 0)),
                StmtKind::For {
                    id: 0,
                    var: k,
                    start: int(Usize, 0),
                    end: int(Usize, 64),
                    inclusive: false,
                    step: None,
                    body: block(vec![StmtKind::CompoundAssign {
                        place: place_local(sum, ty(U32)),
                        op: BinOp::Add,
                        value: load(partial(get(k, Usize))),
                    }]),
                },
                StmtKind::Expr(atomic(
                    AtomicOp::Add,
                    state_field(2, U64),
                    vec![cast(get(sum, U32), U64)],
                )),
            ],
        ),
        StmtKind::Expr(atomic(
            AtomicOp::Add,
            state_field(0, U32),
            vec![int(U32, 1)],
        )),
        StmtKind::Expr(atomic(AtomicOp::Max, state_field(1, U32), vec![msg()])),
        sync_threads(),
        StmtKind::Return(Some(load(place_param(0, st.clone())))),
    ];
    let mut f = function(
        "block_sum",
        vec![
            ("state", ParamKind::StateRef(st.clone())),
            ("msg", ParamKind::Value(ty(U32))),
        ],
        vec![
            ("t", ty(Usize), false),
            ("s", ty(U32), true),
            ("k", ty(Usize), false),
        ],
        body,
    );
    f.ret = st;
    let mut kernel = kernel("block_sum", f, 1, vec![dim3_def(), totals]);
    kernel.mode = spindle_codegen::KernelMode::Ring;
    kernel.threads = 64;
    kernel.shared = vec![SharedArray {
        name: "partial".into(),
        elem: ty(U32),
        len: 64,
        span: SrcSpan::default(),
    }];
    kernel
}

#[test]
fn cuda_host_ring_handler_with_a_shared_array_barriers_and_state_atomics() {
    require_gxx!();
    let k = ring_block_sum();
    let h = spindle_codegen::cuda::emit_ring_handler(
        &k,
        &spindle_codegen::cuda::EmitOptions::default(),
    );
    let dir = std::env::temp_dir().join(format!("spindle-cuda-host-ring-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("block_sum.cu");
    std::fs::write(&unit, &h.code).unwrap();
    // One block of 64 threads per message, as the ring loop runs the
    // handler; the static shared array outlives each call.
    let msgs = [3u32, 11, 7, 1];
    let main = format!(
        "#include \"{shim}\"\nnamespace k {{\n#include \"{unit}\"\n}}\nint main() {{\n  \
         k::SpindleFault fault{{}};\n  k::{s} state{{}};\n  k::{s} reply{{}};\n  \
         for (uint32_t msg : {{{msgs}}}) {{\n    \
         spindle_host_launch_concurrent(1, 64, [&] {{\n      \
         k::{s} r = k::{handler}(&fault, &state, msg);\n      \
         if (threadIdx.x == 0) reply = r;\n    }});\n    \
         std::printf(\"%u %u %llu\\n\", reply.calls, reply.largest, (unsigned long long)reply.sum);\n  }}\n  \
         std::printf(\"fault %u\\n\", fault.flag);\n}}\n",
        shim = shim_path(),
        unit = unit.display(),
        s = h.state_type,
        handler = h.handler,
        msgs = msgs.map(|m| m.to_string()).join(", "),
    );
    let out = compile_and_run(&dir, &main, "-O1");
    let _ = std::fs::remove_dir_all(&dir);
    let mut lines = out.lines();
    let (mut calls, mut largest, mut sum) = (0u64, 0u64, 0u64);
    for m in msgs {
        calls += 64;
        largest = largest.max(m as u64);
        sum += (0..64).map(|t| (m + t) as u64).sum::<u64>();
        assert_eq!(
            lines.next(),
            Some(format!("{calls} {largest} {sum}").as_str()),
            "after message {m}:\n{out}"
        );
    }
    assert_eq!(lines.next(), Some("fault 0"));
}

#[test]
fn cuda_host_rust_source_block_reduction_and_warp_sum() {
    require_gxx!();
    let reduce = from_rust(
        "fn reduce(x: &[u32], out: &mut [u32], hits: &mut [u32]) {
            let tile = shared_array::<u32, 64>();
            let seen = shared_array::<u32, 4>();
            let t = thread_idx().x as usize;
            if t < 4 {
                seen[t] = 0;
            }
            tile[t] = x[global_index()];
            sync_threads();
            atomic_add(&mut seen[t % 4], 1);
            let mut s = 32;
            while s > 0 {
                if t < s {
                    tile[t] += tile[t + s];
                }
                sync_threads();
                s /= 2;
            }
            let b = block_idx().x as usize;
            if t == 0 {
                out[b] = tile[0];
            }
            if t < 4 {
                hits[b * 4 + t] = seen[t];
            }
        }",
    );
    let warp_sum = from_rust(
        "fn warp_sum(x: &[i64], out: &mut [i64]) {
            let i = global_index();
            let mut v = x[i];
            let mut d = 16;
            while d > 0 {
                v = v.wrapping_add(warp_shuffle_xor(v, d));
                d /= 2;
            }
            out[i] = v;
        }",
    );
    let xs: Vec<u64> = (0..192u64).map(|i| i * i % 1000).collect();
    let ys: Vec<i64> = (0..64i64).map(|i| i * 1_000_000_007 - 5).collect();
    let r = run(
        "rust_source",
        &[
            Launch {
                kernel: reduce,
                slices: vec![
                    (U32, xs.clone(), false),
                    (U32, vec![0; 3], true),
                    (U32, vec![0; 12], true),
                ],
                grid: 3,
                block: 64,
                concurrent: true,
                shared_bytes: 0,
            },
            Launch {
                kernel: warp_sum,
                slices: vec![
                    (I64, ys.iter().map(|y| *y as u64).collect(), false),
                    (I64, vec![0; 64], true),
                ],
                grid: 1,
                block: 64,
                concurrent: true,
                shared_bytes: 0,
            },
        ],
        "-O1",
    );
    for b in 0..3 {
        let want: u64 = xs[b * 64..(b + 1) * 64].iter().sum();
        assert_eq!(r.values[&("reduce".to_string(), 1, b)], want, "block {b}");
        for c in 0..4 {
            assert_eq!(r.values[&("reduce".to_string(), 2, b * 4 + c)], 16);
        }
    }
    // A butterfly: every lane ends with its warp's sum.
    for i in 0..64 {
        let w = i / 32;
        let want = ys[w * 32..(w + 1) * 32]
            .iter()
            .fold(0i64, |a, y| a.wrapping_add(*y));
        assert_eq!(
            r.values[&("warp_sum".to_string(), 1, i)],
            want as u64,
            "lane {i}"
        );
    }
}
