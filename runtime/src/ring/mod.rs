//! Ring actors: the host side of the ring protocol and its executors.
//!
//! A ring kernel (`#[kernel(mode = "ring")]`) runs as an [`Actor`]: one
//! executor stays resident, takes messages from a request ring, runs the
//! handler against state it keeps, and answers through a reply ring. The
//! protocol — layout, who writes which word, the orderings, stop and drain,
//! faults — is defined and documented once in
//! [`spindle_codegen::ring::layout`]. Here:
//!
//! - [`memory`]: the region the rings live in (heap, pinned CUDA memory, or
//!   memory shared with host-compiled CUDA), behind [`RingMemory`];
//! - `protocol`: the producer and consumer of one ring;
//! - `host`: the host session (send, receive, the host-side reply queue,
//!   waits with timeouts, stop), and its futures (`host_async`);
//! - `task_wait` and `watcher`: how those futures (and a group's) wait;
//! - `executor`: what the host needs from an executor, and the executor
//!   loop in Rust — the same loop the generated GPU kernel runs;
//! - `cpu_executor` / `cuda_executor`: the two executors of a [`crate::Device`];
//! - [`Actor`] and [`RingConfig`]: the user's API;
//! - [`ActorGroup`] and [`GroupConfig`]: many actors of one kernel in one
//!   executor (`group`; its host side `group_host` and its futures
//!   `group_async`, its loop
//!   `group_executor`, the CPU backend's worker pool `group_cpu`, the
//!   GPU's persistent grid `group_cuda`; the region is
//!   `spindle_codegen::ring::group_layout`).

mod actor;
mod config;
mod cpu_executor;
mod cuda_executor;
mod executor;
mod group;
mod group_cpu;
mod group_cuda;
mod group_executor;
mod group_host;
mod host;
#[doc(hidden)]
pub mod memory;
mod placement;
mod protocol;
mod task_wait;
mod wait;
mod watcher;

#[cfg(all(test, not(loom)))]
mod async_tests;
#[cfg(test)]
mod kernel_tests;
#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(test)]
mod tests;

pub use actor::{Actor, ActorStatus};
pub use config::RingConfig;
#[doc(hidden)]
pub use executor::{Executor, ExecutorDeath, RingHandler};
pub use group::{ActorGroup, GroupConfig, DEFAULT_GROUP_CAPACITY, DEFAULT_GROUP_MAX_BYTES};
#[doc(hidden)]
pub use memory::{RawBytes, RawRegion, RingMemory};
