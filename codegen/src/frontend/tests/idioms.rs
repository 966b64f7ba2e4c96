//! Everyday Rust: what `match`, tuples, methods, enums and assertions lower
//! to, and the errors only the linker can report (an impl item or variant
//! that does not exist, a `&mut` argument where a value is taken).

use super::*;
use crate::ir::*;
use crate::layout::{EnumLayout, EnumVariant};

static OP_VARIANTS: [EnumVariant; 2] = [
    EnumVariant {
        name: "Add",
        value: 0,
    },
    EnumVariant {
        name: "Mul",
        value: 5,
    },
];
static OP_LAYOUT: EnumLayout = EnumLayout {
    name: "Op",
    repr: Scalar::U8,
    variants: &OP_VARIANTS,
};
/// `#[repr(u8)] enum Op { Add, Mul = 5 }`
static OP: TypeDesc = TypeDesc::Enum(&OP_LAYOUT);

/// Links with impl items given as `("Owner::name", source)`.
fn link_items(
    src: &'static str,
    items: &[(&'static str, &'static str)],
    types: &[&'static TypeDesc],
) -> Result<Kernel, LinkError> {
    let kernel = item_source(src, LINE);
    let devs: Vec<ItemSource<'static>> = items
        .iter()
        .map(|(name, s)| ItemSource {
            name,
            source: s,
            file: FILE,
            line: 200,
            consts: &[],
        })
        .collect();
    crate::link(&kernel, &batch(), &devs, types)
}

fn link_err(
    src: &'static str,
    items: &[(&'static str, &'static str)],
    types: &[&'static TypeDesc],
) -> String {
    match link_items(src, items, types) {
        Ok(_) => panic!("linked:\n{src}"),
        Err(e) => e.message,
    }
}

#[test]
fn enums_are_their_discriminants_in_the_ir() {
    let k = link_items(
        "fn k(ops: &[Op], out: &mut [Op]) {
            let i = global_index();
            out[i] = match ops[i] { Op::Add => Op::Mul, Op::Mul => Op::Add };
        }",
        &[],
        &[&OP],
    )
    .unwrap();
    assert_eq!(
        k.entry.params[0].kind,
        ParamKind::Slice {
            elem: s(Scalar::U8),
            mutable: false
        }
    );
    let lits: Vec<(Lit, Ty)> = super::exprs(&k.entry.body)
        .into_iter()
        .filter_map(|e| match e.kind {
            ExprKind::Lit(l) => Some((l, e.ty.clone())),
            _ => None,
        })
        .collect();
    assert!(lits.contains(&(Lit::Int(5), s(Scalar::U8))), "{lits:?}");
    assert!(
        k.structs.is_empty(),
        "an enum is no struct: {:?}",
        k.structs
    );
}

#[test]
fn tuples_are_anonymous_structs() {
    let k = link(
        "fn k(out: &mut [u32]) {
            let t = (1u8, 2.0f64, (3u32,));
            let (a, _, (c,)) = t;
            out[0] = a as u32 + c;
        }",
        batch(),
        &[],
        &[],
    );
    let names: Vec<&str> = k.structs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["(u32,)", "(u8, f64, (u32,))"]);
    assert_eq!((k.structs[1].size, k.structs[1].align), (24, 8));
    assert_eq!(local(&k, "t").ty, Ty::Struct(1));
}

#[test]
fn link_errors_name_the_missing_item() {
    let e = link_err("fn k(out: &mut [Op]) { out[0] = Op::Sub; }", &[], &[&OP]);
    assert!(
        e.contains("`Op` has no variant `Sub`; its variants are: Add, Mul"),
        "{e}"
    );
    let e = link_err(
        "fn k(p: Particle, out: &mut [f32]) { out[0] = p.weight(); }",
        &[],
        &[&PARTICLE],
    );
    assert!(
        e.contains("no method `weight` of `Particle` was found")
            && e.contains("#[device] impl Particle"),
        "{e}"
    );
    let e = link_err(
        "fn k(out: &mut [f32]) { out[0] = Particle::HEAVY.mass; }",
        &[],
        &[&PARTICLE],
    );
    assert!(
        e.contains("no associated constant `HEAVY` of `Particle`"),
        "{e}"
    );
    let e = link_err(
        "fn k(out: &mut [f32]) { let p = Particle::make(); out[0] = p.mass; }",
        &[],
        &[&PARTICLE],
    );
    assert!(
        e.contains("no associated function `make` of `Particle`"),
        "{e}"
    );
}

#[test]
fn mut_references_are_checked_against_the_signature() {
    let items = [
        (
            "Particle::grow",
            "fn grow(&mut self, by: f32) { self.mass += by; }",
        ),
        (
            "Particle::heavier",
            "fn heavier(&self, o: &Particle) -> bool { self.mass > o.mass }",
        ),
    ];
    let e = link_err(
        "fn k(ps: &mut [Particle]) { let p = ps[0]; Particle::grow(p, 1.0); }",
        &items,
        &[&PARTICLE],
    );
    assert!(
        e.contains("takes `self` as `&mut`: pass `&mut place`"),
        "{e}"
    );
    let e = link_err(
        "fn k(ps: &mut [Particle]) { let mut p = ps[0]; let h = p.heavier(&mut p); }",
        &items,
        &[&PARTICLE],
    );
    assert!(
        e.contains("takes `o` by value (or `&`): remove `&mut`"),
        "{e}"
    );
    let k = link_items(
        "fn k(ps: &mut [Particle], out: &mut [u32]) {
            ps[1].grow(0.5);
            out[0] = ps[0].heavier(&ps[1]) as u32;
        }",
        &items,
        &[&PARTICLE],
    )
    .unwrap();
    let grow = k
        .device_fns
        .iter()
        .find(|f| f.name == "Particle::grow")
        .unwrap();
    assert_eq!(grow.params[0].kind, ParamKind::Ref(Ty::Struct(0)));
    let heavier = k
        .device_fns
        .iter()
        .find(|f| f.name == "Particle::heavier")
        .unwrap();
    assert_eq!(heavier.params[1].kind, ParamKind::Value(Ty::Struct(0)));
    let borrowed = super::exprs(&k.entry.body)
        .iter()
        .any(|e| matches!(&e.kind, ExprKind::Call(_, args) if matches!(args[0].kind, ExprKind::Borrow(_))));
    assert!(borrowed, "ps[1].grow(..) borrows ps[1]");
}

#[test]
fn macro_time_rules_of_methods() {
    let method = |src: &str| -> Vec<String> {
        match crate::frontend::analyze_method(&parse(src), "Particle") {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    };
    assert!(
        method("fn twice(&self) -> Self { Self { pos: self.pos, mass: self.mass * 2.0 } }")
            .is_empty()
    );
    assert!(method("fn reset(&mut self) { *self = Self::ZERO; }").is_empty());
    let e = method("fn spin(&self) -> f32 { self.spin() }");
    assert!(
        e[0].contains("`Particle::spin` calls itself: recursion is not supported"),
        "{e:?}"
    );
    let e = crate::frontend::analyze_device_fn(&parse("fn f(x: Self) -> u32 { 0 }")).unwrap_err();
    assert!(
        e.to_string()
            .contains("`Self` is only known inside a `#[device] impl` block"),
        "{e}"
    );
    let e = kernel_errors("fn k(&self, out: &mut [u32]) {}", batch());
    assert!(
        e[0].0.contains("`self` is only a parameter of methods"),
        "{e:?}"
    );
}

/// `debug_assert!` follows the build's `debug_assertions`, which the link
/// gets in its options; `assert!` is always kept.
#[test]
fn debug_assertions_decide_which_assertions_link() {
    let src = "fn k(o: &mut [u32]) { debug_assert!(o.len() > 3); assert!(o.len() > 1); \
               debug_assert_eq!(o[0], 2, \"first\"); o[0] = 1; }";
    let asserts = |debug: bool| {
        let options = KernelOptions {
            debug_assertions: debug,
            ..batch()
        };
        let k = link(src, options, &[], &[]);
        let mut sites: Vec<String> = exprs(&k.entry.body)
            .iter()
            .filter_map(|e| match e.kind {
                crate::ir::ExprKind::Assert { site, .. } => {
                    Some(k.fault_sites[site as usize].what.clone())
                }
                _ => None,
            })
            .collect();
        sites.sort();
        sites
    };
    assert_eq!(asserts(false), ["assertion failed: o.len() > 1"]);
    assert_eq!(
        asserts(true),
        [
            "assertion `left == right` failed: first",
            "assertion failed: o.len() > 1",
            "assertion failed: o.len() > 3",
        ]
    );
}
