//! The ring protocol's two primitives, [`Producer`] and [`Consumer`], over
//! any [`RingMemory`]. The layout and the full protocol argument are in
//! `spindle_codegen::ring::layout`; the ordering argument for each atomic
//! is written next to it here.
//!
//! Both are single-threaded handles: exactly one producer and one consumer
//! exist per ring, each owned by one side (`&mut self` on every operation).
//! The host publishes and consumes one message at a time
//! (`try_publish`, `try_consume`); the executor works in batches, as the
//! generated GPU loop does: relaxed loads of many seqs then one acquire
//! fence (`ready`, `read_ahead`), payload writes then one release fence and
//! relaxed stores (`write_ahead`, `publish_after_fence`,
//! `release_after_fence`).

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use spindle_codegen::ring::group_layout::{group_offsets, GroupLayout};
use spindle_codegen::ring::layout::{offsets, RingConfigWords, RingLayout};

use super::memory::RingMemory;

/// Where one ring's slots are and how big they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RingGeometry {
    /// Offset of slot 0.
    slots: usize,
    stride: usize,
    payload: usize,
    /// Offset of the payload within a slot.
    payload_offset: usize,
    capacity: u32,
    /// Offset of the consumer's index word.
    head: usize,
}

impl RingGeometry {
    /// The request ring (host → executor); its consumer is the executor.
    pub(crate) fn requests(l: &RingLayout) -> Self {
        RingGeometry {
            slots: l.request_offset,
            stride: l.request.stride,
            payload: l.request.payload_size,
            payload_offset: l.request.payload_offset,
            capacity: l.capacity,
            head: offsets::REQUEST_HEAD,
        }
    }

    /// The reply ring (executor → host); its consumer is the host.
    pub(crate) fn replies(l: &RingLayout) -> Self {
        RingGeometry {
            slots: l.reply_offset,
            stride: l.reply.stride,
            payload: l.reply.payload_size,
            payload_offset: l.reply.payload_offset,
            capacity: l.capacity,
            head: offsets::REPLY_HEAD,
        }
    }

    /// Actor `a`'s request ring in a group region; its consumer is the
    /// block that owns `a`.
    pub(crate) fn group_requests(l: &GroupLayout, a: u32) -> Self {
        let at = l.actor_offset(a);
        RingGeometry {
            slots: at + l.request_offset,
            stride: l.request.stride,
            payload: l.request.payload_size,
            payload_offset: l.request.payload_offset,
            capacity: l.capacity,
            head: at + group_offsets::ACTOR_REQUEST_HEAD,
        }
    }

    /// Actor `a`'s reply ring in a group region; its consumer is the host.
    pub(crate) fn group_replies(l: &GroupLayout, a: u32) -> Self {
        let at = l.actor_offset(a);
        RingGeometry {
            slots: at + l.reply_offset,
            stride: l.reply.stride,
            payload: l.reply.payload_size,
            payload_offset: l.reply.payload_offset,
            capacity: l.capacity,
            head: at + group_offsets::ACTOR_REPLY_HEAD,
        }
    }

    /// Offset of the `seq` word of the slot that holds position `pos`.
    fn seq_offset(&self, pos: u32) -> usize {
        self.slots + (pos & (self.capacity - 1)) as usize * self.stride
    }

    /// Payload bytes per slot.
    pub(crate) fn payload_size(&self) -> usize {
        self.payload
    }
}

/// The writing end of one ring.
#[derive(Clone, Debug)]
pub(crate) struct Producer {
    ring: RingGeometry,
    /// Next position to publish.
    pos: u32,
    /// The consumer's head as last loaded; only ever behind the real one,
    /// so a stale value can only make the ring look fuller than it is.
    cached_head: u32,
}

impl Producer {
    /// The producer of `ring`, at position 0 of a zeroed region.
    pub(crate) fn new(ring: RingGeometry) -> Self {
        Producer {
            ring,
            pos: 0,
            cached_head: 0,
        }
    }

    /// Whether the slot for the next position is free (the full check).
    pub(crate) fn has_room<M: RingMemory + ?Sized>(&mut self, mem: &M) -> bool {
        if self.pos.wrapping_sub(self.cached_head) < self.ring.capacity {
            return true;
        }
        // Acquire: pairs with the consumer's Release store of its head,
        // made after it copied the payload of every position below that
        // head. Our next payload write to the freed slot therefore happens
        // after the consumer's read of its previous payload.
        self.cached_head = mem.load(self.ring.head, Acquire);
        self.pos.wrapping_sub(self.cached_head) < self.ring.capacity
    }

    /// Whether the consumer has freed a slot since the last full check (a
    /// peek for waits; `has_room` is the check that counts).
    pub(crate) fn room_visible<M: RingMemory + ?Sized>(&self, mem: &M) -> bool {
        // Relaxed: a yes/no hint; `has_room` acquires before any write.
        self.pos.wrapping_sub(mem.load(self.ring.head, Relaxed)) < self.ring.capacity
    }

    /// Writes `payload` into the next slot and publishes it, if there is
    /// room; `false` when the ring is full.
    pub(crate) fn try_publish<M: RingMemory + ?Sized>(&mut self, mem: &M, payload: &[u8]) -> bool {
        debug_assert_eq!(payload.len(), self.ring.payload);
        if !self.has_room(mem) {
            return false;
        }
        let seq = self.ring.seq_offset(self.pos);
        // SAFETY: `has_room` proved the consumer has released this slot
        // (its head is past the slot's previous position, loaded with
        // Acquire), and the consumer will not read it before our Release
        // store of `seq` below: we hold it exclusively.
        unsafe { mem.write_bytes(seq + self.ring.payload_offset, payload) };
        // Release: orders the payload writes above before `seq`; the
        // consumer's Acquire load that reads `pos + 1` sees all of them.
        mem.store(seq, self.pos.wrapping_add(1), Release);
        self.pos = self.pos.wrapping_add(1);
        true
    }

    /// Executor side: the reply slots free for the next positions, given
    /// the consumer's head as the caller loaded it (with a relaxed load
    /// that an acquire fence follows before any payload write).
    pub(crate) fn room_after(&mut self, head: u32) -> u32 {
        self.cached_head = head;
        self.ring.capacity - self.pos.wrapping_sub(head)
    }

    /// Executor side: writes the payload of position `next + i`.
    ///
    /// # Safety
    ///
    /// `i` must be below the room [`Self::room_after`] reported, after an
    /// acquire fence that followed the load of that head: the consumer
    /// has then finished reading the slot's previous payload, and will not
    /// read this one before [`Self::publish_after_fence`] stores its seq.
    pub(crate) unsafe fn write_ahead<M: RingMemory + ?Sized>(&self, mem: &M, i: u32, src: &[u8]) {
        debug_assert_eq!(src.len(), self.ring.payload);
        let seq = self.ring.seq_offset(self.pos.wrapping_add(i));
        // SAFETY: the caller's contract: we hold the slot exclusively.
        unsafe { mem.write_bytes(seq + self.ring.payload_offset, src) };
    }

    /// Executor side: publishes the next `n` positions (their payloads
    /// written by [`Self::write_ahead`]) with relaxed stores of their
    /// seqs. The caller issues a release fence first: with it each store
    /// is a release, and the consumer's acquire of `seq = pos + 1` sees
    /// the payload.
    pub(crate) fn publish_after_fence<M: RingMemory + ?Sized>(&mut self, mem: &M, n: u32) {
        for i in 0..n {
            let pos = self.pos.wrapping_add(i);
            // Relaxed after the caller's release fence (see above).
            mem.store(self.ring.seq_offset(pos), pos.wrapping_add(1), Relaxed);
        }
        self.pos = self.pos.wrapping_add(n);
    }

    /// Offset of the consumer's head word.
    pub(crate) fn head_offset(&self) -> usize {
        self.ring.head
    }

    /// Positions published so far (wrapping).
    #[cfg(test)]
    pub(crate) fn position(&self) -> u32 {
        self.pos
    }
}

/// The reading end of one ring.
#[derive(Clone, Debug)]
pub(crate) struct Consumer {
    ring: RingGeometry,
    /// Next position to read.
    pos: u32,
}

impl Consumer {
    /// The consumer of `ring`, at position 0 of a zeroed region.
    pub(crate) fn new(ring: RingGeometry) -> Self {
        Consumer { ring, pos: 0 }
    }

    /// Whether the next position has been published.
    pub(crate) fn is_ready<M: RingMemory + ?Sized>(&self, mem: &M) -> bool {
        // Relaxed is enough for a yes/no peek: a caller that acts on the
        // payload goes through `try_consume`, which acquires.
        mem.load(self.ring.seq_offset(self.pos), Relaxed) == self.pos.wrapping_add(1)
    }

    /// Copies the next message into `dst` and frees its slot; `false` when
    /// nothing is published at the next position.
    pub(crate) fn try_consume<M: RingMemory + ?Sized>(&mut self, mem: &M, dst: &mut [u8]) -> bool {
        debug_assert_eq!(dst.len(), self.ring.payload);
        let seq = self.ring.seq_offset(self.pos);
        // Acquire: pairs with the producer's Release store of `pos + 1`;
        // the payload reads below see every byte it wrote before that.
        // Any other value is an older lap of this slot: nothing new yet.
        if mem.load(seq, Acquire) != self.pos.wrapping_add(1) {
            return false;
        }
        // SAFETY: the Acquire above made the producer's payload visible,
        // and the producer will not write this slot again before our
        // Release store of the head below.
        unsafe { mem.read_bytes(seq + self.ring.payload_offset, dst) };
        self.pos = self.pos.wrapping_add(1);
        // Release: orders the payload read above before the head store;
        // the producer acquires the head before it reuses the slot.
        mem.store(self.ring.head, self.pos, Release);
        true
    }

    /// Executor side: how many consecutive positions from the next one
    /// are published, up to `max`, from relaxed loads of their seqs (the
    /// caller issues an acquire fence before reading any payload). A
    /// slot's seq is `pos + 1` exactly when it holds position `pos`.
    pub(crate) fn ready<M: RingMemory + ?Sized>(&self, mem: &M, max: u32) -> u32 {
        (0..max)
            .take_while(|&i| {
                let pos = self.pos.wrapping_add(i);
                // Relaxed: see above.
                mem.load(self.ring.seq_offset(pos), Relaxed) == pos.wrapping_add(1)
            })
            .count() as u32
    }

    /// Executor side: copies the payload of position `next + i` into `dst`.
    ///
    /// # Safety
    ///
    /// `i` must be below what [`Self::ready`] reported, after an acquire
    /// fence that followed those loads: the producer's payload writes are
    /// then visible, and it will not write the slot again before
    /// [`Self::release_after_fence`] frees it.
    pub(crate) unsafe fn read_ahead<M: RingMemory + ?Sized>(
        &self,
        mem: &M,
        i: u32,
        dst: &mut [u8],
    ) {
        debug_assert_eq!(dst.len(), self.ring.payload);
        let seq = self.ring.seq_offset(self.pos.wrapping_add(i));
        // SAFETY: the caller's contract: the payload is published to us
        // and stays unchanged until we release the slot.
        unsafe { mem.read_bytes(seq + self.ring.payload_offset, dst) };
    }

    /// Executor side: frees the next `n` positions with a relaxed store of
    /// the head. The caller issues a release fence first, after its last
    /// read of their payloads: the producer acquires the head before it
    /// writes any of those slots again.
    pub(crate) fn release_after_fence<M: RingMemory + ?Sized>(&mut self, mem: &M, n: u32) {
        self.pos = self.pos.wrapping_add(n);
        // Relaxed after the caller's release fence (see above).
        mem.store(self.ring.head, self.pos, Relaxed);
    }

    /// Positions consumed so far (wrapping).
    #[cfg(test)]
    pub(crate) fn position(&self) -> u32 {
        self.pos
    }
}

/// The `config` line as bytes, in the layout's field order.
pub(crate) fn config_bytes(
    words: &RingConfigWords,
) -> [u8; std::mem::size_of::<RingConfigWords>()] {
    let fields = [
        words.magic,
        words.version,
        words.capacity,
        words.request_stride,
        words.reply_stride,
        words.state_size,
        words.idle_ns,
        words.threads,
    ];
    let mut out = [0u8; std::mem::size_of::<RingConfigWords>()];
    for (chunk, v) in out.chunks_exact_mut(4).zip(fields) {
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    out
}

/// Reads the `config` line back (the executor's check).
pub(crate) fn read_config<M: RingMemory + ?Sized>(mem: &M) -> RingConfigWords {
    // Relaxed: the host wrote the config before starting the executor;
    // thread spawn (or kernel launch) orders those writes before us.
    let w = |i: usize| mem.load(offsets::CONFIG + 4 * i, Relaxed);
    RingConfigWords {
        magic: w(0),
        version: w(1),
        capacity: w(2),
        request_stride: w(3),
        reply_stride: w(4),
        state_size: w(5),
        idle_ns: w(6),
        threads: w(7),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::memory::RawRegion;
    use spindle_codegen::ring::layout::PayloadShape;

    const U32: PayloadShape = PayloadShape { size: 4, align: 4 };

    #[test]
    fn config_bytes_match_the_struct_layout() {
        let l = RingLayout::new(8, U32, U32, U32).unwrap();
        let words = l.config_words(123, 4);
        let region = RawRegion::heap(l, "test").unwrap();
        region.write_config(&words);
        assert_eq!(read_config(&region), words);
        // SAFETY: RingConfigWords is repr(C) of eight u32, as bytes.
        let direct: [u8; 32] = unsafe { std::mem::transmute(words) };
        assert_eq!(direct, config_bytes(&words));
    }

    #[test]
    fn publish_consume_full_wraparound() {
        let l = RingLayout::new(4, U32, U32, U32).unwrap();
        let region = RawRegion::heap(l, "test").unwrap();
        let ring = RingGeometry::requests(&l);
        let mut p = Producer::new(ring);
        let mut c = Consumer::new(ring);
        let mut buf = [0u8; 4];
        let mut next_in = 0u32;
        let mut next_out = 0u32;
        for round in 0..50u32 {
            let burst = round % 6;
            for _ in 0..burst {
                if p.try_publish(&region, &next_in.to_ne_bytes()) {
                    next_in += 1;
                } else {
                    assert_eq!(next_in - next_out, 4, "full only at capacity");
                }
            }
            for _ in 0..(round % 5) {
                if c.try_consume(&region, &mut buf) {
                    assert_eq!(u32::from_ne_bytes(buf), next_out);
                    next_out += 1;
                } else {
                    assert_eq!(next_in, next_out, "empty only when drained");
                }
            }
        }
        assert!(next_out > 20);
        assert_eq!(p.position(), next_in);
        assert_eq!(c.position(), next_out);
    }

    #[test]
    fn positions_wrap_around_u32() {
        let l = RingLayout::new(2, U32, U32, U32).unwrap();
        let region = RawRegion::heap(l, "test").unwrap();
        let ring = RingGeometry::requests(&l);
        let start = u32::MAX - 3;
        // Start both ends near the wrap as if 2^32 - 4 messages had passed.
        let mut p = Producer {
            ring,
            pos: start,
            cached_head: start,
        };
        let mut c = Consumer { ring, pos: start };
        region.store(offsets::REQUEST_HEAD, start, Relaxed);
        let mut buf = [0u8; 4];
        for i in 0..10u32 {
            assert!(p.try_publish(&region, &i.to_ne_bytes()));
            assert!(c.try_consume(&region, &mut buf));
            assert_eq!(u32::from_ne_bytes(buf), i);
        }
        assert!(!c.try_consume(&region, &mut buf));
    }
}
