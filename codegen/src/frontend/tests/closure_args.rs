//! Closures passed to `#[device]` fns: one instantiation per closure,
//! captures as hidden parameters, and the errors for what cannot be.

use super::*;
use crate::ir::*;

const APPLY: &str = "fn apply(f: impl Fn(u32) -> u32, v: u32) -> u32 { f(v) }";
const EACH: &str = "fn each(mut f: impl FnMut(u32), n: u32) { for i in 0..n { f(i); } }";

#[test]
fn one_instantiation_per_closure_with_hidden_captures() {
    let k = link(
        "fn k(k0: u32, out: &mut [u32]) {
            let i = global_index();
            let add = |v: u32| v + k0;
            out[i] = apply(add, 1) + apply(add, 2) + apply(|v| v * 2, 3);
            let mut hits = 0u32;
            each(|j| hits += j, 4);
            out[i] += hits;
        }",
        batch(),
        &[APPLY, EACH],
        &[],
    );
    let names: Vec<&str> = k.device_fns.iter().map(|f| f.name.as_str()).collect();
    // `add` twice makes one instantiation; the literal another.
    assert_eq!(names, ["apply", "apply", "each"], "{names:?}");
    let add = &k.device_fns[0];
    assert_eq!(add.params.len(), 2, "v and the captured k0");
    assert_eq!(add.params[1].name, "k0");
    assert_eq!(add.params[1].kind, ParamKind::Value(s(Scalar::U32)));
    assert_eq!(
        k.device_fns[1].params.len(),
        1,
        "the literal captures nothing"
    );
    // A `mut` variable is passed by reference, so the closure changes it.
    let each = &k.device_fns[2];
    assert_eq!(each.params[1].name, "hits");
    assert_eq!(each.params[1].kind, ParamKind::Ref(s(Scalar::U32)));
    let borrows = exprs(&k.entry.body)
        .into_iter()
        .filter(|e| matches!(e.kind, ExprKind::Borrow(_)))
        .count();
    assert_eq!(borrows, 1);
}

#[test]
fn captured_slices_are_slice_parameters() {
    let k = link(
        "fn k(x: &[u32], out: &mut [u32]) {
            let i = global_index();
            let mut s = 0u32;
            each(|j| s += x[j as usize], 4);
            each(|j| out[j as usize] = s, 4);
        }",
        batch(),
        &[EACH],
        &[],
    );
    let kinds: Vec<Vec<&ParamKind>> = k
        .device_fns
        .iter()
        .map(|f| f.params.iter().map(|p| &p.kind).collect())
        .collect();
    let u = s(Scalar::U32);
    let slice = |mutable| ParamKind::Slice {
        elem: u.clone(),
        mutable,
    };
    assert_eq!(
        kinds,
        // `i`, then the captures in the order the body names them (`s` is
        // a `mut` variable: by reference).
        [
            vec![
                &ParamKind::Value(u.clone()),
                &ParamKind::Ref(u.clone()),
                &slice(false)
            ],
            vec![
                &ParamKind::Value(u.clone()),
                &slice(true),
                &ParamKind::Ref(u.clone())
            ],
        ]
    );
    // Each call lends the whole slice parameter.
    let lent: Vec<&Place> = exprs(&k.entry.body)
        .into_iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Borrow(p) if matches!(p.root, PlaceRoot::Param(_)) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(lent.len(), 2);
    assert!(lent.iter().all(|p| p.proj.is_empty()));
}

#[test]
fn generic_closure_parameter_and_passing_on() {
    let k = link(
        "fn k(out: &mut [u32]) {
            let i = global_index();
            let base = i as u32;
            out[i] = twice(|v| v + base, 5u32);
        }",
        batch(),
        &[
            "fn twice<T: Num, F: Fn(T) -> T>(f: F, v: T) -> T { apply_t(f, apply_t(f, v)) }",
            "fn apply_t<T: Num>(g: impl Fn(T) -> T, v: T) -> T { g(v) }",
        ],
        &[],
    );
    let names: Vec<&str> = k.device_fns.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["apply_t", "twice"], "{names:?}");
    for f in &k.device_fns {
        assert_eq!(f.params.last().unwrap().name, "base", "in {}", f.name);
    }
}

#[test]
fn recursion_through_closures_is_a_link_error() {
    let e = try_link(
        "fn k(out: &mut [u32]) { out[0] = ping(|x| x + 1, 3); }",
        batch(),
        &[
            "fn ping(f: impl Fn(u32) -> u32, n: u32) -> u32 {
                if n == 0 { f(0) } else { pong(|x| x * 2, n - 1) }
            }",
            "fn pong(f: impl Fn(u32) -> u32, n: u32) -> u32 {
                if n == 0 { f(1) } else { ping(|x| x * 3, n - 1) }
            }",
        ],
        &[],
    )
    .unwrap_err();
    assert!(
        e.message
            .contains("a function that passes a new closure to itself is recursive"),
        "{e}"
    );
    // The same closure passed on to itself is plain recursion.
    let e = try_link(
        "fn k(out: &mut [u32]) { out[0] = rec(|x| x + 1, 3); }",
        batch(),
        &["fn rec(f: impl Fn(u32) -> u32, n: u32) -> u32 {
            if n == 0 { f(0) } else { rec(f, n - 1) }
        }"],
        &[],
    )
    .unwrap_err();
    assert!(e.message.contains("recursion is not supported"), "{e}");
}

#[test]
fn what_a_passed_closure_cannot_capture() {
    let cases = [
        (
            "fn k(out: &mut [u32]) { let t = shared_array::<u32, 4>(); out[0] = apply(|v| v + t[0], 1); }",
            "captures `t`, a block-shared array",
        ),
        (
            "fn k(out: &mut [u32]) { let w = &out[0..2]; let x = apply(|v| v + w[0], 1); out[0] = x; }",
            "captures the sub-slice `w`",
        ),
        (
            "fn k(out: &mut [u32]) { let g = |v: u32| v * 2; out[0] = apply(|v| g(v) + 1, 1); }",
            "calls the closure `g`",
        ),
    ];
    for (src, msg) in cases {
        let src: &'static str = Box::leak(src.to_string().into_boxed_str());
        let e = try_link(src, batch(), &[APPLY], &[]).unwrap_err();
        assert!(e.message.contains(msg), "{src}: {e}");
    }
}

#[test]
fn errors_in_a_passed_closure_point_into_its_function() {
    // The closure's body is lowered in `apply`, but the error is the
    // kernel's, at the kernel's line.
    let e = try_link(
        "fn k(out: &mut [u32]) {\n    out[0] = apply(|v| v + Mystery::X, 1);\n}",
        batch(),
        &[APPLY],
        &[],
    )
    .unwrap_err();
    assert!(e.message.starts_with("in `k`"), "{e}");
    assert_eq!(e.span.line, LINE + 1, "{e}");
}

/// Macro-time errors of a device fn.
fn device_errors(src: &str) -> Vec<String> {
    match crate::frontend::analyze_device_fn(&parse(src)) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn closure_parameters_at_macro_time() {
    assert_eq!(device_errors(APPLY), Vec::<String>::new());
    assert_eq!(device_errors(EACH), Vec::<String>::new());
    let cases = [
        // The parameter's signature types its calls.
        (
            "fn a(f: impl Fn(u32) -> u32) -> u32 { f(1, 2) }",
            "`f` takes 1 argument(s), 2 given",
        ),
        (
            "fn a(f: impl Fn(u32) -> u32) -> f32 { f(1) }",
            "mismatched types",
        ),
        // Escaping: returned, stored.
        (
            "fn make(k: u32) -> impl Fn(u32) -> u32 { move |v| v + k }",
            "a `#[device] fn` takes a closure as a parameter",
        ),
        (
            "fn a<F: Fn(u32) -> u32>(f: F) -> F { f }",
            "the closure type `F` can only be the type of a parameter",
        ),
        (
            "fn a(f: impl Fn(u32) -> u32) -> u32 { let g = f; g(1) }",
            "`f` is a closure",
        ),
        (
            "fn a(f: impl Fn(u32) -> u32) -> u32 { let t = (f, 1); 2 }",
            "`f` is a closure",
        ),
    ];
    for (src, msg) in cases {
        let errs = device_errors(src);
        assert!(errs.iter().any(|e| e.contains(msg)), "{src}: {errs:?}");
    }
    let errs = kernel_errors("fn k(f: impl Fn(u32) -> u32, o: &mut [u32]) { }", batch());
    assert!(
        errs.iter().any(|e| e
            .0
            .contains("a `#[device] fn` takes a closure as a parameter")),
        "{errs:?}"
    );
}
