//! The driver rules the stand-in models (cuda-emu/README.md lists each
//! with its source), driven through cudarc's raw API in child processes.

mod common;

use std::ffi::c_void;

use common::raw::{self, code};
use cudarc::driver::result;
use cudarc::driver::sys::{self, CUresult};

const EAGER: (&str, &str) = ("CUDA_MODULE_LOADING", "EAGER");

child_test!(calls_need_a_current_context, no_context_child,
    env: [EAGER],
    check: |out| out.assert_passed());

#[test]
#[ignore = "child of calls_need_a_current_context"]
fn no_context_child() {
    let ctx = raw::context();
    // A thread that never made a context current.
    std::thread::spawn(|| {
        // SAFETY: an allocation attempt; nothing is allocated on failure.
        assert_eq!(
            code(unsafe { result::malloc_sync(64) }),
            CUresult::CUDA_ERROR_INVALID_CONTEXT
        );
        assert_eq!(
            code(result::ctx::synchronize()),
            CUresult::CUDA_ERROR_INVALID_CONTEXT
        );
        assert_eq!(result::ctx::get_current().unwrap(), None);
    })
    .join()
    .unwrap();
    ctx.synchronize().unwrap();
}

child_test!(copies_and_frees_are_checked, memory_child,
env: [EAGER],
check: |out| {
    out.assert_passed();
    for why in ["runs past the end of the 64-byte allocation", "was freed (by cuMemFree)", "is not in any allocation"] {
        assert!(out.stderr.contains(why), "{why}:\n{}", out.stderr);
    }
});

#[test]
#[ignore = "child of copies_and_frees_are_checked"]
fn memory_child() {
    let _ctx = raw::context();
    let mut host = [0u8; 128];
    // SAFETY: every call below names memory of the sizes given; the
    // refused ones are refused before touching anything.
    unsafe {
        let dev = result::malloc_sync(64).unwrap();
        assert_eq!(dev % 256, 0, "256-byte aligned");
        // Fresh memory holds junk, not zeros.
        result::memcpy_dtoh_sync(&mut host[..64], dev).unwrap();
        assert!(host[..64].iter().all(|b| *b == 0xa5));
        result::memset_d8_sync(dev, 7, 64).unwrap();
        result::memcpy_dtoh_sync(&mut host[..64], dev).unwrap();
        assert!(host[..64].iter().all(|b| *b == 7));
        // Out of range, inside and past the allocation.
        assert_eq!(
            code(result::memcpy_dtoh_sync(&mut host[..65], dev)),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        assert_eq!(
            code(result::memcpy_htod_sync(dev + 32, &host[..33])),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        assert_eq!(
            code(result::memset_d8_sync(dev + (1 << 40), 0, 1)),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        // Use after free, double free.
        result::free_sync(dev).unwrap();
        assert_eq!(
            code(result::memcpy_dtoh_sync(&mut host[..8], dev)),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        assert_eq!(
            code(result::free_sync(dev)),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        // Zero bytes cannot be allocated.
        assert_eq!(
            code(result::malloc_sync(0)),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
    }
}

child_test!(pinned_memory_is_mapped_at_its_host_address, pinned_child,
    env: [EAGER],
    check: |out| out.assert_passed());

#[test]
#[ignore = "child of pinned_memory_is_mapped_at_its_host_address"]
fn pinned_child() {
    let ctx = raw::context();
    let module = raw::module(&ctx, "add", raw::ADD);
    let f = module.load_function("spindle_test_add").unwrap();
    // SAFETY: pinned allocations of the sizes used below, freed at the end.
    unsafe {
        for flags in [
            0,
            sys::CU_MEMHOSTALLOC_DEVICEMAP | sys::CU_MEMHOSTALLOC_PORTABLE,
            sys::CU_MEMHOSTALLOC_WRITECOMBINED,
        ] {
            let host = result::malloc_host(128, flags).unwrap().cast::<u32>();
            for i in 0..32 {
                host.add(i).write(i as u32);
            }
            // Unified addressing: the device pointer is the host pointer,
            // whatever the flags.
            let mut dptr = 0u64;
            sys::cuMemHostGetDevicePointer_v2(&mut dptr, host.cast(), 0)
                .result()
                .unwrap();
            assert_eq!(dptr, host as u64);
            let (mut n, mut k) = (32u32, 10u32);
            let mut args = [
                (&mut dptr as *mut u64).cast::<c_void>(),
                (&mut n as *mut u32).cast(),
                (&mut k as *mut u32).cast(),
            ];
            raw::launch(&f, 1, 32, 0, std::ptr::null_mut(), &mut args).unwrap();
            ctx.synchronize().unwrap();
            // The kernel wrote the host's memory.
            assert!((0..32).all(|i| host.add(i).read() == i as u32 + 10));
            let mut other = 0u64;
            let flagged = sys::cuMemHostGetDevicePointer_v2(&mut other, host.cast(), 1);
            assert_eq!(flagged, CUresult::CUDA_ERROR_INVALID_VALUE);
            result::free_host(host.cast()).unwrap();
        }
        // Memory that is not pinned has no device pointer.
        let mut plain = [0u8; 16];
        let mut dptr = 0u64;
        let r = sys::cuMemHostGetDevicePointer_v2(&mut dptr, plain.as_mut_ptr().cast(), 0);
        assert_eq!(r, CUresult::CUDA_ERROR_INVALID_VALUE);
    }
}

child_test!(launches_are_checked_against_the_device_and_function, launch_child,
env: [EAGER],
check: |out| {
    out.assert_passed();
    assert!(out.stderr.contains("registers per thread, so a block may have at most"), "{}", out.stderr);
    assert!(out.stderr.contains("and has __launch_bounds__(64)"), "{}", out.stderr);
});

/// Asks for many registers: every thread keeps 192 values live.
const HEAVY: &str = r#"
extern "C" __global__ void spindle_test_heavy(float* out, float s) {
  float v[192];
  #pragma unroll
  for (int i = 0; i < 192; ++i) v[i] = s * (float)(i + threadIdx.x);
  float acc = 0.0f;
  #pragma unroll
  for (int j = 0; j < 8; ++j) {
    #pragma unroll
    for (int i = 0; i < 192; ++i) acc += v[i] * v[(i * 7 + j) % 192];
  }
  out[threadIdx.x] = acc;
}
"#;

#[test]
#[ignore = "child of launches_are_checked_against_the_device_and_function"]
fn launch_child() {
    let ctx = raw::context();
    let module = raw::module(&ctx, "add", raw::ADD);
    let f = module.load_function("spindle_test_add").unwrap();
    // SAFETY: 1024 values, freed at the end.
    let mut x = unsafe { result::malloc_sync(4096) }.unwrap();
    let (mut n, mut k) = (1024u32, 1u32);
    let mut args = [
        (&mut x as *mut u64).cast::<c_void>(),
        (&mut n as *mut u32).cast(),
        (&mut k as *mut u32).cast(),
    ];
    let s = std::ptr::null_mut();
    let launch =
        |grid: (u32, u32, u32), block: (u32, u32, u32), shared: u32, args: &mut [*mut c_void]| {
            // SAFETY: `spindle_test_add(unsigned* x, unsigned n, unsigned k)`
            // with `x` holding 1024 values.
            unsafe { result::launch_kernel(f.cu_function(), grid, block, shared, s, args) }
        };
    launch((4, 1, 1), (256, 1, 1), 0, &mut args).unwrap();
    for (grid, block) in [
        ((1, 1, 1), (1025, 1, 1)),
        ((1, 1, 1), (32, 32, 2)),
        ((1, 1, 1), (1, 1, 65)),
        ((0, 1, 1), (32, 1, 1)),
        ((1, 65536, 1), (32, 1, 1)),
    ] {
        assert_eq!(
            code(launch(grid, block, 0, &mut args)),
            CUresult::CUDA_ERROR_INVALID_VALUE,
            "{grid:?} {block:?}"
        );
    }
    // Dynamic shared memory: 48 KiB without opting in, up to 227 KiB with.
    assert_eq!(
        code(launch((1, 1, 1), (32, 1, 1), 48 * 1024 + 1, &mut args)),
        CUresult::CUDA_ERROR_INVALID_VALUE
    );
    let attr = sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
    assert_eq!(f.get_attribute(attr).unwrap(), 48 * 1024);
    assert_eq!(
        code(f.set_attribute(attr, 227 * 1024 + 1)),
        CUresult::CUDA_ERROR_INVALID_VALUE
    );
    f.set_attribute(attr, 100 * 1024).unwrap();
    launch((1, 1, 1), (32, 1, 1), 100 * 1024, &mut args).unwrap();
    ctx.synchronize().unwrap();
    // Registers: a block may only have as many threads as 64 K registers
    // allow, and no more than __launch_bounds__ says.
    let heavy_module = raw::module(&ctx, "heavy", HEAVY);
    let heavy = heavy_module.load_function("spindle_test_heavy").unwrap();
    let regs = heavy
        .get_attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_NUM_REGS)
        .unwrap();
    let max = heavy
        .get_attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)
        .unwrap();
    assert!(regs > 128, "{regs} registers: the kernel should need many");
    // Registers are allocated per warp in units of 256.
    let per_warp = (regs as u32 * 32).div_ceil(256) as i32 * 256;
    assert_eq!(max, 65536 / per_warp * 32, "{regs} registers");
    assert!(max < 1024);
    let mut scale = 1.0f32;
    let mut heavy_args = [
        (&mut x as *mut u64).cast::<c_void>(),
        (&mut scale as *mut f32).cast(),
    ];
    let heavy_launch = |threads: i32, args: &mut [*mut c_void]| {
        // SAFETY: `spindle_test_heavy(float* out, float s)`, `out` holds 1024.
        unsafe {
            result::launch_kernel(
                heavy.cu_function(),
                (1, 1, 1),
                (threads as u32, 1, 1),
                0,
                s,
                args,
            )
        }
    };
    assert_eq!(
        code(heavy_launch(max + 32, &mut heavy_args)),
        CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES
    );
    heavy_launch(max, &mut heavy_args).unwrap();
    ctx.synchronize().unwrap();
    // __launch_bounds__ caps the block as well.
    let bounded_src = raw::ADD.replace("__global__ void", "__global__ void __launch_bounds__(64)");
    let bounded_module = raw::module(&ctx, "bounded", &bounded_src);
    let bounded = bounded_module.load_function("spindle_test_add").unwrap();
    let bound = bounded
        .get_attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)
        .unwrap();
    assert_eq!(bound, 64);
    // SAFETY: as for `launch` above.
    let over = unsafe {
        result::launch_kernel(
            bounded.cu_function(),
            (1, 1, 1),
            (128, 1, 1),
            0,
            s,
            &mut args,
        )
    };
    assert_eq!(code(over), CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
    // SAFETY: no kernel uses it any more.
    unsafe { result::free_sync(x) }.unwrap();
}

child_test!(modules_for_other_devices_are_refused, modules_child,
env: [EAGER],
check: |out| {
    out.assert_passed();
    assert!(out.stderr.contains("was compiled for sm_80; the device is sm_90"), "{}", out.stderr);
    assert!(out.stderr.contains("this CUBIN has no host build"), "{}", out.stderr);
});

#[test]
#[ignore = "child of modules_for_other_devices_are_refused"]
fn modules_child() {
    let _ctx = raw::context();
    let load = |image: &[u8]| {
        // SAFETY: a complete ELF image in memory.
        unsafe { result::module::load_data(image.as_ptr().cast()) }
    };
    let sm80 = spindle_runtime::cuda::compile_cubin("add", raw::ADD, "sm_80")
        .unwrap()
        .cubin;
    assert_eq!(code(load(&sm80)), CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU);
    // The real CUBIN alone (the stand-in's section hidden again).
    let mut plain = spindle_runtime::cuda::compile_cubin("add", raw::ADD, "sm_90")
        .unwrap()
        .cubin;
    let module = load(&plain).unwrap();
    let shnum = u16::from_le_bytes([plain[60], plain[61]]);
    plain[60..62].copy_from_slice(&(shnum - 1).to_le_bytes());
    assert_eq!(code(load(&plain)), CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU);
    // A name the module lacks.
    // SAFETY: a loaded module and a NUL-terminated name.
    let missing = unsafe {
        result::module::get_function(module, std::ffi::CString::new("spindle_nope").unwrap())
    };
    assert_eq!(code(missing), CUresult::CUDA_ERROR_NOT_FOUND);
    assert_eq!(
        code(load(
            b"not an ELF image at all, but long enough to hold a header of sixty-four bytes\0"
        )),
        CUresult::CUDA_ERROR_INVALID_IMAGE
    );
}

child_test!(streams_run_in_order_and_events_complete, streams_child,
    env: [EAGER],
    check: |out| out.assert_passed());

#[test]
#[ignore = "child of streams_run_in_order_and_events_complete"]
fn streams_child() {
    let ctx = raw::context();
    let module = raw::module(&ctx, "add", raw::ADD);
    let f = module.load_function("spindle_test_add").unwrap();
    // SAFETY: 1024 values, zeroed, freed at the end.
    let mut x = unsafe { result::malloc_sync(4096) }.unwrap();
    // SAFETY: as above.
    unsafe { result::memset_d8_sync(x, 0, 4096) }.unwrap();
    let blocking = raw::stream(true);
    let (mut n, mut k) = (1024u32, 1u32);
    let mut args = [
        (&mut x as *mut u64).cast::<c_void>(),
        (&mut n as *mut u32).cast(),
        (&mut k as *mut u32).cast(),
    ];
    let timed = result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT).unwrap();
    let start = result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT).unwrap();
    let untimed = result::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING).unwrap();
    // SAFETY: the kernel's arguments as in the other tests; events and
    // streams are live.
    unsafe {
        result::event::record(start, blocking).unwrap();
        for _ in 0..50 {
            raw::launch(&f, 4, 256, 0, blocking, &mut args).unwrap();
        }
        result::event::record(timed, blocking).unwrap();
        result::event::record(untimed, blocking).unwrap();
        // The legacy stream waits for the blocking stream: the synchronous
        // copy sees all 50 launches.
        let mut host = [0u32; 1024];
        result::memcpy_dtoh_sync(&mut host, x).unwrap();
        assert!(host.iter().all(|v| *v == 50), "{:?}", &host[..4]);
        result::event::synchronize(timed).unwrap();
        result::event::query(timed).unwrap();
        assert!(result::event::elapsed(start, timed).unwrap() >= 0.0);
        assert_eq!(
            code(result::event::elapsed(start, untimed)),
            CUresult::CUDA_ERROR_INVALID_HANDLE
        );
        // A stream waiting for an event of another stream.
        let other = raw::stream(false);
        raw::launch(&f, 4, 256, 0, blocking, &mut args).unwrap();
        result::event::record(timed, blocking).unwrap();
        result::stream::wait_event(other, timed, sys::CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT)
            .unwrap();
        let mut host = [0u32; 1024];
        result::memcpy_dtoh_async(&mut host, x, other).unwrap();
        result::stream::synchronize(other).unwrap();
        assert!(host.iter().all(|v| *v == 51));
        for e in [timed, start, untimed] {
            result::event::destroy(e).unwrap();
        }
        result::free_sync(x).unwrap();
    }
}

child_test!(concurrent_blocks_have_their_own_shared_memory, shared_child,
    env: [EAGER, ("SPINDLE_EMU_THREADS", "4")],
    check: |out| out.assert_passed());

// The same with each CUDA thread an OS thread instead of a fiber.
child_test!(concurrent_blocks_of_os_threads_have_their_own_shared_memory, shared_child,
    env: [EAGER, ("SPINDLE_EMU_THREADS", "4"), ("SPINDLE_EMU_BLOCKS", "threads")],
    check: |out| out.assert_passed());

/// Each block keeps its index in a `__shared__` variable and checks, many
/// times while other blocks run, that it still holds it.
const SHARED: &str = r#"
extern "C" __global__ void spindle_test_shared(unsigned int* out, unsigned int* mixed) {
  __shared__ volatile unsigned int mine;
  if (threadIdx.x == 0) mine = blockIdx.x;
  __syncthreads();
  for (unsigned int i = 0; i < 20000u; ++i) {
    if (mine != blockIdx.x) atomicAdd(mixed, 1u);
  }
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = mine;
}
"#;

#[test]
#[ignore = "child of concurrent_blocks_have_their_own_shared_memory"]
fn shared_child() {
    let ctx = raw::context();
    let module = raw::module(&ctx, "shared", SHARED);
    let f = module.load_function("spindle_test_shared").unwrap();
    // SAFETY: 64 + 1 values, zeroed, freed at the end; two streams run the
    // kernel at once on different memory.
    unsafe {
        let (mut out, mut mixed) = (
            result::malloc_sync(256).unwrap(),
            result::malloc_sync(4).unwrap(),
        );
        let (mut out2, mut mixed2) = (
            result::malloc_sync(256).unwrap(),
            result::malloc_sync(4).unwrap(),
        );
        for p in [mixed, mixed2] {
            result::memset_d8_sync(p, 0, 4).unwrap();
        }
        let (s1, s2) = (raw::stream(false), raw::stream(false));
        let mut a1 = [
            (&mut out as *mut u64).cast::<c_void>(),
            (&mut mixed as *mut u64).cast(),
        ];
        let mut a2 = [
            (&mut out2 as *mut u64).cast::<c_void>(),
            (&mut mixed2 as *mut u64).cast(),
        ];
        raw::launch(&f, 64, 32, 0, s1, &mut a1).unwrap();
        raw::launch(&f, 64, 32, 0, s2, &mut a2).unwrap();
        ctx.synchronize().unwrap();
        for (o, m) in [(out, mixed), (out2, mixed2)] {
            let mut host = [0u32; 64];
            result::memcpy_dtoh_sync(&mut host, o).unwrap();
            assert!(
                host.iter().enumerate().all(|(b, v)| *v == b as u32),
                "{host:?}"
            );
            let mut seen = [0u32];
            result::memcpy_dtoh_sync(&mut seen, m).unwrap();
            assert_eq!(seen[0], 0, "a block saw another block's shared variable");
            result::free_sync(o).unwrap();
            result::free_sync(m).unwrap();
        }
    }
}

child_test!(initialisation_and_the_primary_context_lifetime, lifetime_child,
    env: [EAGER],
    check: |out| out.assert_passed());

#[test]
#[ignore = "child of initialisation_and_the_primary_context_lifetime"]
fn lifetime_child() {
    assert!(common::in_child());
    // SAFETY: plain queries; `n` is written only on success.
    unsafe {
        let mut n = 0;
        assert_eq!(
            sys::cuDeviceGetCount(&mut n),
            CUresult::CUDA_ERROR_NOT_INITIALIZED
        );
        assert_eq!(sys::cuInit(1), CUresult::CUDA_ERROR_INVALID_VALUE);
        assert_eq!(sys::cuInit(0), CUresult::CUDA_SUCCESS);
        assert_eq!(sys::cuDeviceGetCount(&mut n), CUresult::CUDA_SUCCESS);
        assert_eq!(n, 1);
    }
    let ctx = raw::context();
    // SAFETY: 64 bytes, and a pinned byte, of this context.
    let (dev, pinned) = unsafe {
        (
            result::malloc_sync(64).unwrap(),
            result::malloc_host(1, 0).unwrap(),
        )
    };
    // The last release destroys the context and everything in it.
    drop(ctx);
    assert_eq!(
        code(result::ctx::synchronize()),
        CUresult::CUDA_ERROR_CONTEXT_IS_DESTROYED
    );
    let ctx = raw::context();
    let mut host = [0u8; 8];
    // SAFETY: refused (freed with the old context) before touching memory.
    unsafe {
        assert_eq!(
            code(result::memcpy_dtoh_sync(&mut host, dev)),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
        assert_eq!(
            code(result::free_host(pinned)),
            CUresult::CUDA_ERROR_INVALID_VALUE
        );
    }
    ctx.synchronize().unwrap();
    // A stream destroyed while its kernel runs: the call returns, the
    // kernel goes on until it ends.
    let poller = raw::Poller::start(&ctx, false);
    // SAFETY: the poller's own stream, not used again.
    unsafe { result::stream::destroy(poller.stream) }.unwrap();
    assert!(ctx.synchronize().is_err(), "the kernel still runs");
    poller.stop_without_waiting();
    ctx.synchronize().unwrap();
}
