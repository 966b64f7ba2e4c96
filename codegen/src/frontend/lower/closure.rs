//! Closures that do not escape: `let f = |a: u32, b| a * k + b;`, then
//! `f(x, y)`. Each call is the closure's body inlined where it is called:
//! the arguments are evaluated in order into its parameters, and the body
//! sees the names of the place where the closure was written, not those of
//! the call — a later `let k = …` does not change what `k` means inside.
//! What it captures it uses in place (Rust's capture by reference: the
//! borrow checker keeps those variables from changing while the closure
//! lives); a `move` closure captures copies made where it is written,
//! which its calls read and write.
//!
//! A closure passed to a `#[device]` fn's closure parameter (`f: impl
//! Fn(u32) -> u32`) makes an instantiation of that fn for the closure
//! (see `LinkEnv::closure_instance`). There the closure is bound to the
//! parameter's name, and each call of it inlines its body as above, with
//! the names, constants and source lines of the function that wrote it.
//! What it captures is passed as hidden parameters appended to the fn's
//! own (see `closure_param::Capture`): by value when the variable cannot change while the
//! closure lives (not `mut`, or copied by `move`), by `&mut` when it is a
//! `mut` variable the closure borrows (an `FnMut` changes it through
//! that), and a slice parameter as the slice itself (a hidden slice
//! parameter of the instantiation, lent by an `ExprKind::Borrow` of the
//! caller's).

use syn::spanned::Spanned;

use super::{Binding, Lowerer};
use crate::frontend::closure_param::Origin;
use crate::frontend::hir::HExpr;
use crate::frontend::signature::value_type;

/// A closure bound by `let`, by index into `Lowerer::closures`.
#[derive(Clone)]
pub(super) struct Closure {
    pub expr: syn::ExprClosure,
    /// The scopes where it was written (with the copies a `move` closure
    /// captured in place of the names they copy); for a closure passed
    /// from another function, its captures as hidden parameters.
    pub scopes: Vec<Vec<(String, Binding)>>,
    /// For a closure passed from another function: where it was written.
    pub origin: Option<Origin>,
    /// Whether its body was lowered once (at macro time a closure passed
    /// to a function is checked once).
    pub checked: bool,
}

impl Lowerer<'_, '_, '_> {
    /// `let f = |..| ..;`: binds the closure; `false` when `l` is no such
    /// `let`.
    pub(super) fn closure_let(&mut self, l: &syn::Local) -> bool {
        let Some(init) = &l.init else { return false };
        let syn::Expr::Closure(c) = super::stmt::strip(&init.expr) else {
            return false;
        };
        if init.diverge.is_some() {
            return false;
        }
        let name = match &l.pat {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.to_string(),
            p => {
                self.error(p, "bind a closure to a name: `let f = |x| …;`");
                return true;
            }
        };
        let Some(id) = self.bind_closure(c) else {
            return true;
        };
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .push((name, Binding::Closure(id)));
        true
    }

    /// Makes closure `c` (making a `move` closure's copies here); `None`
    /// after an error.
    pub(super) fn bind_closure(&mut self, c: &syn::ExprClosure) -> Option<u32> {
        if let Some(bad) = unsupported_in_closure(c) {
            self.error(bad.0, bad.1);
            return None;
        }
        let mut scopes = self.scopes.clone();
        if c.capture.is_some() {
            // `move`: copies of what it names, made here.
            let mut copies = Vec::new();
            for ident in idents(quote::ToTokens::to_token_stream(&c.body)) {
                if copies.iter().any(|(n, _)| *n == ident) {
                    continue;
                }
                if let Some(Binding::Local(id)) = self.lookup(&ident) {
                    let span = c.span();
                    let v = self.load_local(id, span);
                    let ty = v.ty;
                    let tmp = self.temp(ty, span);
                    self.push_let(tmp, Some(v), span);
                    copies.push((ident, Binding::Local(tmp)));
                }
            }
            scopes.push(copies);
        }
        self.closures.push(Closure {
            expr: c.clone(),
            scopes,
            origin: None,
            checked: false,
        });
        Some((self.closures.len() - 1) as u32)
    }

    /// `f(args)` of closure `id`: its body, inlined.
    pub(super) fn call_closure(&mut self, id: u32, c: &syn::ExprCall) -> HExpr {
        let span = c.span();
        let n = self.closures[id as usize].expr.inputs.len();
        if n != c.args.len() {
            self.error(
                &c.args,
                format!("this closure takes {n} argument(s), {} given", c.args.len()),
            );
            return self.error_expr(span);
        }
        let args = self.operands(&c.args);
        self.inline_closure(id, args)
    }

    /// The body of closure `id` for `args`, inlined here.
    pub(super) fn inline_closure(&mut self, id: u32, args: Vec<HExpr>) -> HExpr {
        self.closures[id as usize].checked = true;
        let clo = self.closures[id as usize].clone();
        let outer = std::mem::replace(&mut self.scopes, clo.scopes);
        // A closure from another function means that function's names,
        // constants and lines; its errors are reported there.
        let saved = clo.origin.as_ref().map(|o| self.enter_origin(o));
        let mark = self.errors.len();
        self.scopes.push(Vec::new());
        for (pat, arg) in clo.expr.inputs.iter().zip(args) {
            self.bind_arg(pat, arg);
        }
        let v = match &*clo.expr.body {
            syn::Expr::Block(b) if b.label.is_none() => self.block_value(&b.block),
            e => self.expr(e),
        };
        if let syn::ReturnType::Type(_, t) = &clo.expr.output {
            match value_type(&mut self.type_cx(), t) {
                Ok(want) => {
                    self.expect_ty(want, v.ty, v.span, " (the closure's return type)");
                }
                Err(e) => self.errors.push(e),
            }
        }
        if let (Some(saved), Some(origin)) = (saved, &clo.origin) {
            self.leave_origin(saved);
            let owner = origin.owner;
            let moved = self.errors.split_off(mark);
            self.foreign_errors
                .extend(moved.into_iter().map(|e| (owner, e)));
        }
        self.scopes = outer;
        v
    }

    /// Binds a closure parameter `pat` to the argument `arg`.
    fn bind_arg(&mut self, pat: &syn::Pat, arg: HExpr) {
        let (pat, ty) = match pat {
            syn::Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
            p => (p, None),
        };
        if let Some(t) = ty {
            match value_type(&mut self.type_cx(), t) {
                Ok(want) => {
                    self.expect_ty(want, arg.ty, arg.span, " (the closure's parameter type)");
                }
                Err(e) => self.errors.push(e),
            }
        }
        if let syn::Pat::Ident(p) = pat {
            if p.by_ref.is_none() && p.subpat.is_none() {
                let (ty, span) = (arg.ty, arg.span);
                let id = self.declare_local(p.ident.to_string(), ty, p.mutability.is_some(), span);
                self.push_let(id, Some(arg), span);
                return;
            }
        }
        let subject = self.subject_of_value(arg);
        let tested = self.pattern(pat, &subject);
        if tested.cond.is_some() {
            self.error(pat, "a closure parameter's pattern must always match");
        }
        self.bind(tested.binds);
    }
}

/// Names in a token stream.
pub(super) fn idents(tokens: proc_macro2::TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            proc_macro2::TokenTree::Ident(i) => out.push(i.to_string()),
            proc_macro2::TokenTree::Group(g) => out.extend(idents(g.stream())),
            _ => {}
        }
    }
    out
}

/// What a kernel closure cannot hold: `return` (it would leave the
/// closure, which inlining cannot express) and `async`.
fn unsupported_in_closure(
    c: &syn::ExprClosure,
) -> Option<(proc_macro2::TokenStream, &'static str)> {
    use syn::visit::Visit;
    struct Finder(Option<proc_macro2::TokenStream>);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_expr_return(&mut self, r: &'ast syn::ExprReturn) {
            if self.0.is_none() {
                self.0 = Some(quote::ToTokens::to_token_stream(r));
            }
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    if c.asyncness.is_some() {
        return Some((
            quote::ToTokens::to_token_stream(c),
            "async closures are not supported in kernels",
        ));
    }
    let mut f = Finder(None);
    f.visit_expr(&c.body);
    f.0.map(|t| {
        (
            t,
            "`return` inside a kernel closure is not supported: make the value the closure's \
             last expression (an `if`/`else` or `match` can choose it)",
        )
    })
}
