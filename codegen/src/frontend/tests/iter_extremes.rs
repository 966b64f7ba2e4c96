//! `x.iter().min()` / `.max()`: an indexed loop giving an `Option` of
//! integer items, and the errors for items without Rust's total order.

use super::*;
use crate::ir::*;

/// The intrinsics, bounds-checked indexings of `x` and loops a kernel's
/// body holds.
fn shape_of(k: &Kernel) -> (Vec<Intrinsic>, usize, usize) {
    let intrinsics = exprs(&k.entry.body)
        .iter()
        .filter_map(|e| match e.kind {
            ExprKind::Intrinsic(i, _) => Some(i),
            _ => None,
        })
        .collect();
    let checks = k.fault_sites.iter().filter(|f| f.what == "x").count();
    let loops = stmts(&k.entry.body)
        .iter()
        .filter(|s| matches!(s, StmtKind::For { .. }))
        .count();
    (intrinsics, checks, loops)
}

#[test]
fn min_and_max_are_checked_loops_over_the_items() {
    let k = link(
        "fn k(x: &[i32], out: &mut [i32]) {
            out[0] = x.iter().copied().max().unwrap_or(-1);
            if let Some(&m) = x.iter().min() {
                out[1] = m;
            }
        }",
        batch(),
        &[],
        &[],
    );
    let (intrinsics, checks, loops) = shape_of(&k);
    assert_eq!(intrinsics, [Intrinsic::Max, Intrinsic::Min]);
    assert_eq!(loops, 2);
    // `x[k]` in each loop, checked as `x[k]` is.
    assert_eq!(checks, 2);
}

#[test]
fn every_form_of_min_and_max_links() {
    for body in [
        "out[0] = x.iter().max().copied().unwrap_or(0);",
        "out[0] = x.iter().rev().min().copied().unwrap_or(0);",
        "out[0] = x.iter().cloned().min().unwrap_or(0);",
        "out[0] = match x.iter().max() { Some(v) => *v, None => 7 };",
        "out[0] = if x.iter().min().is_some() { 1 } else { 0 };",
        "let Some(m) = x.iter().copied().max() else { return; }; out[0] = m;",
        "let a = [3u8, 1, 2]; out[0] = a.iter().copied().max().unwrap_or(0) as u64;",
        "let a: [i64; 0] = []; out[0] = a.iter().min().copied().unwrap_or(5) as u64;",
        "let t = shared_array::<u64, 32>(); out[0] = t.iter().max().copied().unwrap_or(1);",
        "let w = &x[1..]; out[0] = w.iter().copied().min().unwrap_or(2);",
        "out[0] = x[0].max(x[1]).min(9);",
    ] {
        let src = format!("fn k(x: &[u64], out: &mut [u64]) {{ {body} }}");
        let src: &'static str = Box::leak(src.into_boxed_str());
        assert!(kernel_errors(src, batch()).is_empty(), "{src}");
        link(src, batch(), &[], &[]);
    }
}

#[test]
fn float_items_are_not_ord() {
    assert_rejects(
        "fn k(x: &[f32], out: &mut [f32]) { out[0] = x.iter().copied().max().unwrap_or(0.0); }",
        batch(),
        "`.max()` of an iterator needs `Ord` items, and `f32`/`f64` are not `Ord` in Rust",
        "max",
    );
    let errs = kernel_errors(
        "fn k(out: &mut [f64]) { let a = [1.0, 2.0]; if let Some(m) = a.iter().min() { \
         out[0] = *m; } }",
        batch(),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0]
            .0
            .contains("`let mut m = f64::INFINITY; for &v in a.iter() { m = m.min(v); }`"),
        "{errs:?}"
    );
    assert_rejects(
        "fn k(x: &[bool], out: &mut [u32]) { out[0] = x.iter().copied().max().unwrap_or(false) \
         as u32; }",
        batch(),
        "`.max()` of an iterator over integer items, found `bool` items",
        "max",
    );
}

#[test]
fn float_items_of_a_linked_type_are_reported_when_linked() {
    // At macro time `Particle` is unknown: the linker reports it.
    let src = "fn k(ps: &[Particle], out: &mut [f32]) { \
               out[0] = ps[0].pos.iter().copied().max().unwrap_or(0.0); }";
    assert!(kernel_errors(src, batch()).is_empty());
    let e = match try_link(src, batch(), &[], &[&PARTICLE]) {
        Ok(_) => panic!("linked"),
        Err(e) => e.message,
    };
    assert!(e.contains("`f32`/`f64` are not `Ord`"), "{e}");
}

#[test]
fn misleading_forms_get_advice() {
    let b = |src: &str, msg: &str, at: &str| assert_rejects(src, batch(), msg, at);
    b(
        "fn k(x: &[u32], out: &mut [u32]) { out[0] = *x.iter().max().unwrap_or(&0); }",
        "write `.copied().unwrap_or(v)`",
        "&0",
    );
    b(
        "fn k(x: &[u32], out: &mut [u32]) { out[0] = x.get(3).unwrap_or(&0) + 1; }",
        "write `.copied().unwrap_or(v)`",
        "&0",
    );
    b(
        "fn k(x: &[u32], out: &mut [u32]) { out[0] = *x.iter().max().unwrap(); }",
        "there is no `unwrap`",
        "unwrap()",
    );
    b(
        "fn k(x: &[u32], out: &mut [u32]) { out[0] = x.iter().map(|v| v * 2).max().unwrap_or(0); }",
        "`map` is not supported before `.max()` in kernels",
        "map",
    );
    b(
        "fn k(x: &[u32], out: &mut [u32]) { \
         out[0] = x.iter().enumerate().max().map_or(0, |p| p.1); }",
        "`.max()` of `.enumerate()` is not supported in kernels",
        "max()",
    );
    b(
        "fn k(out: &mut [u32]) { if let Some(m) = out.iter_mut().max() { *m = 0; } }",
        "`.max()` of `iter_mut()` is not supported in kernels",
        "max()",
    );
    b(
        "fn k(x: &[u32], out: &mut [u32]) { out[0] = x.iter().skip(1).sum(); }",
        "`skip` is not supported before `.sum()` in kernels",
        "skip",
    );
    b(
        "fn k(x: &[u32], out: &mut [u32]) { out[0] = x.into_iter().max().copied().unwrap_or(0); }",
        "`.min()` and `.max()`; for anything else write a `for` loop",
        "into_iter",
    );
}

#[test]
fn generic_items_are_checked_for_every_type() {
    // `Int` is `Ord`: every integer type passes.
    assert!(kernel_errors(
        "fn k<T: Int>(x: &[T], out: &mut [T]) { \
         out[0] = x.iter().copied().max().unwrap_or(T::ZERO); }",
        batch()
    )
    .is_empty());
    // `Num` admits floats, which are not.
    let errs = kernel_errors(
        "fn k<T: Num>(x: &[T], out: &mut [T]) { \
         out[0] = x.iter().copied().min().unwrap_or(T::ZERO); }",
        batch(),
    );
    assert!(
        errs.iter()
            .any(|e| e.0.contains("are not `Ord` in Rust") && e.0.contains("(with T = f32)")),
        "{errs:#?}"
    );
}
