//! Launches: `cuLaunchKernel`'s checks, then the kernel's blocks run in
//! stream order on pool threads.
//!
//! Modelled rules (Execution Control reference, the Programming Guide's
//! compute capability 9.0 limits):
//! - block dimensions at most 1024 × 1024 × 64 and 1024 threads, grid
//!   dimensions at most (2³¹−1) × 65535 × 65535, none zero:
//!   `CUDA_ERROR_INVALID_VALUE`;
//! - a block with more threads than the function's registers allow (64 K
//!   registers per block, allocated per warp in units of 256), or than its
//!   `__launch_bounds__`: `CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES`;
//! - dynamic shared memory above the function's
//!   `MAX_DYNAMIC_SHARED_SIZE_BYTES`: `CUDA_ERROR_INVALID_VALUE`;
//! - a function that needs more stack than `CU_LIMIT_STACK_SIZE` grows the
//!   limit first (see `context`), which synchronises the context;
//! - at most 128 grids run at once on the device ("maximum number of
//!   resident grids per device"); a launch beyond that waits for a slot.
//!
//! How blocks run: a program whose threads cannot wait for each other (no
//! barrier, warp operation or shared memory, see the NVRTC stand-in) runs
//! each block's threads one after another, several blocks at once on one
//! loaded copy. Any other program runs each block as that many concurrent
//! OS threads, several blocks at once each on its own loaded copy of the
//! library, so `__shared__` variables belong to one block at a time.

use std::ffi::{c_uint, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use cudarc::driver::sys::CUresult;

use super::context::current;
use super::device::MAX_RESIDENT_GRIDS;
use super::module::{function, Function, Instance};
use super::pool::POOL;
use super::stream::{Now, Stream, Work};
use super::stream_api::stream_in;
use super::{driver, lock, run};
use crate::config::LaunchFault;

/// Blocks of persistent (polling) kernels running now.
static PERSISTENT: AtomicU64 = AtomicU64::new(0);

/// The sleep of a polling kernel (`__nanosleep`, the ring loop's back-off):
/// at least 10 µs per persistent block running (at most 2 ms), so that
/// many idle persistent kernels (or one with many blocks) do not starve
/// the CPUs they share with the host. Only latency depends on it; on a GPU the sleep costs nothing.
pub(crate) extern "C" fn pace(ns: c_uint) {
    let running = PERSISTENT.load(Ordering::Relaxed).max(1);
    if ns < 1000 && running <= 2 {
        std::thread::yield_now();
        return;
    }
    let floor = (10_000 * running).min(2_000_000);
    std::thread::sleep(std::time::Duration::from_nanos(u64::from(ns).max(floor)));
}

/// One launch as the host library's runner reads it (the same layout as
/// `SpindleEmuLaunch` in cuda-emu/include/spindle_emu_device.h).
#[repr(C)]
pub(crate) struct EmuLaunch {
    thunk: super::module::Thunk,
    params: *mut *mut c_void,
    grid: [u32; 3],
    block: [u32; 3],
    shared_bytes: u32,
    _pad: u32,
}

/// An `EmuLaunch` shared by the threads that run it.
struct Shared(EmuLaunch);

impl Shared {
    fn get(&self) -> &EmuLaunch {
        &self.0
    }
}
// SAFETY: the runner only reads it; the parameter storage it points to is
// owned by the `Launch`, which outlives the run and is not changed during it.
unsafe impl Sync for Shared {}

/// A queued launch: the kernel, its geometry and a copy of its arguments.
pub(crate) struct Launch {
    function: Arc<Function>,
    grid: [u32; 3],
    block: [u32; 3],
    shared_bytes: u32,
    /// The arguments, each at a 16-byte-aligned offset.
    storage: Vec<u128>,
    offsets: Vec<usize>,
    fault: Option<LaunchFault>,
    /// `cuLaunchCooperativeKernel`: every block runs at once.
    cooperative: bool,
}

impl Launch {
    fn describe(&self) -> String {
        format!(
            "kernel `{}` (grid {:?}, block {:?})",
            self.function.name, self.grid, self.block
        )
    }
}

/// The device's resident-grid slots.
pub(crate) struct GridSlots {
    running: Mutex<Vec<(u64, String, bool)>>,
    freed: Condvar,
}

impl GridSlots {
    pub(crate) fn new() -> GridSlots {
        GridSlots {
            running: Mutex::new(Vec::new()),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self, stream: &Stream, what: String, persistent: bool) -> u64 {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut r = lock(&self.running);
        if r.len() >= MAX_RESIDENT_GRIDS {
            stream.set_activity(Now::WaitingForSlot);
            while r.len() >= MAX_RESIDENT_GRIDS {
                r = self
                    .freed
                    .wait(r)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
        r.push((id, what, persistent));
        id
    }

    fn release(&self, id: u64) {
        lock(&self.running).retain(|(i, _, _)| *i != id);
        self.freed.notify_all();
    }

    /// Why `stream` waits for a slot, and whether every holder polls.
    pub(crate) fn describe_full(&self, stream: &str) -> (String, bool) {
        let r = lock(&self.running);
        let persistent = r.iter().filter(|(_, _, p)| *p).count();
        (
            format!(
                "{stream} waits for one of the device's {MAX_RESIDENT_GRIDS} resident-grid slots, \
                 all held ({persistent} by persistent kernels, e.g. {})",
                r.first().map_or("-", |(_, w, _)| w.as_str())
            ),
            persistent == r.len(),
        )
    }
}

fn check_geometry(grid: [u32; 3], block: [u32; 3]) -> Result<(), CUresult> {
    let threads = block.iter().map(|&b| u64::from(b)).product::<u64>();
    let ok = grid.iter().chain(&block).all(|&d| d > 0)
        && grid[0] <= i32::MAX as u32
        && grid[1] <= 65535
        && grid[2] <= 65535
        && block[0] <= 1024
        && block[1] <= 1024
        && block[2] <= 64
        && threads <= 1024;
    if ok {
        Ok(())
    } else {
        Err(CUresult::CUDA_ERROR_INVALID_VALUE)
    }
}

/// Copies the arguments `params[i]` points to, by the entry's C parameter
/// sizes.
///
/// # Safety
///
/// `params` holds one pointer per parameter of `f`, each to a value of
/// that parameter's size (`cuLaunchKernel`'s contract).
unsafe fn copy_params(
    f: &Function,
    params: *mut *mut c_void,
) -> Result<(Vec<u128>, Vec<usize>), CUresult> {
    if !f.params.is_empty() && params.is_null() {
        return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
    }
    let mut offsets = Vec::with_capacity(f.params.len());
    let mut total = 0usize;
    for &(size, _) in &f.params {
        offsets.push(total);
        total += (size as usize).next_multiple_of(16).max(16);
    }
    let mut storage = vec![0u128; total / 16];
    let base = storage.as_mut_ptr().cast::<u8>();
    for (i, &(size, _)) in f.params.iter().enumerate() {
        // SAFETY: per this function's contract `params[i]` points to
        // `size` readable bytes; `storage` has room at `offsets[i]`.
        unsafe {
            let src = *params.add(i);
            if src.is_null() {
                return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
            }
            std::ptr::copy_nonoverlapping(src.cast::<u8>(), base.add(offsets[i]), size as usize);
        }
    }
    Ok((storage, offsets))
}

#[allow(clippy::too_many_arguments)]
fn launch(
    func: *mut c_void,
    grid: [u32; 3],
    block: [u32; 3],
    shared_bytes: u32,
    stream: *mut c_void,
    params: *mut *mut c_void,
    extra: *mut *mut c_void,
    call: &str,
) -> Result<(), CUresult> {
    let ctx = current()?;
    let f = function(func)?;
    let s = stream_in(&ctx, stream as u64)?;
    // SAFETY: cuLaunchKernel's contract: one pointer per parameter.
    let mut p = unsafe { Prepared::new(f, grid, block, shared_bytes, params, extra, call) }?;
    p.cooperative = call == "cuLaunchCooperativeKernel";
    queue_launch(&ctx, &s, p, call)
}

/// A launch checked and with its arguments copied (by `cuLaunchKernel`, or
/// by `cuGraphAddKernelNode` for each replay of a graph).
#[derive(Clone)]
pub(crate) struct Prepared {
    pub(crate) function: Arc<Function>,
    pub(crate) grid: [u32; 3],
    pub(crate) block: [u32; 3],
    pub(crate) shared_bytes: u32,
    pub(crate) storage: Vec<u128>,
    pub(crate) offsets: Vec<usize>,
    /// Launched by `cuLaunchCooperativeKernel`: all its blocks are
    /// resident at once.
    pub(crate) cooperative: bool,
}

impl Prepared {
    /// Checks a launch of `f` and copies its arguments (the checks and the
    /// copy `cuLaunchKernel` makes).
    ///
    /// # Safety
    ///
    /// `params` holds one pointer per parameter of `f`, each to a value of
    /// that parameter's size.
    pub(crate) unsafe fn new(
        f: Arc<Function>,
        grid: [u32; 3],
        block: [u32; 3],
        shared_bytes: u32,
        params: *mut *mut c_void,
        extra: *mut *mut c_void,
        call: &str,
    ) -> Result<Prepared, CUresult> {
        check_launch(&f, grid, block, shared_bytes, extra, call)?;
        // SAFETY: forwarded caller contract.
        let (storage, offsets) = unsafe { copy_params(&f, params) }?;
        Ok(Prepared {
            function: f,
            grid,
            block,
            shared_bytes,
            storage,
            offsets,
            cooperative: false,
        })
    }
}

/// The checks of a launch that need only the function and the geometry.
fn check_launch(
    f: &Function,
    grid: [u32; 3],
    block: [u32; 3],
    shared_bytes: u32,
    extra: *mut *mut c_void,
    call: &str,
) -> Result<(), CUresult> {
    if !extra.is_null() {
        crate::log::warn(format!(
            "{call}: `extra` launch parameters are not supported by the stand-in"
        ));
        return Err(CUresult::CUDA_ERROR_NOT_SUPPORTED);
    }
    check_geometry(grid, block)?;
    let threads = block[0] * block[1] * block[2];
    let max = f.resources.max_threads_per_block();
    if threads > max {
        crate::log::warn(format!(
            "{call}: `{}` uses {} registers per thread{}, so a block may have at most {max} threads; \
             this launch asks for {threads}: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
            f.name,
            f.resources.registers,
            if f.resources.launch_bound > 0 {
                format!(" and has __launch_bounds__({})", f.resources.launch_bound)
            } else {
                String::new()
            }
        ));
        return Err(CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
    }
    let dynamic_limit = f.max_dynamic_shared.load(Ordering::Acquire);
    if shared_bytes > dynamic_limit {
        crate::log::warn(format!(
            "{call}: `{}` asks for {shared_bytes} bytes of dynamic shared memory; its \
             MAX_DYNAMIC_SHARED_SIZE_BYTES is {dynamic_limit}: CUDA_ERROR_INVALID_VALUE",
            f.name
        ));
        return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
    }
    Ok(())
}

/// Puts a prepared launch on stream `s` of context `ctx`: counts it (fault
/// injection), loads the function's library, grows the stack if needed.
pub(crate) fn queue_launch(
    ctx: &Arc<super::context::Context>,
    s: &Arc<Stream>,
    p: Prepared,
    call: &str,
) -> Result<(), CUresult> {
    let f = p.function;
    let d = driver()?;
    let nth = d.launches.fetch_add(1, Ordering::Relaxed) + 1;
    let fault = crate::config::get().launch_fault(nth, &f.name);
    if fault == Some(LaunchFault::Refuse) {
        crate::log::warn(format!(
            "injected fault (SPINDLE_EMU_FAIL_LAUNCH): launch {nth} of `{}` fails with \
             CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
            f.name
        ));
        return Err(CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
    }
    f.ensure_loaded(call)?;
    let stack = f.resources.stack_bytes as usize;
    if stack > ctx.stack_limit() {
        ctx.grow_stack(stack, &format!("{call} of `{}`", f.name))?;
    }
    s.enqueue(
        Work::Kernel(Box::new(Launch {
            function: f,
            grid: p.grid,
            block: p.block,
            shared_bytes: p.shared_bytes,
            storage: p.storage,
            offsets: p.offsets,
            fault,
            cooperative: p.cooperative,
        })),
        Vec::new(),
    );
    Ok(())
}

#[no_mangle]
pub unsafe extern "C" fn cuLaunchKernel(
    func: *mut c_void,
    gx: c_uint,
    gy: c_uint,
    gz: c_uint,
    bx: c_uint,
    by: c_uint,
    bz: c_uint,
    shared_bytes: c_uint,
    stream: *mut c_void,
    params: *mut *mut c_void,
    extra: *mut *mut c_void,
) -> CUresult {
    run("cuLaunchKernel", || {
        launch(
            func,
            [gx, gy, gz],
            [bx, by, bz],
            shared_bytes,
            stream,
            params,
            extra,
            "cuLaunchKernel",
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuLaunchCooperativeKernel(
    func: *mut c_void,
    gx: c_uint,
    gy: c_uint,
    gz: c_uint,
    bx: c_uint,
    by: c_uint,
    bz: c_uint,
    shared_bytes: c_uint,
    stream: *mut c_void,
    params: *mut *mut c_void,
) -> CUresult {
    run("cuLaunchCooperativeKernel", || {
        // All blocks must be resident at once: at most the device's SMs
        // times the blocks of this size an SM holds.
        let threads = u64::from(bx) * u64::from(by) * u64::from(bz);
        let per_sm = (u64::from(super::device::THREADS_PER_SM) / threads.max(1)).min(32);
        let blocks = u64::from(gx) * u64::from(gy) * u64::from(gz);
        if blocks > per_sm * u64::from(super::device::SM_COUNT) {
            return Err(CUresult::CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
        }
        let none = std::ptr::null_mut();
        launch(
            func,
            [gx, gy, gz],
            [bx, by, bz],
            shared_bytes,
            stream,
            params,
            none,
            "cuLaunchCooperativeKernel",
        )
    })
}

/// Runs a queued launch on `stream`'s worker (called in stream order).
pub(crate) fn execute(stream: &Stream, l: &Launch) -> Result<(), CUresult> {
    let what = l.describe();
    if l.fault == Some(LaunchFault::IllegalAddress) {
        crate::log::warn(format!(
            "injected fault (SPINDLE_EMU_ILLEGAL_ADDRESS): {what} ends with CUDA_ERROR_ILLEGAL_ADDRESS; \
             the context is unusable from now on"
        ));
        return Err(CUresult::CUDA_ERROR_ILLEGAL_ADDRESS);
    }
    let d = driver()?;
    let module = &l.function.module;
    let persistent = module.host.polls || l.fault == Some(LaunchFault::Hang);
    let slot = d.slots.acquire(stream, what.clone(), persistent);
    stream.set_activity(Now::Kernel {
        what: what.clone(),
        persistent,
        since: Instant::now(),
    });
    if l.fault == Some(LaunchFault::Hang) {
        crate::log::warn(format!(
            "injected fault (SPINDLE_EMU_HANG_KERNEL): {what} never finishes"
        ));
        loop {
            std::thread::park();
        }
    }
    module.running.fetch_add(1, Ordering::AcqRel);
    let resident = u64::from(resident_blocks(l));
    if persistent {
        PERSISTENT.fetch_add(resident, Ordering::Relaxed);
    }
    let result = run_blocks(l);
    if persistent {
        PERSISTENT.fetch_sub(resident, Ordering::Relaxed);
    }
    module.running.fetch_sub(1, Ordering::AcqRel);
    d.slots.release(slot);
    result
}

fn emu_launch(inst: &Instance, l: &Launch, params: *mut *mut c_void) -> Result<Shared, CUresult> {
    let thunk = inst
        .thunk(&l.function.name)
        .ok_or(CUresult::CUDA_ERROR_LAUNCH_FAILED)?;
    Ok(Shared(EmuLaunch {
        thunk,
        params,
        grid: l.grid,
        block: l.block,
        shared_bytes: l.shared_bytes,
        _pad: 0,
    }))
}

/// Blocks of `l` that run at once: all of a cooperative launch (CUDA
/// guarantees they are co-resident, and a persistent kernel's blocks may
/// wait for each other), else up to `SPINDLE_EMU_THREADS`.
fn resident_blocks(l: &Launch) -> u32 {
    let blocks = l.grid.iter().map(|&g| u64::from(g)).product::<u64>();
    let blocks = u32::try_from(blocks).unwrap_or(u32::MAX);
    if l.cooperative {
        return blocks.max(1);
    }
    (crate::config::get().parallel_blocks as u32)
        .min(blocks)
        .max(1)
}

fn run_blocks(l: &Launch) -> Result<(), CUresult> {
    let module = &l.function.module;
    let blocks = l.grid.iter().map(|&g| u64::from(g)).product::<u64>();
    let Ok(blocks) = u32::try_from(blocks) else {
        crate::log::warn(format!(
            "{}: the stand-in runs at most 2^32 - 1 blocks per launch",
            l.describe()
        ));
        return Err(CUresult::CUDA_ERROR_LAUNCH_FAILED);
    };
    let threads = l.block[0] * l.block[1] * l.block[2];
    let as_threads = crate::config::get().blocks_as_threads;
    // A fiber's stack: host code needs more than ptxas's frame; generous,
    // since only the pages touched are ever backed.
    let fiber_stack = (8 * l.function.resources.stack_bytes)
        .max(1 << 20)
        .next_multiple_of(4096);
    let base = l.storage.as_ptr() as *mut u8;
    // SAFETY: every offset lies inside `storage` (see `copy_params`).
    let mut pointers: Vec<*mut c_void> = l
        .offsets
        .iter()
        .map(|&o| unsafe { base.add(o) }.cast())
        .collect();
    // The runner only reads the pointer array, which outlives the run.
    let params = pointers.as_mut_ptr() as usize;
    let parallel = resident_blocks(l);
    let next = AtomicU64::new(0);
    let failed: Mutex<Option<CUresult>> = Mutex::new(None);
    let take_block = || {
        let b = next.fetch_add(1, Ordering::Relaxed);
        (b < u64::from(blocks)).then_some(b as u32)
    };
    if !module.host.concurrent {
        // Threads one after another; several blocks at once on one copy.
        let inst = module.instance()?;
        let shared = emu_launch(&inst, l, params as *mut *mut c_void)?;
        let worker = |_| {
            while let Some(b) = take_block() {
                // SAFETY: the runner of the loaded copy, given a launch
                // whose thunk and parameters are valid for the whole run.
                unsafe { (inst.run_serial)(shared.get(), b) };
            }
        };
        if parallel == 1 {
            worker(0);
        } else {
            POOL.run_gang(parallel, &worker);
        }
        module.put_back(inst);
        drop(pointers);
        return Ok(());
    }
    let worker = |_| {
        let inst = match module.instance() {
            Ok(i) => i,
            Err(e) => {
                *lock(&failed) = Some(e);
                return;
            }
        };
        let shared = match emu_launch(&inst, l, params as *mut *mut c_void) {
            Ok(s) => s,
            Err(e) => {
                *lock(&failed) = Some(e);
                return;
            }
        };
        while let Some(b) = take_block() {
            if as_threads {
                // SAFETY: as above; the block context is used by this
                // block's threads only and ended after all of them returned.
                unsafe {
                    let ctx = (inst.block_begin)(shared.get()) as usize;
                    POOL.run_gang(threads, &|t| {
                        (inst.block_thread)(ctx as *mut c_void, shared.get(), b, t)
                    });
                    (inst.block_end)(ctx as *mut c_void);
                }
            // SAFETY: as above; the fibers run on this thread and are all
            // done when the call returns.
            } else if unsafe { (inst.run_fibers)(shared.get(), b, fiber_stack) } != 0 {
                crate::log::warn(format!(
                    "{}: cannot map the stacks of its threads",
                    l.describe()
                ));
                *lock(&failed) = Some(CUresult::CUDA_ERROR_OUT_OF_MEMORY);
                break;
            }
        }
        module.put_back(inst);
    };
    if parallel == 1 {
        worker(0);
    } else {
        POOL.run_gang(parallel, &worker);
    }
    drop(pointers);
    let failed = *lock(&failed);
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
