//! Views of the launch's dynamic shared memory: `let buf =
//! dynamic_shared::<T>();` in a batch kernel's function declares one view
//! ([`crate::ir::DynamicShared`]); the binding then names
//! [`PlaceRoot::DynamicShared`](crate::ir::PlaceRoot::DynamicShared).
//!
//! Like a shared array, the binding is not a value: it can be indexed
//! (`buf[i]`, also as an atomic's place), asked for `.len()` (the launch's
//! shared bytes over the element size), and nothing else. Ring kernels
//! have no launch to size the memory, so only batch kernels declare views.

use syn::spanned::Spanned;

use super::shared::strip_type;
use super::{Binding, Lowerer, SharedMem};
use crate::frontend::hir::HDynamicShared;
use crate::frontend::signature::FnRole;
use crate::frontend::types::TyVar;

/// How a view of dynamic shared memory is declared, for messages.
const DECLARE: &str = "declare a view of dynamic shared memory with `let name = \
                       dynamic_shared::<T>();` in the kernel function";

impl Lowerer<'_, '_, '_> {
    /// Why `dynamic_shared` cannot be called in this function at all: a
    /// `#[device]` fn or a ring kernel.
    fn dynamic_shared_role_error(&self) -> Option<String> {
        match self.role {
            FnRole::Device => Some(format!(
                "`dynamic_shared` cannot be called in a `#[device]` fn: {DECLARE}, and pass its \
                 elements to the helper"
            )),
            _ if self.role.is_ring() => Some(
                "`dynamic_shared` cannot be used in a ring kernel: a ring kernel has no launch \
                 to size dynamic shared memory (`Launch::shared_bytes`); declare a fixed-size \
                 array with `let name = shared_array::<T, N>();`"
                    .to_string(),
            ),
            FnRole::Kernel(_) => None,
        }
    }

    /// `dynamic_shared` called anywhere but as a `let` initializer in a
    /// batch kernel's function.
    pub(super) fn misplaced_dynamic_shared(&mut self, path: &syn::ExprPath) {
        let msg = self
            .dynamic_shared_role_error()
            .unwrap_or_else(|| format!("`dynamic_shared` can only initialize a `let`: {DECLARE}"));
        self.error(path, msg);
    }

    /// `let name = dynamic_shared::<T>();` (or `let name: &mut [T] =
    /// dynamic_shared();`): records the view and binds `name` to it.
    pub(super) fn dynamic_shared_let(
        &mut self,
        l: &syn::Local,
        call: &syn::ExprCall,
        path: &syn::ExprPath,
    ) {
        if let Some(msg) = self.dynamic_shared_role_error() {
            self.error(call, msg);
            return;
        }
        let Some((name, annotation)) = self.shared_binding(
            l,
            &format!("bind a view of dynamic shared memory to a plain name: {DECLARE}"),
        ) else {
            return;
        };
        if !call.args.is_empty() {
            self.error(
                &call.args,
                "`dynamic_shared` takes no arguments: its size is the launch's \
                 `Launch::shared_bytes`; write the element type as `dynamic_shared::<T>()`",
            );
            return;
        }
        let Some(elem) = self.dynamic_shared_elem(path, annotation) else {
            return;
        };
        if !self.shared_elem_ok(elem, call, "dynamic shared memory elements", "view it as") {
            return;
        }
        let span = call.span();
        let src_span = self.src_span(span);
        self.dynamic_shared.push(HDynamicShared {
            name: name.to_string(),
            elem,
            span,
            src_span,
        });
        let id = (self.dynamic_shared.len() - 1) as u32;
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .push((name.to_string(), Binding::Shared(SharedMem::Dynamic(id))));
    }

    /// The element type from the turbofish and/or the `let`'s annotation
    /// (which must agree).
    fn dynamic_shared_elem(
        &mut self,
        path: &syn::ExprPath,
        annotation: Option<&syn::Type>,
    ) -> Option<TyVar> {
        let last = path.path.segments.last()?;
        let turbofish = match &last.arguments {
            syn::PathArguments::None => None,
            syn::PathArguments::AngleBracketed(args) => {
                let parts: Vec<&syn::GenericArgument> = args.args.iter().collect();
                let [syn::GenericArgument::Type(elem)] = parts.as_slice() else {
                    self.error(
                        args,
                        "`dynamic_shared` takes one type argument, the element type: \
                         `dynamic_shared::<f32>()`",
                    );
                    return None;
                };
                Some(elem)
            }
            syn::PathArguments::Parenthesized(p) => {
                self.error(p, "write `dynamic_shared::<T>()`");
                return None;
            }
        };
        let annotated = match annotation {
            None => None,
            Some(t) => match mut_slice_ref(t) {
                Some(elem) => Some(elem),
                None => {
                    self.error(
                        t,
                        "a view of dynamic shared memory has type `&mut [T]` (e.g. `let buf: \
                         &mut [f32] = dynamic_shared();`)",
                    );
                    return None;
                }
            },
        };
        let mut found: Option<TyVar> = None;
        for elem in turbofish.into_iter().chain(annotated) {
            let v = self.resolve_type(elem)?;
            match found {
                None => found = Some(v),
                Some(f) => {
                    if self.types().unify(f, v).is_err() {
                        self.error(
                            annotation,
                            "this annotation does not match the `dynamic_shared::<T>` \
                             turbofish: write the type once",
                        );
                        return None;
                    }
                }
            }
        }
        if found.is_none() {
            self.error(path, "write the element type: `dynamic_shared::<f32>()`");
        }
        found
    }
}

/// `T` of `&mut [T]`.
fn mut_slice_ref(t: &syn::Type) -> Option<&syn::Type> {
    match strip_type(t) {
        syn::Type::Reference(r) if r.mutability.is_some() => match strip_type(&r.elem) {
            syn::Type::Slice(s) => Some(&s.elem),
            _ => None,
        },
        _ => None,
    }
}
