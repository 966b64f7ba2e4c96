//! Fault records of batch launches, in mapped pinned host memory.
//!
//! Every batch kernel takes a `SpindleFault*` ([`FaultRecord`]); a thread
//! that faults claims the record's `flag` with a compare-and-swap 0 → 1 and
//! fills in the rest, so the record holds the launch's first fault. Here
//! the records live in one page of pinned host memory mapped into the GPU:
//! the kernel writes them across the bus (only when it faults), and after
//! the launch's stream synchronise the host reads the `flag` word with a
//! plain load — no copy, no driver call. Only a set flag makes the host
//! read the whole record, and only then does the host clear it (plain
//! stores), so a record is zero whenever a launch takes it.
//!
//! The compare-and-swap is a device atomic on mapped memory: atomic among
//! the GPU's threads, though not with respect to the host (CUDA C++
//! Programming Guide, "Mapped Memory"). The host touches a record only
//! when no kernel uses it: between launches, under the [`FaultLease`].
//!
//! Each launch leases a record of its own ([`FaultSlots::lease`], one
//! atomic compare-and-swap on a bit mask), so launches from several threads
//! never share one. With all [`SLOTS`] leased, a launch waits for one:
//! launches share the device's stream anyway, so they would wait there.

use std::mem::size_of;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use cudarc::driver::result::DriverError;
use spindle_codegen::abi::FaultRecord;

use super::pinned::MappedBlock;

/// Records in the page: one per launch in flight at once.
pub(crate) const SLOTS: usize = 64;
/// Bytes between records (a record is 56 bytes).
const STRIDE: usize = 64;
const _: () = assert!(size_of::<FaultRecord>() <= STRIDE && SLOTS * STRIDE <= 4096);
const _: () = assert!(std::mem::offset_of!(FaultRecord, flag) == 0);

/// A GPU's batch fault records (see the module doc).
pub(crate) struct FaultSlots {
    page: MappedBlock,
    /// Bit `i` set: record `i` is free.
    free: AtomicU64,
}

impl FaultSlots {
    /// Allocates the page of records (zeroed). The context must be current.
    pub(crate) fn allocate() -> std::result::Result<FaultSlots, DriverError> {
        Ok(FaultSlots {
            page: MappedBlock::allocate(SLOTS * STRIDE)?,
            free: AtomicU64::new(u64::MAX),
        })
    }

    /// A record for one launch, waiting while all are leased.
    pub(crate) fn lease(&self) -> FaultLease<'_> {
        let mut spins = 0u32;
        loop {
            // Relaxed is enough to find a candidate; the Acquire on success
            // pairs with the Release of the lease that freed it, so that
            // lease's clearing stores happen before our use.
            let free = self.free.load(Ordering::Relaxed);
            if free != 0 {
                let index = free.trailing_zeros();
                let bit = 1u64 << index;
                if self
                    .free
                    .compare_exchange_weak(free, free & !bit, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return FaultLease { slots: self, index };
                }
                continue;
            }
            spins += 1;
            if spins < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }

    fn record_ptr(&self, index: u32) -> *mut FaultRecord {
        // SAFETY: index < SLOTS, so the record lies inside the page.
        unsafe { self.page.host().as_ptr().add(index as usize * STRIDE) }.cast()
    }
}

/// One launch's fault record; free again on drop.
pub(crate) struct FaultLease<'a> {
    slots: &'a FaultSlots,
    index: u32,
}

impl FaultLease<'_> {
    /// The record's device address: the kernel's `SpindleFault*`.
    pub(crate) fn device_ptr(&self) -> u64 {
        self.slots.page.device() + u64::from(self.index) * STRIDE as u64
    }

    /// After the launch completed: the fault it recorded, if any, leaving
    /// the record cleared for the next launch.
    pub(crate) fn take(&self) -> Option<FaultRecord> {
        // SAFETY: the record lies in the page; no kernel uses it now (the
        // launch that had it completed and no other launch holds this
        // lease), and every host access to it happens under this lease.
        unsafe { take_record(self.slots.record_ptr(self.index)) }
    }
}

/// Reads the fault a finished launch left in the record at `ptr`, if any,
/// leaving the record cleared.
///
/// # Safety
///
/// `ptr` is a live record in mapped pinned memory, 4-byte aligned; the
/// launch that had it has completed (its stream or an event after it was
/// waited for), no other launch uses it, and no other host thread touches
/// it meanwhile.
pub(crate) unsafe fn take_record(ptr: *mut FaultRecord) -> Option<FaultRecord> {
    // SAFETY: `flag` is the record's first word, aligned; per the caller,
    // only this thread touches the record now.
    let flag = unsafe { AtomicU32::from_ptr(ptr.cast::<u32>()) };
    // Acquire: the kernel's stores completed before the wait returned; this
    // orders our reads of the rest after the flag on the host side too.
    if flag.load(Ordering::Acquire) == 0 {
        return None;
    }
    // SAFETY: as above; `FaultRecord` is plain integers, valid for any
    // bits. Volatile: the bytes were written by the GPU, not by Rust.
    let record = unsafe { std::ptr::read_volatile(ptr) };
    // SAFETY: as above.
    unsafe { std::ptr::write_volatile(ptr, FaultRecord::default()) };
    Some(record)
}

impl Drop for FaultLease<'_> {
    fn drop(&mut self) {
        // Release: our clearing stores happen before the next lease's use.
        self.slots
            .free
            .fetch_or(1u64 << self.index, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page of ordinary memory standing in for the pinned one.
    fn heap_slots() -> (FaultSlots, Vec<u64>) {
        let mut backing = vec![0u64; SLOTS * STRIDE / 8];
        let host = std::ptr::NonNull::new(backing.as_mut_ptr().cast::<u8>()).unwrap();
        let page = MappedBlock::from_raw_for_tests(host, 0x1000_0000, SLOTS * STRIDE);
        (
            FaultSlots {
                page,
                free: AtomicU64::new(u64::MAX),
            },
            backing,
        )
    }

    #[test]
    fn concurrent_leases_get_distinct_records() {
        let (slots, _backing) = heap_slots();
        let leases: Vec<_> = (0..SLOTS).map(|_| slots.lease()).collect();
        let mut ptrs: Vec<u64> = leases.iter().map(FaultLease::device_ptr).collect();
        ptrs.sort_unstable();
        ptrs.dedup();
        assert_eq!(ptrs.len(), SLOTS);
        assert_eq!(slots.free.load(Ordering::Relaxed), 0);
        drop(leases);
        assert_eq!(slots.free.load(Ordering::Relaxed), u64::MAX);
    }

    #[test]
    fn a_set_flag_is_read_once_and_cleared() {
        let (slots, _backing) = heap_slots();
        let lease = slots.lease();
        assert_eq!(lease.take(), None);
        let written = FaultRecord {
            flag: 1,
            kind: 2,
            site: 3,
            _pad: 0,
            index: 1 << 40,
            len: 5,
            block: [6, 7, 8],
            thread: [9, 10, 11],
        };
        // What a faulting kernel leaves behind.
        // SAFETY: the lease's record, in memory we own.
        unsafe { std::ptr::write_volatile(slots.record_ptr(lease.index), written) };
        assert_eq!(lease.take(), Some(written));
        assert_eq!(lease.take(), None, "the record is cleared after reading");
        // SAFETY: as above.
        let left = unsafe { std::ptr::read_volatile(slots.record_ptr(lease.index)) };
        assert_eq!(left, FaultRecord::default());
    }

    #[test]
    fn a_waiting_lease_gets_the_record_freed_by_another_thread() {
        let (slots, _backing) = heap_slots();
        let all: Vec<_> = (0..SLOTS).map(|_| slots.lease()).collect();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| slots.lease().device_ptr());
            std::thread::sleep(Duration::from_millis(20));
            let freed = all[5].device_ptr();
            drop(all);
            assert_eq!(waiter.join().unwrap() & !0xfff, freed & !0xfff);
        });
    }
}
