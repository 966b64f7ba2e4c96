//! The CPU backend's group executor: a fixed pool of worker threads, each
//! running one block of the group loop (`run_group_block`) over the actors
//! it owns (worker `w` of `G` owns actors `w, w + G, …`), parked on its
//! doorbell while none of them has work.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use spindle_codegen::ring::group_layout::GroupLayout;
use spindle_codegen::ring::layout::ERROR_EXECUTOR;

use super::executor::RingHandler;
use super::group_executor::{run_group_block, BlockHandlers};
use super::group_host::GroupExecutor;
use super::memory::{RawBytes, RingMemory};
use super::wait::{Doorbell, Parking, Waiter};
use crate::{Error, Result};

/// Makes a handler for one worker (once at start, and again after a
/// handler failed, so a fault never leaves a half-run handler behind).
pub(crate) type HandlerFactory = Arc<dyn Fn() -> Result<Box<dyn RingHandler>> + Send + Sync>;

/// A cache line of its own for each worker's wake counter.
#[repr(align(128))]
#[derive(Default)]
struct Wake(AtomicU32);

/// What the host and the workers share besides the region.
struct Shared {
    /// Bumped by the host after it publishes to (or frees a reply slot of)
    /// one of the worker's actors.
    wakes: Vec<Wake>,
    /// Each worker's doorbell.
    bells: Vec<Arc<Doorbell>>,
    /// Each worker's actors the host hinted at (published to, or freed
    /// reply room of), so a worker visits them without scanning all of
    /// its actors.
    hints: Vec<Mutex<Vec<u32>>>,
    /// Whether actor `a` is in its worker's hints (each actor is there at
    /// most once).
    hinted: Vec<AtomicBool>,
    /// A failed actor's error, kept until the host asks for it.
    errors: Mutex<Vec<(u32, Error)>>,
}

/// The worker threads of a group on the CPU backend.
pub(crate) struct CpuGroup {
    kernel: String,
    shared: Arc<Shared>,
    /// Worker `b`'s thread (`None` once joined).
    threads: Vec<Option<JoinHandle<()>>>,
    /// The host's own count of each worker's wake-ups (it is their only
    /// writer).
    sent: Vec<std::cell::Cell<u32>>,
    /// Raised when the host gives up on the workers: an interpreted
    /// handler stops at its next loop iteration.
    abandon: Option<Arc<AtomicBool>>,
}

struct WorkerHandlers {
    block: usize,
    make: HandlerFactory,
    handler: Option<Box<dyn RingHandler>>,
    shared: Arc<Shared>,
}

impl BlockHandlers for WorkerHandlers {
    fn handler(&mut self) -> Result<&mut dyn RingHandler> {
        if self.handler.is_none() {
            self.handler = Some((self.make)()?);
        }
        Ok(self.handler.as_deref_mut().expect("made above"))
    }

    fn failed(&mut self, actor: u32, e: Error) {
        self.handler = None;
        self.shared
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((actor, e));
    }

    fn take_hints(&mut self, out: &mut Vec<u32>) -> bool {
        let mut hints = self.shared.hints[self.block]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for a in hints.drain(..) {
            // AcqRel: reads the host's `swap(true)` made after it published
            // to `a` (or freed its reply room): the visit that follows
            // sees that. A publish after this clear hints `a` again.
            self.shared.hinted[a as usize].swap(false, Ordering::AcqRel);
            out.push(a);
        }
        true
    }
}

/// Rings the host's doorbell when a worker ends, however it ends.
struct RingOnExit(Arc<Doorbell>);

impl Drop for RingOnExit {
    fn drop(&mut self) {
        self.0.ring();
    }
}

impl CpuGroup {
    /// Starts `layout.blocks` workers over `region` (its `config`
    /// written), with the actors' initial states `inits` (`state_size`
    /// bytes each, back to back). Also returns the host's waiter.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        kernel: &str,
        region: Arc<RawBytes>,
        layout: GroupLayout,
        make: HandlerFactory,
        inits: &[u8],
        max_park: Option<Duration>,
        host_max_park: Duration,
        abandon: Option<Arc<AtomicBool>>,
    ) -> Result<(CpuGroup, Box<dyn Waiter>)> {
        let blocks = layout.blocks as usize;
        let shared = Arc::new(Shared {
            wakes: (0..blocks).map(|_| Wake::default()).collect(),
            bells: (0..blocks).map(|_| Doorbell::new()).collect(),
            hints: (0..blocks).map(|_| Mutex::new(Vec::new())).collect(),
            hinted: (0..layout.actors).map(|_| AtomicBool::new(false)).collect(),
            errors: Mutex::new(Vec::new()),
        });
        let host_bell = Doorbell::new();
        let mut group = CpuGroup {
            kernel: kernel.to_string(),
            shared: shared.clone(),
            threads: Vec::with_capacity(blocks),
            sent: (0..blocks).map(|_| std::cell::Cell::new(0)).collect(),
            abandon,
        };
        let (size, stride) = (layout.state_size, layout.state_stride);
        for b in 0..layout.blocks {
            // The worker's states, `stride` apart, in 128-aligned memory.
            let owned: Vec<u32> = (b..layout.actors).step_by(blocks).collect();
            let states = RawBytes::heap((owned.len() * stride).max(stride), || {
                format!("the states of group `{kernel}`'s worker {b}")
            })?;
            for (k, &a) in owned.iter().enumerate() {
                let a = a as usize;
                // SAFETY: no worker runs on these bytes yet; in bounds.
                unsafe { states.write_bytes(k * stride, &inits[a * size..(a + 1) * size]) };
            }
            let (worker_region, shared, host_bell, make) = (
                region.clone(),
                shared.clone(),
                host_bell.clone(),
                make.clone(),
            );
            let thread = std::thread::Builder::new()
                .name(format!("spindle-group-{kernel}-{b}"))
                .spawn(move || {
                    let _ring_on_exit = RingOnExit(host_bell.clone());
                    let bell = shared.bells[b as usize].clone();
                    let mut idle = Parking::new(bell, host_bell, max_park).moving_off_the_peer();
                    let mut handlers = WorkerHandlers {
                        block: b as usize,
                        make,
                        handler: None,
                        shared: shared.clone(),
                    };
                    // SAFETY: this worker is the only user of `states`.
                    let bytes =
                        unsafe { std::slice::from_raw_parts_mut(states.base(), states.len()) };
                    let wake = || shared.wakes[b as usize].0.load(Ordering::Acquire);
                    let exit = run_group_block(
                        &*worker_region,
                        &layout,
                        b,
                        &mut handlers,
                        bytes,
                        &mut idle,
                        &wake,
                    );
                    tracing::debug!(?exit, block = b, "CPU group worker exited");
                })
                .map_err(|e| Error::ActorStopped {
                    kernel: kernel.to_string(),
                    reason: format!("could not start worker thread {b} of the group: {e}"),
                });
            match thread {
                Ok(t) => group.threads.push(Some(t)),
                Err(e) => {
                    // The workers started so far stop at once.
                    region_abort(&region);
                    for b in 0..group.threads.len() {
                        group.notify(b as u32);
                    }
                    group.finish(false);
                    return Err(e);
                }
            }
        }
        let waiter = Parking::new(host_bell, shared.bells[0].clone(), Some(host_max_park));
        Ok((group, Box::new(waiter)))
    }
}

/// Tells every worker of a group to stop without draining.
fn region_abort(region: &RawBytes) {
    use spindle_codegen::ring::group_layout::group_offsets;
    use spindle_codegen::ring::layout::STOP_ABORT;
    // Release: nothing to order but the stop itself.
    region.store(group_offsets::STOP, STOP_ABORT, Ordering::Release);
}

impl GroupExecutor for CpuGroup {
    fn check_alive(&mut self, exited: &dyn Fn(u32) -> bool) -> std::result::Result<(), String> {
        let dead = self
            .threads
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.is_finished()));
        match dead {
            None => Ok(()),
            Some(b) if exited(b as u32) => Ok(()),
            Some(b) => {
                let t = self.threads[b].take().expect("checked above");
                Err(match t.join() {
                    Ok(()) => format!("worker {b} of the group ended without publishing `exited`"),
                    Err(p) => format!(
                        "worker {b} of the group panicked: {}",
                        super::cpu_executor::panic_message(&*p)
                    ),
                })
            }
        }
    }

    fn failure(&mut self, actor: u32, code: u32) -> Error {
        let mut errors = self
            .shared
            .errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let taken = (code == ERROR_EXECUTOR)
            .then(|| errors.iter().position(|(a, _)| *a == actor))
            .flatten()
            .map(|at| errors.swap_remove(at).1);
        taken.unwrap_or_else(|| Error::ActorStopped {
            kernel: self.kernel.clone(),
            reason: format!("the executor reported error code {code} for actor {actor}"),
        })
    }

    fn hint(&self, actor: u32) {
        // AcqRel: orders the publish before it for the worker's clear (see
        // `take_hints`); only the first hint of an actor queues it.
        if !self.shared.hinted[actor as usize].swap(true, Ordering::AcqRel) {
            let block = actor as usize % self.shared.hints.len();
            self.shared.hints[block]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(actor);
        }
    }

    fn notify(&self, block: u32) {
        let b = block as usize;
        let n = self.sent[b].get().wrapping_add(1);
        self.sent[b].set(n);
        // Release: the publish (or the consume) before this is visible to
        // the worker's scan that follows its Acquire of the new count.
        self.shared.wakes[b].0.store(n, Ordering::Release);
        self.shared.bells[b].ring();
    }

    fn finish(&mut self, exited: bool) -> bool {
        if exited || self.threads.iter().flatten().all(|t| t.is_finished()) {
            for t in self.threads.drain(..).flatten() {
                let _ = t.join();
            }
        } else {
            // Gave up waiting: stop interpreted handlers, wake everyone,
            // and detach the threads (each holds its own reference to the
            // region, freed when the last one ends).
            if let Some(flag) = &self.abandon {
                flag.store(true, Ordering::Relaxed);
            }
            for b in &self.shared.bells {
                b.ring();
            }
            self.threads.clear();
        }
        true
    }
}
