//! Macro-time rejections: every construct outside the subset, and the
//! mode rules, with a span on the offending tokens and advice.

use super::*;

fn b(src: &str, msg: &str, at: &str) {
    assert_rejects(src, batch(), msg, at);
}

#[test]
fn batch_kernels_return_nothing() {
    b(
        "fn k(x: &[f32]) -> f32 { x[0] }",
        "write results into a `&mut [T]`",
        "->",
    );
    b(
        "fn k(o: &mut [f32]) { return 1.0; }",
        "batch kernels return nothing: write `return;`",
        "1.0",
    );
}

#[test]
fn batch_parameter_kinds() {
    b("fn k(x: &f32) {}", "take it by value (`x: f32`)", "&f32");
    b(
        "fn k(x: &mut f32) {}",
        "take a slice `&mut [f32]`",
        "&mut f32",
    );
    b(
        "fn k(x: Vec<f32>) {}",
        "`Vec` cannot be used on the GPU",
        "Vec",
    );
    b(
        "fn k(x: (f32, u32)) {}",
        "tuples cannot cross between host and kernel",
        "(f32",
    );
    b("fn k(x: String) {}", "strings are not supported", "String");
    b("fn k(x: char) {}", "`char` is not supported", "char");
    b("fn k(x: u128) {}", "128-bit integers", "u128");
    b(
        "fn k(x: [f32; 2 * N]) {}",
        "array lengths must be integer literals",
        "2 * N]",
    );
    b(
        "fn k((a, b): (f32, f32)) {}",
        "parameters must be simple names",
        "(a, b)",
    );
    b("fn k(x: *const f32) {}", "raw pointers", "*const");
}

#[test]
fn item_level_rules() {
    b("fn k<T>(x: &[T]) {}", "`T` needs a bound", "T");
    b("async fn k() {}", "cannot be `async`", "async");
    b("unsafe fn k() {}", "cannot be `unsafe fn`", "unsafe");
    b("const fn k() {}", "kernels cannot be `const fn`", "const");
    b("extern \"C\" fn k() {}", "cannot declare an ABI", "extern");
    b(
        "fn k<'a>(x: &'a [f32]) {}",
        "lifetime parameters are not supported",
        "'a",
    );
}

#[test]
fn ring_handler_shape() {
    let r = |src: &str, msg: &str, at: &str| assert_rejects(src, ring(), msg, at);
    r(
        "fn h(state: Tally, msg: Add) -> u32 { 0 }",
        "take the state as `&mut Tally`",
        "Tally,",
    );
    r("fn h() -> u32 { 0 }", "a ring handler looks like", "()");
    r(
        "fn h(state: &mut Tally) -> u32 { 0 }",
        "1 parameter is given",
        "state",
    );
    r(
        "fn h(state: &mut Tally, msg: Add) { }",
        "ring handlers return the reply",
        ")",
    );
    r(
        "fn h(state: &mut Tally, msg: Add, extra: u32) -> u32 { 0 }",
        "exactly two parameters",
        "extra",
    );
    r(
        "fn h(state: &Tally, msg: Add) -> u32 { 0 }",
        "the state is taken as `&mut S`",
        "&Tally",
    );
    r(
        "fn h(state: &mut Tally, msg: &[f32]) -> u32 { 0 }",
        "ring handlers cannot take slices",
        "&[f32]",
    );
    r(
        "fn h(state: &mut u32, msg: u32) -> u32 { state = 1; 0 }",
        "`*state = value;`",
        "state =",
    );
    r(
        "fn h(state: &mut Tally, msg: Add) -> Tally { state }",
        "write `*state` to copy",
        "state }",
    );
    let mut threads = ring();
    threads.threads = 2000;
    assert_rejects(
        "fn h(s: &mut u32, m: u32) -> u32 { m }",
        threads,
        "between 1 and 1024",
        "h(",
    );
}

#[test]
fn ring_handlers_that_fit_are_accepted() {
    for src in [
        "fn h(state: &mut Tally, msg: Add) -> Tally { state.count += 1; state.sum += msg.value; *state }",
        "fn h(state: &mut Tally, msg: &Add) -> f32 { state.sum += msg.value; state.sum + (*msg).value }",
        "fn h(state: &mut [u32; 4], msg: u32) -> u32 { state[0] += msg; *state = [1, 2, 3, 4]; msg }",
    ] {
        let errs = kernel_errors(src, ring());
        assert!(errs.is_empty(), "{src}: {errs:#?}");
    }
}

#[test]
fn control_flow_rejections() {
    b(
        "fn k(o: &mut [u32]) { match o[0] { 0 => {}, n | n => {} } }",
        "or-patterns that bind names are not supported",
        "n |",
    );
    b(
        "fn k(o: &mut [u32]) { if let 1 = o[0] && o[1] > 0 { } }",
        "let chains are not",
        "let 1",
    );
    b(
        "fn k(o: &mut [u32]) { let (1, x) = (o[0], o[1]); }",
        "this pattern may not match: use `if let`, `match`, or `let … else",
        "(1, x)",
    );
    b(
        "fn k(o: &mut [u32]) { let t = (1, 2, 3); let (a, b) = t; }",
        "this pattern has 2 element(s) but the tuple `({integer}, {integer}, {integer})` has 3",
        "(a, b) = t",
    );
    b(
        "fn k(o: &mut [u32]) { while o[0] > 0 { break 5; } }",
        "`break` with a value only leaves a `loop`",
        "5;",
    );
    b(
        "fn k(o: &mut [u32]) { 'a: { o[0] = 1; } }",
        "labeled blocks are not supported",
        "'a",
    );
    b(
        "fn k(o: &mut [u32]) { break; }",
        "outside of a loop",
        "break",
    );
    b(
        "fn k(o: &mut [u32]) { loop { break 'nope; } }",
        "no enclosing loop is labeled `'nope`",
        "break 'nope",
    );
    b(
        "fn k(o: &mut [u32]) { for x in o.iter().skip(1) { } }",
        "`skip` is not supported in a kernel's `for` loop",
        "skip",
    );
    b(
        "fn k(o: &mut [u32]) { for (a, b) in o { } }",
        "items of `iter_mut()` (and of `&mut` slices and shared arrays) bind to a name",
        "(a, b)",
    );
    b(
        "fn k(o: &mut [u32]) { for (i, v) in o.iter() { } }",
        "mismatched types",
        "(i, v)",
    );
    b(
        "fn k(o: &mut [u32]) { for v in o.iter().enumerate() { } }",
        "`.enumerate()` gives pairs",
        "v",
    );
    b(
        "fn k(o: &mut [u32]) { for i in 0.. { } }",
        "needs both bounds",
        "0..",
    );
    b(
        "fn k(o: &mut [u32]) { for (i, j) in 0..2 { } }",
        "a `for` loop binds a simple name",
        "(i, j)",
    );
    b(
        "fn k(o: &mut [u32]) { for i in (0..8).step_by(0) { } }",
        "`step_by(0)` panics",
        "0) {",
    );
}

#[test]
fn expression_rejections() {
    b(
        "fn k(o: &mut [f32]) { let f = |x: f32| x * 2.0; let g = f; }",
        "`f` is a closure: kernels call it (`f(x)`) or pass it to a `#[device] fn`",
        "f;",
    );
    b(
        "fn k(o: &mut [f32]) { let t = (|x: f32| x * 2.0, 1.0); }",
        "closures in kernels are bound by `let` and called",
        "|x",
    );
    b(
        "fn k(o: &mut [f32]) { let f = |x: f32| { if x > 0.0 { return 1.0; } x }; }",
        "`return` inside a kernel closure is not supported",
        "return",
    );
    b(
        "fn k(o: &mut [f32]) { let f = |x: f32| x; o[0] = f(1.0, 2.0); }",
        "this closure takes 1 argument(s), 2 given",
        "1.0",
    );
    b(
        "fn k(o: &mut [f32]) { println!(\"{}\", o[0]); }",
        "`println!` is not supported in kernels: there is no console",
        "println",
    );
    b(
        "fn k(o: &mut [f32]) { assert!(o.len() > 0, \"{} elements\", o.len()); }",
        "a kernel's assertion message is a string literal without formatting",
        "assert",
    );
    b(
        "fn k(o: &mut [f32]) { assert_eq!(o[0]); }",
        "`assert_eq!` takes 2 argument(s) before its message",
        "assert_eq",
    );
    b(
        "fn k(o: &mut [f32]) { todo!(); }",
        "`todo!` is not supported in kernels: write the code, or `panic!(\"not done yet\")`",
        "todo",
    );
    b(
        "fn k(o: &mut [f32]) { let v = vec![1.0]; }",
        "kernels cannot allocate",
        "vec",
    );
    b(
        "fn k(o: &mut [f32]) { let r = &o[0]; }",
        "references are not supported here",
        "&o",
    );
    b(
        "fn k(o: &mut [f32]) { let r = 0..4; }",
        "ranges are only supported as `for` loop bounds",
        "0..4",
    );
    b(
        "fn k(o: &mut [f32]) { unsafe { o[0] = 1.0; } }",
        "`unsafe` blocks are not supported",
        "unsafe",
    );
    b(
        "fn k(o: &mut [f32]) { let s = \"hi\"; }",
        "strings are not supported",
        "\"hi\"",
    );
    b(
        "fn k(o: &mut [f32]) { let (ref a, b) = (1, 2); }",
        "`ref` bindings are not supported",
        "ref",
    );
    b(
        "fn k(o: &mut [f32]) { let v: Vec<f32> = Vec::new(); }",
        "`Vec` cannot be used on the GPU",
        "Vec<",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o[0].to_bits(); }",
        "`to_bits` is not a method kernels support",
        "to_bits",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o.iter(); }",
        "iterators are supported as a `for` loop's source",
        "iter",
    );
    b(
        "fn k(o: &mut [f32]) { o[0] = o[1].to_string().len() as f32; }",
        "strings are not supported",
        "to_string",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o[0].clone(); }",
        "copied implicitly",
        "clone",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o[1..3]; }",
        "`o[1..3]` is a sub-slice: index it (`w[i]` of `let w = &o[1..3];`)",
        "o[1..3]",
    );
    b(
        "fn k(o: &mut [f32]) { let w = &o[1..3]; let v = w; }",
        "`w` is a sub-slice",
        "w;",
    );
    b(
        "fn k(o: &mut [f32]) { let (a, b, c) = o.split_at(1); }",
        "`split_at` gives two sub-slices",
        "(a, b, c)",
    );
    b(
        "fn k(o: &mut [f32]) { fn helper() {} }",
        "cannot be declared inside a kernel",
        "fn helper",
    );
    b(
        "fn k(o: &mut [f32]) { const N: usize = 4; }",
        "cannot be declared inside a kernel",
        "const N",
    );
    b(
        "fn k(o: &mut [f32]) { o[0] = Some(1.0); }",
        "mismatched types in assignment: expected `f32`, found `Option<{float}>`",
        "Some",
    );
    b(
        "fn k(o: &mut [f32]) { let v: Option<f32> = None; o[0] = v.unwrap(); }",
        "`unwrap` of an `Option` is not supported in kernels",
        "unwrap",
    );

    b(
        "fn k(o: &mut [f32]) { let t = Tally::default(); }",
        "`Tally::default` calls the `Default` trait",
        "Tally",
    );
    b(
        "fn k(o: &mut [f32]) { let x = std::mem::size_of::<f32>(); }",
        "`std::mem::size_of` is not supported in kernels",
        "std",
    );
    b(
        "fn k(o: &mut [f32]) { let c = 'a'; }",
        "`char` is not supported",
        "'a'",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o[0]?; }",
        "mismatched types (`?` applies to an `Option` in kernels): expected `Option<_>`",
        "o[0]",
    );
    b(
        "fn k(o: &mut [f32]) { sync_threads(1); }",
        "`sync_threads()` takes no arguments",
        "(1)",
    );
    b(
        "fn k(o: &mut [f32]) { let t = thread_idx(1); }",
        "takes no arguments",
        "1)",
    );
}

#[test]
fn type_errors_at_macro_time() {
    b(
        "fn k(o: &mut [f32]) { let x: u32 = 1.5; }",
        "mismatched types: expected `u32`, found `{float}`",
        "1.5",
    );
    b(
        "fn k(o: &mut [f32], n: u32) { o[n] = 1.0; }",
        "indices are `usize`, found `u32`: write `[i as usize]`",
        "n]",
    );
    b(
        "fn k(o: &mut [f32], n: u32) { o[0] = o[1] + n; }",
        "mismatched types in `+` (convert with `as`): expected `f32`, found `u32`",
        "n; }",
    );
    b(
        "fn k(o: &mut [f32]) { if o[0] { } }",
        "in condition: expected `bool`, found `f32`",
        "o[0] {",
    );
    b(
        "fn k(o: &mut [u8]) { o[0] = 256; }",
        "literal `256` does not fit in `u8`",
        "256",
    );
    b(
        "fn k(o: &mut [u32]) { o[0] = -1; }",
        "cannot negate an unsigned `u32`",
        "-1",
    );
    b(
        "fn k(o: &mut [i32]) { o[0] = 2.5f32.count_ones() as i32; }",
        "`.count_ones()` needs an integer, found `f32`",
        "2.5f32",
    );
    b(
        "fn k(o: &mut [u32]) { o[0] = o[1].sqrt(); }",
        "`.sqrt()` needs a float (`f32`/`f64`), found `u32`",
        "o[1]",
    );
    b(
        "fn k(o: &mut [u32]) { o[0] = o[1].abs(); }",
        "needs a signed integer or a float, found `u32`",
        "o[1].abs",
    );
    b(
        "fn k(o: &mut [bool]) { o[0] = 1 as bool; }",
        "cannot cast `i32` to `bool`",
        "1 as",
    );
    b(
        "fn k(o: &[f32]) { o[0] = 1.0; }",
        "it is a `&[T]` parameter; take `&mut [T]`",
        "o[0]",
    );
    b(
        "fn k(o: &mut [f32]) { let x = 1.0; x = 2.0; o[0] = x; }",
        "declare it with `let mut x`",
        "x = 2.0",
    );
    b(
        "fn k(o: &mut [f32], a: f32) { a = 2.0; }",
        "declare it `mut a`",
        "a = 2.0",
    );
    b(
        "fn k(o: &mut [f32]) { o = 2.0; }",
        "cannot assign a whole slice",
        "o = ",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o; }",
        "can only be indexed",
        "o; }",
    );
    b(
        "fn k(o: &mut [f32]) { let x = thread_idx().w; }",
        "no field `w` on type `Dim3`; its fields are: x, y, z",
        "w;",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o[0].y; }",
        "`f32` has no field `y`",
        "y;",
    );
    b(
        "fn k(o: &mut [f32]) { let x = o[0][1]; }",
        "cannot index a value of type `f32`",
        "o[0][",
    );
}

#[test]
fn literals_meeting_unknown_types_are_not_defaulted_at_macro_time() {
    let errs = kernel_errors(
        "fn k(o: &mut [u64], p: Particle) { o[0] = helper(3_000_000_000, -1) + p.big * 5_000_000_000; }",
        batch(),
    );
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn infinite_types_are_errors_not_crashes() {
    b(
        "fn k(o: &mut [f32]) { let mut a; a = [a]; }",
        "mismatched types in assignment",
        "[a]",
    );
}

#[test]
fn several_errors_are_reported_together() {
    let errs = kernel_errors(
        "fn k<T>(o: &mut [f32]) -> u32 { unsafe { } let c = |x| x; let d = c; }",
        batch(),
    );
    // generic, return type (two spans), `unsafe`, a closure used as a value
    assert_eq!(errs.len(), 5, "{errs:#?}");
}

#[test]
fn device_fn_rules() {
    let dev = |src: &str| -> Vec<String> {
        match crate::frontend::analyze_device_fn(&parse(src)) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    };
    assert!(dev("fn lerp(a: f32, b: f32, t: f32) -> f32 { a + (b - a) * t }").is_empty());
    assert!(dev("const fn sq(x: u32) -> u32 { x * x }").is_empty());
    assert!(dev("fn nothing(x: u32) { let _ = x; }").is_empty());
    let e = dev("fn f(x: &[f32]) -> f32 { x[0] }");
    assert!(e[0].contains("slices are only kernel parameters"), "{e:?}");
    assert!(dev("fn f(x: &mut Particle, y: &u32) { x.mass += *y as f32; }").is_empty());
    let e = dev("fn f<T>(x: T) -> T { x }");
    assert!(e[0].contains("`T` needs a bound"), "{e:?}");
    assert!(dev("fn f<T: Float>(x: T) -> T { x.max(T::ZERO) }").is_empty());
    let e = dev("fn f(x: f32) { return x; }");
    assert!(e[0].contains("this function has no return type"), "{e:?}");
    let e = dev("fn f(x: f32) -> f32 { return; }");
    assert!(e[0].contains("write `return value;`"), "{e:?}");
}
