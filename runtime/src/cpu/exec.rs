//! The SIMT executor: runs a [`Program`] for all threads of one block at
//! once, one instruction for every lane under the active mask.
//!
//! Masks are `n` bytes (0 or 1) in numbered slots; slot 0 is the active
//! mask and `live` counts its set lanes. Control flow:
//! - `If` splits the active lanes by the condition, runs each side that has
//!   lanes, and rejoins the lanes that are still running at the end of
//!   either side.
//! - `Loop` runs while any lane is left; a false condition or `break` moves
//!   a lane into the frame's exit mask, `continue` into its continue mask
//!   (rejoined at the end of the iteration); after the loop the exit mask
//!   is the active mask. `return` and calls work the same way with a
//!   `Region` frame. A lane that faults leaves every mask for good.
//!
//! Threads working together:
//! - `sync_threads()`: every lane of the block executes each instruction
//!   before any lane executes the next, so a barrier reached with every
//!   unfinished lane active is a no-op here; one reached by only part of
//!   the block is a `Divergent` fault (`collective.rs`, which also runs the
//!   warp operations over 32-lane chunks of each block).
//! - shared arrays and dynamic shared memory:
//!   [`Root::Shared`](super::program::Root) and `Root::DynamicShared`,
//!   per-block areas with lane stride 0, like the ring state (`memory.rs`).
//! - atomics: `atomic.rs`.

use std::cell::Cell;

use spindle_codegen::abi::{FaultRecord, NO_SITE};

use super::arena::{ArenaBases, LaneArena};
use super::memory::Env;
use super::ops::{lanes, lanes_mut};
use spindle_codegen::ir::BinOp;

use super::ops::Map2Fn;
use super::program::{Body, Inst, MaskSlot, Program, Reg, Width};

/// One host thread's registers, blobs and masks, reused group after group
/// of blocks (see [`super::group`]), and what the group being run has
/// reached. A ring handler keeps one between messages, set up once (see
/// [`Lanes::prepare_block`]), so a message allocates nothing and refills
/// only its parameters.
#[derive(Debug, Default)]
pub(crate) struct LaneBuffers {
    /// Lanes: the threads of every block of a group.
    pub(super) n: usize,
    /// Threads per block.
    pub(super) block_threads: usize,
    /// Registers, blobs, mask slots and shared areas (`arena.rs`):
    /// reached only through the executor's [`ArenaBases`].
    pub(super) arena: LaneArena,
    /// Words from one register's slot to the next: `n` rounded up to a
    /// cache line, plus one more line when `n` is over 64, so that
    /// registers do not sit a multiple of 4 KiB apart (which makes the CPU
    /// stall on false store-to-load aliasing).
    pub(super) reg_stride: usize,
    /// Mask slots are `n` bytes each, padded with zero bytes to whole
    /// words (`mask_words` per slot) so lanes can be counted a word at a
    /// time.
    pub(super) mask_words: usize,
    /// `thread_idx().x` of each lane.
    pub(super) lane_x: Vec<u32>,
    /// Where the block's `global_index()` lanes are `b, b + 1, …` (1-D
    /// blocks), `b`: loads and stores indexed by it skip their per-lane
    /// checks.
    pub(super) global_base: Option<u64>,
    /// The `global_index()` register has not been filled for this group
    /// (see [`Program::global_index_read`]).
    pub(super) global_index_pending: bool,
    /// Number of set lanes in mask slot 0.
    pub(super) live: usize,
    /// The blocks of the group being run, and the linear number of the
    /// first.
    pub(super) blocks: Vec<[u32; 3]>,
    pub(super) first_block: u64,
    /// The group's first fault (lowest block, then program order) and the
    /// linear number of its block. A `Cell`, so a fault is recorded while
    /// views of the mask slots (borrowing the executor) are alive.
    pub(super) fault: Cell<Option<(u64, FaultRecord)>>,
    /// Set up by [`Lanes::prepare_block`] (for the program and geometry
    /// the ring handler that owns it always uses).
    pub(super) prepared: bool,
    /// The mask slots now holding parked lanes, innermost last (kept only
    /// for programs with collectives; see `collective.rs`).
    pub(super) parked: Vec<MaskSlot>,
    /// Scratch for the union of the parked slots.
    pub(super) parked_lanes: Vec<u64>,
    /// Bytes from one block's dynamic shared area to the next (0 unless
    /// the program uses them). The shared-array areas
    /// (`Program::shared_bytes` per block; zeroed for each group of a batch
    /// launch, kept between a ring handler's messages) and the dynamic
    /// ones (zeroed for each group) are in the arena.
    pub(super) dynamic_stride: usize,
}

/// The executor: a program and its launch's arguments, running on
/// [`LaneBuffers`] (whose fields it reaches through `Deref`). It holds the
/// buffers' `&mut` borrow for its whole life, so the arena's base pointers
/// it took when it was made stay valid (`arena.rs`).
pub(crate) struct Lanes<'a> {
    pub(super) prog: &'a Program,
    pub(super) env: &'a Env<'a>,
    pub(super) st: &'a mut LaneBuffers,
    pub(super) mem: ArenaBases,
}

impl std::ops::Deref for Lanes<'_> {
    type Target = LaneBuffers;

    #[inline(always)]
    fn deref(&self) -> &LaneBuffers {
        self.st
    }
}

impl std::ops::DerefMut for Lanes<'_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut LaneBuffers {
        self.st
    }
}

impl<'a> Lanes<'a> {
    /// The executor over `st`, whose arena was sized for `prog`.
    pub(super) fn over(prog: &'a Program, env: &'a Env<'a>, st: &'a mut LaneBuffers) -> Self {
        let mem = st.arena.bases();
        Lanes { prog, env, st, mem }
    }

    /// The slot of register `r`.
    #[inline(always)]
    pub(super) fn reg(&self, r: Reg) -> *mut u64 {
        let i = if r.is_fixed() {
            self.prog.temps as usize + (r.0 & !Reg::FIXED) as usize
        } else {
            r.0 as usize
        };
        debug_assert!(i * self.reg_stride + self.n <= self.mem.sizes.regs);
        // SAFETY: the compiler numbers temporaries below `temps` and fixed
        // registers below `fixed.len()`, so the slot is inside the register
        // area. The base came from `&mut` (`arena.rs`): writing through the
        // result is allowed.
        unsafe { self.mem.regs.add(i * self.reg_stride) }
    }

    /// Lane 0's byte address of blob `b`.
    #[inline(always)]
    pub(super) fn blob_base(&self, offset: u32) -> *mut u8 {
        // SAFETY: `offset × n` is within the blob arena (offsets and sizes
        // come from the program, the arena holds `blob_bytes × n` bytes).
        unsafe { self.mem.blobs.add(offset as usize * self.n) }
    }

    /// Mask slot `s`, for as long as `self` is borrowed.
    ///
    /// # Safety
    /// No other view of that slot may be alive while the result is.
    // Views of distinct slots live side by side (the active mask beside a
    // frame mask), which `&mut self` could not give; the bounded lifetime
    // keeps them from outliving the executor, and uniqueness per slot is
    // the caller's promise above.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(super) unsafe fn mask(&self, s: MaskSlot) -> &mut [u8] {
        debug_assert!((s as usize + 1) * self.mask_words <= self.mem.sizes.masks);
        // SAFETY: slot `s < mask_slots` is inside the mask area (n ≤ 8 ×
        // mask_words bytes), whose base came from `&mut` (`arena.rs`);
        // uniqueness is the caller's promise. The padding bytes after `n`
        // are never handed out, so they stay 0.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.mem
                    .masks
                    .add(s as usize * self.mask_words)
                    .cast::<u8>(),
                self.n,
            )
        }
    }

    /// The words of mask slot `s` (its `n` bytes and the zero padding).
    ///
    /// # Safety
    /// No view that writes to that slot may be alive while the result is.
    #[inline(always)]
    pub(super) unsafe fn mask_words_of(&self, s: MaskSlot) -> &[u64] {
        debug_assert!((s as usize + 1) * self.mask_words <= self.mem.sizes.masks);
        // SAFETY: inside the mask area (as for `mask`); no writer, by the
        // caller.
        unsafe {
            std::slice::from_raw_parts(
                self.mem.masks.add(s as usize * self.mask_words),
                self.mask_words,
            )
        }
    }

    /// Number of set lanes of mask slot `s` (bytes are 0 or 1: multiplying
    /// a word by 0x0101…01 sums its bytes into the top byte).
    pub(super) fn count(&self, s: MaskSlot) -> usize {
        // SAFETY: no mask view is alive across a call to `count` (every
        // caller drops its views first).
        unsafe { self.mask_words_of(s) }
            .iter()
            .map(|w| (w.wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize)
            .sum()
    }

    /// Recounts the active lanes.
    pub(super) fn recount(&mut self) {
        self.live = self.count(0);
    }

    /// Runs a body for the active lanes; returns early once none is left.
    pub(super) fn run(&mut self, body: Body) {
        let prog = self.prog;
        for inst in &prog.code[body.start as usize..body.end as usize] {
            self.step(inst);
            if self.live == 0 {
                return;
            }
        }
    }

    #[inline]
    fn step(&mut self, inst: &Inst) {
        let n = self.n;
        match *inst {
            // SAFETY (Map*, Div): registers are `n`-lane slots; the compiler
            // never makes a destination one of the sources.
            Inst::Map1 { f, d, a } => unsafe { f(self.reg(d), self.reg(a), n) },
            Inst::Map2 { f, d, a, b } => unsafe { f(self.reg(d), self.reg(a), self.reg(b), n) },
            Inst::Map3 { f, d, a, b, c } => unsafe {
                f(self.reg(d), self.reg(a), self.reg(b), self.reg(c), n)
            },
            Inst::Div { f, d, a, b } => {
                // SAFETY: as above; slot 0 is not referenced elsewhere.
                let fault = unsafe {
                    f(
                        self.reg(d),
                        self.reg(a),
                        self.reg(b),
                        self.mask(0).as_mut_ptr(),
                        n,
                    )
                };
                if let Some((lane, kind)) = fault {
                    self.record_fault(lane, kind, NO_SITE, 0, 0);
                    self.recount();
                }
            }
            Inst::GlobalCmp {
                op,
                fallback,
                d,
                a,
                b,
            } => self.global_cmp(op, fallback, d, a, b),
            Inst::Move { w, d, s } => self.move_lanes(w, d, s, self.live < n),
            Inst::MoveAll { w, d, s } => self.move_lanes(w, d, s, false),
            Inst::Clear { d } => {
                // SAFETY: a u8 register of n lanes.
                unsafe { lanes_mut::<u8>(self.reg(d), n) }.fill(0);
            }
            Inst::ForCond {
                f,
                cond,
                counter,
                end,
                step,
                done,
            } => {
                // SAFETY: distinct n-lane registers.
                unsafe {
                    f(
                        self.reg(cond),
                        self.reg(counter),
                        self.reg(end),
                        self.reg(step),
                        self.reg(done),
                        n,
                    )
                }
            }
            Inst::ForStep {
                f,
                counter,
                step,
                done,
            } => {
                // SAFETY: distinct n-lane registers.
                unsafe { f(self.reg(counter), self.reg(step), self.reg(done), n) }
            }
            Inst::LoadSlice {
                w,
                d,
                slice,
                idx,
                site,
            } => self.load_slice(w, d, slice, idx, site),
            Inst::StoreSlice {
                w,
                s,
                slice,
                idx,
                site,
            } => self.store_slice(w, s, slice, idx, site),
            Inst::Index {
                off,
                base,
                idx,
                len,
                stride,
                site,
            } => self.index(off, base, idx, len, stride, site),
            Inst::Check {
                idx,
                len,
                site,
                inclusive,
            } => self.check(idx, len, site, inclusive),
            Inst::Assert { cond, site } => self.assert(cond, site),
            Inst::Load { w, d, at } => self.load(w, d, at),
            Inst::Store { w, s, at } => self.store(w, s, at),
            Inst::Copy { size, dst, src } => self.copy(size, dst, src),
            Inst::Repeat { elem, count, at } => self.repeat(elem, count, at),
            Inst::If {
                cond,
                slot,
                then_,
                else_,
            } => self.run_if(cond, slot, then_, else_),
            Inst::Loop {
                frame,
                pre,
                cond,
                body,
                post,
            } => self.run_loop(frame, pre, cond, body, post),
            Inst::Region { frame, body } => {
                // SAFETY: one slot reference at a time.
                unsafe { self.mask(frame) }.fill(0);
                self.park(frame);
                self.run(body);
                self.unpark();
                self.rejoin(frame);
            }
            Inst::Break(slot) | Inst::Continue(slot) | Inst::Return(slot) => {
                // SAFETY: `slot` is a frame slot, never slot 0.
                let (exec, to) = unsafe { (self.mask(0), self.mask(slot)) };
                for (t, e) in to.iter_mut().zip(exec.iter_mut()) {
                    *t |= *e;
                    *e = 0;
                }
                self.live = 0;
            }
            Inst::Atomic {
                op,
                ty,
                d,
                a,
                b,
                at,
            } => self.atomic(op, ty, d, a, b, at),
            Inst::Barrier { warp, site } => self.check_converged(warp, None, site),
            Inst::Warp {
                op,
                w,
                d,
                a,
                b,
                segment,
                site,
            } => self.warp_op(op, w, d, [a, b], segment, site),
            Inst::Fence => std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst),
        }
    }

    /// Adds the lanes of `slot` back to the active mask.
    fn rejoin(&mut self, slot: MaskSlot) {
        // SAFETY: slot != 0 (frame slots start at 1).
        let (exec, from) = unsafe { (self.mask(0), self.mask(slot)) };
        for (e, f) in exec.iter_mut().zip(from.iter()) {
            *e |= *f;
        }
        self.recount();
    }

    fn run_if(&mut self, cond: Reg, slot: MaskSlot, then_: Body, else_: Body) {
        let n = self.n;
        {
            // SAFETY: slots 0 and `slot` are distinct; `cond` is a u8 register.
            let (exec, other, c) = unsafe {
                (
                    self.mask(0),
                    self.mask(slot),
                    lanes::<u8>(self.reg(cond), n),
                )
            };
            for ((e, o), &c) in exec.iter_mut().zip(other.iter_mut()).zip(c) {
                let t = *e & (c != 0) as u8;
                *o = *e ^ t;
                *e = t;
            }
        }
        let taken = self.count(0);
        let not_taken = self.live - taken;
        if not_taken == 0 {
            self.live = taken;
            self.run(then_);
        } else if taken == 0 {
            // SAFETY: distinct slots.
            unsafe { self.mask(0).copy_from_slice(self.mask(slot)) };
            self.live = not_taken;
            self.run(else_);
        } else {
            self.live = taken;
            self.park(slot);
            self.run(then_);
            self.unpark();
            // Park the lanes that finished `then_` in slot + 1, run `else_`.
            // SAFETY: slots 0, slot and slot + 1 are distinct.
            unsafe {
                let (exec, other, parked) = (self.mask(0), self.mask(slot), self.mask(slot + 1));
                parked.copy_from_slice(exec);
                exec.copy_from_slice(other);
            }
            self.live = not_taken;
            self.park(slot + 1);
            self.run(else_);
            self.unpark();
            self.rejoin(slot + 1);
        }
    }

    fn run_loop(&mut self, frame: MaskSlot, pre: Body, cond: Option<Reg>, body: Body, post: Body) {
        let n = self.n;
        // SAFETY (all mask and register views here): distinct slots, each
        // view dropped before the next `run`.
        unsafe { self.mask(frame) }.fill(0);
        // The exit mask holds parked lanes for the whole loop, the continue
        // mask during the body (it is stale elsewhere).
        self.park(frame);
        loop {
            if self
                .env
                .stop
                .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
            {
                // Told to stop (a ring handler the host gave up on): every
                // lane, parked or not, stops here; the enclosing loops stop
                // at their next iteration, and no lane runs anything more.
                // SAFETY: no mask view is alive between two `run`s, and
                // the area is exactly `sizes.masks` words long.
                unsafe { self.mem.masks.write_bytes(0, self.mem.sizes.masks) };
                self.live = 0;
                break;
            }
            self.run(pre);
            if let Some(c) = cond {
                let (exec, exited, c) =
                    unsafe { (self.mask(0), self.mask(frame), lanes::<u8>(self.reg(c), n)) };
                for ((e, x), &c) in exec.iter_mut().zip(exited.iter_mut()).zip(c) {
                    let t = *e & (c != 0) as u8;
                    *x |= *e ^ t;
                    *e = t;
                }
                self.recount();
            }
            if self.live == 0 {
                break;
            }
            unsafe { self.mask(frame + 1) }.fill(0);
            self.park(frame + 1);
            self.run(body);
            self.unpark();
            self.rejoin(frame + 1);
            if self.live == 0 {
                break;
            }
            self.run(post);
            if self.live == 0 {
                break;
            }
        }
        self.unpark();
        unsafe { self.mask(0).copy_from_slice(self.mask(frame)) };
        self.recount();
    }

    fn global_cmp(&mut self, op: BinOp, fallback: Map2Fn, d: Reg, a: Reg, b: Reg) {
        let n = self.n;
        let Some(base) = self.global_base else {
            // SAFETY: as for Map2 (distinct n-lane registers).
            unsafe { fallback(self.reg(d), self.reg(a), self.reg(b), n) };
            return;
        };
        // SAFETY: `b` is a u64 register (lane 0 holds the launch-wide
        // value); `d` a distinct u8 register.
        let (bv, out) = unsafe {
            (
                lanes::<u64>(self.reg(b), 1)[0],
                lanes_mut::<u8>(self.reg(d), n),
            )
        };
        // Lane l holds `base + l` (no overflow: base < 2^31 × 1024), so
        // each comparison is true on a prefix, a suffix or one lane.
        let below = |x: u64| x.saturating_sub(base).min(n as u64) as usize; // lanes with base + l < x
        let (lo, hi, inside) = match op {
            BinOp::Lt => (0, below(bv), 1),
            BinOp::Le => (
                0,
                below(bv.saturating_add(1)).max(if bv == u64::MAX { n } else { 0 }),
                1,
            ),
            BinOp::Ge => (0, below(bv), 0),
            BinOp::Gt => (
                0,
                below(bv.saturating_add(1)).max(if bv == u64::MAX { n } else { 0 }),
                0,
            ),
            BinOp::Eq => (below(bv), below(bv.saturating_add(1)), 1),
            _ => (below(bv), below(bv.saturating_add(1)), 0),
        };
        out.fill(1 - inside);
        out[lo..hi].fill(inside);
    }

    fn move_lanes(&mut self, w: Width, d: Reg, s: Reg, masked: bool) {
        let n = self.n;
        let (d, s) = (self.reg(d), self.reg(s));
        if d == s {
            return;
        }
        // SAFETY: distinct n-lane registers; slot 0 is not referenced
        // elsewhere.
        unsafe {
            let exec = self.mask(0);
            match w {
                Width::W1 => move_typed::<u8>(d, s, exec, n, masked),
                Width::W2 => move_typed::<u16>(d, s, exec, n, masked),
                Width::W4 => move_typed::<u32>(d, s, exec, n, masked),
                Width::W8 => move_typed::<u64>(d, s, exec, n, masked),
            }
        }
    }
}

/// `d = s` on every lane, or on the lanes set in `exec`.
///
/// # Safety
/// `d` and `s` are distinct `n`-lane registers.
#[inline(always)]
unsafe fn move_typed<T: Copy>(d: *mut u64, s: *const u64, exec: &[u8], n: usize, masked: bool) {
    // SAFETY: upheld by the caller.
    let (d, s) = unsafe { (lanes_mut::<T>(d, n), lanes::<T>(s, n)) };
    if masked {
        for ((d, &s), &e) in d.iter_mut().zip(s).zip(exec) {
            *d = if e != 0 { s } else { *d };
        }
    } else {
        d.copy_from_slice(s);
    }
}
