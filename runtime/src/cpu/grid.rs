//! Running a batch launch: binding the arguments, then handing the grid's
//! blocks to host threads through an atomic counter, a group of
//! consecutive blocks at a time. Each host thread keeps one [`Lanes`] and
//! runs whole blocks on it, so a block never spans host threads (which is
//! what makes barriers and warp operations local).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::Kernel;

use super::exec::{LaneBuffers, Lanes};
use super::memory::{scalar_bits, Env, SliceView};
use super::program::{ParamBinding, Program};
use crate::buffer::Mem;
use crate::cpu::HostMem;
use crate::kernel::KernelArg;
use crate::queue::Storage;
use crate::{Error, Launch, Result};

/// The most dynamic shared memory a group of blocks holds, when its
/// blocks have less each: enough for a few blocks of large areas, small
/// enough to stay in the L2 cache beside the registers.
const GROUP_DYNAMIC_SHARED_BYTES: usize = 256 * 1024;

/// The most shared memory (static and dynamic) a block may have: what the
/// largest CUDA GPUs give one block (227 KiB, compute capability 9.0 and
/// up, after opting in as the CUDA backend does), so a launch the CPU
/// backend runs can launch on a GPU too, and no launch makes every host
/// thread allocate an unbounded area.
pub(crate) const MAX_BLOCK_SHARED_BYTES: u32 = 227 * 1024;

/// Runs `prog` over the launch's grid on up to `workers` host threads.
/// Returns the first fault (that of the lowest-numbered faulting block).
pub(crate) fn run_grid(
    prog: &Program,
    kernel: &Kernel,
    launch: &Launch,
    args: &mut [KernelArg<'_>],
    workers: usize,
    group_lanes: usize,
) -> Result<Option<FaultRecord>> {
    let env = bind(prog, kernel, launch, args)?;
    let total = launch.grid.volume();
    // Blocks per group: about `group_lanes` lanes, but with several host
    // threads at least four groups each, so the work spreads evenly; and
    // no more dynamic shared memory than `GROUP_DYNAMIC_SHARED_BYTES`
    // (beyond one block's), which the launch sizes, not the kernel.
    let mut group = ((group_lanes / env.threads()).max(1) as u64).min(total);
    if prog.dynamic_shared && env.dynamic_shared_bytes > 0 {
        let per_group = GROUP_DYNAMIC_SHARED_BYTES / env.dynamic_shared_stride();
        group = group.min(per_group.max(1) as u64);
    }
    if workers > 1 {
        group = group.min(total.div_ceil(workers as u64 * 4));
    }
    let group = group.max(1);
    let next = AtomicU64::new(0);
    let fault: Mutex<Option<(u64, FaultRecord)>> = Mutex::new(None);
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let work = || {
        let mut bufs = LaneBuffers::default();
        let mut lanes = match Lanes::new(prog, &env, group as usize, &mut bufs) {
            Ok(lanes) => lanes,
            Err(e) => {
                // No blocks run on this thread; the launch fails with `e`
                // (the other threads may run some, as on a GPU that stops
                // a launch midway).
                *failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                return;
            }
        };
        loop {
            // Relaxed: the counter only hands out distinct block numbers;
            // the results are published by the scope's join.
            let first = next.fetch_add(group, Ordering::Relaxed);
            if first >= total {
                break;
            }
            let count = group.min(total - first) as usize;
            if let Some((b, rec)) = lanes.run_group(first, count) {
                let mut fault = fault.lock().unwrap_or_else(|e| e.into_inner());
                if fault.is_none_or(|(fb, _)| b < fb) {
                    *fault = Some((b, rec));
                }
            }
        }
    };
    let workers = (workers as u64).min(total.div_ceil(group)).max(1) as usize;
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 1..workers {
                s.spawn(work);
            }
            work();
        });
    }
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(match e {
            Error::OutOfMemory { what, bytes } => Error::OutOfMemory {
                what: format!("kernel `{}`: {what}", kernel.name),
                bytes,
            },
            other => other,
        });
    }
    Ok(fault
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .map(|(_, r)| r))
}

/// Refuses a launch whose blocks would have more shared memory than a GPU
/// gives one block ([`MAX_BLOCK_SHARED_BYTES`]).
pub(crate) fn check_shared(prog: &Program, kernel: &Kernel, launch: &Launch) -> Result<()> {
    let shared = prog.shared_bytes as u64 + launch.shared_bytes as u64;
    if shared > MAX_BLOCK_SHARED_BYTES as u64 {
        return Err(Error::InvalidLaunch {
            kernel: kernel.name.clone(),
            message: format!(
                "{} bytes of dynamic shared memory and {} of shared arrays are more than the {MAX_BLOCK_SHARED_BYTES} bytes a block may have; ask for less with `Launch::shared_bytes`",
                launch.shared_bytes, prog.shared_bytes
            ),
        });
    }
    Ok(())
}

/// Binds the launch's arguments to the program's parameter slots. The
/// device already checked kinds and types against the IR; this checks
/// what the interpreter's memory safety relies on (sizes, host memory).
fn bind<'a>(
    prog: &Program,
    kernel: &Kernel,
    launch: &Launch,
    args: &'a mut [KernelArg<'_>],
) -> Result<Env<'a>> {
    let err = |param: &str, message: String| Error::Argument {
        kernel: kernel.name.clone(),
        param: param.to_string(),
        message,
    };
    let not_host = |param: &str| err(param, "the buffer is not in host memory".into());
    check_shared(prog, kernel, launch)?;
    if args.len() != prog.params.len() {
        return Err(err(
            "",
            format!(
                "expected {} arguments, got {}",
                prog.params.len(),
                args.len()
            ),
        ));
    }
    let mut env = Env {
        slices: Vec::new(),
        uniforms: Vec::new(),
        scalars: vec![0; args.len()],
        state: SliceView {
            ptr: std::ptr::null_mut(),
            len: 0,
            writable: false,
        },
        block_dim: [launch.block.x, launch.block.y, launch.block.z],
        grid_dim: [launch.grid.x, launch.grid.y, launch.grid.z],
        dynamic_shared_bytes: launch.shared_bytes,
        stop: None,
        _borrow: PhantomData,
    };
    for (i, (binding, arg)) in prog.params.iter().zip(args.iter_mut()).enumerate() {
        let name = kernel.entry.params.get(i).map_or("", |p| p.name.as_str());
        match (binding, arg) {
            (ParamBinding::Scalar { size }, KernelArg::Value { bytes, .. }) => {
                if bytes.len() != *size as usize {
                    return Err(err(
                        name,
                        format!("expected {size} bytes, got {}", bytes.len()),
                    ));
                }
                env.scalars[i] =
                    scalar_bits(bytes).ok_or_else(|| err(name, "not a scalar".into()))?;
            }
            (ParamBinding::Uniform { size, .. }, KernelArg::Value { bytes, .. }) => {
                if bytes.len() != *size as usize {
                    return Err(err(
                        name,
                        format!("expected {size} bytes, got {}", bytes.len()),
                    ));
                }
                env.uniforms.push(&bytes[..]);
            }
            (
                ParamBinding::Slice {
                    elem_size,
                    mutable: false,
                    ..
                },
                KernelArg::Slice { mem, len, .. },
            ) => {
                let h = host_mem(mem).ok_or_else(|| not_host(name))?;
                check_len(h.len(), *len, *elem_size).map_err(|m| err(name, m))?;
                // Never written through: the compiler rejects stores into `&[T]`.
                env.slices.push(SliceView {
                    ptr: h.ptr(),
                    len: *len as u64,
                    writable: false,
                });
            }
            (
                ParamBinding::Slice {
                    elem_size,
                    mutable: true,
                    ..
                },
                KernelArg::SliceMut { mem, len, .. },
            ) => {
                let h = host_mem(mem).ok_or_else(|| not_host(name))?;
                check_len(h.len(), *len, *elem_size).map_err(|m| err(name, m))?;
                env.slices.push(SliceView {
                    ptr: h.ptr(),
                    len: *len as u64,
                    writable: true,
                });
            }
            (ParamBinding::State { .. }, _) => {
                return Err(Error::Unsupported(format!(
                    "kernel `{}` is a ring kernel; start it with `spawn`, not a batch launch",
                    kernel.name
                )))
            }
            _ => {
                return Err(err(
                    name,
                    "argument kind does not match the parameter".into(),
                ))
            }
        }
    }
    Ok(env)
}

/// The host memory of a buffer argument. Launches run only once the
/// buffer's ordering lets them (`crate::queue::order`), so the views made
/// from it are the only accesses while the launch runs.
fn host_mem(s: &Storage) -> Option<&HostMem> {
    match &s.mem {
        Mem::Cpu(h) => Some(h),
        _ => None,
    }
}

fn check_len(bytes: usize, len: usize, elem_size: u32) -> std::result::Result<(), String> {
    match len.checked_mul(elem_size as usize) {
        Some(need) if need <= bytes => Ok(()),
        _ => Err(format!(
            "buffer of {bytes} bytes is too small for {len} elements of {elem_size} bytes"
        )),
    }
}
