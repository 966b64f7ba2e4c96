//! How the future of an async ring operation waits: the machinery shared
//! by one actor's futures (`host_async`, over `HostSession`) and an actor
//! group's (`group_async`, over `GroupSession`). Each session says what a
//! wait looks at through [`AsyncWaits`]; [`wait_async`] does the rest.
//!
//! A future does what the blocking call does, step for step (the same
//! attempts, checks and errors); only its pauses differ. Where a blocking
//! wait parks its thread, a future first spins within an adaptive budget
//! (as the blocking wait does: most replies come within microseconds,
//! sooner than a task could be woken), then returns `Pending` after leaving
//! its `Waker` where the executor's side will find it:
//!
//! - a CPU executor (a single actor's thread, or a group's workers) rings
//!   the host's doorbell after every publish, and the doorbell wakes the
//!   task (`Doorbell::register_task`): the reply wakes its task directly;
//! - an executor that cannot ring (a GPU writing into mapped memory) is
//!   watched by the ring watcher thread (`super::watcher`), which polls a
//!   probe of what the wait needs (the session's reply ring, or each busy
//!   actor's of a group) while some future waits, and only then.
//!
//! Either way a future also registers a time with the watcher: its
//! deadline (the configured timeout gives [`Error::Timeout`], as a blocking
//! call does) and a re-check that notices an executor that died without a
//! word (a crashed GPU kernel publishes nothing), at 1 ms growing to
//! [`MAX_RECHECK`] — from 10 ms for a CPU executor, whose threads ring the
//! doorbell however they end. Those times never deliver a reply; a reply or
//! a failure wakes the task at once.
//!
//! Only one future of a session exists at a time: the futures borrow the
//! session mutably. So the waker left on a doorbell is always the current
//! future's, and a dropped future withdraws it.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::wait::{Doorbell, Spin, CPU_MAX_SPIN, MIN_SPIN, POLL_SPIN};
use super::watcher::{watch, Probe, Watch};
use crate::{Error, Result};

/// The longest a waiting future goes without a poll that checks whether
/// its executor is alive.
const MAX_RECHECK: Duration = Duration::from_millis(50);

/// The first re-check when the executor cannot ring (the period at which
/// a blocking wait asks whether it is alive).
const FIRST_RECHECK: Duration = Duration::from_millis(1);

/// The first re-check when the executor rings the doorbell as it ends (its
/// thread's end is then the rare case of a wake that comes before the
/// thread counts as finished).
const FIRST_RECHECK_WITH_BELL: Duration = Duration::from_millis(10);

/// The spin a session's futures start with before they return `Pending`;
/// the session keeps it, so its budget adapts across waits like the
/// blocking waiter's. `bell`: the executor rings a doorbell (a CPU
/// executor: spin as long as its blocking waiter does); otherwise spin
/// through a GPU round trip, as a blocking poll does.
pub(crate) fn task_spin(bell: bool) -> Spin {
    let max = if bell { CPU_MAX_SPIN } else { POLL_SPIN };
    Spin::new(MIN_SPIN, max)
}

/// A session as its futures' waits see it.
pub(crate) trait AsyncWaits {
    /// What one wait needs (a reply, room in a request ring, …): handed
    /// back to every method below.
    type Need: Copy;

    /// The spin the session's futures share ([`task_spin`]).
    fn task_spin(&mut self) -> &mut Spin;

    /// The check between two attempts, as the blocking wait makes it: an
    /// error ends the wait (the executor failed, died or exited).
    fn recheck(&mut self, need: Self::Need) -> Result<()>;

    /// Whether the executor has published something the wait may need
    /// (what ends a blocking wait's pause): a peek, with Relaxed loads.
    fn published(&self, need: Self::Need) -> bool;

    /// [`published`](Self::published) for the watcher thread: it owns what
    /// it reads, at the positions the session is at now.
    fn probe(&self, need: Self::Need) -> Probe;

    /// The doorbell the executor rings after it publishes, if it can ring.
    fn bell(&self) -> Option<&Arc<Doorbell>>;

    /// The error of a wait that has lasted its timeout, `after`.
    fn timed_out(&self, after: Duration) -> Error;
}

/// Like a blocking `wait_for`, as a future: repeats `attempt` until it
/// yields a value, the timeout passes, or [`AsyncWaits::recheck`] fails.
/// Between attempts it spins once, then waits for the doorbell or the
/// watcher to wake its task.
pub(crate) async fn wait_async<S, T>(
    session: &mut S,
    need: S::Need,
    timeout: Duration,
    mut attempt: impl FnMut(&mut S) -> Result<Option<T>>,
) -> Result<T>
where
    S: AsyncWaits + ?Sized,
{
    let mut wait = AsyncWait::new(timeout, session.bell().is_some());
    poll_fn(|cx| poll_wait(session, cx, &mut wait, need, &mut attempt)).await
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
                FIRST_RECHECK
            },
            watch: None,
            bell: None,
        }
    }

    /// Leaves the task's waker with the doorbell or the watcher, and its
    /// next time with the watcher.
    fn arm<S: AsyncWaits + ?Sized>(
        &mut self,
        session: &S,
        cx: &mut Context<'_>,
        need: S::Need,
    ) -> Result<()> {
        let now = Instant::now();
        let recheck = now + self.recheck;
        self.recheck = (self.recheck * 2).min(MAX_RECHECK);
        let at = self.deadline.map_or(recheck, |d| d.min(recheck));
        let probe = match session.bell() {
            Some(bell) => {
                bell.register_task(cx.waker());
                self.bell = Some(bell.clone());
                None
            }
            None => Some(session.probe(need)),
        };
        // The previous registration goes first (it may have fired already).
        self.watch = None;
        self.watch = Some(watch(cx.waker(), at, probe)?);
        Ok(())
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

fn poll_wait<S, T>(
    session: &mut S,
    cx: &mut Context<'_>,
    wait: &mut AsyncWait,
    need: S::Need,
    attempt: &mut impl FnMut(&mut S) -> Result<Option<T>>,
) -> Poll<Result<T>>
where
    S: AsyncWaits + ?Sized,
{
    loop {
        match attempt(session) {
            Ok(Some(v)) => return Poll::Ready(Ok(v)),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
        if let Err(e) = session.recheck(need) {
            return Poll::Ready(Err(e));
        }
        if wait.deadline.is_some_and(|d| Instant::now() >= d) {
            return Poll::Ready(Err(session.timed_out(wait.timeout)));
        }
        if !wait.spun {
            wait.spun = true;
            // The spin reads the session while its budget changes: it
            // works on a copy, kept afterwards.
            let mut spin = session.task_spin().clone();
            spin.begin();
            let hit = spin.spin(&|| session.published(need));
            *session.task_spin() = spin;
            if hit {
                continue;
            }
        }
        if let Err(e) = wait.arm(session, cx, need) {
            return Poll::Ready(Err(e));
        }
        // After registering: what was published before the executor
        // could see the registration is visible now (the doorbell's
        // handshake; the watcher probes after it took the lock).
        if session.published(need) {
            continue;
        }
        return Poll::Pending;
    }
}
