//! The ring protocol's memory layout, defined once.
//!
//! Both sides of an actor share one memory region: a [`ControlBlock`], a
//! request ring, a reply ring and a state-out area. The Rust types below are
//! the definition; [`c_declarations`] produces the C structs and
//! `static_assert`s for the generated kernel from the same field tables, and
//! the runtime reaches every word through the offsets exported here. There
//! is no hand-kept second copy.
//!
//! # Region
//!
//! ```text
//! offset 0                      ControlBlock (5 lines of 128 bytes)
//! RingLayout::request_offset    capacity × request slot  (host → executor)
//! RingLayout::reply_offset      capacity × reply slot    (executor → host)
//! RingLayout::state_out_offset  S, written once by the executor at exit
//! ```
//!
//! # Who writes what
//!
//! | word                          | writer   | when                                   |
//! |-------------------------------|----------|----------------------------------------|
//! | `config.*`                    | host     | once, before the executor starts       |
//! | `command.stop`                | host     | shutdown (`STOP_DRAIN`) or drop (`STOP_ABORT`) |
//! | `request_head.index`          | executor | once per batch, with the batch's replies |
//! | `reply_head.index`            | host     | after copying a reply out of its slot  |
//! | `status.*`                    | executor | start, fault, exit                     |
//! | request slot `seq` + payload  | host     | publishing a request                   |
//! | reply slot `seq` + payload    | executor | publishing a reply                     |
//! | state-out                     | executor | once, before publishing `exited`       |
//!
//! Each index has exactly one writer and its own 128-byte line
//! ([`CacheLine`]); no side writes the other's index and nothing is updated
//! by copying a whole struct. No word is ever the target of a
//! read-modify-write (x86 hosts do not support concurrent CPU/GPU atomics
//! on mapped memory): every shared word is a plain 32-bit store read by the
//! other side.
//!
//! # Positions and sequence numbers
//!
//! Messages on a ring are numbered by a position `p = 0, 1, 2, …` kept as a
//! wrapping `u32`. Position `p` lives in slot `p & (capacity - 1)`.
//!
//! - **Publish** (producer, at position `p`): full check first — the slot is
//!   free once the consumer's head `h` satisfies `p - h < capacity`
//!   (wrapping); the producer loads `h` with *acquire*. Then it writes the
//!   payload with plain stores and publishes `seq = p + 1` with *release*.
//! - **Consume** (consumer, at position `p`): load the slot's `seq` with
//!   *acquire*; the slot holds message `p` exactly when `seq == p + 1`
//!   (any other value is an older lap: the ring is empty at `p`). Copy the
//!   payload out, then store `head = p + 1` with *release*.
//!
//! The host consumes and publishes one message at a time, as above. The
//! executor works in **batches** of up to [`MAX_BATCH`] messages: it loads
//! the seqs of the next positions (and `stop`, and the host's reply head)
//! with relaxed loads and then issues one acquire fence, which makes each
//! load that saw `seq == p + 1` an acquire; it takes the run of published
//! positions, never more than the reply slots the host has freed (so no
//! message it has taken ever waits for reply room). After handling them it
//! issues one release fence and stores the batch's reply seqs and
//! `head = p + n` with relaxed stores (each a release through the fence):
//! a request slot stays the executor's until the batch's replies are
//! published.
//!
//! The release on `seq` orders the payload writes before it, and the acquire
//! that reads it orders the payload reads after it: the consumer never sees
//! a partial payload. The release on `head` orders the consumer's payload
//! reads before the producer's acquire of `head` and so before the
//! producer's next write to that slot: the producer never overwrites a
//! payload that is still being read. A stale `seq` can never be mistaken for
//! a fresh one: a slot's `seq` values are `p + 1 - k·capacity`, all distinct
//! modulo 2³² because `capacity ≤ MAX_CAPACITY ≪ 2³²`.
//!
//! Both sides check fullness: the host before each request, the executor
//! before it takes a batch (it polls the host's `reply_head` with the
//! request seqs, still watching `stop` for an abort). The host never
//! deadlocks on a full request ring: while it waits for room it moves
//! ready replies into a host-side queue, which frees reply slots so the
//! executor can progress.
//!
//! On the GPU the relaxed loads and stores are `ld.relaxed.sys.u32` and
//! `st.relaxed.sys.u32`, the fences `fence.acq_rel.sys` (system scope: the
//! other side is the host CPU; a strong access followed, or preceded, by
//! such a fence is an acquire, or release, pattern in the PTX memory
//! model), and the status words use `st.release.sys.u32`; on the host they
//! are Rust/C++ atomics and fences.
//!
//! # Start, stop, drain, exit
//!
//! 1. The host zeroes the region, writes `config` and starts the executor.
//!    The executor checks `config` against the layout it was built for and
//!    stores `status.running = 1` (release). A mismatch sets
//!    `status.error = ERROR_LAYOUT` and exits.
//! 2. Shutdown: after its last publish the host stores `stop = STOP_DRAIN`
//!    (release). The executor reads `stop` in every poll of the request
//!    ring (acquired by the poll's fence); once it has read `STOP_DRAIN` it
//!    polls the ring *once more* and exits only if that poll is empty.
//!    Because the host's last `seq` release precedes its `stop` release,
//!    the acquire of `stop` makes every published request visible: nothing
//!    sent before shutdown is lost.
//! 3. The executor writes its state to the state-out area (plain stores),
//!    then stores `status.exited = EXIT_DRAINED` (release). The host loads
//!    `exited` (acquire) and then reads the state: the release/acquire pair
//!    orders the state-out writes before the host's reads. While waiting for
//!    `exited` the host keeps consuming replies so the drain never blocks on
//!    a full reply ring.
//! 4. Drop stores `stop = STOP_ABORT`: the executor stops after the message
//!    in hand, without draining, without waiting for reply room and without
//!    publishing the replies of its batch, and publishes `exited =
//!    EXIT_ABORTED`. Between two messages of a batch it reads `stop` again
//!    (the GPU loop only once [`STOP_CHECK_NS`] have passed since its last
//!    read, to spare handlers faster than that a PCIe read each).
//!
//! # Faults
//!
//! A handler fault (bounds check, division by zero) is recorded by the
//! faulting thread in the executor's own fault record (the kernel's
//! `SpindleFault`, in device memory), and that thread stops (PTX `exit`).
//! Before it stops, the first faulting thread (elected with a
//! compare-and-swap on a shared-memory word) publishes the replies to the
//! messages of its batch that came before its own, then stores
//! `status.error = ERROR_FAULT` and `exited = EXIT_FAULTED` (release); the
//! reply to the faulting message and to every later one is never
//! published. The barrier that ends each message counts the threads that
//! reach it; the other threads see a short count and return. The host reads
//! the fault record only once the executor has completely stopped, when
//! every store of the faulting thread is visible (should the executor end
//! without `exited`, the host notices through `cuStreamQuery` or a joined
//! thread), and from then on every call returns that fault as an error
//! naming the kernel. `ERROR_EXECUTOR` is used by executors that carry
//! their error on a side channel (the CPU executor's interpreter).

use std::fmt::Write as _;
use std::mem::{align_of, offset_of, size_of};

use crate::cdecl::c_struct_decl;
pub use crate::cdecl::{CField, CStruct};

/// Bytes per cache line, as the protocol pads them (covers 64-byte CPU
/// lines, adjacent-line prefetch, and 128-byte GPU L2 lines).
pub const CACHE_LINE: usize = 128;

/// `config.magic`: `"SPRG"`.
pub const MAGIC: u32 = 0x5350_5247;
/// `config.version`: bump on any layout or protocol change.
pub const VERSION: u32 = 2;

/// `command.stop`: keep running.
pub const STOP_NONE: u32 = 0;
/// `command.stop`: drain every published request, write state back, exit.
pub const STOP_DRAIN: u32 = 1;
/// `command.stop`: exit after the message in hand, without draining.
pub const STOP_ABORT: u32 = 2;

/// `status.exited`: still running (or not started).
pub const EXIT_NONE: u32 = 0;
/// `status.exited`: drained and wrote the state back.
pub const EXIT_DRAINED: u32 = 1;
/// `status.exited`: stopped by `STOP_ABORT` (state-out also written).
pub const EXIT_ABORTED: u32 = 2;
/// `status.exited`: stopped after a fault; state-out not written.
pub const EXIT_FAULTED: u32 = 3;

/// `status.error`: no error.
pub const ERROR_NONE: u32 = 0;
/// `status.error`: a handler fault; `status.fault` holds the record.
pub const ERROR_FAULT: u32 = 1;
/// `status.error`: `config` does not match the layout the executor was
/// built for.
pub const ERROR_LAYOUT: u32 = 2;
/// `status.error`: the executor failed and reports why on its own channel.
pub const ERROR_EXECUTOR: u32 = 3;

/// The most messages an executor takes in one batch (one poll of the
/// request ring, one release of its head, one publish of the replies).
pub const MAX_BATCH: u32 = 32;

/// Inside a batch, the GPU executor reads `stop` again before the next
/// message once this many nanoseconds have passed since it last read it,
/// so an abort waits for at most the message in hand plus this interval
/// (and one PCIe round trip), and handlers faster than it never pay for
/// the read.
pub const STOP_CHECK_NS: u32 = 20_000;

/// The largest ring capacity (slots). Keeps sequence numbers unambiguous and
/// regions a sane size.
pub const MAX_CAPACITY: u32 = 1 << 20;

/// The largest message, reply or state (bytes) a ring carries.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One 128-byte line holding a `T` and nothing else: the named padding type
/// that keeps each single-writer word off every other writer's line.
#[repr(C, align(128))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheLine<T>(pub T);

crate::cdecl::c_struct! {
    /// Written by the host once, before the executor starts; read-only after.
    pub struct RingConfigWords as "SpindleRingConfig" {
        /// [`MAGIC`].
        pub magic: u32 => "uint32_t" "" false,
        /// [`VERSION`].
        pub version: u32 => "uint32_t" "" false,
        /// Slots per ring (a power of two ≤ [`MAX_CAPACITY`]).
        pub capacity: u32 => "uint32_t" "" false,
        /// Bytes from one request slot to the next.
        pub request_stride: u32 => "uint32_t" "" false,
        /// Bytes from one reply slot to the next.
        pub reply_stride: u32 => "uint32_t" "" false,
        /// `size_of::<S>()`.
        pub state_size: u32 => "uint32_t" "" false,
        /// Longest idle back-off sleep in nanoseconds (0: spin).
        pub idle_ns: u32 => "uint32_t" "" false,
        /// Threads running the handler.
        pub threads: u32 => "uint32_t" "" false,
    }
}

crate::cdecl::c_struct! {
    /// The host's command word.
    pub struct RingCommand as "SpindleRingCommand" {
        /// [`STOP_NONE`], [`STOP_DRAIN`] or [`STOP_ABORT`].
        pub stop: u32 => "uint32_t" "" false,
    }
}

crate::cdecl::c_struct! {
    /// A consumer's index: positions it has finished reading.
    pub struct RingIndex as "SpindleRingIndex" {
        /// Next position the consumer will read (wrapping).
        pub index: u32 => "uint32_t" "" false,
    }
}

crate::cdecl::c_struct! {
    /// The executor's status words.
    pub struct RingStatus as "SpindleRingStatus" {
        /// 1 once the executor has checked `config` and runs.
        pub running: u32 => "uint32_t" "" false,
        /// An `EXIT_*` code; non-zero once the executor has stopped touching
        /// the region.
        pub exited: u32 => "uint32_t" "" false,
        /// An `ERROR_*` code.
        pub error: u32 => "uint32_t" "" false,
    }
}

crate::cdecl::c_struct! {
    /// The control block at the start of the region.
    pub struct ControlBlock as "SpindleRingControl" {
        /// Host, before start.
        pub config: CacheLine<RingConfigWords> => "SpindleRingConfig" "" true,
        /// Host: `stop`.
        pub command: CacheLine<RingCommand> => "SpindleRingCommand" "" true,
        /// Executor: request positions consumed.
        pub request_head: CacheLine<RingIndex> => "SpindleRingIndex" "" true,
        /// Host: reply positions consumed.
        pub reply_head: CacheLine<RingIndex> => "SpindleRingIndex" "" true,
        /// Executor: running, exited, error.
        pub status: CacheLine<RingStatus> => "SpindleRingStatus" "" true,
    }
}

crate::cdecl::c_struct! {
    /// The header of every ring slot; the payload follows at
    /// [`SlotLayout::payload_offset`] (8, or the payload's alignment if
    /// larger).
    pub struct SlotHeader as "SpindleSlotHeader" {
        /// `p + 1` once the slot holds the message at position `p`.
        pub seq: u32 => "uint32_t" "" false,
        /// Keeps the payload 8-byte aligned.
        pub _pad: u32 => "uint32_t" "" false,
    }
}

// The layout, pinned on the Rust side.
const _: () = {
    assert!(size_of::<CacheLine<u32>>() == CACHE_LINE);
    assert!(align_of::<CacheLine<u32>>() == CACHE_LINE);
    assert!(size_of::<RingConfigWords>() == 32);
    assert!(size_of::<RingStatus>() == 12);
    assert!(size_of::<RingStatus>() <= CACHE_LINE);
    assert!(size_of::<ControlBlock>() == 5 * CACHE_LINE);
    assert!(offset_of!(ControlBlock, config) == 0);
    assert!(offset_of!(ControlBlock, command) == CACHE_LINE);
    assert!(offset_of!(ControlBlock, request_head) == 2 * CACHE_LINE);
    assert!(offset_of!(ControlBlock, reply_head) == 3 * CACHE_LINE);
    assert!(offset_of!(ControlBlock, status) == 4 * CACHE_LINE);
    assert!(size_of::<SlotHeader>() == 8);
    assert!(offset_of!(SlotHeader, seq) == 0);
};

/// Byte offsets of the shared words inside the region (the control block
/// is at offset 0).
pub mod offsets {
    use super::*;

    /// `config` (the whole line).
    pub const CONFIG: usize = offset_of!(ControlBlock, config);
    /// `command.stop`.
    pub const STOP: usize = offset_of!(ControlBlock, command) + offset_of!(RingCommand, stop);
    /// `request_head.index`.
    pub const REQUEST_HEAD: usize =
        offset_of!(ControlBlock, request_head) + offset_of!(RingIndex, index);
    /// `reply_head.index`.
    pub const REPLY_HEAD: usize =
        offset_of!(ControlBlock, reply_head) + offset_of!(RingIndex, index);
    /// `status.running`.
    pub const RUNNING: usize = offset_of!(ControlBlock, status) + offset_of!(RingStatus, running);
    /// `status.exited`.
    pub const EXITED: usize = offset_of!(ControlBlock, status) + offset_of!(RingStatus, exited);
    /// `status.error`.
    pub const ERROR: usize = offset_of!(ControlBlock, status) + offset_of!(RingStatus, error);
}

/// The layout of one ring's slots for a payload type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotLayout {
    /// Payload bytes (`size_of` of the message or reply type).
    pub payload_size: usize,
    /// Where the payload starts in the slot: `max(8, align)`.
    pub payload_offset: usize,
    /// The slot's alignment: `max(8, align)`.
    pub align: usize,
    /// Bytes from one slot to the next: payload offset + payload, rounded
    /// up to the slot's alignment.
    pub stride: usize,
}

impl SlotLayout {
    /// The slot layout for a payload of `size` bytes aligned to `align`
    /// (a power of two ≤ 128) — the layout of the C struct
    /// `struct alignas(A) { uint32_t seq; uint32_t _pad; T payload; }`
    /// with `A = max(8, align)`.
    pub const fn new(size: usize, align: usize) -> Result<SlotLayout, &'static str> {
        if size == 0 {
            return Err("zero-sized payloads cannot travel over a ring");
        }
        if size > MAX_PAYLOAD {
            return Err("payload larger than 1 MiB");
        }
        if align == 0 || align > CACHE_LINE || !align.is_power_of_two() {
            return Err("payload alignment must be a power of two up to 128");
        }
        let a = if align > 8 { align } else { 8 };
        let payload_offset = if size_of::<SlotHeader>() > a {
            size_of::<SlotHeader>()
        } else {
            a
        };
        Ok(SlotLayout {
            payload_size: size,
            payload_offset,
            align: a,
            stride: (payload_offset + size).div_ceil(a) * a,
        })
    }
}

/// The whole region of one actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    /// Slots per ring.
    pub capacity: u32,
    /// Request slots (message `M`).
    pub request: SlotLayout,
    /// Reply slots (reply `R`).
    pub reply: SlotLayout,
    /// `size_of::<S>()`.
    pub state_size: usize,
    /// Offset of request slot 0.
    pub request_offset: usize,
    /// Offset of reply slot 0.
    pub reply_offset: usize,
    /// Offset of the state-out area.
    pub state_out_offset: usize,
    /// Total region size (a multiple of [`CACHE_LINE`]).
    pub total_size: usize,
}

/// Size and alignment of a payload type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadShape {
    pub size: usize,
    pub align: usize,
}

impl RingLayout {
    /// The region for `capacity` slots per ring carrying messages of shape
    /// `msg`, replies of shape `reply`, and state of shape `state`.
    pub fn new(
        capacity: usize,
        msg: PayloadShape,
        reply: PayloadShape,
        state: PayloadShape,
    ) -> Result<RingLayout, String> {
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
        let request_offset = size_of::<ControlBlock>();
        let reply_offset = request_offset + line(capacity * request.stride);
        let state_out_offset = reply_offset + line(capacity * reply.stride);
        let total_size = state_out_offset + line(state.size);
        Ok(RingLayout {
            capacity: capacity as u32,
            request,
            reply,
            state_size: state.size,
            request_offset,
            reply_offset,
            state_out_offset,
            total_size,
        })
    }

    /// The `config` words the host writes for this layout.
    pub fn config_words(&self, idle_ns: u32, threads: u32) -> RingConfigWords {
        RingConfigWords {
            magic: MAGIC,
            version: VERSION,
            capacity: self.capacity,
            request_stride: self.request.stride as u32,
            reply_stride: self.reply.stride as u32,
            state_size: self.state_size as u32,
            idle_ns,
            threads,
        }
    }
}

/// The C declarations of the protocol: constants, the control block
/// structs, and the two slot structs for message type `msg_c` and reply type
/// `reply_c` (C type names declared earlier in the translation unit) laid
/// out as `request` and `reply`, each with `static_assert`s pinning it to
/// the Rust definition. The capacity is not baked in: the kernel reads it
/// from `config`. Needs `uint32_t` and `offsetof` (the emitter's prelude,
/// or `<cstdint>`/`<cstddef>`) declared before it.
pub fn c_declarations(
    request: &SlotLayout,
    reply: &SlotLayout,
    msg_c: &str,
    reply_c: &str,
) -> String {
    let mut out = String::new();
    out.push_str("/* spindle ring protocol: generated from spindle_codegen::ring::layout */\n");
    let consts: [(&str, u32); 16] = [
        ("SPINDLE_RING_MAGIC", MAGIC),
        ("SPINDLE_RING_VERSION", VERSION),
        ("SPINDLE_RING_STOP_NONE", STOP_NONE),
        ("SPINDLE_RING_STOP_DRAIN", STOP_DRAIN),
        ("SPINDLE_RING_STOP_ABORT", STOP_ABORT),
        ("SPINDLE_RING_EXIT_NONE", EXIT_NONE),
        ("SPINDLE_RING_EXIT_DRAINED", EXIT_DRAINED),
        ("SPINDLE_RING_EXIT_ABORTED", EXIT_ABORTED),
        ("SPINDLE_RING_EXIT_FAULTED", EXIT_FAULTED),
        ("SPINDLE_RING_ERROR_NONE", ERROR_NONE),
        ("SPINDLE_RING_ERROR_FAULT", ERROR_FAULT),
        ("SPINDLE_RING_ERROR_LAYOUT", ERROR_LAYOUT),
        ("SPINDLE_RING_ERROR_EXECUTOR", ERROR_EXECUTOR),
        ("SPINDLE_RING_MAX_BATCH", MAX_BATCH),
        ("SPINDLE_RING_STOP_CHECK_NS", STOP_CHECK_NS),
        ("SPINDLE_RING_MAX_CAPACITY", MAX_CAPACITY),
    ];
    for (name, value) in consts {
        let _ = writeln!(out, "#define {name} {value}u");
    }
    c_struct_decl::<RingConfigWords>(&mut out);
    c_struct_decl::<RingCommand>(&mut out);
    c_struct_decl::<RingIndex>(&mut out);
    c_struct_decl::<RingStatus>(&mut out);
    c_struct_decl::<ControlBlock>(&mut out);
    c_struct_decl::<SlotHeader>(&mut out);
    for (name, ty, slot) in [
        ("SpindleRequestSlot", msg_c, request),
        ("SpindleReplySlot", reply_c, reply),
    ] {
        let _ = writeln!(
            out,
            "struct alignas({}) {name} {{\n  uint32_t seq;\n  uint32_t _pad;\n  {ty} payload;\n}};",
            slot.align
        );
        let _ = writeln!(
            out,
            "static_assert(sizeof({name}) == {}, \"{name}: stride differs from the Rust layout\");",
            slot.stride
        );
        let _ = writeln!(
            out,
            "static_assert(offsetof({name}, payload) == {}, \"{name}: payload offset differs from the Rust layout\");",
            slot.payload_offset
        );
        let _ = writeln!(
            out,
            "static_assert(sizeof({ty}) == {}, \"{name}: payload size differs from the Rust layout\");",
            slot.payload_size
        );
    }
    out
}
