//! The device intrinsics beyond thread geometry: `lane_id`, fences,
//! collectives (barriers, warp operations), atomics and block-shared arrays.

use super::*;
use crate::ir::*;
use crate::ExternalConst;

fn collectives(b: &Block) -> Vec<(CollectiveOp, Vec<Ty>, Ty, SiteId)> {
    exprs(b)
        .into_iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Collective { op, args, site } => Some((
                *op,
                args.iter().map(|a| a.ty.clone()).collect(),
                e.ty.clone(),
                *site,
            )),
            _ => None,
        })
        .collect()
}

fn atomics(b: &Block) -> Vec<(AtomicOp, &Place, Vec<&Expr>, Ty)> {
    exprs(b)
        .into_iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Atomic { op, place, args } => {
                Some((*op, place, args.iter().collect(), e.ty.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The fault site behind an index projection or a collective.
fn site(k: &Kernel, id: SiteId) -> &FaultSite {
    &k.fault_sites[id as usize]
}

fn index_site(p: &Place) -> SiteId {
    match p.proj.last() {
        Some(Proj::Index { site, .. }) => *site,
        other => panic!("expected an index projection, found {other:?}"),
    }
}

#[test]
fn lane_id_and_fences_in_every_path_form() {
    let k = link(
        "fn k(out: &mut [u32]) {
            let l = lane_id();
            let m = gpu::lane_id() + spindle::gpu::lane_id() + spindle::prelude::lane_id();
            thread_fence();
            gpu::thread_fence_block();
            spindle::gpu::thread_fence_system();
            out[0] = l + m;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "l").ty, s(Scalar::U32));
    let found: Vec<(Intrinsic, Ty)> = exprs(&k.entry.body)
        .into_iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Intrinsic(i, args) if args.is_empty() => Some((*i, e.ty.clone())),
            _ => None,
        })
        .collect();
    let lane = (Intrinsic::LaneId, s(Scalar::U32));
    assert_eq!(found.iter().filter(|f| **f == lane).count(), 4, "{found:?}");
    for fence in [
        Intrinsic::ThreadFence,
        Intrinsic::ThreadFenceBlock,
        Intrinsic::ThreadFenceSystem,
    ] {
        assert!(found.contains(&(fence, Ty::Unit)), "{fence:?} in {found:?}");
    }
    // Fences are statements of their own.
    let fence_stmts = k
        .entry
        .body
        .stmts
        .iter()
        .filter(
            |s| matches!(&s.kind, StmtKind::Expr(e) if matches!(e.kind, ExprKind::Intrinsic(..))),
        )
        .count();
    assert_eq!(fence_stmts, 3);
}

#[test]
fn collectives_have_types_and_one_site_each() {
    let k = link(
        "fn k(x: &[f32], out: &mut [u32]) {
            let i = global_index();
            sync_threads();
            let v = warp_shuffle(x[i], 0);
            let d = warp_shuffle_down(x[i], 16);
            let u = gpu::warp_shuffle_up(3u64, 1);
            let b = spindle::gpu::warp_shuffle_xor(true, 1);
            let all = warp_all(v > 0.0);
            let any = warp_any(b);
            let mask = warp_ballot(d < 1.0);
            sync_warp();
            sync_threads();
            if all && any { out[i] = mask + u as u32; }
        }",
        batch(),
        &[],
        &[],
    );
    use CollectiveOp as C;
    use Scalar::*;
    let got = collectives(&k.entry.body);
    let shapes: Vec<(CollectiveOp, Vec<Ty>, Ty)> = got
        .iter()
        .map(|(o, a, r, _)| (*o, a.clone(), r.clone()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            (C::SyncThreads, vec![], Ty::Unit),
            (C::Shuffle, vec![s(F32), s(U32)], s(F32)),
            (C::ShuffleDown, vec![s(F32), s(U32)], s(F32)),
            (C::ShuffleUp, vec![s(U64), s(U32)], s(U64)),
            (C::ShuffleXor, vec![s(Bool), s(U32)], s(Bool)),
            (C::All, vec![s(Bool)], s(Bool)),
            (C::Any, vec![s(Bool)], s(Bool)),
            (C::Ballot, vec![s(Bool)], s(U32)),
            (C::SyncWarp, vec![], Ty::Unit),
            (C::SyncThreads, vec![], Ty::Unit),
        ]
    );
    // One new site per call, named after the operation, on its line.
    let mut ids: Vec<SiteId> = got.iter().map(|g| g.3).collect();
    ids.dedup();
    assert_eq!(ids.len(), got.len());
    let first = site(&k, got[0].3);
    assert_eq!(first.what, "sync_threads()");
    assert_eq!(first.function, "k");
    assert_eq!(first.span.line, LINE + 2);
    assert_eq!(site(&k, got[2].3).what, "warp_shuffle_down()");
    assert_eq!(site(&k, got[9].3).span.line, LINE + 11);
}

#[test]
fn collectives_in_ring_handlers_and_device_fns() {
    let k = link(
        "fn h(state: &mut Tally, msg: Add) -> f32 {
            sync_threads();
            let s = warp_sum(msg.value);
            if thread_idx().x == 0 { state.sum += s; }
            sync_threads();
            state.sum
        }",
        ring(),
        &["fn warp_sum(v: f32) -> f32 {
            let mut v = v;
            let mut d = 16u32;
            while d > 0 {
                v += warp_shuffle_down(v, d);
                d /= 2;
            }
            v
        }"],
        &[&TALLY, &ADD],
    );
    assert_eq!(collectives(&k.entry.body).len(), 2);
    let dev = collectives(&k.device_fns[0].body);
    assert_eq!(dev.len(), 1);
    assert_eq!(dev[0].0, CollectiveOp::ShuffleDown);
    let st = site(&k, dev[0].3);
    assert_eq!(st.what, "warp_shuffle_down()");
    assert_eq!(st.function, "warp_sum");
}

#[test]
fn atomics_on_slices_infer_the_value_and_return_the_old_one() {
    let k = link(
        "fn k(x: &[u32], hist: &mut [u32], f: &mut [f32], big: &mut [i64]) {
            let i = global_index();
            let b = (x[i] % 8) as usize;
            let old = atomic_add(&mut hist[b], 1);
            atomic_sub(&mut f[0], 0.5);
            atomic_min(&mut big[1], -3);
            let seen = gpu::atomic_cas(&mut hist[0], 0, old);
            atomic_exchange::<f32>(&mut f[1], 2.0);
            atomic_xor(&mut hist[2], seen);
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "old").ty, s(Scalar::U32));
    assert_eq!(local(&k, "seen").ty, s(Scalar::U32));
    let got = atomics(&k.entry.body);
    let ops: Vec<(AtomicOp, usize, Ty)> = got
        .iter()
        .map(|(o, _, a, t)| (*o, a.len(), t.clone()))
        .collect();
    use Scalar::*;
    assert_eq!(
        ops,
        vec![
            (AtomicOp::Add, 1, s(U32)),
            (AtomicOp::Sub, 1, s(F32)),
            (AtomicOp::Min, 1, s(I64)),
            (AtomicOp::Cas, 2, s(U32)),
            (AtomicOp::Exchange, 1, s(F32)),
            (AtomicOp::Xor, 1, s(U32)),
        ]
    );
    let (_, place, args, _) = &got[0];
    assert_eq!(place.root, PlaceRoot::Param(1));
    assert_eq!(place.ty, s(U32));
    assert_eq!(args[0].ty, s(U32));
    assert_eq!(args[0].kind, ExprKind::Lit(Lit::Int(1)));
    // The place is bounds-checked like any index.
    let st = site(&k, index_site(place));
    assert_eq!(st.what, "hist");
    assert_eq!(st.span.line, LINE + 3);
    assert_eq!(got[2].2[0].kind, ExprKind::Lit(Lit::Int(-3)));
}

#[test]
fn atomics_on_the_ring_state() {
    let k = link(
        "fn h(state: &mut Tally, msg: Add) -> u32 {
            let i = thread_idx().x as usize;
            atomic_add(&mut state.sum, msg.value);
            atomic_max(&mut state.hist[i], 7);
            atomic_add(&mut state.count, 1)
        }",
        ring(),
        &[],
        &[&TALLY, &ADD],
    );
    let got = atomics(&k.entry.body);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].1.root, PlaceRoot::Param(0));
    assert_eq!(got[0].1.proj, vec![Proj::Field(1)]);
    assert_eq!(got[0].3, s(Scalar::F32));
    assert_eq!(got[1].1.proj.len(), 2);
    assert_eq!(site(&k, index_site(got[1].1)).what, "state.hist");
    assert_eq!(got[2].3, s(Scalar::U32));

    // A scalar state: the reference itself, or `&mut *state`.
    let k = link(
        "fn counter(state: &mut u64, msg: u64) -> u64 {
            atomic_add(state, msg);
            atomic_or(&mut *state, 1)
        }",
        ring(),
        &[],
        &[],
    );
    let got = atomics(&k.entry.body);
    assert_eq!(got.len(), 2);
    for (_, place, _, ty) in &got {
        assert_eq!(place.root, PlaceRoot::Param(0));
        assert!(place.proj.is_empty());
        assert_eq!(*ty, s(Scalar::U64));
    }
}

#[test]
fn shared_arrays_are_declared_once_and_used_by_element() {
    let k = link(
        "fn k(x: &[f32], out: &mut [f32], counts: &mut [u32]) {
            let tile = shared_array::<f32, 256>();
            let hits: &mut [u32; 8] = gpu::shared_array();
            let t = thread_idx().x as usize;
            tile[t] = x[global_index()];
            tile[t] += 1.0;
            atomic_add(&mut hits[t % 8], 1);
            sync_threads();
            let n = tile.len();
            out[global_index()] = tile[(t + 1) % n] + (*tile)[0];
            counts[0] = hits[0];
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(
        k.shared,
        vec![
            SharedArray {
                name: "tile".into(),
                elem: s(Scalar::F32),
                len: 256,
                span: SrcSpan {
                    line: LINE + 1,
                    column: 23
                },
            },
            SharedArray {
                name: "hits".into(),
                elem: s(Scalar::U32),
                len: 8,
                span: SrcSpan {
                    line: LINE + 2,
                    column: 38
                },
            },
        ]
    );
    // The bindings are not locals.
    assert!(k
        .entry
        .locals
        .iter()
        .all(|l| l.name != "tile" && l.name != "hits"));
    assert_eq!(local(&k, "n").ty, s(Scalar::Usize));
    let n_init = k.entry.body.stmts.iter().find_map(|st| match &st.kind {
        StmtKind::Let {
            local,
            init: Some(e),
        } if k.entry.locals[*local as usize].name == "n" => Some(e),
        _ => None,
    });
    assert_eq!(n_init.map(|e| &e.kind), Some(&ExprKind::Lit(Lit::Int(256))));
    let writes: Vec<&Place> = stmts(&k.entry.body)
        .into_iter()
        .filter_map(|st| match st {
            StmtKind::Assign { place, .. } | StmtKind::CompoundAssign { place, .. } => Some(place),
            _ => None,
        })
        .filter(|p| p.root == PlaceRoot::Shared(0))
        .collect();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0].ty, s(Scalar::F32));
    assert_eq!(site(&k, index_site(writes[0])).what, "tile");
    let reads = exprs(&k.entry.body)
        .into_iter()
        .filter(|e| matches!(&e.kind, ExprKind::Load(p) if p.root == PlaceRoot::Shared(0)))
        .count();
    assert_eq!(reads, 2);
    let got = atomics(&k.entry.body);
    assert_eq!(got[0].1.root, PlaceRoot::Shared(1));
    assert_eq!(site(&k, index_site(got[0].1)).what, "hits");
}

#[test]
fn shared_arrays_of_structs_and_constant_lengths_resolve_at_link() {
    let consts: &'static [ExternalConst<'static>] = Box::leak(Box::new([ExternalConst {
        path: "TILE",
        value: crate::layout::ConstValue::Int(Scalar::Usize, 64),
    }]));
    let src = "fn h(state: &mut Tally, msg: Add) -> f32 {
        let parts = shared_array::<Particle, TILE>();
        let sums: &mut [f32; TILE] = shared_array::<f32, { TILE }>();
        let t = thread_idx().x as usize;
        parts[t].mass = msg.value;
        sums[t] = parts[t].pos[0];
        sums.len() as f32
    }";
    // At macro time the constant and the struct are unknown: no error.
    assert_eq!(kernel_errors(src, ring()), vec![]);
    let a = crate::frontend::analyze_kernel(&parse(src), &ring()).unwrap();
    let names: Vec<String> = a.consts.iter().map(crate::frontend::const_key).collect();
    assert_eq!(names, ["TILE"]);
    // The glue hands the linker the layout of a struct named only here.
    let structs: Vec<String> = a
        .struct_types
        .iter()
        .map(|p| quote::ToTokens::to_token_stream(p).to_string())
        .collect();
    assert!(structs.contains(&"Particle".to_string()), "{structs:?}");
    let kernel = ItemSource {
        consts,
        ..item_source(src, LINE)
    };
    let k = crate::link(&kernel, &ring(), &[], &[&TALLY, &ADD, &PARTICLE]).unwrap();
    let particle = k.structs.iter().position(|d| d.name == "Particle").unwrap();
    assert_eq!(k.shared[0].elem, Ty::Struct(particle as StructId));
    assert_eq!(k.shared[0].len, 64);
    assert_eq!(
        (k.shared[1].elem.clone(), k.shared[1].len),
        (s(Scalar::F32), 64)
    );
}

#[test]
fn shared_arrays_over_48_kib_are_rejected() {
    // Scalars: known at macro time, reported at the array that crosses.
    let src = "fn k(out: &mut [f32]) {
        let a = shared_array::<f32, 8192>();
        let b = shared_array::<u64, 2048>();
        out[0] = a[0] + b[0] as f32;
    }";
    // Exactly 48 KiB fits.
    assert_eq!(kernel_errors(src, batch()), vec![]);
    let src = "fn k(out: &mut [f32]) {
        let a = shared_array::<f32, 8192>();
        let b = shared_array::<u64, 2049>();
        out[0] = a[0] + b[0] as f32;
    }";
    assert_rejects(
        src,
        batch(),
        "kernel `k` declares 49160 bytes of block-shared arrays (`a`: [f32; 8192] = 32768 \
         bytes, `b`: [u64; 2049] = 16392 bytes), more than the 49152 bytes (48 KiB)",
        "shared_array::<u64",
    );
    // Struct sizes are known to the linker only.
    let src = "fn k(out: &mut [f32]) {
        let a = shared_array::<f32, 8192>();
        let p = shared_array::<Particle, 1025>();
        out[0] = a[0] + p[0].mass;
    }";
    assert_eq!(kernel_errors(src, batch()), vec![]);
    let e = try_link(src, batch(), &[], &[&PARTICLE]).unwrap_err();
    assert_eq!(
        e.message,
        "in `k`: kernel `k` declares 49168 bytes of block-shared arrays (`a`: [f32; 8192] = \
         32768 bytes, `p`: [Particle; 1025] = 16400 bytes), more than the 49152 bytes (48 KiB) \
         a kernel can declare: make the arrays smaller, or keep the data in a slice parameter"
    );
    assert_eq!((e.file.as_str(), e.span.line), (FILE, LINE + 2));
}

#[test]
fn shared_arrays_follow_scopes() {
    let k = link(
        "fn k(out: &mut [u32]) {
            let t = thread_idx().x as usize;
            for round in 0..2u32 {
                let buf = shared_array::<u32, 32>();
                buf[t] = round;
                sync_threads();
                out[t] = buf[31 - t];
            }
            let buf = 7u32;
            out[0] = buf;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(k.shared.len(), 1);
    // The later `let buf` shadows the array with a plain local.
    assert_eq!(local(&k, "buf").ty, s(Scalar::U32));
}
