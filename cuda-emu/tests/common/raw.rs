//! Driving the stand-in through cudarc's raw driver API, as a program
//! that is not spindle would: small kernels compiled with
//! `spindle_runtime::cuda::compile_cubin` (through the NVRTC stand-in).

use std::ffi::c_void;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use cudarc::driver::result::{self, stream::StreamKind, DriverError};
use cudarc::driver::sys::{self, CUresult};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule};
use cudarc::nvrtc::Ptx;

/// Says it started (`flag[1] = 1`), then polls `flag[0]` (pinned, mapped)
/// until the host sets it: a persistent kernel, as a ring actor's loop is.
pub const POLL: &str = r#"
extern "C" __global__ void spindle_test_poll(unsigned int* flag) {
  atomicExch(flag + 1, 1u);
  while (atomicAdd(flag, 0u) == 0u) __nanosleep(1000);
}
"#;

/// Needs 4 KiB of stack per thread (a volatile local array).
pub const STACK: &str = r#"
extern "C" __global__ void spindle_test_stack(float* out, unsigned int n) {
  volatile float local[1024];
  for (unsigned int i = 0; i < 1024u; ++i) local[i] = (float)(i * n);
  out[threadIdx.x] = local[(threadIdx.x * 7u + n) % 1024u];
}
"#;

/// Adds `k` to every element.
pub const ADD: &str = r#"
extern "C" __global__ void spindle_test_add(unsigned int* x, unsigned int n, unsigned int k) {
  unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] += k;
}
"#;

/// GPU 0's primary context, current on this thread, with cudarc's event
/// tracking off (nothing here should synchronise behind our back).
pub fn context() -> Arc<CudaContext> {
    assert!(super::in_child(), "run by its parent test");
    let ctx = CudaContext::new(0).expect("the stand-in's context");
    // SAFETY: before any stream or buffer of this context object exists;
    // every test orders its own work explicitly.
    unsafe { ctx.disable_event_tracking() };
    ctx
}

/// `source` compiled for sm_90 (or `arch`) and loaded.
pub fn module(ctx: &Arc<CudaContext>, name: &str, source: &str) -> Arc<CudaModule> {
    let cubin = spindle_runtime::cuda::compile_cubin(name, source, "sm_90")
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .cubin;
    ctx.load_module(Ptx::from_binary(cubin)).unwrap()
}

/// A raw stream: blocking (syncs with the legacy stream) or not.
pub fn stream(blocking: bool) -> sys::CUstream {
    result::stream::create(if blocking {
        StreamKind::Default
    } else {
        StreamKind::NonBlocking
    })
    .unwrap()
}

/// Launches `f` with one pointer per argument in `args`.
///
/// # Safety
///
/// `args` matches `f`'s C parameters (each a pointer to a value of the
/// parameter's type) and every device address among them stays valid
/// while the kernel runs.
pub unsafe fn launch(
    f: &CudaFunction,
    grid: u32,
    block: u32,
    shared: u32,
    stream: sys::CUstream,
    args: &mut [*mut c_void],
) -> Result<(), DriverError> {
    // SAFETY: per this function's contract.
    unsafe {
        result::launch_kernel(
            f.cu_function(),
            (grid, 1, 1),
            (block, 1, 1),
            shared,
            stream,
            args,
        )
    }
}

/// A persistent kernel running on its own stream until stopped.
pub struct Poller {
    pub stream: sys::CUstream,
    flag: *mut u32,
    _module: Arc<CudaModule>,
}

impl Poller {
    /// Starts `spindle_test_poll` on a new stream (blocking or not).
    pub fn start(ctx: &Arc<CudaContext>, blocking: bool) -> Poller {
        Self::start_from(&module(ctx, "poll", POLL), blocking)
    }

    /// [`Poller::start`] with [`POLL`] already loaded.
    pub fn start_from(module: &Arc<CudaModule>, blocking: bool) -> Poller {
        let f = module.load_function("spindle_test_poll").unwrap();
        // SAFETY: two words of pinned mapped memory, zeroed before the
        // kernel that uses them starts.
        let flag = unsafe {
            let p = result::malloc_host(
                8,
                sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE,
            )
            .unwrap()
            .cast::<u32>();
            p.write(0);
            p.add(1).write(0);
            p
        };
        let mut device: u64 = 0;
        // SAFETY: `flag` is pinned memory of this context.
        unsafe { sys::cuMemHostGetDevicePointer_v2(&mut device, flag.cast(), 0) }
            .result()
            .unwrap();
        let stream = stream(blocking);
        // SAFETY: one parameter, the flag's device address, valid until
        // the kernel ends (`stop` waits for that before anything frees it;
        // the flag is never freed).
        unsafe { launch(&f, 1, 1, 0, stream, &mut [(&mut device as *mut u64).cast()]) }.unwrap();
        Poller {
            stream,
            flag,
            _module: module.clone(),
        }
    }

    /// Whether the kernel has started running (not only been queued).
    pub fn started(&self) -> bool {
        // SAFETY: the second of the flag's two aligned words of live pinned
        // memory; the kernel writes it atomically.
        unsafe { AtomicU32::from_ptr(self.flag.add(1)) }.load(Ordering::SeqCst) == 1
    }

    /// Lets the kernel end, and waits for it.
    pub fn stop(&self) {
        self.stop_without_waiting();
        // SAFETY: a live stream of the current context.
        unsafe { result::stream::synchronize(self.stream) }.unwrap();
    }

    /// Lets the kernel end.
    pub fn stop_without_waiting(&self) {
        // SAFETY: the flag's first word is 4 aligned bytes of live pinned
        // memory; the kernel only reads it (atomically).
        unsafe { AtomicU32::from_ptr(self.flag) }.store(1, Ordering::SeqCst);
    }
}

/// `Err(e)` of a driver call, as its `CUresult`.
pub fn code<T: std::fmt::Debug>(r: Result<T, DriverError>) -> CUresult {
    match r {
        Err(e) => e.0,
        Ok(v) => panic!("expected an error, got Ok({v:?})"),
    }
}
