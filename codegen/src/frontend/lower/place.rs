//! Places: locals, parameters, the ring state, block-shared memory, and the
//! field and index projections on them; field access and indexing on
//! computed values.

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;

use super::stmt::strip;
use super::{Binding, Lowerer, SharedMem};
use crate::frontend::hir::{HExpr, HExprKind, HParamKind, HPlace, HProj};
use crate::frontend::types::{Shape, TyVar};
use crate::ir::{FaultSite, ParamId, PlaceRoot, Scalar, SiteId};

/// What a path, field or index expression denotes.
#[derive(Clone)]
pub(super) enum Access {
    /// A memory location; `text` spells it for fault messages (`p.hist`).
    /// `bare_state` marks the ring state reference itself (`state`, not
    /// `*state` or `state.field`).
    Place {
        place: HPlace,
        text: String,
        bare_state: bool,
    },
    /// A slice parameter, not yet indexed.
    Slice { param: ParamId, text: String },
    /// A sub-slice (`&x[a..b]`), by index into `Lowerer::views`.
    View { view: u32, text: String },
    /// Block-shared memory (`let tile = shared_array::<T, N>()`, `let buf =
    /// dynamic_shared::<T>()`), not yet indexed.
    Shared { mem: SharedMem, text: String },
    /// A computed value.
    Value(HExpr),
}

impl Lowerer<'_, '_, '_> {
    /// Lowers a path, field, index or deref expression.
    pub(super) fn access(&mut self, e: &syn::Expr) -> Access {
        match e {
            syn::Expr::Paren(p) => self.access(&p.expr),
            syn::Expr::Group(g) => self.access(&g.expr),
            syn::Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                let ident = p.path.get_ident().expect("checked");
                match self.lookup(&ident.to_string()) {
                    Some(Binding::Closure(_) | Binding::ClosureParam(_)) => {
                        self.error(
                            p,
                            format!(
                                "`{ident}` is a closure: kernels call it (`{ident}(x)`) or pass \
                                 it to a `#[device] fn` parameter `f: impl Fn(..)` \
                                 (`apply({ident}, x)`); it cannot be stored, returned or used as \
                                 a value"
                            ),
                        );
                        Access::Value(self.error_expr(p.span()))
                    }
                    Some(b) => self.binding_access(b, ident.to_string()),
                    None => Access::Value(self.path_value(p)),
                }
            }
            syn::Expr::Path(p) => Access::Value(self.path_value(p)),
            syn::Expr::Field(f) => self.field_access(f),
            syn::Expr::Index(ix) => self.index_access(ix),
            syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => self.deref_access(u),
            _ => Access::Value(self.expr(e)),
        }
    }

    fn binding_access(&mut self, b: Binding, name: String) -> Access {
        let (root, ty, bare_state) = match b {
            Binding::Shared(mem) => return Access::Shared { mem, text: name },
            Binding::View(view) => return Access::View { view, text: name },
            Binding::Closure(_) | Binding::ClosureParam(_) => {
                unreachable!("`access` reports a closure used as a value")
            }
            Binding::Alias(id) => {
                // An `&mut` item: a reference, read and written through `*`.
                return Access::Place {
                    place: self.aliases[id as usize].clone(),
                    text: name,
                    bare_state: true,
                };
            }
            Binding::Local(id) => (PlaceRoot::Local(id), self.locals[id as usize].ty, false),
            Binding::Param(id) => match self.params[id as usize].kind {
                HParamKind::Slice { .. } => {
                    return Access::Slice {
                        param: id,
                        text: name,
                    }
                }
                HParamKind::StateRef(t) | HParamKind::Ref(t) => {
                    // A captured variable passed by reference is named bare.
                    let bare = !self.captured_vars.contains(&id);
                    (PlaceRoot::Param(id), t, bare)
                }
                HParamKind::Value(t) | HParamKind::MsgRef(t) => (PlaceRoot::Param(id), t, false),
            },
        };
        Access::Place {
            place: HPlace {
                root,
                proj: Vec::new(),
                ty,
            },
            text: name,
            bare_state,
        }
    }

    fn deref_access(&mut self, u: &syn::ExprUnary) -> Access {
        if let syn::Expr::Path(p) = strip(&u.expr) {
            if let Some(ident) = p.path.get_ident() {
                // `*tile` names the shared memory itself (`(*tile)[i]`).
                if let Some(Binding::Shared(mem)) = self.lookup(&ident.to_string()) {
                    return Access::Shared {
                        mem,
                        text: ident.to_string(),
                    };
                }
                match self.lookup(&ident.to_string()) {
                    Some(Binding::Alias(id)) => {
                        return Access::Place {
                            place: self.aliases[id as usize].clone(),
                            text: ident.to_string(),
                            bare_state: false,
                        }
                    }
                    // A reference item of an iteration, or an `Option`'s value
                    // bound from `x.get(i)`: kernels hold them as copies
                    // (rustc has checked that `*` applies).
                    Some(Binding::Local(id)) => {
                        let ty = self.locals[id as usize].ty;
                        return Access::Place {
                            place: super::stmt::local_place(id, ty),
                            text: ident.to_string(),
                            bare_state: false,
                        };
                    }
                    _ => {}
                }
                if let Some(Binding::Param(id)) = self.lookup(&ident.to_string()) {
                    if let HParamKind::StateRef(ty) | HParamKind::MsgRef(ty) | HParamKind::Ref(ty) =
                        self.params[id as usize].kind
                    {
                        return Access::Place {
                            place: HPlace {
                                root: PlaceRoot::Param(id),
                                proj: Vec::new(),
                                ty,
                            },
                            text: ident.to_string(),
                            bare_state: false,
                        };
                    }
                }
            }
        }
        if let syn::Expr::MethodCall(m) = strip(&u.expr) {
            if matches!(
                m.method.to_string().as_str(),
                "unwrap_or" | "unwrap" | "expect"
            ) {
                // The value of an `Option<&T>` (`*x.iter().max().unwrap_or(&0)`):
                // kernels hold it as a copy, so `*` reads it (rustc has checked
                // that `*` applies), and the call says what is not supported.
                return Access::Value(self.expr(&u.expr));
            }
        }
        self.error(
            u,
            "`*` only applies to references: the ring state (`*state`), a message taken as \
             `&M` (`*msg`), a `&T` / `&mut T` parameter (`*self`), a shared array \
             (`(*tile)[i]`) and the items of `.iter()` / `.iter_mut()` (`*v`)",
        );
        Access::Value(self.error_expr(u.span()))
    }

    fn field_access(&mut self, f: &syn::ExprField) -> Access {
        let name = match &f.member {
            syn::Member::Named(n) => n.to_string(),
            syn::Member::Unnamed(i) => i.index.to_string(),
        };
        match self.access(&f.base) {
            Access::Place {
                mut place, text, ..
            } => {
                let Some((index, ty)) = self.field_of(place.ty, &name, f.member.span()) else {
                    return Access::Value(self.error_expr(f.span()));
                };
                place.proj.push(HProj::Field(index));
                place.ty = ty;
                Access::Place {
                    place,
                    text: format!("{text}.{name}"),
                    bare_state: false,
                }
            }
            Access::Slice { text, .. } => self.no_fields(f, &text, "a slice", &name),
            Access::View { text, .. } => self.no_fields(f, &text, "a sub-slice", &name),
            Access::Shared { mem, text } => self.no_fields(f, &text, mem.what(), &name),
            Access::Value(v) => {
                if matches!(v.kind, HExprKind::Error) {
                    return Access::Value(v);
                }
                let Some((index, ty)) = self.field_of(v.ty, &name, f.member.span()) else {
                    return Access::Value(self.error_expr(f.span()));
                };
                Access::Value(HExpr {
                    kind: HExprKind::Field(Box::new(v), index),
                    ty,
                    span: f.span(),
                })
            }
        }
    }

    fn no_fields(&mut self, f: &syn::ExprField, text: &str, what: &str, name: &str) -> Access {
        self.error(
            &f.member,
            format!("`{text}` is {what} and has no fields: index it first (`{text}[i].{name}`)"),
        );
        Access::Value(self.error_expr(f.span()))
    }

    /// The index and type of field `name` (`0`, `1`, … for a tuple) of a
    /// value of type `ty`.
    pub(super) fn field_of(&mut self, ty: TyVar, name: &str, span: Span) -> Option<(u32, TyVar)> {
        let positional = name.parse::<u32>().ok();
        match (self.types().shape(ty), positional) {
            (Some(Shape::Tuple(key)), Some(i)) => {
                let elems = self.types().tuple_elems(key);
                if let Some(t) = elems.get(i as usize) {
                    return Some((i, *t));
                }
                let (n, t) = (elems.len(), self.types().describe(ty));
                self.error_at(
                    span,
                    format!("no field `{i}` on the tuple `{t}`: it has {n} element(s)"),
                );
                None
            }
            (Some(Shape::Struct(_) | Shape::Generic(..)), None) => {
                let Some(fields) = self.fields_of_type(ty, span).ok()? else {
                    // A DeviceType at macro time: its fields are unknown.
                    return Some((0, self.types().fresh_external()));
                };
                if let Some(i) = fields.iter().position(|f| f.name == name) {
                    return Some((i as u32, fields[i].ty));
                }
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                let sname = self.types().describe(ty);
                let msg = if names.is_empty() {
                    format!("`{sname}` is an enum and has no fields")
                } else {
                    format!(
                        "no field `{name}` on type `{sname}`; its fields are: {}",
                        names.join(", ")
                    )
                };
                self.error_at(span, msg);
                None
            }
            (Some(_), _) => {
                let t = self.types().describe(ty);
                self.error_at(span, format!("`{t}` has no field `{name}`"));
                None
            }
            (None, _) => self.unknown_type(span, &format!("accessing `.{name}`")),
        }
    }

    /// A value whose type is not known where its shape is needed: an error
    /// at link time, an unknown (external) type at macro time.
    pub(super) fn unknown_type(&mut self, span: Span, doing: &str) -> Option<(u32, TyVar)> {
        if self.cx.env.is_link() {
            self.error_at(
                span,
                format!(
                    "type annotations needed: the type of this value must be known before {doing}"
                ),
            );
            return None;
        }
        Some((0, self.types().fresh_external()))
    }

    /// Element `index` of a slice parameter or shared memory (`root`),
    /// with its own fault site named after `text`.
    fn element(
        &mut self,
        root: PlaceRoot,
        elem: TyVar,
        text: &str,
        index: HExpr,
        span: Span,
    ) -> Access {
        let site = self.site(text, span);
        let place = HPlace {
            root,
            proj: vec![HProj::Index {
                index: Box::new(index),
                site,
            }],
            ty: elem,
        };
        Access::Place {
            place,
            text: format!("{text}[..]"),
            bare_state: false,
        }
    }

    fn index_access(&mut self, ix: &syn::ExprIndex) -> Access {
        let base = self.access(&ix.expr);
        if let syn::Expr::Range(r) = strip(&ix.index) {
            return self.sub_slice(base, r, &ix.expr, ix.span());
        }
        let mark = self.stmts.len();
        let index = self.expr(&ix.index);
        self.index_into(base, index, mark, &ix.expr, ix.span())
    }

    /// Element `index` of `base` (the access `base_expr` made); `mark` is
    /// the statement count before the index was lowered.
    pub(super) fn index_into(
        &mut self,
        base: Access,
        index: HExpr,
        mark: usize,
        base_expr: &syn::Expr,
        span: Span,
    ) -> Access {
        let hoisted = self.stmts.len() != mark;
        let usize_ty = self.types().scalar(Scalar::Usize);
        if self.types().unify(usize_ty, index.ty).is_err() {
            let t = self.types().describe(index.ty);
            self.error_at(
                index.span,
                format!("indices are `usize`, found `{t}`: write `[i as usize]`"),
            );
        }
        let (mut place, text) = match base {
            Access::View { view, text } => {
                return self.view_element(view, &text, index, base_expr, span)
            }
            Access::Slice { param, text } => {
                let HParamKind::Slice { elem, .. } = self.params[param as usize].kind else {
                    unreachable!("Access::Slice names a slice parameter")
                };
                return self.element(PlaceRoot::Param(param), elem, &text, index, span);
            }
            Access::Shared { mem, text } => {
                let (root, elem) = match mem {
                    SharedMem::Array(id) => (PlaceRoot::Shared(id), self.shared[id as usize].elem),
                    SharedMem::Dynamic(id) => (
                        PlaceRoot::DynamicShared(id),
                        self.dynamic_shared[id as usize].elem,
                    ),
                };
                return self.element(root, elem, &text, index, span);
            }
            Access::Place {
                mut place, text, ..
            } => {
                if hoisted {
                    // The index needed statements: evaluate the earlier
                    // indices of this place before them, as Rust does.
                    self.spill_indices(&mut place, mark, span);
                }
                (place, text)
            }
            Access::Value(v) => {
                if matches!(v.kind, HExprKind::Error) {
                    return Access::Value(v);
                }
                // An rvalue array: store it in a temporary, then index that.
                let text = tokens_text(base_expr);
                // It is evaluated before the index (and its statements).
                let ty = v.ty;
                let tmp = self.temp_at(mark, v, span);
                (super::stmt::local_place(tmp, ty), text)
            }
        };
        let elem = match self.types().shape(place.ty) {
            Some(Shape::Array(elem, _)) => elem,
            Some(_) => {
                let t = self.types().describe(place.ty);
                self.error(
                    base_expr,
                    format!(
                        "cannot index a value of type `{t}`: only arrays and slices can be indexed"
                    ),
                );
                return Access::Value(self.error_expr(span));
            }
            None => match self.unknown_type(base_expr.span(), "indexing it") {
                Some((_, t)) => t,
                None => return Access::Value(self.error_expr(span)),
            },
        };
        let site = self.site(&text, span);
        place.proj.push(HProj::Index {
            index: Box::new(index),
            site,
        });
        place.ty = elem;
        Access::Place {
            place,
            text: format!("{text}[..]"),
            bare_state: false,
        }
    }

    /// Moves the index expressions of `place` into temporaries declared at
    /// statement `mark`, before statements a later operand needed.
    pub(super) fn spill_indices(&mut self, place: &mut HPlace, mark: usize, span: Span) {
        let mut at = mark;
        for p in place.proj.iter_mut() {
            if let HProj::Index { index, .. } = p {
                let before = self.stmts.len();
                let old = std::mem::replace(&mut **index, self.error_expr(span));
                **index = self.spill_at(at, old);
                at += self.stmts.len() - before;
            }
        }
    }

    /// Whether `place` is rooted in a `&mut` parameter of a device fn.
    fn is_param_ref(&self, place: &HPlace) -> bool {
        matches!(place.root, PlaceRoot::Param(id)
            if matches!(self.params[id as usize].kind, HParamKind::Ref(_)))
    }

    /// A new fault site naming `what`.
    pub(super) fn site(&mut self, what: &str, span: Span) -> SiteId {
        let span = self.src_span(span);
        self.cx.sites.push(FaultSite {
            what: what.to_string(),
            function: self.fn_name.clone(),
            span,
        });
        (self.cx.sites.len() - 1) as SiteId
    }

    /// Reads a path, field, index or deref expression.
    pub(super) fn access_value(&mut self, e: &syn::Expr) -> HExpr {
        let a = self.access(e);
        self.access_into_value(a, e)
    }

    /// The value of `a`, the access `e` made.
    pub(super) fn access_into_value(&mut self, a: Access, e: &syn::Expr) -> HExpr {
        match a {
            Access::Place {
                place,
                text,
                bare_state,
            } => {
                if bare_state {
                    let what = if self.role.is_ring() && !self.is_param_ref(&place) {
                        "a reference to the actor state: write `*{t}` to copy the state"
                    } else {
                        "a `&mut` reference: write `*{t}` to copy the value"
                    };
                    let what = what.replace("{t}", &text);
                    self.error(
                        e,
                        format!("`{text}` is {what}, or `{text}.field` to read a field"),
                    );
                    return self.error_expr(e.span());
                }
                let ty = place.ty;
                HExpr {
                    kind: HExprKind::Load(place),
                    ty,
                    span: e.span(),
                }
            }
            Access::Slice { text, .. } => {
                self.error(
                    e,
                    format!(
                        "a slice parameter can only be indexed (`{text}[i]`) or asked for its \
                         length (`{text}.len()`)"
                    ),
                );
                self.error_expr(e.span())
            }
            Access::Shared { mem, text } => {
                self.error(e, whole_shared(mem, &text));
                self.error_expr(e.span())
            }
            Access::View { text, .. } => {
                self.error(
                    e,
                    format!(
                        "`{text}` is a sub-slice: index it (`w[i]` of `let w = &{text};`), \
                         iterate it (`for v in &{text}`) or ask for its length; it cannot be \
                         copied, passed to a function or returned"
                    ),
                );
                self.error_expr(e.span())
            }
            Access::Value(v) => v,
        }
    }

    /// The place an assignment writes, after checking it may be written.
    pub(super) fn place_for_write(&mut self, e: &syn::Expr) -> Option<HPlace> {
        let a = self.access(e);
        self.writable(a, e)
    }

    /// The place of `a` (the access `e` made), after checking it may be
    /// written.
    pub(super) fn writable(&mut self, a: Access, e: &syn::Expr) -> Option<HPlace> {
        match a {
            Access::Place {
                place,
                text,
                bare_state,
            } => {
                if bare_state {
                    self.error(
                        e,
                        format!("assign the state through the reference: `*{text} = value;`"),
                    );
                    return None;
                }
                let problem = match place.root {
                    PlaceRoot::Local(id) => {
                        let l = &self.locals[id as usize];
                        (!l.mutable && !self.is_deferred_init(id)).then(|| {
                            format!(
                                "cannot assign to `{text}`: `{}` is not mutable; declare it with \
                                 `let mut {}`",
                                l.name, l.name
                            )
                        })
                    }
                    PlaceRoot::Shared(_) | PlaceRoot::DynamicShared(_) => None,
                    PlaceRoot::Param(id) => {
                        let p = &self.params[id as usize];
                        match p.kind {
                            HParamKind::StateRef(_) | HParamKind::Ref(_) => None,
                            HParamKind::Slice { mutable: true, .. } => None,
                            HParamKind::Slice { mutable: false, .. } => Some(format!(
                                "cannot write to `{}`: it is a `&[T]` parameter; take \
                                 `&mut [T]` to write to it",
                                p.name
                            )),
                            HParamKind::MsgRef(_) if self.role.is_ring() => Some(format!(
                                "cannot assign to `{text}`: the message is read-only; copy it \
                                 into a `let mut` first"
                            )),
                            HParamKind::MsgRef(_) => Some(format!(
                                "cannot assign to `{text}`: `{}` is a `&` reference; take \
                                 `&mut` to change it",
                                p.name
                            )),
                            HParamKind::Value(_) if p.mutable => None,
                            HParamKind::Value(_) => Some(format!(
                                "cannot assign to `{text}`: parameter `{}` is not mutable; \
                                 declare it `mut {}`",
                                p.name, p.name
                            )),
                        }
                    }
                };
                if let Some(msg) = problem {
                    self.error(e, msg);
                    return None;
                }
                Some(place)
            }
            Access::Slice { text, .. } | Access::View { text, .. } => {
                self.error(
                    e,
                    format!("cannot assign a whole slice: assign its elements (`{text}[i] = v`)"),
                );
                None
            }
            Access::Shared { mem, text } => {
                let what = mem.what();
                self.error(
                    e,
                    format!(
                        "cannot assign to `{text}`: it names {what}; assign its elements \
                         (`{text}[i] = v`)"
                    ),
                );
                None
            }
            Access::Value(v) => {
                if !matches!(v.kind, HExprKind::Error) {
                    self.error(e, "this expression is not a place that can be assigned to");
                }
                None
            }
        }
    }
}

/// Why shared memory cannot be used as a whole value.
fn whole_shared(mem: SharedMem, text: &str) -> String {
    let what = mem.what();
    format!(
        "`{text}` is {what}: use its elements (`{text}[i]`) or `{text}.len()`; it cannot be \
         copied, passed to a function or returned as a whole (copy the elements you need into a \
         local array)"
    )
}

/// Source text of an expression for messages, without the token spacing
/// `to_string` adds (`[5.0 , 6.0]` → `[5.0, 6.0]`).
pub(super) fn tokens_text(e: &syn::Expr) -> String {
    let mut text = e.to_token_stream().to_string();
    for (from, to) in [
        (" ,", ","),
        (" . ", "."),
        (" (", "("),
        ("( ", "("),
        (" )", ")"),
        (" [", "["),
        ("[ ", "["),
        (" ]", "]"),
    ] {
        text = text.replace(from, to);
    }
    text
}
