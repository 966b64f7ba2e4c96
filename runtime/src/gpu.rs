//! Device intrinsics, for use inside `#[kernel]` and `#[device]` functions.
//!
//! These functions exist so a kernel's Rust type-checks; the kernel compiler
//! replaces every call. Called from ordinary host code they panic with a
//! message that says so.

pub use crate::Dim3;

#[cold]
#[track_caller]
fn outside(name: &str) -> ! {
    panic!(
        "spindle::gpu::{name}() was called outside a kernel: device intrinsics only work \
         inside #[kernel] and #[device] functions, which run on a spindle Device"
    )
}

/// This thread's index within its block.
#[track_caller]
pub fn thread_idx() -> Dim3 {
    outside("thread_idx")
}

/// This block's index within the grid.
#[track_caller]
pub fn block_idx() -> Dim3 {
    outside("block_idx")
}

/// The block's size in threads.
#[track_caller]
pub fn block_dim() -> Dim3 {
    outside("block_dim")
}

/// The grid's size in blocks.
#[track_caller]
pub fn grid_dim() -> Dim3 {
    outside("grid_dim")
}

/// `block_idx().x * block_dim().x + thread_idx().x`, as `usize`.
#[track_caller]
pub fn global_index() -> usize {
    outside("global_index")
}
