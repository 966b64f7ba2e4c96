//! How buffers order the work queued on them.
//!
//! Every queue has a [`Timeline`]: its launches are numbered 1, 2, … in
//! the order they were queued, and the timeline knows how far it has run
//! and the first fault not reported yet. A buffer's [`Storage`] remembers
//! the accesses queued on it that may still be pending — the last write,
//! and the reads since, at most one per queue (a later read on the same
//! queue covers an earlier one) — as [`Pending`] (a timeline and a number).
//!
//! A new launch on queue `q` reading a buffer waits for its last write; one
//! writing it waits for the last write and every read since. Waits on `q`
//! itself are free (a queue runs in order); waits on other queues become
//! the launch's dependencies, which its backend honours before running it
//! (a CPU worker blocks on the other timeline, a CUDA stream waits for an
//! event). Host accesses — `to_vec`, `copy_from`, a synchronous launch —
//! wait the same way, on the host, and are recorded like launches (each on
//! a timeline of its own, [`host_access`]), so a launch queued while one is
//! in progress (a graph replayed on another thread) waits for it too.
//!
//! Launches are ordered and handed to their queue under one lock
//! ([`ORDER`]), so the dependencies of every launch point to launches
//! handed over before it, and each queue receives its launches in that
//! same order: no two launches can wait for each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use smallvec::SmallVec;

use crate::buffer::Mem;
use crate::{Error, Result};

/// Held while a launch is ordered and handed to its queue (see the module
/// doc). Never held while waiting for work.
static ORDER: Mutex<()> = Mutex::new(());

/// Takes the ordering lock.
pub(crate) fn order_lock() -> MutexGuard<'static, ()> {
    ORDER.lock().unwrap_or_else(|e| e.into_inner())
}

/// A queue's progress: the launches queued on it are numbered from 1.
pub(crate) struct Timeline {
    /// Tells timelines apart (a process-wide counter).
    pub(crate) id: u64,
    /// The number the next launch gets, less one: the last one issued.
    issued: AtomicU64,
    /// Every launch up to this number has finished.
    done: AtomicU64,
    /// Guards sleeping on `done` (with `moved`).
    lock: Mutex<()>,
    moved: Condvar,
    /// The first fault not reported yet: the launch's number and its error.
    fault: Mutex<Option<(u64, Error)>>,
    /// A GPU queue's stream: waiting means waiting for it. `None` for a
    /// CPU queue, whose worker advances `done` itself.
    pub(crate) cuda: Option<Arc<crate::cuda::QueueStream>>,
    /// Stands for one host access (see [`host_access`]), numbered 1.
    pub(crate) host: bool,
}

impl Timeline {
    pub(crate) fn new() -> Timeline {
        Timeline::with_stream(None)
    }

    /// The timeline of a GPU queue running on `stream`.
    pub(crate) fn for_stream(stream: Arc<crate::cuda::QueueStream>) -> Timeline {
        Timeline::with_stream(Some(stream))
    }

    fn with_stream(cuda: Option<Arc<crate::cuda::QueueStream>>) -> Timeline {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Timeline {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            issued: AtomicU64::new(0),
            done: AtomicU64::new(0),
            lock: Mutex::new(()),
            moved: Condvar::new(),
            fault: Mutex::new(None),
            cuda,
            host: false,
        }
    }

    /// The timeline of one host access: launch 1 is the access itself.
    fn host() -> Timeline {
        let mut t = Timeline::new();
        t.host = true;
        t.issue();
        t
    }

    /// Numbers a new launch. Called under [`order_lock`].
    pub(crate) fn issue(&self) -> u64 {
        self.issued.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The number of the last launch issued.
    pub(crate) fn last_issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// `true` once launch `seq` (and every one before it) has finished.
    pub(crate) fn is_done(&self, seq: u64) -> bool {
        // Acquire: pairs with `finish`, so the launch's writes are visible.
        self.done.load(Ordering::Acquire) >= seq
    }

    /// Records that every launch up to `seq` has finished, and wakes the
    /// threads waiting for one of them.
    pub(crate) fn finish(&self, seq: u64) {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Release: the launch's writes happen before a waiter's reads.
        self.done.fetch_max(seq, Ordering::Release);
        self.moved.notify_all();
    }

    /// Blocks until launch `seq` has finished. Fails only for a GPU queue
    /// whose stream cannot be waited for (the driver's error).
    pub(crate) fn wait_done(&self, seq: u64) -> Result<()> {
        if self.is_done(seq) {
            return Ok(());
        }
        if let Some(stream) = &self.cuda {
            return stream.wait(self, seq);
        }
        let mut g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        while !self.is_done(seq) {
            g = self.moved.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }

    /// Records the fault of launch `seq`, unless an earlier one is still
    /// unreported (the first fault since the last report wins).
    pub(crate) fn record_fault(&self, seq: u64, error: Error) {
        let mut f = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        if f.as_ref().is_none_or(|(s, _)| *s > seq) {
            *f = Some((seq, error));
        }
    }

    /// Takes the unreported fault of a launch numbered `seq` or lower.
    pub(crate) fn take_fault(&self, seq: u64) -> Option<Error> {
        let mut f = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        match &*f {
            Some((s, _)) if *s <= seq => f.take().map(|(_, e)| e),
            _ => None,
        }
    }
}

/// An access queued on a buffer: launch `seq` of `line`.
#[derive(Clone)]
pub(crate) struct Pending {
    pub(crate) line: Arc<Timeline>,
    pub(crate) seq: u64,
}

impl Pending {
    pub(crate) fn is_done(&self) -> bool {
        self.line.is_done(self.seq)
    }
}

/// What a launch must wait for on other queues: at most one entry per
/// queue, the latest.
pub(crate) type Deps = SmallVec<[Pending; 4]>;

/// Adds `p` to `deps`, keeping the later of two entries of one queue.
fn add_dep(deps: &mut Deps, p: &Pending) {
    match deps.iter_mut().find(|d| d.line.id == p.line.id) {
        Some(d) => d.seq = d.seq.max(p.seq),
        None => deps.push(p.clone()),
    }
}

/// The last accesses of a buffer, finished or not: the last write, and
/// the reads since, one per queue. Finished ones are kept (a host read
/// reports their faults); a new launch waits only for unfinished ones.
#[derive(Default)]
struct Access {
    write: Option<Pending>,
    /// Reads since `write`, one per queue.
    reads: SmallVec<[Pending; 2]>,
}

impl Access {
    /// What an access (a write when `write`) must wait for.
    fn conflicts(&self, write: bool) -> impl Iterator<Item = &Pending> {
        let reads = if write { &self.reads[..] } else { &[][..] };
        self.write.iter().chain(reads)
    }
}

/// A buffer's memory and the accesses queued on it. Shared by the
/// [`Buffer`](crate::Buffer) and every launch queued on it (and every
/// recorded graph that uses it), so the memory outlives the work on it.
#[doc(hidden)]
pub struct Storage {
    pub(crate) mem: Mem,
    access: Mutex<Access>,
}

impl Storage {
    pub(crate) fn new(mem: Mem) -> Storage {
        Storage {
            mem,
            access: Mutex::new(Access::default()),
        }
    }

    fn access(&self) -> MutexGuard<'_, Access> {
        self.access.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Orders launch `seq` of `line`, an access (a write when `write`),
    /// after the conflicting accesses: those of other queues are added to
    /// `deps`. Called under [`order_lock`].
    pub(crate) fn order(&self, line: &Arc<Timeline>, seq: u64, write: bool, deps: &mut Deps) {
        self.conflicts(line, write, deps);
        self.record(line, seq, write);
    }

    /// The first half of [`Storage::order`]: adds to `deps` the unfinished
    /// accesses of other queues than `line` that an access (a write when
    /// `write`) must wait for. Called under [`order_lock`].
    pub(crate) fn conflicts(&self, line: &Timeline, write: bool, deps: &mut Deps) {
        let a = self.access();
        for p in a.conflicts(write) {
            if p.line.id != line.id && !p.is_done() {
                add_dep(deps, p);
            }
        }
    }

    /// The second half of [`Storage::order`]: records launch `seq` of
    /// `line` as the last access (a write when `write`). Called under
    /// [`order_lock`], once the launch is in its queue, so whoever sees it
    /// here can wait for it.
    pub(crate) fn record(&self, line: &Arc<Timeline>, seq: u64, write: bool) {
        let mut a = self.access();
        // Finished host accesses have no fault to report: forget them.
        a.reads.retain(|r| !(r.line.host && r.is_done()));
        let me = Pending {
            line: line.clone(),
            seq,
        };
        if write {
            a.write = Some(me);
            a.reads.clear();
        } else {
            match a.reads.iter_mut().find(|r| r.line.id == line.id) {
                Some(r) => r.seq = seq,
                None => a.reads.push(me),
            }
        }
    }

    /// How many accesses the buffer remembers.
    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        let a = self.access();
        a.write.iter().count() + a.reads.len()
    }

    /// `true` when no access is pending at all.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        let a = self.access();
        let idle = a.conflicts(true).all(Pending::is_done);
        idle
    }
}

/// A host access of buffers in progress — `to_vec`, `copy_from`, or a
/// synchronous launch: launches queued meanwhile that conflict with it
/// (a graph replayed on another thread, say) wait until it is dropped.
pub(crate) struct HostAccess {
    line: Arc<Timeline>,
}

impl Drop for HostAccess {
    fn drop(&mut self) {
        self.line.finish(1);
    }
}

/// Begins a host access of `mems` (a write where the flag is set): records
/// it on each buffer, so conflicting launches queued from now on wait for
/// it, then waits for the queued work it conflicts with. With `report`,
/// returns instead the first unreported fault of the launches waited for
/// (and of those before them on their queues), which the queue's next
/// `sync` then no longer reports.
pub(crate) fn host_access(mems: &[(&Storage, bool)], report: bool) -> Result<HostAccess> {
    let line = Arc::new(Timeline::host());
    let mut deps = Deps::new();
    {
        let _order = order_lock();
        for (m, write) in mems {
            // Finished ones too: they may have a fault to report.
            for p in m.access().conflicts(*write) {
                add_dep(&mut deps, p);
            }
        }
        for (m, write) in mems {
            m.record(&line, 1, *write);
        }
    }
    let access = HostAccess { line };
    let mut first = None;
    for d in &deps {
        d.line.wait_done(d.seq)?;
        if report {
            if let Some(e) = d.line.take_fault(d.seq) {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(access), Err)
}

impl Drop for Storage {
    /// GPU memory with queued work pending is freed after that work: its
    /// free (on the GPU's own stream) is ordered after each pending access.
    /// Host memory needs nothing: every queued launch holds a share of it.
    fn drop(&mut self) {
        let Mem::Cuda(m) = &self.mem else { return };
        let a = self.access.get_mut().unwrap_or_else(|e| e.into_inner());
        for p in a.write.iter().chain(a.reads.iter()) {
            if p.is_done() {
                continue;
            }
            if let Some(stream) = &p.line.cuda {
                if let Err(e) = stream.order_free(m, p.seq) {
                    // The free would run under the work: wait on the host.
                    tracing::warn!(error = %e, "ordering a buffer's free by event failed; waiting");
                    let _ = p.line.wait_done(p.seq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage() -> Storage {
        Storage::new(Mem::Cpu(
            crate::cpu::HostMem::zeroed(8, String::new).unwrap(),
        ))
    }

    #[test]
    fn reads_wait_for_writes_and_writes_for_everything() {
        let (a, b, c) = (
            Arc::new(Timeline::new()),
            Arc::new(Timeline::new()),
            Arc::new(Timeline::new()),
        );
        let s = storage();
        let mut deps = Deps::new();
        s.order(&a, a.issue(), true, &mut deps);
        assert!(deps.is_empty(), "a first write waits for nothing");
        s.order(&b, b.issue(), false, &mut deps);
        assert_eq!(deps.len(), 1);
        assert_eq!((deps[0].line.id, deps[0].seq), (a.id, 1));
        let mut deps = Deps::new();
        s.order(&c, c.issue(), false, &mut deps);
        assert_eq!(deps.len(), 1, "a read waits for the write only");
        let mut deps = Deps::new();
        s.order(&a, a.issue(), true, &mut deps);
        let mut ids: Vec<u64> = deps.iter().map(|d| d.line.id).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            vec![b.id, c.id],
            "a write waits for the reads of others"
        );
        // Finished work is forgotten.
        a.finish(2);
        b.finish(1);
        c.finish(1);
        assert!(s.is_idle());
        let mut deps = Deps::new();
        s.order(&b, b.issue(), true, &mut deps);
        assert!(deps.is_empty(), "finished work is not waited for");
    }

    #[test]
    fn faults_are_reported_once_and_in_order() {
        let t = Timeline::new();
        t.record_fault(5, Error::Buffer("five".into()));
        t.record_fault(3, Error::Buffer("three".into()));
        t.record_fault(7, Error::Buffer("seven".into()));
        assert!(t.take_fault(2).is_none());
        assert!(matches!(t.take_fault(9), Some(Error::Buffer(m)) if m == "three"));
        assert!(t.take_fault(9).is_none());
    }
}
