//! A recorded graph on a GPU ([`CudaGraph`]): a CUDA graph with one kernel
//! node per recorded launch, in a chain, replayed with one `cuGraphLaunch`.
//!
//! - **Nodes** are built from the recorded launches as `cuLaunchKernel`
//!   would take them (`super::launch::ArgPack`): the same arguments, each
//!   node with the fault record of its own in a block of mapped pinned
//!   memory that belongs to the instantiated graph ([`Exec`]).
//! - **Faults** are read like a queue's (`super::queue`): a replay is one
//!   entry of the queue's unread list; when the host waits for it, the
//!   records are read in node order and the first fault is reported,
//!   naming its kernel.
//! - **Replays in flight.** A replay writes its instantiation's records, so
//!   an instantiation is replayed again only after the host read the last
//!   replay's records. Up to [`MAX_EXECS`] instantiations of one graph are
//!   made, as needed: replaying a graph back to back runs up to that many
//!   replays ahead of the GPU before the host waits for the oldest.
//! - **Buffers** stay alive with the graph (`crate::queue::Graph` owns its
//!   launches' arguments); a replay is ordered with other work on them like
//!   one launch that uses every buffer of the graph.

use std::sync::{Arc, Mutex, MutexGuard, Weak};

use cudarc::driver::result;
use cudarc::driver::sys;
use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::Kernel;

use super::context::Gpu;
use super::driver::cuda_error;
use super::faults::take_record;
use super::launch::ArgPack;
use super::modules::LoadedKernel;
use super::pinned::MappedLease;
use crate::kernel::KernelArg;
use crate::queue::order::Timeline;
use crate::{Error, Launch, Result};

/// The most instantiations one graph has at once.
pub(crate) const MAX_EXECS: usize = 4;
/// Bytes between a graph's fault records (a record is 56 bytes).
const STRIDE: usize = 64;

/// One recorded launch, ready to become a node.
pub(crate) struct Node<'a> {
    pub(crate) kernel: &'a Arc<Kernel>,
    pub(crate) loaded: &'a LoadedKernel,
    pub(crate) launch: &'a Launch,
    pub(crate) args: Vec<KernelArg<'a>>,
}

/// A graph's instantiations on one GPU.
pub(crate) struct CudaGraph {
    gpu: Arc<Gpu>,
    execs: Mutex<Vec<Arc<Exec>>>,
}

/// One instantiated graph with its fault records.
pub(crate) struct Exec {
    exec: sys::CUgraphExec,
    records: MappedLease,
    /// The kernel of each node, in node order.
    kernels: Vec<Arc<Kernel>>,
    /// The replay whose records are unread: its queue's timeline and
    /// number. Weak: the queue's unread list holds this `Exec`.
    pending: Mutex<Option<(Weak<Timeline>, u64)>>,
}

// SAFETY: the handle is used only through the driver, which allows any
// thread with the context current; `pending` guards who replays it.
unsafe impl Send for Exec {}
// SAFETY: as above; the handle itself is never mutated.
unsafe impl Sync for Exec {}

impl CudaGraph {
    /// An empty set of instantiations; the first is made by
    /// [`CudaGraph::exec_for_replay`] (or [`CudaGraph::check`]).
    pub(crate) fn new(gpu: &Arc<Gpu>) -> CudaGraph {
        CudaGraph {
            gpu: gpu.clone(),
            execs: Mutex::new(Vec::new()),
        }
    }

    fn execs(&self) -> MutexGuard<'_, Vec<Arc<Exec>>> {
        self.execs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Instantiates the graph once, so what the driver refuses is an error
    /// of the recording rather than of the first replay.
    pub(crate) fn check<'a>(&self, nodes: &dyn Fn() -> Result<Vec<Node<'a>>>) -> Result<()> {
        let exec = Exec::build(&self.gpu, &nodes()?)?;
        self.execs().push(Arc::new(exec));
        Ok(())
    }

    /// An instantiation whose records are free, marked as replayed next as
    /// launch `seq` of `line`: an idle one, a new one (up to
    /// [`MAX_EXECS`]), or the oldest one once the host has waited for its
    /// replay.
    pub(crate) fn exec_for_replay<'a>(
        &self,
        nodes: &dyn Fn() -> Result<Vec<Node<'a>>>,
        line: &Arc<Timeline>,
        seq: u64,
    ) -> Result<Arc<Exec>> {
        loop {
            let oldest = {
                let mut execs = self.execs();
                if let Some(e) = execs.iter().find(|e| e.pending().is_none()) {
                    *e.pending() = Some((Arc::downgrade(line), seq));
                    return Ok(e.clone());
                }
                if execs.len() < MAX_EXECS {
                    let e = Arc::new(Exec::build(&self.gpu, &nodes()?)?);
                    *e.pending() = Some((Arc::downgrade(line), seq));
                    execs.push(e.clone());
                    return Ok(e);
                }
                execs
                    .iter()
                    .filter_map(|e| e.pending().clone())
                    .min_by_key(|(_, s)| *s)
            };
            // Every instantiation has a replay in flight: wait for the
            // oldest (reading its records frees the instantiation).
            if let Some((waiting, s)) = oldest {
                match waiting.upgrade() {
                    Some(l) => l.wait_done(s)?,
                    // Its queue is gone, which cleared it (QueueStream's drop).
                    None => std::thread::yield_now(),
                }
            }
        }
    }
}

impl Exec {
    /// Creates a graph of `nodes` in a chain, instantiates it and drops the
    /// graph (the instantiation keeps what it needs).
    fn build(gpu: &Arc<Gpu>, nodes: &[Node<'_>]) -> Result<Exec> {
        let what = || format!("building a CUDA graph of {} launches", nodes.len());
        gpu.bind().map_err(|e| cuda_error(&what(), e))?;
        let records = gpu.mapped(nodes.len().max(1) * STRIDE)?;
        let mut graph = std::ptr::null_mut();
        // SAFETY: a valid out pointer; flags must be 0.
        unsafe { sys::cuGraphCreate(&mut graph, 0) }
            .result()
            .map_err(|e| cuda_error(&what(), e))?;
        let built = add_nodes(graph, nodes, records.block().device()).and_then(|()| {
            // SAFETY: a live graph of the current context.
            unsafe { result::graph::instantiate(graph, sys::CUgraphInstantiate_flags(0)) }
                .map_err(|e| cuda_error(&what(), e))
        });
        // SAFETY: the graph is ours, destroyed once; an instantiation does
        // not depend on the graph it was made from.
        if let Err(e) = unsafe { result::graph::destroy(graph) } {
            tracing::warn!(error = %super::driver::describe(e), "destroying a CUDA graph failed");
        }
        Ok(Exec {
            exec: built?,
            records,
            kernels: nodes.iter().map(|n| n.kernel.clone()).collect(),
            pending: Mutex::new(None),
        })
    }

    fn pending(&self) -> MutexGuard<'_, Option<(Weak<Timeline>, u64)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The raw instantiation, for `cuGraphLaunch`.
    pub(crate) fn raw(&self) -> sys::CUgraphExec {
        self.exec
    }

    /// After a failed `cuGraphLaunch`: free for the next replay.
    pub(crate) fn unmark(&self) {
        *self.pending() = None;
    }

    /// Reads (and clears) every node's record after the replay finished;
    /// returns the first fault, naming its kernel. Frees the instantiation
    /// for the next replay.
    ///
    /// # Safety
    ///
    /// The replay this instantiation was marked for has completed (its
    /// stream or an event after it was waited for).
    pub(crate) unsafe fn take_faults(&self) -> Option<Error> {
        let mut first = None;
        for (i, kernel) in self.kernels.iter().enumerate() {
            // SAFETY: record `i` lies in the block (`kernels.len()` records
            // of STRIDE bytes); the replay that wrote it completed (the
            // caller's promise) and the next replay cannot start before
            // `pending` is cleared below.
            let rec = unsafe {
                take_record(
                    self.records
                        .block()
                        .host()
                        .as_ptr()
                        .add(i * STRIDE)
                        .cast::<FaultRecord>(),
                )
            };
            if let (None, Some(rec)) = (&first, rec) {
                first = Some(crate::fault::fault_error(kernel, &rec));
            }
        }
        *self.pending() = None;
        first
    }
}

impl Drop for Exec {
    fn drop(&mut self) {
        // SAFETY: destroyed once, here. No replay is in flight: a replay
        // holds an `Arc` to this `Exec` in its queue's unread list until
        // the host waited for it (or the queue's stream was synchronised
        // when the queue was dropped).
        if let Err(e) = unsafe { result::graph::exec_destroy(self.exec) } {
            tracing::warn!(error = %super::driver::describe(e), "destroying a CUDA graph's instantiation failed");
        }
    }
}

/// Adds `nodes` to `graph`, each after the one before, node `i` with the
/// fault record at `records + i * STRIDE`.
fn add_nodes(graph: sys::CUgraph, nodes: &[Node<'_>], records: u64) -> Result<()> {
    let mut prev: Option<sys::CUgraphNode> = None;
    for (i, n) in nodes.iter().enumerate() {
        let fault_ptr = records + (i * STRIDE) as u64;
        let mut pack = ArgPack::new(fault_ptr, n.kernel, &n.args)?;
        let mut params = pack.pointers();
        let (g, b) = (n.launch.grid, n.launch.block);
        let p = sys::CUDA_KERNEL_NODE_PARAMS {
            func: n.loaded.cu_function(),
            gridDimX: g.x,
            gridDimY: g.y,
            gridDimZ: g.z,
            blockDimX: b.x,
            blockDimY: b.y,
            blockDimZ: b.z,
            sharedMemBytes: n.launch.shared_bytes,
            kernelParams: params.as_mut_ptr(),
            extra: std::ptr::null_mut(),
            kern: std::ptr::null_mut(),
            ctx: std::ptr::null_mut(),
        };
        let mut node = std::ptr::null_mut();
        let deps: &[sys::CUgraphNode] = match &prev {
            Some(p) => std::slice::from_ref(p),
            None => &[],
        };
        // SAFETY: a live graph; `p.kernelParams` holds one pointer per C
        // parameter of the entry, each at a value of that parameter's size
        // (checked by `ArgPack::new`), alive in `pack` until after the
        // call, which copies them. Device pointers among them stay valid
        // while the graph lives (its buffers are kept alive with it).
        unsafe { sys::cuGraphAddKernelNode_v2(&mut node, graph, deps.as_ptr(), deps.len(), &p) }
            .result()
            .map_err(|e| {
                cuda_error(
                    &format!(
                        "adding launch {i} of a recorded graph (kernel `{}`, grid {g:?}, block {b:?})",
                        n.kernel.name
                    ),
                    e,
                )
            })?;
        prev = Some(node);
    }
    Ok(())
}
