//! Calls that would block forever on a GPU behind a persistent kernel that
//! only the caller can stop fail instead, after `SPINDLE_EMU_HANG_MS`,
//! naming the call and the kernel; each comes with the case that must not
//! wait (a non-blocking stream, a reserved stack, eager loading).

mod common;

use std::ffi::c_void;
use std::time::{Duration, Instant};

use common::raw::{self, code, Poller};
use cudarc::driver::result;
use cudarc::driver::sys::{self, CUresult};

const HANG_MS: (&str, &str) = ("SPINDLE_EMU_HANG_MS", "300");
/// Functions load with their module (lazy loading has a test of its own).
const EAGER: (&str, &str) = ("CUDA_MODULE_LOADING", "EAGER");

/// Runs `f`, which must fail with `CUDA_ERROR_LAUNCH_TIMEOUT` after the
/// hang limit (not at once, not much later).
fn times_out<T: std::fmt::Debug>(f: impl FnOnce() -> Result<T, cudarc::driver::DriverError>) {
    let started = Instant::now();
    assert_eq!(code(f()), CUresult::CUDA_ERROR_LAUNCH_TIMEOUT);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

/// The child's messages must say which call waited for which kernel.
fn names(out: &common::Child, call: &str) {
    out.assert_passed();
    let said = out
        .stderr
        .lines()
        .any(|l| l.contains(call) && l.contains("would wait forever"));
    assert!(said, "no message names {call:?}:\n{}", out.stderr);
    assert!(out.stderr.contains("spindle_test_poll"), "{}", out.stderr);
    assert!(out.stderr.contains("persistent kernel"), "{}", out.stderr);
}

child_test!(context_synchronize_behind_a_persistent_kernel, ctx_sync_child,
    env: [HANG_MS, EAGER],
    check: |out| names(out, "cuCtxSynchronize"));

#[test]
#[ignore = "child of context_synchronize_behind_a_persistent_kernel"]
fn ctx_sync_child() {
    let ctx = raw::context();
    let poller = Poller::start(&ctx, false);
    times_out(|| ctx.synchronize());
    // The kernel still runs; once stopped, the same call returns.
    poller.stop();
    ctx.synchronize().unwrap();
}

child_test!(the_legacy_stream_waits_for_blocking_streams_only, legacy_child,
    env: [HANG_MS, EAGER],
    check: |out| names(out, "cuMemcpyDtoH_v2"));

#[test]
#[ignore = "child of the_legacy_stream_waits_for_blocking_streams_only"]
fn legacy_child() {
    let ctx = raw::context();
    // SAFETY: 64 bytes of device memory, freed at the end.
    let dev = unsafe { result::malloc_sync(64) }.unwrap();
    let mut host = [0u8; 64];
    // A persistent kernel on a non-blocking stream: the legacy stream
    // (synchronous copies) does not wait for it.
    let free_running = Poller::start(&ctx, false);
    // SAFETY: `dev` holds 64 bytes.
    unsafe { result::memcpy_dtoh_sync(&mut host, dev) }.unwrap();
    free_running.stop();
    // On a blocking stream, it does: the copy would never return.
    let blocking = Poller::start(&ctx, true);
    // SAFETY: as above.
    times_out(|| unsafe { result::memcpy_dtoh_sync(&mut host, dev) });
    blocking.stop();
    // SAFETY: as above.
    unsafe { result::memcpy_dtoh_sync(&mut host, dev) }.unwrap();
    // SAFETY: allocated above, no kernel uses it.
    unsafe { result::free_sync(dev) }.unwrap();
}

child_test!(a_copy_to_pageable_memory_waits_for_its_stream, pageable_child,
    env: [HANG_MS, EAGER],
    check: |out| names(out, "cuMemcpyDtoHAsync_v2 into pageable memory"));

#[test]
#[ignore = "child of a_copy_to_pageable_memory_waits_for_its_stream"]
fn pageable_child() {
    let ctx = raw::context();
    let poller = Poller::start(&ctx, false);
    // SAFETY: 64 bytes of device memory and 64 pinned bytes, freed at the
    // end; the copies read the device memory after the kernel.
    unsafe {
        let dev = result::malloc_sync(64).unwrap();
        let pinned = result::malloc_host(64, 0).unwrap();
        // Into pinned memory the copy is queued behind the kernel.
        let pinned_slice = std::slice::from_raw_parts_mut(pinned.cast::<u8>(), 64);
        result::memcpy_dtoh_async(pinned_slice, dev, poller.stream).unwrap();
        // Into pageable memory it returns only once done.
        let mut host = [0u8; 64];
        times_out(|| result::memcpy_dtoh_async(&mut host, dev, poller.stream));
        poller.stop();
        result::free_host(pinned).unwrap();
        result::free_sync(dev).unwrap();
    }
}

child_test!(frees_that_may_synchronise_behind_a_persistent_kernel, frees_child,
env: [HANG_MS, EAGER],
check: |out| {
    names(out, "cuMemFree_v2 (which may synchronise the device)");
    names(out, "cuMemFreeHost (which may synchronise the device)");
});

#[test]
#[ignore = "child of frees_that_may_synchronise_behind_a_persistent_kernel"]
fn frees_child() {
    let ctx = raw::context();
    let other = raw::stream(false);
    // SAFETY: allocations freed below, used by no kernel.
    let (dev, ordered, pinned) = unsafe {
        (
            result::malloc_sync(64).unwrap(),
            result::malloc_async(other, 64).unwrap(),
            result::malloc_host(64, 0).unwrap(),
        )
    };
    let poller = Poller::start(&ctx, false);
    // SAFETY: each pointer is freed once, by the call that succeeds.
    unsafe {
        times_out(|| result::free_sync(dev));
        times_out(|| result::free_host(pinned));
        // A stream-ordered free does not synchronise.
        result::free_async(ordered, other).unwrap();
    }
    poller.stop();
    // SAFETY: not freed by the calls that failed.
    unsafe {
        result::free_sync(dev).unwrap();
        result::free_host(pinned).unwrap();
    }
}

child_test!(growing_the_stack_behind_a_persistent_kernel, stack_child,
env: [HANG_MS, EAGER],
check: |out| {
    names(out, "cuLaunchKernel of `spindle_test_stack` (growing the per-thread stack to 4096 bytes)");
    names(out, "cuCtxSetLimit(CU_LIMIT_STACK_SIZE) (growing the per-thread stack to 8192 bytes)");
});

#[test]
#[ignore = "child of growing_the_stack_behind_a_persistent_kernel"]
fn stack_child() {
    let ctx = raw::context();
    let module = raw::module(&ctx, "stack", raw::STACK);
    let f = module.load_function("spindle_test_stack").unwrap();
    let stack = f
        .get_attribute(sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES)
        .unwrap();
    assert_eq!(
        stack, 4096,
        "ptxas's stack frame of the volatile float[1024]"
    );
    assert_eq!(
        ctx.get_limit(sys::CUlimit::CU_LIMIT_STACK_SIZE).unwrap(),
        1024
    );
    // SAFETY: 32 floats, freed at the end.
    let mut out = unsafe { result::malloc_sync(128) }.unwrap();
    let mut n = 3u32;
    let s = raw::stream(false);
    let mut args = [
        (&mut out as *mut u64).cast::<c_void>(),
        (&mut n as *mut u32).cast(),
    ];
    let poller = Poller::start(&ctx, false);
    // The launch needs more stack than the context has: growing it waits
    // for the running kernel.
    // SAFETY: (float* out, unsigned n) with `out` holding 32 floats.
    times_out(|| unsafe { raw::launch(&f, 1, 32, 0, s, &mut args) });
    times_out(|| ctx.set_limit(sys::CUlimit::CU_LIMIT_STACK_SIZE, 8192));
    poller.stop();
    // Reserved before the persistent kernel starts, nothing waits.
    ctx.set_limit(sys::CUlimit::CU_LIMIT_STACK_SIZE, 4096)
        .unwrap();
    let poller = Poller::start(&ctx, false);
    // SAFETY: as above.
    unsafe { raw::launch(&f, 1, 32, 0, s, &mut args) }.unwrap();
    // SAFETY: a live stream.
    unsafe { result::stream::synchronize(s) }.unwrap();
    poller.stop();
    // SAFETY: no kernel uses it any more.
    unsafe { result::free_sync(out) }.unwrap();
}

/// Launches `spindle_test_add` once on `s` and waits (`x` holds 32 u32).
fn add_once(
    f: &cudarc::driver::CudaFunction,
    s: sys::CUstream,
    mut x: u64,
) -> Result<(), cudarc::driver::DriverError> {
    let (mut n, mut k) = (32u32, 1u32);
    let mut args = [
        (&mut x as *mut u64).cast::<c_void>(),
        (&mut n as *mut u32).cast(),
        (&mut k as *mut u32).cast(),
    ];
    // SAFETY: (unsigned* x, unsigned n, unsigned k), `x` holds 32 values.
    unsafe { raw::launch(f, 1, 32, 0, s, &mut args) }?;
    // SAFETY: a live stream.
    unsafe { result::stream::synchronize(s) }
}

child_test!(lazy_loading_behind_a_persistent_kernel, lazy_child,
    env: [HANG_MS, ("CUDA_MODULE_LOADING", "LAZY")],
    check: |out| names(out, "cuLaunchKernel (loading `spindle_test_add` under CUDA_MODULE_LOADING=LAZY, which may synchronise the context)"));

#[test]
#[ignore = "child of lazy_loading_behind_a_persistent_kernel"]
fn lazy_child() {
    let ctx = raw::context();
    let module = raw::module(&ctx, "add", raw::ADD);
    let f = module.load_function("spindle_test_add").unwrap();
    let g = module.load_function("spindle_test_add").unwrap();
    // SAFETY: 32 values, freed at the end.
    let x = unsafe { result::malloc_sync(128) }.unwrap();
    let s = raw::stream(false);
    let poller = Poller::start(&ctx, false);
    // The first launch loads the function, which waits for the context.
    times_out(|| add_once(&f, s, x));
    poller.stop();
    add_once(&f, s, x).unwrap();
    // Loaded beforehand (cuFuncLoad), a first launch behind a persistent
    // kernel runs.
    let module2 = raw::module(
        &ctx,
        "add2",
        &raw::ADD.replace("spindle_test_add", "spindle_test_add2"),
    );
    let h = module2.load_function("spindle_test_add2").unwrap();
    // SAFETY: a function of a loaded module.
    unsafe { sys::cuFuncLoad(h.cu_function()) }
        .result()
        .unwrap();
    let poller = Poller::start(&ctx, false);
    add_once(&h, s, x).unwrap();
    add_once(&g, s, x).unwrap();
    poller.stop();
    // SAFETY: no kernel uses it any more.
    unsafe { result::free_sync(x) }.unwrap();
}

child_test!(eager_loading_does_not_wait, eager_child,
    env: [HANG_MS, EAGER],
    check: |out| out.assert_passed());

#[test]
#[ignore = "child of eager_loading_does_not_wait"]
fn eager_child() {
    let ctx = raw::context();
    let poller = Poller::start(&ctx, false);
    let module = raw::module(&ctx, "add", raw::ADD);
    let f = module.load_function("spindle_test_add").unwrap();
    // SAFETY: 32 values, freed at the end.
    let x = unsafe { result::malloc_sync(128) }.unwrap();
    let s = raw::stream(false);
    add_once(&f, s, x).unwrap();
    poller.stop();
    // SAFETY: no kernel uses it any more.
    unsafe { result::free_sync(x) }.unwrap();
}

child_test!(at_most_128_kernels_run_at_once, resident_grids_child,
env: [HANG_MS, EAGER],
check: |out| {
    out.assert_passed();
    assert!(out.stderr.contains("resident-grid slots, all held (128 by persistent kernels"), "{}", out.stderr);
});

#[test]
#[ignore = "child of at_most_128_kernels_run_at_once"]
fn resident_grids_child() {
    let ctx = raw::context();
    let poll = raw::module(&ctx, "poll", raw::POLL);
    let pollers: Vec<Poller> = (0..128).map(|_| Poller::start_from(&poll, false)).collect();
    // Every poller holds its slot before the 129th kernel is queued (a
    // launch takes a slot when its stream runs it, not when it is queued).
    let started = Instant::now();
    while !pollers.iter().all(Poller::started) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "128 pollers did not all start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let module = raw::module(&ctx, "add", raw::ADD);
    let f = module.load_function("spindle_test_add").unwrap();
    // SAFETY: 32 values, freed at the end.
    let x = unsafe { result::malloc_sync(128) }.unwrap();
    let s = raw::stream(false);
    // The 129th kernel waits for a slot, and its stream with it.
    times_out(|| add_once(&f, s, x));
    for p in &pollers {
        p.stop();
    }
    // SAFETY: a live stream.
    unsafe { result::stream::synchronize(s) }.unwrap();
    add_once(&f, s, x).unwrap();
    // SAFETY: no kernel uses it any more.
    unsafe { result::free_sync(x) }.unwrap();
}
