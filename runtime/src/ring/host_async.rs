//! The async half of [`HostSession`]: `send`, `recv` and `call` as futures
//! that need no particular async runtime.
//!
//! A future does what the blocking call does, step for step (the same
//! attempts, checks and errors); only its pauses differ. Where a blocking
//! wait parks its thread, a future first spins within an adaptive budget
//! (as the blocking wait does: most replies come within microseconds,
//! sooner than a task could be woken), then returns `Pending` after leaving
//! its `Waker` where the executor's side will find it:
//!
//! - a CPU executor rings the host's doorbell after every publish, and the
//!   doorbell wakes the task (`Doorbell::register_task`): the reply wakes
//!   its task directly;
//! - an executor that cannot ring (a GPU writing into mapped memory) is
//!   watched by the ring watcher thread (`super::watcher`), which polls the
//!   reply ring while some future waits, and only then.
//!
//! Either way a future also registers a time with the watcher: its
//! deadline (the configured timeout gives [`Error::Timeout`], as a blocking
//! call does) and a re-check that notices an executor that died without a
//! word (a crashed GPU kernel publishes nothing), at 1 ms growing to
//! [`MAX_RECHECK`] — from 10 ms for a CPU executor, whose thread rings the
//! doorbell however it ends. Those times never deliver a reply; a reply or
//! a failure wakes the task at once.
//!
//! # Cancellation
//!
//! A future can be dropped at any `Pending`. Nothing is lost: between two
//! polls every reply taken off the ring is either returned by the poll that
//! took it or kept in the host-side queue, in order. A `send` dropped
//! before its message went out sent nothing; a `call` dropped after its
//! message went out leaves that message in flight, and its reply is
//! received by a later `recv` (or `try_recv`) in send order, like the reply
//! of a `send`.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::super::wait::{Doorbell, Spin, CPU_MAX_SPIN, MIN_SPIN, POLL_SPIN};
use super::super::watcher::{watch, Probe, Watch};
use super::{published, HostSession, RingMemory, ALIVE_CHECK_PERIOD};
use crate::types::DeviceType;
use crate::{Error, Result};

/// The longest a waiting future goes without a poll that checks whether
/// its executor is alive.
const MAX_RECHECK: Duration = Duration::from_millis(50);

/// The first re-check when the executor rings the doorbell as it ends (its
/// thread's end is then the rare case of a wake that comes before the
/// thread counts as finished).
const FIRST_RECHECK_WITH_BELL: Duration = Duration::from_millis(10);

/// What a session keeps for its futures between waits.
pub(crate) struct TaskWait {
    /// The spin before a future returns `Pending`; its budget adapts across
    /// waits like the blocking waiter's.
    spin: Spin,
}

impl TaskWait {
    /// `bell`: the executor rings a doorbell (a CPU executor: spin as long
    /// as its blocking waiter does); otherwise spin through a GPU round
    /// trip, as a blocking poll does.
    pub(crate) fn new(bell: bool) -> Self {
        let max = if bell { CPU_MAX_SPIN } else { POLL_SPIN };
        TaskWait {
            spin: Spin::new(MIN_SPIN, max),
        }
    }
}

/// One wait of one future: what it registered, to withdraw when it ends
/// or is dropped.
struct AsyncWait {
    timeout: Duration,
    deadline: Option<Instant>,
    spun: bool,
    /// The next re-check, after this long.
    recheck: Duration,
    watch: Option<Watch>,
    bell: Option<Arc<Doorbell>>,
}

impl AsyncWait {
    /// `bell`: the executor rings the doorbell when it ends.
    fn new(timeout: Duration, bell: bool) -> Self {
        AsyncWait {
            timeout,
            deadline: Instant::now().checked_add(timeout),
            spun: false,
            recheck: if bell {
                FIRST_RECHECK_WITH_BELL
            } else {
                ALIVE_CHECK_PERIOD
            },
            watch: None,
            bell: None,
        }
    }
}

impl Drop for AsyncWait {
    fn drop(&mut self) {
        // Only one future of a session exists at a time (they borrow it
        // mutably): the waker on the bell is this one's.
        if let Some(bell) = &self.bell {
            bell.unregister_task();
        }
    }
}

impl<Mem, M, R> HostSession<Mem, M, R>
where
    Mem: RingMemory + ?Sized + 'static,
    M: DeviceType,
    R: DeviceType,
{
    /// Like `wait_for`, as a future.
    async fn wait_async<T>(
        &mut self,
        timeout: Duration,
        room: bool,
        mut attempt: impl FnMut(&mut Self) -> Option<T>,
    ) -> Result<T> {
        let mut wait = AsyncWait::new(timeout, self.waiter.bell().is_some());
        poll_fn(|cx| self.poll_wait(cx, &mut wait, room, &mut attempt)).await
    }

    fn poll_wait<T>(
        &mut self,
        cx: &mut Context<'_>,
        wait: &mut AsyncWait,
        room: bool,
        attempt: &mut impl FnMut(&mut Self) -> Option<T>,
    ) -> Poll<Result<T>> {
        loop {
            if let Some(v) = attempt(self) {
                return Poll::Ready(Ok(v));
            }
            if let Err(e) = self.check_slow() {
                return Poll::Ready(Err(e));
            }
            if wait.deadline.is_some_and(|d| Instant::now() >= d) {
                return Poll::Ready(Err(Error::Timeout {
                    kernel: self.kernel.clone(),
                    after: wait.timeout,
                }));
            }
            let (mem, replies, requests) = (&*self.mem, &self.replies, &self.requests);
            if !wait.spun {
                wait.spun = true;
                self.tasks.spin.begin();
                if self
                    .tasks
                    .spin
                    .spin(&|| published(mem, replies, requests, room))
                {
                    continue;
                }
            }
            if let Err(e) = self.arm(cx, wait, room) {
                return Poll::Ready(Err(e));
            }
            // After registering: what was published before the executor
            // could see the registration is visible now (the doorbell's
            // handshake; the watcher probes after it took the lock).
            if published(&*self.mem, &self.replies, &self.requests, room) {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// Leaves the task's waker with the doorbell or the watcher, and its
    /// next time with the watcher.
    fn arm(&mut self, cx: &mut Context<'_>, wait: &mut AsyncWait, room: bool) -> Result<()> {
        let now = Instant::now();
        let recheck = now + wait.recheck;
        wait.recheck = (wait.recheck * 2).min(MAX_RECHECK);
        let at = wait.deadline.map_or(recheck, |d| d.min(recheck));
        let probe = match self.waiter.bell() {
            Some(bell) => {
                bell.register_task(cx.waker());
                wait.bell = Some(bell.clone());
                None
            }
            None => Some(self.probe(room)),
        };
        // The previous registration goes first (it may have fired already).
        wait.watch = None;
        wait.watch = Some(watch(cx.waker(), at, probe)?);
        Ok(())
    }

    /// What the watcher polls for this session: the words a wait looks at,
    /// at the positions the session is at now.
    fn probe(&self, room: bool) -> Probe {
        let (mem, replies, requests) = (
            Arc::clone(&self.mem),
            self.replies.clone(),
            self.requests.clone(),
        );
        Box::new(move || published(&*mem, &replies, &requests, room))
    }

    /// `send`, as a future: waits for room without blocking the thread.
    pub(crate) async fn send_async(&mut self, msg: &M) -> Result<()> {
        self.check()?;
        if self.try_publish(msg) {
            return Ok(());
        }
        let timeout = self.timeout;
        self.wait_async(timeout, true, |s| {
            s.drain_replies();
            s.try_publish(msg).then_some(())
        })
        .await
    }

    /// `recv_timeout` with the configured timeout, as a future.
    pub(crate) async fn recv_async(&mut self) -> Result<R> {
        if let Some(r) = self.try_recv()? {
            return Ok(r);
        }
        if self.in_flight == 0 {
            return Err(Error::NothingInFlight {
                kernel: self.kernel.clone(),
            });
        }
        let timeout = self.timeout;
        let r = self.wait_reply_async(timeout, 0).await?;
        self.in_flight -= 1;
        Ok(r)
    }

    /// `call`, as a future. Dropped after its message went out, it leaves
    /// the message in flight: its reply goes to a later `recv`.
    pub(crate) async fn call_async(&mut self, msg: &M) -> Result<R> {
        self.send_async(msg).await?;
        let earlier = self.in_flight - 1;
        if earlier == 0 {
            if let Some(r) = self.take_reply() {
                self.in_flight -= 1;
                return Ok(r);
            }
        }
        let timeout = self.timeout;
        let r = self.wait_reply_async(timeout, earlier).await?;
        self.in_flight -= 1;
        Ok(r)
    }

    /// `wait_reply`, as a future.
    async fn wait_reply_async(&mut self, timeout: Duration, earlier: u64) -> Result<R> {
        let waited = if earlier == 0 && self.pending.is_empty() {
            self.wait_async(timeout, false, |s| s.take_reply()).await
        } else {
            self.wait_async(timeout, false, |s| {
                s.drain_replies();
                (s.pending.len() as u64 > earlier).then(|| s.pending.remove(earlier as usize))?
            })
            .await
        };
        match waited {
            Ok(r) => Ok(r),
            Err(_) if self.pending.len() as u64 > earlier => Ok(self
                .pending
                .remove(earlier as usize)
                .expect("the queue is longer than `earlier`")),
            Err(e) => Err(e),
        }
    }
}
