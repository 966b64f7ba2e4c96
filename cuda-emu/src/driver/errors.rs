//! `cuGetErrorName` and `cuGetErrorString`: the names and descriptions of
//! the codes the stand-in returns (descriptions as the driver gives them).

use std::ffi::{c_char, CStr};

use cudarc::driver::sys::CUresult;

const TABLE: &[(u32, &CStr, &CStr)] = &[
    (0, c"CUDA_SUCCESS", c"no error"),
    (1, c"CUDA_ERROR_INVALID_VALUE", c"invalid argument"),
    (2, c"CUDA_ERROR_OUT_OF_MEMORY", c"out of memory"),
    (3, c"CUDA_ERROR_NOT_INITIALIZED", c"initialization error"),
    (4, c"CUDA_ERROR_DEINITIALIZED", c"driver shutting down"),
    (
        100,
        c"CUDA_ERROR_NO_DEVICE",
        c"no CUDA-capable device is detected",
    ),
    (101, c"CUDA_ERROR_INVALID_DEVICE", c"invalid device ordinal"),
    (
        200,
        c"CUDA_ERROR_INVALID_IMAGE",
        c"device kernel image is invalid",
    ),
    (
        201,
        c"CUDA_ERROR_INVALID_CONTEXT",
        c"invalid device context",
    ),
    (
        209,
        c"CUDA_ERROR_NO_BINARY_FOR_GPU",
        c"no kernel image is available for execution on the device",
    ),
    (
        215,
        c"CUDA_ERROR_UNSUPPORTED_LIMIT",
        c"limit is not supported on this architecture",
    ),
    (
        218,
        c"CUDA_ERROR_INVALID_PTX",
        c"a PTX JIT compilation failed",
    ),
    (
        400,
        c"CUDA_ERROR_INVALID_HANDLE",
        c"invalid resource handle",
    ),
    (500, c"CUDA_ERROR_NOT_FOUND", c"named symbol not found"),
    (600, c"CUDA_ERROR_NOT_READY", c"device not ready"),
    (
        700,
        c"CUDA_ERROR_ILLEGAL_ADDRESS",
        c"an illegal memory access was encountered",
    ),
    (
        701,
        c"CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
        c"too many resources requested for launch",
    ),
    (
        702,
        c"CUDA_ERROR_LAUNCH_TIMEOUT",
        c"the launch timed out and was terminated",
    ),
    (
        709,
        c"CUDA_ERROR_CONTEXT_IS_DESTROYED",
        c"context is destroyed",
    ),
    (
        719,
        c"CUDA_ERROR_LAUNCH_FAILED",
        c"unspecified launch failure",
    ),
    (
        720,
        c"CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE",
        c"too many blocks in cooperative launch",
    ),
    (801, c"CUDA_ERROR_NOT_SUPPORTED", c"operation not supported"),
    (999, c"CUDA_ERROR_UNKNOWN", c"unknown error"),
];

fn lookup(code: u32) -> Option<&'static (u32, &'static CStr, &'static CStr)> {
    TABLE.iter().find(|(c, _, _)| *c == code)
}

/// The name of `e`, for messages.
pub(crate) fn name(e: CUresult) -> String {
    lookup(e as u32).map_or_else(
        || format!("{e:?}"),
        |(_, n, _)| n.to_string_lossy().into_owned(),
    )
}

/// # Safety
/// `out` is null or valid for writing one pointer.
unsafe fn answer(
    code: u32,
    out: *mut *const c_char,
    pick: fn(&(u32, &CStr, &CStr)) -> *const c_char,
) -> CUresult {
    if out.is_null() {
        return CUresult::CUDA_ERROR_INVALID_VALUE;
    }
    match lookup(code) {
        // SAFETY: `out` is non-null and writable (the caller's contract).
        Some(row) => unsafe {
            *out = pick(row);
            CUresult::CUDA_SUCCESS
        },
        // SAFETY: as above; an unknown code gives NULL, as the driver does.
        None => unsafe {
            *out = std::ptr::null();
            CUresult::CUDA_ERROR_INVALID_VALUE
        },
    }
}

#[no_mangle]
pub unsafe extern "C" fn cuGetErrorName(error: u32, out: *mut *const c_char) -> CUresult {
    // SAFETY: forwarded caller contract.
    unsafe { answer(error, out, |r| r.1.as_ptr()) }
}

#[no_mangle]
pub unsafe extern "C" fn cuGetErrorString(error: u32, out: *mut *const c_char) -> CUresult {
    // SAFETY: forwarded caller contract.
    unsafe { answer(error, out, |r| r.2.as_ptr()) }
}
