//! `annotate_lets`: inferred types written into the copy rustc checks.

use quote::ToTokens;

use super::*;

fn annotated(src: &str) -> String {
    let mut item = parse(src);
    crate::frontend::annotate_lets(&mut item, Some(&batch()));
    item.block.to_token_stream().to_string()
}

#[test]
fn lets_inferred_without_externals_are_annotated() {
    let out = annotated(
        "fn k(n: usize, p: Particle, out: &mut [f32]) {
            let mut j = 0;
            let z = 0;
            let i = global_index();
            let t = thread_idx().x;
            let arr = [0.0f32; 4];
            let m = p.mass;
            let q = m * 2.0;
            let e2 = p.mass * 2.0;
            let r: u8 = 3;
            let s = helper(1);
            let lit = 5;
            let s2 = helper(lit);
            let tdx = thread_idx();
            while j < n {
                let inner = 1.5;
                j += 1;
            }
            out[0] = arr[0];
            let known = arr[1] + m;
        }",
    );
    assert!(out.contains("let mut j : usize = 0"), "{out}");
    assert!(out.contains("let z : i32 = 0"), "{out}");
    assert!(out.contains("let i : usize = global_index ()"), "{out}");
    assert!(out.contains("let t : u32 ="), "{out}");
    assert!(out.contains("let arr : [f32 ; 4] ="), "{out}");
    assert!(out.contains("let inner : f64 = 1.5"), "{out}");
    // Types that depend on external items are left to rustc.
    assert!(out.contains("let e2 = p . mass * 2.0"), "{out}");
    assert!(out.contains("let q : f32 = m * 2.0"), "{out}");
    assert!(out.contains("let s = helper (1)"), "{out}");
    assert!(out.contains("let lit = 5"), "{out}");
    // `m` is an external field, but `arr[1] + m` makes it `f32` in our
    // inference: rustc checks that (a disagreement is a compile error).
    assert!(out.contains("let m : f32 = p . mass"), "{out}");
    assert!(out.contains("let known : f32 ="), "{out}");
    // Structs are not spelled (the user's path may differ); annotations stay.
    assert!(out.contains("let tdx = thread_idx ()"), "{out}");
    assert!(out.contains("let r : u8 = 3"), "{out}");
}

#[test]
fn items_with_errors_are_left_alone() {
    let src = "fn k(out: &mut [f32]) { let a = 1; unsafe { out[0] = 1.0; } }";
    assert_eq!(
        annotated(src),
        parse(src).block.to_token_stream().to_string()
    );
}

#[test]
fn device_fns_are_annotated_too() {
    let mut item = parse("fn f(x: f32) -> f32 { let k = 2.0; x * k }");
    crate::frontend::annotate_lets(&mut item, None);
    let out = item.block.to_token_stream().to_string();
    assert!(out.contains("let k : f32 = 2.0"), "{out}");
}

#[test]
fn lets_whose_value_may_be_a_reference_are_left_to_rustc() {
    let out = annotated(
        "fn k(x: &[u32], out: &mut [u32]) {
            let mut acc = 0u32;
            for v in x.iter() {
                let y = v;
                let z = (v);
                let w = if acc > 3 { v } else { y };
                let m = v.max(y);
                let doubled = *v * 2;
                let copy = acc;
                acc += *y + *z + *w + *m + doubled + copy;
            }
            out[0] = acc;
        }",
    );
    for name in ["y", "z", "w", "m", "copy"] {
        assert!(out.contains(&format!("let {name} =")), "{name}: {out}");
    }
    assert!(out.contains("let doubled : u32 ="), "{out}");
    assert!(out.contains("let mut acc : u32 ="), "{out}");
}
