//! The host side of an actor group: [`GroupSession`] keeps, per actor, the
//! producer of its request ring, the consumer of its reply ring and a
//! host-side queue of replies taken off the ring before they were asked
//! for — exactly what `HostSession` keeps for one actor — and watches the
//! group's executor as a whole. The protocol is documented in
//! `spindle_codegen::ring::group_layout`.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::group_layout::{group_offsets, GroupLayout};
use spindle_codegen::ring::layout::{
    ERROR_FAULT, ERROR_LAYOUT, ERROR_NONE, EXIT_DRAINED, EXIT_NONE, STOP_ABORT, STOP_DRAIN,
};

use super::memory::RingMemory;
use super::protocol::{Consumer, Producer, RingGeometry};
use super::task_wait::task_spin;
use super::wait::{Spin, Waiter};
use crate::fault::fault_error;
use crate::types::{bytes_of, DeviceType};
use crate::{Error, Result};

#[path = "group_async.rs"]
mod group_async;

/// How often a wait asks the executor whether it is alive.
const ALIVE_CHECK_PERIOD: Duration = Duration::from_millis(1);

/// What the host side of a group needs from its executor (worker threads,
/// or one GPU kernel).
pub(crate) trait GroupExecutor: Send {
    /// `Err` (why, in a sentence) once the executor died without
    /// publishing `exited` for every block.
    /// `exited(b)`: whether block `b` published `exited` (its end is
    /// then expected).
    /// (Also true for a block whose launch ended on a fault that the host
    /// has yet to launch it again for.)
    fn check_alive(&mut self, exited: &dyn Fn(u32) -> bool) -> std::result::Result<(), String>;

    /// The error for actor `actor`'s non-zero `error` code other than
    /// `ERROR_FAULT` (whose record the session reads from the region).
    fn failure(&mut self, actor: u32, code: u32) -> Error;

    /// The host published a request to, or freed a reply slot of, an
    /// actor of block `block`.
    fn notify(&self, block: u32);

    /// Before `notify`: the host published a request to, or freed a reply
    /// slot of, actor `actor` (an executor may visit it first).
    fn hint(&self, actor: u32) {
        let _ = actor;
    }

    /// Launches block `block` again as launch `launch`, after its previous
    /// launch ended on a handler fault (it stored `faults = launch`). Only
    /// a GPU executor's blocks end that way.
    fn revive(&mut self, block: u32, launch: u32) -> std::result::Result<(), String> {
        let _ = launch;
        Err(format!(
            "block {block} of the group's executor reported that it ended on a fault, which \
             this executor never does; this is a bug in spindle"
        ))
    }

    /// The host is done with the executor; `exited`: every block published
    /// `exited`. `true` when the region may be freed.
    fn finish(&mut self, exited: bool) -> bool;
}

/// The host's end of one actor of the group.
struct ActorEnd<R> {
    requests: Producer,
    replies: Consumer,
    /// Replies taken off the ring before the user asked for them, in order.
    pending: VecDeque<R>,
    /// Requests published whose reply the user has not received.
    in_flight: u64,
    /// The actor's failure, once seen.
    failed: Option<Error>,
    /// Its place in `busy` (`NOT_BUSY` when absent).
    busy_at: u32,
}

const NOT_BUSY: u32 = u32::MAX;

/// The host end of a group of actors.
pub(crate) struct GroupSession<Mem: RingMemory + ?Sized, M, R> {
    mem: Arc<Mem>,
    kernel: String,
    layout: GroupLayout,
    actors: Vec<ActorEnd<R>>,
    /// Actors with requests in flight or replies queued, for `recv_any`.
    busy: Vec<u32>,
    /// Where `recv_any` looks first.
    cursor: usize,
    executor: Box<dyn GroupExecutor>,
    ir: Option<Arc<Kernel>>,
    waiter: Box<dyn Waiter>,
    timeout: Duration,
    shutdown_timeout: Duration,
    alive_checked: Instant,
    /// The executor as a whole stopped talking (died, or exited unasked).
    ended: Option<Error>,
    /// Per block: its launches so far after the first (see `revive`).
    relaunched: Vec<u32>,
    finished: bool,
    /// How futures spin before they wait (`task_wait`).
    tasks: Spin,
    _msg: PhantomData<fn(M)>,
}

impl<Mem: RingMemory + ?Sized, M: DeviceType, R: DeviceType> GroupSession<Mem, M, R> {
    /// A session over a zeroed region whose executor has been started.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        mem: Arc<Mem>,
        kernel: String,
        layout: GroupLayout,
        executor: Box<dyn GroupExecutor>,
        ir: Option<Arc<Kernel>>,
        waiter: Box<dyn Waiter>,
        timeout: Duration,
        shutdown_timeout: Duration,
    ) -> Self {
        let actors = (0..layout.actors)
            .map(|a| ActorEnd {
                requests: Producer::new(RingGeometry::group_requests(&layout, a)),
                replies: Consumer::new(RingGeometry::group_replies(&layout, a)),
                pending: VecDeque::new(),
                in_flight: 0,
                failed: None,
                busy_at: NOT_BUSY,
            })
            .collect();
        let tasks = task_spin(waiter.bell().is_some());
        GroupSession {
            mem,
            kernel,
            layout,
            actors,
            busy: Vec::new(),
            cursor: 0,
            executor,
            ir,
            waiter,
            timeout,
            shutdown_timeout,
            alive_checked: Instant::now(),
            ended: None,
            relaunched: vec![0; layout.blocks as usize],
            finished: false,
            tasks,
            _msg: PhantomData,
        }
    }

    /// Makes the host wait with `waiter` (its futures too): one that
    /// cannot ring makes a CPU group wait as a GPU group does.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_waiter(&mut self, waiter: Box<dyn Waiter>) {
        self.tasks = task_spin(waiter.bell().is_some());
        self.waiter = waiter;
    }

    /// Actors in the group.
    pub(crate) fn len(&self) -> usize {
        self.actors.len()
    }

    /// Slots per ring of each actor.
    pub(crate) fn capacity(&self) -> usize {
        self.layout.capacity as usize
    }

    /// The layout of the region.
    pub(crate) fn layout(&self) -> &GroupLayout {
        &self.layout
    }

    /// The configured wait timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Actor `index`, checked.
    pub(crate) fn actor(&self, index: usize) -> Result<u32> {
        if index < self.actors.len() {
            Ok(index as u32)
        } else {
            Err(Error::Argument {
                kernel: self.kernel.clone(),
                param: "actor".into(),
                message: format!(
                    "actor index {index} is out of range: the group has {} actors (0..{})",
                    self.actors.len(),
                    self.actors.len()
                ),
            })
        }
    }

    /// Requests sent to actor `a` whose replies have not been received.
    pub(crate) fn in_flight(&self, a: u32) -> u64 {
        self.actors[a as usize].in_flight
    }

    fn mark_busy(&mut self, a: u32) {
        let end = &mut self.actors[a as usize];
        if end.busy_at == NOT_BUSY {
            end.busy_at = self.busy.len() as u32;
            self.busy.push(a);
        }
    }

    fn unmark_busy(&mut self, a: u32) {
        let at = std::mem::replace(&mut self.actors[a as usize].busy_at, NOT_BUSY);
        if at == NOT_BUSY {
            return;
        }
        self.busy.swap_remove(at as usize);
        if let Some(&moved) = self.busy.get(at as usize) {
            self.actors[moved as usize].busy_at = at;
        }
    }

    /// The fast check before each operation on actor `a`: the group's
    /// end, `a`'s failure seen earlier, or `a`'s error word. On a new
    /// failure the replies `a` published before it are queued first.
    fn check(&mut self, a: u32) -> Result<()> {
        if let Some(e) = &self.ended {
            return Err(e.clone());
        }
        self.revive(self.layout.block_of(a))?;
        if let Some(e) = &self.actors[a as usize].failed {
            return Err(e.clone());
        }
        let at = self.layout.actor_offset(a);
        // Acquire: pairs with the block's Release of `error`, made after
        // it published the replies before the fault and wrote the record.
        let code = self.mem.load(at + group_offsets::ACTOR_ERROR, Acquire);
        if code != ERROR_NONE {
            self.drain_replies(a);
            return Err(self.fail(a, code));
        }
        Ok(())
    }

    /// Launches block `b` again if its last launch ended on a handler
    /// fault (GPU: the fault ended the block's threads; its other actors
    /// must go on being served). The group ends if that fails.
    fn revive(&mut self, b: u32) -> Result<()> {
        // Acquire: pairs with the block's release of `faults`, made after
        // its last write of the region and of the device's copies.
        let faults = self.mem.load(
            self.layout.block_status(b) + group_offsets::BLOCK_FAULTS,
            Acquire,
        );
        if faults <= self.relaunched[b as usize] {
            return Ok(());
        }
        self.relaunched[b as usize] = faults;
        tracing::debug!(kernel = %self.kernel, block = b, launch = faults, "relaunching a block of an actor group after a fault");
        if let Err(reason) = self.executor.revive(b, faults) {
            for a in 0..self.layout.actors {
                self.drain_replies(a);
            }
            let e = Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason,
            };
            self.ended = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// [`Self::revive`] for every block.
    fn revive_all(&mut self) -> Result<()> {
        for b in 0..self.layout.blocks {
            self.revive(b)?;
        }
        Ok(())
    }

    /// Records actor `a`'s failure `code` and returns it.
    fn fail(&mut self, a: u32, code: u32) -> Error {
        let inner = if code == ERROR_FAULT {
            let mut bytes = [0u8; size_of::<FaultRecord>()];
            // SAFETY: the block wrote the record before its Release of
            // `error`, which `check` acquired; it never writes it again.
            unsafe {
                self.mem.read_bytes(
                    self.layout.actor_offset(a) + group_offsets::ACTOR_FAULT,
                    &mut bytes,
                )
            };
            // SAFETY: FaultRecord is repr(C) plain integers.
            let rec = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<FaultRecord>()) };
            match &self.ir {
                Some(ir) => fault_error(ir, &rec),
                None => Error::ActorStopped {
                    kernel: self.kernel.clone(),
                    reason: format!("the handler faulted (fault kind {})", rec.kind),
                },
            }
        } else {
            self.executor.failure(a, code)
        };
        let e = Error::GroupActor {
            kernel: self.kernel.clone(),
            index: a as usize,
            error: Box::new(inner),
        };
        tracing::warn!(kernel = %self.kernel, actor = a, error = %e, "actor of a group failed");
        self.actors[a as usize].failed = Some(e.clone());
        e
    }

    /// The slow check during waits: also notices a block that exited on
    /// its own and (at most every [`ALIVE_CHECK_PERIOD`]) an executor that
    /// died.
    fn check_slow(&mut self, a: Option<u32>) -> Result<()> {
        if let Some(a) = a {
            self.check(a)?;
        } else if let Some(e) = &self.ended {
            return Err(e.clone());
        }
        self.revive_all()?;
        // Every wait looks at the blocks' `exited` (a few loads); the
        // executor is asked whether it is alive at most every period.
        let exited = (0..self.layout.blocks).find(|&b| block_exited(&*self.mem, &self.layout, b));
        let now = Instant::now();
        let reason = match exited {
            Some(b) => Some(self.block_exit_reason(b)),
            None if now.duration_since(self.alive_checked) >= ALIVE_CHECK_PERIOD => {
                self.alive_checked = now;
                let (mem, layout, relaunched) = (&*self.mem, &self.layout, &self.relaunched);
                // A block that ended on a fault since `revive_all` looked is
                // accounted for: the next check launches it again.
                self.executor
                    .check_alive(&|b| {
                        block_exited(mem, layout, b) || block_faulted(mem, layout, relaunched, b)
                    })
                    .err()
            }
            None => None,
        };
        if let Some(reason) = reason {
            for a in 0..self.layout.actors {
                self.drain_replies(a);
            }
            let e = Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason,
            };
            tracing::warn!(kernel = %self.kernel, error = %e, "actor group stopped");
            self.ended = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// Why block `b` exited without being asked to.
    fn block_exit_reason(&self, b: u32) -> String {
        let status = self.layout.block_status(b);
        if self.mem.load(status + group_offsets::BLOCK_ERROR, Acquire) == ERROR_LAYOUT {
            "the executor was built for another group layout than the host's (config check \
             failed); this is a bug in spindle"
                .into()
        } else {
            format!("block {b} of the group's executor exited without being asked to")
        }
    }

    /// Takes actor `a`'s next reply off its ring, if one is published.
    fn take_reply(&mut self, a: u32) -> Option<R> {
        let mut r = MaybeUninit::<R>::uninit();
        // SAFETY: the slice covers exactly the bytes of `r`.
        let dst =
            unsafe { std::slice::from_raw_parts_mut(r.as_mut_ptr().cast::<u8>(), size_of::<R>()) };
        if self.actors[a as usize].replies.try_consume(&*self.mem, dst) {
            // The block may be waiting for reply room.
            self.executor.hint(a);
            self.executor.notify(self.layout.block_of(a));
            // SAFETY: every byte of `r` was written by the consume above
            // with the bytes of an `R` the handler produced.
            Some(unsafe { r.assume_init() })
        } else {
            None
        }
    }

    /// Moves every published reply of actor `a` into its host-side queue.
    fn drain_replies(&mut self, a: u32) {
        while let Some(r) = self.take_reply(a) {
            self.actors[a as usize].pending.push_back(r);
        }
    }

    fn try_publish(&mut self, a: u32, msg: &M) -> bool {
        let end = &mut self.actors[a as usize];
        if end
            .requests
            .try_publish(&*self.mem, bytes_of(std::slice::from_ref(msg)))
        {
            end.in_flight += 1;
            self.mark_busy(a);
            self.executor.hint(a);
            self.executor.notify(self.layout.block_of(a));
            true
        } else {
            false
        }
    }

    /// One pause of a wait for actor `a` (a reply, or room when `room`),
    /// or for any busy actor's reply (`a` is `None`).
    fn pause(&mut self, a: Option<u32>, room: bool) {
        let (mem, layout, actors, busy, relaunched) = (
            &*self.mem,
            &self.layout,
            &self.actors,
            &self.busy,
            &self.relaunched,
        );
        self.waiter
            .pause(&|| wait_ready(mem, layout, actors, busy, relaunched, a, room));
    }

    /// Repeats `attempt` until it yields a value, the timeout passes, or
    /// the actor (or the group) fails.
    fn wait_for<T>(
        &mut self,
        a: Option<u32>,
        room: bool,
        timeout: Duration,
        mut attempt: impl FnMut(&mut Self) -> Result<Option<T>>,
    ) -> Result<T> {
        let deadline = Instant::now().checked_add(timeout);
        self.waiter.begin();
        loop {
            if let Some(v) = attempt(self)? {
                return Ok(v);
            }
            self.check_slow(a)?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout {
                    kernel: self.kernel.clone(),
                    after: timeout,
                });
            }
            self.pause(a, room);
        }
    }

    /// Publishes `msg` to actor `a`, or `Error::Full` when its request ring
    /// has no room.
    pub(crate) fn try_send(&mut self, a: u32, msg: &M) -> Result<()> {
        self.check(a)?;
        if self.try_publish(a, msg) {
            Ok(())
        } else {
            Err(Error::Full {
                kernel: format!("{}[{a}]", self.kernel),
                capacity: self.capacity(),
            })
        }
    }

    /// Publishes `msg` to actor `a`, waiting for room; while it waits it
    /// queues `a`'s ready replies on the host.
    pub(crate) fn send(&mut self, a: u32, msg: &M) -> Result<()> {
        self.check(a)?;
        if self.try_publish(a, msg) {
            return Ok(());
        }
        let timeout = self.timeout;
        self.wait_for(Some(a), true, timeout, |s| {
            s.drain_replies(a);
            Ok(s.try_publish(a, msg).then_some(()))
        })
    }

    /// Hands out actor `a`'s next queued or published reply.
    fn pop_reply(&mut self, a: u32) -> Option<R> {
        let r = match self.actors[a as usize].pending.pop_front() {
            Some(r) => Some(r),
            None if self.actors[a as usize].failed.is_none() => self.take_reply(a),
            None => None,
        }?;
        let end = &mut self.actors[a as usize];
        end.in_flight -= 1;
        if end.in_flight == 0 {
            self.unmark_busy(a);
        }
        Some(r)
    }

    /// Actor `a`'s next reply, if one is ready. Replies published before a
    /// failure come first, in order; then the failure.
    pub(crate) fn try_recv(&mut self, a: u32) -> Result<Option<R>> {
        if let Some(r) = self.pop_reply(a) {
            return Ok(Some(r));
        }
        // On a new failure this queues the replies published before it;
        // they go first.
        match self.check(a) {
            Ok(()) => Ok(None),
            Err(e) => self.pop_reply(a).map(Some).ok_or(e),
        }
    }

    /// Actor `a`'s next reply, waiting up to `timeout`.
    pub(crate) fn recv_timeout(&mut self, a: u32, timeout: Duration) -> Result<R> {
        if let Some(r) = self.try_recv(a)? {
            return Ok(r);
        }
        if self.actors[a as usize].in_flight == 0 {
            return Err(Error::NothingInFlight {
                kernel: format!("{}[{a}]", self.kernel),
            });
        }
        match self.wait_for(Some(a), false, timeout, |s| s.try_recv(a)) {
            Ok(r) => Ok(r),
            // A failure noticed by the wait queued the replies published
            // before it: they go first.
            Err(e) => self.pop_reply(a).ok_or(e),
        }
    }

    /// Sends `msg` to actor `a` and waits for its reply; replies to earlier
    /// messages stay queued for `recv`, in order.
    pub(crate) fn call(&mut self, a: u32, msg: &M) -> Result<R> {
        self.send(a, msg)?;
        let earlier = self.actors[a as usize].in_flight - 1;
        let timeout = self.timeout;
        let waited = self.wait_for(Some(a), false, timeout, |s| {
            Ok(s.take_reply_after(a, earlier))
        });
        match waited {
            Ok(r) => Ok(r),
            // A failure queued the replies published before it: ours may
            // be among them.
            Err(e) => self.take_reply_after(a, earlier).ok_or(e),
        }
    }

    /// A call's reply: actor `a`'s reply after the `earlier` ones before
    /// it, which stay queued (in order) for `recv`, if it has come.
    fn take_reply_after(&mut self, a: u32, earlier: u64) -> Option<R> {
        self.drain_replies(a);
        let end = &mut self.actors[a as usize];
        if end.pending.len() as u64 <= earlier {
            return None;
        }
        let r = end.pending.remove(earlier as usize);
        end.in_flight -= 1;
        if end.in_flight == 0 {
            self.unmark_busy(a);
        }
        r
    }

    /// The next reply of any actor, without waiting: actors are visited
    /// round-robin from where the last visit stopped. A failed actor is
    /// reported once (its in-flight requests are never answered) and left
    /// out from then on.
    pub(crate) fn try_recv_any(&mut self) -> Result<Option<(usize, R)>> {
        if let Some(e) = &self.ended {
            return Err(e.clone());
        }
        for _ in 0..self.busy.len() {
            if self.busy.is_empty() {
                break;
            }
            if self.cursor >= self.busy.len() {
                self.cursor = 0;
            }
            let a = self.busy[self.cursor];
            self.cursor += 1;
            match self.try_recv(a) {
                Ok(Some(r)) => return Ok(Some((a as usize, r))),
                Ok(None) => {}
                Err(e) => {
                    self.unmark_busy(a);
                    return Err(e);
                }
            }
        }
        Ok(None)
    }

    /// The next reply of any actor, waiting up to `timeout`.
    pub(crate) fn recv_any_timeout(&mut self, timeout: Duration) -> Result<(usize, R)> {
        if let Some(r) = self.try_recv_any()? {
            return Ok(r);
        }
        if self.busy.is_empty() {
            return Err(Error::NothingInFlight {
                kernel: self.kernel.clone(),
            });
        }
        self.wait_for(None, false, timeout, |s| s.try_recv_any())
    }

    /// Actor `a`'s failure, if it has failed (as far as the host can tell
    /// now); looking consumes nothing.
    pub(crate) fn failure(&mut self, a: u32) -> Option<Error> {
        self.check(a).err()
    }

    /// Whether every block has published `exited`.
    fn all_exited(&self) -> bool {
        (0..self.layout.blocks).all(|b| block_exited(&*self.mem, &self.layout, b))
    }

    /// Raises `stop` and waits for every block's `exited`, discarding
    /// replies meanwhile (so no block waits for reply room). With
    /// `progress`, gives up when no reply came for that long; otherwise
    /// at `deadline`.
    fn stop_and_wait(
        &mut self,
        stop: u32,
        progress: Option<Duration>,
        deadline: Instant,
    ) -> Result<()> {
        // Release: orders every request publish before `stop`; a block's
        // Acquire of `stop` then sees all of them (drain).
        self.mem.store(group_offsets::STOP, stop, Release);
        for b in 0..self.layout.blocks {
            self.executor.notify(b);
        }
        let mut last_progress = Instant::now();
        self.waiter.begin();
        loop {
            if self.all_exited() {
                return Ok(());
            }
            // A block that ended on a fault must run again to see the stop.
            if self.ended.is_none() {
                self.revive_all()?;
            }
            let mut discarded = false;
            for i in 0..self.busy.len() {
                let a = self.busy[i];
                while self.take_reply(a).is_some() {
                    discarded = true;
                }
            }
            if discarded {
                last_progress = Instant::now();
            }
            if self.alive_checked.elapsed() >= ALIVE_CHECK_PERIOD {
                self.alive_checked = Instant::now();
                let (mem, layout, relaunched) = (&*self.mem, &self.layout, &self.relaunched);
                let ended =
                    |b| block_exited(mem, layout, b) || block_faulted(mem, layout, relaunched, b);
                if let Err(reason) = self.executor.check_alive(&ended) {
                    if self.all_exited() {
                        continue;
                    }
                    return Err(Error::ActorStopped {
                        kernel: self.kernel.clone(),
                        reason,
                    });
                }
            }
            let gave_up = match progress {
                Some(p) => last_progress.elapsed() >= p,
                None => Instant::now() >= deadline,
            };
            if gave_up {
                return Err(Error::ActorStopped {
                    kernel: self.kernel.clone(),
                    reason: match progress {
                        Some(p) => format!(
                            "shutdown gave up: the group answered none of the messages sent \
                             before it for {p:?} (a handler stuck in a loop?); it was told to \
                             stop without draining, and its states are lost \
                             (GroupConfig::shutdown_timeout sets this bound)"
                        ),
                        None => format!(
                            "the group's executor did not stop within {:?} of being asked to",
                            self.timeout
                        ),
                    },
                });
            }
            let mem = &*self.mem;
            let layout = &self.layout;
            self.waiter.pause(&|| {
                mem.load(
                    layout.block_status(layout.blocks - 1) + group_offsets::BLOCK_EXITED,
                    Relaxed,
                ) != EXIT_NONE
            });
        }
    }

    /// Drains every request sent so far, stops the executor, and returns
    /// every actor's final state, in order (a failed actor's as its
    /// handler left it when it failed).
    pub(crate) fn shutdown<S: DeviceType>(&mut self) -> Result<Vec<S>> {
        if let Some(e) = self.ended.clone() {
            self.abort();
            return Err(e);
        }
        let far = Instant::now() + Duration::from_secs(3600 * 24 * 365);
        let shutdown_timeout = self.shutdown_timeout;
        if let Err(e) = self.stop_and_wait(STOP_DRAIN, Some(shutdown_timeout), far) {
            self.abort();
            return Err(e);
        }
        let undrained = (0..self.layout.blocks).find(|&b| {
            self.mem.load(
                self.layout.block_status(b) + group_offsets::BLOCK_EXITED,
                Acquire,
            ) != EXIT_DRAINED
        });
        if let Some(b) = undrained {
            let reason = self.block_exit_reason(b);
            self.release(true);
            return Err(Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason: format!(
                    "the group did not drain the requests sent before shutdown: {reason}"
                ),
            });
        }
        debug_assert_eq!(size_of::<S>(), self.layout.state_size);
        let states = (0..self.layout.actors)
            .map(|a| {
                let mut s = MaybeUninit::<S>::uninit();
                // SAFETY: the slice covers exactly the bytes of `s`.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<u8>(), size_of::<S>())
                };
                // SAFETY: the owning block wrote state-out before its
                // Release of `exited`, which `all_exited` acquired.
                unsafe { self.mem.read_bytes(self.layout.state_out(a), dst) };
                // SAFETY: every byte written from an `S` the handler left.
                unsafe { s.assume_init() }
            })
            .collect();
        self.release(true);
        Ok(states)
    }

    /// Stops the executor without draining (drop), waiting at most the
    /// timeout. Returns `true` when the region may be freed.
    pub(crate) fn abort(&mut self) -> bool {
        if self.finished {
            return true;
        }
        let deadline = Instant::now()
            .checked_add(self.timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600 * 24 * 365));
        let exited = self.stop_and_wait(STOP_ABORT, None, deadline).is_ok();
        self.release(exited)
    }

    /// Hands the executor back; leaks the region if it may still be used.
    fn release(&mut self, exited: bool) -> bool {
        self.finished = true;
        let freeable = self.executor.finish(exited);
        if !freeable {
            tracing::warn!(kernel = %self.kernel, "actor group's executor did not exit; its memory is leaked");
            std::mem::forget(Arc::clone(&self.mem));
        }
        freeable
    }
}

/// Whether block `b`'s last launch ended on a fault that the host has not
/// launched it again for (`relaunched[b]` launches so far).
fn block_faulted<Mem: RingMemory + ?Sized>(
    mem: &Mem,
    layout: &GroupLayout,
    relaunched: &[u32],
    b: u32,
) -> bool {
    // Acquire: pairs with the block's release of `faults`.
    mem.load(
        layout.block_status(b) + group_offsets::BLOCK_FAULTS,
        Acquire,
    ) > relaunched[b as usize]
}

/// Whether block `b` has published `exited`.
fn block_exited<Mem: RingMemory + ?Sized>(mem: &Mem, layout: &GroupLayout, b: u32) -> bool {
    // Acquire: pairs with the block's Release of `exited`.
    mem.load(
        layout.block_status(b) + group_offsets::BLOCK_EXITED,
        Acquire,
    ) != EXIT_NONE
}

/// Whether actor `a` (whose reply ring `replies` is) has published a reply
/// or failed. Relaxed loads: a peek; what acts on it acquires.
fn actor_ready<Mem: RingMemory + ?Sized>(
    mem: &Mem,
    layout: &GroupLayout,
    a: u32,
    replies: &Consumer,
) -> bool {
    replies.is_ready(mem)
        || mem.load(layout.actor_offset(a) + group_offsets::ACTOR_ERROR, Relaxed) != ERROR_NONE
}

/// Whether something a wait for actor `a` may need was published: a reply
/// or a failure of `a`, room in its request ring (`requests`, when the
/// wait needs room), or its block's exit or fault (`relaunched`: the
/// block's launches the host knows of). Relaxed loads.
fn actor_wait_ready<Mem: RingMemory + ?Sized>(
    mem: &Mem,
    layout: &GroupLayout,
    a: u32,
    replies: &Consumer,
    requests: Option<&Producer>,
    relaunched: u32,
) -> bool {
    let block = layout.block_status(layout.block_of(a));
    actor_ready(mem, layout, a, replies)
        || requests.is_some_and(|r| r.room_visible(mem))
        || mem.load(block + group_offsets::BLOCK_EXITED, Relaxed) != EXIT_NONE
        || mem.load(block + group_offsets::BLOCK_FAULTS, Relaxed) > relaunched
}

/// Whether something a wait may need was published: for actor `a` (room
/// in its request ring too when `room`), see [`actor_wait_ready`]; for any
/// actor (`a` is `None`), a reply or failure of a busy one.
fn wait_ready<Mem: RingMemory + ?Sized, R>(
    mem: &Mem,
    layout: &GroupLayout,
    actors: &[ActorEnd<R>],
    busy: &[u32],
    relaunched: &[u32],
    a: Option<u32>,
    room: bool,
) -> bool {
    match a {
        Some(a) => {
            let end = &actors[a as usize];
            actor_wait_ready(
                mem,
                layout,
                a,
                &end.replies,
                room.then_some(&end.requests),
                relaunched[layout.block_of(a) as usize],
            )
        }
        None => busy
            .iter()
            .any(|&a| actor_ready(mem, layout, a, &actors[a as usize].replies)),
    }
}
