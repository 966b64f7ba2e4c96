//! The ring watcher: one thread per process that wakes the futures of
//! async actor operations ([`crate::Actor::call_async`],
//! [`crate::ActorGroup::recv_any_async`] and the others) when no executor
//! can wake them itself.
//!
//! A future that waits leaves a [`Watch`]: its task's `Waker`, when to wake
//! it at the latest (its deadline, or the next check that its executor is
//! alive), and — for an executor that cannot ring a doorbell, a GPU whose
//! replies land in mapped memory — a probe: a cheap read of the words the
//! executor publishes. The thread wakes a task as soon as its probe says
//! something was published, or when its time comes.
//!
//! While some probe is registered the thread polls them the way a blocking
//! wait polls a GPU (`super::wait::Polling`): it spins through a round trip
//! and more, then yields, then parks with sleeps growing from 1 µs to
//! [`MAX_PROBE_SLEEP`]; every hit and every new probe starts that over.
//! With no probe registered it parks until the earliest time is due, or
//! until a registration comes, and with nothing registered at all it
//! parks without a timeout: an application with no pending future pays
//! nothing for it.
//!
//! CPU actors and groups do not need the probes: their executor (or a
//! group's worker) rings the waiting task's doorbell
//! (`super::wait::Doorbell`), so they register only times.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::Waker;
use std::thread::Thread;
use std::time::{Duration, Instant};

use super::wait::{POLL_SPIN, POLL_YIELD_UNTIL};
use crate::{Error, Result};

/// A check of whether the executor published what a future waits for.
/// Runs on the watcher thread under its lock: it must only read memory.
pub(crate) type Probe = Box<dyn Fn() -> bool + Send>;

/// The longest park between two polls of the probes, once they have found
/// nothing for [`POLL_YIELD_UNTIL`].
const MAX_PROBE_SLEEP: Duration = Duration::from_millis(1);

/// A registration; dropping it withdraws it (a no-op once it fired).
#[derive(Debug)]
pub(crate) struct Watch {
    id: u64,
}

struct Entry {
    waker: Waker,
    at: Instant,
    probe: Option<Probe>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    /// `(at, id)` of every entry, earliest first.
    times: BTreeSet<(Instant, u64)>,
    /// How many entries have a probe.
    probes: usize,
    /// A probe was registered since the thread last looked: start polling
    /// afresh (spinning first).
    fresh: bool,
    /// Until when the thread sleeps (`None`: until unparked); a
    /// registration due earlier unparks it.
    asleep_until: Option<Option<Instant>>,
}

impl State {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.entries.remove(&id)?;
        self.times.remove(&(e.at, id));
        if e.probe.is_some() {
            self.probes -= 1;
        }
        Some(e)
    }
}

struct Watcher {
    state: Mutex<State>,
    thread: Thread,
}

static WATCHER: OnceLock<std::result::Result<Watcher, String>> = OnceLock::new();

fn watcher() -> Result<&'static Watcher> {
    WATCHER
        .get_or_init(|| {
            std::thread::Builder::new()
                .name("spindle-ring-watcher".into())
                .spawn(run)
                .map(|h| Watcher {
                    state: Mutex::new(State::default()),
                    thread: h.thread().clone(),
                })
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Unsupported(format!("could not start the ring watcher thread: {e}")))
}

fn lock(w: &Watcher) -> std::sync::MutexGuard<'_, State> {
    // A panic elsewhere under the lock leaves the maps consistent (every
    // update is a single insert or remove).
    w.state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes `waker` once `probe` (when given) returns `true`, or at `at`,
/// whichever comes first; then the registration is spent.
pub(crate) fn watch(waker: &Waker, at: Instant, probe: Option<Probe>) -> Result<Watch> {
    let w = watcher()?;
    let mut st = lock(w);
    let id = st.next_id;
    st.next_id += 1;
    let probing = probe.is_some();
    if probing {
        st.probes += 1;
        st.fresh = true;
    }
    st.entries.insert(
        id,
        Entry {
            waker: waker.clone(),
            at,
            probe,
        },
    );
    st.times.insert((at, id));
    let wake_thread = match st.asleep_until {
        Some(None) => true,
        Some(Some(until)) => probing || at < until,
        None => false,
    };
    if wake_thread {
        st.asleep_until = None;
    }
    drop(st);
    if wake_thread {
        w.thread.unpark();
    }
    Ok(Watch { id })
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(Ok(w)) = WATCHER.get() {
            let removed = lock(w).remove(self.id);
            // Dropped outside the lock: a waker's drop may run anything.
            drop(removed);
        }
    }
}

/// The watcher thread.
fn run() {
    // Waits until `watcher()` has stored the state (it spawned us first).
    let w = loop {
        if let Some(Ok(w)) = WATCHER.get() {
            break w;
        }
        std::thread::park_timeout(Duration::from_millis(1));
    };
    // When the probes last found something (or were registered).
    let mut polling_since = Instant::now();
    let mut sleeps = 0u32;
    let mut due = Vec::new();
    loop {
        let now = Instant::now();
        let mut st = lock(w);
        while let Some(&(at, id)) = st.times.first() {
            if at > now {
                break;
            }
            due.extend(st.remove(id).map(|e| e.waker));
        }
        if st.probes > 0 {
            let hits: Vec<u64> = st
                .entries
                .iter()
                .filter(|(_, e)| e.probe.as_ref().is_some_and(|p| p()))
                .map(|(&id, _)| id)
                .collect();
            for id in hits {
                due.extend(st.remove(id).map(|e| e.waker));
            }
        }
        if std::mem::take(&mut st.fresh) || !due.is_empty() {
            polling_since = now;
            sleeps = 0;
        }
        let next = st.times.first().map(|&(at, _)| at);
        let probing = st.probes > 0;
        // How long to sleep: nothing while spinning or yielding.
        let polled = now.duration_since(polling_since);
        let sleep = if !probing {
            next.map(|at| at.saturating_duration_since(now))
        } else if polled < POLL_YIELD_UNTIL {
            Some(Duration::ZERO)
        } else {
            let s = Duration::from_micros(1u64 << sleeps.min(10)).min(MAX_PROBE_SLEEP);
            sleeps += 1;
            Some(next.map_or(s, |at| s.min(at.saturating_duration_since(now))))
        };
        if sleep != Some(Duration::ZERO) {
            st.asleep_until = Some(sleep.map(|s| now + s));
        }
        drop(st);
        for waker in due.drain(..) {
            waker.wake();
        }
        match sleep {
            Some(d) if d.is_zero() => {
                if polled < POLL_SPIN {
                    for _ in 0..16 {
                        std::hint::spin_loop();
                    }
                } else {
                    std::thread::yield_now();
                }
            }
            Some(d) => std::thread::park_timeout(d),
            None => std::thread::park(),
        }
        lock(w).asleep_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicU32);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn wait_for(c: &Count, n: u32) {
        let start = Instant::now();
        while c.0.load(Ordering::SeqCst) < n {
            assert!(start.elapsed() < Duration::from_secs(10), "never woken");
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    #[test]
    fn a_probe_wakes_its_task_long_before_its_time() {
        let count = Arc::new(Count(AtomicU32::new(0)));
        let waker = Waker::from(count.clone());
        let flag = Arc::new(AtomicBool::new(false));
        let f2 = flag.clone();
        let far = Instant::now() + Duration::from_secs(3600);
        let _w = watch(
            &waker,
            far,
            Some(Box::new(move || f2.load(Ordering::Relaxed))),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "woken before the probe hit"
        );
        flag.store(true, Ordering::Relaxed);
        wait_for(&count, 1);
    }

    #[test]
    fn a_time_wakes_its_task_and_a_dropped_watch_never_does() {
        let count = Arc::new(Count(AtomicU32::new(0)));
        let waker = Waker::from(count.clone());
        let soon = Instant::now() + Duration::from_millis(5);
        let dropped = watch(&waker, soon, None).unwrap();
        drop(dropped);
        let _kept = watch(&waker, soon + Duration::from_millis(5), None).unwrap();
        wait_for(&count, 1);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "the dropped watch fired");
    }
}
