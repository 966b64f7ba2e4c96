//! The CUDA executor of an actor group: the group kernel
//! (`spindle_codegen::ring::group_loop`) running as one persistent grid of
//! `G` blocks, each serving its share of the actors; after a handler fault
//! ends a block, that block alone is launched again.
//!
//! Set-up follows the single actor's (`cuda_executor`): every registered
//! kernel loaded before the first actor, the group's module loaded, the
//! region in mapped pinned memory, the states and the device copy of the
//! request heads in device memory, a stream of its own, then the launch
//! under the GPU's set-up gate (one actor slot per grid).
//!
//! # Co-residency
//!
//! The blocks of a persistent grid must all run at once: a block that
//! waits for a free multiprocessor behind blocks that never end never
//! serves its actors. The grid is therefore launched cooperatively
//! (`cuLaunchCooperativeKernel`), for which CUDA guarantees that every
//! block is resident, or refuses the launch
//! (`CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE`), which becomes an error
//! saying how many blocks were asked for. By default `G` is the number of
//! multiprocessors (one block each, at most one per actor); a relaunched
//! block is an ordinary one-block launch on a stream of its own.

use std::ffi::c_void;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;
use std::time::Duration;

use cudarc::driver::{result, sys};
use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::emit_group;
use spindle_codegen::ring::group_layout::{group_offsets, GroupLayout};
use spindle_codegen::ring::layout::{EXIT_NONE, STOP_ABORT};

use super::cuda_executor::{emitted, unknown_code, wait_started, KernelRun, StreamState};
use super::group_executor::write_group_config;
use super::group_host::GroupExecutor;
use super::memory::{RawBytes, RingMemory};
use crate::cuda::{cuda_error, CudaDevice, DeviceMem, Gpu, LoadedKernel};
use crate::{Error, Result};

/// The longest `start` waits for every block to store `running`.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// The blocks a group of `actors` actors runs on by default on `gpu`: one
/// per multiprocessor, at most one per actor.
pub(crate) fn default_blocks(gpu: &Gpu, actors: usize) -> Result<usize> {
    let what = || format!("asking GPU {} for its multiprocessor count", gpu.ordinal);
    gpu.bind().map_err(|e| cuda_error(&what(), e))?;
    // SAFETY: plain queries of a device that exists (its context is open).
    let sms = unsafe {
        result::device::get(gpu.ordinal as i32).and_then(|d| {
            result::device::get_attribute(
                d,
                sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
            )
        })
    }
    .map_err(|e| cuda_error(&what(), e))?;
    Ok((sms.max(1) as usize).min(actors).max(1))
}

/// What every launch of the group uses, freed once the last has ended.
struct GroupMemory {
    /// The entry point (its module stays loaded for the process).
    _function: Arc<LoadedKernel>,
    /// The actors' states, `state_stride` apart.
    states: DeviceMem,
    /// Per actor: its request head and failed flag, as the blocks keep them.
    heads: DeviceMem,
}

/// One launch's hold: the shared memory, and its actor slot.
struct LaunchKept {
    _memory: Arc<GroupMemory>,
    _slot: crate::cuda::ActorSlot,
}

/// A group's kernel on a GPU, as the host sees it.
pub(crate) struct CudaGroup {
    kernel: String,
    entry: String,
    gpu: Arc<Gpu>,
    function: Arc<LoadedKernel>,
    memory: Arc<GroupMemory>,
    region_device: u64,
    block_threads: u32,
    /// Every launch so far: the grid first, then each relaunched block.
    runs: Vec<KernelRun<LaunchKept>>,
    /// Per block: the run that serves it now.
    serving: Vec<usize>,
}

/// Starts the group kernel of `kernel` over `region` (zeroed, `layout`),
/// with the actors' initial states `inits` (`state_size` bytes each).
#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    dev: &CudaDevice,
    kernel: &Arc<Kernel>,
    region: &Arc<RawBytes>,
    region_device: u64,
    layout: &GroupLayout,
    inits: &[u8],
    idle_ns: u32,
    timeout: Duration,
) -> Result<CudaGroup> {
    let gpu = &dev.gpu;
    let name = &kernel.name;
    let src = emitted(
        kernel,
        emit_group,
        (layout.request.stride, layout.reply.stride),
        "group",
    )?;
    gpu.prepare_actors()?;
    let function = gpu.ring_kernel(name, &src.code, &src.entry)?;
    write_group_config(&**region, layout, idle_ns, kernel.threads);
    // The states, each at its stride, and the heads, all zero.
    let (size, stride) = (layout.state_size, layout.state_stride);
    let mut states = vec![0u8; layout.actors as usize * stride];
    for (a, init) in inits.chunks_exact(size).enumerate() {
        states[a * stride..a * stride + size].copy_from_slice(init);
    }
    let memory = Arc::new(GroupMemory {
        _function: function.clone(),
        states: dev.upload(&states)?,
        heads: dev.zeros(layout.actors as usize * 8)?,
    });
    let mut group = CudaGroup {
        kernel: name.clone(),
        entry: src.entry.clone(),
        gpu: gpu.clone(),
        function,
        memory,
        region_device,
        block_threads: src.block_threads,
        runs: Vec::new(),
        serving: vec![0; layout.blocks as usize],
    };
    group.launch(0, layout.blocks, 0)?;
    // Started: every block stored `running` (or one exited or died, which
    // the session reports).
    let blocks = layout.blocks;
    let started = || {
        (0..blocks).all(|b| {
            let status = layout.block_status(b);
            // Acquire, though `running` orders nothing: a cheap poll.
            region.load(status + group_offsets::BLOCK_RUNNING, Acquire) != 0
                || region.load(status + group_offsets::BLOCK_EXITED, Acquire) != EXIT_NONE
        })
    };
    let timeout = timeout.clamp(Duration::from_millis(500), START_TIMEOUT);
    if let Err(e) = wait_started(name, &mut group.runs[0], timeout, started) {
        // It may start later: then it sees the abort and exits at once.
        // Release: the config it reads comes before.
        region.store(group_offsets::STOP, STOP_ABORT, Release);
        // Kept until the grid has ended.
        group.runs[0].give_up(Some(Box::new(region.clone())));
        return Err(e);
    }
    Ok(group)
}

impl CudaGroup {
    /// Launches blocks `first .. first + count` (launch number `launch`) on
    /// a stream of their own: the whole grid cooperatively, a relaunched
    /// block alone.
    fn launch(&mut self, first: u32, count: u32, launch: u32) -> Result<()> {
        self.release_ended();
        let gpu = &self.gpu;
        let name = &self.kernel;
        let stream = gpu
            .actor_stream()
            .map_err(|e| cuda_error(&format!("creating a stream of actor group `{name}`"), e))?;
        let pointers: [u64; 3] = [
            self.region_device,
            self.memory.states.device_ptr(),
            self.memory.heads.device_ptr(),
        ];
        let words: [u32; 2] = [first, launch];
        let threads = self.block_threads;
        let cooperative = count > 1;
        let function = &self.function;
        let slot = gpu.start_actor(function, threads, || {
            let mut params: [*mut c_void; 5] = [
                (&pointers[0] as *const u64).cast_mut().cast(),
                (&pointers[1] as *const u64).cast_mut().cast(),
                (&pointers[2] as *const u64).cast_mut().cast(),
                (&words[0] as *const u32).cast_mut().cast(),
                (&words[1] as *const u32).cast_mut().cast(),
            ];
            gpu.bind()
                .map_err(|e| cuda_error(&format!("launching actor group `{name}`"), e))?;
            // SAFETY: the entry point takes three pointer-sized and two
            // 32-bit parameters, and `params` points to live values of
            // those sizes (the driver copies them before returning); every
            // address stays valid while the kernel runs: the region and
            // the device memory are freed only after every launch ended
            // (`finish`, `give_up`).
            let launched = unsafe {
                if cooperative {
                    result::launch_cooperative_kernel(
                        function.cu_function(),
                        (count, 1, 1),
                        (threads, 1, 1),
                        0,
                        stream.raw(),
                        &mut params,
                    )
                } else {
                    result::launch_kernel(
                        function.cu_function(),
                        (count, 1, 1),
                        (threads, 1, 1),
                        0,
                        stream.raw(),
                        &mut params,
                    )
                }
            };
            launched.map_err(|e| launch_error(name, function, threads, count, e))
        });
        let slot = match slot {
            Ok(slot) => slot,
            Err(e) => {
                gpu.return_stream(stream);
                return Err(e);
            }
        };
        tracing::debug!(kernel = %name, first, count, launch, threads, "launched actor group blocks");
        let kept = LaunchKept {
            _memory: self.memory.clone(),
            _slot: slot,
        };
        let run = self.runs.len();
        self.runs.push(KernelRun::new(
            self.entry.clone(),
            gpu.clone(),
            stream,
            kept,
        ));
        for b in first..first + count {
            self.serving[b as usize] = run;
        }
        Ok(())
    }
}

impl CudaGroup {
    /// Releases the stream and actor slot of every launch that serves no
    /// block any more (its blocks ended on a fault and run again
    /// elsewhere) and has ended, so faults do not use up the GPU's slots.
    fn release_ended(&mut self) {
        for (i, run) in self.runs.iter_mut().enumerate() {
            if !self.serving.contains(&i) && matches!(run.query(), StreamState::Done) {
                run.finish(true);
            }
        }
    }
}

/// The error for a failed launch of a group's blocks.
fn launch_error(
    name: &str,
    function: &LoadedKernel,
    threads: u32,
    blocks: u32,
    e: cudarc::driver::DriverError,
) -> Error {
    match e.0 {
        sys::CUresult::CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE => Error::InvalidLaunch {
            kernel: name.to_string(),
            message: format!(
                "the GPU cannot run the group's {blocks} blocks of {threads} threads at once \
                 (CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE), and a persistent kernel's blocks must \
                 all be resident; ask for fewer (GroupConfig::workers)"
            ),
        },
        sys::CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES => Error::InvalidLaunch {
            kernel: name.to_string(),
            message: format!(
                "the GPU refused to start the group for lack of resources \
                 (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES): {}",
                function.resources_message(threads, 0, true)
            ),
        },
        _ => cuda_error(&format!("launching actor group `{name}`"), e),
    }
}

impl GroupExecutor for CudaGroup {
    fn check_alive(&mut self, exited: &dyn Fn(u32) -> bool) -> std::result::Result<(), String> {
        for (i, run) in self.runs.iter_mut().enumerate() {
            match run.query() {
                StreamState::Running => {}
                StreamState::Failed(why) => return Err(why),
                StreamState::Done => {
                    // Every block this run still serves must have exited.
                    let gone = self
                        .serving
                        .iter()
                        .enumerate()
                        .find(|&(b, &r)| r == i && !exited(b as u32));
                    if let Some((b, _)) = gone {
                        return Err(format!(
                            "block {b} of its kernel `{}` returned without publishing `exited`, \
                             which a healthy kernel never does: check the handler on the CPU \
                             backend (SPINDLE_BACKEND=cpu)",
                            self.entry
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn failure(&mut self, _actor: u32, code: u32) -> Error {
        unknown_code(&self.kernel, code)
    }

    fn notify(&self, _block: u32) {
        // The blocks poll the region: nothing to wake.
    }

    fn revive(&mut self, block: u32, launch: u32) -> std::result::Result<(), String> {
        self.launch(block, 1, launch).map_err(|e| {
            format!(
                "block {block} of the group ended when a handler faulted, and could not be \
                 launched again to serve its other actors: {e}"
            )
        })
    }

    fn finish(&mut self, exited: bool) -> bool {
        let mut all = true;
        for run in &mut self.runs {
            all &= run.finish(exited);
        }
        all
    }
}

impl std::fmt::Debug for CudaGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaGroup")
            .field("kernel", &self.kernel)
            .field("launches", &self.runs.len())
            .finish()
    }
}
