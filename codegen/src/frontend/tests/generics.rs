//! Generic kernels: the parameters' rules, the per-type macro-time check,
//! and instantiation with const parameters folded.

use super::*;
use crate::ir::{Scalar, StmtKind};
use crate::layout::ConstValue;
use crate::GenericArg;

fn b(src: &str, msg: &str, at: &str) {
    assert_rejects(src, batch(), msg, at);
}

#[test]
fn parameters_need_a_spindle_bound() {
    b("fn k<T>(x: &mut [T]) {}", "`T` needs a bound", "T>");
    b(
        "fn k<T: Iterator>(x: &mut [T]) {}",
        "`Iterator` cannot bound a kernel's type parameter",
        "Iterator",
    );
    b(
        "fn k<const H: f32>(x: &mut [f32]) {}",
        "a const parameter of a kernel is an integer or a `bool`",
        "f32>",
    );
    b(
        "fn k<T: Float + Int>(x: &mut [T]) {}",
        "no kernel scalar type satisfies every bound of `T`",
        "T:",
    );
    assert!(kernel_errors("fn k<T>(x: &mut [T]) where T: Float {}", batch()).is_empty());
}

#[test]
fn the_body_is_checked_for_every_type_the_bound_admits() {
    // `abs` of an unsigned type does not exist: found when `T = u32`.
    let errs = kernel_errors("fn k<T: Num>(x: &mut [T]) { x[0] = x[0].abs(); }", batch());
    assert!(
        errs.iter().any(|e| e.0.contains("(with T = u32)")),
        "{errs:#?}"
    );
    assert!(kernel_errors(
        "fn k<T: Float, const B: usize>(x: &mut [T]) { x[0] = x[0].abs() * T::ONE; }",
        batch()
    )
    .is_empty());
}

fn instance(src: &'static str, args: &[GenericArg]) -> crate::ir::Kernel {
    let kernel = item_source(src, LINE);
    crate::link_instance(&kernel, args, &batch(), &[], &[])
        .unwrap_or_else(|e| panic!("link failed: {e}"))
}

#[test]
fn an_instantiation_has_its_name_and_its_consts_folded() {
    let src = "fn k<T: Float, const B: usize>(x: &mut [T]) {
        let tile = shared_array::<T, B>();
        tile[0] = T::ONE;
        if B >= 64 { x[0] = tile[0] + T::ONE; } else { x[0] = T::ZERO; }
    }";
    let k = instance(
        src,
        &[
            GenericArg::Type(Scalar::F64),
            GenericArg::Const(ConstValue::Int(Scalar::Usize, 128)),
        ],
    );
    assert_eq!(k.name, "k::<f64, 128>");
    assert_eq!(crate::abi::entry_symbol(&k.name), "spindle_k__f64__128");
    assert_eq!(k.shared[0].len, 128);
    assert_eq!(k.shared[0].elem, crate::ir::Ty::Scalar(Scalar::F64));
    let ifs = stmts(&k.entry.body)
        .into_iter()
        .filter(|s| matches!(s, StmtKind::If { .. }))
        .count();
    assert_eq!(ifs, 0, "`if B >= 64` folds away");
}

#[test]
fn wrong_arguments_are_link_errors() {
    let kernel = item_source("fn k<T: Float>(x: &mut [T]) {}", LINE);
    let e = crate::link_instance(
        &kernel,
        &[GenericArg::Type(Scalar::U32)],
        &batch(),
        &[],
        &[],
    )
    .unwrap_err();
    assert!(e.message.contains("`u32` is not a valid argument"), "{e}");
    let e = crate::link_instance(&kernel, &[], &batch(), &[], &[]).unwrap_err();
    assert!(
        e.message.contains("takes 1 generic argument(s) but 0"),
        "{e}"
    );
}

#[test]
fn generic_device_fns_are_instantiated_per_call() {
    let kernel = item_source(
        "fn k(x: &mut [f32], y: &mut [f64]) {
            x[0] = half(x[0]);
            y[0] = half(y[0]);
            y[1] = half::<f64>(2.0);
            x[1] = scaled::<f32, 3>(x[1]);
        }",
        LINE,
    );
    let devs = [
        item_source(
            "fn half<T: Float>(v: T) -> T { v * (T::ONE / (T::ONE + T::ONE)) }",
            100,
        ),
        item_source(
            "fn scaled<T: Num, const K: u32>(v: T) -> T { v * K.cast::<T>() }",
            120,
        ),
    ];
    let k = crate::link(&kernel, &batch(), &devs, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(k.device_fns.len(), 3, "half at f32 and f64, scaled at f32");
}
