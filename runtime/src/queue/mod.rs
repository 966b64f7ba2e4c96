//! [`Queue`]: launches that return before they run, in order, with the
//! buffers ordering work across queues; and [`Graph`]: a recorded list of
//! launches replayed as one.
//!
//! A queue is a CUDA stream on a GPU (`crate::cuda::QueueStream`) and a
//! worker thread on the CPU backend (`cpu.rs`), with the same observable
//! behaviour:
//! - launches on one queue run in the order they were queued;
//! - a buffer orders the launches of every queue that use it (`order.rs`):
//!   a read runs after the last write, a write after every earlier access;
//!   host reads and writes of a buffer wait for its pending work;
//! - a launch's fault is recorded with the launch; the queue's next
//!   [`Queue::sync`], or the host read that waits for the launch, reports
//!   the first fault not reported yet, naming the kernel. Later launches
//!   still run and the queue stays usable.
//!
//! What can be checked before a launch runs — linking, compiling, the
//! launch geometry, arguments on another device — is checked when it is
//! queued and returned from `enqueue` (the launch is then not queued).

mod cpu;
mod graph;
pub(crate) mod order;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use smallvec::SmallVec;

use spindle_codegen::ir::Kernel;
use spindle_codegen::layout::TypeDesc;

pub use graph::Graph;
#[doc(hidden)]
pub use order::Storage;

use crate::device::DeviceInner;
use crate::kernel::{KernelArg, KernelInfo};
use crate::{Device, Error, Launch, Result};
use order::{order_lock, Deps, Timeline};

/// An in-order queue of launches on one device: `name::enqueue(&q, …)`
/// returns before the kernel runs; [`Queue::sync`] waits for everything
/// queued and reports the first fault since the last sync.
///
/// ```
/// use spindle_runtime::Device;
/// let dev = Device::cpu();
/// let q = dev.queue().unwrap();
/// q.sync().unwrap(); // nothing queued: returns at once
/// ```
///
/// A queue may be shared between threads (`&Queue` is `Send`); launches
/// queued from several threads run in the order they were queued. Dropping
/// a queue does not wait: what was queued still runs.
pub struct Queue {
    core: Arc<QueueCore>,
}

/// What a queue is made of.
pub(crate) struct QueueCore {
    device: Device,
    line: Arc<Timeline>,
    engine: Engine,
}

/// How a queue runs its launches.
enum Engine {
    /// The CPU backend's worker thread.
    Cpu(cpu::Worker),
    /// A GPU stream of the queue's own.
    Cuda(Arc<crate::cuda::QueueStream>),
    /// Inside [`Queue::record`]: launches are kept, not run.
    Record(Mutex<Vec<QueuedLaunch>>),
}

/// An argument a queued launch owns: a value's bytes, or a share of a
/// buffer's memory (which keeps it alive until the launch has run).
#[derive(Clone)]
pub(crate) enum OwnedArg {
    Value {
        desc: &'static TypeDesc,
        bytes: Vec<u8>,
    },
    Slice {
        desc: &'static TypeDesc,
        mem: Arc<Storage>,
        len: usize,
        write: bool,
    },
}

impl OwnedArg {
    fn new(a: &KernelArg<'_>) -> OwnedArg {
        match a {
            KernelArg::Value { desc, bytes } => OwnedArg::Value {
                desc,
                bytes: bytes.clone(),
            },
            KernelArg::Slice { desc, mem, len } => OwnedArg::Slice {
                desc,
                mem: Arc::clone(mem),
                len: *len,
                write: false,
            },
            KernelArg::SliceMut { desc, mem, len } => OwnedArg::Slice {
                desc,
                mem: Arc::clone(mem),
                len: *len,
                write: true,
            },
        }
    }

    fn borrow(&self) -> KernelArg<'_> {
        match self {
            OwnedArg::Value { desc, bytes } => KernelArg::Value {
                desc,
                bytes: bytes.clone(),
            },
            OwnedArg::Slice {
                desc,
                mem,
                len,
                write: false,
            } => KernelArg::Slice {
                desc,
                mem,
                len: *len,
            },
            OwnedArg::Slice { desc, mem, len, .. } => KernelArg::SliceMut {
                desc,
                mem,
                len: *len,
            },
        }
    }
}

/// One launch as queued or recorded, with everything it needs to run.
#[derive(Clone)]
pub(crate) struct QueuedLaunch {
    info: &'static KernelInfo,
    kernel: Arc<Kernel>,
    launch: Launch,
    args: Vec<OwnedArg>,
}

impl QueuedLaunch {
    /// Orders this launch, numbered `seq` on `line`, after the buffer
    /// accesses it conflicts with; returns the dependencies on other
    /// queues. Called under [`order_lock`].
    fn order(&self, line: &Arc<Timeline>, seq: u64) -> Deps {
        let mut deps = Deps::new();
        for a in &self.args {
            if let OwnedArg::Slice { mem, write, .. } = a {
                mem.order(line, seq, *write, &mut deps);
            }
        }
        deps
    }
}

impl Device {
    /// A new in-order queue on this device: a CUDA stream of its own on a
    /// GPU, a worker thread on the CPU backend.
    ///
    /// # Errors
    ///
    /// The stream or thread cannot be created.
    pub fn queue(&self) -> Result<Queue> {
        let (line, engine) = match &*self.inner {
            DeviceInner::Cpu(_) => {
                let line = Arc::new(Timeline::new());
                let worker = cpu::Worker::start(line.clone())?;
                (line, Engine::Cpu(worker))
            }
            DeviceInner::Cuda(c) => {
                let stream = crate::cuda::QueueStream::new(&c.gpu)?;
                (
                    Arc::new(Timeline::for_stream(stream.clone())),
                    Engine::Cuda(stream),
                )
            }
        };
        Ok(Queue {
            core: Arc::new(QueueCore {
                device: self.clone(),
                line,
                engine,
            }),
        })
    }
}

impl Queue {
    /// The device this queue runs on.
    pub fn device(&self) -> &Device {
        &self.core.device
    }

    /// Waits until everything queued so far has run. Returns the first
    /// fault of those launches not reported yet (by an earlier `sync` or a
    /// host read that waited for it), naming the kernel; the queue stays
    /// usable either way.
    ///
    /// # Errors
    ///
    /// A launch's fault as above, or [`Error::Queue`] inside
    /// [`Queue::record`] (a recorded list does not run until replayed).
    pub fn sync(&self) -> Result<()> {
        let line = &self.core.line;
        if let Engine::Record(_) = self.core.engine {
            return Err(Error::Queue(
                "`sync` inside `Queue::record`: the recorded launches run when the graph \
                 is launched; sync after `Graph::launch` instead"
                    .into(),
            ));
        }
        line.wait_done(line.last_issued())?;
        line.take_fault(u64::MAX).map_or(Ok(()), Err)
    }

    /// Queues a batch launch: the `name::enqueue` glue that
    /// `#[kernel(mode = "batch")]` generates calls it (through
    /// `__private::enqueue_batch`).
    pub(crate) fn enqueue_batch(
        &self,
        info: &'static KernelInfo,
        launch: Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        let kernel = info.linked()?;
        launch.validate(info.name)?;
        crate::device::check_args(&kernel, args, &self.core.device)?;
        if !kernel.mode.is_batch() {
            return Err(Error::Unsupported(format!(
                "kernel `{}` is a ring kernel: start it with `{}::spawn`, not a batch launch",
                kernel.name, kernel.name
            )));
        }
        self.core.submit(QueuedLaunch {
            info,
            kernel,
            launch,
            args: args.iter().map(OwnedArg::new).collect(),
        })
    }

    /// Records the launches `f` queues on the queue it is given (they do
    /// not run) into a [`Graph`], which [`Graph::launch`] replays, in
    /// order, on any queue of this device, as often as wanted. The graph
    /// keeps the buffers its launches use alive; replaying it is ordered
    /// with other work on their buffers like the launches themselves.
    ///
    /// # Errors
    ///
    /// What `f` returns; on a GPU, what the driver refuses when the CUDA
    /// graph is built (nothing is recorded then).
    pub fn record<F>(&self, f: F) -> Result<Graph>
    where
        F: FnOnce(&Queue) -> Result<()>,
    {
        let rec = Queue {
            core: Arc::new(QueueCore {
                device: self.core.device.clone(),
                line: Arc::new(Timeline::new()),
                engine: Engine::Record(Mutex::new(Vec::new())),
            }),
        };
        f(&rec)?;
        let Engine::Record(list) = &rec.core.engine else {
            unreachable!("a recording queue records")
        };
        let launches = std::mem::take(&mut *list.lock().unwrap_or_else(|e| e.into_inner()));
        Graph::new(self.core.device.clone(), launches)
    }
}

impl QueueCore {
    /// Queues (or records) one checked launch.
    fn submit(&self, l: QueuedLaunch) -> Result<()> {
        self.submit_all(vec![l])
    }

    /// Queues (or records) checked launches, in order.
    fn submit_all(&self, launches: Vec<QueuedLaunch>) -> Result<()> {
        match (&self.engine, &*self.device.inner) {
            (Engine::Record(list), _) => {
                list.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(launches);
                Ok(())
            }
            (Engine::Cpu(worker), DeviceInner::Cpu(dev)) => {
                // Everything that can fail, before anything is queued.
                let prepared = launches
                    .iter()
                    .map(|l| dev.prepare(&l.kernel, &l.launch))
                    .collect::<Result<Vec<_>>>()?;
                let _order = order_lock();
                for (l, prepared) in launches.into_iter().zip(prepared) {
                    let seq = self.line.issue();
                    let deps = l.order(&self.line, seq);
                    worker.send(cpu::Job {
                        seq,
                        deps,
                        kernel: l.kernel.name.clone(),
                        run: Box::new(move || {
                            let mut args: Vec<KernelArg<'_>> =
                                l.args.iter().map(OwnedArg::borrow).collect();
                            prepared.run(&l.kernel, &l.launch, &mut args).err()
                        }),
                    });
                }
                Ok(())
            }
            (Engine::Cuda(stream), DeviceInner::Cuda(dev)) => {
                let loaded = launches
                    .iter()
                    .map(|l| dev.prepare(l.info, &l.kernel, &l.launch))
                    .collect::<Result<Vec<_>>>()?;
                let _order = order_lock();
                for (l, loaded) in launches.iter().zip(&loaded) {
                    let mut deps = Deps::new();
                    for a in &l.args {
                        if let OwnedArg::Slice { mem, write, .. } = a {
                            mem.conflicts(&self.line, *write, &mut deps);
                        }
                    }
                    let args: Vec<KernelArg<'_>> = l.args.iter().map(OwnedArg::borrow).collect();
                    let seq =
                        stream.launch(&self.line, &deps, &l.kernel, loaded, &l.launch, &args)?;
                    for a in &l.args {
                        if let OwnedArg::Slice { mem, write, .. } = a {
                            mem.record(&self.line, seq, *write);
                        }
                    }
                }
                Ok(())
            }
            (Engine::Cpu(_) | Engine::Cuda(_), _) => Err(Error::Queue(
                "a queue on a device of another backend than its own".into(),
            )),
        }
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("device", &self.core.device.name())
            .field("queued", &self.core.line.last_issued())
            .finish()
    }
}

/// Makes a synchronous launch wait for the queued work on its buffers that
/// it conflicts with, and launches queued meanwhile that conflict with it
/// wait until the returned access is dropped — after the launch, which
/// runs at once (on the calling thread, or the device's own stream and
/// waited for). Faults of the queued work are left for their queue's
/// `sync`.
pub(crate) fn wait_for_args(args: &[KernelArg<'_>]) -> Result<order::HostAccess> {
    let mems: SmallVec<[(&Storage, bool); 8]> = args
        .iter()
        .filter_map(|a| match a {
            KernelArg::Value { .. } => None,
            KernelArg::Slice { mem, .. } => Some((&***mem, false)),
            KernelArg::SliceMut { mem, .. } => Some((&***mem, true)),
        })
        .collect();
    order::host_access(&mems, false)
}
