//! Lowering of each construct of the subset.

use super::*;
use crate::ir::*;

fn intrinsics(k: &Kernel) -> Vec<(Intrinsic, Vec<Ty>, Ty)> {
    exprs(&k.entry.body)
        .into_iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Intrinsic(i, args) => Some((
                *i,
                args.iter().map(|a| a.ty.clone()).collect(),
                e.ty.clone(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn float_and_integer_methods_become_intrinsics() {
    let k = link(
        "fn k(x: f32, y: f64, n: i32, u: u64, out: &mut [f32]) {
            let a = x.sqrt() + x.mul_add(2.0, 1.0) + x.powi(3) + x.powf(0.5) + x.clamp(0.0, 1.0);
            let b = y.atan2(1.0) + y.hypot(2.0) + y.log(10.0) + y.to_radians() + y.signum();
            let c = x.is_nan() || y.is_finite() || x.is_sign_negative();
            let d = n.abs() + n.pow(2) + n.wrapping_mul(3) + n.saturating_sub(1) + n.signum();
            let e = u.count_ones() + u.leading_zeros() + u.trailing_zeros();
            let f = u.rotate_left(3) ^ u.reverse_bits() ^ u.swap_bytes() ^ u.wrapping_neg();
            let g = u.is_power_of_two() && n.abs_diff(-4) > 2;
            let h = f32::sqrt(x) + f32::max(x, 1.0) + u32::count_ones(7) as f32;
            out[0] = a + b as f32 + d as f32 + e as f32 + f as f32 + h;
            if c && g { out[1] = 0.0; }
        }",
        batch(),
        &[],
        &[],
    );
    let all = intrinsics(&k);
    let has = |i: Intrinsic, args: &[Scalar], ret: Scalar| {
        let want = (i, args.iter().map(|a| s(*a)).collect::<Vec<_>>(), s(ret));
        assert!(all.contains(&want), "missing {want:?} in {all:#?}");
    };
    use Scalar::*;
    has(Intrinsic::Sqrt, &[F32], F32);
    has(Intrinsic::MulAdd, &[F32, F32, F32], F32);
    has(Intrinsic::Powi, &[F32, I32], F32);
    has(Intrinsic::Powf, &[F32, F32], F32);
    has(Intrinsic::Clamp, &[F32, F32, F32], F32);
    has(Intrinsic::Atan2, &[F64, F64], F64);
    has(Intrinsic::Hypot, &[F64, F64], F64);
    has(Intrinsic::Log, &[F64, F64], F64);
    has(Intrinsic::ToRadians, &[F64], F64);
    has(Intrinsic::Signum, &[F64], F64);
    has(Intrinsic::IsNan, &[F32], Bool);
    has(Intrinsic::IsFinite, &[F64], Bool);
    has(Intrinsic::IsSignNegative, &[F32], Bool);
    has(Intrinsic::Abs, &[I32], I32);
    has(Intrinsic::Pow, &[I32, U32], I32);
    has(Intrinsic::WrappingMul, &[I32, I32], I32);
    has(Intrinsic::SaturatingSub, &[I32, I32], I32);
    has(Intrinsic::Signum, &[I32], I32);
    has(Intrinsic::CountOnes, &[U64], U32);
    has(Intrinsic::LeadingZeros, &[U64], U32);
    has(Intrinsic::TrailingZeros, &[U64], U32);
    has(Intrinsic::RotateLeft, &[U64, U32], U64);
    has(Intrinsic::ReverseBits, &[U64], U64);
    has(Intrinsic::SwapBytes, &[U64], U64);
    has(Intrinsic::WrappingNeg, &[U64], U64);
    has(Intrinsic::IsPowerOfTwo, &[U64], Bool);
    has(Intrinsic::AbsDiff, &[I32, I32], U32);
    has(Intrinsic::Max, &[F32, F32], F32);
    has(Intrinsic::CountOnes, &[U32], U32);
}

#[test]
fn thread_geometry_intrinsics() {
    let k = link(
        "fn k(out: &mut [u32]) {
            let i = gpu::global_index();
            let t = spindle::gpu::thread_idx().x + block_idx().y + block_dim().z + grid_dim().x;
            out[i] = t;
        }",
        batch(),
        &[],
        &[],
    );
    let dim3 = k
        .structs
        .iter()
        .position(|s| s.name == DIM3)
        .expect("Dim3 is used") as StructId;
    assert_eq!(k.struct_def(dim3), &dim3_def());
    let all = intrinsics(&k);
    assert!(all.contains(&(Intrinsic::GlobalIndex, vec![], s(Scalar::Usize))));
    for i in [
        Intrinsic::ThreadIdx,
        Intrinsic::BlockIdx,
        Intrinsic::BlockDim,
        Intrinsic::GridDim,
    ] {
        assert!(all.contains(&(i, vec![], Ty::Struct(dim3))), "{i:?}");
    }
    let fields: Vec<u32> = exprs(&k.entry.body)
        .iter()
        .filter_map(|e| match &e.kind {
            ExprKind::Field(inner, f) if matches!(inner.kind, ExprKind::Intrinsic(..)) => Some(*f),
            _ => None,
        })
        .collect();
    assert_eq!(fields, [0, 1, 2, 0]);
}

#[test]
fn std_constants_become_literals() {
    let k = link(
        "fn k(out: &mut [f64]) {
            let a = f32::MAX;
            let b = u32::MAX;
            let c = i64::MIN;
            let d = std::f32::consts::PI;
            let e = core::f64::consts::TAU;
            let f = f64::consts::E;
            let g = f32::EPSILON;
            let h = f64::NEG_INFINITY;
            let i = u8::BITS;
            let j = -128i8;
            let l = -2.5f32;
            out[0] = e;
        }",
        batch(),
        &[],
        &[],
    );
    let lit = |name: &str| {
        let id = k.entry.locals.iter().position(|l| l.name == name).unwrap() as LocalId;
        let init = k.entry.body.stmts.iter().find_map(|s| match &s.kind {
            StmtKind::Let {
                local,
                init: Some(e),
            } if *local == id => Some(e.clone()),
            _ => None,
        });
        let e = init.unwrap();
        let ExprKind::Lit(l) = e.kind else {
            panic!("{name}: {e:?}")
        };
        (l, e.ty)
    };
    assert_eq!(lit("a"), (Lit::Float(f32::MAX as f64), s(Scalar::F32)));
    assert_eq!(lit("b"), (Lit::Int(u32::MAX as i128), s(Scalar::U32)));
    assert_eq!(lit("c"), (Lit::Int(i64::MIN as i128), s(Scalar::I64)));
    assert_eq!(
        lit("d"),
        (Lit::Float(std::f32::consts::PI as f64), s(Scalar::F32))
    );
    assert_eq!(
        lit("e"),
        (Lit::Float(std::f64::consts::TAU), s(Scalar::F64))
    );
    assert_eq!(lit("f"), (Lit::Float(std::f64::consts::E), s(Scalar::F64)));
    assert_eq!(lit("g"), (Lit::Float(f32::EPSILON as f64), s(Scalar::F32)));
    assert_eq!(lit("h"), (Lit::Float(f64::NEG_INFINITY), s(Scalar::F64)));
    assert_eq!(lit("i"), (Lit::Int(8), s(Scalar::U32)));
    assert_eq!(lit("j"), (Lit::Int(-128), s(Scalar::I8)));
    assert_eq!(lit("l"), (Lit::Float(-2.5), s(Scalar::F32)));
}

#[test]
fn f32_literals_are_rounded_to_f32() {
    let k = link("fn k(out: &mut [f32]) { out[0] = 0.1; }", batch(), &[], &[]);
    let StmtKind::Assign { value, .. } = &k.entry.body.stmts[0].kind else {
        panic!()
    };
    assert_eq!(value.kind, ExprKind::Lit(Lit::Float(0.1f32 as f64)));
}

#[test]
fn operators_casts_and_compound_assignment() {
    let k = link(
        "fn k(a: i32, b: bool, x: f32, out: &mut [i32]) {
            let mut v = (a + 1) * 2 - a / 3 % 4;
            v <<= 2u8;
            v >>= 1;
            v &= 0xff;
            v |= 1;
            v ^= a;
            v -= 1;
            v *= 2;
            v /= 3;
            v %= 5;
            v += -a;
            let w = !v & (v | 3) ^ (v >> 1u32);
            let c = !b || (a >= 0 && a != 7) || a < -1 || a <= 2 || a > 9 || a == 3;
            let f = x as i32 + b as i32 + (a as u8) as i32 + (3.7f64 as i64) as i32;
            out[0] = v + w + f + c as i32;
        }",
        batch(),
        &[],
        &[],
    );
    let ops: Vec<BinOp> = stmts(&k.entry.body)
        .iter()
        .filter_map(|s| match s {
            StmtKind::CompoundAssign { op, .. } => Some(*op),
            _ => None,
        })
        .collect();
    use BinOp::*;
    assert_eq!(
        ops,
        [Shl, Shr, BitAnd, BitOr, BitXor, Sub, Mul, Div, Rem, Add]
    );
    let binops: Vec<BinOp> = exprs(&k.entry.body)
        .iter()
        .filter_map(|e| match e.kind {
            ExprKind::Binary(op, ..) => Some(op),
            _ => None,
        })
        .collect();
    for op in [
        Add, Sub, Mul, Div, Rem, BitAnd, BitOr, BitXor, Shr, Eq, Ne, Lt, Le, Gt, Ge, And, Or,
    ] {
        assert!(binops.contains(&op), "{op:?}");
    }
    let casts = exprs(&k.entry.body)
        .iter()
        .filter(|e| matches!(e.kind, ExprKind::Cast(_)))
        .count();
    assert_eq!(casts, 7);
    // Shift amounts keep their own type; the result has the left type.
    let shl = stmts(&k.entry.body)
        .into_iter()
        .find_map(|s| match s {
            StmtKind::CompoundAssign {
                op: Shl,
                value,
                place,
            } => Some((value.ty.clone(), place.ty.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(shl, (s(Scalar::U8), s(Scalar::I32)));
    let nots = exprs(&k.entry.body)
        .iter()
        .filter(|e| matches!(e.kind, ExprKind::Unary(UnOp::Not, _)))
        .count();
    assert_eq!(nots, 2);
    assert!(exprs(&k.entry.body)
        .iter()
        .any(|e| matches!(e.kind, ExprKind::Unary(UnOp::Neg, _))));
}

#[test]
fn loops_labels_and_early_return() {
    let k = link(
        "fn k(n: u32, out: &mut [u32]) {
            let mut total = 0;
            'rows: for r in 0..n {
                for c in (0..=r).step_by(2) {
                    if c == 7 { continue 'rows; }
                    if c > 100 { break 'rows; }
                    total += c;
                }
            }
            loop {
                total += 1;
                if total > 1000 { break; }
            }
            while total > 5 { total -= 1; if total == 9 { continue; } }
            if total == 3 { return; }
            out[0] = total;
        }",
        batch(),
        &[],
        &[],
    );
    let all = stmts(&k.entry.body);
    let fors: Vec<_> = all
        .iter()
        .filter_map(|s| match s {
            StmtKind::For {
                id,
                inclusive,
                step,
                start,
                ..
            } => Some((
                *id,
                *inclusive,
                step.as_ref().map(|s| s.ty.clone()),
                start.ty.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(fors.len(), 2);
    assert_eq!(fors[0], (0, false, None, s(Scalar::U32)));
    assert_eq!((fors[1].0, fors[1].1), (1, true));
    // `step_by` takes a usize; the IR step has the loop variable's type.
    assert_eq!(fors[1].2, Some(s(Scalar::U32)));
    assert!(all.contains(&&StmtKind::Continue(0)));
    assert!(all.contains(&&StmtKind::Break(0)));
    assert!(all
        .iter()
        .any(|s| matches!(s, StmtKind::Loop { id: 2, .. })));
    assert!(all.contains(&&StmtKind::Break(2)));
    assert!(all
        .iter()
        .any(|s| matches!(s, StmtKind::While { id: 3, .. })));
    assert!(all.contains(&&StmtKind::Continue(3)));
    assert!(all.contains(&&StmtKind::Return(None)));
    assert_eq!(local(&k, "total").ty, s(Scalar::U32));
}

#[test]
fn while_condition_with_statements_becomes_a_loop() {
    let k = link(
        "fn k(x: &[f32], out: &mut [f32]) {
            let mut i = 0;
            while { let v = x[i]; v > 0.0 } { i += 1; }
            out[0] = i as f32;
        }",
        batch(),
        &[],
        &[],
    );
    let StmtKind::Loop { id, body } = &k.entry.body.stmts[1].kind else {
        panic!("{:#?}", k.entry.body.stmts[1])
    };
    // The condition's statements, then `if !cond { break }`, then the body.
    let n = body.stmts.len();
    let StmtKind::If {
        cond, then_block, ..
    } = &body.stmts[n - 2].kind
    else {
        panic!()
    };
    assert!(matches!(cond.kind, ExprKind::Unary(UnOp::Not, _)));
    assert_eq!(then_block.stmts[0].kind, StmtKind::Break(*id));
    assert!(matches!(body.stmts[n - 1].kind, StmtKind::Block(_)));
}

#[test]
fn reversed_ranges_lower_to_while_loops() {
    let k = link(
        "fn k(out: &mut [u32]) {
            for i in (0..4u32).rev() { out[i as usize] = i; }
            for j in (2..=5u32).rev() { if j == 3 { continue; } out[j as usize] = j; }
        }",
        batch(),
        &[],
        &[],
    );
    let whiles = stmts(&k.entry.body)
        .into_iter()
        .filter(|s| matches!(s, StmtKind::While { .. }))
        .count();
    assert_eq!(whiles, 2);
    assert!(stmts(&k.entry.body).contains(&&StmtKind::Continue(1)));
    assert_eq!(local(&k, "i").ty, s(Scalar::U32));
    assert_eq!(local(&k, "j").ty, s(Scalar::U32));
}

#[test]
fn arrays_repeat_literal_len_and_rvalue_index() {
    let k = link(
        "fn k(out: &mut [f32]) {
            let mut acc = [0.0f32; 4];
            let w = [1.0, 2.0, 3.0];
            acc[1] = w[2] + [5.0f32, 6.0][1];
            let n = acc.len() + w.len();
            let grid = [[0u8; 2]; 3];
            let g = grid[2][1];
            out[0] = acc[1] + n as f32 + g as f32;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "acc").ty, Ty::Array(Box::new(s(Scalar::F32)), 4));
    assert_eq!(local(&k, "w").ty, Ty::Array(Box::new(s(Scalar::F32)), 3));
    let grid = Ty::Array(Box::new(Ty::Array(Box::new(s(Scalar::U8)), 2)), 3);
    assert_eq!(local(&k, "grid").ty, grid);
    assert!(exprs(&k.entry.body).iter().any(|e| e.kind
        == ExprKind::ArrayRepeat(
            Box::new(Expr {
                kind: ExprKind::Lit(Lit::Float(0.0)),
                ty: s(Scalar::F32)
            }),
            4
        )));
    // `.len()` of arrays is a constant.
    let StmtKind::Let { init: Some(n), .. } = &k
        .entry
        .body
        .stmts
        .iter()
        .find(|s| {
            matches!(
                &s.kind, StmtKind::Let { local, .. } if k.entry.locals[*local as usize].name == "n"
            )
        })
        .unwrap()
        .kind
    else {
        panic!()
    };
    let ExprKind::Binary(BinOp::Add, a, b) = &n.kind else {
        panic!()
    };
    assert_eq!(
        (a.kind.clone(), b.kind.clone()),
        (ExprKind::Lit(Lit::Int(4)), ExprKind::Lit(Lit::Int(3)))
    );
    // The rvalue array was stored in a temporary before being indexed.
    let whats: Vec<&str> = k.fault_sites.iter().map(|f| f.what.as_str()).collect();
    assert!(whats.contains(&"[5.0f32, 6.0]"), "{whats:?}");
    assert!(
        whats.contains(&"grid") && whats.contains(&"grid[..]"),
        "{whats:?}"
    );
}

#[test]
fn let_forms() {
    let k = link(
        "fn k(c: bool, out: &mut [f32]) {
            let x: f32;
            if c { x = 1.0; } else { x = 2.0; }
            let _ = x + 1.0;
            let mut y: f64 = 0.0;
            y += 1.0;
            out[0] = x + y as f32;
        }",
        batch(),
        &[],
        &[],
    );
    assert_eq!(local(&k, "x").ty, s(Scalar::F32));
    assert!(!local(&k, "x").mutable);
    assert!(matches!(
        k.entry.body.stmts[0].kind,
        StmtKind::Let { init: None, .. }
    ));
    assert!(matches!(k.entry.body.stmts[2].kind, StmtKind::Expr(_)));
}

#[test]
fn device_fn_tail_values_are_returned() {
    let k = link(
        "fn k(out: &mut [i32]) { out[0] = pick(true, 1, 2); }",
        batch(),
        &["fn pick(c: bool, a: i32, b: i32) -> i32 {
            if c { return a; }
            let r = if a > b { a } else { b };
            r
        }"],
        &[],
    );
    let f = &k.device_fns[0];
    let last = f.body.stmts.last().unwrap();
    assert!(matches!(&last.kind, StmtKind::Return(Some(e)) if e.ty == s(Scalar::I32)));
    assert!(
        stmts(&f.body)
            .iter()
            .filter(|s| matches!(s, StmtKind::Return(Some(_))))
            .count()
            == 2
    );
}

#[test]
fn bounds_check_option_is_carried() {
    let mut o = batch();
    o.bounds_checks = false;
    let k = link("fn k(out: &mut [f32]) { out[0] = 1.0; }", o, &[], &[]);
    assert!(!k.bounds_checks);
    assert_eq!(k.fault_sites.len(), 1);
}

#[test]
fn loops_without_break_never_finish() {
    let k = link(
        "fn k(out: &mut [u32]) { out[0] = first_even(3) + spin(2); }",
        batch(),
        &[
            "fn first_even(start: u32) -> u32 {
                let mut n = start;
                loop {
                    for _ in 0..2 { break; }
                    if n % 2 == 0 { return n; }
                    n += 1;
                }
            }",
            "fn spin(x: u32) -> u32 { 'outer: loop { loop { break 'outer; } } x }",
        ],
        &[],
    );
    assert_eq!(k.device_fns.len(), 2);
    // A loop that is broken out of has type `()`: it cannot be the value.
    let e = try_link(
        "fn k(out: &mut [u32]) { out[0] = f(); }",
        batch(),
        &["fn f() -> u32 { loop { break; } }"],
        &[],
    )
    .unwrap_err();
    assert!(e.message.contains("expected `u32`, found `()`"), "{e}");
}

#[test]
fn earlier_indices_are_evaluated_before_a_hoisted_index() {
    let k = link(
        "fn k(out: &mut [u32]) {
            let mut i = 0;
            let g = [[1u32, 2], [3, 4]];
            let v = g[i][{ i += 1; i }];
            let w = [5u32, 6][{ i -= 1; i }];
            out[0] = v + w;
        }",
        batch(),
        &[],
        &[],
    );
    let body = &k.entry.body.stmts;
    // `let t = i;` (the first index, read before `i += 1`), then the block.
    let i = k.entry.locals.iter().position(|l| l.name == "i").unwrap() as LocalId;
    let StmtKind::Let {
        local: t,
        init: Some(first),
    } = &body[2].kind
    else {
        panic!("{:?}", body[2])
    };
    assert_eq!(
        first.kind,
        ExprKind::Load(Place {
            root: PlaceRoot::Local(i),
            proj: vec![],
            ty: s(Scalar::Usize)
        })
    );
    let v = stmts(&k.entry.body)
        .into_iter()
        .find_map(|s| match s {
            StmtKind::Let {
                local,
                init: Some(e),
            } if k.entry.locals[*local as usize].name == "v" => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    let ExprKind::Load(place) = v.kind else {
        panic!()
    };
    let Proj::Index { index, .. } = &place.proj[0] else {
        panic!()
    };
    assert_eq!(
        index.kind,
        ExprKind::Load(Place {
            root: PlaceRoot::Local(*t),
            proj: vec![],
            ty: s(Scalar::Usize)
        })
    );
    // The rvalue array's temporary is declared before the index's block.
    let w_tmp = body.iter().position(|st| matches!(&st.kind, StmtKind::Let { init: Some(e), .. } if matches!(e.kind, ExprKind::ArrayLit(_)) && e.ty == Ty::Array(Box::new(s(Scalar::U32)), 2))).unwrap();
    let dec = body.iter().position(|st| matches!(&st.kind, StmtKind::Block(b) if matches!(b.stmts[0].kind, StmtKind::CompoundAssign { op: BinOp::Sub, .. }))).unwrap();
    assert!(w_tmp < dec, "{body:#?}");
}
