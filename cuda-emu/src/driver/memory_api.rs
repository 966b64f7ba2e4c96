//! `cuMem*`: allocation, copies and memsets.
//!
//! Modelled rules ("API synchronization behavior" and the Memory
//! Management reference):
//! - the synchronous copies and memsets run in the legacy default stream;
//!   a copy from pageable host memory is staged when the call is made; a
//!   copy from pinned memory to the device, and any copy from the device to
//!   host memory, returns once the copy has completed; a device-to-device
//!   copy and a memset of device memory do not wait (a memset of pinned
//!   host memory does);
//! - the `Async` copies are queued on their stream, except that a copy from
//!   the device to pageable host memory "will return only once the copy has
//!   completed", and a copy from pageable memory is staged at once;
//! - a copy or memset that names memory outside a live allocation, or
//!   beyond its end, or already freed, fails with `CUDA_ERROR_INVALID_VALUE`
//!   (and the stand-in says which); so does a second free;
//! - `cuMemFree` "may perform implicit synchronization" for memory not
//!   from `cuMemAllocAsync`: the stand-in waits for the context's work
//!   first (and `cuMemFreeHost` likewise); `cuMemFreeAsync` frees in
//!   stream order;
//! - pinned memory: `cuMemHostAlloc` flags are `PORTABLE`, `DEVICEMAP`
//!   and `WRITECOMBINED`; with unified addressing its device pointer is its
//!   host pointer, whatever the flags (`cuMemHostGetDevicePointer` flags
//!   must be 0).

use std::ffi::{c_uint, c_void};
use std::sync::Arc;

use cudarc::driver::sys::CUresult;

use super::context::{current, Context};
use super::memory::{AllocKind, Refusal};
use super::stream::{Stream, Work};
use super::stream_api::stream_of;
use super::{driver, put, run};

const HOST_ALLOC_FLAGS: c_uint = 0x1 | 0x2 | 0x4;

/// Checks that `[addr, addr + len)` lies in one live allocation (device
/// memory, or pinned memory through its device pointer).
fn device_range(addr: u64, len: usize, call: &str, what: &str) -> Result<(), CUresult> {
    match driver()?.memory.find(addr as usize, len) {
        Ok(_) => Ok(()),
        Err(why) => {
            let why = match why {
                Refusal::Unknown => "is not in any allocation".to_string(),
                Refusal::Freed(by) => format!("was freed (by {by})"),
                Refusal::OutOfRange { base, size } => {
                    format!("runs past the end of the {size}-byte allocation at {base:#x}")
                }
            };
            crate::log::warn(format!(
                "{call}: the {what} range {addr:#x} + {len} bytes {why}; returning CUDA_ERROR_INVALID_VALUE"
            ));
            Err(CUresult::CUDA_ERROR_INVALID_VALUE)
        }
    }
}

/// `true` when host memory `[p, p + len)` is pinned (from `cuMemHostAlloc`).
fn pinned(p: usize, len: usize) -> bool {
    driver().is_ok_and(|d| {
        d.memory
            .find(p, len)
            .is_ok_and(|a| matches!(a.kind, AllocKind::Pinned { .. }))
    })
}

/// Queues host-to-device work: staged now from pageable memory, read in
/// stream order from pinned memory.
fn host_to_device(s: &Arc<Stream>, dst: u64, src: *const c_void, len: usize) -> u64 {
    if pinned(src as usize, len) {
        copy(s, dst as usize, src as usize, len)
    } else {
        // SAFETY: the caller's contract: `src` holds `len` readable bytes
        // for the duration of the call.
        let data = unsafe { std::slice::from_raw_parts(src.cast::<u8>(), len) }.to_vec();
        s.enqueue(
            Work::Upload {
                dst: dst as usize,
                data,
            },
            Vec::new(),
        )
    }
}

fn legacy() -> Result<(Arc<Context>, Arc<Stream>), CUresult> {
    let ctx = current()?;
    let s = ctx.legacy_stream();
    Ok((ctx, s))
}

fn finish(s: &Stream, seq: u64, call: &str) -> Result<(), CUresult> {
    s.wait(seq, call)?;
    match s.ctx.sticky() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[no_mangle]
pub unsafe extern "C" fn cuMemAlloc_v2(dptr: *mut u64, size: usize) -> CUresult {
    run("cuMemAlloc_v2", || {
        let ctx = current()?;
        let p = driver()?.memory.alloc(
            size,
            AllocKind::Device {
                stream_ordered: false,
            },
            ctx.handle,
            ctx.generation(),
        )?;
        // SAFETY: caller contract.
        unsafe { put(dptr, p as u64) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemAllocAsync(
    dptr: *mut u64,
    size: usize,
    stream: *mut c_void,
) -> CUresult {
    run("cuMemAllocAsync", || {
        let s = stream_of(stream)?;
        let p = driver()?.memory.alloc(
            size,
            AllocKind::Device {
                stream_ordered: true,
            },
            s.ctx.handle,
            s.generation,
        )?;
        // SAFETY: caller contract.
        unsafe { put(dptr, p as u64) }
    })
}

#[no_mangle]
pub extern "C" fn cuMemFree_v2(dptr: u64) -> CUresult {
    run("cuMemFree_v2", || {
        let ctx = current()?;
        let mem = &driver()?.memory;
        let ordered = matches!(
            mem.find(dptr as usize, 1).map(|a| a.kind),
            Ok(AllocKind::Device {
                stream_ordered: true
            })
        );
        if !ordered {
            ctx.synchronize("cuMemFree_v2 (which may synchronise the device)")?;
        }
        mem.free(dptr as usize, false, "cuMemFree").map(drop)
    })
}

#[no_mangle]
pub extern "C" fn cuMemFreeAsync(dptr: u64, stream: *mut c_void) -> CUresult {
    run("cuMemFreeAsync", || {
        let s = stream_of(stream)?;
        let a = driver()?
            .memory
            .take(dptr as usize, false, "cuMemFreeAsync")?;
        s.enqueue(Work::Release(a), Vec::new());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemHostAlloc(
    pp: *mut *mut c_void,
    size: usize,
    flags: c_uint,
) -> CUresult {
    run("cuMemHostAlloc", || {
        if flags & !HOST_ALLOC_FLAGS != 0 {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        let ctx = current()?;
        let p = driver()?.memory.alloc(
            size,
            AllocKind::Pinned { flags },
            ctx.handle,
            ctx.generation(),
        )?;
        // SAFETY: caller contract.
        unsafe { put(pp, p as *mut c_void) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemAllocHost_v2(pp: *mut *mut c_void, size: usize) -> CUresult {
    // SAFETY: forwarded caller contract.
    unsafe { cuMemHostAlloc(pp, size, 0) }
}

#[no_mangle]
pub extern "C" fn cuMemFreeHost(p: *mut c_void) -> CUresult {
    run("cuMemFreeHost", || {
        let ctx = current()?;
        ctx.synchronize("cuMemFreeHost (which may synchronise the device)")?;
        driver()?
            .memory
            .free(p as usize, true, "cuMemFreeHost")
            .map(drop)
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemHostGetDevicePointer_v2(
    pdptr: *mut u64,
    p: *mut c_void,
    flags: c_uint,
) -> CUresult {
    run("cuMemHostGetDevicePointer_v2", || {
        current()?;
        if flags != 0 || !pinned(p as usize, 1) {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        // SAFETY: caller contract.
        unsafe { put(pdptr, p as u64) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemGetInfo_v2(free: *mut usize, total: *mut usize) -> CUresult {
    run("cuMemGetInfo_v2", || {
        current()?;
        let (f, t) = driver()?.memory.info();
        // SAFETY: caller contract.
        unsafe {
            put(free, f)?;
            put(total, t)
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemGetAddressRange_v2(
    base: *mut u64,
    size: *mut usize,
    dptr: u64,
) -> CUresult {
    run("cuMemGetAddressRange_v2", || {
        current()?;
        let a = driver()?
            .memory
            .find(dptr as usize, 1)
            .map_err(|_| CUresult::CUDA_ERROR_NOT_FOUND)?;
        // SAFETY: caller contract (either may be null: not written).
        unsafe {
            if !base.is_null() {
                put(base, a.base as u64)?;
            }
            if !size.is_null() {
                put(size, a.size)?;
            }
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemcpyHtoD_v2(dst: u64, src: *const c_void, len: usize) -> CUresult {
    run("cuMemcpyHtoD_v2", || {
        if len == 0 {
            return Ok(());
        }
        device_range(dst, len, "cuMemcpyHtoD_v2", "destination")?;
        let (_, s) = legacy()?;
        let seq = host_to_device(&s, dst, src, len);
        finish(&s, seq, "cuMemcpyHtoD_v2")
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemcpyDtoH_v2(dst: *mut c_void, src: u64, len: usize) -> CUresult {
    run("cuMemcpyDtoH_v2", || {
        if len == 0 {
            return Ok(());
        }
        device_range(src, len, "cuMemcpyDtoH_v2", "source")?;
        let (_, s) = legacy()?;
        let seq = copy(&s, dst as usize, src as usize, len);
        finish(&s, seq, "cuMemcpyDtoH_v2")
    })
}

#[no_mangle]
pub extern "C" fn cuMemcpyDtoD_v2(dst: u64, src: u64, len: usize) -> CUresult {
    run("cuMemcpyDtoD_v2", || {
        if len == 0 {
            return Ok(());
        }
        device_range(dst, len, "cuMemcpyDtoD_v2", "destination")?;
        device_range(src, len, "cuMemcpyDtoD_v2", "source")?;
        let (_, s) = legacy()?;
        copy(&s, dst as usize, src as usize, len);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemcpyHtoDAsync_v2(
    dst: u64,
    src: *const c_void,
    len: usize,
    stream: *mut c_void,
) -> CUresult {
    run("cuMemcpyHtoDAsync_v2", || {
        let s = stream_of(stream)?;
        if len == 0 {
            return Ok(());
        }
        device_range(dst, len, "cuMemcpyHtoDAsync_v2", "destination")?;
        host_to_device(&s, dst, src, len);
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuMemcpyDtoHAsync_v2(
    dst: *mut c_void,
    src: u64,
    len: usize,
    stream: *mut c_void,
) -> CUresult {
    run("cuMemcpyDtoHAsync_v2", || {
        let s = stream_of(stream)?;
        if len == 0 {
            return Ok(());
        }
        device_range(src, len, "cuMemcpyDtoHAsync_v2", "source")?;
        let seq = copy(&s, dst as usize, src as usize, len);
        if pinned(dst as usize, len) {
            Ok(())
        } else {
            finish(
                &s,
                seq,
                &format!(
                    "cuMemcpyDtoHAsync_v2 into pageable memory on {} (which returns once the copy is done)",
                    s.describe()
                ),
            )
        }
    })
}

#[no_mangle]
pub extern "C" fn cuMemcpyDtoDAsync_v2(
    dst: u64,
    src: u64,
    len: usize,
    stream: *mut c_void,
) -> CUresult {
    run("cuMemcpyDtoDAsync_v2", || {
        let s = stream_of(stream)?;
        if len == 0 {
            return Ok(());
        }
        device_range(dst, len, "cuMemcpyDtoDAsync_v2", "destination")?;
        device_range(src, len, "cuMemcpyDtoDAsync_v2", "source")?;
        copy(&s, dst as usize, src as usize, len);
        Ok(())
    })
}

/// Queues a copy of `len` bytes from `src` to `dst` (both checked) on `s`;
/// returns its number on the stream.
fn copy(s: &Arc<Stream>, dst: usize, src: usize, len: usize) -> u64 {
    s.enqueue(Work::Copy { dst, src, len }, Vec::new())
}

/// A memset of `count` elements of `width` bytes, on `stream` (`None`: the
/// synchronous form, on the legacy stream).
fn memset(
    call: &str,
    dst: u64,
    value: u32,
    width: usize,
    count: usize,
    stream: Option<*mut c_void>,
) -> Result<(), CUresult> {
    let s = match stream {
        Some(h) => stream_of(h)?,
        None => legacy()?.1,
    };
    if count == 0 {
        return Ok(());
    }
    let len = count
        .checked_mul(width)
        .ok_or(CUresult::CUDA_ERROR_INVALID_VALUE)?;
    if !(dst as usize).is_multiple_of(width) {
        return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
    }
    device_range(dst, len, call, "destination")?;
    let seq = s.enqueue(
        Work::Fill {
            dst: dst as usize,
            value,
            width,
            count,
        },
        Vec::new(),
    );
    if stream.is_none() && pinned(dst as usize, len) {
        finish(&s, seq, call)?;
    }
    Ok(())
}

#[no_mangle]
pub extern "C" fn cuMemsetD8_v2(dst: u64, value: u8, count: usize) -> CUresult {
    run("cuMemsetD8_v2", || {
        memset("cuMemsetD8_v2", dst, value.into(), 1, count, None)
    })
}

#[no_mangle]
pub extern "C" fn cuMemsetD16_v2(dst: u64, value: u16, count: usize) -> CUresult {
    run("cuMemsetD16_v2", || {
        memset("cuMemsetD16_v2", dst, value.into(), 2, count, None)
    })
}

#[no_mangle]
pub extern "C" fn cuMemsetD32_v2(dst: u64, value: u32, count: usize) -> CUresult {
    run("cuMemsetD32_v2", || {
        memset("cuMemsetD32_v2", dst, value, 4, count, None)
    })
}

#[no_mangle]
pub extern "C" fn cuMemsetD8Async(
    dst: u64,
    value: u8,
    count: usize,
    stream: *mut c_void,
) -> CUresult {
    run("cuMemsetD8Async", || {
        memset("cuMemsetD8Async", dst, value.into(), 1, count, Some(stream))
    })
}

#[no_mangle]
pub extern "C" fn cuMemsetD16Async(
    dst: u64,
    value: u16,
    count: usize,
    stream: *mut c_void,
) -> CUresult {
    run("cuMemsetD16Async", || {
        memset(
            "cuMemsetD16Async",
            dst,
            value.into(),
            2,
            count,
            Some(stream),
        )
    })
}

#[no_mangle]
pub extern "C" fn cuMemsetD32Async(
    dst: u64,
    value: u32,
    count: usize,
    stream: *mut c_void,
) -> CUresult {
    run("cuMemsetD32Async", || {
        memset("cuMemsetD32Async", dst, value, 4, count, Some(stream))
    })
}
