//! Type inference: literals typed by later use, defaults, suffixes.

use super::*;
use crate::ir::*;

#[test]
fn while_counter_takes_the_bound_type() {
    let k = link(
        "fn k(n: usize, out: &mut [f32]) {
            let mut j = 0;
            while j < n {
                out[j] = 1.0;
                j += 1;
            }
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "j").ty, s(Scalar::Usize));
    assert!(local(&k, "j").mutable);
}

#[test]
fn for_variable_used_as_index_is_usize() {
    let k = link(
        "fn k(p: Particle, out: &mut [f32]) {
            let mut acc = 0.0;
            for d in 0..3 {
                acc += p.pos[d];
            }
            out[0] = acc;
        }",
        batch(),
        &[],
        &[&PARTICLE],
    );
    assert_eq!(local(&k, "d").ty, s(Scalar::Usize));
    assert_eq!(local(&k, "acc").ty, s(Scalar::F32));
    let site = k
        .fault_sites
        .iter()
        .find(|f| f.what == "p.pos")
        .expect("a site for p.pos");
    assert_eq!(site.span.line, LINE + 3);
}

#[test]
fn unconstrained_literals_default_like_rustc() {
    let k = link(
        "fn k(out: &mut [f32]) {
            let a = 7;
            let b = 2.5;
            let c = a * 3;
            for q in 0..4 { let _ = q; }
            out[0] = 1.0;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "a").ty, s(Scalar::I32));
    assert_eq!(local(&k, "b").ty, s(Scalar::F64));
    assert_eq!(local(&k, "c").ty, s(Scalar::I32));
    assert_eq!(local(&k, "q").ty, s(Scalar::I32));
}

#[test]
fn suffixes_and_annotations_decide() {
    let k = link(
        "fn k(out: &mut [f32]) {
            let a = 1u8;
            let b = 2.0f32;
            let c: i64 = 5;
            let d = 3f32;
            let e = c + 1;
            let f = 0xffu16;
            let g: [u16; 2] = [1, 2];
            out[0] = b + d;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "a").ty, s(Scalar::U8));
    assert_eq!(local(&k, "b").ty, s(Scalar::F32));
    assert_eq!(local(&k, "c").ty, s(Scalar::I64));
    assert_eq!(local(&k, "d").ty, s(Scalar::F32));
    assert_eq!(local(&k, "e").ty, s(Scalar::I64));
    assert_eq!(local(&k, "f").ty, s(Scalar::U16));
    assert_eq!(local(&k, "g").ty, Ty::Array(Box::new(s(Scalar::U16)), 2));
}

#[test]
fn literal_typed_by_a_later_use() {
    let k = link(
        "fn k(x: &[u64], out: &mut [u64]) {
            let mut total = 0;
            let mut i = 0;
            while i < x.len() {
                total += x[i];
                i += 1;
            }
            out[0] = total;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "total").ty, s(Scalar::U64));
    assert_eq!(local(&k, "i").ty, s(Scalar::Usize));
}

#[test]
fn casts_type_a_bare_literal_like_rustc() {
    let k = link(
        "fn k(out: &mut [f32]) {
            let a = 3 as u8;
            let b = 2.0 as f32;
            let n = 5;
            let c = n as f32;
            out[0] = b + c + (a as f32);
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "n").ty, s(Scalar::I32));
    let StmtKind::Let { init: Some(e), .. } = &k.entry.body.stmts[0].kind else {
        panic!()
    };
    let ExprKind::Cast(inner) = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(inner.ty, s(Scalar::U8));
    // `300 as u8` is an overflowing u8 literal in Rust too.
    let err = try_link(
        "fn k(o: &mut [u8]) { o[0] = 300 as u8; }",
        batch(),
        &[],
        &[],
    )
    .unwrap_err();
    assert!(err.message.contains("does not fit in `u8`"), "{err}");
}

#[test]
fn if_and_block_values_infer_through_temporaries() {
    let k = link(
        "fn k(c: bool, out: &mut [f32]) {
            let x = if c { 1.0 } else { 2.0f32 };
            let y = { let t = x * 2.0; t + 1.0 };
            let z = if c { 1 } else if x > 0.5 { 2 } else { 3u16 };
            out[0] = x + y + z as f32;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "x").ty, s(Scalar::F32));
    assert_eq!(local(&k, "y").ty, s(Scalar::F32));
    assert_eq!(local(&k, "t").ty, s(Scalar::F32));
    assert_eq!(local(&k, "z").ty, s(Scalar::U16));
}

#[test]
fn shift_amounts_keep_their_own_type() {
    let k = link(
        "fn k(x: u64, out: &mut [u64]) {
            let s = 3;
            out[0] = x << s;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "s").ty, s(Scalar::I32));
}

#[test]
fn method_argument_types_follow_std() {
    let k = link(
        "fn k(x: f32, n: u32, out: &mut [f32]) {
            let e = 2;
            let p = x.powi(e);
            let r = 3;
            let q = n.rotate_left(r);
            let m = 7;
            let w = n.min(m);
            let c = n.count_ones();
            let ad = 5i8.abs_diff(-3);
            out[0] = p + (q + w + c) as f32 + ad as f32;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "e").ty, s(Scalar::I32));
    assert_eq!(local(&k, "r").ty, s(Scalar::U32));
    assert_eq!(local(&k, "m").ty, s(Scalar::U32));
    assert_eq!(local(&k, "c").ty, s(Scalar::U32));
    assert_eq!(local(&k, "ad").ty, s(Scalar::U8));
}

#[test]
fn shadowing_makes_a_new_local() {
    let k = link(
        "fn k(out: &mut [f32]) {
            let x = 1u32;
            let x = x as f32 * 2.0;
            out[0] = x;
        }",
        batch(),
        &[],
        &[],
    );
    let xs: Vec<&Local> = k.entry.locals.iter().filter(|l| l.name == "x").collect();
    assert_eq!(xs.len(), 2);
    assert_eq!(xs[0].ty, s(Scalar::U32));
    assert_eq!(xs[1].ty, s(Scalar::F32));
}

#[test]
fn uninferable_local_is_a_link_error() {
    let err = try_link(
        "fn k(o: &mut [f32]) { let x; o[0] = 1.0; }",
        batch(),
        &[],
        &[],
    )
    .unwrap_err();
    assert!(err.message.contains("type annotations needed"), "{err}");
    assert_eq!(err.file, FILE);
    assert_eq!(err.span.line, LINE);
}
