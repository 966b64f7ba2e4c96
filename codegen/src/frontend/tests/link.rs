//! Link time: struct layouts, `#[device]` fns, ring entries, link errors.

use super::*;
use crate::ir::*;

#[test]
fn ring_entry_has_state_ref_and_value_message() {
    let k = link(
        "fn tally(state: &mut Tally, msg: Add) -> Tally {
            state.count += 1;
            state.sum += msg.value;
            *state
        }",
        ring(),
        &[],
        &[&TALLY, &ADD],
    );
    assert_eq!(k.mode, KernelMode::Ring);
    assert_eq!(k.threads, 1);
    let names: Vec<&str> = k.structs.iter().map(|s| s.name.as_str()).collect();
    // First use first (dependencies before dependents).
    assert_eq!(names, ["Tally", "Add"]);
    let tally = Ty::Struct(0);
    assert_eq!(k.entry.params[0].kind, ParamKind::StateRef(tally.clone()));
    assert_eq!(k.entry.params[1].kind, ParamKind::Value(Ty::Struct(1)));
    assert_eq!(k.entry.ret, tally);
    let stmts = &k.entry.body.stmts;
    let StmtKind::CompoundAssign {
        place,
        op: BinOp::Add,
        value,
    } = &stmts[0].kind
    else {
        panic!()
    };
    assert_eq!(place.root, PlaceRoot::Param(0));
    assert_eq!(place.proj, vec![Proj::Field(0)]);
    assert_eq!(value.kind, ExprKind::Lit(Lit::Int(1)));
    assert_eq!(value.ty, s(Scalar::U32));
    let StmtKind::Return(Some(ret)) = &stmts[2].kind else {
        panic!("{:?}", stmts[2])
    };
    assert_eq!(
        ret.kind,
        ExprKind::Load(Place {
            root: PlaceRoot::Param(0),
            proj: vec![],
            ty: tally.clone()
        })
    );
    assert_eq!(stmts[2].span.line, LINE + 3);
}

#[test]
fn ring_message_by_reference_is_a_value_param() {
    let k = link(
        "fn h(state: &mut Tally, msg: &Add) -> f32 {
            state.sum += msg.value;
            let m = *msg;
            state.hist[2] = 7;
            m.value + state.sum
        }",
        KernelOptions {
            threads: 32,
            ..ring()
        },
        &[],
        &[&TALLY, &ADD],
    );
    assert_eq!(k.threads, 32);
    assert!(matches!(
        k.entry.params[1].kind,
        ParamKind::Value(Ty::Struct(_))
    ));
    assert_eq!(k.entry.ret, s(Scalar::F32));
    assert_eq!(k.fault_sites.len(), 1);
    assert_eq!(k.fault_sites[0].what, "state.hist");
    assert_eq!(k.fault_sites[0].function, "h");
}

#[test]
fn nested_structs_come_dependencies_first() {
    let k = link(
        "fn k(s: Swarm, out: &mut [f32]) {
            let p = s.parts[1];
            let q = Particle { mass: 2.0, pos: [1.0, 2.0, 3.0] };
            let t = thread_idx();
            out[0] = p.pos[2] + q.mass + s.parts[0].pos[t.x as usize];
        }",
        batch(),
        &[],
        &[&SWARM],
    );
    let names: Vec<&str> = k.structs.iter().map(|s| s.name.as_str()).collect();
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("Particle") < pos("Swarm"), "{names:?}");
    assert!(names.contains(&"Dim3"));
    let particle = pos("Particle") as StructId;
    assert_eq!(local(&k, "p").ty, Ty::Struct(particle));
    assert_eq!(local(&k, "t").ty, Ty::Struct(pos("Dim3") as StructId));
    let swarm = k.struct_def(pos("Swarm") as StructId);
    assert_eq!(
        swarm.fields[0].ty,
        Ty::Array(Box::new(Ty::Struct(particle)), 2)
    );
    assert_eq!(swarm.fields[1].offset, 32);
    // Struct literal fields come out in declaration order.
    let StmtKind::Let { init: Some(q), .. } = &k.entry.body.stmts[1].kind else {
        panic!()
    };
    let ExprKind::StructLit(fields) = &q.kind else {
        panic!("{q:?}")
    };
    assert!(matches!(fields[0].kind, ExprKind::ArrayLit(_)));
    assert_eq!(fields[1].kind, ExprKind::Lit(Lit::Float(2.0)));
    let whats: Vec<&str> = k.fault_sites.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        whats,
        ["s.parts", "p.pos", "s.parts", "s.parts[..].pos", "out"]
    );
}

#[test]
fn struct_literal_errors_name_the_fields() {
    let e = try_link(
        "fn k(out: &mut [f32]) { let p = Particle { mass: 1.0 }; out[0] = p.mass; }",
        batch(),
        &[],
        &[&PARTICLE],
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("missing field(s) `pos` in `Particle` literal"),
        "{e}"
    );
    let e = try_link(
        "fn k(out: &mut [f32]) { let p = Particle { pos: [0.0; 3], mass: 1.0, spin: 2 }; }",
        batch(),
        &[],
        &[&PARTICLE],
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("`Particle` has no field `spin`; its fields are: pos, mass"),
        "{e}"
    );
    let e = try_link(
        "fn k(p: Particle, out: &mut [f32]) { out[0] = p.velocity; }",
        batch(),
        &[],
        &[&PARTICLE],
    )
    .unwrap_err();
    assert!(
        e.message.contains("no field `velocity` on type `Particle`"),
        "{e}"
    );
    assert_eq!((e.file.as_str(), e.span.line), (FILE, LINE));
    assert_eq!(
        e.span.column,
        "fn k(p: Particle, out: &mut [f32]) { out[0] = p.".len() as u32
    );
}

#[test]
fn field_type_mismatch_only_visible_at_link() {
    // At macro time `p.mass` is unknown; at link time it is `f32`.
    let src = "fn k(p: Particle, out: &mut [u32]) {\n    out[0] = p.mass;\n}";
    assert!(kernel_errors(src, batch()).is_empty());
    let e = try_link(src, batch(), &[], &[&PARTICLE]).unwrap_err();
    assert!(e.message.contains("expected `u32`, found `f32`"), "{e}");
    assert_eq!(e.span.line, LINE + 1);
    assert_eq!(
        e.to_string().split(':').take(2).collect::<Vec<_>>(),
        [FILE, "11"]
    );
}

#[test]
fn unknown_struct_is_a_link_error() {
    let e = try_link("fn k(p: Particle, out: &mut [f32]) { }", batch(), &[], &[]).unwrap_err();
    assert!(
        e.message.contains("no layout is known for `Particle`"),
        "{e}"
    );
    assert!(e.message.contains("#[derive(DeviceType)]"), "{e}");
}

static OTHER_PARTICLE_FIELDS: [FieldLayout; 1] = [FieldLayout {
    name: "mass",
    offset: 0,
    ty: &F32,
}];
static OTHER_PARTICLE_LAYOUT: StructLayout = StructLayout {
    name: "Particle",
    args: &[],
    size: 4,
    align: 4,
    fields: &OTHER_PARTICLE_FIELDS,
};
static OTHER_PARTICLE: TypeDesc = TypeDesc::Struct(&OTHER_PARTICLE_LAYOUT);

#[test]
fn same_name_different_layout_is_a_link_error() {
    let e = try_link(
        "fn k(p: Particle, out: &mut [f32]) { }",
        batch(),
        &[],
        &[&PARTICLE, &OTHER_PARTICLE],
    )
    .unwrap_err();
    assert!(
        e.message.contains("two different types named `Particle`"),
        "{e}"
    );
    assert!(e.message.contains("rename one"), "{e}");
    // The same description twice is fine.
    link(
        "fn k(p: Particle, out: &mut [f32]) { }",
        batch(),
        &[],
        &[&PARTICLE, &SWARM],
    );
}

const LERP: &str = "fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * clamp01(t)
}";
const CLAMP01: &str = "fn clamp01(t: f32) -> f32 { t.max(0.0).min(1.0) }";
const UNUSED: &str = "fn unused(x: Mystery) -> u32 { x.whatever }";

#[test]
fn device_fns_are_linked_callees_first() {
    let k = link(
        "fn k(x: &[f32], out: &mut [f32]) {
            let i = global_index();
            out[i] = lerp(x[i], 1.0, 0.5) + clamp01(x[i]);
        }",
        batch(),
        &[UNUSED, LERP, CLAMP01],
        &[],
    );
    let names: Vec<&str> = k.device_fns.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["clamp01", "lerp"]);
    assert_eq!(k.device_fns[1].params.len(), 3);
    assert_eq!(k.device_fns[1].ret, s(Scalar::F32));
    assert_eq!(
        k.device_fns[1].span.line, 120,
        "lerp's source starts on line 120"
    );
    let StmtKind::Return(Some(r)) = &k.device_fns[1].body.stmts[0].kind else {
        panic!()
    };
    let ExprKind::Binary(BinOp::Add, _, mul) = &r.kind else {
        panic!()
    };
    let ExprKind::Binary(BinOp::Mul, _, call) = &mul.kind else {
        panic!()
    };
    assert!(matches!(call.kind, ExprKind::Call(0, _)));
    let StmtKind::Assign { value, .. } = &k.entry.body.stmts[1].kind else {
        panic!()
    };
    let ExprKind::Binary(BinOp::Add, l, r) = &value.kind else {
        panic!()
    };
    assert!(matches!(l.kind, ExprKind::Call(1, _)));
    assert!(matches!(r.kind, ExprKind::Call(0, _)));
    // Literal arguments take the parameter types.
    let ExprKind::Call(_, args) = &l.kind else {
        panic!()
    };
    assert_eq!(args[1].ty, s(Scalar::F32));
}

#[test]
fn macro_time_records_device_fns_and_struct_types() {
    let a = crate::frontend::analyze_kernel(
        &parse(
            "fn k(p: geo::Particle, out: &mut [f32]) {
                let s: Swarm = make_swarm(p);
                let q = geo::Particle { pos: [0.0; 3], mass: helpers::lerp(1.0, 2.0, 0.5) };
                out[0] = helpers::lerp(p.mass, q.mass, 0.5) + thread_idx().x as f32;
            }",
        ),
        &batch(),
    )
    .unwrap();
    let text = |p: &syn::Path| {
        quote::ToTokens::to_token_stream(p)
            .to_string()
            .replace(' ', "")
    };
    let structs: Vec<String> = a.struct_types.iter().map(text).collect();
    assert_eq!(structs, ["geo::Particle", "Swarm"]);
    let fns: Vec<String> = a.device_fns.iter().map(text).collect();
    assert_eq!(fns, ["make_swarm", "helpers::lerp"]);
}

#[test]
fn device_fn_problems_name_their_own_file_and_line() {
    let e = try_link(
        "fn k(out: &mut [f32]) { out[0] = missing(1.0); }",
        batch(),
        &[LERP],
        &[],
    )
    .unwrap_err();
    assert!(
        e.message.contains("no `#[device]` fn named `missing`"),
        "{e}"
    );
    assert_eq!(e.span.line, LINE);
    let e = try_link(
        "fn k(out: &mut [f32]) { out[0] = lerp(1.0, 2.0); }",
        batch(),
        &[LERP, CLAMP01],
        &[],
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("`lerp` takes 3 argument(s) but 2 were given"),
        "{e}"
    );
    let bad = "fn half(x: f32) -> f32 {\n    x / 2u32\n}";
    let e = try_link(
        "fn k(out: &mut [f32]) { out[0] = half(1.0); }",
        batch(),
        &[bad],
        &[],
    )
    .unwrap_err();
    assert!(e.message.contains("in `half`"), "{e}");
    assert_eq!(e.span.line, 101, "second line of the device fn at line 100");
    let e = try_link(
        "fn k(out: &mut [u32]) { out[0] = half(1.0); }",
        batch(),
        &["fn half(x: f32) -> f32 { x / 2.0 }"],
        &[],
    )
    .unwrap_err();
    assert!(e.message.contains("expected `u32`, found `f32`"), "{e}");
}

#[test]
fn recursion_is_a_link_error() {
    let even = "fn even(n: u32) -> bool { if n == 0 { true } else { odd(n - 1) } }";
    let odd = "fn odd(n: u32) -> bool { if n == 0 { false } else { even(n - 1) } }";
    let e = try_link(
        "fn k(out: &mut [bool]) { out[0] = even(10); }",
        batch(),
        &[even, odd],
        &[],
    )
    .unwrap_err();
    assert!(
        e.message.contains("recursion is not supported on the GPU"),
        "{e}"
    );
    let fact = "fn fact(n: u64) -> u64 { if n < 2 { 1 } else { n * fact(n - 1) } }";
    let e = try_link(
        "fn k(out: &mut [u64]) { out[0] = fact(5); }",
        batch(),
        &[fact],
        &[],
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("`fact` calls itself: recursion is not supported"),
        "{e}"
    );
    assert_eq!(e.span.line, 100);
}

#[test]
fn device_fns_take_and_return_structs_and_arrays() {
    let k = link(
        "fn k(p: Particle, out: &mut [f32]) {
            let q = heavier(p, 2.0);
            let c = centroid([q.pos, p.pos]);
            out[0] = c[0];
            noop(1);
        }",
        batch(),
        &[
            "fn heavier(p: Particle, f: f32) -> Particle { Particle { pos: p.pos, mass: p.mass * f } }",
            "fn centroid(ps: [[f32; 3]; 2]) -> [f32; 3] {
                let mut c = [0.0f32; 3];
                for i in 0..2 { for d in 0..3 { c[d] += ps[i][d] / 2.0; } }
                c
            }",
            "fn noop(x: u8) { }",
        ],
        &[&PARTICLE],
    );
    assert_eq!(k.device_fns.len(), 3);
    assert_eq!(local(&k, "c").ty, Ty::Array(Box::new(s(Scalar::F32)), 3));
    let noop = k.device_fns.iter().find(|f| f.name == "noop").unwrap();
    assert_eq!(noop.ret, Ty::Unit);
    let centroid = k.device_fns.iter().find(|f| f.name == "centroid").unwrap();
    assert!(centroid
        .locals
        .iter()
        .any(|l| l.name == "i" && l.ty == s(Scalar::Usize)));
    let sites: Vec<(&str, &str)> = k
        .fault_sites
        .iter()
        .map(|f| (f.function.as_str(), f.what.as_str()))
        .collect();
    assert!(sites.contains(&("centroid", "ps[..]")), "{sites:?}");
    assert!(sites.contains(&("centroid", "c")), "{sites:?}");
    assert!(sites.contains(&("k", "c")), "{sites:?}");
}

#[test]
fn struct_literal_fields_are_evaluated_in_source_order() {
    let k = link(
        "fn k(x: &[f32], out: &mut [f32]) {
            let p = Particle { mass: x[0], pos: [x[1], x[2], x[3]] };
            out[0] = p.mass;
        }",
        batch(),
        &[],
        &[&PARTICLE],
    );
    // `mass` (source first) is read into a temporary before `pos`.
    let stmts = &k.entry.body.stmts;
    let StmtKind::Let {
        init: Some(first), ..
    } = &stmts[0].kind
    else {
        panic!()
    };
    let ExprKind::Load(place) = &first.kind else {
        panic!("{first:?}")
    };
    let [Proj::Index { index, .. }] = &place.proj[..] else {
        panic!()
    };
    assert_eq!(index.kind, ExprKind::Lit(Lit::Int(0)));
    let StmtKind::Let {
        init: Some(lit), ..
    } = &stmts[2].kind
    else {
        panic!()
    };
    let ExprKind::StructLit(fields) = &lit.kind else {
        panic!("{lit:?}")
    };
    assert!(matches!(fields[0].kind, ExprKind::Load(_)));
    assert!(matches!(fields[1].kind, ExprKind::Load(_)));
}
