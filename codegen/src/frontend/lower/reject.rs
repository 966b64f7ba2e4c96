//! Why constructs outside the subset are rejected, and what to write instead.

/// Why a macro is rejected, and what to write instead.
pub(super) fn macro_message(mac: &syn::Macro) -> String {
    let name = mac
        .path
        .segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default();
    let advice = match name.as_str() {
        "println" | "print" | "eprintln" | "eprint" | "dbg" => {
            "there is no console on the GPU; remove it (write values to an output slice to \
             inspect them)"
        }
        "vec" => "kernels cannot allocate; use a fixed-size array (`[0.0f32; N]`)",
        "todo" | "unimplemented" => {
            "write the code, or `panic!(\"not done yet\")` (a failed assertion stops the \
             thread and the launch reports it)"
        }
        "format" | "write" | "writeln" | "concat" | "stringify" => {
            "strings are not supported in kernels"
        }
        _ => "macros cannot be checked or compiled for the GPU; write the code out",
    };
    format!("`{name}!` is not supported in kernels: {advice}")
}

/// The message for an expression kind outside the subset.
pub(super) fn rejection(e: &syn::Expr) -> &'static str {
    match e {
        syn::Expr::Closure(_) => {
            "closures in kernels are bound by `let` and called (`let f = |x| x * 2; f(3)`), or \
             passed to a `#[device] fn` parameter `f: impl Fn(..)` (`apply(|x| x * 2, 3)`); \
             they cannot be stored, returned, or passed to methods or intrinsics"
        }
        syn::Expr::Reference(_) => {
            "references are not supported here: use values (device fns take their arguments \
             by value); to write through a parameter, index it (`out[i] = v`); `&mut place` \
             is written as an atomic's first argument (`atomic_add(&mut out[i], 1)`) or a \
             `&mut T` argument of a `#[device]` fn, and sub-slices as `let w = &x[a..b];`"
        }
        syn::Expr::RawAddr(_) => "raw pointers are not supported in kernels",
        syn::Expr::Try(_) => "`?` is not supported in kernels: kernels cannot return errors",
        syn::Expr::Range(_) => "ranges are only supported as `for` loop bounds (`for i in a..b`)",
        syn::Expr::Let(_) => {
            "`let` is only supported directly in `if let` and `while let` (let chains are not): \
             nest the `if`s"
        }
        syn::Expr::Async(_) | syn::Expr::Await(_) => "async code is not supported in kernels",
        syn::Expr::Unsafe(_) => "`unsafe` blocks are not supported (nor needed) in kernels",
        syn::Expr::Const(_) => "`const` blocks are not supported in kernels",
        syn::Expr::TryBlock(_) => "`try` blocks are not supported in kernels",
        syn::Expr::Yield(_) => "`yield` is not supported in kernels",
        syn::Expr::Infer(_) => "`_` is not an expression here",
        _ => "this expression is not supported in kernels",
    }
}
