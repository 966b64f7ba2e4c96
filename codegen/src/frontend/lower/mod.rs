//! Lowering: a checked `syn::ItemFn` body → [`HFn`](super::hir::HFn), with
//! type inference running alongside (constraints go to [`Types`] as each
//! construct is lowered).
//!
//! Expressions never hold blocks: a value-producing `if` or block is lowered
//! to statements that write a temporary local. Evaluation order stays
//! Rust's: when a later operand needs such statements, the operands before
//! it are first spilled into temporaries ([`Lowerer::spill_before`]).

mod assert;
mod atomic;
mod call;
mod closure;
mod closure_pass;
mod collective;
mod dynamic_shared;
mod expr;
mod generic_call;
mod impls;
mod iterate;
mod loops;
mod matching;
pub(super) mod method;
mod option;
mod pattern;
mod place;
mod reject;
mod shared;
mod stmt;
mod structs;
mod swap;
mod view;

use proc_macro2::Span;
use quote::ToTokens;

pub(super) use shared::too_many_shared_bytes;

use super::env::Env;
use super::hir::{
    CalleeKey, HBlock, HDynamicShared, HExpr, HExprKind, HFn, HLocal, HParam, HShared, HStmt,
    HStmtKind, Owner,
};
use super::signature::{ClosureParam, FnRole, Signature, TypeCx};
use super::types::{Kind, TyVar, Types};
use crate::ir::{FaultSite, LocalId, LoopId, ParamId, SrcSpan};
use crate::ExternalConst;

/// The lowering context of one analysis or link: what every function's
/// lowering adds to (types, fault sites, paths named) and reads (the
/// environment, constants), borrowed by each in turn.
pub(super) struct LowerCx<'a, 'e> {
    pub types: &'a mut Types,
    pub env: Env<'e>,
    pub sites: &'a mut Vec<FaultSite>,
    pub struct_paths: &'a mut Vec<syn::Path>,
    pub device_paths: &'a mut Vec<syn::Path>,
    /// Constant paths named (recorded at macro time).
    pub const_paths: &'a mut Vec<syn::Path>,
    /// The values of the constants the function being lowered names (link
    /// time; empty at macro time).
    pub consts: &'e [ExternalConst<'e>],
    /// Whether `debug_assert!`s are kept: the user's build's
    /// `debug_assertions` (link time; `true` at macro time, which only
    /// checks them).
    pub debug_assertions: bool,
}

/// What lowering one function produced.
pub(super) struct Lowered {
    pub hfn: HFn,
    /// `#[device]` fns called (link time), with the call's span.
    pub calls: Vec<(CalleeKey, Span)>,
    pub errors: Vec<syn::Error>,
    /// Errors in the bodies of closures written in another function (and
    /// passed to this one), with that function.
    pub foreign_errors: Vec<(Owner, syn::Error)>,
}

#[derive(Clone, Copy, Debug)]
enum Binding {
    Local(LocalId),
    Param(ParamId),
    /// Block-shared memory: an array or a view of dynamic shared memory.
    Shared(SharedMem),
    /// Another name for a place (the `&mut` item of `iter_mut()`), by
    /// index into [`Lowerer::aliases`].
    Alias(u32),
    /// A sub-slice (`let w = &x[a..b];`), by index into [`Lowerer::views`].
    View(u32),
    /// A closure (`let f = |x| …;`, or a closure parameter at link time),
    /// by index into [`Lowerer::closures`].
    Closure(u32),
    /// A closure parameter at macro time (`f: impl Fn(u32) -> u32`), by
    /// index into [`Lowerer::closure_params`].
    ClosureParam(u32),
}

/// Block-shared memory a binding names. The binding is not a value: it is
/// indexed, asked for `.len()`, and nothing else.
#[derive(Clone, Copy, Debug)]
enum SharedMem {
    /// `shared_array::<T, N>()`, by index into [`Lowerer::shared`].
    Array(u32),
    /// `dynamic_shared::<T>()`, by index into [`Lowerer::dynamic_shared`].
    Dynamic(u32),
}

impl SharedMem {
    /// What the binding names, for messages.
    fn what(self) -> &'static str {
        match self {
            SharedMem::Array(_) => "a block-shared array",
            SharedMem::Dynamic(_) => "a view of dynamic shared memory",
        }
    }
}

struct LoopFrame {
    label: Option<String>,
    id: LoopId,
    /// `loop` (which `break value` may leave), not `while` or `for`.
    is_loop: bool,
    /// A `loop` in value position: where `break value` stores its value.
    sink: Option<matching::ValueSink>,
}

pub(super) struct Lowerer<'s, 'a, 'e> {
    cx: &'s mut LowerCx<'a, 'e>,
    role: FnRole,
    /// In a method of a `#[device] impl Name` block: `Name` (`Self`).
    self_ty: Option<String>,
    fn_name: String,
    line_base: u32,
    params: Vec<HParam>,
    locals: Vec<HLocal>,
    shared: Vec<HShared>,
    dynamic_shared: Vec<HDynamicShared>,
    /// Locals declared without an initializer: assignable once even when
    /// not `mut` (rustc checks the "once").
    deferred_init: Vec<LocalId>,
    /// Places that `Binding::Alias` names.
    aliases: Vec<super::hir::HPlace>,
    /// Sub-slices that `Binding::View` names.
    views: Vec<view::View>,
    /// Closures that `Binding::Closure` names.
    closures: Vec<closure::Closure>,
    /// The closure parameters that `Binding::ClosureParam` names.
    closure_params: Vec<ClosureParam>,
    /// The function being lowered.
    owner: Owner,
    /// Hidden parameters that pass a captured variable by reference: the
    /// closure names them without `*`.
    captured_vars: Vec<ParamId>,
    scopes: Vec<Vec<(String, Binding)>>,
    loops: Vec<LoopFrame>,
    next_loop: LoopId,
    stmts: HBlock,
    ret: TyVar,
    calls: Vec<(CalleeKey, Span)>,
    errors: Vec<syn::Error>,
    foreign_errors: Vec<(Owner, syn::Error)>,
}

/// Lowers a function whose signature was checked into `sig`. `line_base` is
/// the user-file line of the item's first line (spans in the IR name it).
pub(super) fn lower_fn(
    cx: &mut LowerCx<'_, '_>,
    item: &syn::ItemFn,
    role: FnRole,
    sig: Signature,
    line_base: u32,
    self_ty: Option<&str>,
    owner: Owner,
) -> Lowered {
    let scope = sig
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.clone(), Binding::Param(i as ParamId)))
        .collect();
    let fn_name = match self_ty {
        Some(t) => format!("{t}::{}", item.sig.ident),
        None => item.sig.ident.to_string(),
    };
    let mut l = Lowerer {
        cx,
        role,
        self_ty: self_ty.map(str::to_string),
        fn_name,
        line_base,
        params: sig.params,
        locals: Vec::new(),
        shared: Vec::new(),
        dynamic_shared: Vec::new(),
        deferred_init: Vec::new(),
        aliases: Vec::new(),
        views: Vec::new(),
        closures: Vec::new(),
        closure_params: Vec::new(),
        owner,
        captured_vars: Vec::new(),
        scopes: vec![scope],
        loops: Vec::new(),
        next_loop: 0,
        stmts: Vec::new(),
        ret: sig.ret,
        calls: Vec::new(),
        errors: Vec::new(),
        foreign_errors: Vec::new(),
    };
    l.bind_closure_params(sig.closures);
    l.fn_body(&item.block);
    let span = l.src_span(item.sig.ident.span());
    Lowered {
        hfn: HFn {
            name: l.fn_name,
            span,
            params: l.params,
            ret: l.ret,
            locals: l.locals,
            shared: l.shared,
            dynamic_shared: l.dynamic_shared,
            body: l.stmts,
        },
        calls: l.calls,
        errors: l.errors,
        foreign_errors: l.foreign_errors,
    }
}

impl<'s, 'a, 'e> Lowerer<'s, 'a, 'e> {
    fn types(&mut self) -> &mut Types {
        self.cx.types
    }

    fn type_cx(&mut self) -> TypeCx<'_, 'e> {
        TypeCx {
            types: self.cx.types,
            env: self.cx.env,
            struct_paths: self.cx.struct_paths,
            const_paths: self.cx.const_paths,
            consts: self.cx.consts,
            self_ty: self.self_ty.as_deref(),
        }
    }

    fn src_span(&self, span: Span) -> SrcSpan {
        let start = span.start();
        SrcSpan {
            line: self.line_base + (start.line as u32).saturating_sub(1),
            column: start.column as u32,
        }
    }

    fn error(&mut self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new_spanned(tokens, msg));
    }

    fn error_at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.errors.push(syn::Error::new(span, msg));
    }

    /// An expression standing in for one that failed; its type is unknown
    /// and external so it never causes follow-up errors.
    fn error_expr(&mut self, span: Span) -> HExpr {
        HExpr {
            kind: HExprKind::Error,
            ty: self.types().fresh_external(),
            span,
        }
    }

    fn push(&mut self, kind: HStmtKind, span: Span) {
        let span = self.src_span(span);
        self.stmts.push(HStmt { kind, span });
    }

    /// Declares `local`, initialised with `init` when given.
    fn push_let(&mut self, local: LocalId, init: Option<HExpr>, span: Span) {
        self.push(HStmtKind::Let { local, init }, span);
    }

    /// Requires `found` to have type `expected`; reports a mismatch at `span`.
    fn expect_ty(&mut self, expected: TyVar, found: TyVar, span: Span, context: &str) -> bool {
        if self.types().unify(expected, found).is_ok() {
            return true;
        }
        let (e, f) = (
            self.types().describe(expected),
            self.types().describe(found),
        );
        self.error_at(
            span,
            format!("mismatched types{context}: expected `{e}`, found `{f}`"),
        );
        false
    }

    /// Requires `v` to be some integer (or float) type.
    fn expect_kind(&mut self, v: TyVar, kind: Kind, span: Span, what: &str) -> bool {
        if self.types().require_kind(v, kind).is_ok() {
            return true;
        }
        let found = self.types().describe(v);
        let want = match kind {
            Kind::Int => "an integer",
            Kind::Float => "a float (`f32`/`f64`)",
            Kind::Any => "a value",
        };
        self.error_at(span, format!("{what} needs {want}, found `{found}`"));
        false
    }

    fn declare_local(&mut self, name: String, ty: TyVar, mutable: bool, span: Span) -> LocalId {
        self.locals.push(HLocal {
            name: name.clone(),
            ty,
            mutable,
            span,
            let_key: None,
        });
        let id = (self.locals.len() - 1) as LocalId;
        if name != "_" {
            self.scopes
                .last_mut()
                .expect("a scope is open")
                .push((name, Binding::Local(id)));
        }
        id
    }

    /// A compiler temporary (not visible to the user's names).
    fn temp(&mut self, ty: TyVar, span: Span) -> LocalId {
        self.locals.push(HLocal {
            name: format!("_t{}", self.locals.len()),
            ty,
            mutable: true,
            span,
            let_key: None,
        });
        (self.locals.len() - 1) as LocalId
    }

    fn lookup(&self, name: &str) -> Option<Binding> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, _)| n == name)
            .map(|(_, b)| *b)
    }

    /// Runs `f` with a fresh statement list and scope; returns the statements.
    fn nested(&mut self, f: impl FnOnce(&mut Self)) -> HBlock {
        let outer = std::mem::take(&mut self.stmts);
        self.scopes.push(Vec::new());
        f(self);
        self.scopes.pop();
        std::mem::replace(&mut self.stmts, outer)
    }

    /// If statements were emitted since `mark` (a later operand was hoisted),
    /// moves `e` into a temporary declared before them, keeping Rust's
    /// left-to-right evaluation order.
    fn spill_before(&mut self, mark: usize, e: HExpr) -> HExpr {
        if self.stmts.len() == mark {
            return e;
        }
        self.spill_at(mark, e)
    }

    /// Moves a non-constant `e` into a temporary declared at statement
    /// index `at`.
    pub(super) fn spill_at(&mut self, at: usize, e: HExpr) -> HExpr {
        if e.is_constant() {
            return e;
        }
        let span = e.span;
        let tmp = self.temp_at(at, e, span);
        self.load_local(tmp, span)
    }

    /// A new temporary holding `e`, declared by a statement (at `span`)
    /// inserted at statement index `at`.
    pub(super) fn temp_at(&mut self, at: usize, e: HExpr, span: Span) -> LocalId {
        let tmp = self.temp(e.ty, e.span);
        let stmt = HStmt {
            kind: HStmtKind::Let {
                local: tmp,
                init: Some(e),
            },
            span: self.src_span(span),
        };
        self.stmts.insert(at, stmt);
        tmp
    }

    fn load_local(&mut self, local: LocalId, span: Span) -> HExpr {
        let ty = self.locals[local as usize].ty;
        HExpr {
            kind: HExprKind::Load(super::hir::HPlace {
                root: crate::ir::PlaceRoot::Local(local),
                proj: Vec::new(),
                ty,
            }),
            ty,
            span,
        }
    }

    /// Opens a `while` or `for` loop.
    fn new_loop(&mut self, label: Option<&syn::Label>) -> LoopId {
        self.open_loop(label, false, None)
    }

    /// Opens a loop: `is_loop` for `loop`, with `sink` when its value is used.
    fn open_loop(
        &mut self,
        label: Option<&syn::Label>,
        is_loop: bool,
        sink: Option<matching::ValueSink>,
    ) -> LoopId {
        let id = self.next_loop;
        self.next_loop += 1;
        self.loops.push(LoopFrame {
            label: label.map(|l| l.name.ident.to_string()),
            id,
            is_loop,
            sink,
        });
        id
    }

    /// The loop a `break`/`continue` names.
    fn loop_target(&mut self, label: Option<&syn::Lifetime>, span: Span) -> Option<LoopId> {
        self.loop_frame(label, span).map(|i| self.loops[i].id)
    }

    /// The index in `loops` of the loop a `break`/`continue` names.
    fn loop_frame(&mut self, label: Option<&syn::Lifetime>, span: Span) -> Option<usize> {
        let found = match label {
            None => self.loops.len().checked_sub(1),
            Some(l) => {
                let name = l.ident.to_string();
                self.loops
                    .iter()
                    .rposition(|f| f.label.as_deref() == Some(name.as_str()))
            }
        };
        if found.is_none() {
            let msg = match label {
                None => "`break`/`continue` outside of a loop".to_string(),
                Some(l) => format!(
                    "no enclosing loop is labeled `{l}` (labels on plain blocks are not supported)"
                ),
            };
            self.error_at(span, msg);
        }
        found
    }
}
