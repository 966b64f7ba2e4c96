//! The OS threads kernels run on: a pool that hands a "gang" of n threads
//! one function to run at once (all n run concurrently, as a block's
//! threads must, for barriers), growing when it has too few idle threads
//! and letting threads that stay idle a while exit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// How long an idle thread waits for work before it exits.
const IDLE_EXIT: Duration = Duration::from_secs(20);
/// Stack of each kernel thread (a GPU thread's stack is at most 512 KiB).
const STACK_BYTES: usize = 2 << 20;

/// The function a gang runs, with its lifetime erased (see `run_gang`).
type GangFn = dyn Fn(u32) + Sync;

struct Job {
    f: *const GangFn,
    index: u32,
    latch: Arc<Latch>,
}

// SAFETY: `f` points to a `Sync` closure that `run_gang` keeps alive until
// every job holding it has finished (the latch); sending the pointer to the
// worker that calls it is what `Sync` permits.
unsafe impl Send for Job {}

/// Counts the gang's threads down; `run_gang` waits for zero.
struct Latch {
    left: Mutex<u32>,
    done: Condvar,
}

impl Latch {
    fn count_down(&self) {
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        *left -= 1;
        if *left == 0 {
            self.done.notify_all();
        }
    }
    fn wait(&self) {
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        while *left > 0 {
            left = self.done.wait(left).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

struct Worker {
    job: Mutex<Option<Job>>,
    ready: Condvar,
}

/// A pool of kernel threads.
pub(crate) struct Pool {
    idle: Mutex<Vec<Arc<Worker>>>,
}

impl Pool {
    pub(crate) const fn new() -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f(0)` … `f(n - 1)`, each on its own thread, all at once, and
    /// returns when every one has returned. A panic in `f` is reported and
    /// counts as returning.
    pub(crate) fn run_gang(&'static self, n: u32, f: &(dyn Fn(u32) + Sync)) {
        if n == 0 {
            return;
        }
        let latch = Arc::new(Latch {
            left: Mutex::new(n),
            done: Condvar::new(),
        });
        let mut taken: Vec<Arc<Worker>> = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            let keep = idle.len().saturating_sub(n as usize);
            idle.split_off(keep)
        };
        while taken.len() < n as usize {
            taken.push(self.spawn());
        }
        // SAFETY (lifetime erasure): the pointer outlives every use, since
        // each job counts the latch down only after its call to `f`
        // returned, and this function waits for the latch before returning.
        let f: *const GangFn =
            unsafe { std::mem::transmute::<&(dyn Fn(u32) + Sync), &'static GangFn>(f) };
        for (index, w) in taken.into_iter().enumerate() {
            let job = Job {
                f,
                index: index as u32,
                latch: latch.clone(),
            };
            *w.job.lock().unwrap_or_else(PoisonError::into_inner) = Some(job);
            w.ready.notify_one();
        }
        latch.wait();
    }

    fn spawn(&'static self) -> Arc<Worker> {
        let w = Arc::new(Worker {
            job: Mutex::new(None),
            ready: Condvar::new(),
        });
        let me = w.clone();
        let spawned = std::thread::Builder::new()
            .name("cuda-emu kernel".into())
            .stack_size(STACK_BYTES)
            .spawn(move || self.work(me));
        if let Err(e) = spawned {
            // Without the thread the gang could never finish: stop loudly.
            crate::log::warn(format!("cannot start a kernel thread: {e}"));
            std::process::abort();
        }
        w
    }

    fn work(&'static self, me: Arc<Worker>) {
        loop {
            let job = {
                let mut slot = me.job.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if let Some(job) = slot.take() {
                        break Some(job);
                    }
                    let (s, timeout) = me
                        .ready
                        .wait_timeout(slot, IDLE_EXIT)
                        .unwrap_or_else(PoisonError::into_inner);
                    slot = s;
                    if timeout.timed_out() && slot.is_none() {
                        break None;
                    }
                }
            };
            let Some(job) = job else {
                // Idle too long: leave, unless a gang took this worker
                // meanwhile (then its job is in the slot).
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(i) = idle.iter().position(|w| Arc::ptr_eq(w, &me)) {
                    idle.swap_remove(i);
                    return;
                }
                continue;
            };
            // SAFETY: see `run_gang`: the closure is alive until the latch
            // below is counted down.
            let f = unsafe { &*job.f };
            if catch_unwind(AssertUnwindSafe(|| f(job.index))).is_err() {
                crate::log::warn("a kernel thread panicked");
            }
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(me.clone());
            job.latch.count_down();
        }
    }
}

/// The process's kernel threads.
pub(crate) static POOL: Pool = Pool::new();

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Barrier;

    #[test]
    fn a_gang_runs_all_at_once() {
        // A barrier of n only opens if all n run concurrently.
        for n in [1u32, 7, 64] {
            let barrier = Barrier::new(n as usize);
            let sum = AtomicU32::new(0);
            POOL.run_gang(n, &|i| {
                barrier.wait();
                sum.fetch_add(i + 1, Ordering::Relaxed);
            });
            assert_eq!(sum.load(Ordering::Relaxed), n * (n + 1) / 2);
        }
    }
}
