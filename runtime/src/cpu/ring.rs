//! Running a ring kernel's handler on the CPU, one message at a time, for
//! the ring-mode actor whose loop lives on a host thread.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::{Kernel, ParamKind, MAX_RING_THREADS};

use super::exec::{LaneBuffers, Lanes};
use super::memory::{scalar_bits, Env, SliceView};
use super::program::{ParamBinding, Program, RetSlot};
use crate::fault::fault_error;
use crate::ring::RingHandler;
use crate::{Error, KernelMode, Result};

/// A ring kernel's handler, compiled for the CPU backend, ready to run one
/// message at a time: `handler(&mut state, msg) -> reply` on one block of
/// `kernel.threads` threads (thread 0's return value is the reply).
///
/// Made by [`InterpretedHandler::compile`], or by
/// [`CpuDevice::ring_handler`](super::CpuDevice::ring_handler), which
/// reuses the device's compiled-program cache. `Send`, for the actor's
/// host thread that owns it; it keeps its lane storage between messages,
/// so a message allocates nothing.
///
/// As a [`RingHandler`] (the CPU ring executor's interface), a thread's
/// fault becomes the actor's error through `crate::fault::fault_error`.
#[derive(Debug)]
pub struct InterpretedHandler {
    kernel: Arc<Kernel>,
    prog: Arc<Program>,
    bufs: LaneBuffers,
    /// The storage of the `Env`'s parameter vectors, kept between
    /// messages (`uniforms` is always empty here).
    scalars: Vec<u64>,
    uniforms: Vec<&'static [u8]>,
    state_size: usize,
    msg_size: usize,
    reply_size: usize,
    /// Raised when the handler must stop (see [`InterpretedHandler::stopped_by`]).
    stop: Option<Arc<AtomicBool>>,
}

impl InterpretedHandler {
    /// Compiles `kernel`'s handler (a ring kernel: parameters
    /// `(state: &mut S, msg: M)`, returning the reply `R`).
    pub fn compile(kernel: &Arc<Kernel>) -> Result<Self> {
        let prog = super::compile::compile(kernel).map_err(|m| super::unsupported(kernel, m))?;
        InterpretedHandler::new(kernel.clone(), Arc::new(prog))
    }

    pub(crate) fn new(kernel: Arc<Kernel>, prog: Arc<Program>) -> Result<Self> {
        let bad = |message: String| {
            Err(Error::Unsupported(format!(
                "kernel `{}` cannot run as a ring handler: {message}",
                kernel.name
            )))
        };
        if kernel.mode != KernelMode::Ring {
            return bad("it is not a ring kernel".into());
        }
        if kernel.threads == 0 || kernel.threads > MAX_RING_THREADS {
            return bad(format!(
                "{} threads (1 ..= {MAX_RING_THREADS} expected)",
                kernel.threads
            ));
        }
        let (state_size, msg_size) = match (&kernel.entry.params[..], &prog.params[..]) {
            ([s, m], [ParamBinding::State { size }, msg])
                if matches!(s.kind, ParamKind::StateRef(_)) =>
            {
                let msg_size = match (&m.kind, msg) {
                    (
                        ParamKind::Value(_),
                        ParamBinding::Scalar { size } | ParamBinding::Uniform { size, .. },
                    ) => *size,
                    _ => return bad("its second parameter is not a message by value".into()),
                };
                (*size as usize, msg_size as usize)
            }
            _ => return bad("its parameters are not `(state: &mut S, msg: M)`".into()),
        };
        let reply_size = kernel.size_of(&kernel.entry.ret) as usize;
        // The block's areas, allocated now so that a kernel whose locals
        // cannot fit fails to spawn instead of failing its first message.
        let mut bufs = LaneBuffers::default();
        bufs.allocate(&prog, kernel.threads as usize, 1, 0)
            .map_err(|e| match e {
                Error::OutOfMemory { what, bytes } => Error::OutOfMemory {
                    what: format!("ring kernel `{}`: {what}", kernel.name),
                    bytes,
                },
                other => other,
            })?;
        Ok(InterpretedHandler {
            kernel,
            prog,
            bufs,
            scalars: vec![0; 2],
            uniforms: Vec::with_capacity(1),
            state_size,
            msg_size,
            reply_size,
            stop: None,
        })
    }

    /// Makes the handler stop when `flag` is raised: a message being
    /// handled then ends at its next loop iteration (so even an endless
    /// loop ends) and `run` returns an error; the state keeps what the
    /// handler had written. Raised when the host gives up on the actor.
    pub fn stopped_by(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// The kernel this handler runs.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// Size in bytes of the state `S`.
    pub fn state_size(&self) -> usize {
        self.state_size
    }

    /// Size in bytes of a message `M`.
    pub fn msg_size(&self) -> usize {
        self.msg_size
    }

    /// Size in bytes of a reply `R`.
    pub fn reply_size(&self) -> usize {
        self.reply_size
    }

    /// Runs the handler for one message: `state` is updated in place and
    /// thread 0's return value is written to `reply`.
    ///
    /// Returns `Ok(Some(record))` when a thread faulted (the other threads
    /// finished; `state` holds whatever they wrote); turn it into the
    /// user's error with `crate::fault::fault_error(kernel, &record)`.
    /// `Err` when a buffer has the wrong size.
    pub fn run(
        &mut self,
        state: &mut [u8],
        msg: &[u8],
        reply: &mut [u8],
    ) -> Result<Option<FaultRecord>> {
        let sizes = [
            (state.len(), self.state_size, "state"),
            (msg.len(), self.msg_size, "msg"),
            (reply.len(), self.reply_size, "reply"),
        ];
        for (got, want, what) in sizes {
            if got != want {
                return Err(Error::Argument {
                    kernel: self.kernel.name.clone(),
                    param: what.into(),
                    message: format!("expected {want} bytes, got {got}"),
                });
            }
        }
        // Two entries, kept between messages: the state's (unused, 0) and
        // the message's (rewritten below when it is a scalar).
        let mut scalars = std::mem::take(&mut self.scalars);
        if scalars.len() != 2 {
            scalars = vec![0; 2];
        }
        let mut env = Env {
            slices: Vec::new(),
            // `Vec<&'static [u8]>` is a `Vec<&'msg [u8]>` too.
            uniforms: std::mem::take(&mut self.uniforms),
            scalars,
            state: SliceView {
                ptr: state.as_mut_ptr(),
                len: state.len() as u64,
                // Only this executor's thread reaches the state.
                writable: true,
            },
            block_dim: [self.kernel.threads, 1, 1],
            grid_dim: [1, 1, 1],
            // Ring kernels have no dynamic shared memory (the compiler
            // refuses views in them).
            dynamic_shared_bytes: 0,
            stop: self.stop.as_deref(),
            _borrow: PhantomData,
        };
        match self.prog.params[1] {
            ParamBinding::Scalar { .. } => env.scalars[1] = scalar_bits(msg).unwrap_or(0),
            _ => env.uniforms.push(msg),
        }
        // The block is set up on the first message (constants, geometry,
        // thread indices) and kept; later messages only rebind the state
        // and the message.
        let mut lanes = if self.bufs.prepared {
            Lanes::resume(&self.prog, &env, &mut self.bufs)
        } else {
            let mut lanes = Lanes::new(&self.prog, &env, 1, &mut self.bufs)?;
            lanes.prepare_block();
            lanes
        };
        let fault = lanes.run_prepared();
        if self
            .stop
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
        {
            return Err(Error::ActorStopped {
                kernel: self.kernel.name.clone(),
                reason: "the handler was stopped in the middle of a message: the host gave up \
                         waiting for it"
                    .into(),
            });
        }
        match self.prog.ret {
            Some(RetSlot::Reg(r, w)) => {
                reply.copy_from_slice(&lanes.lane0_reg(r, w)[..self.reply_size])
            }
            Some(RetSlot::Blob(b, _)) => reply.copy_from_slice(lanes.lane0_blob(b)),
            None => {}
        }
        self.scalars = env.scalars;
        let mut uniforms = env.uniforms;
        uniforms.clear();
        // Back to `'static` through an empty iteration, which reuses the
        // allocation (same element layout), without unsafe code.
        // (`filter` would keep the borrowed lifetime; the map changes it.)
        #[allow(clippy::unnecessary_filter_map)]
        let reused: Vec<&'static [u8]> = uniforms.into_iter().filter_map(|_| None).collect();
        self.uniforms = reused;
        Ok(fault)
    }
}

impl RingHandler for InterpretedHandler {
    fn handle(&mut self, state: &mut [u8], msg: &[u8], reply: &mut [u8]) -> Result<()> {
        match self.run(state, msg, reply)? {
            None => Ok(()),
            // A thread faulted: the actor fails with the fault, naming the
            // kernel, the indexed place and the thread.
            Some(rec) => Err(fault_error(&self.kernel, &rec)),
        }
    }
}
