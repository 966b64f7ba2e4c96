//! The typed IR: the one representation of a linked kernel that both the
//! CUDA emitter ([`crate::cuda`]) and the CPU backend's interpreter consume.
//!
//! It is produced by [`crate::link`] from the kernel's Rust source once every
//! external struct layout and `#[device]` function is known. Everything in it
//! is resolved and typed: no names to look up, no inference left to do.
//!
//! Conventions every consumer relies on:
//! - Integer arithmetic wraps; shift amounts are masked to the left operand's
//!   bit width; integer `/` and `%` by zero is a fault ([`FaultKind::DivideByZero`]),
//!   `MIN / -1` is a fault ([`FaultKind::DivideOverflow`]) — as Rust panics on both.
//! - Float ops are IEEE without contraction (no implicit FMA).
//! - `as` casts follow Rust: float→int saturates, NaN→0; int→float rounds to
//!   nearest; int→int truncates or extends by the source's signedness;
//!   `bool as int` is 0/1.
//! - A faulting thread stops (like PTX `exit`); the first fault of a launch is
//!   recorded with its block and thread and reported to the host.
//! - Rust's everyday constructs arrive desugared: `match`, `if let` and
//!   `matches!` as `if` chains, iteration as indexed loops (and sub-slices
//!   as a start and a length, see [`ExprKind::Check`]), closures
//!   inlined; a C-like `DeviceType` enum is its discriminant (a scalar of
//!   its `#[repr]`); tuples and `Option`s are anonymous [`StructDef`]s
//!   (fields `0`, `1`, …; `is_some`, `value`) that never cross to the host.

use crate::KernelMode;

/// Index into [`Function::locals`].
pub type LocalId = u32;
/// Index into [`Function::params`].
pub type ParamId = u32;
/// Index into [`Kernel::device_fns`].
pub type FnId = u32;
/// Index into [`Kernel::structs`].
pub type StructId = u32;
/// Index into [`Kernel::fault_sites`].
pub type SiteId = u32;
/// Identifies one loop within a [`Function`]; `break`/`continue` name it.
pub type LoopId = u32;

/// A scalar type. `usize`/`isize` are 64-bit on every backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scalar {
    Bool,
    I8,
    I16,
    I32,
    I64,
    Isize,
    U8,
    U16,
    U32,
    U64,
    Usize,
    F32,
    F64,
}

impl Scalar {
    /// Every scalar type.
    pub const ALL: [Scalar; 13] = [
        Scalar::Bool,
        Scalar::I8,
        Scalar::I16,
        Scalar::I32,
        Scalar::I64,
        Scalar::Isize,
        Scalar::U8,
        Scalar::U16,
        Scalar::U32,
        Scalar::U64,
        Scalar::Usize,
        Scalar::F32,
        Scalar::F64,
    ];

    /// Size in bytes (also the alignment).
    pub const fn size(self) -> usize {
        match self {
            Scalar::Bool | Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::Isize | Scalar::Usize | Scalar::F64 => 8,
        }
    }

    /// Width in bits.
    pub const fn bits(self) -> u32 {
        self.size() as u32 * 8
    }

    /// Integer type (not `bool`, not float).
    pub const fn is_int(self) -> bool {
        !matches!(self, Scalar::Bool | Scalar::F32 | Scalar::F64)
    }

    /// Signed integer type.
    pub const fn is_signed_int(self) -> bool {
        matches!(
            self,
            Scalar::I8 | Scalar::I16 | Scalar::I32 | Scalar::I64 | Scalar::Isize
        )
    }

    /// `f32` or `f64`.
    pub const fn is_float(self) -> bool {
        matches!(self, Scalar::F32 | Scalar::F64)
    }

    /// The unsigned integer type of the same width: `i32` → `u32`,
    /// `isize` → `usize`; every other type maps to itself.
    pub const fn to_unsigned(self) -> Scalar {
        match self {
            Scalar::I8 => Scalar::U8,
            Scalar::I16 => Scalar::U16,
            Scalar::I32 => Scalar::U32,
            Scalar::I64 => Scalar::U64,
            Scalar::Isize => Scalar::Usize,
            other => other,
        }
    }

    /// The Rust spelling: `"u32"`.
    pub const fn rust_name(self) -> &'static str {
        match self {
            Scalar::Bool => "bool",
            Scalar::I8 => "i8",
            Scalar::I16 => "i16",
            Scalar::I32 => "i32",
            Scalar::I64 => "i64",
            Scalar::Isize => "isize",
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::Usize => "usize",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
        }
    }

    /// Parses a Rust scalar type name.
    pub fn from_rust_name(name: &str) -> Option<Scalar> {
        Scalar::ALL.into_iter().find(|s| s.rust_name() == name)
    }

    /// The C type used by the CUDA emitter: `"uint32_t"`.
    pub const fn c_name(self) -> &'static str {
        match self {
            Scalar::Bool => "bool",
            Scalar::I8 => "int8_t",
            Scalar::I16 => "int16_t",
            Scalar::I32 => "int32_t",
            Scalar::I64 | Scalar::Isize => "int64_t",
            Scalar::U8 => "uint8_t",
            Scalar::U16 => "uint16_t",
            Scalar::U32 => "uint32_t",
            Scalar::U64 | Scalar::Usize => "uint64_t",
            Scalar::F32 => "float",
            Scalar::F64 => "double",
        }
    }
}

/// A value type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// `()`: the type of statements and of functions without a return value.
    Unit,
    Scalar(Scalar),
    /// `[elem; len]`; a value type (copied on assignment, like Rust).
    Array(Box<Ty>, u32),
    /// A struct from [`Kernel::structs`] (a `DeviceType`, or the built-in `Dim3`).
    Struct(StructId),
}

impl Ty {
    /// Shorthand for a scalar type.
    pub const fn scalar(s: Scalar) -> Ty {
        Ty::Scalar(s)
    }

    /// The scalar inside, if this is a scalar type.
    pub fn as_scalar(&self) -> Option<Scalar> {
        match self {
            Ty::Scalar(s) => Some(*s),
            _ => None,
        }
    }
}

/// A struct's layout, exactly as Rust lays it out (`#[repr(C)]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StructDef {
    /// The Rust name, e.g. `Tally`; `Dim3` for the built-in index triple.
    pub name: String,
    pub size: u32,
    pub align: u32,
    pub fields: Vec<FieldDef>,
}

/// One field of a [`StructDef`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldDef {
    pub name: String,
    pub offset: u32,
    pub ty: Ty,
}

/// Where a construct came from in the user's Rust source (1-based line,
/// 0-based column, as rustc and proc-macro2 count them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SrcSpan {
    pub line: u32,
    pub column: u32,
}

/// The most threads one CUDA block may have (`x * y * z`), and the most
/// along its `x` and its `y`.
pub const MAX_BLOCK_THREADS: u32 = 1024;

/// The most threads along a CUDA block's `z`.
pub const MAX_BLOCK_Z: u32 = 64;

/// The most threads a ring kernel may run its handler on: one CUDA block.
pub const MAX_RING_THREADS: u32 = MAX_BLOCK_THREADS;

/// A linked kernel: the entry function plus everything it uses.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// The Rust function name.
    pub name: String,
    pub mode: KernelMode,
    /// Ring mode: threads per block running the handler (1 ..=
    /// [`MAX_RING_THREADS`]). Batch: 0.
    pub threads: u32,
    /// `false` when the kernel opted out with `bounds_checks = false`: index
    /// projections are then not checked on any backend.
    pub bounds_checks: bool,
    /// The Rust source file that holds the kernel (for `#line` and errors).
    pub file: String,
    /// The kernel body. Batch: returns `Ty::Unit`. Ring: params are
    /// `[state: ParamKind::StateRef(S), msg: ParamKind::Value(M)]` and it returns R.
    pub entry: Function,
    /// `#[device]` functions reachable from the entry, callees first.
    pub device_fns: Vec<Function>,
    /// Every struct type used, dependencies first (a struct's field types
    /// precede it).
    pub structs: Vec<StructDef>,
    /// Block-shared arrays (`shared_array::<T, N>()`), referenced by
    /// [`PlaceRoot::Shared`]. Only the entry function declares them; each
    /// call site is one array per block, as a CUDA `__shared__` variable.
    pub shared: Vec<SharedArray>,
    /// Views of the launch's dynamic shared memory
    /// (`dynamic_shared::<T>()`), referenced by
    /// [`PlaceRoot::DynamicShared`]. Batch kernels only; only the entry
    /// function declares them.
    pub dynamic_shared: Vec<DynamicShared>,
    /// Places that can fault, referenced by [`Proj::Index::site`].
    pub fault_sites: Vec<FaultSite>,
}

/// One block-shared array: `let tile = shared_array::<T, N>();` in the
/// kernel entry. Every thread of a block sees the same array; its contents
/// at the start of a block are undefined on a GPU (the CPU backend zeroes
/// them). In a ring kernel the array lives as long as the actor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedArray {
    /// The binding's name, e.g. `tile`.
    pub name: String,
    /// The element type.
    pub elem: Ty,
    /// Number of elements (≥ 1).
    pub len: u32,
    pub span: SrcSpan,
}

/// One view of the launch's dynamic shared memory: `let buf =
/// dynamic_shared::<T>();` in a batch kernel's entry. The launch gives each
/// block `Launch::shared_bytes` bytes (a CUDA `extern __shared__` array,
/// aligned to [`DYNAMIC_SHARED_ALIGN`]); every view starts at byte 0 of
/// that area, so views alias each other, and a view of `T` has
/// `shared_bytes / size_of::<T>()` elements ([`ExprKind::DynamicSharedLen`]).
/// Contents at the start of a block are undefined on a GPU (the CPU
/// backend zeroes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicShared {
    /// The binding's name, e.g. `buf`.
    pub name: String,
    /// The element type; its alignment is at most [`DYNAMIC_SHARED_ALIGN`].
    pub elem: Ty,
    pub span: SrcSpan,
}

/// The alignment of the dynamic shared area, and the largest element
/// alignment a [`DynamicShared`] view may have.
pub const DYNAMIC_SHARED_ALIGN: u32 = 16;

/// The most bytes of block-shared arrays one kernel may declare: the 48 KiB
/// every CUDA device gives statically declared shared memory, and the
/// dynamic shared memory a launch may use without opting in.
pub const MAX_SHARED_BYTES: u32 = 48 * 1024;

/// What a fault site names in its error message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSite {
    /// The parameter or local being indexed, e.g. `"y"`, or `"state.window"`;
    /// for a [`ExprKind::Collective`] site the operation, e.g.
    /// `"sync_threads()"`.
    pub what: String,
    /// The function holding the site (kernel or device fn name).
    pub function: String,
    pub span: SrcSpan,
}

/// The kind of a recorded fault. The numeric values are the ABI shared with
/// the generated CUDA code (see [`crate::abi`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FaultKind {
    OutOfBounds = 1,
    DivideByZero = 2,
    DivideOverflow = 3,
    /// A barrier (`sync_threads()`) reached by only some of the block's
    /// running threads. Undefined behaviour on a GPU, where nothing detects
    /// it; the CPU backend reports it naming the [`ExprKind::Collective`]'s
    /// site.
    DivergentBarrier = 4,
    /// A warp operation called by only some of the warp's running threads;
    /// as [`FaultKind::DivergentBarrier`], for the warp.
    DivergentWarp = 5,
    /// A shuffle's segment width that is not a power of two from 1 to 32
    /// (see [`CollectiveOp`]); the record's `index` is the width and its
    /// `len` 32, its site the [`ExprKind::Collective`]'s.
    ShuffleWidth = 6,
    /// A failed assertion ([`ExprKind::Assert`]): `assert!`, `panic!`, …;
    /// the site's `what` is the message.
    Assertion = 7,
}

impl FaultKind {
    /// Decodes the ABI value.
    pub fn from_code(code: u32) -> Option<FaultKind> {
        match code {
            1 => Some(FaultKind::OutOfBounds),
            2 => Some(FaultKind::DivideByZero),
            3 => Some(FaultKind::DivideOverflow),
            4 => Some(FaultKind::DivergentBarrier),
            5 => Some(FaultKind::DivergentWarp),
            6 => Some(FaultKind::ShuffleWidth),
            7 => Some(FaultKind::Assertion),
            _ => None,
        }
    }
}

/// A function body: the kernel entry or a `#[device]` function.
#[derive(Clone, Debug, PartialEq)]
pub struct Function {
    pub name: String,
    pub params: Vec<Param>,
    pub ret: Ty,
    /// Every local of the function (including `for` variables and temporaries
    /// the lowering introduced). Names can repeat (shadowing); ids are unique.
    pub locals: Vec<Local>,
    pub body: Block,
    pub span: SrcSpan,
}

impl Function {
    /// `fn name() -> ret {}`: no parameters, locals or statements yet.
    pub fn new(name: impl Into<String>, ret: Ty) -> Function {
        Function {
            name: name.into(),
            params: Vec::new(),
            ret,
            locals: Vec::new(),
            body: Block::default(),
            span: SrcSpan::default(),
        }
    }
}

/// A function parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    /// Declared `mut` (a by-value parameter the body assigns to).
    pub mutable: bool,
}

/// How a parameter is passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A scalar, array or struct by value.
    Value(Ty),
    /// `&[T]` (`mutable == false`) or `&mut [T]`. On CUDA: a pointer plus a
    /// `u64` length. A device fn has one only as the hidden parameter of a
    /// slice a closure passed to it captures; its argument is an
    /// [`ExprKind::Borrow`] of the caller's slice parameter.
    Slice { elem: Ty, mutable: bool },
    /// Ring state `&mut S`: a place that lives across messages.
    StateRef(Ty),
    /// `&mut T` of a `#[device]` function (`&mut self` of a method): a
    /// place the caller lends, passed as [`ExprKind::Borrow`]; reads and
    /// writes of the parameter are reads and writes of that place. On
    /// CUDA: a pointer.
    Ref(Ty),
}

/// A local variable.
#[derive(Clone, Debug, PartialEq)]
pub struct Local {
    pub name: String,
    pub ty: Ty,
    pub mutable: bool,
}

/// A sequence of statements.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    pub stmts: Vec<Stmt>,
}

/// A statement with the source line it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: SrcSpan,
}

/// Statements. Value-producing blocks and `if`s in expressions are lowered
/// to statements writing a temporary local, so [`Expr`] never holds a block.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// Declares a local; `init == None` leaves it uninitialised (the front
    /// end only does that when every path assigns before use).
    Let {
        local: LocalId,
        init: Option<Expr>,
    },
    Assign {
        place: Place,
        value: Expr,
    },
    /// `place op= value`; the place is evaluated once.
    CompoundAssign {
        place: Place,
        op: BinOp,
        value: Expr,
    },
    /// An expression evaluated for its effects (a call, an intrinsic).
    Expr(Expr),
    If {
        cond: Expr,
        then_block: Block,
        else_block: Block,
    },
    /// `while cond { body }`: `cond` is re-evaluated before each iteration.
    While {
        id: LoopId,
        cond: Expr,
        body: Block,
    },
    /// `loop { body }`.
    Loop {
        id: LoopId,
        body: Block,
    },
    /// `for var in start..end` (or `..=` when `inclusive`), stepping by
    /// `step` (≥ 1) when given. `start`, `end`, `step` are evaluated once, in
    /// that order; all share `var`'s integer type. An inclusive range whose
    /// end is the type's maximum must not overflow.
    For {
        id: LoopId,
        var: LocalId,
        start: Expr,
        end: Expr,
        inclusive: bool,
        step: Option<Expr>,
        body: Block,
    },
    Break(LoopId),
    Continue(LoopId),
    /// Return from the function; `None` for unit functions.
    Return(Option<Expr>),
    /// A nested `{ … }` scope.
    Block(Block),
}

/// A typed expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: Ty,
}

/// A literal. Its type is the enclosing [`Expr::ty`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lit {
    Bool(bool),
    /// The mathematical value; always within the range of the type.
    Int(i128),
    /// The value (exactly representable in the type: for `f32` it is an
    /// `f32` widened to `f64`).
    Float(f64),
}

/// Expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Lit(Lit),
    /// Read a place (copying arrays and structs).
    Load(Place),
    Unary(UnOp, Box<Expr>),
    /// Arithmetic and bitwise ops have both operands of the result type,
    /// except shifts, whose right operand may be any integer type.
    /// Comparisons take two operands of one scalar type and give `bool`.
    /// `And`/`Or` are short-circuit on `bool`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `inner as ty`, scalar to scalar.
    Cast(Box<Expr>),
    /// A `#[device]` function call; arguments by value, except that a
    /// [`ParamKind::Ref`] or [`ParamKind::Slice`] parameter takes an
    /// [`ExprKind::Borrow`].
    Call(FnId, Vec<Expr>),
    /// `&mut place`: only as the argument of a [`ParamKind::Ref`]
    /// parameter in a [`ExprKind::Call`]. The place (and its indices, with
    /// their checks) is evaluated where the argument is; its type is the
    /// place's. Of a bare slice parameter (no projection; its type is the
    /// element's): the whole slice, as the argument of a
    /// [`ParamKind::Slice`] parameter.
    Borrow(Place),
    Intrinsic(Intrinsic, Vec<Expr>),
    /// An atomic read-modify-write of `place`, returning the value it held
    /// before. `args` are the operand (`[v]`), or `[current, new]` for
    /// [`AtomicOp::Cas`]; all of the place's type. The place is rooted in
    /// a mutable slice parameter, a shared array (static or dynamic) or the ring state (never
    /// a local), and is a scalar of a type [`AtomicOp::supports`] allows.
    /// Atomic with respect to every thread of the launch (device scope).
    Atomic {
        op: AtomicOp,
        place: Place,
        args: Vec<Expr>,
    },
    /// An operation the threads of a block or warp perform together; see
    /// [`CollectiveOp`]. `site` names it if the CPU backend finds it
    /// reached by only part of the block or warp ([`FaultKind::DivergentBarrier`],
    /// [`FaultKind::DivergentWarp`]).
    Collective {
        op: CollectiveOp,
        args: Vec<Expr>,
        site: SiteId,
    },
    /// A struct value; fields in [`StructDef::fields`] order.
    StructLit(Vec<Expr>),
    ArrayLit(Vec<Expr>),
    /// `[value; len]`.
    ArrayRepeat(Box<Expr>, u32),
    /// A field of a struct rvalue (e.g. `thread_idx().x`); field index.
    Field(Box<Expr>, u32),
    /// `param.len()` of a slice parameter; type `usize`.
    SliceLen(ParamId),
    /// `buf.len()` of a [`DynamicShared`] view (by index into
    /// [`Kernel::dynamic_shared`]): the launch's dynamic shared bytes
    /// divided by the element size, rounded down; type `usize`.
    DynamicSharedLen(u32),
    /// `index` (a `usize`), after checking `index < len` (`index <= len`
    /// when `inclusive`): otherwise a [`FaultKind::OutOfBounds`] fault
    /// recording `index` and `len` and naming `site`. The checks of
    /// sub-slices: their range where one is made, then each element
    /// against the view's own length. Evaluates `index`, then `len`.
    /// Without bounds checks (`bounds_checks = false`) the CUDA backend
    /// skips it; the CPU backend always checks (as it checks every index).
    Check {
        index: Box<Expr>,
        len: Box<Expr>,
        site: SiteId,
        inclusive: bool,
    },
    /// `assert!(cond)` and the like: when `cond` (a `bool`) is false the
    /// thread stops with a [`FaultKind::Assertion`] fault naming `site`,
    /// whose `what` is the message (`panic!` asserts `false`). Unit.
    Assert {
        cond: Box<Expr>,
        site: SiteId,
    },
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// Wrapping for integers.
    Neg,
    /// Logical for `bool`, bitwise for integers.
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Remainder with the sign of the dividend (C and Rust agree); `fmod` for floats.
    Rem,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    /// Arithmetic for signed, logical for unsigned.
    Shr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Short-circuit `&&`.
    And,
    /// Short-circuit `||`.
    Or,
}

impl BinOp {
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub const fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

/// A memory location.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub root: PlaceRoot,
    /// Applied left to right. A `Slice` parameter root always starts with an
    /// `Index` projection; a `StateRef` root is the state itself (implicit deref).
    pub proj: Vec<Proj>,
    /// The type of the whole place.
    pub ty: Ty,
}

/// What a [`Place`] starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlaceRoot {
    Local(LocalId),
    Param(ParamId),
    /// A block-shared array, by index into [`Kernel::shared`]; the place's
    /// root type is `[elem; len]`. Only the entry function uses it.
    Shared(u32),
    /// A view of the launch's dynamic shared memory, by index into
    /// [`Kernel::dynamic_shared`]. Like a slice parameter, the place always
    /// starts with an `Index` projection, checked against
    /// [`ExprKind::DynamicSharedLen`]. Only a batch entry function uses it.
    DynamicShared(u32),
}

/// The read-modify-write of an [`ExprKind::Atomic`]. Every one returns the
/// old value. Integer arithmetic wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `atomic_add(&mut place, v)`: `place += v`.
    Add,
    /// `atomic_sub`: `place -= v`.
    Sub,
    /// `atomic_min`: `place = min(place, v)`.
    Min,
    /// `atomic_max`.
    Max,
    /// `atomic_and`: `place &= v`.
    And,
    /// `atomic_or`.
    Or,
    /// `atomic_xor`.
    Xor,
    /// `atomic_exchange`: `place = v`.
    Exchange,
    /// `atomic_cas(&mut place, current, new)`: `place = new` if it held
    /// `current`.
    Cas,
}

impl AtomicOp {
    /// The intrinsic's Rust name: `"atomic_add"`.
    pub const fn rust_name(self) -> &'static str {
        match self {
            AtomicOp::Add => "atomic_add",
            AtomicOp::Sub => "atomic_sub",
            AtomicOp::Min => "atomic_min",
            AtomicOp::Max => "atomic_max",
            AtomicOp::And => "atomic_and",
            AtomicOp::Or => "atomic_or",
            AtomicOp::Xor => "atomic_xor",
            AtomicOp::Exchange => "atomic_exchange",
            AtomicOp::Cas => "atomic_cas",
        }
    }

    /// Every atomic operation.
    pub const ALL: [AtomicOp; 9] = [
        AtomicOp::Add,
        AtomicOp::Sub,
        AtomicOp::Min,
        AtomicOp::Max,
        AtomicOp::And,
        AtomicOp::Or,
        AtomicOp::Xor,
        AtomicOp::Exchange,
        AtomicOp::Cas,
    ];

    /// Whether the operation exists for `ty`: 32- and 64-bit integers for
    /// all of them; `f32` and `f64` for `Add`, `Sub` and `Exchange`.
    pub const fn supports(self, ty: Scalar) -> bool {
        match ty {
            Scalar::I32
            | Scalar::U32
            | Scalar::I64
            | Scalar::U64
            | Scalar::Isize
            | Scalar::Usize => true,
            Scalar::F32 | Scalar::F64 => {
                matches!(self, AtomicOp::Add | AtomicOp::Sub | AtomicOp::Exchange)
            }
            _ => false,
        }
    }

    /// Number of value arguments after the place: 2 for `Cas`, else 1.
    pub const fn arity(self) -> usize {
        match self {
            AtomicOp::Cas => 2,
            _ => 1,
        }
    }
}

/// Operations the threads of a block or warp perform together
/// ([`ExprKind::Collective`]).
///
/// Rules (as CUDA's, made precise): `SyncThreads` must be reached by every
/// thread of the block that has not finished; a warp operation must be
/// called by every thread of its warp that has not finished (warps are the
/// block's threads in linear order, `x` fastest, 32 at a time; the last
/// may be partial). Threads that returned from the kernel or faulted have
/// finished. Breaking the rule is [`FaultKind::DivergentBarrier`] (or
/// [`FaultKind::DivergentWarp`]) on the CPU
/// backend and undefined on a GPU.
///
/// Shuffles read `v` from another lane of the warp. Their arguments are
/// `[v, x]`, or `[v, x, width]` for the sub-warp forms (`warp_shuffle_width`
/// and the like; `v` any scalar, `x` and `width` `u32`). The warp splits
/// into segments of `width` lanes (32 without a width): lane `l`'s segment
/// starts at `s = l - l % width`, and the source lane is
/// - `Shuffle`: `s + x % width`;
/// - `ShuffleDown`: `l + x` if `l % width + x < width`;
/// - `ShuffleUp`: `l - x` if `x <= l % width`;
/// - `ShuffleXor`: `l ^ x` if it is below `s + width` (earlier segments
///   can be read, as in CUDA);
///
/// with no source otherwise. No source, or a source that is not a thread
/// of the warp (a partial last warp) or not taking part in the call, gives
/// the caller its own `v`. A width that is not a power of two from 1 to 32
/// is a [`FaultKind::ShuffleWidth`] fault of the calling thread, before
/// anything else. A shuffle with a width need only be called by every
/// unfinished thread of the caller's segment, not of the whole warp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CollectiveOp {
    /// `sync_threads()`: a block-wide barrier that also orders shared and
    /// global memory for the block (`__syncthreads`). Unit.
    SyncThreads,
    /// `sync_warp()`: a barrier for the warp (`__syncwarp`). Unit.
    SyncWarp,
    /// `warp_shuffle(v, src_lane)`.
    Shuffle,
    /// `warp_shuffle_down(v, delta)`.
    ShuffleDown,
    /// `warp_shuffle_up(v, delta)`.
    ShuffleUp,
    /// `warp_shuffle_xor(v, mask)`.
    ShuffleXor,
    /// `warp_all(p)`: `p` holds on every thread of the warp. `bool`.
    All,
    /// `warp_any(p)`. `bool`.
    Any,
    /// `warp_ballot(p)`: bit `l` is `p` of lane `l`. `u32`.
    Ballot,
}

impl CollectiveOp {
    /// The intrinsic's Rust name: `"warp_shuffle_down"`.
    pub const fn rust_name(self) -> &'static str {
        match self {
            CollectiveOp::SyncThreads => "sync_threads",
            CollectiveOp::SyncWarp => "sync_warp",
            CollectiveOp::Shuffle => "warp_shuffle",
            CollectiveOp::ShuffleDown => "warp_shuffle_down",
            CollectiveOp::ShuffleUp => "warp_shuffle_up",
            CollectiveOp::ShuffleXor => "warp_shuffle_xor",
            CollectiveOp::All => "warp_all",
            CollectiveOp::Any => "warp_any",
            CollectiveOp::Ballot => "warp_ballot",
        }
    }

    /// Every collective operation.
    pub const ALL: [CollectiveOp; 9] = [
        CollectiveOp::SyncThreads,
        CollectiveOp::SyncWarp,
        CollectiveOp::Shuffle,
        CollectiveOp::ShuffleDown,
        CollectiveOp::ShuffleUp,
        CollectiveOp::ShuffleXor,
        CollectiveOp::All,
        CollectiveOp::Any,
        CollectiveOp::Ballot,
    ];

    /// The Rust name of the sub-warp form of a shuffle
    /// (`"warp_shuffle_down_width"`); `None` for other operations.
    pub const fn width_name(self) -> Option<&'static str> {
        match self {
            CollectiveOp::Shuffle => Some("warp_shuffle_width"),
            CollectiveOp::ShuffleDown => Some("warp_shuffle_down_width"),
            CollectiveOp::ShuffleUp => Some("warp_shuffle_up_width"),
            CollectiveOp::ShuffleXor => Some("warp_shuffle_xor_width"),
            _ => None,
        }
    }

    /// `true` for the block-wide barrier, `false` for warp operations.
    pub const fn is_block_wide(self) -> bool {
        matches!(self, CollectiveOp::SyncThreads)
    }
}

/// Lanes in a warp, on every backend.
pub const WARP_SIZE: u32 = 32;

/// One step into a place.
#[derive(Clone, Debug, PartialEq)]
pub enum Proj {
    /// A struct field, by index into [`StructDef::fields`].
    Field(u32),
    /// `[index]` into a slice parameter or an array. `index` is `usize`.
    /// When the kernel has bounds checks, an index ≥ the length faults with
    /// [`FaultKind::OutOfBounds`] naming `site`.
    Index { index: Box<Expr>, site: SiteId },
}

/// Built-in operations: device intrinsics and std methods. Argument and
/// result types are in the surrounding [`Expr`]s; float methods work on
/// `f32` and `f64`, integer methods on every integer type, as in Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    // --- thread geometry (no arguments) ---
    /// `Dim3`
    ThreadIdx,
    /// `Dim3`
    BlockIdx,
    /// `Dim3`
    BlockDim,
    /// `Dim3`
    GridDim,
    /// `usize`: `block_idx().x * block_dim().x + thread_idx().x`.
    GlobalIndex,
    /// `u32`: the thread's lane in its warp, `linear thread index % 32`
    /// (`x` fastest).
    LaneId,

    // --- memory fences (no arguments, unit) ---
    /// `thread_fence()`: orders this thread's memory accesses as seen by
    /// every thread of the launch (`__threadfence`).
    ThreadFence,
    /// `thread_fence_block()`: … by the threads of its block.
    ThreadFenceBlock,
    /// `thread_fence_system()`: … by the launch and the host.
    ThreadFenceSystem,

    // --- shared by floats and integers (Rust semantics per type) ---
    /// `abs` (integers: wrapping, `MIN.abs() == MIN`)
    Abs,
    /// `min(a, b)` (floats: NaN-ignoring, like Rust)
    Min,
    /// `max(a, b)`
    Max,
    /// `clamp(x, lo, hi)`
    Clamp,
    /// `signum` (floats: ±1.0 or NaN; integers: -1/0/1)
    Signum,

    // --- floats ---
    Sqrt,
    Cbrt,
    Exp,
    Exp2,
    /// `ln`
    Ln,
    Log2,
    Log10,
    /// `log(self, base)`
    Log,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    /// `y.atan2(x)`
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    /// `powi(self, i32)`
    Powi,
    Powf,
    Floor,
    Ceil,
    /// Half away from zero.
    Round,
    Trunc,
    Fract,
    /// `mul_add(self, a, b)` = `self * a + b` with one rounding.
    MulAdd,
    Recip,
    Hypot,
    Copysign,
    ToDegrees,
    ToRadians,
    /// → bool
    IsNan,
    /// → bool
    IsFinite,
    /// → bool
    IsInfinite,
    /// → bool
    IsSignNegative,
    /// → bool
    IsSignPositive,

    // --- integers ---
    /// `pow(self, u32)`, wrapping.
    Pow,
    WrappingAdd,
    WrappingSub,
    WrappingMul,
    /// Wrapping negation.
    WrappingNeg,
    SaturatingAdd,
    SaturatingSub,
    /// → u32
    CountOnes,
    /// → u32
    CountZeros,
    /// → u32
    LeadingZeros,
    /// → u32
    TrailingZeros,
    /// `rotate_left(self, u32)`
    RotateLeft,
    /// `rotate_right(self, u32)`
    RotateRight,
    ReverseBits,
    SwapBytes,
    /// → bool
    IsPowerOfTwo,
    /// `abs_diff(a, b)` → the unsigned type of the same width.
    AbsDiff,
}

impl Kernel {
    /// A kernel `name` of `mode` running `entry`, with the defaults of a
    /// plain `#[kernel]`: bounds checks on, one handler thread (ring) or
    /// none (batch), no file name, and no device functions, structs,
    /// shared memory or fault sites yet. Hand-built IR (tests, the
    /// examples in these docs) starts here and sets what differs:
    /// `Kernel { file: "src/k.rs".into(), ..Kernel::new(..) }`.
    pub fn new(name: impl Into<String>, mode: KernelMode, entry: Function) -> Kernel {
        Kernel {
            name: name.into(),
            mode,
            threads: match mode {
                KernelMode::Ring => 1,
                KernelMode::Batch => 0,
            },
            bounds_checks: true,
            file: String::new(),
            entry,
            device_fns: Vec::new(),
            structs: Vec::new(),
            shared: Vec::new(),
            dynamic_shared: Vec::new(),
            fault_sites: Vec::new(),
        }
    }

    /// The struct definition behind `Ty::Struct(id)`.
    pub fn struct_def(&self, id: StructId) -> &StructDef {
        &self.structs[id as usize]
    }

    /// Size in bytes of a value type.
    pub fn size_of(&self, ty: &Ty) -> u32 {
        match ty {
            Ty::Unit => 0,
            Ty::Scalar(s) => s.size() as u32,
            Ty::Array(elem, len) => self.size_of(elem) * len,
            Ty::Struct(id) => self.struct_def(*id).size,
        }
    }

    /// Alignment in bytes of a value type.
    pub fn align_of(&self, ty: &Ty) -> u32 {
        match ty {
            Ty::Unit => 1,
            Ty::Scalar(s) => s.size() as u32,
            Ty::Array(elem, _) => self.align_of(elem),
            Ty::Struct(id) => self.struct_def(*id).align,
        }
    }

    /// A Rust-like spelling of a type, for messages.
    pub fn ty_name(&self, ty: &Ty) -> String {
        match ty {
            Ty::Unit => "()".to_string(),
            Ty::Scalar(s) => s.rust_name().to_string(),
            Ty::Array(elem, len) => format!("[{}; {}]", self.ty_name(elem), len),
            Ty::Struct(id) => self.struct_def(*id).name.clone(),
        }
    }
}

/// The name the built-in index triple has in [`Kernel::structs`].
pub const DIM3: &str = "Dim3";

/// The built-in `Dim3 { x, y, z: u32 }` definition.
pub fn dim3_def() -> StructDef {
    let field = |name: &str, offset| FieldDef {
        name: name.to_string(),
        offset,
        ty: Ty::Scalar(Scalar::U32),
    };
    StructDef {
        name: DIM3.to_string(),
        size: 12,
        align: 4,
        fields: vec![field("x", 0), field("y", 4), field("z", 8)],
    }
}
