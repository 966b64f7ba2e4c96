//! The CUDA executor: the generated persistent kernel
//! (`spindle_codegen::ring::emit`) running on a GPU as one block.
//!
//! Set-up order matters with a persistent kernel, because a call that
//! synchronises the context waits for it (`crate::cuda`'s `actors` module
//! lists each such call and how spindle avoids it). Before the first actor
//! on a GPU, every kernel the program registers is loaded and the
//! per-thread stack they need reserved. Then, per actor: the kernel's
//! module (loaded already when it is registered), a stream of its own
//! (pooled), the region in mapped pinned memory (pooled), state and fault
//! record in device memory — all before the launch, which happens under
//! the GPU's set-up gate with the actor cap and the stack checked. The
//! rings and the control block live in pinned host memory mapped into the
//! device (`DEVICEMAP | PORTABLE`, not write-combined: the host reads it),
//! which the host side of the protocol reads and writes directly.
//!
//! `start` waits until the kernel has stored `running` (bounded): a kernel
//! that cannot start (the GPU is full) fails the spawn with an error saying
//! so, instead of a first call that times out. Such a kernel may still
//! start later, so it is told to stop at once and its memory is kept until
//! its stream reports it ended.
//!
//! Nothing here synchronises the context: waits query the actor's stream
//! (`cuStreamQuery`), so a host wait notices a kernel that died, and other
//! actors keep running.

use std::ffi::c_void;
use std::mem::size_of;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::{result, sys};
use spindle_codegen::abi::FaultRecord;
use spindle_codegen::cuda::EmitOptions;
use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::layout::{offsets, RingLayout, EXIT_NONE, STOP_ABORT};
use spindle_codegen::ring::{emit_ring, RingKernelSource};

use super::config::RingConfig;
use super::executor::{Executor, ExecutorDeath};
use super::memory::{RawRegion, RingMemory};
use crate::cuda::{
    cuda_error, describe, is_sticky, CudaDevice, DeviceMem, Gpu, LoadedKernel, Stream,
};
use crate::{Error, Result};

/// How long `finish` waits for a kernel that published `exited` to return.
const EXIT_GRACE: Duration = Duration::from_secs(10);
/// How long `finish` waits for a kernel that did not publish `exited`.
const ABANDON_GRACE: Duration = Duration::from_millis(200);
/// The longest `start` waits for the kernel to store `running` (less when
/// the actor's wait timeout is shorter, but never less than
/// [`MIN_START_TIMEOUT`]).
const START_TIMEOUT: Duration = Duration::from_secs(2);
/// The shortest wait for a kernel to start: a call timeout far shorter
/// than a kernel launch (microseconds) bounds the waits for replies, and
/// must not fail the spawn of a healthy actor.
const MIN_START_TIMEOUT: Duration = Duration::from_millis(500);

/// The CUDA C of `kernel` from `emit` (the single actor's loop or a
/// group's), refused when its request and reply slot strides differ from
/// `strides`, those of the memory the host laid out for the `what`
/// (`"actor"`, `"group"`).
pub(crate) fn emitted(
    kernel: &Kernel,
    emit: fn(&Kernel, &EmitOptions) -> std::result::Result<RingKernelSource, String>,
    strides: (usize, usize),
    what: &str,
) -> Result<RingKernelSource> {
    let src = emit(kernel, &EmitOptions::default()).map_err(|message| Error::Link {
        kernel: kernel.name.clone(),
        message,
    })?;
    if (src.request.stride, src.reply.stride) != strides {
        return Err(Error::Argument {
            kernel: kernel.name.clone(),
            param: String::new(),
            message: format!(
                "the message or reply type's layout differs between the kernel and the {what}"
            ),
        });
    }
    Ok(src)
}

/// Starts ring kernel `kernel` on `dev` with initial state bytes `init`.
pub(crate) fn start(
    dev: &CudaDevice,
    kernel: &Arc<Kernel>,
    layout: RingLayout,
    init: &[u8],
    config: &RingConfig,
) -> Result<(Arc<RawRegion>, Box<dyn Executor>)> {
    let gpu = &dev.gpu;
    let name = &kernel.name;
    let src = emitted(
        kernel,
        emit_ring,
        (layout.request.stride, layout.reply.stride),
        "actor",
    )?;
    // 1. Before the first actor: every registered kernel loaded, the stack
    //    reserved (once per GPU).
    gpu.prepare_actors()?;
    // 2. This kernel's module (already loaded by 1 if it is registered).
    let function = gpu.ring_kernel(name, &src.code, &src.entry)?;
    // 3. Memory: the region in mapped pinned memory; state and fault record
    //    in device memory (copied before `upload`/`zeros` return).
    let pinned = gpu.mapped(layout.total_size)?;
    let (host, device) = (pinned.block().host(), pinned.block().device());
    // SAFETY: `host` points to at least `total_size` zeroed, page-aligned
    // bytes of pinned memory that stay valid while the region's owner
    // (`pinned`) lives; only the protocol touches them.
    let region = Arc::new(unsafe { RawRegion::external(host, layout, Box::new(pinned)) });
    region.write_config(&layout.config_words(config.gpu_idle_ns(), kernel.threads));
    let state = dev.upload(init)?;
    let fault = dev.zeros(size_of::<FaultRecord>())?;
    // 4. The actor's own non-blocking stream.
    let stream = gpu
        .actor_stream()
        .map_err(|e| cuda_error(&format!("creating the stream of ring actor `{name}`"), e))?;
    // 5. The launch: one block of `src.block_threads` threads (the
    //    handler's, or a full warp for the loop's polling) on that stream.
    let args: [u64; 6] = [
        device,
        device + layout.request_offset as u64,
        device + layout.reply_offset as u64,
        state.device_ptr(),
        device + layout.state_out_offset as u64,
        fault.device_ptr(),
    ];
    let launched = gpu.start_actor(&function, src.block_threads, || {
        launch(gpu, &function, src.block_threads, &stream, &args)
            .map_err(|e| launch_error(name, &function, src.block_threads, e))
    });
    let slot = match launched {
        Ok(slot) => slot,
        Err(e) => {
            gpu.return_stream(stream);
            return Err(e);
        }
    };
    tracing::debug!(kernel = %name, threads = src.block_threads, capacity = layout.capacity, "started ring kernel");
    let mut executor = CudaExecutor {
        kernel: name.clone(),
        run: KernelRun::new(
            src.entry.clone(),
            gpu.clone(),
            stream,
            Kept {
                _function: function,
                _state: state,
                fault,
                _slot: slot,
            },
        ),
    };
    // 6. Started: it stored `running` (or already exited or died, which
    //    the session reports).
    let timeout = config
        .wait_timeout()
        .clamp(MIN_START_TIMEOUT, START_TIMEOUT);
    if let Err(e) = executor.wait_started(&region, timeout) {
        // It may start later: then it sees the abort and exits at once.
        // Release: the config and zeroed rings it reads come before.
        region.store(offsets::STOP, STOP_ABORT, Release);
        executor.run.give_up(Some(Box::new(region)));
        return Err(e);
    }
    Ok((region, Box::new(executor)))
}

/// `cuLaunchKernel` of the ring kernel `spindle_ring_<name>(ctl, requests,
/// replies, state, state_out, fault)` with the six addresses in `args`.
fn launch(
    gpu: &Gpu,
    function: &LoadedKernel,
    threads: u32,
    stream: &Stream,
    args: &[u64; 6],
) -> std::result::Result<(), cudarc::driver::DriverError> {
    let mut params: [*mut c_void; 6] =
        std::array::from_fn(|i| (&args[i] as *const u64).cast_mut().cast());
    gpu.bind()?;
    // SAFETY: the entry point takes six pointer-sized parameters and
    // `params` points to six live u64s (the driver copies them before
    // returning); every address is valid for the kernel's whole life: the
    // region, state and fault record are freed only after the kernel ended
    // (`finish`, `give_up`).
    unsafe {
        result::launch_kernel(
            function.cu_function(),
            (1, 1, 1),
            (threads, 1, 1),
            0,
            stream.raw(),
            &mut params,
        )
    }
}

/// The error for a failed launch of a ring kernel.
fn launch_error(
    name: &str,
    function: &LoadedKernel,
    threads: u32,
    e: cudarc::driver::DriverError,
) -> Error {
    if e.0 == sys::CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES {
        return Error::InvalidLaunch {
            kernel: name.to_string(),
            message: format!(
                "the GPU refused to start the actor for lack of resources \
                 (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES): {}",
                function.resources_message(threads, 0, true)
            ),
        };
    }
    cuda_error(&format!("launching ring kernel `{name}`"), e)
}

/// Freed (and the slot released) only once the kernel has ended.
struct Kept {
    /// The entry point (its module stays loaded for the process).
    _function: Arc<LoadedKernel>,
    /// The state in device memory (the kernel writes it back to state-out).
    _state: DeviceMem,
    /// The kernel's fault record.
    fault: DeviceMem,
    /// The actor's place in the GPU's count of running actors.
    _slot: crate::cuda::ActorSlot,
}

/// One launch of a persistent kernel on a stream of its own, as the host
/// watches it, with what it uses (`K`), kept until it has ended. A single
/// actor is one; a group is one per launch of its blocks.
pub(crate) struct KernelRun<K: Send + 'static> {
    /// The entry point's name, for messages.
    entry: String,
    gpu: Arc<Gpu>,
    /// `None` once released (or handed to the GPU to release later).
    parts: Option<(Stream, K)>,
    /// The stream has completed: the kernel returned (or crashed).
    ended: bool,
}

/// Where a [`KernelRun`]'s stream stands.
pub(crate) enum StreamState {
    Running,
    Done,
    Failed(String),
}

impl<K: Send + 'static> KernelRun<K> {
    /// A kernel launched on `stream`, using `kept`.
    pub(crate) fn new(entry: String, gpu: Arc<Gpu>, stream: Stream, kept: K) -> Self {
        KernelRun {
            entry,
            gpu,
            parts: Some((stream, kept)),
            ended: false,
        }
    }

    /// What the kernel uses, until released.
    pub(crate) fn kept(&self) -> Option<&K> {
        self.parts.as_ref().map(|(_, k)| k)
    }

    /// Whether the kernel runs, returned, or crashed (`cuStreamQuery`).
    pub(crate) fn query(&mut self) -> StreamState {
        let Some((stream, _)) = &self.parts else {
            return StreamState::Done;
        };
        if self.ended {
            return StreamState::Done;
        }
        // Binds without picking up errors other calls recorded (see
        // `crate::cuda`'s `context` module): only this stream's state counts.
        if let Err(e) = self.gpu.bind() {
            return StreamState::Failed(format!(
                "the GPU context could not be made current to watch it: {}",
                describe(e)
            ));
        }
        // SAFETY: a live stream of this context.
        match unsafe { sys::cuStreamQuery(stream.raw()) } {
            sys::CUresult::CUDA_SUCCESS => {
                self.ended = true;
                StreamState::Done
            }
            sys::CUresult::CUDA_ERROR_NOT_READY => StreamState::Running,
            e => {
                self.ended = true;
                StreamState::Failed(crashed(&self.entry, cudarc::driver::DriverError(e)))
            }
        }
    }

    /// Waits up to `timeout` for the kernel to end.
    pub(crate) fn wait_end(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.query() {
                StreamState::Running if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(50))
                }
                StreamState::Running => return false,
                _ => return true,
            }
        }
    }

    /// Hands what the kernel may still use (and `extra`, e.g. a region the
    /// caller owns) to the GPU, which releases it once the stream reports
    /// the kernel ended.
    pub(crate) fn give_up(&mut self, extra: Option<Box<dyn Send>>) {
        if let Some((stream, kept)) = self.parts.take() {
            self.gpu.defer_until_done(stream, Box::new((kept, extra)));
        }
    }

    /// The host is done with the kernel (`exited`: it published that it
    /// stopped). Waits a grace period for it to end, then releases what it
    /// used, or hands that to the GPU to release once it ends. `true` when
    /// it ended.
    pub(crate) fn finish(&mut self, exited: bool) -> bool {
        let ended = self.wait_end(if exited { EXIT_GRACE } else { ABANDON_GRACE });
        if ended {
            if let Some((stream, kept)) = self.parts.take() {
                drop(kept);
                self.gpu.return_stream(stream);
            }
        } else {
            // The kernel may still run and use all of it: released only
            // once its stream reports it ended.
            tracing::warn!(kernel = %self.entry, "ring kernel still running; its memory is released once it ends");
            self.give_up(None);
        }
        ended
    }
}

impl<K: Send + 'static> Drop for KernelRun<K> {
    fn drop(&mut self) {
        // Dropped without `finish`: keep everything until the kernel has
        // ended.
        self.give_up(None);
    }
}

/// A running ring kernel as the host sees it.
struct CudaExecutor {
    kernel: String,
    run: KernelRun<Kept>,
}

impl CudaExecutor {
    /// Waits until the kernel has stored `running`, exited or died;
    /// `Err` when it failed or did not start within `timeout`.
    fn wait_started(&mut self, region: &RawRegion, timeout: Duration) -> Result<()> {
        let (kernel, run) = (&self.kernel, &mut self.run);
        wait_started(kernel, run, timeout, || {
            // Acquire, though `running` orders nothing: a cheap poll.
            region.load(offsets::RUNNING, Acquire) != 0
                || region.load(offsets::EXITED, Acquire) != EXIT_NONE
        })
    }

    /// The kernel's fault record; only once the kernel has ended.
    fn read_fault(&self) -> Option<FaultRecord> {
        let kept = self.run.kept()?;
        let mut bytes = [0u8; size_of::<FaultRecord>()];
        kept.fault.copy_to_host(&mut bytes).ok()?;
        // SAFETY: FaultRecord is repr(C) plain integers; every bit pattern
        // is a value.
        Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<FaultRecord>()) })
    }
}

/// Waits until `started()` (the kernel stored `running`), or the kernel
/// ended or died; `Err` when it failed or did not start within `timeout`.
pub(crate) fn wait_started<K: Send + 'static>(
    kernel: &str,
    run: &mut KernelRun<K>,
    timeout: Duration,
    started: impl Fn() -> bool,
) -> Result<()> {
    let began = Instant::now();
    let mut pause = Duration::from_micros(1);
    loop {
        if started() {
            return Ok(());
        }
        match run.query() {
            StreamState::Running => {}
            // Ended without `running`: the session reports why.
            StreamState::Done => return Ok(()),
            StreamState::Failed(reason) => {
                return Err(Error::ActorStopped {
                    kernel: kernel.to_string(),
                    reason,
                })
            }
        }
        if began.elapsed() >= timeout {
            return Err(Error::ActorStopped {
                kernel: kernel.to_string(),
                reason: format!(
                    "its kernel was launched but did not start within {timeout:?}: the GPU \
                     has no room for it now ({} actors run on GPU {}; kernels of other \
                     processes or long batch launches may fill it too). Stop actors or \
                     other GPU work and spawn again. Its memory is released once the \
                     kernel has ended; it was told to exit as soon as it starts",
                    run.gpu.actors.live(),
                    run.gpu.ordinal,
                ),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// Why an actor's kernel died on the GPU, and what to do.
fn crashed(entry: &str, e: cudarc::driver::DriverError) -> String {
    let mut reason = format!("its kernel `{entry}` failed on the GPU ({})", describe(e));
    if is_sticky(e) {
        reason.push_str(
            ". This error leaves the GPU's CUDA context unusable: restart the process to use the \
             GPU again. A handler with `bounds_checks = false` that indexes out of bounds \
             crashes this way: run it with bounds checks, or on the CPU backend \
             (SPINDLE_BACKEND=cpu), which names the index",
        );
    } else {
        reason.push_str(". Spawn a new actor to continue");
    }
    reason
}

impl Executor for CudaExecutor {
    fn check_alive(&mut self) -> std::result::Result<(), ExecutorDeath> {
        match self.run.query() {
            StreamState::Running => Ok(()),
            StreamState::Failed(why) => Err(ExecutorDeath::Other(why)),
            StreamState::Done => match self.read_fault() {
                Some(rec) if rec.flag != 0 => Err(ExecutorDeath::Fault(rec)),
                _ => Err(ExecutorDeath::Other(format!(
                    "its kernel `spindle_ring_{}` returned without publishing `exited`, which a \
                     healthy kernel never does: check the handler on the CPU backend \
                     (SPINDLE_BACKEND=cpu), and spawn a new actor to continue",
                    self.kernel
                ))),
            },
        }
    }

    fn fault_record(&mut self, timeout: Duration) -> Option<FaultRecord> {
        if self.run.wait_end(timeout) {
            self.read_fault()
        } else {
            None
        }
    }

    fn failure(&mut self, code: u32) -> Error {
        unknown_code(&self.kernel, code)
    }

    fn finish(&mut self, exited: bool) -> bool {
        self.run.finish(exited)
    }
}

/// The error for an executor error code this runtime does not know.
pub(crate) fn unknown_code(kernel: &str, code: u32) -> Error {
    Error::ActorStopped {
        kernel: kernel.to_string(),
        reason: format!(
            "its kernel reported error code {code}, which this runtime does not know: the \
             kernel was generated by another version of spindle; rebuild the program so \
             both come from the same version"
        ),
    }
}
