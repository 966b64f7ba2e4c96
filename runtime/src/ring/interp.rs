//! The CPU backend's interpreter as a [`RingHandler`]: runs a linked ring
//! kernel's handler for one message on one block of `kernel.threads`
//! threads (`crate::cpu::InterpretedHandler`).

use std::sync::Arc;

use spindle_codegen::ir::Kernel;

use super::executor::RingHandler;
use crate::cpu::{CpuDevice, InterpretedHandler};
use crate::fault::fault_error;
use crate::Result;

/// The interpreter-backed handler for a ring kernel on `dev`.
pub(crate) fn ring_handler(dev: &CpuDevice, kernel: &Arc<Kernel>) -> Result<Box<dyn RingHandler>> {
    Ok(Box::new(Interpreted(dev.ring_handler(kernel)?)))
}

struct Interpreted(InterpretedHandler);

impl RingHandler for Interpreted {
    fn handle(&mut self, state: &mut [u8], msg: &[u8], reply: &mut [u8]) -> Result<()> {
        match self.0.run(state, msg, reply)? {
            None => Ok(()),
            // A thread faulted: the actor fails with the fault, naming the
            // kernel, the indexed place and the thread.
            Some(rec) => Err(fault_error(self.0.kernel(), &rec)),
        }
    }
}
