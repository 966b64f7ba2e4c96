//! The lowered function before its types are final: the shape of the
//! [`ir`](crate::ir), with a [`TyVar`] wherever the IR has a `Ty`.
//!
//! Lowering builds it while inference is still running (a literal's type may
//! be decided by a later statement); [`super::finalize`] then turns it into
//! the IR with every variable resolved.

use proc_macro2::Span;

use super::types::TyVar;
use crate::ir::{
    AtomicOp, BinOp, CollectiveOp, Intrinsic, LocalId, LoopId, ParamId, PlaceRoot, SiteId, SrcSpan,
    UnOp,
};

/// A lowered function.
#[derive(Debug)]
pub(super) struct HFn {
    pub name: String,
    pub span: SrcSpan,
    pub params: Vec<HParam>,
    pub ret: TyVar,
    pub locals: Vec<HLocal>,
    /// Block-shared arrays the function declares (the kernel entry only),
    /// indexed by [`PlaceRoot::Shared`].
    pub shared: Vec<HShared>,
    /// Views of the launch's dynamic shared memory the function declares
    /// (a batch kernel's entry only), indexed by
    /// [`PlaceRoot::DynamicShared`].
    pub dynamic_shared: Vec<HDynamicShared>,
    pub body: HBlock,
}

/// `let name = shared_array::<T, N>();`
#[derive(Debug)]
pub(super) struct HShared {
    pub name: String,
    pub elem: TyVar,
    /// `None` at macro time when `N` is a constant the macro cannot see.
    pub len: Option<u32>,
    pub span: Span,
    pub src_span: SrcSpan,
}

/// `let name = dynamic_shared::<T>();`
#[derive(Debug)]
pub(super) struct HDynamicShared {
    pub name: String,
    pub elem: TyVar,
    pub span: Span,
    pub src_span: SrcSpan,
}

#[derive(Debug)]
pub(super) struct HParam {
    pub name: String,
    pub kind: HParamKind,
    pub mutable: bool,
    pub span: Span,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum HParamKind {
    Value(TyVar),
    /// Ring message taken as `&M`: a by-value parameter read through an
    /// implicit deref.
    MsgRef(TyVar),
    Slice {
        elem: TyVar,
        mutable: bool,
    },
    StateRef(TyVar),
    /// `&mut T` of a `#[device]` fn (`&mut self`): a place the caller
    /// lends, read and written through an implicit deref.
    Ref(TyVar),
}

impl HParamKind {
    /// The type of the value the parameter names (after implicit derefs).
    pub fn value_ty(self) -> TyVar {
        match self {
            HParamKind::Value(t)
            | HParamKind::MsgRef(t)
            | HParamKind::StateRef(t)
            | HParamKind::Ref(t) => t,
            HParamKind::Slice { elem, .. } => elem,
        }
    }
}

#[derive(Debug)]
pub(super) struct HLocal {
    pub name: String,
    pub ty: TyVar,
    pub mutable: bool,
    pub span: Span,
    /// For a user `let` without a type annotation: the address of its
    /// `syn::Local`, so `annotate_lets` can find it again.
    pub let_key: Option<usize>,
}

pub(super) type HBlock = Vec<HStmt>;

#[derive(Debug)]
pub(super) struct HStmt {
    pub kind: HStmtKind,
    pub span: SrcSpan,
}

#[derive(Debug)]
pub(super) enum HStmtKind {
    Let {
        local: LocalId,
        init: Option<HExpr>,
    },
    Assign {
        place: HPlace,
        value: HExpr,
    },
    CompoundAssign {
        place: HPlace,
        op: BinOp,
        value: HExpr,
    },
    Expr(HExpr),
    If {
        cond: HExpr,
        then_block: HBlock,
        else_block: HBlock,
    },
    While {
        id: LoopId,
        cond: HExpr,
        body: HBlock,
    },
    Loop {
        id: LoopId,
        body: HBlock,
    },
    For {
        id: LoopId,
        var: LocalId,
        start: HExpr,
        end: HExpr,
        inclusive: bool,
        /// A `usize` expression (as `step_by` takes); cast to the loop
        /// variable's type when finalized.
        step: Option<HExpr>,
        body: HBlock,
    },
    Break(LoopId),
    Continue(LoopId),
    Return(Option<HExpr>),
    Block(HBlock),
}

#[derive(Clone, Debug)]
pub(super) struct HExpr {
    pub kind: HExprKind,
    pub ty: TyVar,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum HLit {
    Bool(bool),
    Int(i128),
    Float(f64),
}

/// Index of a `#[device]` fn among the sources given to the linker.
pub(super) type CalleeKey = u32;

/// Which function something belongs to: the kernel or a device fn.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum Owner {
    Kernel,
    Device(CalleeKey),
}

#[derive(Clone, Debug)]
pub(super) enum HExprKind {
    Lit(HLit),
    Load(HPlace),
    Unary(UnOp, Box<HExpr>),
    Binary(BinOp, Box<HExpr>, Box<HExpr>),
    Cast(Box<HExpr>),
    Call(CalleeKey, Vec<HExpr>),
    /// `&mut place` as a call argument (for a `&mut` parameter).
    Borrow(HPlace),
    Intrinsic(Intrinsic, Vec<HExpr>),
    /// `atomic_*(&mut place, args…)`.
    Atomic(Box<HAtomic>),
    Collective {
        op: CollectiveOp,
        args: Vec<HExpr>,
        site: SiteId,
    },
    /// Fields in the struct's declaration order.
    StructLit(Vec<HExpr>),
    ArrayLit(Vec<HExpr>),
    ArrayRepeat(Box<HExpr>, u32),
    Field(Box<HExpr>, u32),
    SliceLen(ParamId),
    /// `buf.len()` of a view of dynamic shared memory.
    DynamicSharedLen(u32),
    /// See [`crate::ir::ExprKind::Assert`].
    Assert {
        cond: Box<HExpr>,
        site: SiteId,
    },
    /// See [`crate::ir::ExprKind::Check`].
    Check {
        index: Box<HExpr>,
        len: Box<HExpr>,
        site: SiteId,
        inclusive: bool,
    },
    /// A module-level constant at macro time, where its value and type are
    /// unknown (at link time it is a [`HExprKind::Lit`]).
    Const,
    /// The zero value of its type (`None`'s value): 0, `false`, `0.0`,
    /// and arrays and structs of them.
    Zero,
    /// The value of a `()` expression; never reaches the IR of a valid program.
    Unit,
    /// The value of an expression that never finishes (`return`, `break`):
    /// it fits any type and is never stored.
    Never,
    /// Stands in for an expression that already produced an error.
    Error,
}

impl HExpr {
    /// True when evaluating the expression cannot observe or change state,
    /// so it need not be spilled before a later operand's statements.
    pub fn is_constant(&self) -> bool {
        match &self.kind {
            HExprKind::Lit(_)
            | HExprKind::Const
            | HExprKind::SliceLen(_)
            | HExprKind::DynamicSharedLen(_)
            | HExprKind::Zero
            | HExprKind::Unit
            | HExprKind::Never
            | HExprKind::Error => true,
            HExprKind::Unary(_, e)
            | HExprKind::Cast(e)
            | HExprKind::ArrayRepeat(e, _)
            | HExprKind::Field(e, _) => e.is_constant(),
            HExprKind::ArrayLit(es) | HExprKind::StructLit(es) => es.iter().all(HExpr::is_constant),
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct HAtomic {
    pub op: AtomicOp,
    pub place: HPlace,
    pub args: Vec<HExpr>,
    /// Where the place is written, first and last token (type errors
    /// found once types are final underline it).
    pub place_span: (Span, Span),
}

#[derive(Clone, Debug)]
pub(super) struct HPlace {
    pub root: PlaceRoot,
    pub proj: Vec<HProj>,
    pub ty: TyVar,
}

#[derive(Clone, Debug)]
pub(super) enum HProj {
    Field(u32),
    Index { index: Box<HExpr>, site: SiteId },
}
