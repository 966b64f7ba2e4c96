//! A queue on a GPU ([`QueueStream`]): a non-blocking stream of its own,
//! fault records of its own, and events that order other streams after it.
//!
//! - **Launches** go onto the queue's stream as they are queued, each with
//!   the fault record numbered like it (`seq % RECORDS`) in one block of
//!   mapped pinned memory (from the GPU's pool, so no allocation while
//!   actors run). Nothing waits for a launch when it is queued.
//! - **Faults** are read after the launches finished: when the host waits
//!   for the queue (a `sync`, a host read, a synchronous launch on one of
//!   its buffers), all launches up to the last one submitted are read back
//!   and the first fault is recorded on the queue's timeline. With
//!   [`RECORDS`] launches unread, queueing one more first waits for the
//!   oldest [`CHUNK`] (an event is recorded after every `CHUNK`-th launch):
//!   the host runs at most `RECORDS` launches ahead of the GPU.
//! - **Other queues** that must wait for launch `seq` of this one wait for
//!   this queue's *mark*, an event recorded on its stream after a launch
//!   numbered `seq` or later (`cuStreamWaitEvent`: the GPU waits, not the
//!   host). One event, re-recorded only when a wait needs a later launch.
//! - **Buffers** dropped with work pending here are freed in stream order:
//!   the GPU's own stream, where frees go, waits for the mark first.
//!
//! Every call here works on this queue's stream or events; none
//! synchronises the context, so queues work while ring actors run (whose
//! streams they never touch).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use cudarc::driver::result::{self, DriverError};
use cudarc::driver::sys;
use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::Kernel;

use super::context::{Gpu, Stream};
use super::driver::cuda_error;
use super::faults::take_record;
use super::graph::{CudaGraph, Exec, Node};
use super::launch::launch_on;
use super::memory::DeviceMem;
use super::modules::LoadedKernel;
use super::pinned::MappedLease;
use crate::kernel::KernelArg;
use crate::queue::order::{Deps, Timeline};
use crate::{Error, Launch, Result};

/// Fault records of one queue: how many launches may be unread at once.
pub(crate) const RECORDS: usize = 1024;
/// Bytes between records (a record is 56 bytes).
const STRIDE: usize = 64;
/// An event after every `CHUNK`-th launch, to reclaim records by.
pub(crate) const CHUNK: u64 = 128;

/// A CUDA event with timing disabled; destroyed on drop.
struct Event(sys::CUevent);

// SAFETY: an event handle may be used from any thread with its context
// current; who records and waits on it is up to the owner.
unsafe impl Send for Event {}
// SAFETY: as above; the handle itself is immutable.
unsafe impl Sync for Event {}

impl Event {
    /// A new event. The context must be current.
    fn new() -> std::result::Result<Event, DriverError> {
        result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING).map(Event)
    }

    /// Records the event after what `stream` holds now.
    fn record(&self, stream: &Stream) -> std::result::Result<(), DriverError> {
        // SAFETY: a live event and a live stream of the current context.
        unsafe { result::event::record(self.0, stream.raw()) }
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: destroyed once, here; a pending wait on it still
        // completes (the driver releases it after).
        if let Err(e) = unsafe { result::event::destroy(self.0) } {
            tracing::warn!(error = %super::driver::describe(e), "destroying a CUDA event failed");
        }
    }
}

/// What is in flight on a queue's stream.
struct Flight {
    /// The number of the last launch put on the stream.
    submitted: u64,
    /// Launches and graph replays whose fault records are unread, in order.
    unread: VecDeque<(u64, Unread)>,
    /// Events recorded after every `CHUNK`-th launch, with its number.
    chunks: VecDeque<(Event, u64)>,
    /// The event other streams wait on, and the launch it follows.
    mark: Option<(Event, u64)>,
}

/// Whose fault records a launch number has.
enum Unread {
    /// A launch's: the queue's record numbered like it.
    Launch(Arc<Kernel>),
    /// A graph replay's: its instantiation's records.
    Replay(Arc<Exec>),
}

/// One queue's stream on a GPU (see the module doc).
pub(crate) struct QueueStream {
    gpu: Arc<Gpu>,
    stream: Stream,
    records: MappedLease,
    flight: Mutex<Flight>,
}

impl QueueStream {
    /// A new stream with its fault records.
    pub(crate) fn new(gpu: &Arc<Gpu>) -> Result<Arc<QueueStream>> {
        let what = || format!("creating a queue on GPU {} ({})", gpu.ordinal, gpu.name);
        gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        let stream = Stream::create().map_err(|e| cuda_error(&what(), e))?;
        let records = match gpu.mapped(RECORDS * STRIDE) {
            Ok(r) => r,
            Err(e) => {
                destroy_stream(&stream);
                return Err(e);
            }
        };
        Ok(Arc::new(QueueStream {
            gpu: gpu.clone(),
            stream,
            records,
            flight: Mutex::new(Flight {
                submitted: 0,
                unread: VecDeque::new(),
                chunks: VecDeque::new(),
                mark: None,
            }),
        }))
    }

    fn flight(&self) -> MutexGuard<'_, Flight> {
        self.flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The host address of record `seq % RECORDS`.
    fn record_ptr(&self, seq: u64) -> *mut FaultRecord {
        let at = (seq % RECORDS as u64) as usize * STRIDE;
        // SAFETY: `at + STRIDE` lies inside the block of RECORDS * STRIDE bytes.
        unsafe { self.records.block().host().as_ptr().add(at) }.cast()
    }

    /// Puts one launch on the stream after the dependencies `deps` (launches
    /// of other queues) and returns its number, issued on `line`. Called
    /// under the ordering lock (`crate::queue::order::order_lock`).
    pub(crate) fn launch(
        &self,
        line: &Timeline,
        deps: &Deps,
        kernel: &Arc<Kernel>,
        loaded: &LoadedKernel,
        launch: &Launch,
        args: &[KernelArg<'_>],
    ) -> Result<u64> {
        let name = &kernel.name;
        let what = || format!("queueing kernel `{name}`");
        self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        self.wait_deps(deps, &what)?;
        self.submit(line, &what, Unread::Launch(kernel.clone()), |seq| {
            let fault_ptr = self.records.block().device() + (seq % RECORDS as u64) * STRIDE as u64;
            launch_on(kernel, loaded, launch, args, fault_ptr, &self.stream)
        })
    }

    /// Puts one replay of `graph` (whose nodes `nodes` builds) on the stream
    /// after the dependencies `deps` and returns its number, issued on
    /// `line`. Called under the ordering lock.
    pub(crate) fn launch_graph<'a>(
        &self,
        line: &Arc<Timeline>,
        deps: &Deps,
        graph: &CudaGraph,
        nodes: &dyn Fn() -> Result<Vec<Node<'a>>>,
    ) -> Result<u64> {
        let what = || "replaying a recorded graph".to_string();
        self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        self.wait_deps(deps, &what)?;
        // The number this replay gets: the ordering lock is held, so no
        // other launch of this queue is issued meanwhile.
        let exec = graph.exec_for_replay(nodes, line, line.last_issued() + 1)?;
        self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        let submitted = self.submit(line, &what, Unread::Replay(exec.clone()), |_| {
            // SAFETY: a live instantiation and this queue's live stream of
            // the current context; the instantiation's records are free
            // (`exec_for_replay`) and its buffers alive with the graph.
            unsafe { result::graph::launch(exec.raw(), self.stream.raw()) }
                .map_err(|e| cuda_error(&what(), e))
        });
        if submitted.is_err() {
            exec.unmark();
        }
        submitted
    }

    /// Makes the stream wait for launches of other queues (`deps`).
    fn wait_deps(&self, deps: &Deps, what: &dyn Fn() -> String) -> Result<()> {
        for d in deps {
            if d.line.host {
                // A host access in progress (a host read, a synchronous
                // launch): it ends without the ordering lock, so wait here.
                d.line.wait_done(d.seq)?;
                continue;
            }
            let Some(other) = &d.line.cuda else {
                return Err(Error::Queue(format!(
                    "{}: a buffer has work pending on a queue of another backend",
                    what()
                )));
            };
            let mark = other.mark(d.seq)?;
            // SAFETY: a live stream of the current context and a live event
            // (`other` is kept alive by `deps`, and destroys its mark only
            // when dropped).
            unsafe {
                result::stream::wait_event(
                    self.stream.raw(),
                    mark,
                    sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
                )
            }
            .map_err(|e| cuda_error(&what(), e))?;
        }
        Ok(())
    }

    /// Numbers the next piece of work, puts it on the stream with `put`
    /// (given its number), and keeps `unread` to read its faults by.
    fn submit(
        &self,
        line: &Timeline,
        what: &dyn Fn() -> String,
        unread: Unread,
        put: impl FnOnce(u64) -> Result<()>,
    ) -> Result<u64> {
        let mut f = self.flight();
        if f.unread.len() >= RECORDS {
            self.reclaim(&mut f, line)?;
        }
        let seq = f.submitted + 1;
        let chunk = if seq.is_multiple_of(CHUNK) {
            Some(Event::new().map_err(|e| cuda_error(&what(), e))?)
        } else {
            None
        };
        put(seq)?;
        f.submitted = seq;
        f.unread.push_back((seq, unread));
        let issued = line.issue();
        debug_assert_eq!(issued, seq, "a queue's launches are numbered as submitted");
        if let Some(ev) = chunk {
            // Without it the records are reclaimed by a stream synchronise.
            match ev.record(&self.stream) {
                Ok(()) => f.chunks.push_back((ev, seq)),
                Err(e) => {
                    tracing::warn!(error = %super::driver::describe(e), "recording a queue's event failed")
                }
            }
        }
        Ok(seq)
    }

    /// An event that completes after launch `seq` (and everything before
    /// it): the mark, re-recorded if it was recorded before `seq`. Valid
    /// while `self` lives.
    pub(crate) fn mark(&self, seq: u64) -> Result<sys::CUevent> {
        let what = || "ordering a queue after another".to_string();
        let mut f = self.flight();
        if let Some((ev, after)) = &f.mark {
            if *after >= seq {
                return Ok(ev.0);
            }
        }
        self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        if f.mark.is_none() {
            f.mark = Some((Event::new().map_err(|e| cuda_error(&what(), e))?, 0));
        }
        let submitted = f.submitted;
        let (ev, after) = f.mark.as_mut().expect("created above");
        ev.record(&self.stream)
            .map_err(|e| cuda_error(&what(), e))?;
        *after = submitted;
        Ok(ev.0)
    }

    /// Blocks until launch `seq` has finished, then reads the fault records
    /// of every launch finished so far (faults go to `line`).
    pub(crate) fn wait(&self, line: &Timeline, seq: u64) -> Result<()> {
        while !line.is_done(seq) {
            let upto = self.flight().submitted;
            if upto < seq {
                return Err(Error::Queue(format!(
                    "waiting for launch {seq} of a queue that has put {upto} on its stream"
                )));
            }
            let what = || "waiting for a queue".to_string();
            self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
            // SAFETY: this queue's live stream, its context current. A
            // stream synchronise waits for this stream only.
            unsafe { result::stream::synchronize(self.stream.raw()) }
                .map_err(|e| cuda_error(&what(), e))?;
            let mut f = self.flight();
            self.read_faults(&mut f, line, upto);
        }
        Ok(())
    }

    /// With every record in use: waits for the oldest chunk of launches
    /// and reads their records.
    fn reclaim(&self, f: &mut Flight, line: &Timeline) -> Result<()> {
        let what = || "waiting for a queue to make room for more launches".to_string();
        let upto = match f.chunks.pop_front() {
            Some((ev, upto)) => {
                // SAFETY: a live event of the current context.
                unsafe { result::event::synchronize(ev.0) }.map_err(|e| cuda_error(&what(), e))?;
                upto
            }
            None => {
                // SAFETY: as in `wait`.
                unsafe { result::stream::synchronize(self.stream.raw()) }
                    .map_err(|e| cuda_error(&what(), e))?;
                f.submitted
            }
        };
        self.read_faults(f, line, upto);
        Ok(())
    }

    /// Reads the records of the launches up to `upto`, which have finished,
    /// recording their faults on `line`; marks them finished.
    fn read_faults(&self, f: &mut Flight, line: &Timeline, upto: u64) {
        while let Some((seq, _)) = f.unread.front() {
            if *seq > upto {
                break;
            }
            let (seq, unread) = f.unread.pop_front().expect("front exists");
            let fault = match unread {
                // SAFETY: launch `seq` finished (the caller waited for it), no
                // launch after it uses this record yet (at most RECORDS are
                // unread), and only this queue's flight lock, held, reads it.
                Unread::Launch(kernel) => unsafe { take_record(self.record_ptr(seq)) }
                    .map(|rec| crate::fault::fault_error(&kernel, &rec)),
                // SAFETY: the replay finished (as above).
                Unread::Replay(exec) => unsafe { exec.take_faults() },
            };
            if let Some(e) = fault {
                line.record_fault(seq, e);
            }
        }
        while f.chunks.front().is_some_and(|(_, s)| *s <= upto) {
            f.chunks.pop_front();
        }
        line.finish(upto);
    }

    /// Before `mem` is freed: its free, queued on the GPU's own stream,
    /// waits for launch `seq` of this queue (stream-ordered; a host wait
    /// where the GPU frees synchronously).
    pub(crate) fn order_free(&self, mem: &DeviceMem, seq: u64) -> Result<()> {
        if mem.frees_async() {
            let mark = self.mark(seq)?;
            let what = || "ordering a buffer's free after its queued work".to_string();
            self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
            // SAFETY: the GPU's live stream and a live event of its context.
            unsafe {
                result::stream::wait_event(
                    self.gpu.stream.raw(),
                    mark,
                    sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT,
                )
            }
            .map_err(|e| cuda_error(&what(), e))
        } else {
            let what = || "waiting for a buffer's queued work before freeing it".to_string();
            self.gpu.bind().map_err(|e| cuda_error(&what(), e))?;
            // SAFETY: as in `wait`.
            unsafe { result::stream::synchronize(self.stream.raw()) }
                .map_err(|e| cuda_error(&what(), e))
        }
    }
}

impl Drop for QueueStream {
    fn drop(&mut self) {
        // The records go back to the GPU's pool: no launch may write them
        // after that. A wait for this stream only.
        let synced = self.gpu.bind().and_then(|()| {
            // SAFETY: this queue's live stream, its context current.
            unsafe { result::stream::synchronize(self.stream.raw()) }
        });
        if let Err(e) = synced {
            tracing::warn!(error = %super::driver::describe(e), "waiting for a dropped queue failed");
        }
        let mut f = self.flight();
        f.chunks.clear();
        f.mark = None;
        // Nobody can ask for these faults any more; a graph's
        // instantiation must be free for its next replay.
        for (_, unread) in f.unread.drain(..) {
            if let Unread::Replay(exec) = unread {
                if synced.is_ok() {
                    // SAFETY: the stream was synchronised above.
                    let _ = unsafe { exec.take_faults() };
                } else {
                    // The context failed: no replay runs on it any more.
                    exec.unmark();
                }
            }
        }
        drop(f);
        destroy_stream(&self.stream);
    }
}

/// Destroys a queue's stream (its work still completes).
fn destroy_stream(stream: &Stream) {
    // SAFETY: the stream is this queue's, destroyed once, and not used after.
    if let Err(e) = unsafe { result::stream::destroy(stream.raw()) } {
        tracing::warn!(error = %super::driver::describe(e), "destroying a queue's stream failed");
    }
}

impl std::fmt::Debug for QueueStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueStream")
            .field("gpu", &self.gpu.ordinal)
            .field("submitted", &self.flight().submitted)
            .finish()
    }
}
