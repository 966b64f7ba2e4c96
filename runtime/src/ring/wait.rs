//! How each side waits: [`Waiter`] for the host, [`Idle`] for a Rust
//! executor. Waiting never affects correctness, only latency and CPU use:
//! every wait re-checks the shared words after it returns.
//!
//! # The design, and why
//!
//! A wait has to be fast when messages flow, give the core away when the
//! core is contended, and cost nothing when nothing happens. Three facts
//! decide how (measured on a 2-vCPU VM, Linux 6.18):
//!
//! - Two threads on two cores hand a message back and forth in ≈ 250 ns
//!   when both spin. Nothing else comes close, so a wait spins first.
//! - Spinning is useless when the other side cannot run: when both share
//!   one core (the scheduler often starts a new thread on its creator's
//!   core), each side spins its whole budget before the other gets the
//!   core. A spin followed by `sched_yield` loops like that forever (the
//!   round trip was ≈ 80 µs in most runs), and on a core shared with busy
//!   threads a yield hands them the core for a whole time slice (≈ 230
//!   calls/s). A thread that blocks instead is woken by the kernel, which
//!   places it on an idle core if there is one (so the two sides come
//!   apart) and lets it preempt busy threads (so it runs soon).
//! - A blocked thread costs nothing, but waking it costs the waker a
//!   syscall and the sleeper a few to tens of µs.
//!
//! So a [`Parking`] wait spins for a budget ([`Spin`]) and then blocks
//! (`std::thread::park`, a futex on Linux) until the other side rings its
//! [`Doorbell`], with no periodic wake-ups: an idle CPU actor's thread
//! sleeps until a message comes. No wait yields in a loop. A wait does not
//! spin at all when the other side last ran on the same CPU (each side
//! notes its CPU, `sched_getcpu`, in its doorbell): then only blocking
//! lets the other side run, and the hand-off is a wake-up (a few µs). A
//! CPU executor then moves its own thread to another CPU (at most once a
//! millisecond; `placement`). Two facts of the 2-vCPU VMs shape how: a
//! woken thread is often placed on its waker's CPU, behind the waker, even
//! when the other CPU is idle; and moving onto an idle vCPU takes tens of
//! µs. So before it moves, the executor waits (up to 50 µs) for the host
//! it just woke to run and note where it woke, which may already be the
//! idle CPU; and while it moves, the host spins with its longest budget for the
//! reply instead of parking (a parked host would be woken
//! onto the executor's new CPU, and the two would share a core again).
//!
//! The budget adapts per waiter: it doubles after a wait that ended while
//! spinning, grows to cover twice a wait that blocked but was woken soon
//! after, and halves after one that blocked for longer, so it grows where
//! spinning pays (two free cores) and shrinks where it does not (busy
//! cores).
//!
//! A GPU cannot ring a doorbell, so the host's wait for a GPU executor
//! ([`Polling`]) spins through a whole GPU round trip (a few µs) with room
//! to spare, then yields (the thread stays runnable: no sleep on the hot
//! path), and only a wait that has lasted a millisecond sleeps between
//! polls.
//!
//! The primitives are std's `park`/`unpark` (futex-based and well kept);
//! what spindle adds is the doorbell's lost-wake-up handshake and the
//! budgets. `crossbeam_utils::Backoff` was not used: its spin is a fixed
//! count of about a hundred `pause`s (well under a GPU round trip, and
//! far from a time budget), followed by yields, the pattern above that
//! collapses under contention.

use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;
use std::thread::Thread;
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;

use super::placement::{can_move, current_cpu, move_off, Cpu, NO_CPU};

/// The host's pause between two checks of a condition.
pub(crate) trait Waiter: Send {
    /// A new wait starts on the calling thread.
    fn begin(&mut self);
    /// Pauses once; later pauses may be longer. `ready` says whether the
    /// executor has published something since the last check; a waiter
    /// that parks re-checks it after announcing that it sleeps.
    fn pause(&mut self, ready: &dyn Fn() -> bool);
    /// The doorbell the executor rings after it publishes, when it has one
    /// (a future then waits on it); `None` for an executor that cannot
    /// ring (a GPU), whose replies a watcher thread looks for instead.
    fn bell(&self) -> Option<&Arc<Doorbell>> {
        None
    }
}

/// A Rust executor's pause when it has nothing to do.
pub(crate) trait Idle {
    /// Work was found: the next idle period starts afresh.
    fn reset(&mut self);
    /// Pauses once. `ready` says whether work has arrived; an idle that
    /// parks re-checks it after announcing that it sleeps.
    fn pause(&mut self, ready: &dyn Fn() -> bool);
    /// The executor published a reply (or exited): wake a parked host.
    fn published(&self) {}
}

/// How often a spin reads the clock (each round checks `ready` once).
const ROUNDS_PER_CLOCK: u32 = 16;

/// A spin with a time budget that adapts to whether spinning pays: after a
/// wait that ended while spinning the budget doubles (up to `max`); after
/// one that had to block but was woken within `max` of its start it covers
/// twice that wait (the other side was only a wake-up away); after a longer
/// one it halves (down to `min`).
///
/// Without the middle rule two sides can settle into waking each other on
/// every message: each parks because its budget ran out just before the
/// other's wake-up came, so no wait ever ends while spinning and neither
/// budget grows again (a call then costs two wake-ups, ≈ 10 µs on a 2-vCPU
/// VM, for the rest of the actor's life).
#[derive(Clone, Debug)]
pub(crate) struct Spin {
    budget: Duration,
    min: Duration,
    max: Duration,
    /// When the current wait's spinning started.
    started: Option<Instant>,
    /// The current wait used up its budget (and blocked, or will).
    exhausted: bool,
    /// The current wait did not spin at all (see [`Spin::skip`]).
    skipped: bool,
    /// How long after its spin started the current wait was last woken
    /// from a park.
    woken_after: Option<Duration>,
}

impl Spin {
    /// A budget between `min` and `max`, starting at `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Spin {
            budget: max,
            min,
            max,
            started: None,
            exhausted: false,
            skipped: false,
            woken_after: None,
        }
    }

    /// A new wait: adapts the budget to how the last one ended.
    pub(crate) fn begin(&mut self) {
        if self.skipped {
            // Nothing learned.
        } else if self.exhausted {
            self.budget = match self.woken_after {
                Some(waited) if waited <= self.max => (waited * 2).clamp(self.min, self.max),
                _ => (self.budget / 2).max(self.min),
            };
        } else if self.started.is_some() {
            self.budget = (self.budget * 2).min(self.max);
        }
        self.started = None;
        self.exhausted = false;
        self.skipped = false;
        self.woken_after = None;
    }

    /// The current wait's park returned: notes how long it has waited.
    fn woken(&mut self) {
        if let Some(started) = self.started {
            self.woken_after = Some(started.elapsed());
        }
    }

    /// The next spin may last the longest budget: the other side is known
    /// to be about to answer from another core (it moved, or this one did).
    fn widen(&mut self) {
        self.budget = self.max;
    }

    /// Gives up this wait's spin without spending it (and without counting
    /// it against the budget).
    fn skip(&mut self) {
        self.exhausted = true;
        self.skipped = true;
    }

    /// Spins until `ready` or the budget is spent; `true` when ready.
    pub(crate) fn spin(&mut self, ready: &dyn Fn() -> bool) -> bool {
        let started = *self.started.get_or_insert_with(Instant::now);
        loop {
            for _ in 0..ROUNDS_PER_CLOCK {
                if ready() {
                    return true;
                }
                std::hint::spin_loop();
            }
            if started.elapsed() >= self.budget {
                self.exhausted = true;
                return false;
            }
        }
    }

    /// The current budget.
    #[cfg(test)]
    fn budget(&self) -> Duration {
        self.budget
    }
}

/// How one side wakes the other when it parks: the sleeper announces
/// itself here, the other side rings after publishing. Also where its
/// owner last ran, so the other side does not spin against it on one core.
///
/// A future can wait on it too: it leaves its task's `Waker` here
/// ([`Doorbell::register_task`]) and `ring` wakes that task, with the same
/// handshake as a parked thread.
#[derive(Debug)]
pub(crate) struct Doorbell {
    sleeping: AtomicBool,
    thread: Mutex<Option<Thread>>,
    /// A task waits (its waker is in `task`): `ring` must wake it.
    task_waiting: AtomicBool,
    task: AtomicWaker,
    /// The CPU the owner last waited on ([`NO_CPU`]: unknown).
    cpu: AtomicU32,
    /// The owner is moving itself to another CPU.
    moving: AtomicBool,
}

impl Doorbell {
    pub(crate) fn new() -> Arc<Doorbell> {
        Arc::new(Doorbell {
            sleeping: AtomicBool::new(false),
            thread: Mutex::new(None),
            task_waiting: AtomicBool::new(false),
            task: AtomicWaker::new(),
            cpu: AtomicU32::new(NO_CPU),
            moving: AtomicBool::new(false),
        })
    }

    /// Records the CPU the owner runs on now; returns it.
    fn note_cpu(&self) -> Cpu {
        let cpu = current_cpu();
        // Relaxed: a hint for the other side's choice to spin, nothing more.
        self.cpu.store(cpu, Ordering::Relaxed);
        cpu
    }

    /// Whether the owner last ran on `cpu` (a known one).
    fn ran_on(&self, cpu: Cpu) -> bool {
        cpu != NO_CPU && self.cpu.load(Ordering::Relaxed) == cpu
    }

    /// Whether the owner is moving to another CPU (see
    /// `Parking::move_off_peer`).
    fn moving(&self) -> bool {
        self.moving.load(Ordering::Relaxed)
    }

    /// Whether the owner is parked (or woken but not yet running): its
    /// noted CPU is where it ran before, not where the wake-up puts it.
    fn asleep(&self) -> bool {
        // Acquire: pairs with the release in `Parking::park`, so a
        // sleeper seen awake has noted the CPU it woke on.
        self.sleeping.load(Ordering::Acquire)
    }

    /// Called after publishing something the sleeper may wait for.
    pub(crate) fn ring(&self) {
        // SeqCst fence: the Dekker pair of the one in `Parking::park`.
        // Either the sleeper's fence comes first, and we see `sleeping`
        // and unpark it, or ours does, and its re-check after its fence
        // sees what we published before this call. So a sleeper never
        // misses a ring: an idle executor may park with no timeout.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            if let Some(t) = &*self.thread.lock().unwrap_or_else(PoisonError::into_inner) {
                // A ring between the sleeper's `sleeping = true` and its
                // `park` is not lost either: `unpark` before `park` makes
                // the `park` return at once.
                t.unpark();
            }
        }
        // The same pairing with the fence in `register_task`.
        if self.task_waiting.load(Ordering::Relaxed) {
            self.task.wake();
        }
    }

    /// Leaves `waker` to be woken by the next `ring`, like a thread that
    /// parks. The caller re-checks what it waits for after this returns:
    /// what was published before the ring that comes too early for the
    /// waker is then visible (see `ring`).
    pub(crate) fn register_task(&self, waker: &Waker) {
        self.task.register(waker);
        self.task_waiting.store(true, Ordering::Relaxed);
        // SeqCst fence: the Dekker pair of the one in `ring`. Either this
        // fence comes first in their total order, and `ring` sees
        // `task_waiting` and, in `wake`, the waker stored above (both
        // written before this fence); or `ring`'s comes first, and the
        // caller's re-check after this fence sees what was published
        // before it.
        fence(Ordering::SeqCst);
    }

    /// No task waits any more: `ring` stops waking one.
    pub(crate) fn unregister_task(&self) {
        self.task_waiting.store(false, Ordering::Relaxed);
        drop(self.task.take());
    }

    /// Makes the calling thread the one `ring` wakes.
    fn register_current(&self) {
        let me = std::thread::current();
        let mut t = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if t.as_ref().map(Thread::id) != Some(me.id()) {
            *t = Some(me);
        }
    }
}

/// Spin within an adaptive budget, then park until the other side rings
/// `own` (or `max_park` passes, when set); rings `peer` after publishing.
/// No spin at all when the other side last ran on this very CPU: it could
/// only run once this thread stops. The CPU executor's idle and the host's
/// waiter for CPU actors.
pub(crate) struct Parking {
    spin: Spin,
    /// The longest single park; `None` parks until rung.
    max_park: Option<Duration>,
    own: Arc<Doorbell>,
    peer: Arc<Doorbell>,
    /// The thread `own` wakes (a per-thread address, cheaper to compare
    /// than a `Thread`).
    registered: usize,
    /// Moves its own thread off the other side's core instead of sharing
    /// it (the CPU executor's idle; see `placement`), at most every
    /// [`MOVE_EVERY`]: when it last did.
    moves: Option<Option<Instant>>,
}

/// How often an executor may move itself off its host's core: often enough
/// to come apart again soon after a wake-up put both on one core, rarely
/// enough that two threads never chase each other around.
const MOVE_EVERY: Duration = Duration::from_millis(1);

/// How long an executor about to move waits for the host it just woke to
/// run and note its CPU: a wake-up onto an idle vCPU takes a few to tens
/// of µs. Spent at most once per [`MOVE_EVERY`].
const PEER_WAKE_WAIT: Duration = Duration::from_micros(50);

thread_local! {
    /// Its address tells threads apart.
    static THREAD_TOKEN: u8 = const { 0 };
}

fn thread_token() -> usize {
    THREAD_TOKEN.with(|t| t as *const u8 as usize)
}

/// The shortest spin budget: a round trip between two spinning cores
/// (≈ 250 ns) with room to spare, so the budget can grow again once the
/// two sides run on separate cores.
pub(crate) const MIN_SPIN: Duration = Duration::from_micros(2);

/// The longest spin budget of a CPU actor's host and executor: a handler
/// that takes up to this long is answered without a wake-up.
pub(crate) const CPU_MAX_SPIN: Duration = Duration::from_micros(50);

impl Parking {
    /// Registers the calling thread as the one `own` wakes. `max_park`:
    /// the longest single park (`None`: until rung; zero: never park, only
    /// spin and yield).
    pub(crate) fn new(own: Arc<Doorbell>, peer: Arc<Doorbell>, max_park: Option<Duration>) -> Self {
        own.register_current();
        Parking {
            spin: Spin::new(MIN_SPIN, CPU_MAX_SPIN),
            max_park,
            own,
            peer,
            registered: thread_token(),
            moves: None,
        }
    }

    /// Lets this waiter move its thread off the other side's core (for the
    /// CPU executor's thread only: never a user's thread).
    pub(crate) fn moving_off_the_peer(mut self) -> Self {
        self.moves = Some(None);
        self
    }

    /// The other side last ran on `cpu`, this thread's: moves this thread
    /// off it if it may, and not too often. Whether the two now run apart
    /// (or work came), so that spinning pays.
    ///
    /// An other side that was just woken (by this thread's ring) noted
    /// the CPU it slept on, and the wake-up may have put it on another
    /// one, often the idle CPU this thread would move to. So first this
    /// waits, briefly, for it to run and note where it is: moving on its
    /// stale CPU would put both threads on one core again, every time.
    fn move_off_peer(&mut self, cpu: Cpu, ready: &dyn Fn() -> bool) -> bool {
        let Some(last) = &mut self.moves else {
            return false;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < MOVE_EVERY) {
            return false;
        }
        *last = Some(now);
        if !can_move() {
            return false;
        }
        while self.peer.asleep() && now.elapsed() < PEER_WAKE_WAIT {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if !self.peer.ran_on(cpu) {
            // It woke elsewhere.
            return true;
        }
        // While it moves (tens of µs onto an idle vCPU) the other side
        // spins for its next reply, rather than park for a thread it
        // believes shares its core.
        self.own.moving.store(true, Ordering::Relaxed);
        self.own.cpu.store(NO_CPU, Ordering::Relaxed);
        let moved = move_off(cpu);
        let now_on = self.own.note_cpu();
        self.own.moving.store(false, Ordering::Relaxed);
        if moved && now_on != cpu {
            // The other side runs as soon as it gets the core this thread
            // left: spin long enough for its next message (the budget may
            // have shrunk to the minimum while both shared a core).
            self.spin.widen();
            true
        } else {
            false
        }
    }

    fn wait(&mut self, ready: &dyn Fn() -> bool) {
        if !self.spin.exhausted {
            let cpu = self.own.note_cpu();
            if self.peer.ran_on(cpu) && !self.move_off_peer(cpu, ready) {
                // Sharing this core with the other side: park at once
                // (this is not a spin that failed, so the budget stays).
                self.spin.skip();
            } else {
                if self.peer.moving() {
                    // It is on its way to another core: the reply comes
                    // from there, after the move (tens of µs).
                    self.spin.widen();
                }
                // Spinning; the caller re-checks whether it ended for a
                // reason or because the budget ran out (the next pause
                // parks).
                self.spin.spin(ready);
                return;
            }
        }
        match self.max_park {
            Some(d) if d.is_zero() => {
                // Told never to park: keep spinning, and let other
                // threads have the core between budgets.
                std::thread::yield_now();
                self.spin.exhausted = false;
                self.spin.skipped = false;
                self.spin.started = None;
                self.spin.woken_after = None;
            }
            max => {
                self.park(ready, max);
                self.spin.woken();
            }
        }
    }

    fn park(&mut self, ready: &dyn Fn() -> bool, max: Option<Duration>) {
        self.own.sleeping.store(true, Ordering::Relaxed);
        // SeqCst fence: see `Doorbell::ring`.
        fence(Ordering::SeqCst);
        if !ready() {
            match max {
                Some(d) => std::thread::park_timeout(d),
                None => std::thread::park(),
            }
        }
        // The CPU it woke on, before it counts as awake (see
        // `Doorbell::asleep`).
        self.own.note_cpu();
        self.own.sleeping.store(false, Ordering::Release);
    }
}

impl Idle for Parking {
    fn reset(&mut self) {
        self.spin.begin();
    }

    fn pause(&mut self, ready: &dyn Fn() -> bool) {
        self.wait(ready)
    }

    fn published(&self) {
        self.peer.ring();
    }
}

impl Waiter for Parking {
    fn begin(&mut self) {
        self.spin.begin();
        let me = thread_token();
        if me != self.registered {
            // The actor moved to another thread.
            self.own.register_current();
            self.registered = me;
        }
    }

    fn pause(&mut self, ready: &dyn Fn() -> bool) {
        self.wait(ready)
    }

    fn bell(&self) -> Option<&Arc<Doorbell>> {
        Some(&self.own)
    }
}

/// The host's wait for an executor that cannot ring (a GPU): spin through
/// a round trip and more, then yield, then sleep with growing sleeps up to
/// `max_sleep` once the wait has lasted [`POLL_YIELD_UNTIL`].
#[derive(Debug)]
pub(crate) struct Polling {
    started: Option<Instant>,
    sleeps: u32,
    max_sleep: Duration,
}

/// How long a poll spins: a GPU round trip over PCIe is 3–6 µs; this
/// covers it and a short handler, without a syscall.
pub(crate) const POLL_SPIN: Duration = Duration::from_micros(50);

/// How long into a wait a poll yields between checks before it sleeps.
pub(crate) const POLL_YIELD_UNTIL: Duration = Duration::from_millis(1);

impl Polling {
    pub(crate) fn new(max_sleep: Duration) -> Self {
        Polling {
            started: None,
            sleeps: 0,
            max_sleep,
        }
    }
}

impl Waiter for Polling {
    fn begin(&mut self) {
        self.started = None;
        self.sleeps = 0;
    }

    fn pause(&mut self, ready: &dyn Fn() -> bool) {
        let started = *self.started.get_or_insert_with(Instant::now);
        let waited = started.elapsed();
        if waited < POLL_SPIN {
            'spin: loop {
                for _ in 0..ROUNDS_PER_CLOCK {
                    if ready() {
                        break 'spin;
                    }
                    std::hint::spin_loop();
                }
                if started.elapsed() >= POLL_SPIN {
                    break;
                }
            }
        } else if waited < POLL_YIELD_UNTIL || self.max_sleep.is_zero() {
            std::thread::yield_now();
        } else {
            let sleep = Duration::from_micros(1u64 << self.sleeps.min(10)).min(self.max_sleep);
            self.sleeps += 1;
            std::thread::sleep(sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn the_spin_budget_adapts_to_how_waits_end() {
        let mut s = Spin::new(MIN_SPIN, CPU_MAX_SPIN);
        assert_eq!(s.budget(), CPU_MAX_SPIN);
        // Waits that run out of budget halve it, down to the minimum.
        for _ in 0..20 {
            s.begin();
            assert!(!s.spin(&|| false));
        }
        s.begin();
        assert_eq!(s.budget(), MIN_SPIN);
        // Waits that end while spinning double it, up to the maximum.
        for _ in 0..20 {
            assert!(s.spin(&|| true));
            s.begin();
        }
        assert_eq!(s.budget(), CPU_MAX_SPIN);
        // A wait that never needed to pause changes nothing.
        s.begin();
        assert_eq!(s.budget(), CPU_MAX_SPIN);
    }

    /// A wait that ran out of budget but was woken soon after makes the
    /// next spin cover twice that wait; one woken later halves the budget.
    #[test]
    fn a_wait_woken_soon_after_its_budget_grows_it() {
        let mut s = Spin::new(MIN_SPIN, CPU_MAX_SPIN);
        for _ in 0..20 {
            s.begin();
            assert!(!s.spin(&|| false));
        }
        s.begin();
        assert_eq!(s.budget(), MIN_SPIN);
        let woken = |s: &mut Spin, after: Duration| {
            assert!(!s.spin(&|| false));
            s.woken_after = Some(after);
            s.begin();
        };
        woken(&mut s, Duration::from_micros(10));
        assert_eq!(s.budget(), Duration::from_micros(20));
        woken(&mut s, CPU_MAX_SPIN);
        assert_eq!(s.budget(), CPU_MAX_SPIN);
        woken(&mut s, CPU_MAX_SPIN + Duration::from_micros(1));
        assert_eq!(s.budget(), CPU_MAX_SPIN / 2);
    }

    /// When the other side last ran on this thread's CPU, a wait does not
    /// spin (it would only keep the other side off the core); otherwise
    /// it does.
    #[cfg(target_os = "linux")]
    #[test]
    fn no_spinning_against_the_other_side_on_one_core() {
        let peer = Doorbell::new();
        let mut w = Parking::new(
            Doorbell::new(),
            peer.clone(),
            Some(Duration::from_millis(1)),
        );
        peer.cpu
            .store(current_cpu().wrapping_add(1), Ordering::Relaxed);
        Idle::reset(&mut w);
        Idle::pause(&mut w, &|| false);
        assert!(
            w.spin.started.is_some() && !w.spin.skipped,
            "spins beside another core"
        );
        // Retried: the thread may move between two CPU reads.
        let skipped = (0..1000).any(|_| {
            peer.cpu.store(current_cpu(), Ordering::Relaxed);
            Idle::reset(&mut w);
            Idle::pause(&mut w, &|| false);
            w.spin.skipped && w.spin.started.is_none()
        });
        assert!(skipped, "never skipped the spin on a shared core");
        // A skipped spin leaves the budget as it was.
        let budget = w.spin.budget();
        Idle::reset(&mut w);
        assert_eq!(w.spin.budget(), budget);
    }

    #[test]
    fn polling_spins_then_yields_then_sleeps_within_bounds() {
        let mut p = Polling::new(Duration::from_micros(50));
        p.begin();
        let t = Instant::now();
        // The first pause spins the whole budget when nothing is ready.
        p.pause(&|| false);
        assert!(t.elapsed() >= POLL_SPIN);
        // A ready condition ends a spin at its first check (a count, not
        // a clock: a preempted test thread must not fail it).
        p.begin();
        let checks = std::cell::Cell::new(0u32);
        p.pause(&|| {
            checks.set(checks.get() + 1);
            true
        });
        assert!(
            checks.get() <= 1,
            "{} checks of a ready condition",
            checks.get()
        );
        // Until its first sleep (bounded by a count, not by the clock: a
        // test thread preempted for milliseconds must not fail it).
        p.begin();
        let t = Instant::now();
        let mut pauses = 0u64;
        while p.sleeps == 0 && pauses < 100_000_000 {
            p.pause(&|| false);
            pauses += 1;
        }
        assert!(p.sleeps > 0, "a long wait sleeps");
        assert!(
            t.elapsed() >= POLL_YIELD_UNTIL,
            "it slept {:?} into the wait, before yielding for {POLL_YIELD_UNTIL:?}",
            t.elapsed()
        );
    }

    /// An idle that parks without a timeout sleeps until rung: no periodic
    /// wake-ups while nothing happens.
    #[test]
    fn an_idle_parks_until_rung_without_waking_up() {
        let bell = Doorbell::new();
        let flag = Arc::new(AtomicBool::new(false));
        let pauses = Arc::new(AtomicU32::new(0));
        let (b2, f2, p2) = (bell.clone(), flag.clone(), pauses.clone());
        let t = std::thread::spawn(move || {
            let mut idle = Parking::new(b2, Doorbell::new(), None);
            while !f2.load(Ordering::Acquire) {
                p2.fetch_add(1, Ordering::Relaxed);
                Idle::pause(&mut idle, &|| f2.load(Ordering::Acquire));
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        // One pause spins out its budget, the next parks; a spurious
        // wake-up or two is allowed, a periodic one (hundreds) is not.
        let seen = pauses.load(Ordering::Relaxed);
        assert!(seen <= 4, "{seen} pauses in 300 ms of idling");
        flag.store(true, Ordering::Release);
        bell.ring();
        t.join().unwrap();
    }

    #[test]
    fn doorbell_wakes_a_parked_idle() {
        let bell = Doorbell::new();
        let flag = Arc::new(AtomicBool::new(false));
        let (b2, f2) = (bell.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            let mut idle = Parking::new(b2, Doorbell::new(), Some(Duration::from_secs(30)));
            let start = Instant::now();
            while !f2.load(Ordering::Acquire) {
                Idle::pause(&mut idle, &|| f2.load(Ordering::Acquire));
            }
            start.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        flag.store(true, Ordering::Release);
        bell.ring();
        let waited = t.join().unwrap();
        assert!(
            waited < Duration::from_secs(10),
            "woken by the bell, not the 30 s park"
        );
    }

    /// Many rings and waits back and forth: no wake-up is ever lost (a
    /// lost one would hang this test, since nothing parks with a timeout).
    #[test]
    fn ping_pong_through_doorbells_loses_no_wake_up() {
        let (a, b) = (Doorbell::new(), Doorbell::new());
        let turn = Arc::new(AtomicU32::new(0));
        let (a2, b2, turn2) = (a.clone(), b.clone(), turn.clone());
        const ROUNDS: u32 = 20_000;
        let t = std::thread::spawn(move || {
            let mut w = Parking::new(b2, a2, None);
            for i in 0..ROUNDS {
                Idle::reset(&mut w);
                while turn2.load(Ordering::Acquire) != 2 * i + 1 {
                    Idle::pause(&mut w, &|| turn2.load(Ordering::Acquire) == 2 * i + 1);
                }
                turn2.store(2 * i + 2, Ordering::Release);
                Idle::published(&w);
            }
        });
        let mut w = Parking::new(a, b, None);
        for i in 0..ROUNDS {
            turn.store(2 * i + 1, Ordering::Release);
            Idle::published(&w);
            Waiter::begin(&mut w);
            while turn.load(Ordering::Acquire) != 2 * i + 2 {
                Waiter::pause(&mut w, &|| turn.load(Ordering::Acquire) == 2 * i + 2);
            }
        }
        t.join().unwrap();
    }

    /// A task that waits on a doorbell (register, re-check, sleep) and a
    /// thread that publishes and rings, many times back and forth: no wake
    /// is ever lost (a lost one would hang this test: nothing re-polls the
    /// task on a timer).
    #[test]
    fn ping_pong_with_a_task_through_a_doorbell_loses_no_wake_up() {
        use std::future::Future;
        use std::task::{Context, Poll, Wake, Waker};

        struct Unpark(Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        /// The smallest executor: polls on this thread, parks when pending.
        fn block_on<F: Future>(f: F) -> F::Output {
            let mut f = std::pin::pin!(f);
            let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
            let mut cx = Context::from_waker(&waker);
            loop {
                if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                    return v;
                }
                std::thread::park();
            }
        }

        let (task_bell, thread_bell) = (Doorbell::new(), Doorbell::new());
        let turn = Arc::new(AtomicU32::new(0));
        const ROUNDS: u32 = 20_000;
        let (tb, thb, t2) = (task_bell.clone(), thread_bell.clone(), turn.clone());
        let other = std::thread::spawn(move || {
            let mut w = Parking::new(thb, tb, None);
            for i in 0..ROUNDS {
                Idle::reset(&mut w);
                while t2.load(Ordering::Acquire) != 2 * i + 1 {
                    Idle::pause(&mut w, &|| t2.load(Ordering::Acquire) == 2 * i + 1);
                }
                t2.store(2 * i + 2, Ordering::Release);
                // Rings the task's bell.
                Idle::published(&w);
            }
        });
        for i in 0..ROUNDS {
            turn.store(2 * i + 1, Ordering::Release);
            thread_bell.ring();
            block_on(std::future::poll_fn(|cx| {
                if turn.load(Ordering::Acquire) == 2 * i + 2 {
                    return Poll::Ready(());
                }
                task_bell.register_task(cx.waker());
                if turn.load(Ordering::Acquire) == 2 * i + 2 {
                    return Poll::Ready(());
                }
                Poll::Pending
            }));
        }
        task_bell.unregister_task();
        other.join().unwrap();
    }
}
