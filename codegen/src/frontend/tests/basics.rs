//! The first kernels: saxpy-level lowering, end to end.

use super::*;
use crate::ir::*;

const SAXPY: &str = "fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}";

#[test]
fn saxpy_analyzes_at_macro_time() {
    let a = crate::frontend::analyze_kernel(&parse(SAXPY), &batch()).unwrap();
    let kinds: Vec<_> = a
        .params
        .iter()
        .map(|p| (p.name.to_string(), p.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("a".to_string(), crate::frontend::ParamShapeKind::Value),
            (
                "x".to_string(),
                crate::frontend::ParamShapeKind::Slice { mutable: false }
            ),
            (
                "y".to_string(),
                crate::frontend::ParamShapeKind::Slice { mutable: true }
            ),
        ]
    );
    assert!(a.ret.is_none() && a.struct_types.is_empty() && a.device_fns.is_empty());
}

#[test]
fn saxpy_links_to_typed_ir() {
    let k = link(SAXPY, batch(), &[], &[]);
    assert_eq!(k.name, "saxpy");
    assert_eq!(k.mode, KernelMode::Batch);
    assert_eq!(k.threads, 0);
    assert_eq!(k.file, FILE);
    assert_eq!(k.entry.ret, Ty::Unit);
    assert_eq!(
        k.entry.params,
        vec![
            Param {
                name: "a".into(),
                kind: ParamKind::Value(s(Scalar::F32)),
                mutable: false
            },
            Param {
                name: "x".into(),
                kind: ParamKind::Slice {
                    elem: s(Scalar::F32),
                    mutable: false
                },
                mutable: false
            },
            Param {
                name: "y".into(),
                kind: ParamKind::Slice {
                    elem: s(Scalar::F32),
                    mutable: true
                },
                mutable: false
            },
        ]
    );
    assert_eq!(local(&k, "i").ty, s(Scalar::Usize));
    // Three index sites: y (write), x, y (read), each naming its slice.
    let whats: Vec<&str> = k.fault_sites.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(whats.len(), 3);
    assert!(whats.iter().filter(|w| **w == "y").count() == 2 && whats.contains(&"x"));
    assert!(k
        .fault_sites
        .iter()
        .all(|f| f.function == "saxpy" && f.span.line == LINE + 3));
    assert!(k.structs.is_empty() && k.device_fns.is_empty());
    let stmts = &k.entry.body.stmts;
    assert_eq!(stmts.len(), 2);
    assert_eq!(stmts[0].span.line, LINE + 1);
    let StmtKind::Let {
        init: Some(init), ..
    } = &stmts[0].kind
    else {
        panic!()
    };
    assert_eq!(
        init.kind,
        ExprKind::Intrinsic(Intrinsic::GlobalIndex, vec![])
    );
    let StmtKind::If {
        cond,
        then_block,
        else_block,
    } = &stmts[1].kind
    else {
        panic!()
    };
    assert!(else_block.stmts.is_empty());
    let ExprKind::Binary(BinOp::Lt, _, len) = &cond.kind else {
        panic!("{cond:?}")
    };
    assert_eq!(len.kind, ExprKind::SliceLen(2));
    let StmtKind::Assign { place, value } = &then_block.stmts[0].kind else {
        panic!()
    };
    assert_eq!(place.root, PlaceRoot::Param(2));
    assert!(matches!(place.proj[..], [Proj::Index { .. }]));
    assert_eq!(value.ty, s(Scalar::F32));
}
