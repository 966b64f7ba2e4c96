//! Views of the launch's dynamic shared memory (`dynamic_shared::<T>()`):
//! the IR they lower to, and every rejection, spanned.

use super::intrinsic_errors::device_errors;
use super::*;
use crate::ir::*;
use crate::layout::{FieldLayout, StructLayout};

fn b(src: &str, msg: &str, at: &str) {
    assert_rejects(src, batch(), msg, at);
}

fn r(src: &str, msg: &str, at: &str) {
    assert_rejects(src, ring(), msg, at);
}

/// The fault site of the index projection a view's place starts with.
fn first_index_site(k: &Kernel, p: &Place) -> String {
    match p.proj.first() {
        Some(Proj::Index { site, .. }) => k.fault_sites[*site as usize].what.clone(),
        other => panic!("expected an index projection first, found {other:?}"),
    }
}

#[test]
fn views_are_declared_by_a_let_and_used_by_element() {
    let k = link(
        "fn k(x: &[f32], out: &mut [f32], counts: &mut [u32]) {
            let buf = dynamic_shared::<f32>();
            let hits: &mut [u32] = gpu::dynamic_shared();
            let t = thread_idx().x as usize;
            buf[t] = x[global_index()];
            buf[t] += 1.0;
            atomic_add(&mut hits[t % 8], 1);
            sync_threads();
            let n = buf.len();
            out[global_index()] = buf[(t + 1) % n] + (*buf)[0];
            counts[0] = hits[0] + hits.len() as u32;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(
        k.dynamic_shared,
        vec![
            DynamicShared {
                name: "buf".into(),
                elem: s(Scalar::F32),
                span: SrcSpan {
                    line: LINE + 1,
                    column: 22
                },
            },
            DynamicShared {
                name: "hits".into(),
                elem: s(Scalar::U32),
                span: SrcSpan {
                    line: LINE + 2,
                    column: 35
                },
            },
        ]
    );
    assert!(k.shared.is_empty());
    // The bindings are not locals.
    assert!(k
        .entry
        .locals
        .iter()
        .all(|l| l.name != "buf" && l.name != "hits"));
    // `len()` is the launch's: not a constant.
    assert_eq!(local(&k, "n").ty, s(Scalar::Usize));
    let lens: Vec<(&ExprKind, &Ty)> = exprs(&k.entry.body)
        .into_iter()
        .filter(|e| matches!(e.kind, ExprKind::DynamicSharedLen(_)))
        .map(|e| (&e.kind, &e.ty))
        .collect();
    let usize_ty = s(Scalar::Usize);
    assert_eq!(
        lens,
        [
            (&ExprKind::DynamicSharedLen(0), &usize_ty),
            (&ExprKind::DynamicSharedLen(1), &usize_ty)
        ]
    );
    // Writes, compound writes and reads are places rooted at the view,
    // bounds-checked by an index projection named after the binding.
    let writes: Vec<&Place> = stmts(&k.entry.body)
        .into_iter()
        .filter_map(|st| match st {
            StmtKind::Assign { place, .. } | StmtKind::CompoundAssign { place, .. } => Some(place),
            _ => None,
        })
        .filter(|p| p.root == PlaceRoot::DynamicShared(0))
        .collect();
    assert_eq!(writes.len(), 2);
    for w in writes {
        assert_eq!((w.ty.clone(), w.proj.len()), (s(Scalar::F32), 1));
        assert_eq!(first_index_site(&k, w), "buf");
    }
    let reads: Vec<&Place> = exprs(&k.entry.body)
        .into_iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Load(p) if matches!(p.root, PlaceRoot::DynamicShared(_)) => Some(p),
            _ => None,
        })
        .collect();
    let roots: Vec<PlaceRoot> = reads.iter().map(|p| p.root).collect();
    assert_eq!(
        roots,
        [
            PlaceRoot::DynamicShared(0),
            PlaceRoot::DynamicShared(0),
            PlaceRoot::DynamicShared(1)
        ]
    );
    let atomic = exprs(&k.entry.body)
        .into_iter()
        .find_map(|e| match &e.kind {
            ExprKind::Atomic { op, place, .. } => Some((*op, place)),
            _ => None,
        })
        .expect("an atomic");
    assert_eq!(atomic.0, AtomicOp::Add);
    assert_eq!(atomic.1.root, PlaceRoot::DynamicShared(1));
    assert_eq!(atomic.1.ty, s(Scalar::U32));
    assert_eq!(first_index_site(&k, atomic.1), "hits");
}

#[test]
fn views_of_structs_resolve_at_link_and_follow_scopes() {
    let src = "fn k(out: &mut [f32]) {
        let t = thread_idx().x as usize;
        if t < 4 {
            let parts = dynamic_shared::<Particle>();
            parts[t].mass = 1.0;
            out[t] = parts[t].pos[0] + parts[t].mass;
        }
        let parts = 2.0f32;
        let again: &mut [f32] = dynamic_shared();
        out[0] = again[0] + parts;
    }";
    // At macro time the struct is unknown: no error, and the glue hands
    // the linker its layout.
    assert_eq!(kernel_errors(src, batch()), vec![]);
    let a = crate::frontend::analyze_kernel(&parse(src), &batch()).unwrap();
    let structs: Vec<String> = a
        .struct_types
        .iter()
        .map(|p| quote::ToTokens::to_token_stream(p).to_string())
        .collect();
    assert!(structs.contains(&"Particle".to_string()), "{structs:?}");
    let k = link(src, batch(), &[], &[&PARTICLE]);
    let particle = k.structs.iter().position(|d| d.name == "Particle").unwrap();
    let views: Vec<(&str, &Ty)> = k
        .dynamic_shared
        .iter()
        .map(|d| (d.name.as_str(), &d.elem))
        .collect();
    assert_eq!(
        views,
        [
            ("parts", &Ty::Struct(particle as StructId)),
            ("again", &s(Scalar::F32))
        ]
    );
    // The later `let parts` shadows the view with a plain local.
    assert_eq!(local(&k, "parts").ty, s(Scalar::F32));
    let field_write = stmts(&k.entry.body)
        .into_iter()
        .find_map(|st| match st {
            StmtKind::Assign { place, .. } if place.root == PlaceRoot::DynamicShared(0) => {
                Some(place)
            }
            _ => None,
        })
        .expect("a write to `parts[t].mass`");
    assert!(matches!(
        field_write.proj.as_slice(),
        [Proj::Index { .. }, Proj::Field(1)]
    ));
}

static WIDE_FIELDS: [FieldLayout; 1] = [FieldLayout {
    name: "v",
    offset: 0,
    ty: &F32,
}];
static WIDE_LAYOUT: StructLayout = StructLayout {
    name: "Wide",
    args: &[],
    size: 32,
    align: 32,
    fields: &WIDE_FIELDS,
};
/// `#[repr(align(32))] Wide { v: f32 }`
static WIDE: TypeDesc = TypeDesc::Struct(&WIDE_LAYOUT);

static VEC4_FIELDS: [FieldLayout; 1] = [FieldLayout {
    name: "v",
    offset: 0,
    ty: &F32,
}];
static VEC4_LAYOUT: StructLayout = StructLayout {
    name: "Vec4",
    args: &[],
    size: 16,
    align: 16,
    fields: &VEC4_FIELDS,
};
/// `#[repr(align(16))] Vec4 { v: f32 }`
static VEC4: TypeDesc = TypeDesc::Struct(&VEC4_LAYOUT);

#[test]
fn elements_aligned_above_16_bytes_are_a_link_error() {
    let src = "fn k(out: &mut [f32]) {
        let a = dynamic_shared::<Vec4>();
        let w = dynamic_shared::<Wide>();
        out[0] = a[0].v + w[0].v;
    }";
    assert_eq!(kernel_errors(src, batch()), vec![]);
    let e = try_link(src, batch(), &[], &[&VEC4, &WIDE]).unwrap_err();
    assert_eq!(
        e.message,
        "in `k`: `w` views dynamic shared memory as `Wide`, which is aligned to 32 bytes, but \
         dynamic shared memory is aligned to 16: use an element type aligned to at most 16 \
         bytes, or a `shared_array::<T, N>()`"
    );
    assert_eq!(
        (e.file.as_str(), e.span),
        (
            FILE,
            SrcSpan {
                line: LINE + 2,
                column: 16
            }
        )
    );
    // 16 bytes is the area's own alignment: accepted.
    let k = link(
        "fn k(out: &mut [f32]) {
            let a = dynamic_shared::<Vec4>();
            out[0] = a[0].v;
        }",
        batch(),
        &[],
        &[&VEC4],
    );
    assert_eq!(k.dynamic_shared.len(), 1);
}

#[test]
fn views_are_declared_by_a_let_in_a_batch_kernel() {
    let errs =
        device_errors("fn helper(x: f32) -> f32 {\n    let t = dynamic_shared::<f32>();\n    x\n}");
    assert_eq!(
        errs,
        vec![(
            "`dynamic_shared` cannot be called in a `#[device]` fn: declare a view of dynamic \
             shared memory with `let name = dynamic_shared::<T>();` in the kernel function, and \
             pass its elements to the helper"
                .to_string(),
            2,
            12
        )]
    );
    let ring_msg = "`dynamic_shared` cannot be used in a ring kernel: a ring kernel has no \
                    launch to size dynamic shared memory (`Launch::shared_bytes`); declare a \
                    fixed-size array with `let name = shared_array::<T, N>();`";
    r(
        "fn h(state: &mut Tally, msg: Add) -> u32 { let buf = dynamic_shared::<u32>(); buf[0] \
         = 1; 0 }",
        ring_msg,
        "dynamic_shared::<u32>()",
    );
    r(
        "fn h(state: &mut Tally, msg: Add) -> u32 { dynamic_shared::<u32>()[0] }",
        ring_msg,
        "dynamic_shared",
    );
    b(
        "fn k(o: &mut [f32]) { o[0] = dynamic_shared::<f32>()[0]; }",
        "`dynamic_shared` can only initialize a `let`: declare a view of dynamic shared memory \
         with `let name = dynamic_shared::<T>();` in the kernel function",
        "dynamic_shared",
    );
    b(
        "fn k(o: &mut [f32]) { let t; t = dynamic_shared::<f32>(); }",
        "can only initialize a `let`",
        "dynamic_shared",
    );
    b(
        "fn k(o: &mut [f32]) { let (a, b) = dynamic_shared::<f32>(); }",
        "bind a view of dynamic shared memory to a plain name",
        "(a, b)",
    );
    b(
        "fn k(o: &mut [f32]) { let t = dynamic_shared(); }",
        "write the element type: `dynamic_shared::<f32>()`",
        "dynamic_shared",
    );
    b(
        "fn k(o: &mut [f32]) { let t = dynamic_shared::<f32, 4>(); }",
        "`dynamic_shared` takes one type argument, the element type: `dynamic_shared::<f32>()`",
        "::<f32, 4>",
    );
    b(
        "fn k(o: &mut [f32]) { let t = dynamic_shared::<f32>(1024); }",
        "`dynamic_shared` takes no arguments: its size is the launch's `Launch::shared_bytes`; \
         write the element type as `dynamic_shared::<T>()`",
        "1024)",
    );
    b(
        "fn k(o: &mut [f32]) { let t: &mut [f32; 4] = dynamic_shared::<f32>(); }",
        "a view of dynamic shared memory has type `&mut [T]` (e.g. `let buf: &mut [f32] = \
         dynamic_shared();`)",
        "&mut [f32; 4]",
    );
    b(
        "fn k(o: &mut [f32]) { let t: &mut [u32] = dynamic_shared::<f32>(); }",
        "this annotation does not match the `dynamic_shared::<T>` turbofish: write the type once",
        "&mut [u32]",
    );
    b(
        "fn k(o: &mut [f32]) { let t = dynamic_shared::<[f32; 4]>(); }",
        "dynamic shared memory elements are scalars or DeviceType structs, found `[f32; 4]`: for \
         a 2-D tile view it as `rows * cols` elements and index it `[r * cols + c]`",
        "dynamic_shared",
    );
}

#[test]
fn view_bindings_are_used_by_element_only() {
    let whole = "`buf` is a view of dynamic shared memory: use its elements (`buf[i]`) or \
                 `buf.len()`; it cannot be copied, passed to a function or returned as a whole \
                 (copy the elements you need into a local array)";
    b(
        "fn k(o: &mut [f32]) { let buf = dynamic_shared::<f32>(); let b2 = buf; }",
        whole,
        "buf; }",
    );
    b(
        "fn k(o: &mut [f32]) { let buf = dynamic_shared::<f32>(); o[0] = sum(buf); }",
        whole,
        "buf); }",
    );
    b(
        "fn k(o: &mut [f32]) { let buf = dynamic_shared::<f32>(); let c = *buf; }",
        whole,
        "*buf",
    );
    b(
        "fn k(o: &mut [f32]) { let buf = dynamic_shared::<f32>(); buf = dynamic_shared::<f32>(); }",
        "cannot assign to `buf`: it names a view of dynamic shared memory; assign its elements \
         (`buf[i] = v`)",
        "buf = dynamic_shared::<f32>(); }",
    );
    b(
        "fn k(o: &mut [f32]) { let buf = dynamic_shared::<f32>(); *buf = [0.0; 4]; }",
        "cannot assign to `buf`",
        "*buf",
    );
    b(
        "fn k(o: &mut [f32]) { let buf = dynamic_shared::<f32>(); o[0] = buf.x; }",
        "`buf` is a view of dynamic shared memory and has no fields: index it first (`buf[i].x`)",
        "x; }",
    );
    b(
        "fn k(o: &mut [u32]) { let buf = dynamic_shared::<u32>(); atomic_add(&mut buf, 1); }",
        "`buf` is a view of dynamic shared memory: pass one of its elements, `&mut buf[i]`",
        "buf, 1",
    );
    b(
        "fn k(o: &mut [u32]) { let buf = dynamic_shared::<u8>(); atomic_add(&mut buf[0], 1); }",
        "`atomic_add` does not work on `u8`",
        "&mut buf[0]",
    );
}

#[test]
fn views_leave_annotation_sound() {
    let mut item = parse(
        "fn k(o: &mut [f32]) {
            let buf = dynamic_shared::<f32>();
            let typed: &mut [u32] = dynamic_shared();
            let x = buf[0];
            let n = buf.len();
            let old = atomic_add(&mut typed[0], 1);
            o[0] = x + n as f32 + old as f32;
        }",
    );
    crate::frontend::annotate_lets(&mut item, Some(&batch()));
    let out = quote::ToTokens::to_token_stream(&item.block).to_string();
    assert!(out.contains("let buf = dynamic_shared"), "{out}");
    assert!(
        out.contains("let typed : & mut [u32] = dynamic_shared"),
        "{out}"
    );
    assert!(out.contains("let x : f32 = buf"), "{out}");
    assert!(out.contains("let n : usize = buf . len"), "{out}");
    assert!(out.contains("let old : u32 = atomic_add"), "{out}");
}
