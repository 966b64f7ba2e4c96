//! [`ActorGroup`]: thousands of actors of one ring kernel in one executor,
//! and [`GroupConfig`], how it is set up.

use std::marker::PhantomData;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::group_layout::GroupLayout;

use super::actor::{check_signature, ActorStatus};
use super::config::{shape, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TIMEOUT};
use super::cpu_executor::FnHandler;
use super::executor::RingHandler;
use super::group_cpu::{CpuGroup, HandlerFactory};
use super::group_executor::write_group_config;
use super::group_host::GroupSession;
use super::memory::RawBytes;
use super::wait::Polling;
use crate::device::DeviceInner;
use crate::kernel::KernelInfo;
use crate::types::{bytes_of, DeviceType};
use crate::{Device, Error, Result};

/// Default slots per ring of each actor of a group.
pub const DEFAULT_GROUP_CAPACITY: usize = 16;
/// Default most bytes a group's region may take.
pub const DEFAULT_GROUP_MAX_BYTES: usize = 1 << 30;

/// Settings for an [`ActorGroup`] (a ring kernel's `spawn_group_with`).
///
/// ```
/// # use spindle_runtime as spindle;
/// use spindle::GroupConfig;
/// let config = GroupConfig::default().capacity(32).workers(4);
/// assert_eq!(config.slots(), 32);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    capacity: usize,
    workers: Option<usize>,
    timeout: Duration,
    shutdown_timeout: Duration,
    idle_sleep: Option<Duration>,
    max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            capacity: DEFAULT_GROUP_CAPACITY,
            workers: None,
            timeout: DEFAULT_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            idle_sleep: None,
            max_bytes: DEFAULT_GROUP_MAX_BYTES,
        }
    }
}

impl GroupConfig {
    /// Slots per ring of each actor (request and reply rings alike): a
    /// power of two between 1 and 2²⁰. Default 16: an actor takes up to
    /// 16 pipelined messages before `send` waits. Every slot costs memory
    /// for each actor (see [`ActorGroup`]).
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = slots;
        self
    }

    /// Executors serving the group: worker threads on the CPU backend
    /// (default: the cores available), blocks of its persistent kernel on
    /// a GPU (default: one per multiprocessor). Never more than the
    /// actors. On a GPU every block must be resident at once: a count the
    /// GPU cannot hold is refused with [`Error::InvalidLaunch`].
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// How long a host wait lasts before [`Error::Timeout`] (as
    /// [`RingConfig::timeout`](crate::RingConfig::timeout)). Default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long `shutdown` waits for the drain to make progress (as
    /// [`RingConfig::shutdown_timeout`](crate::RingConfig::shutdown_timeout)).
    /// Default 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How an idle worker waits (as
    /// [`RingConfig::idle_sleep`](crate::RingConfig::idle_sleep) on the
    /// CPU backend): by default it spins briefly, then sleeps until a
    /// message for one of its actors wakes it.
    pub fn idle_sleep(mut self, sleep: Duration) -> Self {
        self.idle_sleep = Some(sleep);
        self
    }

    /// The most bytes the group's rings and states may take; a larger
    /// group is refused with [`Error::Config`] before anything is
    /// allocated. Default 1 GiB.
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The configured slots per ring.
    pub fn slots(&self) -> usize {
        self.capacity
    }

    /// Checks the settings that do not depend on the group's types.
    pub fn validate(&self) -> Result<()> {
        super::config::check_waits(
            "GroupConfig",
            self.capacity,
            self.timeout,
            self.shutdown_timeout,
        )?;
        if self.workers == Some(0) {
            return Err(Error::Config(
                "GroupConfig::workers(0): a group needs at least one worker".into(),
            ));
        }
        Ok(())
    }

    /// The region of `actors` actors of types `S`, `M`, `R` on `workers`
    /// workers, checked against [`max_bytes`](GroupConfig::max_bytes).
    fn layout<S: DeviceType, M: DeviceType, R: DeviceType>(
        &self,
        kernel: &str,
        actors: usize,
        workers: usize,
    ) -> Result<GroupLayout> {
        self.validate()?;
        let layout = GroupLayout::new(
            actors,
            workers,
            self.capacity,
            shape::<M>(),
            shape::<R>(),
            shape::<S>(),
        )
        .map_err(|e| Error::Config(format!("actor group `{kernel}`: {e}")))?;
        if layout.total_size > self.max_bytes {
            return Err(Error::Config(format!(
                "actor group `{kernel}`: {actors} actors with {}-slot rings need {} bytes \
                 ({} bytes per actor), more than the limit of {} bytes; use fewer actors, \
                 smaller rings (GroupConfig::capacity), or raise GroupConfig::max_bytes",
                self.capacity,
                layout.total_size,
                layout.bytes_per_actor(),
                self.max_bytes
            )));
        }
        Ok(layout)
    }

    /// Workers for `actors` actors.
    fn worker_count(&self, actors: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.workers.unwrap_or(cores).clamp(1, actors.max(1))
    }

    /// The GPU blocks' longest idle back-off sleep, in nanoseconds.
    fn gpu_idle_ns(&self) -> u32 {
        let ring = super::config::RingConfig::default();
        match self.idle_sleep {
            Some(d) => ring.idle_sleep(d),
            None => ring,
        }
        .gpu_idle_ns()
    }

    fn host_max_sleep(&self) -> Duration {
        (self.timeout / 100).clamp(Duration::from_micros(10), Duration::from_millis(10))
    }
}

/// Many actors of one ring kernel — thousands — served by one executor: a
/// fixed pool of worker threads on the CPU backend, one persistent kernel
/// on a GPU (its blocks share the actors). Actor `i` holds state
/// `S`, takes messages `M` and answers each with a reply `R`, in order,
/// exactly as an [`Actor`](crate::Actor) does, through its own pair of
/// rings.
///
/// Made by the `spawn_group` glue of a `#[kernel(mode = "ring")]`
/// function. Actors are addressed by index (`0..len()`); an index out of
/// range is an [`Error::Argument`] and changes nothing.
///
/// - **Fair**: each worker (GPU block) visits its actors round-robin and
///   takes at most one batch (up to 32 messages) per actor per visit, so an actor
///   flooded with messages delays the others by at most one batch each
///   round; it never starves them.
/// - **Isolated faults**: a handler fault (an index out of bounds, a
///   panic) fails only its actor: the replies to the messages it handled
///   before are still received, then every call on that actor returns
///   [`Error::GroupActor`] naming the actor and the fault. The others keep
///   running. (On a GPU the fault ends the threads of the block that ran
///   the handler; the host launches that block again for its other
///   actors, with nothing lost.)
/// - **Memory**: every actor takes 256 bytes of control lines, its two
///   rings (`capacity` slots each; a slot is 8 bytes of header plus the
///   message or reply, rounded up to 8, each ring rounded up to 128 bytes)
///   and its state: 776 bytes for 16-slot rings of 4-byte messages and
///   8-byte replies and states, so 10 000 such actors take 7.8 MB.
///   [`GroupConfig::max_bytes`] bounds it (1 GiB by default).
///
/// On a GPU a group is one kernel among the 127 spindle runs at once, so a
/// program can hold 10 000 actors where single actors stop at 127; the
/// states live in device memory and the rings in mapped pinned memory.
///
/// # Async
///
/// [`call_async`](ActorGroup::call_async),
/// [`send_async`](ActorGroup::send_async),
/// [`recv_async`](ActorGroup::recv_async) and
/// [`recv_any_async`](ActorGroup::recv_any_async) are the same operations
/// as futures, exactly as an [`Actor`](crate::Actor)'s are: same checks,
/// order, errors (a bad index, [`Error::GroupActor`] for a failed actor)
/// and timeout ([`GroupConfig::timeout`]), under any async runtime. On the
/// CPU backend the worker that publishes a reply wakes the waiting task;
/// on a GPU the process's ring watcher thread polls, while a future waits,
/// what it waits for (its actor's rings, or every busy actor's reply ring
/// for `recv_any_async`). The futures borrow the group mutably — one
/// operation at a time: serve a group from one task (or share it through
/// an async mutex) — and are `Send`. A dropped future loses nothing; see
/// [`call_async`](ActorGroup::call_async) for what a later receive returns.
/// `shutdown` and drop stay blocking.
pub struct ActorGroup<S: DeviceType, M: DeviceType, R: DeviceType> {
    session: GroupSession<RawBytes, M, R>,
    _state: PhantomData<fn() -> S>,
}

impl<S: DeviceType, M: DeviceType, R: DeviceType> ActorGroup<S, M, R> {
    /// Starts the ring kernel `info` on `dev` as a group, one actor per
    /// initial state: what the `spawn_group` glue calls.
    pub(crate) fn spawn_kernel(
        dev: &Device,
        info: &'static KernelInfo,
        inits: Vec<S>,
        config: GroupConfig,
    ) -> Result<Self> {
        let kernel = info.linked()?;
        check_signature::<S, M, R>(&kernel)?;
        spindle_codegen::ring::check_ring_kernel(&kernel).map_err(|message| Error::Link {
            kernel: kernel.name.clone(),
            message,
        })?;
        match &*dev.inner {
            DeviceInner::Cpu(cpu) => {
                // Compiled once here (errors now, not in a worker).
                cpu.ring_handler(&kernel)?;
                let abandon = Arc::new(AtomicBool::new(false));
                let (dev, k, flag) = (dev.clone(), kernel.clone(), abandon.clone());
                let make: HandlerFactory = Arc::new(move || {
                    let DeviceInner::Cpu(cpu) = &*dev.inner else {
                        unreachable!("a CPU group's device is the CPU backend")
                    };
                    let h = cpu.ring_handler(&k)?.stopped_by(flag.clone());
                    Ok(Box::new(h) as Box<dyn RingHandler>)
                });
                Self::start_cpu(
                    &kernel.name,
                    Some(kernel.clone()),
                    inits,
                    config,
                    make,
                    Some(abandon),
                    kernel.threads,
                )
            }
            DeviceInner::Cuda(cuda) => Self::start_cuda(cuda, &kernel, inits, config),
        }
    }

    /// The group as one persistent kernel on a GPU (`group_cuda`).
    fn start_cuda(
        cuda: &crate::cuda::CudaDevice,
        kernel: &Arc<Kernel>,
        inits: Vec<S>,
        config: GroupConfig,
    ) -> Result<Self> {
        config.validate()?;
        let name = &kernel.name;
        let actors = inits.len();
        let blocks = match config.workers {
            Some(w) => w.clamp(1, actors.max(1)),
            None => super::group_cuda::default_blocks(&cuda.gpu, actors)?,
        };
        let layout = config.layout::<S, M, R>(name, actors, blocks)?;
        let lease = cuda.gpu.mapped(layout.total_size)?;
        let (host, device) = (lease.block().host(), lease.block().device());
        // SAFETY: `host` points to at least `total_size` zeroed, page-aligned
        // bytes of pinned memory that stay valid while the lease (the
        // region's owner) lives; only the protocol touches them.
        let region =
            Arc::new(unsafe { RawBytes::external(host, layout.total_size, Box::new(lease)) });
        let executor = super::group_cuda::start(
            cuda,
            kernel,
            &region,
            device,
            &layout,
            bytes_of(&inits),
            config.gpu_idle_ns(),
            config.timeout,
        )?;
        Ok(ActorGroup {
            session: GroupSession::new(
                region,
                name.clone(),
                layout,
                Box::new(executor),
                Some(kernel.clone()),
                Box::new(Polling::new(config.host_max_sleep())),
                config.timeout,
                config.shutdown_timeout,
            ),
            _state: PhantomData,
        })
    }

    /// A group whose handler is a Rust closure, on CPU worker threads over
    /// the same protocol. For tests and benchmarks of the protocol.
    #[doc(hidden)]
    pub fn spawn_fn<F>(name: &str, inits: Vec<S>, config: GroupConfig, handler: F) -> Result<Self>
    where
        F: Fn(&mut S, M) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(handler);
        let label = name.to_string();
        let make: HandlerFactory = Arc::new(move || {
            let f = f.clone();
            let h = FnHandler::<S, M, R, _>::new(&label, move |s: &mut S, m: M| f(s, m));
            Ok(Box::new(h) as Box<dyn RingHandler>)
        });
        Self::start_cpu(name, None, inits, config, make, None, 1)
    }

    /// [`spawn_fn`](Self::spawn_fn) with the host waiting as it does for
    /// a GPU group, which cannot ring the host: its futures are woken by
    /// the ring watcher's probes (that path, tested on any machine).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn spawn_fn_polling<F>(
        name: &str,
        inits: Vec<S>,
        config: GroupConfig,
        handler: F,
    ) -> Result<Self>
    where
        F: Fn(&mut S, M) -> R + Send + Sync + 'static,
    {
        let max_sleep = config.host_max_sleep();
        let mut group = Self::spawn_fn(name, inits, config, handler)?;
        group.session.set_waiter(Box::new(Polling::new(max_sleep)));
        Ok(group)
    }

    fn start_cpu(
        name: &str,
        ir: Option<Arc<Kernel>>,
        inits: Vec<S>,
        config: GroupConfig,
        make: HandlerFactory,
        abandon: Option<Arc<AtomicBool>>,
        threads: u32,
    ) -> Result<Self> {
        let workers = config.worker_count(inits.len());
        let layout = config.layout::<S, M, R>(name, inits.len(), workers)?;
        let region = Arc::new(RawBytes::heap(layout.total_size, || {
            format!(
                "the rings of actor group `{name}` ({} actors)",
                layout.actors
            )
        })?);
        write_group_config(&*region, &layout, 0, threads);
        let (executor, waiter) = CpuGroup::start(
            name,
            region.clone(),
            layout,
            make,
            bytes_of(&inits),
            config.idle_sleep,
            config.host_max_sleep(),
            abandon,
        )?;
        Ok(ActorGroup {
            session: GroupSession::new(
                region,
                name.to_string(),
                layout,
                Box::new(executor),
                ir,
                waiter,
                config.timeout,
                config.shutdown_timeout,
            ),
            _state: PhantomData,
        })
    }

    /// Sends `msg` to actor `i` and waits for its reply. Replies to
    /// messages sent to `i` earlier stay queued for [`recv`](Self::recv).
    pub fn call(&mut self, i: usize, msg: M) -> Result<R> {
        let a = self.session.actor(i)?;
        self.session.call(a, &msg)
    }

    /// Sends `msg` to actor `i`, waiting (up to the timeout) for room in
    /// its request ring.
    pub fn send(&mut self, i: usize, msg: M) -> Result<()> {
        let a = self.session.actor(i)?;
        self.session.send(a, &msg)
    }

    /// Sends `msg` to actor `i` if its request ring has room, else
    /// [`Error::Full`].
    pub fn try_send(&mut self, i: usize, msg: M) -> Result<()> {
        let a = self.session.actor(i)?;
        self.session.try_send(a, &msg)
    }

    /// Actor `i`'s reply to its oldest message not yet received, waiting
    /// up to the timeout ([`Error::NothingInFlight`] at once when none is
    /// in flight).
    pub fn recv(&mut self, i: usize) -> Result<R> {
        let a = self.session.actor(i)?;
        let timeout = self.session.timeout();
        self.session.recv_timeout(a, timeout)
    }

    /// Like [`recv`](Self::recv), waiting up to `timeout`.
    pub fn recv_timeout(&mut self, i: usize, timeout: Duration) -> Result<R> {
        let a = self.session.actor(i)?;
        self.session.recv_timeout(a, timeout)
    }

    /// Actor `i`'s next reply if it is ready (`Ok(None)` if not).
    pub fn try_recv(&mut self, i: usize) -> Result<Option<R>> {
        let a = self.session.actor(i)?;
        self.session.try_recv(a)
    }

    /// The next reply from any actor, with the actor's index, waiting up
    /// to the timeout. Each actor's replies still come in its send order;
    /// actors with replies ready are taken round-robin. An actor that
    /// failed is reported once, as [`Error::GroupActor`] (its requests in
    /// flight are never answered), and then left out.
    /// [`Error::NothingInFlight`] at once when no actor has a message in
    /// flight.
    pub fn recv_any(&mut self) -> Result<(usize, R)> {
        let timeout = self.session.timeout();
        self.session.recv_any_timeout(timeout)
    }

    /// Like [`recv_any`](Self::recv_any), waiting up to `timeout`.
    pub fn recv_any_timeout(&mut self, timeout: Duration) -> Result<(usize, R)> {
        self.session.recv_any_timeout(timeout)
    }

    /// The next reply from any actor if one is ready.
    pub fn try_recv_any(&mut self) -> Result<Option<(usize, R)>> {
        self.session.try_recv_any()
    }

    /// [`call`](Self::call) as a future: sends `msg` to actor `i` (waiting
    /// for room without blocking the thread) and resolves to its reply.
    /// Replies to messages sent to `i` earlier stay queued for
    /// [`recv`](Self::recv), in order. Errors and the timeout are those of
    /// `call`; the future is `Send` and needs no particular async runtime
    /// (see the type's docs).
    ///
    /// # Cancellation
    ///
    /// Dropping the future before its message went out (while it waits for
    /// room) sends nothing. Dropping it after leaves the message in flight:
    /// nothing is lost and order is kept — its reply is the one a later
    /// [`recv`](Self::recv) of actor `i` (or `recv_async`, `try_recv`)
    /// returns once `i`'s replies to earlier messages have been received,
    /// or that [`recv_any`](Self::recv_any) returns in its turn;
    /// [`in_flight`](Self::in_flight) counts it until then.
    pub async fn call_async(&mut self, i: usize, msg: M) -> Result<R> {
        let a = self.session.actor(i)?;
        self.session.call_async(a, &msg).await
    }

    /// [`send`](Self::send) as a future: resolves once `msg` is in actor
    /// `i`'s request ring, waiting for room (up to the timeout) without
    /// blocking the thread. Dropped before it resolves, it sent nothing.
    pub async fn send_async(&mut self, i: usize, msg: M) -> Result<()> {
        let a = self.session.actor(i)?;
        self.session.send_async(a, &msg).await
    }

    /// [`recv`](Self::recv) as a future: actor `i`'s reply to its oldest
    /// message not yet received. Dropping it never loses that reply: a
    /// later receive returns it.
    pub async fn recv_async(&mut self, i: usize) -> Result<R> {
        let a = self.session.actor(i)?;
        self.session.recv_async(a).await
    }

    /// [`recv_any`](Self::recv_any) as a future: the next reply from any
    /// actor, with the actor's index; each actor's replies in its send
    /// order, a failed actor reported once as [`Error::GroupActor`].
    /// Dropping it never loses a reply.
    pub async fn recv_any_async(&mut self) -> Result<(usize, R)> {
        self.session.recv_any_async().await
    }

    /// Handles every message sent so far, stops the executor and returns
    /// every actor's final state, in index order. A failed actor's state
    /// is the one its handler left when it failed. Replies not yet
    /// received are discarded. Fails (and the states are lost) only when
    /// the executor answers none of the outstanding messages for
    /// [`GroupConfig::shutdown_timeout`].
    pub fn shutdown(mut self) -> Result<Vec<S>> {
        self.session.shutdown::<S>()
    }

    /// Whether actor `i` runs or has failed (with the error every call
    /// on it now returns). Looking consumes nothing.
    pub fn status(&mut self, i: usize) -> Result<ActorStatus> {
        let a = self.session.actor(i)?;
        Ok(match self.session.failure(a) {
            None => ActorStatus::Running,
            Some(e) => ActorStatus::Failed(e),
        })
    }

    /// Actors in the group.
    pub fn len(&self) -> usize {
        self.session.len()
    }

    /// Whether the group has no actors (never: a group of none is refused).
    pub fn is_empty(&self) -> bool {
        self.session.len() == 0
    }

    /// Slots per ring of each actor.
    pub fn capacity(&self) -> usize {
        self.session.capacity()
    }

    /// Bytes of rings and control words per actor (its share of the
    /// region, states included).
    pub fn bytes_per_actor(&self) -> usize {
        self.session.layout().bytes_per_actor()
    }

    /// Messages sent to actor `i` whose replies have not been received.
    pub fn in_flight(&self, i: usize) -> Result<u64> {
        let a = self.session.actor(i)?;
        Ok(self.session.in_flight(a))
    }
}

impl<S: DeviceType, M: DeviceType, R: DeviceType> Drop for ActorGroup<S, M, R> {
    fn drop(&mut self) {
        self.session.abort();
    }
}

impl<S: DeviceType, M: DeviceType, R: DeviceType> std::fmt::Debug for ActorGroup<S, M, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorGroup")
            .field("actors", &self.session.len())
            .field("capacity", &self.session.capacity())
            .finish()
    }
}
