//! The CPU executor: a host thread that plays the executor side of the
//! ring protocol ([`run_executor`]) over ordinary heap memory, running the
//! handler through a [`RingHandler`] — the CPU backend's interpreter
//! ([`crate::cpu::InterpretedHandler`]) for a
//! `#[kernel(mode = "ring")]`, or a Rust closure.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use spindle_codegen::ring::layout::ERROR_EXECUTOR;

use super::executor::{run_executor, Executor, ExecutorDeath, RingHandler};
use super::memory::RawRegion;
use super::wait::{Doorbell, Parking, Waiter};
use crate::cpu::HostMem;
use crate::types::DeviceType;
use crate::{Error, Result};

/// A running CPU executor thread.
pub(crate) struct CpuExecutor {
    kernel: String,
    thread: Option<JoinHandle<()>>,
    bell: Arc<Doorbell>,
    /// The handler's error, written before `status.error` is published.
    error: Arc<Mutex<Option<Error>>>,
    /// Raised when the host gives up on the executor: a handler that can
    /// be interrupted (the interpreter, at its next loop iteration) stops.
    abandon: Option<Arc<AtomicBool>>,
}

/// Rings the host's doorbell when the executor thread ends, however it
/// ends (a panic too), so a host asleep in a wait notices at once.
struct RingOnExit(Arc<Doorbell>);

impl Drop for RingOnExit {
    fn drop(&mut self) {
        self.0.ring();
    }
}

impl CpuExecutor {
    /// Starts the executor thread over `region` (whose `config` is
    /// written) with state `init`. `max_park`: the longest the idle thread
    /// sleeps (`None`: until a send wakes it); `abandon`: the flag that
    /// stops `handler` when the host gives up on it (for handlers that
    /// watch one). Also returns the waiter the host side must use: it
    /// parks, and the executor wakes it after each reply.
    pub(crate) fn start(
        kernel: &str,
        region: Arc<RawRegion>,
        mut handler: Box<dyn RingHandler>,
        init: &[u8],
        max_park: Option<Duration>,
        host_max_park: Duration,
        abandon: Option<Arc<AtomicBool>>,
    ) -> Result<(CpuExecutor, Box<dyn Waiter>)> {
        // `bell` wakes the executor (rung by the host after a send), and
        // `host_bell` wakes the host (rung by the executor after a reply).
        let bell = Doorbell::new();
        let host_bell = Doorbell::new();
        let error = Arc::new(Mutex::new(None));
        let mut state = HostMem::from_bytes(init, || format!("the state of actor `{kernel}`"))?;
        let (bell2, host_bell2, error2) = (bell.clone(), host_bell.clone(), error.clone());
        let thread = std::thread::Builder::new()
            .name(format!("spindle-ring-{kernel}"))
            .spawn(move || {
                let _ring_on_exit = RingOnExit(host_bell2.clone());
                let mut idle = Parking::new(bell2, host_bell2, max_park).moving_off_the_peer();
                let layout = *region.layout();
                let mut report = |e: Error| {
                    *error2.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                };
                let exit = run_executor(
                    &*region,
                    &layout,
                    &mut *handler,
                    state.as_bytes_mut(),
                    &mut idle,
                    &mut report,
                );
                tracing::debug!(?exit, "CPU ring executor exited");
            })
            .map_err(|e| Error::ActorStopped {
                kernel: kernel.to_string(),
                reason: format!("could not start the executor thread: {e}"),
            })?;
        let waiter = Parking::new(host_bell, bell.clone(), Some(host_max_park));
        Ok((
            CpuExecutor {
                kernel: kernel.to_string(),
                thread: Some(thread),
                bell,
                error,
                abandon,
            },
            Box::new(waiter),
        ))
    }
}

pub(crate) fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_string()
    }
}

impl Executor for CpuExecutor {
    fn check_alive(&mut self) -> std::result::Result<(), ExecutorDeath> {
        match &self.thread {
            Some(t) if !t.is_finished() => Ok(()),
            Some(_) => {
                let t = self.thread.take().expect("checked above");
                Err(ExecutorDeath::Other(match t.join() {
                    Ok(()) => "the executor thread ended without publishing `exited`".into(),
                    Err(p) => format!("the executor thread panicked: {}", panic_message(&*p)),
                }))
            }
            None => Err(ExecutorDeath::Other("the executor thread has ended".into())),
        }
    }

    fn failure(&mut self, code: u32) -> Error {
        let taken = if code == ERROR_EXECUTOR {
            self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
        } else {
            None
        };
        taken.unwrap_or_else(|| Error::ActorStopped {
            kernel: self.kernel.clone(),
            reason: format!("the executor reported error code {code}"),
        })
    }

    fn notify(&self) {
        self.bell.ring();
    }

    fn finish(&mut self, exited: bool) -> bool {
        if let Some(t) = self.thread.take() {
            if exited || t.is_finished() {
                // It returns right after publishing `exited`.
                let _ = t.join();
            } else {
                // The host gave up waiting (the handler is stuck, or slow):
                // stop the handler if it can be stopped, and detach the
                // thread. It holds its own reference to the region, freed
                // when it ends; a handler that cannot be stopped (a Rust
                // closure in an endless loop) keeps its thread.
                if let Some(flag) = &self.abandon {
                    flag.store(true, Ordering::Relaxed);
                }
                self.bell.ring();
            }
        }
        true
    }
}

/// A Rust closure as a ring handler: `f(&mut state, msg) -> reply`. A
/// panic in `f` fails the actor with the panic's message.
pub(crate) struct FnHandler<S, M, R, F> {
    kernel: String,
    f: F,
    _types: PhantomData<fn(S, M) -> R>,
}

impl<S, M, R, F> FnHandler<S, M, R, F> {
    pub(crate) fn new(kernel: &str, f: F) -> Self {
        FnHandler {
            kernel: kernel.to_string(),
            f,
            _types: PhantomData,
        }
    }
}

impl<S, M, R, F> RingHandler for FnHandler<S, M, R, F>
where
    S: DeviceType,
    M: DeviceType,
    R: DeviceType,
    F: FnMut(&mut S, M) -> R + Send,
{
    fn handle(&mut self, state: &mut [u8], msg: &[u8], reply: &mut [u8]) -> Result<()> {
        assert!(
            state.len() == size_of::<S>()
                && msg.len() == size_of::<M>()
                && reply.len() == size_of::<R>(),
            "ring payload sizes do not match the handler's types"
        );
        assert_eq!(
            state.as_ptr() as usize % align_of::<S>(),
            0,
            "state is 8-byte aligned"
        );
        // SAFETY: `state` holds exactly the bytes of an `S` (the initial
        // value, then what this handler left), is aligned for `S` (checked),
        // and is borrowed mutably for this call only.
        let s = unsafe { &mut *state.as_mut_ptr().cast::<S>() };
        // SAFETY: `msg` holds the bytes of an `M` the host published
        // (`M: DeviceType`, any bit pattern the host wrote is a value).
        let m = unsafe { std::ptr::read_unaligned(msg.as_ptr().cast::<M>()) };
        let r =
            catch_unwind(AssertUnwindSafe(|| (self.f)(s, m))).map_err(|p| Error::ActorStopped {
                kernel: self.kernel.clone(),
                reason: format!("the handler panicked: {}", panic_message(&*p)),
            })?;
        // SAFETY: `reply` is exactly `size_of::<R>()` writable bytes.
        unsafe { std::ptr::write_unaligned(reply.as_mut_ptr().cast::<R>(), r) };
        Ok(())
    }
}
