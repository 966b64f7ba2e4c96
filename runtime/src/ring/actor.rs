//! [`Actor`]: a running ring kernel, as the user holds it.

use std::marker::PhantomData;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use spindle_codegen::ir::{Kernel, ParamKind, Ty};
use spindle_codegen::layout::TypeDesc;
use spindle_codegen::KernelMode;

use super::config::RingConfig;
use super::cpu_executor::{CpuExecutor, FnHandler};
use super::executor::{Executor, RingHandler};
use super::host::HostSession;
use super::memory::RawRegion;
use super::wait::{Polling, Waiter};
use crate::device::{desc_matches, DeviceInner};
use crate::kernel::KernelInfo;
use crate::types::{bytes_of, DeviceType};
use crate::{Device, Error, Result};

/// A persistent actor: a ring kernel running on a device, holding state `S`,
/// taking messages `M` and answering each with a reply `R`, in order.
///
/// Made by the `spawn` glue of a `#[kernel(mode = "ring")]` function.
/// Every method but [`shutdown`](Actor::shutdown) takes `&mut self`. A
/// handler fault (an index out of bounds…) fails the actor: the replies to
/// messages handled before it are still received, in order, and then every
/// call returns that error, naming the kernel (the faulting message and the
/// ones after it are never answered and stay counted by
/// [`in_flight`](Actor::in_flight)). Dropping an actor stops its executor
/// without draining and without hanging.
///
/// # A handler that never returns
///
/// A handler stuck in an endless loop never answers: `call` and `recv`
/// return [`Error::Timeout`], [`status`](Actor::status) still says
/// [`ActorStatus::Running`], `shutdown` gives up after
/// [`RingConfig::shutdown_timeout`] without the state, and drop returns
/// within [`RingConfig::timeout`]. A kernel on the CPU backend is then
/// stopped at its next loop iteration and its thread ends. On a GPU the
/// kernel keeps running until the process ends — a persistent kernel
/// cannot be stopped from the host without tearing down the whole CUDA
/// context — and its ring memory is kept for it.
///
/// # Async
///
/// [`call_async`](Actor::call_async), [`send_async`](Actor::send_async) and
/// [`recv_async`](Actor::recv_async) are the same operations as futures
/// (same order, errors and timeout). They need no particular async runtime
/// (tokio, smol, `futures::executor` …): a reply wakes the waiting task
/// itself — a CPU executor wakes it directly after publishing, and for a
/// GPU, whose replies land in host memory, one watcher thread per process
/// polls the reply rings while some future waits (and sleeps otherwise).
/// A future first spins for a few µs, as a blocking call does, since most
/// replies come sooner than a task could be woken; while it waits longer
/// it is also polled at growing intervals (up to 50 ms) to notice an
/// executor that died without a word. Futures borrow the actor mutably,
/// so an actor has one operation outstanding (share it through an async
/// mutex, or give each task its own actor); `Actor` and its futures are
/// `Send`. A dropped future loses nothing; see
/// [`call_async`](Actor::call_async) for what a later `recv` returns.
/// `shutdown` and drop stay blocking: both are short unless many messages
/// are still queued (then call `shutdown` where blocking is fine, e.g.
/// tokio's `spawn_blocking`).
///
/// The `spindle` crate's documentation starts with a complete ring kernel
/// and the calls above: `call`, pipelined `send` and `recv`, `shutdown`.
pub struct Actor<S: DeviceType, M: DeviceType, R: DeviceType> {
    session: HostSession<RawRegion, M, R>,
    _state: PhantomData<fn() -> S>,
}

impl<S: DeviceType, M: DeviceType, R: DeviceType> Actor<S, M, R> {
    /// Starts the ring kernel `info` on `dev` with initial state `init`:
    /// what the `spawn` glue of a ring kernel calls.
    pub(crate) fn spawn_kernel(
        dev: &Device,
        info: &'static KernelInfo,
        init: S,
        config: RingConfig,
    ) -> Result<Self> {
        Self::spawn_linked(dev, info.linked()?, init, config)
    }

    /// Starts an already linked ring kernel.
    pub(crate) fn spawn_linked(
        dev: &Device,
        kernel: Arc<Kernel>,
        init: S,
        config: RingConfig,
    ) -> Result<Self> {
        check_signature::<S, M, R>(&kernel)?;
        // What a GPU needs of a ring kernel, checked on every backend.
        spindle_codegen::ring::check_ring_kernel(&kernel).map_err(|message| Error::Link {
            kernel: kernel.name.clone(),
            message,
        })?;
        let layout = config.layout::<S, M, R>()?;
        let init = bytes_of(std::slice::from_ref(&init));
        match &*dev.inner {
            DeviceInner::Cpu(cpu) => {
                // The interpreter checks this flag at every loop iteration:
                // a handler the host gives up on stops there.
                let abandon = Arc::new(AtomicBool::new(false));
                let handler = Box::new(cpu.ring_handler(&kernel)?.stopped_by(abandon.clone()));
                let region = Arc::new(RawRegion::heap(layout, &kernel.name)?);
                region.write_config(&layout.config_words(0, kernel.threads));
                let (executor, waiter) = CpuExecutor::start(
                    &kernel.name,
                    region.clone(),
                    handler,
                    init,
                    config.cpu_idle(),
                    config.host_max_sleep(),
                    Some(abandon),
                )?;
                Ok(Self::from_parts(
                    &kernel.name,
                    region,
                    Box::new(executor),
                    waiter,
                    Some(kernel.clone()),
                    &config,
                ))
            }
            DeviceInner::Cuda(cuda) => {
                let (region, executor) =
                    super::cuda_executor::start(cuda, &kernel, layout, init, &config)?;
                let waiter = Box::new(Polling::new(config.host_max_sleep()));
                Ok(Self::from_parts(
                    &kernel.name,
                    region,
                    executor,
                    waiter,
                    Some(kernel.clone()),
                    &config,
                ))
            }
        }
    }

    /// An actor whose handler is a Rust closure, run on a CPU executor
    /// thread over the same ring protocol. For tests and benchmarks of the
    /// protocol; kernels are started by their `spawn` glue.
    #[doc(hidden)]
    pub fn spawn_fn<F>(name: &str, init: S, config: RingConfig, handler: F) -> Result<Self>
    where
        F: FnMut(&mut S, M) -> R + Send + 'static,
    {
        Self::spawn_handler(
            name,
            init,
            config,
            Box::new(FnHandler::<S, M, R, F>::new(name, handler)),
        )
    }

    /// An actor over any byte-level handler on a CPU executor thread.
    #[doc(hidden)]
    pub fn spawn_handler(
        name: &str,
        init: S,
        config: RingConfig,
        handler: Box<dyn RingHandler>,
    ) -> Result<Self> {
        let layout = config.layout::<S, M, R>()?;
        let region = Arc::new(RawRegion::heap(layout, name)?);
        region.write_config(&layout.config_words(0, 1));
        let (executor, waiter) = CpuExecutor::start(
            name,
            region.clone(),
            handler,
            bytes_of(std::slice::from_ref(&init)),
            config.cpu_idle(),
            config.host_max_sleep(),
            None,
        )?;
        Ok(Self::from_parts(
            name,
            region,
            Box::new(executor),
            waiter,
            None,
            &config,
        ))
    }

    /// An actor over an executor started by `start`, which receives the
    /// zeroed region (its `config` written, with `threads` handler threads)
    /// and the bytes of the initial state. For executors outside this crate
    /// (host-compiled CUDA in tests). `kernel`, when given, names fault
    /// sites.
    #[doc(hidden)]
    pub fn spawn_with_executor(
        name: &str,
        init: S,
        config: RingConfig,
        threads: u32,
        kernel: Option<Arc<Kernel>>,
        start: impl FnOnce(Arc<RawRegion>, &[u8]) -> Result<Box<dyn Executor>>,
    ) -> Result<Self> {
        let layout = config.layout::<S, M, R>()?;
        let region = Arc::new(RawRegion::heap(layout, name)?);
        region.write_config(&layout.config_words(config.gpu_idle_ns(), threads));
        let executor = start(region.clone(), bytes_of(std::slice::from_ref(&init)))?;
        let waiter = Box::new(Polling::new(config.host_max_sleep()));
        Ok(Self::from_parts(
            name, region, executor, waiter, kernel, &config,
        ))
    }

    fn from_parts(
        name: &str,
        region: Arc<RawRegion>,
        executor: Box<dyn Executor>,
        waiter: Box<dyn Waiter>,
        kernel: Option<Arc<Kernel>>,
        config: &RingConfig,
    ) -> Self {
        let layout = *region.layout();
        Actor {
            session: HostSession::new(
                region,
                name.to_string(),
                layout,
                executor,
                kernel,
                waiter,
                config.timeout,
            )
            .with_shutdown_timeout(config.shutdown_timeout),
            _state: PhantomData,
        }
    }

    /// Sends `msg` and waits for its reply. Replies to messages sent
    /// earlier stay queued for [`recv`](Actor::recv), in order.
    pub fn call(&mut self, msg: M) -> Result<R> {
        self.session.call(&msg)
    }

    /// Sends `msg`, waiting (up to the timeout) for room in the request
    /// ring. While it waits it queues ready replies on the host, so sending
    /// many messages before receiving never deadlocks.
    pub fn send(&mut self, msg: M) -> Result<()> {
        self.session.send(&msg)
    }

    /// Sends `msg` if the request ring has room, else [`Error::Full`].
    pub fn try_send(&mut self, msg: M) -> Result<()> {
        self.session.try_send(&msg)
    }

    /// The reply to the oldest message not yet received, waiting up to the
    /// configured timeout ([`Error::Timeout`]). With no message in flight it
    /// returns [`Error::NothingInFlight`] at once. After a failure it still
    /// returns the replies published before it, then the failure.
    pub fn recv(&mut self) -> Result<R> {
        let timeout = self.session.timeout();
        self.session.recv_timeout(timeout)
    }

    /// Like [`recv`](Actor::recv), waiting up to `timeout`
    /// ([`Error::Timeout`] after it; [`Error::NothingInFlight`] at once when
    /// no message is in flight, since no reply can come).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<R> {
        self.session.recv_timeout(timeout)
    }

    /// The next reply if it is ready (`Ok(None)` if not). After a failure
    /// it returns the replies published before it, then the failure.
    pub fn try_recv(&mut self) -> Result<Option<R>> {
        self.session.try_recv()
    }

    /// [`call`](Actor::call) as a future: sends `msg` (waiting for room
    /// without blocking the thread) and resolves to its reply. Replies to
    /// messages sent earlier stay queued for [`recv`](Actor::recv), in
    /// order. Errors and the timeout are those of `call`.
    ///
    /// The future needs no particular async runtime, and the reply wakes
    /// its task at once (see the type's docs). It borrows the actor
    /// mutably, so one operation is outstanding per actor; it is `Send`.
    ///
    /// # Cancellation
    ///
    /// Dropping the future before its message went out (while it waits for
    /// room) sends nothing. Dropping it after leaves the message in flight:
    /// nothing is lost and order is kept — its reply is the one a later
    /// [`recv`](Actor::recv) (or `recv_async`, `try_recv`) returns once
    /// the replies to earlier messages have been received, and
    /// [`in_flight`](Actor::in_flight) counts it until then.
    pub async fn call_async(&mut self, msg: M) -> Result<R> {
        self.session.call_async(&msg).await
    }

    /// [`send`](Actor::send) as a future: resolves once `msg` is in the
    /// request ring, waiting for room (up to the timeout) without blocking
    /// the thread, queueing ready replies meanwhile. Dropped before it
    /// resolves, it sent nothing.
    pub async fn send_async(&mut self, msg: M) -> Result<()> {
        self.session.send_async(&msg).await
    }

    /// [`recv`](Actor::recv) as a future: the reply to the oldest message
    /// not yet received. Dropping it never loses that reply: a later
    /// receive returns it.
    pub async fn recv_async(&mut self) -> Result<R> {
        self.session.recv_async().await
    }

    /// Handles every message sent so far, stops the executor and returns
    /// the final state. Replies not yet received are discarded.
    ///
    /// The drain takes as long as those messages need: `shutdown` fails
    /// only when none of them is answered for
    /// [`RingConfig::shutdown_timeout`] (default 10 s, whatever the call
    /// timeout), and then the state is lost ([`Error::ActorStopped`]). A
    /// failed actor returns its failure.
    pub fn shutdown(mut self) -> Result<S> {
        self.session.shutdown::<S>()
    }

    /// Whether the actor runs, has failed (with the error every call now
    /// returns) or has stopped, as far as the host can tell now. Looking
    /// consumes nothing: the error stays for later calls, and the replies
    /// published before a failure stay for `recv`.
    ///
    /// `Running` includes a handler busy with a long message, or stuck in
    /// an endless loop (see the type's docs).
    pub fn status(&mut self) -> ActorStatus {
        self.session.status()
    }

    /// Slots per ring.
    pub fn capacity(&self) -> usize {
        self.session.capacity()
    }

    /// Messages sent whose replies have not been received yet.
    pub fn in_flight(&self) -> u64 {
        self.session.in_flight()
    }
}

impl<S: DeviceType, M: DeviceType, R: DeviceType> Drop for Actor<S, M, R> {
    fn drop(&mut self) {
        // A no-op after `shutdown`; otherwise stops without draining and
        // waits at most the timeout (leaking the region if it must).
        self.session.abort();
    }
}

impl<S: DeviceType, M: DeviceType, R: DeviceType> std::fmt::Debug for Actor<S, M, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("capacity", &self.session.capacity())
            .field("in_flight", &self.session.in_flight())
            .field("region", &self.session.memory())
            .finish()
    }
}

/// What an actor is doing, from [`Actor::status`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ActorStatus {
    /// The executor runs: handling messages or waiting for them.
    Running,
    /// The handler failed (a fault, a panic): every call returns this
    /// error once the replies published before it are received.
    Failed(Error),
    /// The executor stopped for another reason (it exited or died); why.
    Stopped(String),
}

/// Checks that a linked kernel is a ring handler `fn(&mut S, M) -> R`.
pub(crate) fn check_signature<S: DeviceType, M: DeviceType, R: DeviceType>(
    k: &Kernel,
) -> Result<()> {
    let err = |param: &str, message: String| Error::Argument {
        kernel: k.name.clone(),
        param: param.to_string(),
        message,
    };
    if k.mode != KernelMode::Ring {
        return Err(err(
            "",
            format!("`{}` is a {} kernel, not a ring kernel", k.name, k.mode),
        ));
    }
    let params = &k.entry.params;
    let mismatch = |what: &str, ty: &Ty, desc: &TypeDesc| {
        err(
            what,
            format!(
                "expected `{}`, the actor was spawned with `{}`",
                k.ty_name(ty),
                desc.rust_name()
            ),
        )
    };
    let [state, msg] = params.as_slice() else {
        return Err(err(
            "",
            format!(
                "a ring handler takes (state, message), this one takes {} parameters",
                params.len()
            ),
        ));
    };
    match &state.kind {
        ParamKind::StateRef(ty) if desc_matches(k, ty, &S::DESC) => {}
        ParamKind::StateRef(ty) => return Err(mismatch(&state.name, ty, &S::DESC)),
        _ => {
            return Err(err(
                &state.name,
                "the first parameter of a ring handler must be `&mut S`".into(),
            ))
        }
    }
    match &msg.kind {
        ParamKind::Value(ty) if desc_matches(k, ty, &M::DESC) => {}
        ParamKind::Value(ty) => return Err(mismatch(&msg.name, ty, &M::DESC)),
        _ => {
            return Err(err(
                &msg.name,
                "the second parameter of a ring handler must be the message".into(),
            ))
        }
    }
    if !desc_matches(k, &k.entry.ret, &R::DESC) {
        return Err(mismatch("return value", &k.entry.ret, &R::DESC));
    }
    if k.threads == 0 || k.threads > spindle_codegen::ir::MAX_RING_THREADS {
        return Err(err(
            "",
            format!(
                "threads = {} is outside 1..={}",
                k.threads,
                spindle_codegen::ir::MAX_RING_THREADS
            ),
        ));
    }
    Ok(())
}
