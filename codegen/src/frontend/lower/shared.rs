//! Block-shared arrays: `let tile = shared_array::<T, N>();` in the kernel
//! function declares one array per block ([`crate::ir::SharedArray`]); the
//! binding then names [`PlaceRoot::Shared`](crate::ir::PlaceRoot::Shared).
//!
//! The binding is not a value: it can be indexed (`tile[i]`, also as an
//! atomic's place), asked for `.len()`, and nothing else, so the array never
//! needs an address at run time.

use syn::spanned::Spanned;

use super::{Binding, Lowerer, SharedMem};
use crate::frontend::hir::HShared;
use crate::frontend::signature::{array_len, value_type, ArrayLen, FnRole};
use crate::frontend::types::{Shape, TyVar};
use crate::ir::MAX_SHARED_BYTES;

/// How a shared array is declared, for messages.
pub(super) const DECLARE: &str =
    "declare shared arrays with `let name = shared_array::<T, N>();` in the kernel function";

/// The element type and length a declaration writes (turbofish or
/// annotation).
struct Written {
    elem: TyVar,
    len: ArrayLen,
}

impl Lowerer<'_, '_, '_> {
    /// The name (and type annotation) a shared-memory `let` binds; a pattern
    /// other than a plain name is the error `msg`.
    pub(super) fn shared_binding<'l>(
        &mut self,
        l: &'l syn::Local,
        msg: &str,
    ) -> Option<(syn::Ident, Option<&'l syn::Type>)> {
        let (pat, annotation) = match &l.pat {
            syn::Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
            p => (p, None),
        };
        match pat {
            syn::Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                Some((p.ident.clone(), annotation))
            }
            _ => {
                self.error(pat, msg);
                None
            }
        }
    }

    /// Whether `elem` may be the element of shared memory (a scalar or a
    /// struct); otherwise reports it on `call`: "`what` are scalars or
    /// DeviceType structs, … for a 2-D tile `tile_hint` `rows * cols`
    /// elements …".
    pub(super) fn shared_elem_ok(
        &mut self,
        elem: TyVar,
        call: &syn::ExprCall,
        what: &str,
        tile_hint: &str,
    ) -> bool {
        match self.types().shape(elem) {
            Some(Shape::Scalar(_) | Shape::Struct(_) | Shape::Generic(..)) | None => true,
            Some(_) => {
                let t = self.types().describe(elem);
                self.error(
                    call,
                    format!(
                        "{what} are scalars or DeviceType structs, found `{t}`: for a 2-D tile \
                         {tile_hint} `rows * cols` elements and index it `[r * cols + c]`"
                    ),
                );
                false
            }
        }
    }

    /// `shared_array` called anywhere but as a `let` initializer in the
    /// kernel function.
    pub(super) fn misplaced_shared_array(&mut self, path: &syn::ExprPath) {
        let msg = match self.role {
            FnRole::Device => format!(
                "`shared_array` cannot be called in a `#[device]` fn: {DECLARE}, and pass its \
                 elements to the helper"
            ),
            FnRole::Kernel(_) => format!("`shared_array` can only initialize a `let`: {DECLARE}"),
        };
        self.error(path, msg);
    }

    /// `let name = shared_array::<T, N>();` (or `let name: &mut [T; N] =
    /// shared_array();`): records the array and binds `name` to it.
    pub(super) fn shared_let(
        &mut self,
        l: &syn::Local,
        call: &syn::ExprCall,
        path: &syn::ExprPath,
    ) {
        if matches!(self.role, FnRole::Device) {
            self.misplaced_shared_array(path);
            return;
        }
        let Some((name, annotation)) = self.shared_binding(
            l,
            &format!("bind a shared array to a plain name: {DECLARE}"),
        ) else {
            return;
        };
        if !call.args.is_empty() {
            self.error(
                &call.args,
                "`shared_array` takes no arguments: write the element type and length as \
                 `shared_array::<T, N>()`",
            );
            return;
        }
        let Some(w) = self.shared_type(path, annotation) else {
            return;
        };
        let span = call.span();
        if !self.shared_elem_ok(
            w.elem,
            call,
            "shared array elements",
            "declare one array of",
        ) {
            return;
        }
        let len = match w.len {
            ArrayLen::Known(0) => {
                self.error(call, "a shared array needs at least one element");
                return;
            }
            ArrayLen::Known(n) => Some(n),
            ArrayLen::External => None,
        };
        let src_span = self.src_span(span);
        self.shared.push(HShared {
            name: name.to_string(),
            elem: w.elem,
            len,
            span,
            src_span,
        });
        let id = (self.shared.len() - 1) as u32;
        self.check_shared_bytes(call);
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .push((name.to_string(), Binding::Shared(SharedMem::Array(id))));
    }

    /// The element type and length from the turbofish and/or the `let`'s
    /// annotation (which must agree).
    fn shared_type(
        &mut self,
        path: &syn::ExprPath,
        annotation: Option<&syn::Type>,
    ) -> Option<Written> {
        let last = path.path.segments.last()?;
        let turbofish = match &last.arguments {
            syn::PathArguments::None => None,
            syn::PathArguments::AngleBracketed(args) => {
                let parts: Vec<&syn::GenericArgument> = args.args.iter().collect();
                let [syn::GenericArgument::Type(elem), len] = parts.as_slice() else {
                    self.error(
                        args,
                        "`shared_array` takes an element type and a length: \
                         `shared_array::<f32, 256>()`",
                    );
                    return None;
                };
                Some((elem, len_expr(len)))
            }
            syn::PathArguments::Parenthesized(p) => {
                self.error(p, "write `shared_array::<T, N>()`");
                return None;
            }
        };
        let annotated = match annotation {
            None => None,
            Some(t) => match mut_array_ref(t) {
                Some(parts) => Some(parts),
                None => {
                    self.error(
                        t,
                        "a shared array's type is `&mut [T; N]` (e.g. `let tile: &mut [f32; 256] \
                         = shared_array();`)",
                    );
                    return None;
                }
            },
        };
        let mut found: Option<Written> = None;
        for (elem, len) in turbofish.into_iter().chain(annotated) {
            let elem_var = self.resolve_type(elem)?;
            let len_val = match array_len(&mut self.type_cx(), &len) {
                Ok(n) => n,
                Err(e) => {
                    self.errors.push(e);
                    return None;
                }
            };
            match &found {
                None => {
                    found = Some(Written {
                        elem: elem_var,
                        len: len_val,
                    })
                }
                Some(w) => {
                    let same_len = match (w.len, len_val) {
                        (ArrayLen::Known(a), ArrayLen::Known(b)) => a == b,
                        _ => true,
                    };
                    if self.types().unify(w.elem, elem_var).is_err() || !same_len {
                        self.error(
                            annotation,
                            "this annotation does not match the `shared_array::<T, N>` \
                             turbofish: write the type once",
                        );
                        return None;
                    }
                }
            }
        }
        match found {
            Some(w) => Some(w),
            None => {
                self.error(
                    path,
                    "write the element type and length: `shared_array::<f32, 256>()`",
                );
                None
            }
        }
    }

    pub(super) fn resolve_type(&mut self, t: &syn::Type) -> Option<TyVar> {
        match value_type(&mut self.type_cx(), t) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    /// Reports (at `call`, the declaration that crosses it) when the shared
    /// arrays whose size is known here exceed [`MAX_SHARED_BYTES`]. At macro
    /// time struct sizes are unknown; the linker checks the full total.
    fn check_shared_bytes(&mut self, call: &syn::ExprCall) {
        let known = |a: &HShared| {
            let (s, len) = (self.cx.types.scalar_of(a.elem)?, a.len?);
            let ty = format!("[{}; {len}]", s.rust_name());
            Some((a.name.clone(), ty, s.size() as u64 * len as u64))
        };
        let Some(new) = self.shared.last().and_then(known) else {
            return;
        };
        let sizes: Vec<(String, String, u64)> = self.shared.iter().filter_map(known).collect();
        let total: u64 = sizes.iter().map(|s| s.2).sum();
        // Report once: at the array that crosses the limit.
        let max = MAX_SHARED_BYTES as u64;
        if total > max && total - new.2 <= max {
            let msg = too_many_shared_bytes(&self.fn_name, &sizes);
            self.error(call, msg);
        }
    }
}

/// The message for shared arrays over [`MAX_SHARED_BYTES`]: each array as
/// (name, type, bytes).
pub(in crate::frontend) fn too_many_shared_bytes(
    kernel: &str,
    arrays: &[(String, String, u64)],
) -> String {
    let total: u64 = arrays.iter().map(|a| a.2).sum();
    let list: Vec<String> = arrays
        .iter()
        .map(|(name, ty, bytes)| format!("`{name}`: {ty} = {bytes} bytes"))
        .collect();
    format!(
        "kernel `{kernel}` declares {total} bytes of block-shared arrays ({}), more than the \
         {MAX_SHARED_BYTES} bytes (48 KiB) a kernel can declare: make the arrays smaller, or keep \
         the data in a slice parameter",
        list.join(", ")
    )
}

/// The `N` of `shared_array::<T, N>`: a literal, a `{ N }` block, or a path
/// (which syn parses as a type).
fn len_expr(arg: &syn::GenericArgument) -> syn::Expr {
    match arg {
        syn::GenericArgument::Const(syn::Expr::Block(b)) => match b.block.stmts.as_slice() {
            [syn::Stmt::Expr(e, None)] => e.clone(),
            _ => syn::Expr::Block(b.clone()),
        },
        syn::GenericArgument::Const(e) => e.clone(),
        syn::GenericArgument::Type(syn::Type::Path(p)) if p.qself.is_none() => {
            syn::Expr::Path(syn::ExprPath {
                attrs: Vec::new(),
                qself: None,
                path: p.path.clone(),
            })
        }
        // Anything else is reported by `array_len` as an unsupported length.
        other => syn::Expr::Verbatim(quote::quote!(#other)),
    }
}

/// `T` and `N` of `&mut [T; N]`.
fn mut_array_ref(t: &syn::Type) -> Option<(&syn::Type, syn::Expr)> {
    match strip_type(t) {
        syn::Type::Reference(r) if r.mutability.is_some() => match strip_type(&r.elem) {
            syn::Type::Array(a) => Some((&*a.elem, a.len.clone())),
            _ => None,
        },
        _ => None,
    }
}

pub(super) fn strip_type(t: &syn::Type) -> &syn::Type {
    match t {
        syn::Type::Paren(p) => strip_type(&p.elem),
        syn::Type::Group(g) => strip_type(&g.elem),
        _ => t,
    }
}
