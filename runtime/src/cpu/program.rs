//! The compiled form of a kernel that the SIMT executor runs: a tree of
//! [`Inst`]s over lane-vector registers, built once per kernel by
//! [`super::compile`].
//!
//! Every register holds one value per lane (thread) of a block: `n` values
//! of its scalar's storage type (`bool` as `u8` 0/1, `usize`/`isize` as
//! 64-bit) packed at the start of an `n × 8`-byte slot. Structs and arrays
//! live in *blobs*: per-lane byte arrays laid out exactly as the IR's
//! `StructDef` offsets say, lane `l`'s copy at `l × size`.
//!
//! Control flow stays structured (`If`, `Loop`, `Region`); the executor
//! runs each construct once for all lanes under an active mask (mask slot
//! 0), splitting it at `If` and iterating a `Loop` while any lane is left.
//! Each loop and each inlined call has a *frame* with two mask slots:
//! lanes that left it (`break`, a false condition, `return`) and lanes that
//! `continue`d.

use spindle_codegen::ir::{AtomicOp, BinOp, CollectiveOp, SiteId};

use super::atomic::AtomicTy;
use super::ops::{DivFn, ForCondFn, ForStepFn, Map1Fn, Map2Fn, Map3Fn};

/// A lane-vector register. Registers with [`Reg::FIXED`] set are filled
/// before a block runs (constants, parameters, thread geometry) and never
/// written by instructions; the others are locals and temporaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Reg(pub u32);

impl Reg {
    pub const FIXED: u32 = 1 << 31;

    pub fn is_fixed(self) -> bool {
        self.0 & Reg::FIXED != 0
    }
}

/// Bytes per lane of a scalar value: the unit of moves, loads and stores
/// (which do not care about the type, only its size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Width {
    W1,
    W2,
    W4,
    W8,
}

impl Width {
    pub fn of_size(size: usize) -> Width {
        match size {
            1 => Width::W1,
            2 => Width::W2,
            4 => Width::W4,
            _ => Width::W8,
        }
    }

    pub fn bytes(self) -> usize {
        match self {
            Width::W1 => 1,
            Width::W2 => 2,
            Width::W4 => 4,
            Width::W8 => 8,
        }
    }
}

/// Index into [`Program::blobs`].
pub(crate) type BlobId = u32;
/// Index into the executor's mask slots; slot 0 is the active mask.
pub(crate) type MaskSlot = u32;

/// What a memory address starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Root {
    /// A per-lane blob (aggregate local, temporary or mutable parameter).
    Blob(BlobId),
    /// A slice parameter of the entry (shared by every thread of the grid).
    Slice(u32),
    /// An aggregate by-value parameter of the entry, read-only and the same
    /// for every thread: index into the bound uniform values.
    Uniform(u32),
    /// The ring state (`&mut S`), shared by the threads of the block.
    State,
    /// The block's shared arrays: one area per block of the group, shared
    /// by its lanes (`konst` includes the array's offset in the area).
    Shared,
    /// The block's dynamic shared memory, which every view starts at: one
    /// area of the launch's `shared_bytes` per block of the group, shared
    /// by its lanes.
    DynamicShared,
}

/// A byte address per lane: `root + konst + off[lane]`. Every address the
/// compiler builds is in bounds of its root by construction (constant
/// offsets come from the layout, dynamic ones from bounds-checked indices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Addr {
    pub root: Root,
    pub konst: u32,
    /// A `u64` register of per-lane byte offsets.
    pub off: Option<Reg>,
}

/// The length an index is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Len {
    /// A fixed-size array.
    Const(u64),
    /// A slice parameter's length.
    Slice(u32),
    /// A dynamic shared view's length: the launch's dynamic shared bytes
    /// over the element size (`elem`, never 0), rounded down.
    DynamicShared { elem: u32 },
}

/// Integer division and remainder fault; everything else is pure.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Inst {
    Map1 {
        f: Map1Fn,
        d: Reg,
        a: Reg,
    },
    Map2 {
        f: Map2Fn,
        d: Reg,
        a: Reg,
        b: Reg,
    },
    Map3 {
        f: Map3Fn,
        d: Reg,
        a: Reg,
        b: Reg,
        c: Reg,
    },
    /// Integer `/` or `%`: active lanes dividing by zero (or `MIN / -1`)
    /// fault and stop.
    Div {
        f: DivFn,
        d: Reg,
        a: Reg,
        b: Reg,
    },
    /// `d = global_index() op b` with `b` a launch-wide `u64` constant:
    /// computed from the group's first index without reading registers
    /// when the group's indices are consecutive, else by `fallback`.
    GlobalCmp {
        op: BinOp,
        fallback: Map2Fn,
        d: Reg,
        a: Reg,
        b: Reg,
    },
    /// `d = s` on active lanes.
    Move {
        w: Width,
        d: Reg,
        s: Reg,
    },
    /// `d = s` on every lane (the destination is dead on inactive lanes).
    MoveAll {
        w: Width,
        d: Reg,
        s: Reg,
    },
    /// `d = slice[idx]` (fast path for the commonest place).
    LoadSlice {
        w: Width,
        d: Reg,
        slice: u32,
        idx: Reg,
        site: SiteId,
    },
    /// `slice[idx] = s`.
    StoreSlice {
        w: Width,
        s: Reg,
        slice: u32,
        idx: Reg,
        site: SiteId,
    },
    /// `off = (base or 0) + idx * stride`, after checking `idx < len` on
    /// active lanes (an out-of-bounds lane faults and stops).
    Index {
        off: Reg,
        base: Option<Reg>,
        idx: Reg,
        len: Len,
        stride: u32,
        site: SiteId,
    },
    /// Checks `idx < len` (`idx <= len` when `inclusive`) on active
    /// lanes (both `u64`); a lane that fails faults and stops.
    Check {
        idx: Reg,
        len: Reg,
        site: SiteId,
        inclusive: bool,
    },
    /// Faults the active lanes where the `bool` `cond` is false with
    /// an assertion failure naming `site`.
    Assert {
        cond: Reg,
        site: SiteId,
    },
    /// `d = *at` (a scalar) on active lanes.
    Load {
        w: Width,
        d: Reg,
        at: Addr,
    },
    /// `*at = s` on active lanes.
    Store {
        w: Width,
        s: Reg,
        at: Addr,
    },
    /// Copies `size` bytes from `src` to `dst` on active lanes (aggregates).
    Copy {
        size: u32,
        dst: Addr,
        src: Addr,
    },
    /// Copies the `elem`-byte element at `at` into the `count - 1` elements
    /// after it on active lanes (`[v; count]`).
    Repeat {
        elem: u32,
        count: u32,
        at: Addr,
    },
    /// `for` loop condition: `cond = !done && step != 0 && counter < end`
    /// (`<=` when inclusive).
    ForCond {
        f: ForCondFn,
        cond: Reg,
        counter: Reg,
        end: Reg,
        step: Reg,
        done: Reg,
    },
    /// `for` loop step: `counter += step`, setting `done` on overflow.
    ForStep {
        f: ForStepFn,
        counter: Reg,
        step: Reg,
        done: Reg,
    },
    /// Sets a `u8` register to 0 on every lane.
    Clear {
        d: Reg,
    },
    /// Structured control flow; the bodies are ranges of [`Program::code`].
    If {
        cond: Reg,
        /// Two scratch mask slots: `slot` and `slot + 1`.
        slot: MaskSlot,
        then_: Body,
        else_: Body,
    },
    /// `pre` (the condition's code), then `cond` narrows the lanes; `body`;
    /// `post` (a `for` step) runs for the lanes going round again.
    Loop {
        frame: MaskSlot,
        pre: Body,
        cond: Option<Reg>,
        body: Body,
        post: Body,
    },
    /// An inlined call (or the entry's body): `Return(frame)` targets it.
    Region {
        frame: MaskSlot,
        body: Body,
    },
    Break(MaskSlot),
    Continue(MaskSlot),
    Return(MaskSlot),
    /// `d = *at; *at = op(*at, a, b)` on each active lane in lane order,
    /// atomically for every thread of the launch (`b` is read only by
    /// `Cas`).
    Atomic {
        op: AtomicOp,
        ty: AtomicTy,
        d: Reg,
        a: Reg,
        b: Reg,
        at: Addr,
    },
    /// `sync_threads()` (or `sync_warp()` when `warp`): checks that every
    /// unfinished lane of each block (warp) with an active lane is active.
    Barrier {
        warp: bool,
        site: SiteId,
    },
    /// A warp shuffle or vote ([`CollectiveOp`]): value or predicate `a`,
    /// lane operand `b` (`u32`; unused by votes), result `d` (`w` is the
    /// shuffled value's width); `segment`: a sub-warp shuffle's segment
    /// width (`u32`). Checks convergence as `Barrier` does (over the
    /// segment when there is one).
    Warp {
        op: CollectiveOp,
        w: Width,
        d: Reg,
        a: Reg,
        b: Reg,
        segment: Option<Reg>,
        site: SiteId,
    },
    /// A memory fence (`thread_fence()` and its variants).
    Fence,
}

impl Inst {
    /// Checks what the executor's unsafe lane views rely on: no
    /// instruction writes a fixed register, and no destination register is
    /// also a source (a lane kernel holds `&mut` to one and `&` to the
    /// others). The compiler never builds such an instruction from valid IR;
    /// this turns malformed IR into an error instead.
    pub fn check_operands(&self) -> Result<(), String> {
        let (d, srcs): (Option<Reg>, [Option<Reg>; 5]) = match *self {
            Inst::Map1 { d, a, .. } => (Some(d), [Some(a), None, None, None, None]),
            Inst::Map2 { d, a, b, .. }
            | Inst::Div { d, a, b, .. }
            | Inst::GlobalCmp { d, a, b, .. } => (Some(d), [Some(a), Some(b), None, None, None]),
            Inst::Map3 { d, a, b, c, .. } => (Some(d), [Some(a), Some(b), Some(c), None, None]),
            // A move onto itself is a no-op the executor skips.
            Inst::Move { d, .. } | Inst::MoveAll { d, .. } | Inst::Clear { d } => {
                (Some(d), [None; 5])
            }
            Inst::LoadSlice { d, idx, .. } => (Some(d), [Some(idx), None, None, None, None]),
            Inst::Load { d, at, .. } => (Some(d), [at.off, None, None, None, None]),
            Inst::Index { off, base, idx, .. } => (Some(off), [base, Some(idx), None, None, None]),
            Inst::Atomic { d, a, b, at, .. } => (Some(d), [Some(a), Some(b), at.off, None, None]),
            Inst::Warp {
                d, a, b, segment, ..
            } => (Some(d), [Some(a), Some(b), segment, None, None]),
            Inst::ForCond {
                cond,
                counter,
                end,
                step,
                done,
                ..
            } => (
                Some(cond),
                [Some(counter), Some(end), Some(step), Some(done), None],
            ),
            Inst::ForStep {
                counter,
                step,
                done,
                ..
            } => {
                if counter == done || done.is_fixed() {
                    return Err("a `for` loop's registers overlap".into());
                }
                (Some(counter), [Some(step), Some(done), None, None, None])
            }
            _ => (None, [None; 5]),
        };
        match d {
            Some(d) if d.is_fixed() => {
                Err("an assignment to a constant or an immutable parameter".into())
            }
            Some(d) if srcs.contains(&Some(d)) => Err(format!(
                "an operation whose result overwrites its operand ({self:?})"
            )),
            _ => Ok(()),
        }
    }
}

impl Inst {
    /// The registers the instruction reads lane by lane whatever the
    /// lanes hold (for `LoadSlice`/`StoreSlice`/`GlobalCmp`, not counting
    /// the index operand, which has a fast path).
    pub fn generic_reads(&self) -> [Option<Reg>; 3] {
        match *self {
            Inst::Map1 { a, .. } => [Some(a), None, None],
            Inst::Map2 { a, b, .. } | Inst::Div { a, b, .. } => [Some(a), Some(b), None],
            Inst::Map3 { a, b, c, .. } => [Some(a), Some(b), Some(c)],
            Inst::GlobalCmp { b, .. } => [Some(b), None, None],
            Inst::Move { s, .. } | Inst::MoveAll { s, .. } => [Some(s), None, None],
            Inst::LoadSlice { .. } | Inst::Clear { .. } => [None; 3],
            Inst::StoreSlice { s, .. } => [Some(s), None, None],
            Inst::Index { base, idx, .. } => [base, Some(idx), None],
            Inst::Check { idx, len, .. } => [Some(idx), Some(len), None],
            Inst::Assert { cond, .. } => [Some(cond), None, None],
            Inst::Load { at, .. } | Inst::Repeat { at, .. } => [at.off, None, None],
            Inst::Store { s, at, .. } => [Some(s), at.off, None],
            Inst::Copy { dst, src, .. } => [dst.off, src.off, None],
            Inst::ForCond {
                counter, end, step, ..
            } => [Some(counter), Some(end), Some(step)],
            Inst::ForStep {
                counter,
                step,
                done,
                ..
            } => [Some(counter), Some(step), Some(done)],
            Inst::If { cond, .. } => [Some(cond), None, None],
            Inst::Loop { cond, .. } => [cond, None, None],
            Inst::Atomic { a, b, at, .. } => [Some(a), Some(b), at.off],
            Inst::Warp { a, b, segment, .. } => [Some(a), Some(b), segment],
            Inst::Region { .. }
            | Inst::Break(_)
            | Inst::Continue(_)
            | Inst::Return(_)
            | Inst::Barrier { .. }
            | Inst::Fence => [None; 3],
        }
    }
}

/// A range of [`Program::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Body {
    pub start: u32,
    pub end: u32,
}

impl Body {
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// What a fixed register holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Fixed {
    /// A constant, as storage bits.
    Const {
        bits: u64,
        w: Width,
    },
    /// A scalar by-value parameter of the entry.
    Param {
        param: u32,
        w: Width,
    },
    /// `param.len()` (u64).
    SliceLen(u32),
    /// `view.len()` of a dynamic shared view of elements of this many
    /// bytes (u64; never 0).
    DynamicSharedLen(u32),
    /// `thread_idx().{x,y,z}` (u32), axis 0..3.
    ThreadIdx(u8),
    BlockDim(u8),
    GridDim(u8),
    /// Refilled for every block.
    BlockIdx(u8),
    /// Refilled for every block (u64).
    GlobalIndex,
    /// `lane_id()` (u32): the lane's linear thread index in its block % 32.
    LaneId,
}

impl Fixed {
    /// Whether the value changes from block to block.
    pub fn per_block(&self) -> bool {
        matches!(self, Fixed::BlockIdx(_) | Fixed::GlobalIndex)
    }

    /// Whether every lane of every block holds the same value.
    pub fn launch_uniform(&self) -> bool {
        matches!(
            self,
            Fixed::Const { .. }
                | Fixed::Param { .. }
                | Fixed::SliceLen(_)
                | Fixed::DynamicSharedLen(_)
                | Fixed::BlockDim(_)
                | Fixed::GridDim(_)
        )
    }
}

/// A per-lane aggregate storage area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlobDef {
    /// Per-lane size in bytes (the value type's size).
    pub size: u32,
    /// Byte offset of lane 0 in a per-lane unit; the blob occupies
    /// `[offset × n, (offset + size) × n)` of the blob arena.
    pub offset: u32,
}

/// How the entry's parameters are bound (index = parameter index).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ParamBinding {
    /// A scalar by value: the fixed register it is read from.
    Scalar { size: u32 },
    /// An aggregate by value: uniform slot.
    Uniform { slot: u32, size: u32 },
    /// A slice parameter: slice slot, element size, mutable.
    Slice {
        slot: u32,
        elem_size: u32,
        mutable: bool,
    },
    /// The ring state.
    State { size: u32 },
}

/// A compiled kernel: everything the executor needs, independent of the
/// launch geometry.
#[derive(Debug)]
pub(crate) struct Program {
    /// All instructions; `entry` is the top-level sequence, bodies are
    /// ranges of this vector.
    pub code: Vec<Inst>,
    pub entry: Body,
    /// Per-block setup (mutable by-value parameters copied to lane storage).
    pub block_init: Body,
    /// Locals and temporaries: registers `0..temps`.
    pub temps: u32,
    /// Fixed registers, `Reg(FIXED | k)` holding `fixed[k]`.
    pub fixed: Vec<Fixed>,
    pub blobs: Vec<BlobDef>,
    /// Sum of blob sizes per lane.
    pub blob_bytes: u32,
    /// Number of mask slots (slot 0: active lanes).
    pub mask_slots: u32,
    pub params: Vec<ParamBinding>,
    /// The fixed register of `global_index()`, if the kernel reads it.
    pub global_index: Option<Reg>,
    /// Whether an instruction reads that register lane by lane in every
    /// case. When not (only `LoadSlice`/`StoreSlice` indices and
    /// `GlobalCmp`, which use the group's first index when the indices are
    /// consecutive), it is filled only when a slow path needs it.
    pub global_index_read: bool,
    /// Where the entry's return value lands (ring handlers): a register
    /// and its width, or a blob; `None` for unit.
    pub ret: Option<RetSlot>,
    /// Bytes of a block's shared-array area ([`Root::Shared`]), a multiple
    /// of 8.
    pub shared_bytes: u32,
    /// Whether the program reads or writes the launch's dynamic shared
    /// memory ([`Root::DynamicShared`]); when not, the executor gives it
    /// no area whatever the launch's `shared_bytes`.
    pub dynamic_shared: bool,
    /// Whether the program has barriers or warp operations: the executor
    /// then tracks which mask slots hold parked lanes (see
    /// `collective.rs`).
    pub collectives: bool,
}

/// The entry's return value location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetSlot {
    Reg(Reg, Width),
    Blob(BlobId, u32),
}
