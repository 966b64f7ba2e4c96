//! The memory layout of an actor group, defined once: `K` actors served by
//! one executor (one persistent kernel of `G` blocks on a GPU, a pool of
//! `G` worker threads on the CPU backend), each actor with its own pair of
//! rings of the single-actor protocol ([`super::layout`]).
//!
//! # Region
//!
//! ```text
//! offset 0                          GroupControl (2 lines: config, command)
//! GroupLayout::block_status_offset  G × BlockStatus line  (one per block / worker)
//! GroupLayout::actors_offset        K × actor_stride:
//!     + 0                             ActorExecutor line  (request head, error, fault record)
//!     + 128                           host line           (reply head)
//!     + GroupLayout::request_offset   capacity × request slot  (host → executor)
//!     + GroupLayout::reply_offset     capacity × reply slot    (executor → host)
//! GroupLayout::state_out_offset     K × state_stride bytes, written at exit
//! ```
//!
//! Bytes per actor: [`GroupLayout::bytes_per_actor`] = 256 + the two rings
//! (each rounded up to 128 bytes) + the state (rounded up to its
//! alignment); for a 16-slot ring of 4-byte messages and 8-byte replies
//! and an 8-byte state that is 256 + 256 + 256 + 8 = 776 bytes, so 10 000
//! actors take about 7.8 MB.
//!
//! # Who writes what
//!
//! | word                              | writer   | when                                        |
//! |-----------------------------------|----------|---------------------------------------------|
//! | `config.*`                        | host     | once, before the executor starts            |
//! | `command.stop`                    | host     | shutdown (`STOP_DRAIN`) or drop (`STOP_ABORT`) |
//! | block `b`'s status                | block `b`| start, exit; `faults` when a launch of it ends on a fault |
//! | actor `a`'s `request_head`        | the block that owns `a` | once per batch, with its replies |
//! | actor `a`'s `error`, `fault`      | the block that owns `a` | once, when `a`'s handler faults  |
//! | actor `a`'s `reply_head`          | host     | after copying a reply out of its slot       |
//! | actor `a`'s slots                 | as for one actor ([`super::layout`])           ||
//! | actor `a`'s state-out             | the block that owns `a` | once, before the block's `exited` |
//!
//! Block `b` of `G` owns actors `b, b + G, b + 2G, …`: no word has two
//! writers, no actor has two executors, and every executor word of an
//! actor sits on the actor's executor line, which only its block writes;
//! the host's word sits on its own line.
//!
//! # The protocol per actor
//!
//! Each actor's two rings follow the single-actor protocol exactly
//! (sequence numbers, the full checks, batches of up to
//! [`super::layout::MAX_BATCH`] with one acquire fence after the poll and
//! one release fence before the publish). Because every request gets
//! exactly one reply, an actor's next reply position always equals its
//! request head: the executor keeps no per-actor state but the head.
//!
//! # Fairness
//!
//! A block visits its actors round-robin and takes at most one batch per
//! actor per pass, so an actor whose ring is flooded delays another of the
//! same block by at most one batch per pass; it never starves it.
//!
//! # Stop, drain, exit
//!
//! The host stores `stop` after its last publish (release). A block reads
//! `stop` (acquire) at the start of each pass; a pass that began after it
//! read `STOP_DRAIN` and found no published request in any of its live
//! actors ends the block: it writes its actors' states to state-out and
//! publishes its status `exited = EXIT_DRAINED` (release). The host waits
//! for every block's `exited`. `STOP_ABORT` ends a block after the batch
//! in hand, without draining (its state-out is written too).
//!
//! # Faults
//!
//! A handler fault in actor `a` records the fault in `a`'s fault record,
//! publishes the replies to `a`'s messages before the faulting one (as a
//! single actor does), and stores `a`'s `error` (release, after the
//! record). From then on the block skips `a`; the other actors keep
//! running. The host acquires `error` before it reads the record, and
//! returns the fault for every later call on `a`, naming the actor.
//!
//! On a GPU a faulting handler thread ends (it cannot return into the
//! loop), so the block that ran it cannot go on: its other threads leave
//! too, and the last thread out stores the block's `faults` word (release)
//! as `launch + 1`, where `launch` numbers the block's launches from 0.
//! The host then launches the block again (`launch + 1`), alone; the new
//! launch reads where each actor's requests stand from the region's
//! request heads (a copy kept in device memory) and skips the failed ones.
//! Nothing else of a block lives outside the region and the actors'
//! states, so a relaunch loses nothing. The CPU backend's workers make a
//! fresh handler instead and never store `faults`.

use std::fmt::Write as _;
use std::mem::{offset_of, size_of};

use super::layout::{
    CacheLine, PayloadShape, RingCommand, RingIndex, SlotLayout, CACHE_LINE, MAX_CAPACITY,
    MAX_PAYLOAD,
};
use crate::abi::FaultRecord;
use crate::cdecl::c_struct_decl;

/// `config.magic` of a group region: `"SPGR"`.
pub const GROUP_MAGIC: u32 = 0x5350_4752;
/// `config.version` of a group region: bump on any layout change.
pub const GROUP_VERSION: u32 = 2;
/// The most actors one group holds.
pub const MAX_GROUP_ACTORS: u32 = 1 << 22;
/// The most blocks (CPU workers) one group runs on.
pub const MAX_GROUP_BLOCKS: u32 = 1 << 16;

crate::cdecl::c_struct! {
    /// Written by the host once, before the executor starts; read-only after.
    pub struct GroupConfigWords as "SpindleGroupConfig" {
        /// [`GROUP_MAGIC`].
        pub magic: u32 => "uint32_t" "" false,
        /// [`GROUP_VERSION`].
        pub version: u32 => "uint32_t" "" false,
        /// Actors in the group (`K`).
        pub actors: u32 => "uint32_t" "" false,
        /// Blocks (CPU workers) serving them (`G`).
        pub blocks: u32 => "uint32_t" "" false,
        /// Slots per ring of each actor (a power of two).
        pub capacity: u32 => "uint32_t" "" false,
        /// Bytes from one request slot to the next.
        pub request_stride: u32 => "uint32_t" "" false,
        /// Bytes from one reply slot to the next.
        pub reply_stride: u32 => "uint32_t" "" false,
        /// `size_of::<S>()`.
        pub state_size: u32 => "uint32_t" "" false,
        /// Bytes from one actor's state to the next (state-out).
        pub state_stride: u32 => "uint32_t" "" false,
        /// Bytes from one actor's lines and rings to the next.
        pub actor_stride: u32 => "uint32_t" "" false,
        /// Longest idle back-off sleep in nanoseconds (0: spin).
        pub idle_ns: u32 => "uint32_t" "" false,
        /// Threads running the handler.
        pub threads: u32 => "uint32_t" "" false,
    }
}

crate::cdecl::c_struct! {
    /// The control block at the start of a group region.
    pub struct GroupControl as "SpindleGroupControl" {
        /// Host, before start.
        pub config: CacheLine<GroupConfigWords> => "SpindleGroupConfig" "" true,
        /// Host: `stop`.
        pub command: CacheLine<RingCommand> => "SpindleRingCommand" "" true,
    }
}

crate::cdecl::c_struct! {
    /// A block's (CPU worker's) status words, written by that block only.
    pub struct BlockStatus as "SpindleGroupBlockStatus" {
        /// Non-zero once a launch of the block has checked `config` and
        /// runs (`launch + 1`).
        pub running: u32 => "uint32_t" "" false,
        /// An `EXIT_*` code; non-zero once the block has stopped for good.
        pub exited: u32 => "uint32_t" "" false,
        /// An `ERROR_*` code (`ERROR_LAYOUT`: the config check failed).
        pub error: u32 => "uint32_t" "" false,
        /// `launch + 1` once launch `launch` of the block ended because a
        /// handler faulted (GPU only): the host launches it again.
        pub faults: u32 => "uint32_t" "" false,
    }
}

crate::cdecl::c_struct! {
    /// An actor's words written by the block that owns it.
    pub struct ActorExecutorWords as "SpindleActorExecutor" {
        /// Request positions consumed (= reply positions published).
        pub request_head: u32 => "uint32_t" "" false,
        /// An `ERROR_*` code of [`super::layout`]; non-zero once the
        /// actor has failed.
        pub error: u32 => "uint32_t" "" false,
        /// The actor's fault record (valid once `error == ERROR_FAULT`).
        pub fault: FaultRecord => "SpindleFault" "" false,
    }
}

crate::cdecl::c_struct! {
    /// An actor's two control lines, at the start of its part of the region.
    pub struct ActorLines as "SpindleActorLines" {
        /// The owning block's words.
        pub executor: CacheLine<ActorExecutorWords> => "SpindleActorExecutor" "" true,
        /// Host: reply positions consumed.
        pub reply_head: CacheLine<RingIndex> => "SpindleRingIndex" "" true,
    }
}

const _: () = {
    assert!(size_of::<GroupConfigWords>() == 48);
    assert!(size_of::<GroupControl>() == 2 * CACHE_LINE);
    assert!(size_of::<ActorExecutorWords>() == 64);
    assert!(offset_of!(ActorExecutorWords, fault) == 8);
    assert!(size_of::<ActorLines>() == 2 * CACHE_LINE);
    assert!(size_of::<CacheLine<BlockStatus>>() == CACHE_LINE);
};

/// Byte offsets of the group-wide words (the control block is at 0).
pub mod group_offsets {
    use super::*;

    /// `config` (the whole line).
    pub const CONFIG: usize = offset_of!(GroupControl, config);
    /// `command.stop`.
    pub const STOP: usize = offset_of!(GroupControl, command) + offset_of!(RingCommand, stop);
    /// `request_head` within an actor's part.
    pub const ACTOR_REQUEST_HEAD: usize =
        offset_of!(ActorLines, executor) + offset_of!(ActorExecutorWords, request_head);
    /// `error` within an actor's part.
    pub const ACTOR_ERROR: usize =
        offset_of!(ActorLines, executor) + offset_of!(ActorExecutorWords, error);
    /// The fault record within an actor's part.
    pub const ACTOR_FAULT: usize =
        offset_of!(ActorLines, executor) + offset_of!(ActorExecutorWords, fault);
    /// `reply_head` within an actor's part.
    pub const ACTOR_REPLY_HEAD: usize =
        offset_of!(ActorLines, reply_head) + offset_of!(RingIndex, index);
    /// `running` within a block's status line.
    pub const BLOCK_RUNNING: usize = offset_of!(BlockStatus, running);
    /// `exited` within a block's status line.
    pub const BLOCK_EXITED: usize = offset_of!(BlockStatus, exited);
    /// `error` within a block's status line.
    pub const BLOCK_ERROR: usize = offset_of!(BlockStatus, error);
    /// `faults` within a block's status line.
    pub const BLOCK_FAULTS: usize = offset_of!(BlockStatus, faults);
    /// Request slot 0 within an actor's part (its two lines come first).
    pub const ACTOR_REQUESTS: usize = size_of::<ActorLines>();
}

/// The whole region of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupLayout {
    /// Actors (`K`).
    pub actors: u32,
    /// Blocks or CPU workers (`G`).
    pub blocks: u32,
    /// Slots per ring of each actor.
    pub capacity: u32,
    /// Request slots (message `M`).
    pub request: SlotLayout,
    /// Reply slots (reply `R`).
    pub reply: SlotLayout,
    /// `size_of::<S>()`.
    pub state_size: usize,
    /// Bytes from one state to the next in state-out.
    pub state_stride: usize,
    /// Offset of block 0's status line.
    pub block_status_offset: usize,
    /// Offset of actor 0's part.
    pub actors_offset: usize,
    /// Bytes from one actor's part to the next.
    pub actor_stride: usize,
    /// Offset of request slot 0 within an actor's part.
    pub request_offset: usize,
    /// Offset of reply slot 0 within an actor's part.
    pub reply_offset: usize,
    /// Offset of actor 0's state in state-out.
    pub state_out_offset: usize,
    /// Total region size (a multiple of [`CACHE_LINE`]).
    pub total_size: usize,
}

impl GroupLayout {
    /// The region for `actors` actors served by `blocks` blocks, each with
    /// `capacity` slots per ring carrying messages of shape `msg` and
    /// replies of shape `reply`, and holding state of shape `state`.
    pub fn new(
        actors: usize,
        blocks: usize,
        capacity: usize,
        msg: PayloadShape,
        reply: PayloadShape,
        state: PayloadShape,
    ) -> Result<GroupLayout, String> {
        if actors == 0 {
            return Err("a group needs at least one actor (it was given none)".into());
        }
        if actors > MAX_GROUP_ACTORS as usize {
            return Err(format!(
                "a group holds at most {MAX_GROUP_ACTORS} actors; it was given {actors}"
            ));
        }
        if blocks == 0 || blocks > MAX_GROUP_BLOCKS as usize {
            return Err(format!(
                "a group runs on 1 to {MAX_GROUP_BLOCKS} blocks or workers; {blocks} were asked for"
            ));
        }
        if capacity == 0 || !capacity.is_power_of_two() || capacity > MAX_CAPACITY as usize {
            return Err(format!(
                "ring capacity {capacity} must be a power of two between 1 and {MAX_CAPACITY}"
            ));
        }
        let request = SlotLayout::new(msg.size, msg.align).map_err(|e| format!("message: {e}"))?;
        let reply = SlotLayout::new(reply.size, reply.align).map_err(|e| format!("reply: {e}"))?;
        if state.size == 0 || state.size > MAX_PAYLOAD || state.align > CACHE_LINE {
            return Err(format!(
                "state of {} bytes (align {}) does not fit a ring (1 byte ..= 1 MiB, align ≤ 128)",
                state.size, state.align
            ));
        }
        let line = |n: usize| n.div_ceil(CACHE_LINE) * CACHE_LINE;
        let request_offset = group_offsets::ACTOR_REQUESTS;
        let reply_offset = request_offset + line(capacity * request.stride);
        let actor_stride = reply_offset + line(capacity * reply.stride);
        let state_stride = state.size.next_multiple_of(state.align.max(8));
        let block_status_offset = size_of::<GroupControl>();
        let actors_offset = block_status_offset + blocks * CACHE_LINE;
        let too_big = || {
            format!(
                "a group of {actors} actors with {capacity}-slot rings needs more than 2^32 bytes \
                 ({} bytes per actor)",
                actor_stride + state_stride
            )
        };
        let state_out_offset = actor_stride
            .checked_mul(actors)
            .and_then(|a| a.checked_add(actors_offset))
            .filter(|&n| n <= u32::MAX as usize)
            .ok_or_else(too_big)?;
        let total_size = line(state_out_offset + state_stride * actors);
        if total_size > u32::MAX as usize {
            return Err(too_big());
        }
        Ok(GroupLayout {
            actors: actors as u32,
            blocks: blocks as u32,
            capacity: capacity as u32,
            request,
            reply,
            state_size: state.size,
            state_stride,
            block_status_offset,
            actors_offset,
            actor_stride,
            request_offset,
            reply_offset,
            state_out_offset,
            total_size,
        })
    }

    /// Region bytes one actor takes (its lines, its rings and its state).
    pub fn bytes_per_actor(&self) -> usize {
        self.actor_stride + self.state_stride
    }

    /// Offset of actor `a`'s part (its lines; its rings follow).
    pub fn actor_offset(&self, a: u32) -> usize {
        self.actors_offset + a as usize * self.actor_stride
    }

    /// Offset of block `b`'s status line.
    pub fn block_status(&self, b: u32) -> usize {
        self.block_status_offset + b as usize * CACHE_LINE
    }

    /// Offset of actor `a`'s state in state-out.
    pub fn state_out(&self, a: u32) -> usize {
        self.state_out_offset + a as usize * self.state_stride
    }

    /// The block that owns actor `a`.
    pub fn block_of(&self, a: u32) -> u32 {
        a % self.blocks
    }

    /// The `config` words the host writes for this layout.
    pub fn config_words(&self, idle_ns: u32, threads: u32) -> GroupConfigWords {
        GroupConfigWords {
            magic: GROUP_MAGIC,
            version: GROUP_VERSION,
            actors: self.actors,
            blocks: self.blocks,
            capacity: self.capacity,
            request_stride: self.request.stride as u32,
            reply_stride: self.reply.stride as u32,
            state_size: self.state_size as u32,
            state_stride: self.state_stride as u32,
            actor_stride: self.actor_stride as u32,
            idle_ns,
            threads,
        }
    }
}

/// The C declarations of the group layout (after [`super::layout`]'s,
/// which declare `SpindleRingCommand`, `SpindleRingIndex`,
/// `SpindleRingStatus` and the slot structs, and the fault record's).
pub fn group_c_declarations() -> String {
    let mut out = String::new();
    out.push_str(
        "/* spindle actor groups: generated from spindle_codegen::ring::group_layout */\n",
    );
    for (name, value) in [
        ("SPINDLE_GROUP_MAGIC", GROUP_MAGIC),
        ("SPINDLE_GROUP_VERSION", GROUP_VERSION),
        ("SPINDLE_GROUP_MAX_ACTORS", MAX_GROUP_ACTORS),
    ] {
        let _ = writeln!(out, "#define {name} {value}u");
    }
    // Byte offsets the device loop uses (it addresses actors' parts by
    // offset: their size depends on the capacity, known at run time).
    for (name, value) in [
        ("SPINDLE_GROUP_BLOCKS_AT", size_of::<GroupControl>()),
        ("SPINDLE_GROUP_LINE", CACHE_LINE),
        (
            "SPINDLE_GROUP_ACTOR_REQUEST_HEAD",
            group_offsets::ACTOR_REQUEST_HEAD,
        ),
        ("SPINDLE_GROUP_ACTOR_ERROR", group_offsets::ACTOR_ERROR),
        ("SPINDLE_GROUP_ACTOR_FAULT", group_offsets::ACTOR_FAULT),
        (
            "SPINDLE_GROUP_ACTOR_REPLY_HEAD",
            group_offsets::ACTOR_REPLY_HEAD,
        ),
        (
            "SPINDLE_GROUP_ACTOR_REQUESTS",
            group_offsets::ACTOR_REQUESTS,
        ),
    ] {
        let _ = writeln!(out, "#define {name} {value}u");
    }
    c_struct_decl::<GroupConfigWords>(&mut out);
    c_struct_decl::<GroupControl>(&mut out);
    c_struct_decl::<BlockStatus>(&mut out);
    c_struct_decl::<ActorExecutorWords>(&mut out);
    c_struct_decl::<ActorLines>(&mut out);
    out
}
