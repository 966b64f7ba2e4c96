//! The CUDA executor: the generated persistent kernel
//! (`spindle_codegen::ring::emit`) running on a GPU as one block.
//!
//! Set-up order matters with a persistent kernel (CUDA-NOTES.md): the
//! module is compiled (or taken from the disk cache), loaded and its
//! function force-loaded, the actor's own non-blocking stream is created,
//! and state and fault record are in device memory — all before the launch.
//! The rings and the control block live in pinned host memory mapped into
//! the device (`DEVICEMAP | PORTABLE`, not write-combined: the host reads
//! it), which the host side of the protocol reads and writes directly.
//!
//! Nothing here synchronises the context: waits query the actor's stream
//! (`cuStreamQuery`), so a host wait notices a kernel that died, and other
//! actors keep running. Pinned regions are never freed while the process
//! runs (freeing pinned memory may synchronise the device, which a running
//! persistent kernel would block); a finished actor's region goes back to
//! a pool for the next actor.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cudarc::driver::{result, sys, CudaContext, CudaFunction, CudaStream, DriverError};
use spindle_codegen::abi::FaultRecord;
use spindle_codegen::cuda::EmitOptions;
use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::emit_ring;
use spindle_codegen::ring::layout::{RingLayout, CACHE_LINE};

use super::config::RingConfig;
use super::executor::{Executor, ExecutorDeath};
use super::memory::RawRegion;
use crate::cuda::{cuda_error, CudaDevice, DeviceMem};
use crate::{Error, Result};

/// How long `finish` waits for a kernel that published `exited` to return.
const EXIT_GRACE: Duration = Duration::from_secs(10);
/// How long `finish` waits for a kernel that did not publish `exited`.
const ABANDON_GRACE: Duration = Duration::from_millis(200);

/// Starts ring kernel `kernel` on `dev` with initial state bytes `init`.
pub(crate) fn start(
    dev: &CudaDevice,
    kernel: &Arc<Kernel>,
    layout: RingLayout,
    init: &[u8],
    config: &RingConfig,
) -> Result<(Arc<RawRegion>, Box<dyn Executor>)> {
    let name = &kernel.name;
    let src = emit_ring(kernel, &EmitOptions::default()).map_err(|message| Error::Link {
        kernel: name.clone(),
        message,
    })?;
    if (src.request.stride, src.reply.stride) != (layout.request.stride, layout.reply.stride) {
        return Err(Error::Argument {
            kernel: name.clone(),
            param: String::new(),
            message: "the message or reply type's layout differs between the kernel and the actor"
                .into(),
        });
    }
    // 1. The module: compiled or cached, loaded, and its function loaded
    //    now, not lazily at the launch (or later, under a running kernel).
    let ctx = dev.context().clone();
    let function = ring_function(dev, &ctx, name, &src.code, &src.entry)?;
    // 2. The actor's own non-blocking stream (event tracking is off on
    //    spindle's contexts, so this does not synchronise the context).
    let stream = ctx
        .new_stream()
        .map_err(|e| cuda_error(&format!("creating the stream of ring actor `{name}`"), e))?;
    // 3. Memory: the region in pinned mapped host memory; state and fault
    //    record in device memory (copied before this returns).
    let pinned = PinnedRegion::take(&ctx, layout.total_size)?;
    let (host, device) = (pinned.host, pinned.device);
    // SAFETY: `host` points to at least `total_size` zeroed, 128-aligned
    // (page-aligned) bytes of pinned memory that stay valid while the
    // region's owner (`pinned`) lives; only the protocol touches them.
    let region = Arc::new(unsafe { RawRegion::external(host, layout, Box::new(pinned)) });
    region.write_config(&layout.config_words(config.gpu_idle_ns(), kernel.threads));
    let state = dev.upload(init)?;
    let fault = dev.zeros(size_of::<FaultRecord>())?;
    // 4. The launch: one block of `threads` threads on the actor's stream.
    let args: [u64; 6] = [
        device,
        device + layout.request_offset as u64,
        device + layout.reply_offset as u64,
        state.device_ptr(),
        device + layout.state_out_offset as u64,
        fault.device_ptr(),
    ];
    let mut params: Vec<*mut c_void> = args
        .iter()
        .map(|a| a as *const u64 as *mut c_void)
        .collect();
    ctx.bind_to_thread()
        .map_err(|e| cuda_error(&format!("binding the GPU context to start `{name}`"), e))?;
    // SAFETY: `function` is `spindle_ring_<name>(ctl, requests, replies,
    // state, state_out, fault)`, six pointer-sized parameters, and `params`
    // points to six live u64s; every address is valid for the kernel's
    // whole life: the region is freed only after the kernel ended (or
    // never), state and fault are owned by the executor below.
    unsafe {
        result::launch_kernel(
            function.cu_function(),
            (1, 1, 1),
            (kernel.threads, 1, 1),
            0,
            stream.cu_stream(),
            &mut params,
        )
    }
    .map_err(|e| cuda_error(&format!("launching ring kernel `{name}`"), e))?;
    tracing::debug!(kernel = %name, threads = kernel.threads, capacity = layout.capacity, "started ring kernel");
    let executor = CudaExecutor {
        kernel: name.clone(),
        ctx,
        parts: Some(Parts {
            stream,
            _function: function,
            _state: state,
            fault,
        }),
        ended: false,
    };
    Ok((region, Box::new(executor)))
}

/// Ring modules loaded so far, by context and source. They stay loaded for
/// the life of the process: unloading a module while another actor's
/// persistent kernel runs may synchronise the context, and the next actor
/// of the same kernel reuses the module.
static FUNCTIONS: Mutex<Vec<(Arc<CudaContext>, String, CudaFunction)>> = Mutex::new(Vec::new());

/// The loaded, force-loaded entry point of a ring kernel's source.
fn ring_function(
    dev: &CudaDevice,
    ctx: &Arc<CudaContext>,
    name: &str,
    code: &str,
    entry: &str,
) -> Result<CudaFunction> {
    let mut loaded = FUNCTIONS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, _, f)) = loaded
        .iter()
        .find(|(c, src, _)| Arc::ptr_eq(c, ctx) && src == code)
    {
        return Ok(f.clone());
    }
    let function = dev.load_kernel(name, code, entry)?.function;
    force_load(&function);
    loaded.push((ctx.clone(), code.to_string(), function.clone()));
    Ok(function)
}

/// Loads `function` now where the driver supports it (CUDA ≥ 12.4), so a
/// lazily loading driver never loads it under a running kernel.
fn force_load(function: &CudaFunction) {
    // SAFETY: a valid function handle of a loaded module. cudarc panics if
    // the driver lacks the symbol; that only means lazy loading is not
    // there either.
    let loaded = catch_unwind(AssertUnwindSafe(|| unsafe {
        sys::cuFuncLoad(function.cu_function())
    }));
    if !matches!(loaded, Ok(sys::CUresult::CUDA_SUCCESS)) {
        tracing::debug!(
            ?loaded,
            "cuFuncLoad unavailable or failed; relying on eager loading"
        );
    }
}

/// What the executor owns while the kernel may run.
struct Parts {
    stream: Arc<CudaStream>,
    /// The entry point (its module stays loaded in `FUNCTIONS`).
    _function: CudaFunction,
    /// The state in device memory (the kernel writes it back to state-out).
    _state: DeviceMem,
    /// The kernel's fault record.
    fault: DeviceMem,
}

/// A running ring kernel as the host sees it.
struct CudaExecutor {
    kernel: String,
    ctx: Arc<CudaContext>,
    /// `None` once released (or leaked).
    parts: Option<Parts>,
    /// The stream has completed: the kernel returned (or crashed).
    ended: bool,
}

enum StreamState {
    Running,
    Done,
    Failed(String),
}

impl CudaExecutor {
    fn query(&mut self) -> StreamState {
        let Some(parts) = &self.parts else {
            return StreamState::Done;
        };
        if self.ended {
            return StreamState::Done;
        }
        if let Err(e) = self.ctx.bind_to_thread() {
            return StreamState::Failed(format!("binding the GPU context: {:?}", e.0));
        }
        // SAFETY: a live stream of this context.
        match unsafe { sys::cuStreamQuery(parts.stream.cu_stream()) } {
            sys::CUresult::CUDA_SUCCESS => {
                self.ended = true;
                StreamState::Done
            }
            sys::CUresult::CUDA_ERROR_NOT_READY => StreamState::Running,
            e => {
                self.ended = true;
                StreamState::Failed(format!(
                    "the ring kernel `{}` failed on the GPU: {e:?}",
                    self.kernel
                ))
            }
        }
    }

    /// Waits up to `timeout` for the kernel to end.
    fn wait_end(&mut self, timeout: Duration) -> bool {
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

    /// The kernel's fault record; only once the kernel has ended.
    fn read_fault(&self) -> Option<FaultRecord> {
        let parts = self.parts.as_ref()?;
        let mut bytes = [0u8; size_of::<FaultRecord>()];
        parts.fault.copy_to_host(&mut bytes).ok()?;
        // SAFETY: FaultRecord is repr(C) plain integers; every bit pattern
        // is a value.
        Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<FaultRecord>()) })
    }
}

impl Executor for CudaExecutor {
    fn check_alive(&mut self) -> std::result::Result<(), ExecutorDeath> {
        match self.query() {
            StreamState::Running => Ok(()),
            StreamState::Failed(why) => Err(ExecutorDeath::Other(why)),
            StreamState::Done => match self.read_fault() {
                Some(rec) if rec.flag != 0 => Err(ExecutorDeath::Fault(rec)),
                _ => Err(ExecutorDeath::Other(format!(
                    "the ring kernel `{}` returned without publishing `exited`",
                    self.kernel
                ))),
            },
        }
    }

    fn fault_record(&mut self, timeout: Duration) -> Option<FaultRecord> {
        if self.wait_end(timeout) {
            self.read_fault()
        } else {
            None
        }
    }

    fn failure(&mut self, code: u32) -> Error {
        Error::ActorStopped {
            kernel: self.kernel.clone(),
            reason: format!("the ring kernel reported error code {code}"),
        }
    }

    fn finish(&mut self, exited: bool) -> bool {
        let ended = self.wait_end(if exited { EXIT_GRACE } else { ABANDON_GRACE });
        match self.parts.take() {
            Some(parts) if ended => drop(parts),
            Some(parts) => {
                // The kernel may still run and use all of it: never free it.
                tracing::warn!(kernel = %self.kernel, "ring kernel still running; leaking its stream, module and memory");
                std::mem::forget(parts);
            }
            None => {}
        }
        ended
    }
}

/// Pinned, mapped host memory, reused across actors and never freed.
struct PinnedBlock {
    ctx: Arc<CudaContext>,
    host: NonNull<u8>,
    device: u64,
    size: usize,
}

// SAFETY: a handle to process-wide pinned memory; who may access the bytes
// is governed by the ring protocol, not by this handle.
unsafe impl Send for PinnedBlock {}

static POOL: Mutex<Vec<PinnedBlock>> = Mutex::new(Vec::new());

/// One actor's region: a pinned block, returned to the pool on drop.
struct PinnedRegion {
    block: Option<PinnedBlock>,
    host: NonNull<u8>,
    device: u64,
}

// SAFETY: as for PinnedBlock.
unsafe impl Send for PinnedRegion {}
// SAFETY: PinnedRegion offers no access to the bytes itself.
unsafe impl Sync for PinnedRegion {}

impl PinnedRegion {
    /// A zeroed region of at least `size` bytes.
    fn take(ctx: &Arc<CudaContext>, size: usize) -> Result<PinnedRegion> {
        let reused = {
            let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
            let pos = pool.iter().position(|b| {
                Arc::ptr_eq(&b.ctx, ctx) && b.size >= size && b.size <= size.saturating_mul(4)
            });
            pos.map(|i| pool.swap_remove(i))
        };
        let block = match reused {
            Some(b) => b,
            None => Self::allocate(ctx, size)?,
        };
        // SAFETY: `size` bytes of the block are ours (no kernel uses a
        // pooled block: blocks return to the pool only after their kernel
        // ended).
        unsafe { std::ptr::write_bytes(block.host.as_ptr(), 0, size) };
        Ok(PinnedRegion {
            host: block.host,
            device: block.device,
            block: Some(block),
        })
    }

    fn allocate(ctx: &Arc<CudaContext>, size: usize) -> Result<PinnedBlock> {
        let size = size.div_ceil(4096) * 4096;
        let err = |what: &str, e: DriverError| {
            cuda_error(
                &format!("{what} ({size} bytes of pinned host memory for a ring)"),
                e,
            )
        };
        ctx.bind_to_thread()
            .map_err(|e| err("binding the GPU context", e))?;
        // Mapped into the device, usable from every context, and cached on
        // the host (not write-combined: the host polls and reads it).
        let flags = sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE;
        // SAFETY: a plain allocation; the bytes are zeroed before use.
        let host =
            unsafe { result::malloc_host(size, flags) }.map_err(|e| err("cuMemHostAlloc", e))?;
        let host = NonNull::new(host.cast::<u8>()).ok_or_else(|| Error::Cuda {
            context: "cuMemHostAlloc".into(),
            message: "returned a null pointer".into(),
        })?;
        if !(host.as_ptr() as usize).is_multiple_of(CACHE_LINE) {
            return Err(Error::Cuda {
                context: "cuMemHostAlloc".into(),
                message: "pinned memory is not 128-byte aligned".into(),
            });
        }
        let mut device: sys::CUdeviceptr = 0;
        // SAFETY: `host` was allocated with DEVICEMAP in this context.
        unsafe {
            sys::cuMemHostGetDevicePointer_v2(&mut device, host.as_ptr().cast::<c_void>(), 0)
        }
        .result()
        .map_err(|e| err("cuMemHostGetDevicePointer", e))?;
        Ok(PinnedBlock {
            ctx: ctx.clone(),
            host,
            device,
            size,
        })
    }
}

impl Drop for PinnedRegion {
    fn drop(&mut self) {
        // The session drops its region only after the executor finished
        // with the kernel ended (else it leaks the region): no kernel uses
        // this block any more.
        if let Some(b) = self.block.take() {
            POOL.lock().unwrap_or_else(PoisonError::into_inner).push(b);
        }
    }
}
