//! `cuInit` and the device: one emulated GPU whose attributes are those of
//! an H100 SXM5 80 GB (compute capability 9.0; the per-capability limits
//! are the CUDA C++ Programming Guide's "Compute Capabilities" table, the
//! SM count and memory size NVIDIA's H100 datasheet). Its name says it is
//! emulated, so nothing mistakes its timings for a GPU's.

use std::ffi::{c_char, c_int, c_uint, c_void};

use cudarc::driver::sys::CUresult;

use super::{init, put, run};

/// What `cuDeviceGetName` returns.
pub const DEVICE_NAME: &str = "spindle emulated GPU (H100-like)";
/// Devices the stand-in has.
pub const DEVICE_COUNT: c_int = 1;
/// CUDA 13.0, as `cuDriverGetVersion` encodes it.
pub const DRIVER_VERSION: c_int = 13000;
/// Device memory (80 GiB).
pub const TOTAL_MEMORY: usize = 80 << 30;
/// Streaming multiprocessors.
pub const SM_COUNT: u32 = 132;
/// Resident threads per SM.
pub const THREADS_PER_SM: u32 = 2048;
/// Static shared memory per block, and dynamic without opting in.
pub const SHARED_PER_BLOCK: u32 = 48 << 10;
/// The most shared memory a block may opt in to (227 KiB).
pub const SHARED_PER_BLOCK_OPTIN: u32 = 227 << 10;
/// Grids resident at once ("maximum number of resident grids per device").
pub const MAX_RESIDENT_GRIDS: usize = 128;
/// Local memory per thread at most (512 KiB).
pub const MAX_LOCAL_PER_THREAD: usize = 512 << 10;

/// `(attribute number, value)` for every attribute the stand-in models
/// (numbers as in `CUdevice_attribute`).
const ATTRIBUTES: &[(u32, i32)] = &[
    (1, 1024),                           // MAX_THREADS_PER_BLOCK
    (2, 1024),                           // MAX_BLOCK_DIM_X
    (3, 1024),                           // MAX_BLOCK_DIM_Y
    (4, 64),                             // MAX_BLOCK_DIM_Z
    (5, i32::MAX),                       // MAX_GRID_DIM_X
    (6, 65535),                          // MAX_GRID_DIM_Y
    (7, 65535),                          // MAX_GRID_DIM_Z
    (8, SHARED_PER_BLOCK as i32),        // MAX_SHARED_MEMORY_PER_BLOCK
    (9, 65536),                          // TOTAL_CONSTANT_MEMORY
    (10, 32),                            // WARP_SIZE
    (11, i32::MAX),                      // MAX_PITCH
    (12, 65536),                         // MAX_REGISTERS_PER_BLOCK
    (13, 1_980_000),                     // CLOCK_RATE (kHz)
    (14, 512),                           // TEXTURE_ALIGNMENT
    (15, 1),                             // GPU_OVERLAP
    (16, SM_COUNT as i32),               // MULTIPROCESSOR_COUNT
    (17, 0),                             // KERNEL_EXEC_TIMEOUT (no watchdog)
    (18, 0),                             // INTEGRATED
    (19, 1),                             // CAN_MAP_HOST_MEMORY
    (20, 0),                             // COMPUTE_MODE (default)
    (31, 1),                             // CONCURRENT_KERNELS
    (32, 1),                             // ECC_ENABLED
    (33, 0),                             // PCI_BUS_ID
    (34, 0),                             // PCI_DEVICE_ID
    (35, 0),                             // TCC_DRIVER
    (36, 2_619_000),                     // MEMORY_CLOCK_RATE (kHz)
    (37, 5120),                          // GLOBAL_MEMORY_BUS_WIDTH
    (38, 50 << 20),                      // L2_CACHE_SIZE
    (39, THREADS_PER_SM as i32),         // MAX_THREADS_PER_MULTIPROCESSOR
    (40, 3),                             // ASYNC_ENGINE_COUNT
    (41, 1),                             // UNIFIED_ADDRESSING
    (50, 0),                             // PCI_DOMAIN_ID
    (75, 9),                             // COMPUTE_CAPABILITY_MAJOR
    (76, 0),                             // COMPUTE_CAPABILITY_MINOR
    (78, 1),                             // STREAM_PRIORITIES_SUPPORTED
    (79, 1),                             // GLOBAL_L1_CACHE_SUPPORTED
    (80, 1),                             // LOCAL_L1_CACHE_SUPPORTED
    (81, 228 << 10),                     // MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
    (82, 65536),                         // MAX_REGISTERS_PER_MULTIPROCESSOR
    (83, 1),                             // MANAGED_MEMORY
    (84, 0),                             // MULTI_GPU_BOARD
    (86, 0),                             // HOST_NATIVE_ATOMIC_SUPPORTED (PCIe)
    (88, 0),                             // PAGEABLE_MEMORY_ACCESS
    (89, 1),                             // CONCURRENT_MANAGED_ACCESS
    (90, 1),                             // COMPUTE_PREEMPTION_SUPPORTED
    (91, 0),                             // CAN_USE_HOST_POINTER_FOR_REGISTERED_MEM
    (95, 1),                             // COOPERATIVE_LAUNCH
    (97, SHARED_PER_BLOCK_OPTIN as i32), // MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
    (99, 1),                             // HOST_REGISTER_SUPPORTED
    (106, 32),                           // MAX_BLOCKS_PER_MULTIPROCESSOR
    (111, 1024),                         // RESERVED_SHARED_MEMORY_PER_BLOCK
    (115, 1),                            // MEMORY_POOLS_SUPPORTED
    (120, 1),                            // CLUSTER_LAUNCH
];

/// The value of device attribute number `attribute`, if modelled.
pub fn attribute(attribute: u32) -> Option<i32> {
    ATTRIBUTES
        .iter()
        .find(|(a, _)| *a == attribute)
        .map(|(_, v)| *v)
}

/// `Ok` for a valid device ordinal.
pub(crate) fn check_device(dev: c_int) -> Result<(), CUresult> {
    super::driver()?;
    if (0..DEVICE_COUNT).contains(&dev) {
        Ok(())
    } else {
        Err(CUresult::CUDA_ERROR_INVALID_DEVICE)
    }
}

#[no_mangle]
pub extern "C" fn cuInit(flags: c_uint) -> CUresult {
    run("cuInit", || {
        // "Flags: Initialization flag for CUDA. Currently must be 0."
        if flags != 0 {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        init();
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDriverGetVersion(version: *mut c_int) -> CUresult {
    // SAFETY: caller contract (a writable int or null).
    run("cuDriverGetVersion", || unsafe {
        put(version, DRIVER_VERSION)
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDeviceGetCount(count: *mut c_int) -> CUresult {
    run("cuDeviceGetCount", || {
        super::driver()?;
        // SAFETY: caller contract.
        unsafe { put(count, DEVICE_COUNT) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDeviceGet(device: *mut c_int, ordinal: c_int) -> CUresult {
    run("cuDeviceGet", || {
        check_device(ordinal)?;
        // SAFETY: caller contract.
        unsafe { put(device, ordinal) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDeviceGetName(name: *mut c_char, len: c_int, dev: c_int) -> CUresult {
    run("cuDeviceGetName", || {
        check_device(dev)?;
        if name.is_null() || len <= 0 {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        // The name, cut to fit, always NUL-terminated.
        let bytes = DEVICE_NAME.as_bytes();
        let n = bytes.len().min(len as usize - 1);
        // SAFETY: the caller provides `len` writable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), name.cast::<u8>(), n);
            *name.add(n) = 0;
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDeviceTotalMem_v2(bytes: *mut usize, dev: c_int) -> CUresult {
    run("cuDeviceTotalMem_v2", || {
        check_device(dev)?;
        // SAFETY: caller contract.
        unsafe { put(bytes, TOTAL_MEMORY) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDeviceGetAttribute(
    value: *mut c_int,
    attrib: c_uint,
    dev: c_int,
) -> CUresult {
    run("cuDeviceGetAttribute", || {
        check_device(dev)?;
        match attribute(attrib) {
            // SAFETY: caller contract.
            Some(v) => unsafe { put(value, v) },
            None => {
                crate::log::warn(format!(
                    "cuDeviceGetAttribute: attribute {attrib} is not modelled by the stand-in"
                ));
                Err(CUresult::CUDA_ERROR_INVALID_VALUE)
            }
        }
    })
}

/// The driver's private interface tables (undocumented; NVRTC asks for
/// them when it finds a driver): none here, which NVRTC accepts.
#[no_mangle]
pub unsafe extern "C" fn cuGetExportTable(
    table: *mut *const c_void,
    _id: *const [u8; 16],
) -> CUresult {
    if !table.is_null() {
        // SAFETY: caller contract (non-null: writable).
        unsafe { *table = std::ptr::null() };
    }
    CUresult::CUDA_ERROR_NOT_SUPPORTED
}

/// A fixed UUID (16 bytes) for the emulated device.
const UUID: [u8; 16] = *b"spindle-emu-gpu0";

#[no_mangle]
pub unsafe extern "C" fn cuDeviceGetUuid(uuid: *mut [u8; 16], dev: c_int) -> CUresult {
    run("cuDeviceGetUuid", || {
        check_device(dev)?;
        // SAFETY: caller contract (a CUuuid is 16 bytes).
        unsafe { put(uuid, UUID) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuDeviceGetUuid_v2(uuid: *mut [u8; 16], dev: c_int) -> CUresult {
    // SAFETY: forwarded caller contract.
    unsafe { cuDeviceGetUuid(uuid, dev) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_an_h100s() {
        assert_eq!(attribute(75), Some(9));
        assert_eq!(attribute(76), Some(0));
        assert_eq!(attribute(16), Some(132));
        assert_eq!(attribute(97), Some(232_448));
        assert_eq!(attribute(10), Some(32));
        assert_eq!(attribute(9999), None);
    }

    #[test]
    fn the_name_says_emulated_and_is_cut_to_fit() {
        assert_eq!(cuInit(0), CUresult::CUDA_SUCCESS);
        let mut buf = [0x55 as c_char; 12];
        // SAFETY: 12 writable bytes.
        assert_eq!(
            unsafe { cuDeviceGetName(buf.as_mut_ptr(), 12, 0) },
            CUresult::CUDA_SUCCESS
        );
        // SAFETY: NUL-terminated by the call.
        let got = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
            .to_str()
            .unwrap();
        assert_eq!(got, "spindle emu");
        assert!(DEVICE_NAME.contains("emulated"));
        // SAFETY: as above.
        assert_eq!(
            unsafe { cuDeviceGetName(buf.as_mut_ptr(), 12, 1) },
            CUresult::CUDA_ERROR_INVALID_DEVICE
        );
    }
}
