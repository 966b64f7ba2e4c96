//! Block groups: a host thread runs several consecutive blocks of the grid
//! as one lane vector (`group × threads-per-block` lanes), so the cost of
//! dispatching each instruction is shared by more threads. Every lane still
//! sees its own block's geometry; faults name the lane's own block and
//! thread.
//!
//! Grouping changes nothing a kernel can observe: lanes of different
//! blocks never interact, and the block-level features keep their meaning
//! per block: `sync_threads()` checks each block of the group on its own
//! (`collective.rs`), warps are 32-thread chunks of a block (lane `l` of a
//! group is thread `l % block_threads` of block `l / block_threads`), and
//! each block of the group has its own shared-array area and dynamic
//! shared area.

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::{FaultKind, WARP_SIZE};

use super::arena::{ArenaPart, ArenaSizes};
use super::exec::{LaneBuffers, Lanes};
use super::memory::{Env, SharedChunk};
use super::ops::lanes_mut;
use super::program::{Fixed, Program, Reg, Width};

/// Lanes a group aims for: large enough to spread the per-instruction
/// cost, small enough that the registers stay in the L2 cache.
pub(crate) const GROUP_LANES: usize = 1024;

const WARP: usize = WARP_SIZE as usize;

impl<'a> Lanes<'a> {
    /// Sets up `bufs` (reusing its allocations) for groups of `group`
    /// blocks and fills the launch-wide fixed registers (constants,
    /// parameters, geometry). [`crate::Error::OutOfMemory`] when the
    /// areas cannot be allocated (see [`LaneBuffers::allocate`]).
    pub fn new(
        prog: &'a Program,
        env: &'a Env<'a>,
        group: usize,
        bufs: &'a mut LaneBuffers,
    ) -> crate::Result<Self> {
        // A program without dynamic shared memory gets no area (and never
        // allocates one), whatever the launch asked for.
        let dynamic_stride = if prog.dynamic_shared {
            env.dynamic_shared_stride()
        } else {
            0
        };
        let st = bufs;
        st.allocate(prog, env.threads(), group, dynamic_stride)?;
        let n = st.n;
        let mask_words = st.mask_words;
        let block_threads = st.block_threads;
        let bx = env.block_dim[0].max(1) as usize;
        st.parked.clear();
        if prog.collectives {
            // Nesting never holds more parked slots than the program has,
            // so a ring message never allocates here.
            st.parked.reserve(prog.mask_slots as usize);
            st.parked_lanes.reserve(mask_words);
        }
        st.lane_x.clear();
        st.lane_x
            .extend((0..n).map(|l| (l % block_threads % bx) as u32));
        st.blocks.clear();
        st.blocks.reserve(group);
        st.global_base = None;
        st.global_index_pending = false;
        st.live = 0;
        st.first_block = 0;
        st.fault.set(None);
        st.prepared = false;
        let mut lanes = Lanes::over(prog, env, st);
        for (k, f) in prog.fixed.iter().enumerate() {
            if !f.per_block() {
                lanes.fill_fixed(k, *f);
            }
        }
        Ok(lanes)
    }

    /// Runs blocks `first .. first + count` of the grid (`count` at most
    /// the group size) and returns their first fault: that of the lowest
    /// block, with that block's linear number.
    pub fn run_group(&mut self, first: u64, count: usize) -> Option<(u64, FaultRecord)> {
        let count = self.setup_group(first, count);
        // Each block starts with zeroed shared arrays and dynamic shared
        // memory.
        let words = self.prog.shared_bytes as usize / 8 * count;
        let chunks = self.dynamic_stride / size_of::<SharedChunk>() * count;
        // SAFETY: `count` blocks' areas are within the group's (sized for
        // `group ≥ count` blocks); no view is alive between instructions.
        unsafe { self.mem.clear_shared(words, chunks) };
        self.run_blocks(count * self.block_threads);
        self.fault.take()
    }

    /// Sets up blocks `first .. first + count` to run (their per-block
    /// fixed registers); returns `count`, clamped to the group size.
    fn setup_group(&mut self, first: u64, count: usize) -> usize {
        let [gx, gy, _] = self.env.grid_dim.map(|d| d as u64);
        let group = self.n / self.block_threads;
        let count = count.clamp(1, group);
        self.blocks.clear();
        self.blocks.extend((first..first + count as u64).map(|b| {
            [
                (b % gx) as u32,
                ((b / gx) % gy) as u32,
                (b / (gx * gy)) as u32,
            ]
        }));
        self.first_block = first;
        self.fault.set(None);
        // `global_index()` runs through consecutive values when blocks are
        // 1-D and the group's blocks sit side by side in one grid row.
        let [bdx, bdy, bdz] = self.env.block_dim;
        let b0 = self.blocks[0];
        let row = self
            .blocks
            .iter()
            .enumerate()
            .all(|(j, b)| *b == [b0[0] + j as u32, b0[1], b0[2]]);
        self.global_base = (bdy == 1 && bdz == 1 && row).then(|| b0[0] as u64 * bdx as u64);
        let prog = self.prog;
        self.global_index_pending = self.global_base.is_some() && !prog.global_index_read;
        for (k, f) in prog.fixed.iter().enumerate() {
            if f.per_block() && !(self.global_index_pending && *f == Fixed::GlobalIndex) {
                self.fill_fixed(k, *f);
            }
        }
        count
    }

    /// Runs the set-up group's first `active` lanes.
    fn run_blocks(&mut self, active: usize) {
        let prog = self.prog;
        self.parked.clear();
        if !prog.block_init.is_empty() {
            self.activate(active);
            self.run(prog.block_init);
        }
        self.activate(active);
        self.run(prog.entry);
    }

    /// Sets up a group of one block (block 0 of a one-block grid) to run
    /// again and again with new scalar parameters (a ring handler, one
    /// message at a time): every fixed register but the parameters is
    /// filled here, once. Run it with [`Lanes::run_prepared`]; come back to
    /// it with [`Lanes::resume`].
    pub fn prepare_block(&mut self) {
        debug_assert_eq!(self.n, self.block_threads);
        self.setup_group(0, 1);
        // Block 0 never changes: `global_index()` is filled now rather
        // than on demand.
        self.ensure_global_index();
        self.prepared = true;
    }

    /// The block that [`Lanes::prepare_block`] set up in `bufs`, to run
    /// again with [`Lanes::run_prepared`]. `prog` must be the program it
    /// was prepared for and `env` have the same geometry; its parameters,
    /// state and uniforms may differ (they are read afresh).
    pub fn resume(prog: &'a Program, env: &'a Env<'a>, bufs: &'a mut LaneBuffers) -> Self {
        debug_assert!(bufs.prepared);
        debug_assert!(bufs.block_threads == env.threads() && bufs.n == bufs.block_threads);
        debug_assert_eq!(
            bufs.arena.sizes().regs,
            (prog.temps as usize + prog.fixed.len()) * bufs.reg_stride
        );
        Lanes::over(prog, env, bufs)
    }

    /// Runs a prepared block (see [`Lanes::prepare_block`]) from the same
    /// starting point as a fresh [`Lanes::run_group`]: the scalar
    /// parameters are refilled from the `Env`, temporaries, blobs and masks
    /// cleared; the other fixed registers are kept. Returns its fault.
    pub fn run_prepared(&mut self) -> Option<FaultRecord> {
        let prog = self.prog;
        for (k, f) in prog.fixed.iter().enumerate() {
            if matches!(f, Fixed::Param { .. }) {
                self.fill_fixed(k, *f);
            }
        }
        let temps = prog.temps as usize * self.reg_stride;
        // SAFETY: the temporaries come first in the register area; no view
        // is alive between runs.
        unsafe {
            self.mem.clear_regs(temps);
            self.mem.clear_blobs_and_masks();
        }
        self.fault.set(None);
        self.run_blocks(self.block_threads);
        self.fault.take().map(|(_, rec)| rec)
    }

    /// Fills the `global_index()` register if it was left for later.
    pub(super) fn ensure_global_index(&mut self) {
        if self.global_index_pending {
            self.global_index_pending = false;
            if let Some(r) = self.prog.global_index {
                self.fill_fixed((r.0 & !Reg::FIXED) as usize, Fixed::GlobalIndex);
            }
        }
    }

    /// Makes the first `active` lanes active, the others not.
    fn activate(&mut self, active: usize) {
        // SAFETY: the only reference to slot 0.
        let exec = unsafe { self.mask(0) };
        exec[..active].fill(1);
        exec[active..].fill(0);
        self.live = active;
    }

    /// Lane 0's bytes of register `r` (`w` bytes).
    pub fn lane0_reg(&self, r: Reg, w: Width) -> &[u8] {
        // SAFETY: a register slot holds at least 8 initialised bytes; lane 0
        // is its first `w` bytes.
        unsafe { std::slice::from_raw_parts(self.reg(r).cast::<u8>(), w.bytes()) }
    }

    /// Lane 0's bytes of blob `b`.
    pub fn lane0_blob(&self, b: u32) -> &[u8] {
        let def = self.prog.blobs[b as usize];
        // SAFETY: lane 0's copy of the blob is `size` bytes at its base.
        unsafe { std::slice::from_raw_parts(self.blob_base(def.offset), def.size as usize) }
    }

    /// The lane's `thread_idx()`.
    pub(super) fn thread_of(&self, lane: usize) -> [u32; 3] {
        let t = lane % self.block_threads;
        let [bx, by, _] = self.env.block_dim;
        let (bx, by) = (bx as usize, by as usize);
        [
            (t % bx) as u32,
            ((t / bx) % by) as u32,
            (t / (bx * by)) as u32,
        ]
    }

    /// Records a fault of `lane` if it is its group's first: the first of
    /// the lowest-numbered faulting block, in program order. The caller has
    /// already cleared the lane from the active mask.
    pub(super) fn record_fault(
        &self,
        lane: usize,
        kind: FaultKind,
        site: u32,
        index: u64,
        len: u64,
    ) {
        let j = lane / self.block_threads;
        let block = self.first_block + j as u64;
        if self.fault.get().is_some_and(|(b, _)| b <= block) {
            return;
        }
        let rec = FaultRecord {
            flag: 1,
            kind: kind as u32,
            site,
            _pad: 0,
            index,
            len,
            block: self.blocks.get(j).copied().unwrap_or_default(),
            thread: self.thread_of(lane),
        };
        self.fault.set(Some((block, rec)));
    }

    fn fill_fixed(&mut self, k: usize, f: Fixed) {
        let r = self.reg(Reg(Reg::FIXED | k as u32));
        let (n, nb) = (self.n, self.block_threads);
        let env = self.env;
        // The block of lane `l` (lanes past the group's blocks repeat the
        // last one; they are never active).
        let block_of = |l: usize| self.blocks[(l / nb).min(self.blocks.len().saturating_sub(1))];
        // SAFETY: `r` is fixed register k's slot; nothing else refers to it.
        unsafe {
            match f {
                Fixed::Const { bits, w } => fill(r, n, w, bits),
                Fixed::Param { param, w } => fill(r, n, w, env.scalar_param(param as usize)),
                Fixed::SliceLen(s) => fill(r, n, Width::W8, env.slices[s as usize].len),
                Fixed::DynamicSharedLen(elem) => {
                    fill(r, n, Width::W8, env.dynamic_shared_len(elem))
                }
                Fixed::LaneId => {
                    for (l, o) in lanes_mut::<u32>(r, n).iter_mut().enumerate() {
                        *o = (l % nb % WARP) as u32;
                    }
                }
                Fixed::ThreadIdx(axis) => {
                    for (l, o) in lanes_mut::<u32>(r, n).iter_mut().enumerate() {
                        *o = self.thread_of(l)[axis as usize];
                    }
                }
                Fixed::BlockDim(axis) => fill(r, n, Width::W4, env.block_dim[axis as usize] as u64),
                Fixed::GridDim(axis) => fill(r, n, Width::W4, env.grid_dim[axis as usize] as u64),
                Fixed::BlockIdx(axis) => {
                    for (j, chunk) in lanes_mut::<u32>(r, n).chunks_mut(nb).enumerate() {
                        chunk.fill(block_of(j * nb)[axis as usize]);
                    }
                }
                Fixed::GlobalIndex => {
                    let bdx = env.block_dim[0] as u64;
                    let out = lanes_mut::<u64>(r, n);
                    for (j, (chunk, xs)) in
                        out.chunks_mut(nb).zip(self.lane_x.chunks(nb)).enumerate()
                    {
                        let base = block_of(j * nb)[0] as u64 * bdx;
                        for (o, &x) in chunk.iter_mut().zip(xs) {
                            *o = base + x as u64;
                        }
                    }
                }
            }
        }
    }
}

/// Fills an `n`-lane register with `bits` truncated to width `w`.
///
/// # Safety
/// `r` is an `n`-lane register not referenced elsewhere.
unsafe fn fill(r: *mut u64, n: usize, w: Width, bits: u64) {
    // SAFETY: upheld by the caller.
    unsafe {
        match w {
            Width::W1 => lanes_mut::<u8>(r, n).fill(bits as u8),
            Width::W2 => lanes_mut::<u16>(r, n).fill(bits as u16),
            Width::W4 => lanes_mut::<u32>(r, n).fill(bits as u32),
            Width::W8 => lanes_mut::<u64>(r, n).fill(bits),
        }
    }
}

impl LaneBuffers {
    /// Sizes the areas for groups of `group` blocks of `block_threads`
    /// threads running `prog`, with `dynamic_stride` bytes of dynamic
    /// shared memory per block, all zeroed. [`crate::Error::OutOfMemory`]
    /// when what the kernel and the launch size (a thread's local arrays
    /// times the group's threads, above all) cannot be allocated.
    pub(crate) fn allocate(
        &mut self,
        prog: &Program,
        block_threads: usize,
        group: usize,
        dynamic_stride: usize,
    ) -> crate::Result<()> {
        use crate::fallible::bytes_for;
        let group = group.max(1);
        let n = block_threads * group;
        let regs_count = prog.temps as usize + prog.fixed.len();
        // Small lane vectors (a ring handler's block) keep their registers
        // dense, one cache line each: less to clear per run.
        let reg_words = n.next_multiple_of(8);
        let reg_stride = if reg_words > 64 {
            reg_words + 8
        } else {
            reg_words
        };
        let mask_words = n.div_ceil(8);
        self.n = n;
        self.block_threads = block_threads;
        self.reg_stride = reg_stride;
        self.mask_words = mask_words;
        let area = |what: &str| {
            format!("the CPU backend's {what} for {group} block(s) of {block_threads} threads")
        };
        let locals = || {
            area(&format!(
                "local values ({} bytes per thread)",
                prog.blob_bytes
            ))
        };
        let blobs = bytes_for(prog.blob_bytes as usize, n, locals)?.div_ceil(8);
        self.dynamic_stride = dynamic_stride;
        self.arena.resize(
            ArenaSizes {
                regs: regs_count * reg_stride,
                blobs,
                masks: prog.mask_slots as usize * mask_words,
                shared: prog.shared_bytes as usize / 8 * group,
                dynamic: dynamic_stride / size_of::<SharedChunk>() * group,
            },
            &|part| match part {
                ArenaPart::Blobs => locals(),
                other => area(other.name()),
            },
        )
    }
}
