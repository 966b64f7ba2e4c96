//! `cuStream*`, `cuEvent*` and `cuLaunchHostFunc`.
//!
//! Modelled rules (Driver API reference, Stream Management and Event
//! Management): `cuStreamDestroy` returns at once and the stream's work
//! still completes; `cuStreamQuery` and `cuEventQuery` answer
//! `CUDA_ERROR_NOT_READY` while work is pending; `cuEventElapsedTime`
//! refuses events created with `CU_EVENT_DISABLE_TIMING`
//! (`CUDA_ERROR_INVALID_HANDLE`) and events not yet complete
//! (`CUDA_ERROR_NOT_READY`); an event never recorded counts as complete.

use std::cell::RefCell;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::Arc;

use cudarc::driver::sys::CUresult;

use super::context::{current, current_even_if_failed, Context};
use super::stream::{Event, EventState, Stream, StreamKind, Work};
use super::{driver, lock, put, run};

const STREAM_NON_BLOCKING: c_uint = 1;
const EVENT_DISABLE_TIMING: c_uint = 2;
const EVENT_FLAGS: c_uint = 0x1 | 0x2 | 0x4;

thread_local! {
    /// This thread's per-thread default streams (`CU_STREAM_PER_THREAD`).
    static PER_THREAD: RefCell<Vec<Arc<Stream>>> = const { RefCell::new(Vec::new()) };
}

/// The stream `handle` names in context `ctx`: `NULL` and
/// `CU_STREAM_LEGACY` (1) are the legacy default stream,
/// `CU_STREAM_PER_THREAD` (2) the calling thread's default stream.
pub(crate) fn stream_in(ctx: &Arc<Context>, handle: u64) -> Result<Arc<Stream>, CUresult> {
    let generation = ctx.generation();
    match handle {
        0 | 1 => Ok(ctx.legacy_stream()),
        2 => Ok(PER_THREAD.with(|p| {
            let mut p = p.borrow_mut();
            p.retain(|s| s.generation == s.ctx.generation());
            if let Some(s) = p
                .iter()
                .find(|s| Arc::ptr_eq(&s.ctx, ctx) && s.generation == generation)
            {
                return s.clone();
            }
            let s = Arc::new(Stream::new(
                2,
                ctx.clone(),
                generation,
                StreamKind::Blocking,
                0,
            ));
            ctx.add_stream(&s);
            p.push(s.clone());
            s
        })),
        h => {
            let s = driver()?.streams.get(h)?;
            if !Arc::ptr_eq(&s.ctx, ctx) || s.generation != generation {
                return Err(CUresult::CUDA_ERROR_INVALID_HANDLE);
            }
            Ok(s)
        }
    }
}

/// The stream `handle` names in the calling thread's current context.
pub(crate) fn stream_of(handle: *mut c_void) -> Result<Arc<Stream>, CUresult> {
    stream_in(&current()?, handle as u64)
}

fn create_stream(out: *mut *mut c_void, flags: c_uint, priority: c_int) -> Result<(), CUresult> {
    let ctx = current()?;
    let kind = match flags {
        0 => StreamKind::Blocking,
        STREAM_NON_BLOCKING => StreamKind::NonBlocking,
        _ => return Err(CUresult::CUDA_ERROR_INVALID_VALUE),
    };
    let generation = ctx.generation();
    let priority = priority.clamp(-5, 0);
    let s = driver()?
        .streams
        .insert(|h| Stream::new(h, ctx.clone(), generation, kind, priority));
    ctx.add_stream(&s);
    // SAFETY: caller contract.
    unsafe { put(out, s.handle as *mut c_void) }
}

#[no_mangle]
pub unsafe extern "C" fn cuStreamCreate(out: *mut *mut c_void, flags: c_uint) -> CUresult {
    run("cuStreamCreate", || create_stream(out, flags, 0))
}

#[no_mangle]
pub unsafe extern "C" fn cuStreamCreateWithPriority(
    out: *mut *mut c_void,
    flags: c_uint,
    priority: c_int,
) -> CUresult {
    run("cuStreamCreateWithPriority", || {
        create_stream(out, flags, priority)
    })
}

#[no_mangle]
pub extern "C" fn cuStreamDestroy_v2(stream: *mut c_void) -> CUresult {
    run("cuStreamDestroy_v2", || {
        current_even_if_failed()?;
        let h = stream as u64;
        if h <= 2 {
            return Err(CUresult::CUDA_ERROR_INVALID_HANDLE);
        }
        driver()?.streams.remove(h)?.close();
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn cuStreamQuery(stream: *mut c_void) -> CUresult {
    run("cuStreamQuery", || {
        let ctx = current_even_if_failed()?;
        let s = stream_in(&ctx, stream as u64)?;
        if let Some(e) = ctx.sticky() {
            return Err(e);
        }
        if s.idle() {
            Ok(())
        } else {
            Err(CUresult::CUDA_ERROR_NOT_READY)
        }
    })
}

#[no_mangle]
pub extern "C" fn cuStreamSynchronize(stream: *mut c_void) -> CUresult {
    run("cuStreamSynchronize", || {
        let ctx = current_even_if_failed()?;
        let s = stream_in(&ctx, stream as u64)?;
        let seq = s.submitted();
        s.wait(seq, &format!("cuStreamSynchronize({})", s.describe()))?;
        match ctx.sticky() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })
}

#[no_mangle]
pub extern "C" fn cuStreamWaitEvent(
    stream: *mut c_void,
    event: *mut c_void,
    _flags: c_uint,
) -> CUresult {
    run("cuStreamWaitEvent", || {
        let s = stream_of(stream)?;
        let e = driver()?.events.get(event as u64)?;
        let dep = lock(&e.state).recorded.clone();
        s.enqueue(Work::Nothing, dep.into_iter().collect());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuStreamGetFlags(stream: *mut c_void, flags: *mut c_uint) -> CUresult {
    run("cuStreamGetFlags", || {
        let s = stream_of(stream)?;
        let f = match s.kind {
            StreamKind::NonBlocking => STREAM_NON_BLOCKING,
            _ => 0,
        };
        // SAFETY: caller contract.
        unsafe { put(flags, f) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuStreamGetPriority(
    stream: *mut c_void,
    priority: *mut c_int,
) -> CUresult {
    run("cuStreamGetPriority", || {
        let s = stream_of(stream)?;
        // SAFETY: caller contract.
        unsafe { put(priority, s.priority) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuLaunchHostFunc(
    stream: *mut c_void,
    f: Option<unsafe extern "C" fn(*mut c_void)>,
    data: *mut c_void,
) -> CUresult {
    run("cuLaunchHostFunc", || {
        let f = f.ok_or(CUresult::CUDA_ERROR_INVALID_VALUE)?;
        stream_of(stream)?.enqueue(
            Work::Host {
                f,
                data: data as usize,
            },
            Vec::new(),
        );
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuEventCreate(out: *mut *mut c_void, flags: c_uint) -> CUresult {
    run("cuEventCreate", || {
        if flags & !EVENT_FLAGS != 0 {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        let ctx = current()?;
        let generation = ctx.generation();
        let e = driver()?.events.insert(|handle| Event {
            handle,
            ctx: ctx.clone(),
            generation,
            flags,
            state: std::sync::Mutex::new(EventState::default()),
        });
        // SAFETY: caller contract.
        unsafe { put(out, e.handle as *mut c_void) }
    })
}

#[no_mangle]
pub extern "C" fn cuEventDestroy_v2(event: *mut c_void) -> CUresult {
    run("cuEventDestroy_v2", || {
        current_even_if_failed()?;
        driver()?.events.remove(event as u64).map(drop)
    })
}

#[no_mangle]
pub extern "C" fn cuEventRecord(event: *mut c_void, stream: *mut c_void) -> CUresult {
    run("cuEventRecord", || {
        let e = driver()?.events.get(event as u64)?;
        let s = stream_of(stream)?;
        if !Arc::ptr_eq(&s.ctx, &e.ctx) {
            return Err(CUresult::CUDA_ERROR_INVALID_CONTEXT);
        }
        let mut st = lock(&e.state);
        st.stamp = None;
        let seq = s.enqueue(Work::Stamp(e.clone()), Vec::new());
        st.recorded = Some((s, seq));
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn cuEventRecordWithFlags(
    event: *mut c_void,
    stream: *mut c_void,
    _flags: c_uint,
) -> CUresult {
    cuEventRecord(event, stream)
}

#[no_mangle]
pub extern "C" fn cuEventQuery(event: *mut c_void) -> CUresult {
    run("cuEventQuery", || {
        let e = driver()?.events.get(event as u64)?;
        if let Some(err) = e.ctx.sticky() {
            return Err(err);
        }
        if e.complete() {
            Ok(())
        } else {
            Err(CUresult::CUDA_ERROR_NOT_READY)
        }
    })
}

#[no_mangle]
pub extern "C" fn cuEventSynchronize(event: *mut c_void) -> CUresult {
    run("cuEventSynchronize", || {
        let e = driver()?.events.get(event as u64)?;
        let recorded = lock(&e.state).recorded.clone();
        if let Some((s, seq)) = recorded {
            s.wait(seq, &format!("cuEventSynchronize(event {:#x})", e.handle))?;
        }
        match e.ctx.sticky() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuEventElapsedTime(
    ms: *mut f32,
    start: *mut c_void,
    end: *mut c_void,
) -> CUresult {
    run("cuEventElapsedTime", || {
        let d = driver()?;
        let (a, b) = (d.events.get(start as u64)?, d.events.get(end as u64)?);
        if (a.flags | b.flags) & EVENT_DISABLE_TIMING != 0 {
            return Err(CUresult::CUDA_ERROR_INVALID_HANDLE);
        }
        if !(a.complete() && b.complete()) {
            return Err(CUresult::CUDA_ERROR_NOT_READY);
        }
        let (Some(ta), Some(tb)) = (a.time(), b.time()) else {
            return Err(CUresult::CUDA_ERROR_INVALID_HANDLE);
        };
        let elapsed = if tb >= ta {
            tb.duration_since(ta).as_secs_f64()
        } else {
            -ta.duration_since(tb).as_secs_f64()
        };
        // SAFETY: caller contract.
        unsafe { put(ms, (elapsed * 1e3) as f32) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuEventElapsedTime_v2(
    ms: *mut f32,
    start: *mut c_void,
    end: *mut c_void,
) -> CUresult {
    // SAFETY: forwarded caller contract.
    unsafe { cuEventElapsedTime(ms, start, end) }
}
