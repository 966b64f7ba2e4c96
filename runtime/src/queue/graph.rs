//! [`Graph`]: launches recorded by [`Queue::record`], replayed as one.

use super::{Queue, QueuedLaunch};
use crate::{Device, Error, Result};

/// Launches recorded by [`Queue::record`]: on the CPU backend a list, each
/// launch with its kernel, geometry and arguments (values copied, buffers
/// shared, so the graph keeps them alive).
///
/// [`Graph::launch`] queues every recorded launch, in order, on a queue of
/// the same device; they are ordered with other work on their buffers as
/// if queued one by one.
pub struct Graph {
    device: Device,
    launches: Vec<QueuedLaunch>,
}

impl Graph {
    pub(super) fn new(device: Device, launches: Vec<QueuedLaunch>) -> Graph {
        Graph { device, launches }
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
        queue.core.submit_all(self.launches.clone())
    }
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("device", &self.device.name())
            .field("launches", &self.launches.len())
            .finish()
    }
}
