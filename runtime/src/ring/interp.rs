//! The CPU backend's interpreter as a [`RingHandler`]: runs a linked ring
//! kernel's handler for one message on one block of `kernel.threads`
//! threads.

use std::sync::Arc;

use spindle_codegen::ir::Kernel;

use super::executor::RingHandler;
use crate::{Error, Result};

/// The interpreter-backed handler for a ring kernel.
pub(crate) fn ring_handler(kernel: &Arc<Kernel>) -> Result<Box<dyn RingHandler>> {
    Err(Error::Unsupported(format!(
        "ring kernel `{}`: the CPU interpreter cannot run ring handlers yet",
        kernel.name
    )))
}
