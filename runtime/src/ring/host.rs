//! The host side of the ring protocol: [`HostSession`] publishes requests,
//! consumes replies, keeps replies the user has not asked for yet in a
//! host-side queue, watches the executor, and stops it.
//!
//! It is generic over the memory so that loom can check exactly this code.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ring::layout::{
    offsets, RingLayout, ERROR_FAULT, ERROR_LAYOUT, ERROR_NONE, EXIT_NONE, STOP_ABORT, STOP_DRAIN,
};

use spindle_codegen::ir::Kernel;

use super::actor::ActorStatus;
use super::executor::{Executor, ExecutorDeath};
use super::memory::RingMemory;
use super::protocol::{Consumer, Producer, RingGeometry};
use super::wait::Waiter;
use crate::fault::fault_error;
use crate::types::{bytes_of, DeviceType};
use crate::{Error, Result};

#[path = "host_async.rs"]
mod host_async;

/// How often a wait asks the executor whether it is alive (a cheap call:
/// a thread's state, a stream query).
const ALIVE_CHECK_PERIOD: Duration = Duration::from_millis(1);

/// How long a stop may wait for `exited`.
#[derive(Clone, Copy, Debug)]
enum StopBound {
    /// Until this instant, whatever the executor does (drop).
    Deadline(Instant),
    /// As long as the executor answers a message at least this often
    /// (shutdown's drain).
    Progress(Duration),
}

/// Why the session no longer talks to its executor.
#[derive(Debug)]
enum Ended {
    /// The executor reported an error (fault); every call returns it.
    Failed(Error),
    /// The executor died or exited on its own.
    Stopped(String),
}

/// The host end of one actor.
pub(crate) struct HostSession<Mem: RingMemory + ?Sized, M, R> {
    mem: Arc<Mem>,
    kernel: String,
    layout: RingLayout,
    requests: Producer,
    replies: Consumer,
    /// Replies taken off the ring before the user asked for them, in order.
    pending: VecDeque<R>,
    /// Requests published whose reply the user has not received.
    in_flight: u64,
    executor: Box<dyn Executor>,
    /// The linked kernel, to name a fault's site (`None` for closures).
    ir: Option<Arc<Kernel>>,
    waiter: Box<dyn Waiter>,
    timeout: Duration,
    /// How long `shutdown` waits for the drain to make progress.
    shutdown_timeout: Duration,
    /// When a wait last asked the executor whether it is alive.
    alive_checked: Instant,
    ended: Option<Ended>,
    /// The executor has published `exited` and been finished.
    finished: bool,
    /// How futures spin before they wait (`task_wait`).
    tasks: super::wait::Spin,
    _msg: PhantomData<fn(M)>,
}

impl<Mem: RingMemory + ?Sized, M: DeviceType, R: DeviceType> HostSession<Mem, M, R> {
    /// A session over a zeroed region whose executor has been started.
    pub(crate) fn new(
        mem: Arc<Mem>,
        kernel: String,
        layout: RingLayout,
        executor: Box<dyn Executor>,
        ir: Option<Arc<Kernel>>,
        waiter: Box<dyn Waiter>,
        timeout: Duration,
    ) -> Self {
        let tasks = super::task_wait::task_spin(waiter.bell().is_some());
        HostSession {
            mem,
            kernel,
            requests: Producer::new(RingGeometry::requests(&layout)),
            replies: Consumer::new(RingGeometry::replies(&layout)),
            layout,
            pending: VecDeque::new(),
            in_flight: 0,
            executor,
            ir,
            waiter,
            timeout,
            shutdown_timeout: timeout,
            alive_checked: Instant::now(),
            ended: None,
            finished: false,
            tasks,
            _msg: PhantomData,
        }
    }

    /// Sets how long `shutdown` waits for the drain to make progress
    /// (the call timeout until set).
    pub(crate) fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The shared memory (for a caller that must keep it alive).
    pub(crate) fn memory(&self) -> &Arc<Mem> {
        &self.mem
    }

    /// The ring capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.layout.capacity as usize
    }

    /// The configured wait timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Requests sent whose replies have not been received.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight
    }

    /// The error every call returns once the session has ended.
    fn ended_error(&self, ended: &Ended) -> Error {
        match ended {
            Ended::Failed(e) => e.clone(),
            Ended::Stopped(reason) => Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason: reason.clone(),
            },
        }
    }

    /// The fast check before each operation: a failure seen earlier, or
    /// the error word. On a new failure, every reply the executor published
    /// before it is first moved into the host-side queue, so `recv` still
    /// hands them out, in order, before the error.
    fn check(&mut self) -> Result<()> {
        if let Some(e) = &self.ended {
            return Err(self.ended_error(e));
        }
        // Acquire: pairs with the executor's Release store of `error`,
        // made after it wrote the fault record (or reported its error on
        // its side channel) and after it published every reply before the
        // fault: all of them are visible once we read the code.
        let code = self.mem.load(offsets::ERROR, Acquire);
        if code != ERROR_NONE {
            self.drain_replies();
            return Err(self.fail(code));
        }
        Ok(())
    }

    /// Records the executor's error `code` and returns it.
    fn fail(&mut self, code: u32) -> Error {
        let e = match code {
            ERROR_FAULT => match self.executor.fault_record(self.timeout) {
                Some(rec) => self.fault_to_error(&rec),
                None => Error::ActorStopped {
                    kernel: self.kernel.clone(),
                    reason:
                        "the handler faulted, but the executor's fault record could not be read"
                            .into(),
                },
            },
            ERROR_LAYOUT => Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason: "the executor was built for another ring layout than the host's \
                         (config check failed); this is a bug in spindle"
                    .into(),
            },
            _ => self.executor.failure(code),
        };
        let out = e.clone();
        tracing::warn!(kernel = %self.kernel, error = %e, "ring actor failed");
        self.ended = Some(Ended::Failed(e));
        out
    }

    /// The error for a fault record the executor left.
    fn fault_to_error(&self, rec: &FaultRecord) -> Error {
        match &self.ir {
            Some(ir) => fault_error(ir, rec),
            None => Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason: format!("the handler faulted (fault kind {})", rec.kind),
            },
        }
    }

    /// Records that the executor died and returns the error every later
    /// call will report. Replies it published before are kept for `recv`
    /// (it has stopped: every one of them is visible now).
    fn died(&mut self, death: ExecutorDeath) -> Error {
        self.drain_replies();
        let ended = match death {
            ExecutorDeath::Fault(rec) => Ended::Failed(self.fault_to_error(&rec)),
            ExecutorDeath::Other(reason) => Ended::Stopped(reason),
        };
        let e = self.ended_error(&ended);
        tracing::warn!(kernel = %self.kernel, error = %e, "ring executor died");
        self.ended = Some(ended);
        e
    }

    /// The slow check during waits: also notices an executor that exited
    /// or (at most every [`ALIVE_CHECK_PERIOD`]) died.
    fn check_slow(&mut self) -> Result<()> {
        self.check()?;
        // Acquire: pairs with the executor's Release of `exited`.
        let exited = self.mem.load(offsets::EXITED, Acquire);
        if exited != EXIT_NONE {
            // It may have failed between the two loads.
            self.check()?;
            // Acquire above: every reply it published is visible.
            self.drain_replies();
            let reason = format!(
                "the executor exited without being asked to ({})",
                exit_name(exited)
            );
            self.ended = Some(Ended::Stopped(reason.clone()));
            return Err(Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason,
            });
        }
        if self.alive_check_due() {
            if let Err(death) = self.executor.check_alive() {
                self.check()?;
                // It may have exited (and ended) since the load above.
                if self.mem.load(offsets::EXITED, Acquire) != EXIT_NONE {
                    return self.check_slow();
                }
                return Err(self.died(death));
            }
        }
        Ok(())
    }

    /// Whether a wait should ask the executor whether it is alive now.
    fn alive_check_due(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.alive_checked) < ALIVE_CHECK_PERIOD {
            return false;
        }
        self.alive_checked = now;
        true
    }

    /// Running, failed or stopped, as far as the host can tell now. A
    /// failure noticed here is kept for every later call (and the replies
    /// published before it for `recv`), as if a call had noticed it.
    pub(crate) fn status(&mut self) -> ActorStatus {
        if self.ended.is_none() && !self.finished {
            self.alive_checked = Instant::now() - ALIVE_CHECK_PERIOD;
            let _ = self.check_slow();
        }
        match &self.ended {
            None => ActorStatus::Running,
            Some(Ended::Failed(e)) => ActorStatus::Failed(e.clone()),
            Some(Ended::Stopped(reason)) => ActorStatus::Stopped(reason.clone()),
        }
    }

    /// Repeats `attempt` until it yields a value, the timeout passes, or
    /// the executor fails; between attempts it pauses until what `attempt`
    /// needs may be there (`room`: a free request slot, else a reply).
    fn wait_for<T>(
        &mut self,
        timeout: Duration,
        room: bool,
        mut attempt: impl FnMut(&mut Self) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now().checked_add(timeout);
        self.waiter.begin();
        loop {
            if let Some(v) = attempt(self) {
                return Ok(v);
            }
            self.check_slow()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout {
                    kernel: self.kernel.clone(),
                    after: timeout,
                });
            }
            self.pause(room);
        }
    }

    /// One pause of a wait; wakes early once the executor published a
    /// reply, freed a request slot (when `room` is what the wait needs),
    /// failed or exited. Only what the wait needs may end a pause: a
    /// request ring with room would otherwise end every pause of a wait
    /// for a reply, and the wait would never sleep.
    fn pause(&mut self, room: bool) {
        let (mem, replies, requests) = (&*self.mem, &self.replies, &self.requests);
        self.waiter
            .pause(&|| published(mem, replies, requests, room));
    }

    fn try_publish(&mut self, msg: &M) -> bool {
        if self
            .requests
            .try_publish(&*self.mem, bytes_of(std::slice::from_ref(msg)))
        {
            self.in_flight += 1;
            self.executor.notify();
            true
        } else {
            false
        }
    }

    /// Takes the next reply off the ring, if one is published.
    fn take_reply(&mut self) -> Option<R> {
        let mut r = MaybeUninit::<R>::uninit();
        // SAFETY: the slice covers exactly the bytes of `r`.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(r.as_mut_ptr().cast::<u8>(), size_of::<R>()) };
        if self.replies.try_consume(&*self.mem, dst) {
            // The executor may be waiting for reply room.
            self.executor.notify();
            // SAFETY: every byte of `r` was written by the consume above
            // with the bytes of an `R` the executor produced; `R:
            // DeviceType` is valid for every bit pattern a handler writes.
            Some(unsafe { r.assume_init() })
        } else {
            None
        }
    }

    /// Moves every published reply into the host-side queue.
    fn drain_replies(&mut self) -> usize {
        let mut n = 0;
        while let Some(r) = self.take_reply() {
            self.pending.push_back(r);
            n += 1;
        }
        n
    }

    /// Publishes `msg`, or `Error::Full` when the request ring has no room.
    pub(crate) fn try_send(&mut self, msg: &M) -> Result<()> {
        self.check()?;
        if self.try_publish(msg) {
            Ok(())
        } else {
            Err(Error::Full {
                kernel: self.kernel.clone(),
                capacity: self.capacity(),
            })
        }
    }

    /// Publishes `msg`, waiting for room; while it waits it moves ready
    /// replies into the host-side queue, so the executor never blocks on a
    /// full reply ring because of us.
    pub(crate) fn send(&mut self, msg: &M) -> Result<()> {
        self.check()?;
        if self.try_publish(msg) {
            return Ok(());
        }
        let timeout = self.timeout;
        self.wait_for(timeout, true, |s| {
            s.drain_replies();
            s.try_publish(msg).then_some(())
        })
    }

    /// The next reply, if one is ready. Replies published before a failure
    /// come first, in order; the failure once they are all received.
    pub(crate) fn try_recv(&mut self) -> Result<Option<R>> {
        if self.pending.is_empty() {
            if self.ended.is_none() {
                if let Some(r) = self.take_reply() {
                    self.in_flight -= 1;
                    return Ok(Some(r));
                }
            }
            // On a new failure this queues the replies published before it;
            // they go first.
            match self.check() {
                Ok(()) => return Ok(None),
                Err(e) if self.pending.is_empty() => return Err(e),
                Err(_) => {}
            }
        }
        let r = self.pending.pop_front().expect("the queue is not empty");
        self.in_flight -= 1;
        Ok(Some(r))
    }

    /// The next reply, waiting up to `timeout`.
    pub(crate) fn recv_timeout(&mut self, timeout: Duration) -> Result<R> {
        if let Some(r) = self.try_recv()? {
            return Ok(r);
        }
        if self.in_flight == 0 {
            // No reply can ever come: say so now.
            return Err(Error::NothingInFlight {
                kernel: self.kernel.clone(),
            });
        }
        let r = self.wait_reply(timeout, 0)?;
        self.in_flight -= 1;
        Ok(r)
    }

    /// Waits for the reply that follows `earlier` replies (which stay
    /// queued) and takes it off the queue. Replies published before a failure are
    /// queued before it is returned.
    fn wait_reply(&mut self, timeout: Duration, earlier: u64) -> Result<R> {
        let waited = if earlier == 0 && self.pending.is_empty() {
            self.wait_for(timeout, false, |s| s.take_reply())
        } else {
            self.wait_for(timeout, false, |s| {
                s.drain_replies();
                (s.pending.len() as u64 > earlier).then(|| s.pending.remove(earlier as usize))?
            })
        };
        match waited {
            Ok(r) => Ok(r),
            // The failure queued the replies published before it: ours may
            // be among them.
            Err(_) if self.pending.len() as u64 > earlier => Ok(self
                .pending
                .remove(earlier as usize)
                .expect("the queue is longer than `earlier`")),
            Err(e) => Err(e),
        }
    }

    /// Sends `msg` and waits for its reply; replies to earlier messages stay
    /// queued for `recv`, in order.
    pub(crate) fn call(&mut self, msg: &M) -> Result<R> {
        self.send(msg)?;
        let earlier = self.in_flight - 1;
        if earlier == 0 {
            if let Some(r) = self.take_reply() {
                self.in_flight -= 1;
                return Ok(r);
            }
        }
        let timeout = self.timeout;
        let r = self.wait_reply(timeout, earlier)?;
        self.in_flight -= 1;
        Ok(r)
    }

    /// Raises `stop` and waits for `exited`, discarding replies meanwhile
    /// (so the executor never waits for reply room), within `bound`.
    /// Returns the exit code.
    fn stop_and_wait(&mut self, stop: u32, bound: StopBound) -> Result<u32> {
        // Release: orders every request publish before `stop`; the
        // executor's Acquire of `stop` then sees all of them (drain).
        self.mem.store(offsets::STOP, stop, Release);
        self.executor.notify();
        let mut last_progress = Instant::now();
        self.waiter.begin();
        loop {
            // Acquire: pairs with the executor's Release of `exited`: the
            // state-out bytes and the error word are visible after it.
            let exited = self.mem.load(offsets::EXITED, Acquire);
            if exited != EXIT_NONE {
                return Ok(exited);
            }
            let mut discarded = 0;
            while self.take_reply().is_some() {
                discarded += 1;
            }
            if discarded > 0 {
                last_progress = Instant::now();
            }
            if self.alive_check_due() {
                if let Err(death) = self.executor.check_alive() {
                    if self.mem.load(offsets::EXITED, Acquire) != EXIT_NONE {
                        continue;
                    }
                    return Err(self.died(death));
                }
            }
            match bound {
                StopBound::Deadline(d) if Instant::now() >= d => {
                    return Err(Error::ActorStopped {
                        kernel: self.kernel.clone(),
                        reason: format!(
                            "the executor did not stop within {:?} of being asked to",
                            self.timeout
                        ),
                    })
                }
                StopBound::Progress(p) if last_progress.elapsed() >= p => {
                    return Err(Error::ActorStopped {
                        kernel: self.kernel.clone(),
                        reason: format!(
                            "shutdown gave up: the executor answered none of the messages \
                             sent before it for {p:?} (a handler stuck in a loop?); it was \
                             told to stop without draining, and its state is lost \
                             (RingConfig::shutdown_timeout sets this bound)"
                        ),
                    })
                }
                _ => {}
            }
            self.pause(false);
        }
    }

    /// Drains every request sent so far, stops the executor, and returns
    /// its final state. The drain may take as long as it needs while the
    /// executor keeps answering; it fails only when no message is answered
    /// for the shutdown timeout.
    pub(crate) fn shutdown<S: DeviceType>(&mut self) -> Result<S> {
        if let Err(e) = self.check() {
            self.abort();
            return Err(e);
        }
        let bound = StopBound::Progress(self.shutdown_timeout);
        let exited = match self.stop_and_wait(STOP_DRAIN, bound) {
            Ok(code) => code,
            Err(e) => {
                self.abort();
                return Err(e);
            }
        };
        // Read a fault's details before handing the executor back: its
        // fault record may live in memory the executor frees.
        let failed = self.check();
        self.release(true);
        failed?;
        if exited != spindle_codegen::ring::layout::EXIT_DRAINED {
            return Err(Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason: format!(
                    "the executor did not drain the requests sent before shutdown ({})",
                    exit_name(exited)
                ),
            });
        }
        debug_assert_eq!(size_of::<S>(), self.layout.state_size);
        let mut s = MaybeUninit::<S>::uninit();
        // SAFETY: the slice covers exactly the bytes of `s`.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<u8>(), size_of::<S>()) };
        // SAFETY: the executor wrote state-out before its Release of
        // `exited`, which we acquired; nobody writes it again.
        unsafe { self.mem.read_bytes(self.layout.state_out_offset, dst) };
        // SAFETY: all bytes written above from an `S` the handler left;
        // `S: DeviceType` is valid for every bit pattern a handler writes.
        Ok(unsafe { s.assume_init() })
    }

    /// Stops the executor without draining (drop), waiting at most the
    /// timeout from now, however many replies it still publishes. Returns
    /// `true` when the region may be freed.
    pub(crate) fn abort(&mut self) -> bool {
        if self.finished {
            return true;
        }
        let deadline = Instant::now()
            .checked_add(self.timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600 * 24 * 365));
        let exited = self
            .stop_and_wait(STOP_ABORT, StopBound::Deadline(deadline))
            .is_ok();
        self.release(exited)
    }

    /// Hands the executor back; leaks the region if the executor may still
    /// touch it. Returns `true` when the region may be freed.
    fn release(&mut self, exited: bool) -> bool {
        self.finished = true;
        let freeable = self.executor.finish(exited);
        if !freeable {
            tracing::warn!(
                kernel = %self.kernel,
                "ring executor did not exit within {:?} of being stopped; its memory is leaked",
                self.timeout
            );
            // The executor may still touch the region: never free it.
            std::mem::forget(Arc::clone(&self.mem));
        }
        freeable
    }
}

/// Whether the executor published something a wait may be waiting for: a
/// reply, a freed request slot (when `room` is what it needs), a failure
/// or its exit. Relaxed loads: a peek; what acts on it acquires.
fn published<Mem: RingMemory + ?Sized>(
    mem: &Mem,
    replies: &Consumer,
    requests: &Producer,
    room: bool,
) -> bool {
    replies.is_ready(mem)
        || (room && requests.room_visible(mem))
        || mem.load(offsets::EXITED, Relaxed) != EXIT_NONE
        || mem.load(offsets::ERROR, Relaxed) != ERROR_NONE
}

/// An `exited` code in words, for error messages.
fn exit_name(code: u32) -> String {
    use spindle_codegen::ring::layout::{EXIT_ABORTED, EXIT_DRAINED, EXIT_FAULTED};
    match code {
        EXIT_DRAINED => "it reported a drain".into(),
        EXIT_ABORTED => "it reported an abort".into(),
        EXIT_FAULTED => "it reported a fault".into(),
        other => format!("it reported the unknown exit code {other}"),
    }
}
