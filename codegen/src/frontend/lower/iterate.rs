//! Iteration over arrays, slices and block-shared memory: `for v in arr`,
//! `for v in x.iter()`, `for &v in &x`, `for (i, v) in x.iter().enumerate()`,
//! `for v in y.iter_mut()` (and `.rev()`, `.copied()`), and
//! `x.iter().sum()` / `.product()` / `.min()` / `.max()`.
//!
//! Each is an indexed loop `for k in 0..len` whose element access is an
//! ordinary index projection, so it carries the same bounds check as
//! `x[k]`. What Rust evaluates once is evaluated once: the indices of the
//! iterated place before the loop, and an array iterated by value is
//! copied first when the body could change it (Rust iterates a copy).

use proc_macro2::Span;
use syn::spanned::Spanned;

use super::place::Access;
use super::stmt::{binary, local_place, strip};
use super::{Binding, Lowerer};
use crate::frontend::hir::{HBlock, HExpr, HExprKind, HLit, HPlace, HProj, HStmtKind};
use crate::frontend::signature::value_type;
use crate::frontend::types::{Kind, Shape, TyVar};
use crate::ir::{BinOp, Intrinsic, LocalId, LoopId, Scalar};

/// How an iteration hands out its items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Items {
    /// Copies (`for v in arr` over an array, `.copied()`).
    Value,
    /// `&T` (`.iter()`, `&x`, a `&[T]` slice): a copy the body may also
    /// dereference (`*v`), which is what reading through the reference
    /// gives while the borrow forbids changes.
    Ref,
    /// `&mut T` (`.iter_mut()`, `&mut x`, a `&mut [T]` slice, shared
    /// memory): the binding names the element itself.
    Mut,
    /// Decided by the iterated thing: arrays give values, slices and
    /// shared memory references.
    Natural,
}

/// A `for` loop's iterator over a collection, taken apart (syntax only).
struct Iteration<'e> {
    base: &'e syn::Expr,
    items: Items,
    enumerate: bool,
    rev: bool,
    /// `.enumerate().rev()`: the count is the element's index (with
    /// `.rev().enumerate()` it counts iterations).
    count_elements: bool,
}

/// Takes apart `x`, `&x`, `&mut x`, `x.iter()`, `x.iter_mut()`,
/// `x.into_iter()`, followed by any of `.copied()`/`.cloned()`, `.rev()`,
/// `.enumerate()`. `None` for a range (and anything with a range inside),
/// which `for_range` handles.
fn iteration(e: &syn::Expr) -> Option<Iteration<'_>> {
    let mut e = strip(e);
    let (mut enumerate, mut rev, mut copied) = (false, false, false);
    let mut count_elements = false;
    while let syn::Expr::MethodCall(m) = e {
        if !m.args.is_empty() || m.turbofish.is_some() {
            break;
        }
        match m.method.to_string().as_str() {
            "enumerate" if !enumerate && !copied => {
                enumerate = true;
                count_elements = rev;
            }
            "rev" if !rev => rev = true,
            "copied" | "cloned" if !copied => copied = true,
            _ => break,
        }
        e = strip(&m.receiver);
    }
    let (base, items) = match e {
        syn::Expr::Range(_) => return None,
        syn::Expr::MethodCall(m) if m.args.is_empty() && m.turbofish.is_none() => {
            match m.method.to_string().as_str() {
                "iter" => (&*m.receiver, Items::Ref),
                "iter_mut" => (&*m.receiver, Items::Mut),
                "into_iter" => (&*m.receiver, Items::Natural),
                _ if contains_range(e) => return None,
                _ => (e, Items::Natural),
            }
        }
        syn::Expr::Reference(r) if r.mutability.is_some() => (&*r.expr, Items::Mut),
        syn::Expr::Reference(r) => (&*r.expr, Items::Ref),
        _ if contains_range(e) => return None,
        _ => (e, Items::Natural),
    };
    let items = if copied { Items::Value } else { items };
    Some(Iteration {
        base: strip(base),
        items,
        enumerate,
        rev,
        count_elements,
    })
}

/// The first std iterator adapter kernels do not lower in a method chain
/// (`x.iter().skip(1)`).
fn unsupported_adapter(e: &syn::Expr) -> Option<&syn::Ident> {
    const ADAPTERS: &[&str] = &[
        "skip",
        "take",
        "zip",
        "map",
        "filter",
        "chain",
        "windows",
        "chunks",
        "cycle",
        "skip_while",
        "take_while",
        "flat_map",
        "filter_map",
        "peekable",
        "scan",
        "inspect",
        "fuse",
        "by_ref",
        "chunks_exact",
    ];
    match strip(e) {
        syn::Expr::MethodCall(m) => unsupported_adapter(&m.receiver).or_else(|| {
            let name = m.method.to_string();
            ADAPTERS.contains(&name.as_str()).then_some(&m.method)
        }),
        _ => None,
    }
}

/// Whether a method chain holds `.iter()`, `.iter_mut()` or `.into_iter()`.
fn iterates(e: &syn::Expr) -> bool {
    match strip(e) {
        syn::Expr::MethodCall(m) => {
            matches!(
                m.method.to_string().as_str(),
                "iter" | "iter_mut" | "into_iter"
            ) || iterates(&m.receiver)
        }
        _ => false,
    }
}

/// Whether a method chain starts at a range (`(a..b).step_by(2)`).
fn contains_range(e: &syn::Expr) -> bool {
    match strip(e) {
        syn::Expr::Range(_) => true,
        syn::Expr::MethodCall(m) => contains_range(&m.receiver),
        _ => false,
    }
}

/// The name a place expression starts from (`p` in `p.vals[2]`).
fn root_ident(e: &syn::Expr) -> Option<String> {
    match strip(e) {
        syn::Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
        syn::Expr::Field(f) => root_ident(&f.base),
        syn::Expr::Index(ix) => root_ident(&ix.expr),
        syn::Expr::Unary(u) => root_ident(&u.expr),
        _ => None,
    }
}

/// Whether `name` occurs as an identifier anywhere in `tokens`.
fn mentions(tokens: proc_macro2::TokenStream, name: &str) -> bool {
    tokens.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(i) => i == name,
        proc_macro2::TokenTree::Group(g) => mentions(g.stream(), name),
        _ => false,
    })
}

/// A collection ready to be indexed by a loop.
struct Source {
    access: Access,
    len: HExpr,
    items: Items,
}

impl Lowerer<'_, '_, '_> {
    /// `for pat in <collection>`; `false` when `f` iterates a range.
    pub(super) fn for_each(&mut self, f: &syn::ExprForLoop) -> bool {
        if let Some(adapter) = unsupported_adapter(&f.expr) {
            self.error(
                adapter,
                format!(
                    "`{adapter}` is not supported in a kernel's `for` loop: loops iterate over \
                     integer ranges (`a..b`, `(a..b).step_by(s)`, `.rev()`) and over arrays, \
                     slices and shared arrays (`x`, `x.iter()`, `x.iter_mut()`, \
                     `.enumerate()`, `.rev()`); index for anything else (`for i in 1..x.len()`)"
                ),
            );
            return true;
        }
        let Some(it) = iteration(&f.expr) else {
            return false;
        };
        let span = f.for_token.span;
        let Some(src) = self.source(&it, Some(&f.body), span) else {
            return true;
        };
        let usize_ty = self.types().scalar(Scalar::Usize);
        let id = self.new_loop(f.label.as_ref());
        let var = self.temp(usize_ty, span);
        let len = src.len.clone();
        let body = self.nested(|l| {
            let index = l.item_index(var, &len, it.rev, span);
            let elem = l.index_into(src.access.clone(), index, l.stmts.len(), it.base, span);
            let item_pat = if it.enumerate {
                let Some((ipat, vpat)) = enumerate_pattern(&f.pat) else {
                    l.error(
                        &f.pat,
                        "`.enumerate()` gives pairs: bind them with a tuple pattern \
                         `for (i, v) in …`",
                    );
                    return;
                };
                let count = l.item_index(var, &len, it.count_elements, span);
                let subject = l.subject_of_value(count);
                let tested = l.pattern(ipat, &subject);
                if tested.cond.is_some() {
                    l.error(ipat, "a `for` pattern must always match");
                }
                l.bind(tested.binds);
                vpat
            } else {
                &*f.pat
            };
            l.bind_item(item_pat, elem, src.items, it.base);
            let inner = l.nested(|l| l.block_stmts(&f.body));
            l.push(HStmtKind::Block(inner), span);
        });
        self.loops.pop();
        self.push_index_loop(id, var, src.len, body, span);
        true
    }

    /// `for var in 0..len { body }`: the indexed loop `id` an iteration is
    /// lowered to.
    fn push_index_loop(&mut self, id: LoopId, var: LocalId, len: HExpr, body: HBlock, span: Span) {
        let start = HExpr {
            kind: HExprKind::Lit(HLit::Int(0)),
            ty: self.types().scalar(Scalar::Usize),
            span,
        };
        self.push(
            HStmtKind::For {
                id,
                var,
                start,
                end: len,
                inclusive: false,
                step: None,
                body,
            },
            span,
        );
    }

    /// The element index of iteration `var`: `var`, or `len - 1 - var`
    /// when reversed.
    fn item_index(&mut self, var: LocalId, len: &HExpr, rev: bool, span: Span) -> HExpr {
        let k = self.load_local(var, span);
        if !rev {
            return k;
        }
        let ty = k.ty;
        let one = HExpr {
            kind: HExprKind::Lit(HLit::Int(1)),
            ty,
            span,
        };
        let last = binary(BinOp::Sub, len.clone(), one, ty, span);
        binary(BinOp::Sub, last, k, ty, span)
    }

    /// Evaluates the iterated collection once, before the loop. `body`
    /// is the loop body that may change a by-value array.
    fn source(&mut self, it: &Iteration, body: Option<&syn::Block>, span: Span) -> Option<Source> {
        let mut access = self.access(it.base);
        let items = match (&access, it.items) {
            (Access::Value(v), _) if matches!(v.kind, HExprKind::Error) => return None,
            (Access::Slice { param, .. }, Items::Natural) => {
                match self.params[*param as usize].kind {
                    crate::frontend::hir::HParamKind::Slice { mutable: true, .. } => Items::Mut,
                    _ => Items::Ref,
                }
            }
            (Access::Shared { .. }, Items::Natural) => Items::Mut,
            (Access::View { view, .. }, Items::Natural) => {
                if self.view_mutable(*view) {
                    Items::Mut
                } else {
                    Items::Ref
                }
            }
            (_, Items::Natural) => Items::Value,
            (_, items) => items,
        };
        let len = self.length(access.clone(), it.base.span(), span);
        access = match access {
            Access::Value(v) => {
                // An array rvalue: evaluate it once, into a temporary.
                let ty = v.ty;
                let tmp = self.temp(ty, span);
                self.push_let(tmp, Some(v), span);
                Access::Place {
                    place: local_place(tmp, ty),
                    text: super::place::tokens_text(it.base),
                    bare_state: false,
                }
            }
            Access::Place {
                mut place,
                text,
                bare_state,
            } => {
                let changes = body.is_some_and(|b| {
                    root_ident(it.base)
                        .is_none_or(|r| mentions(quote::ToTokens::to_token_stream(b), &r))
                });
                let indexed = place.proj.iter().any(|p| matches!(p, HProj::Index { .. }));
                if items == Items::Value && (changes || indexed) {
                    // Rust iterates a copy of the array.
                    let ty = place.ty;
                    let v = HExpr {
                        kind: HExprKind::Load(place),
                        ty,
                        span,
                    };
                    let tmp = self.temp(ty, span);
                    self.push_let(tmp, Some(v), span);
                    place = local_place(tmp, ty);
                } else {
                    // The place's indices are evaluated once.
                    let mark = self.stmts.len();
                    self.spill_indices(&mut place, mark, span);
                }
                Access::Place {
                    place,
                    text,
                    bare_state: bare_state && items == Items::Mut,
                }
            }
            other => other,
        };
        Some(Source { access, len, items })
    }

    /// Binds the item `elem` (an element access) to `pat`.
    fn bind_item(&mut self, pat: &syn::Pat, elem: Access, items: Items, base: &syn::Expr) {
        if items == Items::Mut {
            let name = match pat {
                syn::Pat::Ident(p)
                    if p.by_ref.is_none() && p.subpat.is_none() && p.mutability.is_none() =>
                {
                    p.ident.to_string()
                }
                syn::Pat::Wild(_) => return,
                _ => {
                    self.error(
                        pat,
                        "items of `iter_mut()` (and of `&mut` slices and shared arrays) bind to \
                         a name (`for v in y.iter_mut()`), then `*v = …`; to read them as \
                         values iterate `.iter()`",
                    );
                    return;
                }
            };
            let Access::Place { place, .. } = elem else {
                return;
            };
            self.alias(name, place);
            return;
        }
        // `&T` items are copies (`*v` reads them): `for &v in x.iter()`
        // binds the same copy.
        let pat = match (pat, items) {
            (syn::Pat::Reference(r), Items::Ref) if r.mutability.is_none() => &*r.pat,
            (p, _) => p,
        };
        let v = self.access_into_value(elem, base);
        if let syn::Pat::Ident(p) = pat {
            if p.by_ref.is_none() && p.subpat.is_none() {
                let (ty, span) = (v.ty, v.span);
                let id = self.declare_local(p.ident.to_string(), ty, p.mutability.is_some(), span);
                self.push_let(id, Some(v), span);
                return;
            }
        }
        let subject = self.subject_of_value(v);
        let tested = self.pattern(pat, &subject);
        if tested.cond.is_some() {
            self.error(pat, "a `for` pattern must always match");
        }
        self.bind(tested.binds);
    }

    /// Declares `name` as another name for `place` (an `&mut` item).
    fn alias(&mut self, name: String, place: HPlace) {
        self.aliases.push(place);
        let id = (self.aliases.len() - 1) as u32;
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .push((name, Binding::Alias(id)));
    }

    /// `x.iter().sum()`, `.product()` (also with `.copied()` and a
    /// turbofish), `.min()` and `.max()`; `None` when `m` is no such call.
    pub(super) fn iter_fold(&mut self, m: &syn::ExprMethodCall) -> Option<HExpr> {
        let op = match m.method.to_string().as_str() {
            "sum" => Some(BinOp::Add),
            "product" => Some(BinOp::Mul),
            // `min` / `max`.
            "min" | "max" if m.turbofish.is_none() => None,
            _ => return None,
        };
        if !m.args.is_empty() || !matches!(strip(&m.receiver), syn::Expr::MethodCall(_)) {
            return None;
        }
        if let Some(adapter) = unsupported_adapter(&m.receiver).filter(|_| iterates(&m.receiver)) {
            let name = &m.method;
            self.error(
                adapter,
                format!(
                    "`{adapter}` is not supported before `.{name}()` in kernels: `.sum()`, \
                     `.product()`, `.min()` and `.max()` take the items of `x.iter()` \
                     (`.copied()`, `.rev()`); write a `for` loop for anything else"
                ),
            );
            return Some(self.error_expr(m.span()));
        }
        let it = iteration(&m.receiver)?;
        if it.items == Items::Natural {
            return None;
        }
        if it.enumerate {
            let name = &m.method;
            self.error(
                name,
                format!(
                    "`.{name}()` of `.enumerate()` is not supported in kernels: write a `for` \
                     loop (`for (i, v) in x.iter().enumerate()`)"
                ),
            );
            return Some(self.error_expr(m.span()));
        }
        if op.is_none() && it.items == Items::Mut {
            // An `Option<&mut T>` would write through to the element.
            let name = &m.method;
            self.error(
                name,
                format!(
                    "`.{name}()` of `iter_mut()` is not supported in kernels: take it of \
                     `.iter()` (`x.iter().{name}()`), and write to the element by index"
                ),
            );
            return Some(self.error_expr(m.span()));
        }
        let Some(op) = op else {
            return Some(self.iter_extreme(m, &it));
        };
        let span = m.span();
        let src = self.source(&it, None, span)?;
        let usize_ty = self.types().scalar(Scalar::Usize);
        let id = self.new_loop(None);
        let var = self.temp(usize_ty, span);
        let len = src.len.clone();
        // Rust's float sum starts at -0.0 (so `[-0.0].sum()` is -0.0) and
        // its product at 1.0; the integer ones at 0 and 1.
        let mut acc = 0;
        let body = self.nested(|l| {
            // In the iteration's order: float sums round by it.
            let index = l.item_index(var, &len, it.rev, span);
            let elem = l.index_into(src.access.clone(), index, l.stmts.len(), it.base, span);
            let v = l.access_into_value(elem, it.base);
            let ty = v.ty;
            acc = l.temp(ty, span);
            l.push(
                HStmtKind::CompoundAssign {
                    place: local_place(acc, ty),
                    op,
                    value: v,
                },
                span,
            );
        });
        self.loops.pop();
        let ty = self.locals[acc as usize].ty;
        if let Some(syn::GenericArgument::Type(t)) =
            m.turbofish.as_ref().and_then(|t| t.args.first())
        {
            match value_type(&mut self.type_cx(), t) {
                Ok(want) => {
                    self.expect_ty(want, ty, t.span(), " (`sum`/`product` give the item type)");
                }
                Err(e) => self.errors.push(e),
            }
        }
        // `-0.0 as T` and `1.0 as T` are those for every numeric `T`.
        let f64_ty = self.types().scalar(Scalar::F64);
        let unit = HExpr {
            kind: HExprKind::Lit(HLit::Float(if op == BinOp::Add { -0.0 } else { 1.0 })),
            ty: f64_ty,
            span,
        };
        let init = HExpr {
            kind: HExprKind::Cast(Box::new(unit)),
            ty,
            span,
        };
        self.push_let(acc, Some(init), span);
        self.push_index_loop(id, var, src.len, body, span);
        Some(self.load_local(acc, span))
    }

    /// `x.iter().min()` / `.max()` (and `.copied()`, `.rev()`) of integer
    /// items: `None` for no items, else `Some` of the least (greatest)
    /// item. An `Option<&T>` is held as the `Option<T>` of its value, as
    /// `x.get(i)` is; for integers, which of equal items Rust returns
    /// (the first least, the last greatest) does not show.
    fn iter_extreme(&mut self, m: &syn::ExprMethodCall, it: &Iteration) -> HExpr {
        let span = m.span();
        let name = m.method.to_string();
        let which = if name == "min" {
            Intrinsic::Min
        } else {
            Intrinsic::Max
        };
        let Some(src) = self.source(it, None, span) else {
            return self.error_expr(span);
        };
        let usize_ty = self.types().scalar(Scalar::Usize);
        let bool_ty = self.types().scalar(Scalar::Bool);
        let id = self.new_loop(None);
        let var = self.temp(usize_ty, span);
        let found = self.temp(bool_ty, span);
        let len = src.len.clone();
        let mut best = 0;
        // for k in 0..len { let v = x[k]; if found { best = best.max(v) }
        //                   else { best = v; found = true } }
        let body = self.nested(|l| {
            let index = l.item_index(var, &len, false, span);
            let elem = l.index_into(src.access.clone(), index, l.stmts.len(), it.base, span);
            let v = l.access_into_value(elem, it.base);
            let ty = v.ty;
            best = l.temp(ty, span);
            let item = l.temp(ty, span);
            l.push_let(item, Some(v), span);
            let then_block = l.nested(|l| {
                let a = l.load_local(best, span);
                let b = l.load_local(item, span);
                let value = HExpr {
                    kind: HExprKind::Intrinsic(which, vec![a, b]),
                    ty,
                    span,
                };
                l.push(
                    HStmtKind::Assign {
                        place: local_place(best, ty),
                        value,
                    },
                    span,
                );
            });
            let else_block = l.nested(|l| {
                let value = l.load_local(item, span);
                l.push(
                    HStmtKind::Assign {
                        place: local_place(best, ty),
                        value,
                    },
                    span,
                );
                let yes = HExpr {
                    kind: HExprKind::Lit(HLit::Bool(true)),
                    ty: bool_ty,
                    span,
                };
                l.push(
                    HStmtKind::Assign {
                        place: local_place(found, bool_ty),
                        value: yes,
                    },
                    span,
                );
            });
            let cond = l.load_local(found, span);
            l.push(
                HStmtKind::If {
                    cond,
                    then_block,
                    else_block,
                },
                span,
            );
        });
        self.loops.pop();
        let ty = self.locals[best as usize].ty;
        if !self.ordered_items(ty, &m.method, it.base) {
            return self.error_expr(span);
        }
        let no = HExpr {
            kind: HExprKind::Lit(HLit::Bool(false)),
            ty: bool_ty,
            span,
        };
        self.push_let(found, Some(no), span);
        // Like `None`'s, the value of no items is a zero.
        let zero = HExpr {
            kind: HExprKind::Zero,
            ty,
            span,
        };
        self.push_let(best, Some(zero), span);
        self.push_index_loop(id, var, src.len, body, span);
        let is_some = self.load_local(found, span);
        let value = self.load_local(best, span);
        let ty = self.types().known(Shape::Option(ty));
        HExpr {
            kind: HExprKind::StructLit(vec![is_some, value]),
            ty,
            span,
        }
    }

    /// Whether items of type `ty` have the order `.min()` / `.max()`
    /// (`method`) of an iteration over `base` need: kernels give it to
    /// integers; floats are not `Ord` in Rust. Reports why not.
    fn ordered_items(&mut self, ty: TyVar, method: &syn::Ident, base: &syn::Expr) -> bool {
        // Macro time, a type only the linker knows: checked when linked.
        if self.types().shape(ty).is_none() && self.types().is_external(ty) {
            return true;
        }
        let float = match self.types().scalar_of(ty) {
            Some(s) if s.is_float() => Some(s),
            _ if self.types().open_kind(ty) == Some(Kind::Float) => {
                Some(self.types().default_scalar(ty).unwrap_or(Scalar::F64))
            }
            _ => None,
        };
        if let Some(f) = float {
            let f = f.rust_name();
            let x = super::place::tokens_text(base);
            let (start, pick) = if method == "min" {
                ("INFINITY", "min")
            } else {
                ("NEG_INFINITY", "max")
            };
            self.error(
                method,
                format!(
                    "`.{method}()` of an iterator needs `Ord` items, and `f32`/`f64` are not \
                     `Ord` in Rust (NaN has no place in their order): write a loop, `let mut m \
                     = {f}::{start}; for &v in {x}.iter() {{ m = m.{pick}(v); }}` \
                     (`{f}::{pick}` ignores NaNs)"
                ),
            );
            return false;
        }
        if self.types().require_kind(ty, Kind::Int).is_ok() {
            return true;
        }
        let t = self.types().describe(ty);
        self.error(
            method,
            format!(
                "kernels support `.{method}()` of an iterator over integer items, found `{t}` \
                 items: write a loop"
            ),
        );
        false
    }
}

/// `(i, v)` (possibly parenthesized or typed) as its two parts.
fn enumerate_pattern(p: &syn::Pat) -> Option<(&syn::Pat, &syn::Pat)> {
    match p {
        syn::Pat::Paren(p) => enumerate_pattern(&p.pat),
        syn::Pat::Tuple(t) if t.elems.len() == 2 => Some((&t.elems[0], &t.elems[1])),
        _ => None,
    }
}
