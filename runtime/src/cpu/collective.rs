//! Barriers and warp operations, and the check that every thread that must
//! take part in one does.
//!
//! The lanes of a block run in lockstep, so a barrier has nothing to wait
//! for: every lane finishes each instruction before any lane starts the
//! next. What a barrier (or a warp operation) must still do is find the
//! threads that *should* be there and are not. A thread has finished once
//! it returned from the kernel or faulted; every other thread of the block
//! is either active here or *parked*: waiting in a mask slot for control
//! flow to bring it back (the other side of an `if`, a loop's `break` and
//! `continue` masks, an inlined call's `return` mask). The executor keeps
//! the stack of slots that hold parked lanes (only for programs with
//! collectives, see [`Lanes::park`]); a block (or warp) with active lanes
//! here and parked lanes anywhere reached the operation divergently.
//!
//! Such lanes fault with [`FaultKind::DivergentBarrier`] (a block) or
//! [`FaultKind::DivergentWarp`] at the operation's site,
//! the lowest active lane of the block or warp being the one reported: a
//! divergent barrier is undefined on a GPU (it hangs or misbehaves), and
//! stopping the lanes that reached it keeps the launch deterministic. The
//! parked lanes go on; with the faulted lanes finished, a barrier they
//! reach later is no longer divergent.
//!
//! Warps are 32-lane chunks of a block in linear thread order (`x`
//! fastest); the last one of a block may be partial. A sub-warp shuffle
//! (`warp_shuffle_up_width` and the like) works within segments of its
//! width: each lane's segment must be complete (every unfinished lane of it
//! active) rather than its whole warp, and a lane whose width is not a
//! power of two from 1 to 32 stops first with a `ShuffleWidth` fault.

use spindle_codegen::ir::{CollectiveOp, FaultKind, SiteId, WARP_SIZE};

use super::exec::Lanes;
use super::ops::{lanes, lanes_mut};
use super::program::{MaskSlot, Reg, Width};

const WARP: usize = WARP_SIZE as usize;

impl Lanes<'_> {
    /// Notes that `slot` holds parked lanes until the matching
    /// [`Lanes::unpark`] (programs without collectives skip this).
    #[inline(always)]
    pub(super) fn park(&mut self, slot: MaskSlot) {
        if self.prog.collectives {
            self.st.parked.push(slot);
        }
    }

    #[inline(always)]
    pub(super) fn unpark(&mut self) {
        if self.prog.collectives {
            self.st.parked.pop();
        }
    }

    /// Calls `f(lo, hi)` for each block (`warp == false`) or each warp of
    /// the group, as a lane range.
    fn for_each_scope(&self, warp: bool, mut f: impl FnMut(usize, usize)) {
        let bt = self.block_threads;
        for b in (0..self.n).step_by(bt) {
            if warp {
                for lo in (b..b + bt).step_by(WARP) {
                    f(lo, (lo + WARP).min(b + bt));
                }
            } else {
                f(b, b + bt);
            }
        }
    }

    /// The union of the parked slots, word by word, in `st.parked_lanes`
    /// (hand it back there); `None` when no lane is parked.
    fn parked_union(&mut self) -> Option<Vec<u64>> {
        if self.parked.is_empty() {
            return None;
        }
        let mw = self.mask_words;
        let mut parked = std::mem::take(&mut self.st.parked_lanes);
        parked.clear();
        parked.resize(mw, 0);
        for &s in &self.parked {
            // SAFETY: no mask view is alive here.
            for (p, m) in parked.iter_mut().zip(unsafe { self.mask_words_of(s) }) {
                *p |= *m;
            }
        }
        if parked.iter().any(|&w| w != 0) {
            Some(parked)
        } else {
            self.st.parked_lanes = parked;
            None
        }
    }

    /// The divergence check of a collective: in every block (or warp) with
    /// active lanes, are all its unfinished lanes active? Where not, the
    /// active lanes fault with `DivergentBarrier`/`DivergentWarp` at `site`.
    /// With `segments` (a sub-warp shuffle's `u32` width register, every
    /// active lane's width valid), a warp's active lanes fault only if one
    /// of them has an unfinished lane of its own segment parked.
    pub(super) fn check_converged(&mut self, warp: bool, segments: Option<Reg>, site: SiteId) {
        let Some(parked) = self.parked_union() else {
            return;
        };
        let n = self.n;
        // SAFETY: `parked` holds `mask_words` words, at least `n` bytes; a
        // mask's bytes are 0 or 1.
        let p = unsafe { std::slice::from_raw_parts(parked.as_ptr().cast::<u8>(), n) };
        // SAFETY: the only reference to slot 0; the width register is
        // only read.
        let (exec, widths) =
            unsafe { (self.mask(0), segments.map(|r| lanes::<u32>(self.reg(r), n))) };
        let mut stopped = Vec::new();
        self.for_each_scope(warp, |lo, hi| {
            let Some(first) = exec[lo..hi].iter().position(|&e| e != 0) else {
                return;
            };
            let divergent = match widths {
                None => p[lo..hi].contains(&1),
                Some(widths) => (lo..hi).filter(|&l| exec[l] != 0).any(|l| {
                    let w = widths[l] as usize;
                    let seg = lo + ((l - lo) & !(w - 1));
                    p[seg..(seg + w).min(hi)].contains(&1)
                }),
            };
            if divergent {
                stopped.push(lo + first);
                exec[lo..hi].fill(0);
            }
        });
        for lane in stopped {
            let kind = if warp {
                FaultKind::DivergentWarp
            } else {
                FaultKind::DivergentBarrier
            };
            self.record_fault(lane, kind, site, 0, 0);
        }
        self.recount();
        self.st.parked_lanes = parked;
    }

    /// Stops every active lane whose segment width (`u32` register `r`) is
    /// not a power of two from 1 to 32, with a `ShuffleWidth` fault (the
    /// width as its index) at `site`, in lane order.
    fn check_widths(&mut self, r: Reg, site: SiteId) {
        let n = self.n;
        // SAFETY: the only reference to slot 0; `r` is only read.
        let (exec, widths) = unsafe { (self.mask(0), lanes::<u32>(self.reg(r), n)) };
        let bad: Vec<(usize, u32)> = (0..n)
            .filter(|&l| exec[l] != 0 && !valid_width(widths[l]))
            .map(|l| (l, widths[l]))
            .collect();
        if bad.is_empty() {
            return;
        }
        for &(l, _) in &bad {
            exec[l] = 0;
        }
        for (l, w) in bad {
            self.record_fault(l, FaultKind::ShuffleWidth, site, w as u64, WARP as u64);
        }
        self.recount();
    }

    /// A warp operation with operands `a` (the value or predicate) and `b`
    /// (a shuffle's lane operand, `u32`), result in `d`; `segment`: a
    /// sub-warp shuffle's width register.
    pub(super) fn warp_op(
        &mut self,
        op: CollectiveOp,
        w: Width,
        d: Reg,
        [a, b]: [Reg; 2],
        segment: Option<Reg>,
        site: SiteId,
    ) {
        if let Some(r) = segment {
            // A bad width stops its thread before anything else happens.
            self.check_widths(r, site);
            if self.live == 0 {
                return;
            }
        }
        self.check_converged(true, segment, site);
        if self.live == 0 {
            return;
        }
        match op {
            CollectiveOp::All | CollectiveOp::Any | CollectiveOp::Ballot => self.vote(op, d, a),
            _ => match w {
                Width::W1 => self.shuffle::<u8>(op, d, a, b, segment),
                Width::W2 => self.shuffle::<u16>(op, d, a, b, segment),
                Width::W4 => self.shuffle::<u32>(op, d, a, b, segment),
                Width::W8 => self.shuffle::<u64>(op, d, a, b, segment),
            },
        }
    }

    /// `d = v` of the source lane (the caller's own `v` when there is none
    /// or it is not an active lane of its warp), within segments of the
    /// `u32` widths in `segment` (all valid), or of 32 lanes.
    fn shuffle<T: Copy>(&self, op: CollectiveOp, d: Reg, v: Reg, idx: Reg, segment: Option<Reg>) {
        let n = self.n;
        // SAFETY: `d` is a T register distinct from `v`, `idx` and
        // `segment` (u32 registers), which are only read; slot 0 is only
        // read.
        let (dl, vl, il, wl, exec) = unsafe {
            (
                lanes_mut::<T>(self.reg(d), n),
                lanes::<T>(self.reg(v), n),
                lanes::<u32>(self.reg(idx), n),
                segment.map(|r| lanes::<u32>(self.reg(r), n)),
                self.mask(0),
            )
        };
        self.for_each_scope(true, |lo, hi| {
            for l in lo..hi {
                if exec[l] == 0 {
                    continue;
                }
                let width = wl.map_or(WARP as u64, |w| w[l] as u64);
                let src = source_lane(op, (l - lo) as u64, il[l] as u64, width);
                // No source, past a partial warp's end, or a lane not
                // taking part: the caller's own.
                dl[l] = match src {
                    Some(s) if s < (hi - lo) as u64 && exec[lo + s as usize] != 0 => {
                        vl[lo + s as usize]
                    }
                    _ => vl[l],
                };
            }
        });
    }

    /// `warp_all`, `warp_any` (`u8` results) and `warp_ballot` (`u32`) of
    /// the `u8` predicate `p` over each warp's active lanes.
    fn vote(&self, op: CollectiveOp, d: Reg, p: Reg) {
        match op {
            CollectiveOp::Ballot => self.vote_into::<u32>(op, d, p, |r| r),
            _ => self.vote_into::<u8>(op, d, p, |r| r as u8),
        }
    }

    fn vote_into<T: Copy>(&self, op: CollectiveOp, d: Reg, p: Reg, conv: fn(u32) -> T) {
        let n = self.n;
        // SAFETY: `d` is a T register distinct from `p` (a u8 register);
        // `p` and slot 0 are only read.
        let (dl, pl, exec) = unsafe {
            (
                lanes_mut::<T>(self.reg(d), n),
                lanes::<u8>(self.reg(p), n),
                self.mask(0),
            )
        };
        self.for_each_scope(true, |lo, hi| {
            let (mut active, mut ballot) = (0u32, 0u32);
            for (k, (&e, &p)) in exec[lo..hi].iter().zip(&pl[lo..hi]).enumerate() {
                active |= ((e != 0) as u32) << k;
                ballot |= ((e != 0 && p != 0) as u32) << k;
            }
            let result = conv(match op {
                CollectiveOp::All => (ballot == active) as u32,
                CollectiveOp::Any => (ballot != 0) as u32,
                _ => ballot,
            });
            for (o, &e) in dl[lo..hi].iter_mut().zip(&exec[lo..hi]) {
                if e != 0 {
                    *o = result;
                }
            }
        });
    }
}

/// A segment width a sub-warp shuffle accepts: a power of two from 1 to 32.
fn valid_width(w: u32) -> bool {
    w.is_power_of_two() && w <= WARP_SIZE
}

/// The source lane of shuffle `op` for `lane` with operand `x` within
/// segments of `width` lanes (a valid width), as [`CollectiveOp`] defines
/// it; `None` when there is none.
pub(super) fn source_lane(op: CollectiveOp, lane: u64, x: u64, width: u64) -> Option<u64> {
    let seg = lane & !(width - 1);
    let pos = lane - seg;
    match op {
        CollectiveOp::Shuffle => Some(seg + x % width),
        CollectiveOp::ShuffleDown => (pos + x < width).then_some(lane + x),
        CollectiveOp::ShuffleUp => (x <= pos).then(|| lane - x),
        _ => Some(lane ^ x).filter(|&j| j < seg + width),
    }
}
