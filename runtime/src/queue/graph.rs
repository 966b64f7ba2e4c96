//! [`Graph`]: launches recorded by [`Queue::record`], replayed as one.

use std::sync::Arc;

use super::order::{order_lock, Deps};
use super::{Engine, OwnedArg, Queue, QueuedLaunch};
use crate::cuda::{CudaGraph, GraphNode, LoadedKernel};
use crate::device::DeviceInner;
use crate::{Device, Error, Result};

/// Launches recorded by [`Queue::record`], each with its kernel, geometry
/// and arguments (values copied, buffers shared, so the graph keeps them
/// alive).
///
/// On the CPU backend [`Graph::launch`] queues every recorded launch, in
/// order, as if queued one by one. On a GPU the graph is a CUDA graph (one
/// kernel node per launch, in a chain) and a replay is one `cuGraphLaunch`
/// on the queue's stream, ordered with other work on the graph's buffers
/// like one launch that uses all of them; a fault in a replay is reported
/// by the queue's next [`Queue::sync`], naming the kernel that faulted.
pub struct Graph {
    device: Device,
    launches: Vec<QueuedLaunch>,
    cuda: Option<CudaParts>,
}

/// A graph's GPU side: the loaded kernel of each launch and the
/// instantiations.
struct CudaParts {
    loaded: Vec<Arc<LoadedKernel>>,
    graph: CudaGraph,
}

impl Graph {
    /// A graph of `launches`; on a GPU, built and instantiated once here so
    /// that what the driver refuses is an error of the recording.
    pub(super) fn new(device: Device, launches: Vec<QueuedLaunch>) -> Result<Graph> {
        let cuda = match &*device.inner {
            DeviceInner::Cpu(_) => None,
            DeviceInner::Cuda(dev) => {
                let loaded = launches
                    .iter()
                    .map(|l| dev.prepare(l.info, &l.kernel, &l.launch))
                    .collect::<Result<Vec<_>>>()?;
                let graph = CudaGraph::new(&dev.gpu);
                graph.check(&|| Ok(nodes(&launches, &loaded)))?;
                Some(CudaParts { loaded, graph })
            }
        };
        Ok(Graph {
            device,
            launches,
            cuda,
        })
    }

    /// The number of launches recorded.
    pub fn len(&self) -> usize {
        self.launches.len()
    }

    /// `true` when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.launches.is_empty()
    }

    /// Replays every recorded launch on `queue`, in order; returns before
    /// they run (like `name::enqueue`). Faults are reported by the queue's
    /// next [`Queue::sync`] (or a host read that waits for them).
    ///
    /// # Errors
    ///
    /// [`Error::Queue`] when `queue` belongs to another device than the
    /// one the graph was recorded on; nothing is queued then.
    pub fn launch(&self, queue: &Queue) -> Result<()> {
        if !queue.device().same_as(&self.device) {
            return Err(Error::Queue(format!(
                "a graph recorded on `{}` launched on a queue of another device (`{}`)",
                self.device.name(),
                queue.device().name()
            )));
        }
        match (&queue.core.engine, &self.cuda) {
            (Engine::Cuda(stream), Some(cuda)) => {
                let line = &queue.core.line;
                let _order = order_lock();
                let mut deps = Deps::new();
                for (mem, write) in self.buffers() {
                    mem.conflicts(line, write, &mut deps);
                }
                let seq = stream.launch_graph(line, &deps, &cuda.graph, &|| {
                    Ok(nodes(&self.launches, &cuda.loaded))
                })?;
                for (mem, write) in self.buffers() {
                    mem.record(line, seq, write);
                }
                Ok(())
            }
            _ => queue.core.submit_all(self.launches.clone()),
        }
    }

    /// Every buffer argument of every launch, with whether it is written.
    fn buffers(&self) -> impl Iterator<Item = (&Arc<super::Storage>, bool)> {
        self.launches.iter().flat_map(|l| {
            l.args.iter().filter_map(|a| match a {
                OwnedArg::Slice { mem, write, .. } => Some((mem, *write)),
                OwnedArg::Value { .. } => None,
            })
        })
    }
}

/// The GPU nodes of `launches`, whose loaded kernels are `loaded`.
fn nodes<'a>(launches: &'a [QueuedLaunch], loaded: &'a [Arc<LoadedKernel>]) -> Vec<GraphNode<'a>> {
    launches
        .iter()
        .zip(loaded)
        .map(|(l, k)| GraphNode {
            kernel: &l.kernel,
            loaded: k,
            launch: &l.launch,
            args: l.args.iter().map(OwnedArg::borrow).collect(),
        })
        .collect()
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("device", &self.device.name())
            .field("launches", &self.launches.len())
            .finish()
    }
}
