//! Contexts: the device's primary context (the one cudarc and the CUDA
//! runtime use), the calling thread's current context, limits, context
//! synchronisation and sticky errors.
//!
//! Modelled rules (CUDA Driver API reference, Context Management and
//! Primary Context Management):
//! - a call that needs a context fails with `CUDA_ERROR_INVALID_CONTEXT`
//!   when the calling thread has none current;
//! - `cuDevicePrimaryCtxRetain` activates the primary context and counts
//!   a reference; the release that drops the count to zero destroys it
//!   (its streams, events, modules and allocations), after waiting for its
//!   work; "unlike cuCtxDestroy() this method does not pop the context from
//!   the stack": a thread whose current context was destroyed gets
//!   `CUDA_ERROR_CONTEXT_IS_DESTROYED`;
//! - after an error that corrupts the context (an illegal address, a
//!   failed launch) every later call on it returns that error;
//! - `CU_LIMIT_STACK_SIZE` (1 KiB per thread by default): "The driver
//!   automatically increases the per-thread stack size for each kernel
//!   launch as needed", and setting it "will take effect immediately, and if
//!   necessary, the device will block until all preceding requested tasks
//!   are complete" (cuCtxSetLimit). The stack is reserved for every thread
//!   the device can hold (132 SMs × 2048 threads) out of device memory.

use std::cell::RefCell;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use cudarc::driver::sys::CUresult;

use super::device::{DEVICE_COUNT, MAX_LOCAL_PER_THREAD, SM_COUNT, THREADS_PER_SM};
use super::stream::{Stream, StreamKind};
use super::{driver, lock, put, run};

/// `CU_LIMIT_STACK_SIZE` and friends, as `CUlimit` numbers them.
const LIMIT_STACK_SIZE: u32 = 0;
const LIMIT_PRINTF_FIFO_SIZE: u32 = 1;
const LIMIT_MALLOC_HEAP_SIZE: u32 = 2;
const DEFAULT_STACK: usize = 1024;

/// A context (the stand-in has only primary contexts).
pub struct Context {
    /// The `CUcontext` value.
    pub handle: u64,
    /// The device ordinal.
    pub device: c_int,
    state: Mutex<State>,
}

struct State {
    refcount: u32,
    active: bool,
    /// Bumped each time the context is activated: objects of an older
    /// generation belong to a destroyed incarnation.
    generation: u64,
    legacy: Option<Arc<Stream>>,
    streams: Vec<Weak<Stream>>,
    sticky: Option<CUresult>,
    limits: [usize; 3],
    flags: c_uint,
}

impl Context {
    fn new(device: c_int) -> Context {
        Context {
            handle: (0xc7 << 40) | (device as u64 + 1),
            device,
            state: Mutex::new(State {
                refcount: 0,
                active: false,
                generation: 0,
                legacy: None,
                streams: Vec::new(),
                sticky: None,
                limits: [DEFAULT_STACK, 1 << 20, 8 << 20],
                flags: 0,
            }),
        }
    }

    /// The incarnation objects created now belong to.
    pub fn generation(&self) -> u64 {
        lock(&self.state).generation
    }

    /// The error that made this context unusable, if any.
    pub fn sticky(&self) -> Option<CUresult> {
        lock(&self.state).sticky
    }

    /// Makes the context unusable: every later call returns `e`.
    pub fn set_sticky(&self, e: CUresult) {
        let mut s = lock(&self.state);
        if s.sticky.is_none() {
            s.sticky = Some(e);
        }
    }

    /// The legacy default stream (`NULL`, `CU_STREAM_LEGACY`).
    pub fn legacy_stream(self: &Arc<Self>) -> Arc<Stream> {
        let mut s = lock(&self.state);
        let generation = s.generation;
        s.legacy
            .get_or_insert_with(|| {
                Arc::new(Stream::new(
                    0,
                    self.clone(),
                    generation,
                    StreamKind::Legacy,
                    0,
                ))
            })
            .clone()
    }

    /// Records a stream created in this context.
    pub fn add_stream(&self, stream: &Arc<Stream>) {
        let mut s = lock(&self.state);
        s.streams.retain(|w| w.strong_count() > 0);
        s.streams.push(Arc::downgrade(stream));
    }

    /// Every stream of the context, the legacy stream first.
    pub fn streams(self: &Arc<Self>) -> Vec<Arc<Stream>> {
        let legacy = self.legacy_stream();
        let s = lock(&self.state);
        std::iter::once(legacy)
            .chain(s.streams.iter().filter_map(Weak::upgrade))
            .collect()
    }

    /// Waits (bounded, see [`Stream::wait`]) for all work submitted to the
    /// context so far; `call` names the synchronising call in messages.
    pub fn synchronize(self: &Arc<Self>, call: &str) -> Result<(), CUresult> {
        for s in self.streams() {
            let seq = s.submitted();
            s.wait(seq, call)?;
        }
        match self.sticky() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The per-thread stack limit.
    pub fn stack_limit(&self) -> usize {
        lock(&self.state).limits[LIMIT_STACK_SIZE as usize]
    }

    /// Raises the stack limit to `bytes` per thread: reserves it for every
    /// thread the device holds, then waits for all preceding work (the
    /// documented synchronisation), as a launch that needs more stack does.
    pub fn grow_stack(self: &Arc<Self>, bytes: usize, call: &str) -> Result<(), CUresult> {
        if bytes <= self.stack_limit() {
            return Ok(());
        }
        if bytes > MAX_LOCAL_PER_THREAD {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        let reserve = bytes * (SM_COUNT * THREADS_PER_SM) as usize;
        driver()?.memory.reserve_stack(reserve).inspect_err(|_| {
            crate::log::warn(format!(
                "{call}: a stack of {bytes} bytes per thread needs {reserve} bytes of device memory \
                 for the device's {} resident threads, more than is free",
                SM_COUNT * THREADS_PER_SM
            ));
        })?;
        self.synchronize(&format!(
            "{call} (growing the per-thread stack to {bytes} bytes)"
        ))?;
        lock(&self.state).limits[LIMIT_STACK_SIZE as usize] = bytes;
        Ok(())
    }

    /// Destroys the context's current incarnation: waits for its work, then
    /// frees its streams, events, modules and memory. When the wait fails
    /// (a kernel still runs) nothing the kernel may use is freed.
    fn destroy(self: &Arc<Self>, call: &str) {
        let waited = self.synchronize(call);
        let (generation, legacy) = {
            let mut s = lock(&self.state);
            let g = s.generation;
            s.active = false;
            s.refcount = 0;
            s.sticky = None;
            s.limits = [DEFAULT_STACK, 1 << 20, 8 << 20];
            s.streams.clear();
            (g, s.legacy.take())
        };
        if let Some(l) = legacy {
            l.close();
        }
        let Ok(d) = driver() else { return };
        let mine = |ctx: &Arc<Context>, g: u64| Arc::ptr_eq(ctx, self) && g == generation;
        for s in d.streams.remove_where(|s| mine(&s.ctx, s.generation)) {
            s.close();
        }
        d.events.remove_where(|e| mine(&e.ctx, e.generation));
        d.functions
            .remove_where(|f| mine(&f.module.ctx, f.module.generation));
        d.modules.remove_where(|m| mine(&m.ctx, m.generation));
        match waited {
            Ok(())
            | Err(CUresult::CUDA_ERROR_ILLEGAL_ADDRESS | CUresult::CUDA_ERROR_LAUNCH_FAILED) => {
                d.memory.free_generation(self.handle, generation);
                d.memory.reserve_stack(0).ok();
            }
            Err(e) => crate::log::warn(format!(
                "{call}: the context's work did not finish ({}); its memory stays allocated",
                super::error_name(e)
            )),
        }
    }
}

fn contexts() -> &'static [Arc<Context>] {
    static ALL: OnceLock<Vec<Arc<Context>>> = OnceLock::new();
    ALL.get_or_init(|| {
        (0..DEVICE_COUNT)
            .map(|d| Arc::new(Context::new(d)))
            .collect()
    })
}

fn by_handle(handle: u64) -> Option<Arc<Context>> {
    contexts().iter().find(|c| c.handle == handle).cloned()
}

thread_local! {
    /// The calling thread's context stack; the last entry is current.
    static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn current_handle() -> u64 {
    STACK.with(|s| s.borrow().last().copied().unwrap_or(0))
}

/// The calling thread's current context, usable: `CUDA_ERROR_INVALID_CONTEXT`
/// when there is none, `CUDA_ERROR_CONTEXT_IS_DESTROYED` when it was
/// destroyed, its sticky error when it has one.
pub fn current() -> Result<Arc<Context>, CUresult> {
    let ctx = current_even_if_failed()?;
    match ctx.sticky() {
        Some(e) => Err(e),
        None => Ok(ctx),
    }
}

/// As [`current`], but a context with a sticky error is returned.
pub fn current_even_if_failed() -> Result<Arc<Context>, CUresult> {
    driver()?;
    let ctx = by_handle(current_handle()).ok_or(CUresult::CUDA_ERROR_INVALID_CONTEXT)?;
    if !lock(&ctx.state).active {
        return Err(CUresult::CUDA_ERROR_CONTEXT_IS_DESTROYED);
    }
    Ok(ctx)
}

#[no_mangle]
pub unsafe extern "C" fn cuDevicePrimaryCtxRetain(pctx: *mut *mut c_void, dev: c_int) -> CUresult {
    run("cuDevicePrimaryCtxRetain", || {
        super::device::check_device(dev)?;
        let ctx = contexts()[dev as usize].clone();
        {
            let mut s = lock(&ctx.state);
            if !s.active {
                s.active = true;
                s.generation += 1;
            }
            s.refcount += 1;
        }
        // SAFETY: caller contract.
        unsafe { put(pctx, ctx.handle as *mut c_void) }
    })
}

#[no_mangle]
pub extern "C" fn cuDevicePrimaryCtxRelease_v2(dev: c_int) -> CUresult {
    run("cuDevicePrimaryCtxRelease_v2", || {
        super::device::check_device(dev)?;
        let ctx = contexts()[dev as usize].clone();
        let last = {
            let mut s = lock(&ctx.state);
            if !s.active || s.refcount == 0 {
                return Err(CUresult::CUDA_ERROR_INVALID_CONTEXT);
            }
            s.refcount -= 1;
            s.refcount == 0
        };
        if last {
            ctx.destroy("cuDevicePrimaryCtxRelease");
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDevicePrimaryCtxGetState(
    dev: c_int,
    flags: *mut c_uint,
    active: *mut c_int,
) -> CUresult {
    run("cuDevicePrimaryCtxGetState", || {
        super::device::check_device(dev)?;
        let s = lock(&contexts()[dev as usize].state);
        // SAFETY: caller contract.
        unsafe {
            put(flags, s.flags)?;
            put(active, c_int::from(s.active))
        }
    })
}

#[no_mangle]
pub extern "C" fn cuDevicePrimaryCtxSetFlags_v2(dev: c_int, flags: c_uint) -> CUresult {
    run("cuDevicePrimaryCtxSetFlags_v2", || {
        super::device::check_device(dev)?;
        lock(&contexts()[dev as usize].state).flags = flags;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuCtxGetCurrent(pctx: *mut *mut c_void) -> CUresult {
    run("cuCtxGetCurrent", || {
        driver()?;
        // SAFETY: caller contract.
        unsafe { put(pctx, current_handle() as *mut c_void) }
    })
}

#[no_mangle]
pub extern "C" fn cuCtxSetCurrent(ctx: *mut c_void) -> CUresult {
    run("cuCtxSetCurrent", || {
        driver()?;
        let handle = ctx as u64;
        if handle != 0 && by_handle(handle).is_none() {
            return Err(CUresult::CUDA_ERROR_INVALID_CONTEXT);
        }
        STACK.with(|s| {
            let mut s = s.borrow_mut();
            match (handle, s.last_mut()) {
                (0, Some(_)) => {
                    s.pop();
                }
                (0, None) => {}
                (h, Some(top)) => *top = h,
                (h, None) => s.push(h),
            }
        });
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn cuCtxPushCurrent_v2(ctx: *mut c_void) -> CUresult {
    run("cuCtxPushCurrent_v2", || {
        driver()?;
        let handle = ctx as u64;
        by_handle(handle).ok_or(CUresult::CUDA_ERROR_INVALID_CONTEXT)?;
        STACK.with(|s| s.borrow_mut().push(handle));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuCtxPopCurrent_v2(pctx: *mut *mut c_void) -> CUresult {
    run("cuCtxPopCurrent_v2", || {
        driver()?;
        let popped = STACK
            .with(|s| s.borrow_mut().pop())
            .ok_or(CUresult::CUDA_ERROR_INVALID_CONTEXT)?;
        if !pctx.is_null() {
            // SAFETY: caller contract (non-null: writable).
            unsafe { put(pctx, popped as *mut c_void)? };
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuCtxGetDevice(dev: *mut c_int) -> CUresult {
    run("cuCtxGetDevice", || {
        let ctx = current_even_if_failed()?;
        // SAFETY: caller contract.
        unsafe { put(dev, ctx.device) }
    })
}

#[no_mangle]
pub extern "C" fn cuCtxSynchronize() -> CUresult {
    run("cuCtxSynchronize", || {
        current_even_if_failed()?.synchronize("cuCtxSynchronize")
    })
}

#[no_mangle]
pub extern "C" fn cuCtxSetLimit(limit: c_uint, value: usize) -> CUresult {
    run("cuCtxSetLimit", || {
        let ctx = current()?;
        match limit {
            LIMIT_STACK_SIZE => {
                if value > MAX_LOCAL_PER_THREAD {
                    return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
                }
                if value > ctx.stack_limit() {
                    ctx.grow_stack(value, "cuCtxSetLimit(CU_LIMIT_STACK_SIZE)")
                } else {
                    lock(&ctx.state).limits[0] = value;
                    Ok(())
                }
            }
            LIMIT_PRINTF_FIFO_SIZE | LIMIT_MALLOC_HEAP_SIZE => {
                lock(&ctx.state).limits[limit as usize] = value;
                Ok(())
            }
            _ => Err(CUresult::CUDA_ERROR_UNSUPPORTED_LIMIT),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuCtxGetLimit(value: *mut usize, limit: c_uint) -> CUresult {
    run("cuCtxGetLimit", || {
        let ctx = current()?;
        let v = match limit {
            LIMIT_STACK_SIZE | LIMIT_PRINTF_FIFO_SIZE | LIMIT_MALLOC_HEAP_SIZE => {
                lock(&ctx.state).limits[limit as usize]
            }
            _ => return Err(CUresult::CUDA_ERROR_UNSUPPORTED_LIMIT),
        };
        // SAFETY: caller contract.
        unsafe { put(value, v) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuCtxGetFlags(flags: *mut c_uint) -> CUresult {
    run("cuCtxGetFlags", || {
        let ctx = current()?;
        let f = lock(&ctx.state).flags;
        // SAFETY: caller contract.
        unsafe { put(flags, f) }
    })
}

#[no_mangle]
pub extern "C" fn cuCtxSetFlags(flags: c_uint) -> CUresult {
    run("cuCtxSetFlags", || {
        lock(&current()?.state).flags = flags;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuCtxGetStreamPriorityRange(
    least: *mut c_int,
    greatest: *mut c_int,
) -> CUresult {
    run("cuCtxGetStreamPriorityRange", || {
        current()?;
        // SAFETY: caller contract (either may be null: then not written).
        unsafe {
            if !least.is_null() {
                put(least, 0)?;
            }
            if !greatest.is_null() {
                put(greatest, -5)?;
            }
        }
        Ok(())
    })
}
