//! Closures that do not escape: `let f = |a: u32, b| a * k + b;`, then
//! `f(x, y)`. Each call is the closure's body inlined where it is called:
//! the arguments are evaluated in order into its parameters, and the body
//! sees the names of the place where the closure was written, not those of
//! the call — a later `let k = …` does not change what `k` means inside.
//! What it captures it uses in place (Rust's capture by reference: the
//! borrow checker keeps those variables from changing while the closure
//! lives); a `move` closure captures copies made where it is written,
//! which its calls read and write.

use syn::spanned::Spanned;

use super::{Binding, Lowerer};
use crate::frontend::hir::HExpr;
use crate::frontend::signature::value_type;

/// A closure bound by `let`, by index into `Lowerer::closures`.
#[derive(Clone)]
pub(super) struct Closure {
    pub expr: syn::ExprClosure,
    /// The scopes where it was written (with the copies a `move` closure
    /// captured in place of the names they copy).
    pub scopes: Vec<Vec<(String, Binding)>>,
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
        if let Some(bad) = unsupported_in_closure(c) {
            self.error(bad.0, bad.1);
            return true;
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
        });
        let id = (self.closures.len() - 1) as u32;
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .push((name, Binding::Closure(id)));
        true
    }

    /// `f(args)` of closure `id`: its body, inlined.
    pub(super) fn call_closure(&mut self, id: u32, c: &syn::ExprCall) -> HExpr {
        let clo = self.closures[id as usize].clone();
        let span = c.span();
        if clo.expr.inputs.len() != c.args.len() {
            let n = clo.expr.inputs.len();
            self.error(
                &c.args,
                format!("this closure takes {n} argument(s), {} given", c.args.len()),
            );
            return self.error_expr(span);
        }
        let args = self.operands(&c.args);
        let outer = std::mem::replace(&mut self.scopes, clo.scopes);
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
fn idents(tokens: proc_macro2::TokenStream) -> Vec<String> {
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
