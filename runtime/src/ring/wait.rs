//! How each side waits: [`Waiter`] for the host, [`Idle`] for a Rust
//! executor. Waiting never affects correctness, only latency and CPU use:
//! every wait re-checks the shared words after it returns.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;
use std::time::Duration;

/// The host's pause between two checks of a condition.
pub(crate) trait Waiter: Send {
    /// A new wait starts on the calling thread (resets the back-off).
    fn begin(&mut self);
    /// Pauses once; later pauses may be longer. `ready` says whether the
    /// executor has published something since the last check; a waiter
    /// that parks re-checks it after announcing that it sleeps.
    fn pause(&mut self, ready: &dyn Fn() -> bool);
}

/// Spin, then yield, then sleep with growing sleeps up to `max_sleep`.
#[derive(Debug)]
pub(crate) struct Backoff {
    round: u32,
    max_sleep: Duration,
}

const SPIN_ROUNDS: u32 = 64;
const YIELD_ROUNDS: u32 = 64;

impl Backoff {
    pub(crate) fn new(max_sleep: Duration) -> Self {
        Backoff {
            round: 0,
            max_sleep,
        }
    }

    /// One step of the back-off.
    fn step(&mut self) {
        let r = self.round;
        self.round = self.round.saturating_add(1);
        if r < SPIN_ROUNDS {
            for _ in 0..(1u32 << (r / 8).min(6)) {
                std::hint::spin_loop();
            }
        } else if r < SPIN_ROUNDS + YIELD_ROUNDS || self.max_sleep.is_zero() {
            std::thread::yield_now();
        } else {
            let exp = (r - SPIN_ROUNDS - YIELD_ROUNDS).min(10);
            let sleep = Duration::from_micros(1u64 << exp).min(self.max_sleep);
            std::thread::sleep(sleep);
        }
    }

    /// Whether the back-off has reached its sleeping phase.
    pub(crate) fn is_sleeping(&self) -> bool {
        self.round >= SPIN_ROUNDS + YIELD_ROUNDS
    }
}

impl Waiter for Backoff {
    fn begin(&mut self) {
        self.round = 0;
    }

    fn pause(&mut self, _ready: &dyn Fn() -> bool) {
        self.step()
    }
}

/// A Rust executor's pause when it has nothing to do.
pub(crate) trait Idle {
    /// Work was found: the next idle period starts short again.
    fn reset(&mut self);
    /// Pauses once. `ready` says whether work has arrived; an idle that
    /// parks re-checks it after announcing that it sleeps.
    fn pause(&mut self, ready: &dyn Fn() -> bool);
    /// The executor published a reply (or exited): wake a parked host.
    fn published(&self) {}
}

/// How one side wakes the other when it parks: the sleeper announces
/// itself here, the other side rings after publishing.
#[derive(Debug)]
pub(crate) struct Doorbell {
    sleeping: AtomicBool,
    thread: Mutex<Option<Thread>>,
}

impl Doorbell {
    pub(crate) fn new() -> Arc<Doorbell> {
        Arc::new(Doorbell {
            sleeping: AtomicBool::new(false),
            thread: Mutex::new(None),
        })
    }

    /// Called after publishing something the sleeper may wait for.
    pub(crate) fn ring(&self) {
        // SeqCst fence: the Dekker pair of the one in `Parking::pause`.
        // Either the sleeper's fence comes first, and we see `sleeping`
        // and unpark it, or ours does, and its re-check after its fence
        // sees what we published before this call. A lost wake-up could
        // only cost latency anyway (parks are bounded).
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) {
            if let Some(t) = &*self.thread.lock().unwrap_or_else(PoisonError::into_inner) {
                t.unpark();
            }
        }
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

/// Spin, yield, then park for up to `max_park`, woken early when the other
/// side rings `own`; rings `peer` after publishing. The CPU executor's idle
/// and the host's waiter for CPU actors.
pub(crate) struct Parking {
    backoff: Backoff,
    max_park: Duration,
    own: Arc<Doorbell>,
    peer: Arc<Doorbell>,
}

impl Parking {
    /// Registers the calling thread as the one `own` wakes.
    pub(crate) fn new(own: Arc<Doorbell>, peer: Arc<Doorbell>, max_park: Duration) -> Self {
        own.register_current();
        Parking {
            backoff: Backoff::new(Duration::ZERO),
            max_park,
            own,
            peer,
        }
    }

    fn park(&mut self, ready: &dyn Fn() -> bool) {
        if !self.backoff.is_sleeping() || self.max_park.is_zero() {
            self.backoff.step();
            return;
        }
        self.own.sleeping.store(true, Ordering::Relaxed);
        // SeqCst fence: see `Doorbell::ring`.
        fence(Ordering::SeqCst);
        if !ready() {
            std::thread::park_timeout(self.max_park);
        }
        self.own.sleeping.store(false, Ordering::Relaxed);
    }
}

impl Idle for Parking {
    fn reset(&mut self) {
        self.backoff.begin();
    }

    fn pause(&mut self, ready: &dyn Fn() -> bool) {
        self.park(ready)
    }

    fn published(&self) {
        self.peer.ring();
    }
}

impl Waiter for Parking {
    fn begin(&mut self) {
        self.backoff.begin();
        self.own.register_current();
    }

    fn pause(&mut self, ready: &dyn Fn() -> bool) {
        self.park(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn backoff_reaches_sleep_and_is_bounded() {
        let mut b = Backoff::new(Duration::from_micros(50));
        b.begin();
        let t = Instant::now();
        for _ in 0..(SPIN_ROUNDS + YIELD_ROUNDS + 20) {
            Waiter::pause(&mut b, &|| false);
        }
        assert!(b.is_sleeping());
        assert!(t.elapsed() < Duration::from_secs(2));
        b.begin();
        assert!(!b.is_sleeping());
    }

    #[test]
    fn doorbell_wakes_a_parked_idle() {
        let bell = Doorbell::new();
        let flag = Arc::new(AtomicBool::new(false));
        let (b2, f2) = (bell.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            let mut idle = Parking::new(b2, Doorbell::new(), Duration::from_secs(30));
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
}
