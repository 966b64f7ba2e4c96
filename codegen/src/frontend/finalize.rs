//! The last step: [`HFn`] → [`ir::Function`] once inference is done. Type
//! variables are resolved (unsuffixed literals default like rustc: `i32`,
//! `f64`), and the checks that need final types run here: operand types
//! of operators and casts, literal ranges, `-` on unsigned types.
//!
//! At macro time (`strict == false`) types that depend on external items
//! are unknown: checks involving them are skipped, and the IR built is
//! thrown away.

use std::cell::RefCell;
use std::collections::HashMap;

use proc_macro2::Span;

use super::anon::StructTable;
use super::hir::*;
use super::lower::method::{intrinsic_domain, Domain};
use super::types::{Shape, StructKey, TyVar, Types};
use crate::ir::*;

pub(super) struct Finalizer<'a> {
    pub types: &'a Types,
    /// Link time: every type must be known.
    pub strict: bool,
    /// The IR type of each named `DeviceType` (a struct's id; an enum's
    /// integer type) (link time).
    pub named: &'a HashMap<StructKey, Ty>,
    /// The struct table, to which tuple and `Option` types are added.
    pub structs: &'a RefCell<StructTable>,
    /// `FnId` of each callee key (link time).
    pub fn_ids: &'a HashMap<CalleeKey, FnId>,
    pub errors: Vec<syn::Error>,
    reported_unknown: bool,
}

impl<'a> Finalizer<'a> {
    pub fn new(
        types: &'a Types,
        strict: bool,
        named: &'a HashMap<StructKey, Ty>,
        structs: &'a RefCell<StructTable>,
        fn_ids: &'a HashMap<CalleeKey, FnId>,
    ) -> Self {
        Finalizer {
            types,
            strict,
            named,
            structs,
            fn_ids,
            errors: Vec::new(),
            reported_unknown: false,
        }
    }

    fn error(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, msg));
    }

    /// The final type of `v`, or `None` when it is unknown (reported at link
    /// time).
    fn resolve(&mut self, v: TyVar, span: Span) -> Option<Ty> {
        let t = self.try_resolve(v);
        if t.is_none() && self.strict && !self.reported_unknown {
            self.reported_unknown = true;
            self.error(
                span,
                "type annotations needed: the type of this expression cannot be inferred; add a \
                 type to the `let` or a suffix to the literal (`0u32`, `1.0f32`)",
            );
        }
        t
    }

    fn try_resolve(&self, v: TyVar) -> Option<Ty> {
        match self.types.shape(v) {
            Some(Shape::Unit) => Some(Ty::Unit),
            Some(Shape::Scalar(s)) => Some(Ty::Scalar(s)),
            Some(Shape::Array(elem, len)) => {
                Some(Ty::Array(Box::new(self.try_resolve(elem)?), len))
            }
            Some(Shape::Struct(k)) => Some(
                self.named
                    .get(&k)
                    .cloned()
                    .unwrap_or(Ty::Struct(StructId::default())),
            ),
            Some(Shape::Generic(k, args)) => {
                let name = self.types.instance_name(k, args)?;
                let found = self
                    .types
                    .find_struct_key(&name)
                    .and_then(|k| self.named.get(&k));
                match found {
                    Some(t) => Some(t.clone()),
                    // Made by the link's struct table; at macro time unknown.
                    None if !self.strict => Some(Ty::Struct(StructId::default())),
                    None => None,
                }
            }
            Some(Shape::Tuple(k)) => {
                let elems = self
                    .types
                    .tuple_elems(k)
                    .iter()
                    .map(|e| self.try_resolve(*e))
                    .collect::<Option<Vec<Ty>>>()?;
                Some(Ty::Struct(self.structs.borrow_mut().tuple(elems)))
            }
            Some(Shape::Option(inner)) => {
                let inner = self.try_resolve(inner)?;
                Some(Ty::Struct(self.structs.borrow_mut().option(inner)))
            }
            // At macro time a literal that meets an external value gets
            // that value's type, which is unknown here.
            None if !self.strict && self.types.is_external(v) => None,
            None => self.types.default_scalar(v).map(Ty::Scalar),
        }
    }

    /// At macro time a named `DeviceType` may be a struct or an enum (an
    /// integer in kernels): checks that depend on which wait for the link.
    fn names_unknown_type(&self, t: &Ty) -> bool {
        !self.strict && matches!(t, Ty::Struct(_))
    }

    fn scalar(&mut self, v: TyVar) -> Option<Scalar> {
        self.try_resolve(v).and_then(|t| t.as_scalar())
    }

    fn describe(&self, v: TyVar) -> String {
        match self.try_resolve(v) {
            Some(Ty::Scalar(s)) => s.rust_name().to_string(),
            _ => self.types.describe(v),
        }
    }

    pub fn function(&mut self, f: &HFn) -> Function {
        let params = f
            .params
            .iter()
            .map(|p| Param {
                name: p.name.clone(),
                kind: match p.kind {
                    HParamKind::Value(t) | HParamKind::MsgRef(t) => {
                        ParamKind::Value(self.resolve(t, p.span).unwrap_or(Ty::Unit))
                    }
                    HParamKind::Slice { elem, mutable } => ParamKind::Slice {
                        elem: self.resolve(elem, p.span).unwrap_or(Ty::Unit),
                        mutable,
                    },
                    HParamKind::StateRef(t) => {
                        ParamKind::StateRef(self.resolve(t, p.span).unwrap_or(Ty::Unit))
                    }
                    HParamKind::Ref(t) => {
                        ParamKind::Ref(self.resolve(t, p.span).unwrap_or(Ty::Unit))
                    }
                },
                mutable: p.mutable,
            })
            .collect();
        let locals = f
            .locals
            .iter()
            .map(|l| {
                let ty = self.try_resolve(l.ty);
                if ty.is_none() && self.strict {
                    self.error(
                        l.span,
                        format!(
                            "type annotations needed for `{}`: write `let {}: T`",
                            l.name, l.name
                        ),
                    );
                }
                if ty == Some(Ty::Unit) {
                    self.error(
                        l.span,
                        format!(
                            "`{}` would hold `()`: that is not a value kernels can store",
                            l.name
                        ),
                    );
                }
                Local {
                    name: l.name.clone(),
                    ty: ty.unwrap_or(Ty::Unit),
                    mutable: l.mutable,
                }
            })
            .collect();
        let ret = self.try_resolve(f.ret).unwrap_or(Ty::Unit);
        Function {
            name: f.name.clone(),
            params,
            ret,
            locals,
            body: self.block(&f.body),
            span: f.span,
        }
    }

    fn block(&mut self, b: &HBlock) -> Block {
        Block {
            stmts: b.iter().map(|s| self.stmt(s)).collect(),
        }
    }

    fn stmt(&mut self, s: &HStmt) -> Stmt {
        let kind = match &s.kind {
            HStmtKind::Let { local, init } => StmtKind::Let {
                local: *local,
                init: init.as_ref().map(|e| self.expr(e)),
            },
            HStmtKind::Assign { place, value } => StmtKind::Assign {
                place: self.place(place),
                value: self.expr(value),
            },
            HStmtKind::CompoundAssign { place, op, value } => {
                self.check_binary(*op, place.ty, value.ty, value.span);
                StmtKind::CompoundAssign {
                    place: self.place(place),
                    op: *op,
                    value: self.expr(value),
                }
            }
            HStmtKind::Expr(e) => StmtKind::Expr(self.expr(e)),
            HStmtKind::If {
                cond,
                then_block,
                else_block,
            } => StmtKind::If {
                cond: self.expr(cond),
                then_block: self.block(then_block),
                else_block: self.block(else_block),
            },
            HStmtKind::While { id, cond, body } => StmtKind::While {
                id: *id,
                cond: self.expr(cond),
                body: self.block(body),
            },
            HStmtKind::Loop { id, body } => StmtKind::Loop {
                id: *id,
                body: self.block(body),
            },
            HStmtKind::For {
                id,
                var,
                start,
                end,
                inclusive,
                step,
                body,
            } => {
                let start_span = start.span;
                let start = self.expr(start);
                let var_ty = start.ty.clone();
                if let Some(s) = var_ty.as_scalar().filter(|s| !s.is_int()) {
                    self.error(
                        start_span,
                        format!(
                            "`for` ranges need an integer type, found `{}`",
                            s.rust_name()
                        ),
                    );
                }
                let step = step.as_ref().map(|s| {
                    let e = self.expr(s);
                    if e.ty == var_ty || var_ty == Ty::Unit {
                        e
                    } else {
                        Expr {
                            kind: ExprKind::Cast(Box::new(e)),
                            ty: var_ty.clone(),
                        }
                    }
                });
                StmtKind::For {
                    id: *id,
                    var: *var,
                    start,
                    end: self.expr(end),
                    inclusive: *inclusive,
                    step,
                    body: self.block(body),
                }
            }
            HStmtKind::Break(id) => StmtKind::Break(*id),
            HStmtKind::Continue(id) => StmtKind::Continue(*id),
            HStmtKind::Return(e) => StmtKind::Return(e.as_ref().map(|e| self.expr(e))),
            HStmtKind::Block(b) => StmtKind::Block(self.block(b)),
        };
        Stmt { kind, span: s.span }
    }

    fn place(&mut self, p: &HPlace) -> Place {
        let proj = p
            .proj
            .iter()
            .map(|pr| match pr {
                HProj::Field(i) => Proj::Field(*i),
                HProj::Index { index, site } => Proj::Index {
                    index: Box::new(self.expr(index)),
                    site: *site,
                },
            })
            .collect();
        Place {
            root: p.root,
            proj,
            ty: self.try_resolve(p.ty).unwrap_or(Ty::Unit),
        }
    }

    fn expr(&mut self, e: &HExpr) -> Expr {
        let ty = self.resolve(e.ty, e.span).unwrap_or(Ty::Unit);
        let kind = match &e.kind {
            HExprKind::Lit(l) => ExprKind::Lit(self.lit(*l, &ty, false, e.span)),
            HExprKind::Load(p) => ExprKind::Load(self.place(p)),
            HExprKind::Unary(op, inner) => return self.unary(*op, inner, ty, e.span),
            HExprKind::Binary(op, l, r) => {
                self.check_binary(*op, l.ty, r.ty, e.span);
                let (l, r) = (self.expr(l), self.expr(r));
                match decided_comparison(*op, &l, &r) {
                    Some(b) => ExprKind::Lit(Lit::Bool(b)),
                    None => ExprKind::Binary(*op, Box::new(l), Box::new(r)),
                }
            }
            HExprKind::Cast(inner) => {
                self.check_cast(inner.ty, e.ty, e.span);
                ExprKind::Cast(Box::new(self.expr(inner)))
            }
            HExprKind::Call(key, args) => ExprKind::Call(
                self.fn_ids.get(key).copied().unwrap_or_default(),
                args.iter().map(|a| self.expr(a)).collect(),
            ),
            HExprKind::Borrow(p) => ExprKind::Borrow(self.place(p)),
            HExprKind::Intrinsic(i, args) => {
                if let Some(recv) = args.first() {
                    self.check_intrinsic(*i, recv.ty, e.span);
                }
                ExprKind::Intrinsic(*i, args.iter().map(|a| self.expr(a)).collect())
            }
            HExprKind::Atomic(a) => {
                self.check_atomic(a.op, a.place.ty, a.place_span);
                ExprKind::Atomic {
                    op: a.op,
                    place: self.place(&a.place),
                    args: a.args.iter().map(|x| self.expr(x)).collect(),
                }
            }
            HExprKind::Collective { op, args, site } => {
                if let (
                    CollectiveOp::Shuffle
                    | CollectiveOp::ShuffleDown
                    | CollectiveOp::ShuffleUp
                    | CollectiveOp::ShuffleXor,
                    Some(v),
                ) = (op, args.first())
                {
                    let name = match (args.len(), op.width_name()) {
                        (3, Some(n)) => n,
                        _ => op.rust_name(),
                    };
                    self.check_shuffled(name, v.ty, v.span);
                }
                ExprKind::Collective {
                    op: *op,
                    args: args.iter().map(|a| self.expr(a)).collect(),
                    site: *site,
                }
            }
            HExprKind::StructLit(fields) => {
                ExprKind::StructLit(fields.iter().map(|a| self.expr(a)).collect())
            }
            HExprKind::ArrayLit(elems) => {
                ExprKind::ArrayLit(elems.iter().map(|a| self.expr(a)).collect())
            }
            HExprKind::ArrayRepeat(v, n) => ExprKind::ArrayRepeat(Box::new(self.expr(v)), *n),
            HExprKind::Field(v, i) => ExprKind::Field(Box::new(self.expr(v)), *i),
            HExprKind::SliceLen(p) => ExprKind::SliceLen(*p),
            HExprKind::DynamicSharedLen(id) => ExprKind::DynamicSharedLen(*id),
            HExprKind::Zero if self.strict => self.zero(&ty),
            HExprKind::Assert { cond, site } => ExprKind::Assert {
                cond: Box::new(self.expr(cond)),
                site: *site,
            },
            // Macro time: the type may be a struct only the linker knows.
            HExprKind::Zero => ExprKind::Lit(Lit::Bool(false)),
            HExprKind::Check {
                index,
                len,
                site,
                inclusive,
            } => ExprKind::Check {
                index: Box::new(self.expr(index)),
                len: Box::new(self.expr(len)),
                site: *site,
                inclusive: *inclusive,
            },
            HExprKind::Unit | HExprKind::Never => {
                self.error(
                    e.span,
                    "this expression has no value (it is `()` or leaves the function) and cannot \
                     be used as one",
                );
                ExprKind::Lit(Lit::Bool(false))
            }
            // Macro time only: the IR built there is thrown away.
            HExprKind::Const | HExprKind::Error => ExprKind::Lit(Lit::Bool(false)),
        };
        Expr { kind, ty }
    }

    /// The zero value of `ty`.
    fn zero(&self, ty: &Ty) -> ExprKind {
        let of = |t: &Ty| Expr {
            kind: self.zero(t),
            ty: t.clone(),
        };
        match ty {
            Ty::Scalar(Scalar::Bool) | Ty::Unit => ExprKind::Lit(Lit::Bool(false)),
            Ty::Scalar(s) if s.is_float() => ExprKind::Lit(Lit::Float(0.0)),
            Ty::Scalar(_) => ExprKind::Lit(Lit::Int(0)),
            Ty::Array(elem, n) => ExprKind::ArrayRepeat(Box::new(of(elem)), *n),
            Ty::Struct(id) => {
                let fields: Vec<Ty> = self.structs.borrow().defs[*id as usize]
                    .fields
                    .iter()
                    .map(|f| f.ty.clone())
                    .collect();
                ExprKind::StructLit(fields.iter().map(of).collect())
            }
        }
    }

    fn unary(&mut self, op: UnOp, inner: &HExpr, ty: Ty, span: Span) -> Expr {
        let s = ty.as_scalar();
        match (op, s) {
            (UnOp::Neg, Some(s)) if s.is_int() && !s.is_signed_int() => self.error(
                span,
                format!(
                    "cannot negate an unsigned `{}`: use a signed type, or `wrapping_neg()`",
                    s.rust_name()
                ),
            ),
            (UnOp::Neg, Some(Scalar::Bool)) => self.error(span, "cannot negate a `bool`: use `!`"),
            (UnOp::Not, Some(s)) if s.is_float() => {
                self.error(span, format!("`!` does not apply to `{}`", s.rust_name()))
            }
            (_, None) if self.try_resolve(inner.ty).is_some() => {
                let t = self.describe(inner.ty);
                self.error(span, format!("this operator does not apply to `{t}`"))
            }
            _ => {}
        }
        // `-literal` folds into one literal (so `-128i8` is in range).
        if let (UnOp::Neg, HExprKind::Lit(l)) = (op, &inner.kind) {
            return Expr {
                kind: ExprKind::Lit(self.lit(*l, &ty, true, inner.span)),
                ty,
            };
        }
        Expr {
            kind: ExprKind::Unary(op, Box::new(self.expr(inner))),
            ty,
        }
    }

    /// A literal of type `ty`, negated when `negate`.
    fn lit(&mut self, l: HLit, ty: &Ty, negate: bool, span: Span) -> Lit {
        match (l, ty.as_scalar()) {
            (HLit::Bool(b), _) => Lit::Bool(b),
            (HLit::Int(v), Some(s)) if s.is_int() => {
                let v = if negate { -v } else { v };
                let bits = s.bits();
                let (min, max) = if s.is_signed_int() {
                    (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
                } else {
                    (0, (1i128 << bits) - 1)
                };
                if v < min || v > max {
                    self.error(
                        span,
                        format!(
                            "literal `{v}` does not fit in `{}` (range {min}..={max})",
                            s.rust_name()
                        ),
                    );
                }
                Lit::Int(v.clamp(min, max))
            }
            (HLit::Float(v), Some(s)) if s.is_float() => {
                let v = if negate { -v } else { v };
                if s == Scalar::F32 {
                    let r = v as f32;
                    if v.is_finite() && r.is_infinite() {
                        self.error(span, format!("literal `{v}` is out of range for `f32`"));
                    }
                    Lit::Float(r as f64)
                } else {
                    Lit::Float(v)
                }
            }
            (HLit::Int(v), _) => Lit::Int(if negate { -v } else { v }),
            (HLit::Float(v), _) => Lit::Float(if negate { -v } else { v }),
        }
    }

    fn check_binary(&mut self, op: BinOp, l: TyVar, r: TyVar, span: Span) {
        let (Some(ls), Some(rs)) = (self.try_resolve(l), self.try_resolve(r)) else {
            return;
        };
        if self.names_unknown_type(&ls) || self.names_unknown_type(&rs) {
            return;
        }
        let (Some(a), Some(b)) = (ls.as_scalar(), rs.as_scalar()) else {
            let t = self.describe(l);
            self.error(
                span,
                format!(
                    "this operator needs scalar operands, found `{t}` (arrays and structs are \
                     compared and combined field by field)"
                ),
            );
            return;
        };
        let ok = match op {
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => a != Scalar::Bool,
            BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor => !a.is_float(),
            BinOp::Shl | BinOp::Shr => a.is_int() && b.is_int(),
            BinOp::And | BinOp::Or => a == Scalar::Bool,
            _ => true,
        };
        if !ok {
            self.error(
                span,
                format!("operator `{:?}` does not apply to `{}`", op, a.rust_name()),
            );
        }
    }

    fn check_cast(&mut self, from: TyVar, to: TyVar, span: Span) {
        let (Some(f), Some(t)) = (self.try_resolve(from), self.scalar(to)) else {
            return;
        };
        if self.names_unknown_type(&f) {
            return;
        }
        let Some(f) = f.as_scalar() else {
            let d = self.describe(from);
            self.error(span, format!("`as` converts scalars only, found `{d}`"));
            return;
        };
        if t == Scalar::Bool && f != Scalar::Bool {
            self.error(
                span,
                format!(
                    "cannot cast `{}` to `bool`: compare instead (`x != 0`)",
                    f.rust_name()
                ),
            );
        } else if f == Scalar::Bool && t.is_float() {
            self.error(
                span,
                "cannot cast `bool` to a float: cast to an integer first",
            );
        }
    }

    /// The place of an atomic must be a scalar its operation supports.
    fn check_atomic(&mut self, op: AtomicOp, place: TyVar, span: (Span, Span)) {
        let Some(t) = self.try_resolve(place) else {
            return;
        };
        let name = op.rust_name();
        let supported: Vec<String> = Scalar::ALL
            .into_iter()
            .filter(|s| op.supports(*s))
            .map(|s| format!("`{}`", s.rust_name()))
            .collect();
        let list = supported.join(", ");
        match t.as_scalar() {
            Some(s) if op.supports(s) => {}
            Some(s) => {
                let hint = if s.is_float() {
                    " (float atomics are `atomic_add`, `atomic_sub` and `atomic_exchange`)"
                } else if s == Scalar::Bool {
                    " (store the flag as a `u32`)"
                } else {
                    " (use a 32- or 64-bit element type, e.g. `u32`)"
                };
                self.error_range(
                    span,
                    format!(
                        "`{name}` does not work on `{}`: it supports {list}{hint}",
                        s.rust_name()
                    ),
                );
            }
            None => {
                let d = self.describe(place);
                self.error_range(
                    span,
                    format!(
                        "`{name}` updates one scalar, found `{d}`: pass a field or an element                          (`&mut state.count`, `&mut out[i]`) of type {list}"
                    ),
                );
            }
        }
    }

    /// An error underlining `first..=last`.
    fn error_range(&mut self, (first, last): (Span, Span), msg: impl std::fmt::Display) {
        let tokens: proc_macro2::TokenStream = [first, last]
            .into_iter()
            .map(|s| proc_macro2::TokenTree::Ident(proc_macro2::Ident::new("place", s)))
            .collect();
        self.errors.push(syn::Error::new_spanned(tokens, msg));
    }

    /// A shuffled value must be a scalar.
    fn check_shuffled(&mut self, name: &str, v: TyVar, span: Span) {
        let Some(t) = self.try_resolve(v) else {
            return;
        };
        if t.as_scalar().is_none() {
            let d = self.describe(v);
            self.error(
                span,
                format!(
                    "`{name}` moves one scalar, found `{d}`: shuffle a struct or an array one \
                     scalar field or element at a time (`{name}(v.x, …)`)"
                ),
            );
        }
    }

    /// The entry function's shared arrays, with final element types.
    pub fn shared_arrays(&mut self, f: &HFn) -> Vec<SharedArray> {
        f.shared
            .iter()
            .map(|a| SharedArray {
                name: a.name.clone(),
                elem: self.resolve(a.elem, a.span).unwrap_or(Ty::Unit),
                len: a.len.unwrap_or(0),
                span: a.src_span,
            })
            .collect()
    }

    /// The entry function's views of dynamic shared memory, with final
    /// element types.
    pub fn dynamic_shared(&mut self, f: &HFn) -> Vec<DynamicShared> {
        f.dynamic_shared
            .iter()
            .map(|d| DynamicShared {
                name: d.name.clone(),
                elem: self.resolve(d.elem, d.span).unwrap_or(Ty::Unit),
                span: d.src_span,
            })
            .collect()
    }

    fn check_intrinsic(&mut self, i: Intrinsic, recv: TyVar, span: Span) {
        let Some(domain) = intrinsic_domain(i) else {
            return;
        };
        let Some(t) = self.try_resolve(recv) else {
            return;
        };
        let name = format!("{i:?}");
        let Some(s) = t.as_scalar().filter(|s| *s != Scalar::Bool) else {
            let d = self.describe(recv);
            self.error(span, format!("`{name}` needs a number, found `{d}`"));
            return;
        };
        let problem = match (domain, i) {
            (Domain::Float, _) if !s.is_float() => Some("a float (`f32`/`f64`)"),
            (Domain::Int, _) if !s.is_int() => Some("an integer"),
            (_, Intrinsic::Abs | Intrinsic::Signum) if s.is_int() && !s.is_signed_int() => {
                Some("a signed integer or a float")
            }
            (_, Intrinsic::IsPowerOfTwo) if s.is_signed_int() => Some("an unsigned integer"),
            _ => None,
        };
        if let Some(want) = problem {
            self.error(
                span,
                format!("this method needs {want}, found `{}`", s.rust_name()),
            );
        }
    }
}

/// `x op lit` that holds (or fails) for every value of `x`'s integer type
/// (`u >= 0`, `b <= 255` for a `u8`, as range patterns produce), when
/// reading `x` has no effect: its value. C compilers warn about such
/// comparisons.
fn decided_comparison(op: BinOp, x: &Expr, lit: &Expr) -> Option<bool> {
    let (ExprKind::Load(p), ExprKind::Lit(Lit::Int(v))) = (&x.kind, &lit.kind) else {
        return None;
    };
    if p.proj.iter().any(|pr| matches!(pr, Proj::Index { .. })) {
        return None;
    }
    let s = x.ty.as_scalar().filter(|s| s.is_int())?;
    let bits = s.bits();
    let (min, max) = if s.is_signed_int() {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    match op {
        BinOp::Ge if *v <= min => Some(true),
        BinOp::Lt if *v <= min => Some(false),
        BinOp::Le if *v >= max => Some(true),
        BinOp::Gt if *v >= max => Some(false),
        _ => None,
    }
}
