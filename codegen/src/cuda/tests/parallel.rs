//! Atomics, block-shared arrays, barriers, warp operations, `lane_id` and
//! fences: the emitted text, and kernels for the NVRTC corpus.

use super::irb::*;
use crate::cuda::emit_ring_handler;
use crate::ir::*;
use crate::KernelMode;
use Scalar::*;

pub(crate) fn atomic(op: AtomicOp, place: Place, args: Vec<Expr>) -> Expr {
    Expr {
        ty: place.ty.clone(),
        kind: ExprKind::Atomic { op, place, args },
    }
}

pub(crate) fn coll(op: CollectiveOp, args: Vec<Expr>, t: Ty, site: SiteId) -> Expr {
    Expr {
        kind: ExprKind::Collective { op, args, site },
        ty: t,
    }
}

pub(crate) fn shared(id: u32, elem: Ty, len: u32) -> Place {
    Place {
        root: PlaceRoot::Shared(id),
        proj: Vec::new(),
        ty: arr(elem, len),
    }
}

fn unit_stmt(e: Expr) -> StmtKind {
    StmtKind::Expr(e)
}

/// A value of type `s` from a `u32`-ish number (for operands).
fn value(s: Scalar, v: i128) -> Expr {
    match s {
        F32 | F64 => float(s, v as f64),
        Bool => boolean(v != 0),
        _ => int(s, v),
    }
}

/// `fn atomics_<t>(y: &mut [T], o: &mut [T])` with a shared `[T; 64]`:
/// every operation `s` supports on `y[i]`, on the shared array and
/// (discarding the result) as a statement.
pub(crate) fn atomics_kernel(s: Scalar) -> Kernel {
    let mut kb = KernelBuilder::batch(&format!("atomics_{}", s.rust_name()));
    let sy = kb.site("y", 1);
    let so = kb.site("o", 1);
    let st = kb.site("tile", 1);
    kb.k.shared.push(SharedArray {
        name: "tile".into(),
        elem: ty(s),
        len: 64,
        span: SrcSpan::default(),
    });
    let mut f = FnBuilder::new(&kb.k.name.clone(), Ty::Unit);
    let y = f.slice("y", ty(s), true);
    let o = f.slice("o", ty(s), true);
    let i = f.let_("i", intr(Intrinsic::GlobalIndex, vec![], ty(Usize)), false);
    let yi = || index(place_param(y, ty(s)), local(i, ty(Usize)), sy, ty(s));
    let ops = AtomicOp::ALL.into_iter().filter(|op| op.supports(s));
    for (k, op) in ops.enumerate() {
        let args = if op == AtomicOp::Cas {
            vec![value(s, 3), value(s, 5)]
        } else {
            vec![value(s, 3)]
        };
        let oi = index(
            place_param(o, ty(s)),
            bin(BinOp::Add, local(i, ty(Usize)), usize_(k as i128)),
            so,
            ty(s),
        );
        f.push(StmtKind::Assign {
            place: oi,
            value: atomic(op, yi(), args.clone()),
        });
        let lane = cast(intr(Intrinsic::LaneId, vec![], ty(U32)), Usize);
        let ti = index(shared(0, ty(s), 64), lane, st, ty(s));
        f.push(unit_stmt(atomic(op, ti, args)));
    }
    kb.entry(f.finish())
}

/// `fn collectives_<t>(x: &[T], o: &mut [T], b: &mut [u32])`: every
/// collective and fence, shuffles of `T`.
pub(crate) fn collectives_kernel(s: Scalar) -> Kernel {
    use CollectiveOp as C;
    let mut kb = KernelBuilder::batch(&format!("collectives_{}", s.rust_name()));
    let sx = kb.site("x", 1);
    let so = kb.site("o", 1);
    let sb = kb.site("b", 1);
    let sc = kb.site("sync_threads()", 1);
    let mut f = FnBuilder::new(&kb.k.name.clone(), Ty::Unit);
    let x = f.slice("x", ty(s), false);
    let o = f.slice("o", ty(s), true);
    let b = f.slice("b", ty(U32), true);
    let i = f.let_("i", intr(Intrinsic::GlobalIndex, vec![], ty(Usize)), false);
    let v = f.let_(
        "v",
        load(index(place_param(x, ty(s)), local(i, ty(Usize)), sx, ty(s))),
        false,
    );
    let lane = f.let_("lane", intr(Intrinsic::LaneId, vec![], ty(U32)), false);
    for fence in [
        Intrinsic::ThreadFence,
        Intrinsic::ThreadFenceBlock,
        Intrinsic::ThreadFenceSystem,
    ] {
        f.push(unit_stmt(intr(fence, vec![], Ty::Unit)));
    }
    f.push(unit_stmt(coll(C::SyncThreads, vec![], Ty::Unit, sc)));
    f.push(unit_stmt(coll(C::SyncWarp, vec![], Ty::Unit, sc)));
    let at = |p: ParamId, t: Ty, k: i128, site| {
        index(
            place_param(p, t.clone()),
            bin(
                BinOp::Add,
                bin(BinOp::Mul, local(i, ty(Usize)), usize_(4)),
                usize_(k),
            ),
            site,
            t,
        )
    };
    let shuffles = [
        (
            C::Shuffle,
            bin(BinOp::Add, local(lane, ty(U32)), int(U32, 1)),
        ),
        (C::ShuffleDown, int(U32, 1)),
        (C::ShuffleUp, int(U32, 3)),
        (C::ShuffleXor, local(lane, ty(U32))),
    ];
    for (k, (op, arg)) in shuffles.into_iter().enumerate() {
        f.push(StmtKind::Assign {
            place: at(o, ty(s), k as i128, so),
            value: coll(op, vec![local(v, ty(s)), arg], ty(s), sc),
        });
    }
    let pred = || {
        bin(
            BinOp::Eq,
            bin(BinOp::Rem, local(i, ty(Usize)), usize_(3)),
            usize_(0),
        )
    };
    f.push(StmtKind::Assign {
        place: at(b, ty(U32), 0, sb),
        value: coll(C::Ballot, vec![pred()], ty(U32), sc),
    });
    f.push(StmtKind::Assign {
        place: at(b, ty(U32), 1, sb),
        value: cast(coll(C::All, vec![pred()], ty(Bool), sc), U32),
    });
    f.push(StmtKind::Assign {
        place: at(b, ty(U32), 2, sb),
        value: cast(coll(C::Any, vec![pred()], ty(Bool), sc), U32),
    });
    kb.entry(f.finish())
}

/// `fn shared_reduce(x: &[f32], o: &mut [f32])` with `tile: [f32; 256]`
/// and `cells: [Cell; 8]` (`Cell { hits: u32, weight: f64, tag: [u8; 3] }`):
/// a tree reduction of the block's values with `sync_threads`, and struct
/// elements written per thread and counted atomically.
pub(crate) fn shared_kernel() -> Kernel {
    let mut kb = KernelBuilder::batch("shared_reduce");
    let cell = kb.add_struct(
        "Cell",
        &[
            ("hits", ty(U32)),
            ("weight", ty(F64)),
            ("tag", arr(ty(U8), 3)),
        ],
    );
    let dim = kb.dim3();
    let sx = kb.site("x", 1);
    let so = kb.site("o", 1);
    let st = kb.site("tile", 1);
    let sc = kb.site("cells", 1);
    let sb = kb.site("sync_threads()", 1);
    for (name, elem, len) in [
        ("tile", ty(F32), 256),
        ("cells", Ty::Struct(cell), 8),
        // A name a C++ keyword would clash with.
        ("int", ty(U64), 2),
        // Never used: declared without a warning.
        ("_spare", ty(U8), 16),
    ] {
        kb.k.shared.push(SharedArray {
            name: name.into(),
            elem,
            len,
            span: SrcSpan::default(),
        });
    }
    let mut f = FnBuilder::new("shared_reduce", Ty::Unit);
    let x = f.slice("x", ty(F32), false);
    let o = f.slice("o", ty(F32), true);
    let i = f.let_("i", intr(Intrinsic::GlobalIndex, vec![], ty(Usize)), false);
    let geom = |which| {
        cast(
            Expr {
                kind: ExprKind::Field(Box::new(intr(which, vec![], Ty::Struct(dim))), 0),
                ty: ty(U32),
            },
            Usize,
        )
    };
    let t = f.let_("t", geom(Intrinsic::ThreadIdx), false);
    let tile = |e: Expr| index(shared(0, ty(F32), 256), e, st, ty(F32));
    f.push(StmtKind::Assign {
        place: tile(local(t, ty(Usize))),
        value: load(index(
            place_param(x, ty(F32)),
            local(i, ty(Usize)),
            sx,
            ty(F32),
        )),
    });
    let sync = || unit_stmt(coll(CollectiveOp::SyncThreads, vec![], Ty::Unit, sb));
    f.push(sync());
    let step = f.local("step", ty(Usize), true);
    f.push(StmtKind::Let {
        local: step,
        init: Some(usize_(128)),
    });
    f.push(StmtKind::While {
        id: 0,
        cond: bin(BinOp::Gt, local(step, ty(Usize)), usize_(0)),
        body: block(vec![
            StmtKind::If {
                cond: bin(BinOp::Lt, local(t, ty(Usize)), local(step, ty(Usize))),
                then_block: block(vec![StmtKind::CompoundAssign {
                    place: tile(local(t, ty(Usize))),
                    op: BinOp::Add,
                    value: load(tile(bin(
                        BinOp::Add,
                        local(t, ty(Usize)),
                        local(step, ty(Usize)),
                    ))),
                }]),
                else_block: Block::default(),
            },
            sync(),
            StmtKind::Assign {
                place: place_local(step, ty(Usize)),
                value: bin(BinOp::Div, local(step, ty(Usize)), usize_(2)),
            },
        ]),
    });
    let cells = |e: Expr| index(shared(1, Ty::Struct(cell), 8), e, sc, Ty::Struct(cell));
    let slot = || bin(BinOp::Rem, local(t, ty(Usize)), usize_(8));
    f.push(StmtKind::Assign {
        place: field(cells(slot()), 1, ty(F64)),
        value: cast(local(t, ty(Usize)), F64),
    });
    f.push(unit_stmt(atomic(
        AtomicOp::Add,
        field(cells(slot()), 0, ty(U32)),
        vec![int(U32, 1)],
    )));
    f.push(unit_stmt(atomic(
        AtomicOp::Max,
        index(shared(2, ty(U64), 2), usize_(1), sc, ty(U64)),
        vec![cast(local(t, ty(Usize)), U64)],
    )));
    f.push(sync());
    let block_x = geom(Intrinsic::BlockIdx);
    f.push(StmtKind::If {
        cond: bin(BinOp::Eq, local(t, ty(Usize)), usize_(0)),
        then_block: block(vec![StmtKind::Assign {
            place: index(place_param(o, ty(F32)), block_x, so, ty(F32)),
            value: load(tile(usize_(0))),
        }]),
        else_block: Block::default(),
    });
    kb.entry(f.finish())
}

/// A ring kernel on 64 threads:
/// ```ignore
/// #[kernel(mode = "ring", threads = 64)]
/// fn block_sum(state: &mut Totals, msg: u32) -> Totals {
///     let partial = shared_array::<u32, 64>();
///     let t = thread_idx().x as usize;
///     partial[t] = msg + t as u32;
///     sync_threads();
///     if t == 0 { let mut s = 0; for k in 0..64 { s += partial[k]; } atomic_add(&mut state.sum, s as u64); }
///     atomic_add(&mut state.calls, 1);
///     atomic_max(&mut state.largest, msg);
///     sync_threads();
///     *state
/// }
/// ```
pub(crate) fn ring_block_sum() -> Kernel {
    let mut kb = KernelBuilder::with_mode("block_sum", KernelMode::Ring);
    kb.k.threads = 64;
    let totals = kb.add_struct(
        "Totals",
        &[("calls", ty(U32)), ("largest", ty(U32)), ("sum", ty(U64))],
    );
    let dim = kb.dim3();
    let sp = kb.site("partial", 1);
    let sb = kb.site("sync_threads()", 1);
    kb.k.shared.push(SharedArray {
        name: "partial".into(),
        elem: ty(U32),
        len: 64,
        span: SrcSpan::default(),
    });
    let st = Ty::Struct(totals);
    let mut f = FnBuilder::new("block_sum", st.clone());
    let state = f.param("state", ParamKind::StateRef(st.clone()));
    let msg = f.value("msg", ty(U32));
    let tx = Expr {
        kind: ExprKind::Field(
            Box::new(intr(Intrinsic::ThreadIdx, vec![], Ty::Struct(dim))),
            0,
        ),
        ty: ty(U32),
    };
    let t = f.let_("t", cast(tx, Usize), false);
    let partial = |e: Expr| index(shared(0, ty(U32), 64), e, sp, ty(U32));
    f.push(StmtKind::Assign {
        place: partial(local(t, ty(Usize))),
        value: bin(
            BinOp::Add,
            load(place_param(msg, ty(U32))),
            cast(local(t, ty(Usize)), U32),
        ),
    });
    let sync = || unit_stmt(coll(CollectiveOp::SyncThreads, vec![], Ty::Unit, sb));
    f.push(sync());
    let s = f.local("s", ty(U32), true);
    let k = f.local("k", ty(Usize), false);
    let field_of = |i: u32, t: Scalar| field(place_param(state, st.clone()), i, ty(t));
    f.push(StmtKind::If {
        cond: bin(BinOp::Eq, local(t, ty(Usize)), usize_(0)),
        then_block: block(vec![
            StmtKind::Let {
                local: s,
                init: Some(int(U32, 0)),
            },
            StmtKind::For {
                id: 0,
                var: k,
                start: usize_(0),
                end: usize_(64),
                inclusive: false,
                step: None,
                body: block(vec![StmtKind::CompoundAssign {
                    place: place_local(s, ty(U32)),
                    op: BinOp::Add,
                    value: load(partial(local(k, ty(Usize)))),
                }]),
            },
            unit_stmt(atomic(
                AtomicOp::Add,
                field_of(2, U64),
                vec![cast(local(s, ty(U32)), U64)],
            )),
        ]),
        else_block: Block::default(),
    });
    f.push(unit_stmt(atomic(
        AtomicOp::Add,
        field_of(0, U32),
        vec![int(U32, 1)],
    )));
    f.push(unit_stmt(atomic(
        AtomicOp::Max,
        field_of(1, U32),
        vec![load(place_param(msg, ty(U32)))],
    )));
    f.push(sync());
    f.push(StmtKind::Return(Some(load(place_param(state, st)))));
    kb.entry(f.finish())
}

/// Every kernel of this file, for the NVRTC corpus.
pub(crate) fn corpus() -> Vec<(String, Kernel)> {
    let mut out = Vec::new();
    for s in Scalar::ALL {
        if AtomicOp::ALL.iter().any(|op| op.supports(s)) {
            out.push((format!("atomics_{}", s.rust_name()), atomics_kernel(s)));
        }
        out.push((
            format!("collectives_{}", s.rust_name()),
            collectives_kernel(s),
        ));
    }
    out.push(("shared_reduce".into(), shared_kernel()));
    let mut unchecked = shared_kernel();
    unchecked.bounds_checks = false;
    out.push(("shared_reduce_unchecked".into(), unchecked));
    out
}

#[test]
fn cuda_atomics_call_one_helper_per_op_and_type() {
    for s in [I32, U32, I64, U64, Isize, Usize, F32, F64] {
        let c = code_of(&atomics_kernel(s));
        assert!(!c.contains("#error"), "{c}");
        let t = super::super::scalar::tag(s);
        for op in AtomicOp::ALL.into_iter().filter(|op| op.supports(s)) {
            let name = op.rust_name().trim_start_matches("atomic_");
            let helper = format!("spindle_atomic_{name}_{t}(");
            assert!(c.contains(&helper), "{helper} missing:\n{c}");
        }
        // The place is checked, then the atomic runs on its address.
        assert!(
            c.contains("(&p_y[spindle_check(spindle_fault, l0_i, p_y_len, 0u)], "),
            "{c}"
        );
    }
    let c = code_of(&atomics_kernel(I64));
    assert!(c.contains(
        "return (int64_t)atomicAdd((unsigned long long*)p, 0ull - (unsigned long long)v);"
    ));
    assert!(c.contains("return (int64_t)atomicMin((long long*)p, (long long)v);"));
    let c = code_of(&atomics_kernel(U64));
    assert!(c.contains("return atomicAdd(p, 0ull - v);"), "{c}");
    let c = code_of(&atomics_kernel(F32));
    assert!(c.contains("atomicCAS(q, assumed, __float_as_uint(__uint_as_float(assumed) - v))"));
}

#[test]
fn cuda_atomic_helpers_are_device_only_and_emitted_on_demand() {
    let c = code_of(&atomics_kernel(U32));
    let def = c
        .find("spindle_atomic_add_u32(uint32_t* p, uint32_t v)")
        .unwrap();
    let guard = c[..def].rfind("#ifndef SPINDLE_HOST_SHIM").unwrap();
    assert!(!c[guard..def].contains("#endif"), "{c}");
    // The fault record's CAS is the prelude's, not a second definition.
    assert_eq!(
        c.matches("uint32_t spindle_atomic_cas_u32(").count(),
        1,
        "{c}"
    );
    let plain = code_of(&saxpy());
    for absent in ["spindle_atomic_add", "spindle_shfl", "spindle_active_mask"] {
        assert!(!plain.contains(absent), "{absent}:\n{plain}");
    }
}

#[test]
fn cuda_atomics_on_places_that_are_not_writable_are_invalid() {
    let mut k = atomics_kernel(U32);
    if let ParamKind::Slice { mutable, .. } = &mut k.entry.params[0].kind {
        *mutable = false;
    }
    let c = code_of(&k);
    assert!(c.contains("#error"), "{c}");
    let mut k = atomics_kernel(F32);
    k.entry.body.stmts.push(stmt(unit_stmt(atomic(
        AtomicOp::Min,
        index(place_param(0, ty(F32)), usize_(0), 0, ty(F32)),
        vec![float(F32, 1.0)],
    ))));
    assert!(
        code_of(&k).contains("#error \"spindle: invalid IR: atomic_min on a place of type f32\"")
    );
}

#[test]
fn cuda_collectives_use_the_active_mask_and_named_helpers() {
    let c = code_of(&collectives_kernel(I16));
    assert!(!c.contains("#error"), "{c}");
    for text in [
        "spindle_fence_device();",
        "spindle_fence_block();",
        "spindle_fence_system();",
        "spindle_sync_threads();",
        "spindle_sync_warp_mask(spindle_active_mask());",
        "uint32_t l2_lane = spindle_lane_id();",
        // A lane plus one cannot wrap: signed arithmetic (see `index.rs`).
        "spindle_warp_shuffle_idx_i16(l1_v, (uint32_t)((int32_t)l2_lane + 1))",
        "spindle_warp_shuffle_down_i16(l1_v, 1u)",
        "spindle_warp_shuffle_up_i16(l1_v, 3u)",
        "spindle_warp_shuffle_xor_i16(l1_v, l2_lane)",
        "spindle_warp_ballot(",
        "(uint32_t)spindle_warp_all(",
        "(uint32_t)spindle_warp_any(",
        "const uint32_t mask = spindle_active_mask();",
        "const uint64_t src = x > lane ? 32ull : (uint64_t)(lane - x);",
        "const uint64_t src = (uint64_t)lane + x;",
        "const uint32_t r = spindle_shfl_u32(mask, (uint32_t)v, ok ? (uint32_t)src : lane);",
        "return ok ? (int16_t)r : v;",
        "__device__ __forceinline__ void spindle_sync_threads(void) { __syncthreads(); }",
        "return (uint32_t)__shfl_sync(mask, v, (int)src);",
        "return __ballot_sync(mask, (int)p);",
        "(threadIdx.x + threadIdx.y * blockDim.x + threadIdx.z * blockDim.x * blockDim.y) & 31u",
    ] {
        assert!(c.contains(text), "{text} missing:\n{c}");
    }
    let c = code_of(&collectives_kernel(F64));
    assert!(c.contains("spindle_shfl_u64(mask, spindle_f64_bits(v), ok ? (uint32_t)src : lane)"));
    assert!(c.contains("__shfl_sync(mask, (unsigned long long)v, (int)src)"));
    let c = code_of(&collectives_kernel(Bool));
    assert!(c.contains("return ok ? r != 0u : v;"), "{c}");
}

#[test]
fn cuda_shared_arrays_are_aligned_wrapper_structs_in_the_entry() {
    let c = code_of(&shared_kernel());
    assert!(!c.contains("#error"), "{c}");
    for text in [
        "alignas(4) __shared__ spindle_arr_256_float sh0_tile;",
        "alignas(8) __shared__ spindle_arr_8_S_Cell sh1_cells;",
        "alignas(8) __shared__ spindle_arr_2_uint64_t sh2_int;",
        "[[maybe_unused]] alignas(1) __shared__ spindle_arr_16_uint8_t sh3__spare;",
        // A thread index below 2^31 against a constant length: a signed
        // 32-bit check; a sum of two unknowns: the 64-bit check.
        "sh0_tile.v[spindle_check_i32(spindle_fault, (int32_t)l1_t, 256, 2u)]",
        "sh0_tile.v[spindle_check(spindle_fault, l1_t + l2_step, 256ull, 2u)]",
        // Indices that are always below the length are not checked.
        "(void)spindle_atomic_add_u32(&sh1_cells.v[spindle_rem_u64(spindle_fault, l1_t, 8ull)].hits, 1u);",
        "(void)spindle_atomic_max_u64(&sh2_int.v[1ull], l1_t);",
    ] {
        assert!(c.contains(text), "{text} missing:\n{c}");
    }
    // Declared before the first statement of the entry.
    let entry = c.find("void spindle_shared_reduce(").unwrap();
    let decl = c.find("__shared__ spindle_arr_256_float").unwrap();
    let first = c.find("uint64_t l0_i =").unwrap();
    assert!(entry < decl && decl < first, "{c}");
}

#[test]
fn cuda_shared_arrays_outside_the_entry_are_invalid() {
    let mut kb = KernelBuilder::batch("k");
    kb.k.shared.push(SharedArray {
        name: "tile".into(),
        elem: ty(U32),
        len: 4,
        span: SrcSpan::default(),
    });
    let mut d = FnBuilder::new("helper", ty(U32));
    d.push(StmtKind::Return(Some(load(index(
        shared(0, ty(U32), 4),
        usize_(0),
        0,
        ty(U32),
    )))));
    kb.device_fn(d.finish());
    let k = kb.entry(FnBuilder::new("k", Ty::Unit).finish());
    assert!(code_of(&k).contains("outside the kernel entry"));
}

#[test]
fn cuda_ring_handler_declares_its_shared_array_and_reuses_the_ring_barrier() {
    let k = ring_block_sum();
    let h = emit_ring_handler(&k, &crate::cuda::EmitOptions::default());
    let c = &h.code;
    assert!(!c.contains("#error"), "{c}");
    assert!(c.contains("__device__ S_Totals spindle_handler_block_sum(SpindleFault* spindle_fault, S_Totals* p_state, const uint32_t& p_msg) {\n  alignas(4) __shared__ spindle_arr_64_uint32_t sh0_partial;"), "{c}");
    // The ring prelude's barrier, defined once.
    assert_eq!(
        c.matches("void spindle_sync_threads(void)").count(),
        1,
        "{c}"
    );
    assert!(
        c.contains("spindle_atomic_add_u64(&(*p_state).sum, (uint64_t)l1_s);"),
        "{c}"
    );
    assert!(
        c.contains("spindle_atomic_max_u32(&(*p_state).largest, p_msg);"),
        "{c}"
    );
    let ring = crate::ring::emit_ring(&k, &crate::cuda::EmitOptions::default()).unwrap();
    assert!(!ring.code.contains("#error"), "{}", ring.code);
}

#[test]
fn cuda_malformed_collectives_are_invalid() {
    let mut kb = KernelBuilder::batch("k");
    let sc = kb.site("warp_shuffle()", 1);
    let mut f = FnBuilder::new("k", Ty::Unit);
    f.push(unit_stmt(coll(
        CollectiveOp::Shuffle,
        vec![int(U32, 1), int(U64, 2)],
        ty(U32),
        sc,
    )));
    let c = code_of(&kb.entry(f.finish()));
    assert!(c.contains("warp_shuffle takes a scalar and a u32"), "{c}");
}
