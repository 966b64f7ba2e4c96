//! Rejections of atomics, collectives and shared arrays: each spanned on
//! the offending tokens, saying what to write instead.

use super::*;

fn b(src: &str, msg: &str, at: &str) {
    assert_rejects(src, batch(), msg, at);
}

fn r(src: &str, msg: &str, at: &str) {
    assert_rejects(src, ring(), msg, at);
}

/// Macro-time errors of a `#[device]` fn: (message, line, column) of each.
pub(super) fn device_errors(src: &str) -> Vec<(String, usize, usize)> {
    match crate::frontend::analyze_device_fn(&parse(src)) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .into_iter()
            .map(|e| {
                let s = e.span().start();
                (e.to_string(), s.line, s.column)
            })
            .collect(),
    }
}

#[test]
fn atomics_need_a_place_threads_share() {
    b(
        "fn k(o: &mut [u32]) { let mut c = 0u32; atomic_add(&mut c, 1); o[0] = c; }",
        "`atomic_add` cannot update `c`: `c` is a local variable, private to this thread; \
         atomics work on memory that threads share: an element of a `&mut [T]` parameter \
         (`&mut out[i]`), an element of a shared array (`&mut tile[i]`), or the ring state \
         (`&mut state.count`)",
        "c, 1)",
    );
    b(
        "fn k(o: &mut [u32]) { let mut a = [0u32; 4]; atomic_or(&mut a[1], 1); }",
        "`a` is a local variable",
        "a[1]",
    );
    b(
        "fn k(x: &[u32], o: &mut [u32]) { atomic_add(&mut x[0], 1); }",
        "`atomic_add` cannot update `x[..]`: `x` is a `&[T]` parameter, which is read-only; take \
         `&mut [T]` to update it atomically",
        "x[0]",
    );
    b(
        "fn k(mut n: u32, o: &mut [u32]) { atomic_add(&mut n, 1); }",
        "`n` is a by-value parameter, private to this thread",
        "n, 1",
    );
    r(
        "fn h(state: &mut Tally, msg: Add) -> u32 { atomic_exchange(&mut msg.value, 1.0); 0 }",
        "`atomic_exchange` cannot update `msg.value`: the message is read-only",
        "msg.value",
    );
    b(
        "fn k(o: &mut [u32]) { atomic_add(&mut o, 1); }",
        "`o` is a whole slice: pass one element, `&mut o[i]`",
        "o, 1",
    );
    b(
        "fn k(o: &mut [u32]) { atomic_add(o[0], 1); }",
        "the first argument of `atomic_add` is the place to update: `atomic_add(&mut place, \
         value)`",
        "o[0]",
    );
    b(
        "fn k(o: &mut [u32]) { atomic_add(&o[0], 1); }",
        "`atomic_add` writes to its place: take it with `&mut`",
        "&o[0]",
    );
    b(
        "fn k(o: &mut [u32]) { atomic_add(&mut 5, 1); }",
        "`atomic_add` needs a place to update",
        "5,",
    );
    r(
        "fn h(state: &mut u32, msg: u32) -> u32 { atomic_add(&mut state, msg) }",
        "`state` is already a `&mut` reference: pass it as it is (`atomic_add(state, …)`) or \
         write `&mut *state`",
        "&mut state",
    );
}

#[test]
fn atomics_check_arity_and_types() {
    b(
        "fn k(o: &mut [u32]) { atomic_cas(&mut o[0], 1); }",
        "`atomic_cas` takes 3 arguments (`atomic_cas(&mut place, current, new)`), 2 given",
        "(&mut",
    );
    b(
        "fn k(o: &mut [u32]) { atomic_add(&mut o[0]); }",
        "`atomic_add` takes 2 arguments (`atomic_add(&mut place, value)`), 1 given",
        "(&mut",
    );
    b(
        "fn k(o: &mut [u8]) { atomic_add(&mut o[0], 1); }",
        "`atomic_add` does not work on `u8`: it supports `i32`, `i64`, `isize`, `u32`, `u64`, \
         `usize`, `f32`, `f64` (use a 32- or 64-bit element type, e.g. `u32`)",
        "&mut o[0]",
    );
    b(
        "fn k(o: &mut [f32]) { atomic_min(&mut o[0], 1.0); }",
        "`atomic_min` does not work on `f32`: it supports `i32`, `i64`, `isize`, `u32`, `u64`, \
         `usize` (float atomics are `atomic_add`, `atomic_sub` and `atomic_exchange`)",
        "&mut o[0]",
    );
    b(
        "fn k(o: &mut [u32]) { atomic_add(&mut o[0], 1.5); }",
        "mismatched types in argument of `atomic_add` (the place's type): expected `u32`, found \
         `{float}`",
        "1.5",
    );
    b(
        "fn k(o: &mut [u32]) { atomic_add::<i64>(&mut o[0], 1); }",
        "mismatched types in `atomic_add::<T>`",
        "&mut o[0]",
    );
    // Struct fields are known at link time only.
    let e = try_link(
        "fn h(state: &mut Tally, msg: Add) -> u32 { atomic_add(&mut state.hist, 1); 0 }",
        ring(),
        &[],
        &[&TALLY, &ADD],
    )
    .unwrap_err();
    assert!(
        e.message.contains(
            "`atomic_add` updates one scalar, found `[u32; 8]`: pass a field or an element"
        ),
        "{e}"
    );
}

#[test]
fn collectives_check_arguments() {
    b(
        "fn k(p: Particle, o: &mut [f32]) { let q = warp_shuffle(p, 0); }",
        "`warp_shuffle` moves one scalar, found `Particle`: shuffle a struct or an array one \
         scalar field or element at a time (`warp_shuffle(v.x, …)`)",
        "p, 0",
    );
    b(
        "fn k(o: &mut [f32]) { let a = [1.0f32; 4]; let q = warp_shuffle_xor(a, 1); }",
        "`warp_shuffle_xor` moves one scalar, found `[f32; 4]`",
        "a, 1",
    );
    b(
        "fn k(o: &mut [f32]) { let q = warp_shuffle_down(o[0]); }",
        "`warp_shuffle_down` takes 2 argument(s) (`warp_shuffle_down(v, delta)`), 1 given",
        "(o[0])",
    );
    b(
        "fn k(o: &mut [f32]) { let q = warp_shuffle(o[0], 1.0); }",
        "mismatched types for `src_lane` of `warp_shuffle`: expected `u32`, found `{float}`",
        "1.0",
    );
    b(
        "fn k(o: &mut [f32]) { let q = warp_shuffle(o[0], 1usize); }",
        "expected `u32`, found `usize`",
        "1usize",
    );
    b(
        "fn k(o: &mut [f32]) { let q = warp_shuffle_up_width(o[0], 1); }",
        "`warp_shuffle_up_width` takes 3 argument(s) (`warp_shuffle_up_width(v, delta, width)`), \
         2 given",
        "(o[0], 1)",
    );
    b(
        "fn k(o: &mut [f32]) { let q = warp_shuffle_width(o[0], 1, 8usize); }",
        "mismatched types for `width` of `warp_shuffle_width`: expected `u32`, found `usize`",
        "8usize",
    );
    b(
        "fn k(p: Particle, o: &mut [f32]) { let q = warp_shuffle_xor_width(p, 1, 4); }",
        "`warp_shuffle_xor_width` moves one scalar, found `Particle`",
        "p, 1, 4",
    );
    for (bad, at) in [
        ("0u32", "0u32"),
        ("3u32", "3u32"),
        ("(12)", "12"),
        ("64u32", "64u32"),
    ] {
        let src =
            format!("fn k(o: &mut [f32]) {{ o[0] = warp_shuffle_down_width(o[1], 1, {bad}); }}");
        let want = format!(
            "the width of `warp_shuffle_down_width` must be a power of two from 1 to 32 (the \
             lanes of a segment, as CUDA's `width`), found {}",
            at.trim_end_matches("u32")
        );
        b(&src, &want, at);
    }
    b(
        "fn k(o: &mut [u32]) { o[0] = warp_ballot(o[1]); }",
        "mismatched types in `warp_ballot` (it takes a `bool`): expected `bool`, found `u32`",
        "o[1]",
    );
    b(
        "fn k(o: &mut [u32]) { sync_warp(1); }",
        "`sync_warp()` takes no arguments",
        "(1)",
    );
    b(
        "fn k(o: &mut [u32]) { let t = lane_id(0); }",
        "`lane_id()` takes no arguments",
        "0)",
    );
    b(
        "fn k(o: &mut [u32]) { warp_any::<bool>(true); }",
        "`warp_any` takes no type arguments",
        "warp_any",
    );
}

#[test]
fn shared_arrays_are_declared_by_a_let_in_the_kernel() {
    let errs = device_errors(
        "fn helper(x: f32) -> f32 {\n    let t = shared_array::<f32, 32>();\n    x\n}",
    );
    assert_eq!(
        errs,
        vec![(
            "`shared_array` cannot be called in a `#[device]` fn: declare shared arrays with \
             `let name = shared_array::<T, N>();` in the kernel function, and pass its \
             elements to the helper"
                .to_string(),
            2,
            12
        )]
    );
    b(
        "fn k(o: &mut [f32]) { o[0] = shared_array::<f32, 4>()[0]; }",
        "`shared_array` can only initialize a `let`: declare shared arrays with `let name = \
         shared_array::<T, N>();` in the kernel function",
        "shared_array",
    );
    b(
        "fn k(o: &mut [f32]) { let t; t = shared_array::<f32, 4>(); }",
        "can only initialize a `let`",
        "shared_array",
    );
    b(
        "fn k(o: &mut [f32]) { let [a, b] = shared_array::<f32, 2>(); }",
        "bind a shared array to a plain name",
        "[a, b]",
    );
    b(
        "fn k(o: &mut [f32]) { let t = shared_array(); }",
        "write the element type and length: `shared_array::<f32, 256>()`",
        "shared_array",
    );
    b(
        "fn k(o: &mut [f32]) { let t = shared_array::<f32>(); }",
        "`shared_array` takes an element type and a length",
        "::<f32>",
    );
    b(
        "fn k(o: &mut [f32]) { let t = shared_array::<f32, 4>(8); }",
        "`shared_array` takes no arguments",
        "8)",
    );
    b(
        "fn k(o: &mut [f32]) { let t: [f32; 4] = shared_array::<f32, 4>(); }",
        "a shared array's type is `&mut [T; N]`",
        "[f32; 4] =",
    );
    b(
        "fn k(o: &mut [f32]) { let t: &mut [u32; 4] = shared_array::<f32, 4>(); }",
        "this annotation does not match the `shared_array::<T, N>` turbofish",
        "&mut [u32",
    );
    b(
        "fn k(o: &mut [f32]) { let t = shared_array::<[f32; 4], 8>(); }",
        "shared array elements are scalars or DeviceType structs, found `[f32; 4]`: for a 2-D \
         tile declare one array of `rows * cols` elements and index it `[r * cols + c]`",
        "shared_array",
    );
    b(
        "fn k(o: &mut [f32]) { let t = shared_array::<f32, 0>(); }",
        "a shared array needs at least one element",
        "shared_array",
    );
    b(
        "fn k(o: &mut [f32]) { let t = shared_array::<f32, 4u8>(); }",
        "an array length is a `usize`",
        "4u8",
    );
}

#[test]
fn shared_array_bindings_are_used_by_element_only() {
    let whole = "`tile` is a block-shared array: use its elements (`tile[i]`) or `tile.len()`; it \
                 cannot be copied, passed to a function or returned as a whole (copy the \
                 elements you need into a local array)";
    b(
        "fn k(o: &mut [f32]) { let tile = shared_array::<f32, 4>(); let t2 = tile; }",
        whole,
        "tile; }",
    );
    b(
        "fn k(o: &mut [f32]) { let tile = shared_array::<f32, 4>(); o[0] = sum(tile); }",
        whole,
        "tile); }",
    );
    b(
        "fn k(o: &mut [f32]) { let tile = shared_array::<f32, 4>(); let c = *tile; }",
        whole,
        "*tile",
    );
    b(
        "fn k(o: &mut [f32]) { let tile = shared_array::<f32, 4>(); tile = shared_array::<f32, 4>(); }",
        "cannot assign to `tile`: it names a block-shared array; assign its elements (`tile[i] = \
         v`)",
        "tile = shared_array::<f32, 4>(); }",
    );
    b(
        "fn k(o: &mut [f32]) { let tile = shared_array::<f32, 4>(); *tile = [0.0; 4]; }",
        "cannot assign to `tile`",
        "*tile",
    );
    b(
        "fn k(o: &mut [f32]) { let tile = shared_array::<f32, 4>(); o[0] = tile.x; }",
        "`tile` is a block-shared array and has no fields: index it first (`tile[i].x`)",
        "x; }",
    );
    b(
        "fn k(o: &mut [u32]) { let tile = shared_array::<u32, 4>(); atomic_add(&mut tile, 1); }",
        "`tile` is a block-shared array: pass one of its elements, `&mut tile[i]`",
        "tile, 1",
    );
    b(
        "fn k(o: &mut [u32]) { let tile = shared_array::<u8, 4>(); atomic_add(&mut tile[0], 1); }",
        "`atomic_add` does not work on `u8`",
        "&mut tile[0]",
    );
}

#[test]
fn shared_arrays_and_atomics_leave_annotation_sound() {
    let mut item = parse(
        "fn k(o: &mut [u32]) {
            let tile = shared_array::<u32, 4>();
            let typed: &mut [u32; 2] = shared_array();
            let old = atomic_add(&mut tile[0], 1);
            let lane = lane_id();
            let v = warp_shuffle(old, 0);
            o[0] = old + lane + v + typed[0];
        }",
    );
    crate::frontend::annotate_lets(&mut item, Some(&batch()));
    let out = quote::ToTokens::to_token_stream(&item.block).to_string();
    assert!(out.contains("let tile = shared_array"), "{out}");
    assert!(
        out.contains("let typed : & mut [u32 ; 2] = shared_array"),
        "{out}"
    );
    assert!(out.contains("let old : u32 = atomic_add"), "{out}");
    assert!(out.contains("let lane : u32 = lane_id"), "{out}");
    assert!(out.contains("let v : u32 = warp_shuffle"), "{out}");
}
