//! Ring mode: the protocol's shared layout ([`layout`]) and the persistent
//! kernel that plays the executor side of it on the GPU ([`emit`]).

mod device_loop;
pub mod emit;
pub mod group_layout;
pub mod group_loop;
pub mod layout;
pub mod plan;
#[cfg(any(test, feature = "testing"))]
pub mod samples;

#[cfg(test)]
mod emit_tests;
#[cfg(test)]
mod group_layout_tests;
#[cfg(test)]
mod layout_tests;

pub use emit::{check_ring_kernel, emit_ring, ring_entry_symbol, RingKernelSource};
pub use group_loop::{emit_group, group_entry_symbol};
