//! Module-level constants: recorded at macro time with unknown types,
//! literals of their real types at link time.

use quote::ToTokens;

use super::*;
use crate::frontend::{analyze_device_fn, analyze_kernel, const_key};
use crate::ir::*;
use crate::layout::ConstValue;
use crate::ExternalConst;

fn consts_of(src: &str, options: KernelOptions) -> Vec<String> {
    let a = analyze_kernel(&parse(src), &options).unwrap_or_else(|e| panic!("{e}"));
    a.consts.iter().map(const_key).collect()
}

fn c(path: &'static str, value: impl Into<ConstValue>) -> ExternalConst<'static> {
    ExternalConst {
        path,
        value: value.into(),
    }
}

/// Links `src` with `consts`; each device fn comes with its own constants.
fn try_link_consts(
    src: &'static str,
    options: KernelOptions,
    consts: &[ExternalConst<'static>],
    device_fns: &[(&'static str, &[ExternalConst<'static>])],
    types: &[&'static TypeDesc],
) -> Result<Kernel, LinkError> {
    let leak = |cs: &[ExternalConst<'static>]| -> &'static [ExternalConst<'static>] {
        Box::leak(cs.to_vec().into_boxed_slice())
    };
    let kernel = ItemSource {
        consts: leak(consts),
        ..item_source(src, LINE)
    };
    let devs: Vec<ItemSource<'static>> = device_fns
        .iter()
        .enumerate()
        .map(|(i, (s, cs))| ItemSource {
            consts: leak(cs),
            ..item_source(s, 100 + 20 * i as u32)
        })
        .collect();
    crate::link(&kernel, &options, &devs, types)
}

fn link_consts(
    src: &'static str,
    options: KernelOptions,
    consts: &[ExternalConst<'static>],
    types: &[&'static TypeDesc],
) -> Kernel {
    try_link_consts(src, options, consts, &[], types).unwrap_or_else(|e| panic!("{e}"))
}

/// The initializer of `let name = …` (the first such `let`).
fn init_of<'k>(k: &'k Kernel, name: &str) -> &'k Expr {
    let id = k
        .entry
        .locals
        .iter()
        .position(|l| l.name == name)
        .unwrap_or_else(|| panic!("no local `{name}`")) as LocalId;
    stmts(&k.entry.body)
        .into_iter()
        .find_map(|s| match s {
            StmtKind::Let {
                local,
                init: Some(e),
            } if *local == id => Some(e),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no initialized `let {name}`"))
}

#[test]
fn macro_time_records_each_constant_path_once_without_errors() {
    let src = "fn k(x: &[f32], out: &mut [f32]) {
        let i = global_index();
        if i < N && i < out.len() {
            out[i] = x[i] * SCALE + config::OFFSET as f32;
        }
        let buf = [0.0f32; LEN];
        let t: [u32; crate::sizes::T] = [0; crate::sizes::T];
        let w = (i as u32 + 1) % WINDOW as u32;
        let flag = !ENABLED;
        out[N - 1] = buf[0] + t[0] as f32 + w as f32 + u32::MAX as f32;
    }";
    assert_eq!(
        consts_of(src, batch()),
        [
            "N",
            "SCALE",
            "config::OFFSET",
            "LEN",
            "crate::sizes::T",
            "WINDOW",
            "ENABLED"
        ]
    );
}

#[test]
fn ring_handlers_and_device_fns_record_constants() {
    let src = "fn window(state: &mut Window, sample: f32) -> Summary {
        state.values[state.next as usize] = sample;
        state.next = (state.next + 1) % WINDOW as u32;
        if state.filled < WINDOW as u32 { state.filled += 1; }
        Summary { mean: sample, min: sample, max: sample, count: state.filled }
    }";
    assert_eq!(consts_of(src, ring()), ["WINDOW"]);
    let dev = analyze_device_fn(&parse(
        "fn scale(x: f32) -> f32 { let k = [GAIN; 2]; x * k[1] + super::BIAS }",
    ))
    .unwrap();
    let keys: Vec<String> = dev.consts.iter().map(const_key).collect();
    assert_eq!(keys, ["GAIN", "super::BIAS"]);
    // Locals, parameters and std constants are not external constants.
    assert!(consts_of(
        "fn k(n: usize, out: &mut [f32]) { let m = n; out[m] = f32::MAX; }",
        batch()
    )
    .is_empty());
}

#[test]
fn associated_paths_name_their_type_and_std_paths_are_rejected() {
    // `Type::ITEM` is an associated constant or an enum variant: the glue
    // hands the type's metadata to the linker, which finds the item.
    let a = crate::frontend::analyze_kernel(
        &parse(
            "fn k(o: &mut [f32]) { o[0] = Tally::LIMIT as f32 + config::Mode::Fast as u32 as f32; }",
        ),
        &batch(),
    )
    .unwrap();
    let types: Vec<String> = a
        .struct_types
        .iter()
        .map(|p| quote::ToTokens::to_token_stream(p).to_string())
        .collect();
    assert_eq!(types, ["Tally", "config :: Mode"]);
    assert!(a.consts.is_empty());
    let b = |src: &str, msg: &str, at: &str| assert_rejects(src, batch(), msg, at);
    b(
        "fn k(o: &mut [f32]) { o[0] = Self::X; }",
        "`Self` is only known inside a `#[device] impl` block",
        "Self",
    );
    b(
        "fn k(o: &mut [f32]) { o[0] = u32::LIMIT as f32; }",
        "only std numeric constants",
        "u32",
    );
    b(
        "fn k(o: &mut [f32]) { o[0] = std::f32::consts::NOPE; }",
        "only std numeric constants",
        "std",
    );
    b(
        "fn k(o: &mut [f32]) { o[0] = LIMIT::<u32>; }",
        "generic paths cannot be read on the GPU",
        "LIMIT",
    );
    b(
        "fn k(o: &mut [f32]) { let a = [0.0f32; Self::N]; }",
        "associated constants",
        "Self",
    );
    b(
        "fn k(o: &mut [f32]) { let a = [0.0f32; N + 1]; }",
        "array lengths must be integer literals, module-level `const`s",
        "N + 1",
    );
    b(
        "fn k(o: &mut [f32]) { let x = Ok(1); }",
        "`Result` is not supported in kernels",
        "Ok",
    );
}

#[test]
fn constants_link_as_literals_of_their_types() {
    let k = link_consts(
        "fn k(out: &mut [f32]) {
            let a = N;
            let b = SCALE;
            let c = ENABLED;
            let d = OFFSET;
            let e = -OFFSET;
            let f = cfg::SMALL;
            let g = HALF;
            out[0] = b;
        }",
        batch(),
        &[
            c("N", 32usize),
            c("SCALE", 0.1f32),
            c("ENABLED", true),
            c("OFFSET", -7i64),
            c("cfg::SMALL", 200u8),
            c("HALF", 0.5f64),
        ],
        &[],
    );
    let lit = |name: &str| {
        let e = init_of(&k, name);
        (e.kind.clone(), e.ty.clone(), local(&k, name).ty.clone())
    };
    let same = |l: Lit, t: Scalar| (ExprKind::Lit(l), s(t), s(t));
    assert_eq!(lit("a"), same(Lit::Int(32), Scalar::Usize));
    // An f32 constant is the f32 value, exactly.
    assert_eq!(lit("b"), same(Lit::Float(0.1f32 as f64), Scalar::F32));
    assert_eq!(lit("c"), same(Lit::Bool(true), Scalar::Bool));
    assert_eq!(lit("d"), same(Lit::Int(-7), Scalar::I64));
    assert_eq!(lit("e"), same(Lit::Int(7), Scalar::I64));
    assert_eq!(lit("f"), same(Lit::Int(200), Scalar::U8));
    assert_eq!(lit("g"), same(Lit::Float(0.5), Scalar::F64));
}

#[test]
fn constants_take_part_in_inference() {
    let k = link_consts(
        "fn k(x: &[f32], out: &mut [f32]) {
            let i = global_index();
            let mut acc = 0;
            for j in 0..N {
                acc += j;
            }
            let scaled = 3 * BIG;
            let r = (7 + 1) % WINDOW as u32;
            let limit = LIMIT;
            if i < limit {
                out[i] = x[i] * GAIN + acc as f32 + scaled as f32 + r as f32;
            }
        }",
        batch(),
        &[
            c("N", 10usize),
            c("BIG", 1i64 << 40),
            c("WINDOW", 32usize),
            c("LIMIT", 1000usize),
            c("GAIN", 2.0f32),
        ],
        &[],
    );
    // `acc += j` with `j` in `0..N`: the literal takes `usize`, not `i32`.
    assert_eq!(local(&k, "acc").ty, s(Scalar::Usize));
    assert_eq!(local(&k, "j").ty, s(Scalar::Usize));
    assert_eq!(local(&k, "scaled").ty, s(Scalar::I64));
    assert_eq!(local(&k, "r").ty, s(Scalar::U32));
    assert_eq!(local(&k, "limit").ty, s(Scalar::Usize));
    let StmtKind::For { end, .. } = stmts(&k.entry.body)
        .into_iter()
        .find(|s| matches!(s, StmtKind::For { .. }))
        .unwrap()
    else {
        unreachable!()
    };
    assert_eq!(end.kind, ExprKind::Lit(Lit::Int(10)));
    // `(7 + 1) % WINDOW as u32`: the cast of a `usize` literal.
    let ExprKind::Binary(BinOp::Rem, _, rhs) = &init_of(&k, "r").kind else {
        panic!("{:?}", init_of(&k, "r"))
    };
    let ExprKind::Cast(inner) = &rhs.kind else {
        panic!("{rhs:?}")
    };
    assert_eq!(
        (inner.kind.clone(), inner.ty.clone()),
        (ExprKind::Lit(Lit::Int(32)), s(Scalar::Usize))
    );
}

#[test]
fn constant_array_lengths_are_known_at_link_time() {
    let k = link_consts(
        "fn k(out: &mut [f32]) {
            let buf = [1.5f32; LEN];
            let t: [u32; cfg::T] = [0; cfg::T];
            let n = buf.len();
            out[0] = buf[LEN - 1] + t[n - 1] as f32;
        }",
        batch(),
        &[c("LEN", 4usize), c("cfg::T", 4usize)],
        &[],
    );
    let arr = |e: Scalar| Ty::Array(Box::new(s(e)), 4);
    assert_eq!(local(&k, "buf").ty, arr(Scalar::F32));
    assert_eq!(local(&k, "t").ty, arr(Scalar::U32));
    assert_eq!(init_of(&k, "n").kind, ExprKind::Lit(Lit::Int(4)));
    assert!(matches!(
        init_of(&k, "buf").kind,
        ExprKind::ArrayRepeat(_, 4)
    ));
}

#[test]
fn device_fns_use_the_constants_of_their_own_module() {
    let k = try_link_consts(
        "fn k(out: &mut [f32]) { out[0] = scale(SCALE); }",
        batch(),
        &[c("SCALE", 2.0f32)],
        &[(
            "fn scale(x: f32) -> f32 { let w = [x; N]; w[N - 1] * SCALE }",
            &[c("SCALE", 3.0f32), c("N", 2usize)],
        )],
        &[],
    )
    .unwrap();
    let lits = |b: &Block| -> Vec<Lit> {
        exprs(b)
            .into_iter()
            .filter_map(|e| match &e.kind {
                ExprKind::Lit(l @ Lit::Float(_)) => Some(*l),
                _ => None,
            })
            .collect()
    };
    assert_eq!(lits(&k.entry.body), [Lit::Float(2.0)]);
    assert_eq!(lits(&k.device_fns[0].body), [Lit::Float(3.0)]);
    assert_eq!(
        k.device_fns[0].locals[0].ty,
        Ty::Array(Box::new(s(Scalar::F32)), 2)
    );
}

#[test]
fn constants_that_do_not_fit_are_link_errors() {
    let err = |src: &'static str, consts: &[ExternalConst<'static>]| {
        try_link_consts(src, batch(), consts, &[], &[])
            .unwrap_err()
            .to_string()
    };
    // Rust would reject these too; linking must not miscompile them.
    let e = err(
        "fn k(out: &mut [u32]) { let x: u32 = N; out[0] = x; }",
        &[c("N", 3usize)],
    );
    assert!(
        e.contains("mismatched types: expected `u32`, found `usize`"),
        "{e}"
    );
    let e = err(
        "fn k(out: &mut [f32]) { let a = [0.0f32; LEN]; }",
        &[c("LEN", 2.0f32)],
    );
    assert!(
        e.contains("an array length is a `usize`, but `LEN` is a `f32`"),
        "{e}"
    );
    // Metadata out of step with the source.
    let e = err("fn k(out: &mut [f32]) { out[0] = GAIN; }", &[]);
    assert!(
        e.contains("no value was recorded for the constant `GAIN`"),
        "{e}"
    );
    assert!(e.starts_with(&format!("{FILE}:{LINE}:34:")), "{e}");
    let e = err(
        "fn k(out: &mut [u32]) { out[0] = BAD; }",
        &[c("BAD", ConstValue::Int(Scalar::U8, 300))],
    );
    assert!(
        e.contains("the recorded value of the constant `BAD` is invalid"),
        "{e}"
    );
}

#[test]
fn lets_that_depend_on_constants_are_not_annotated() {
    let mut item = parse(
        "fn k(out: &mut [f32]) {
            let a = N;
            let b = N as u32;
            let c = a + 1;
            let d = [0u8; LEN];
            let e = 2.0f32 * GAIN;
            let f = 1;
            out[0] = e;
        }",
    );
    crate::frontend::annotate_lets(&mut item, Some(&batch()));
    let out = item.block.to_token_stream().to_string();
    assert!(out.contains("let a = N"), "{out}");
    assert!(out.contains("let b : u32 = N as u32"), "{out}");
    assert!(out.contains("let c = a + 1"), "{out}");
    assert!(out.contains("let d = [0u8 ; LEN]"), "{out}");
    // A known type that meets a constant is checked by rustc at the use.
    assert!(out.contains("let e : f32 ="), "{out}");
    assert!(out.contains("let f : i32 = 1"), "{out}");
}
