//! Batch launches: argument packing per the ABI (`spindle_codegen::abi`),
//! the launch itself, and the fault check after it.
//!
//! Arguments, in order: the `SpindleFault*`, then per IR parameter either
//! the value's bytes (scalar, array or struct, any size) or, for a slice,
//! the device pointer and the `u64` element count. They go through the raw
//! `cuLaunchKernel` with one pointer per C parameter, so values of any size
//! and layout travel byte for byte.
//!
//! # What a launch costs
//!
//! A launch does what a launch through cudarc alone does, and nothing the
//! driver must be asked for besides:
//!
//! | per launch            | raw cudarc (`launch_builder` + `synchronize`) | spindle |
//! |-----------------------|------------------------|-----------------------------------|
//! | `cuCtxGetCurrent`     | 2                      | 1                                 |
//! | `cuLaunchKernel`      | 1                      | 1                                 |
//! | `cuStreamSynchronize` | 1                      | 1                                 |
//! | other driver calls    | 0                      | 0                                 |
//! | heap allocations      | 1 (argument pointers)  | 0 (up to 32 words of arguments)   |
//! | locks                 | 0                      | 1 read lock (finding the kernel)  |
//!
//! Before this design a launch also cleared its fault record in device
//! memory (`cuMemsetD8Async`) and copied it back after the launch
//! (`cuMemcpyDtoHAsync` and a second `cuStreamSynchronize`), bound the
//! context three more times, took a pool lock twice and made a heap
//! allocation per C argument plus two: 9 driver calls instead of 3. Now the record is
//! in mapped pinned host memory (`super::faults`): the host reads its flag
//! with a plain load after the synchronise and touches the rest only when
//! the kernel faulted. Dynamic shared memory above 48 KiB costs a
//! `cuFuncSetAttribute` only the first time a kernel needs more than
//! before; the per-thread stack costs a driver call only when a kernel
//! needs more than the context has (`super::actors`).

use std::ffi::c_void;

use cudarc::driver::result;
use cudarc::driver::sys::CUresult;
use smallvec::SmallVec;
use spindle_codegen::ir::{Kernel, ParamKind};

use super::driver::cuda_error;
use super::modules::LoadedKernel;
use super::CudaDevice;
use crate::buffer::Mem;
use crate::fault::fault_error;
use crate::kernel::{KernelArg, KernelInfo};
use crate::queue::Storage;
use crate::{Error, Launch, Result};

impl CudaDevice {
    /// Runs batch kernel `kernel` once with `launch`'s geometry and waits
    /// for it; reports the launch's first fault as its error.
    pub(crate) fn launch(
        &self,
        info: &'static KernelInfo,
        kernel: &Kernel,
        launch: &Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        if !kernel.mode.is_batch() {
            return Err(Error::Unsupported(format!(
                "kernel `{}` is a ring kernel: start it with `{}::spawn`, not a batch launch",
                kernel.name, kernel.name
            )));
        }
        // Built (or found) before anything else: a compile holds up no
        // launch of another kernel.
        let loaded = self.gpu.batch_kernel(info, kernel)?;
        self.launch_loaded(kernel, &loaded, launch, args)
    }

    /// What a queued launch of `kernel` needs before it goes on a stream:
    /// the loaded kernel, checked against the launch, with the context's
    /// stack and the kernel's dynamic shared memory made to fit.
    pub(crate) fn prepare(
        &self,
        info: &'static KernelInfo,
        kernel: &Kernel,
        launch: &Launch,
    ) -> Result<std::sync::Arc<LoadedKernel>> {
        if !kernel.mode.is_batch() {
            return Err(Error::Unsupported(format!(
                "kernel `{}` is a ring kernel: start it with `{}::spawn`, not a batch launch",
                kernel.name, kernel.name
            )));
        }
        let loaded = self.gpu.batch_kernel(info, kernel)?;
        let b = launch.block;
        let threads = b.x.saturating_mul(b.y).saturating_mul(b.z);
        loaded.check_block(threads, launch.shared_bytes, false)?;
        loaded.ensure_dynamic_shared(&self.gpu, launch.shared_bytes)?;
        self.gpu.ensure_stack(&loaded)?;
        Ok(loaded)
    }

    /// Runs the already loaded entry point of `kernel` (see [`Self::launch`]).
    pub(crate) fn launch_loaded(
        &self,
        kernel: &Kernel,
        loaded: &LoadedKernel,
        launch: &Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        let gpu = &*self.gpu;
        let b = launch.block;
        let threads = b.x.saturating_mul(b.y).saturating_mul(b.z);
        loaded.check_block(threads, launch.shared_bytes, false)?;
        loaded.ensure_dynamic_shared(gpu, launch.shared_bytes)?;
        gpu.ensure_stack(loaded)?;
        // A fault record of its own for this launch: launches from several
        // threads never share one.
        let fault = gpu.faults.lease();
        let name = &kernel.name;
        gpu.bind()
            .map_err(|e| cuda_error(&format!("binding GPU context to launch `{name}`"), e))?;
        launch_on(
            kernel,
            loaded,
            launch,
            args,
            fault.device_ptr(),
            &gpu.stream,
        )?;
        let stream = gpu.stream.raw();
        // SAFETY: the GPU's live stream, with its context current.
        let ran = unsafe { result::stream::synchronize(stream) };
        // Read (and cleared) even when the synchronise failed, so the
        // record is clean for the next launch that leases it.
        let recorded = fault.take();
        ran.map_err(|e| cuda_error(&format!("running kernel `{name}`"), e))?;
        match recorded {
            Some(record) => Err(fault_error(kernel, &record)),
            None => Ok(()),
        }
    }
}

/// Puts one launch of `loaded` on `stream` with its fault record at
/// `fault_ptr`, and returns without waiting. The context must be current.
///
/// The caller keeps every buffer in `args` alive and unused by conflicting
/// work until the launch has finished (a synchronous launch waits for it;
/// a queued one is ordered by its buffers, which outlive it), and gives the
/// launch a fault record no other unfinished launch uses.
pub(super) fn launch_on(
    kernel: &Kernel,
    loaded: &LoadedKernel,
    launch: &Launch,
    args: &[KernelArg<'_>],
    fault_ptr: u64,
    stream: &super::Stream,
) -> Result<()> {
    let (g, b) = (launch.grid, launch.block);
    let mut pack = ArgPack::new(fault_ptr, kernel, args)?;
    let mut params = pack.pointers();
    // SAFETY: `params` holds one pointer per C parameter of the entry
    // point, in order, each pointing at a value of that parameter's size
    // and layout (checked against the IR by `ArgPack::new`) that lives in
    // `pack` until after the call; the driver copies them before
    // returning. Every device pointer among them refers to a live
    // allocation of this context that stays alive and unused by
    // conflicting work until the launch ends, and the fault record is this
    // launch's alone (the caller's promises above).
    unsafe {
        result::launch_kernel(
            loaded.cu_function(),
            (g.x, g.y, g.z),
            (b.x, b.y, b.z),
            launch.shared_bytes,
            stream.raw(),
            &mut params,
        )
    }
    .map_err(|e| launch_error(loaded, launch, e))
}

/// The error for a `cuLaunchKernel` that failed: for too few resources,
/// what the kernel uses and what to change.
fn launch_error(loaded: &LoadedKernel, launch: &Launch, e: cudarc::driver::DriverError) -> Error {
    let (g, b) = (launch.grid, launch.block);
    if e.0 == CUresult::CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES {
        return Error::InvalidLaunch {
            kernel: loaded.kernel_name.clone(),
            message: format!(
                "the GPU refused the launch for lack of resources \
                 (CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, grid {g:?}, block {b:?}): {}",
                loaded.resources_message(
                    b.x.saturating_mul(b.y).saturating_mul(b.z),
                    launch.shared_bytes,
                    false
                )
            ),
        };
    }
    cuda_error(
        &format!(
            "launching kernel `{}` ({}, grid {g:?}, block {b:?}, {} bytes of dynamic shared memory)",
            loaded.kernel_name, loaded.symbol, launch.shared_bytes
        ),
        e,
    )
}

/// The launch's C arguments: their bytes in 8-byte words, each argument
/// starting on a word of its own. Inline up to 32 words and 16 arguments,
/// so a typical launch allocates nothing.
pub(super) struct ArgPack {
    words: SmallVec<[u64; 32]>,
    /// The first word of each C argument.
    starts: SmallVec<[usize; 16]>,
}

impl ArgPack {
    /// Packs the fault pointer and `args` for `kernel`'s entry point,
    /// checking each argument against its IR parameter.
    ///
    /// `Device::launch_batch` has already run `check_args`; the checks here
    /// stay because the `unsafe` launch relies on the sizes they verify and
    /// `launch_loaded` can be reached without `check_args` (the GPU tests).
    pub(super) fn new(fault_ptr: u64, kernel: &Kernel, args: &[KernelArg<'_>]) -> Result<ArgPack> {
        let params = &kernel.entry.params;
        let bad = |param: &str, message: String| Error::Argument {
            kernel: kernel.name.clone(),
            param: param.to_string(),
            message,
        };
        if params.len() != args.len() {
            return Err(bad(
                "",
                format!("expected {} arguments, got {}", params.len(), args.len()),
            ));
        }
        let mut pack = ArgPack {
            words: SmallVec::new(),
            starts: SmallVec::new(),
        };
        pack.push(&fault_ptr.to_ne_bytes());
        for (p, a) in params.iter().zip(args) {
            match (&p.kind, a) {
                (ParamKind::Value(ty), KernelArg::Value { bytes, .. }) => {
                    let want = kernel.size_of(ty) as usize;
                    if bytes.len() != want {
                        return Err(bad(
                            &p.name,
                            format!(
                                "`{}` is {want} bytes, the argument {} bytes",
                                kernel.ty_name(ty),
                                bytes.len()
                            ),
                        ));
                    }
                    pack.push(bytes);
                }
                (ParamKind::Slice { mutable: false, .. }, KernelArg::Slice { mem, len, .. }) => {
                    let (ptr, len) = slice_arg(mem, *len).ok_or_else(|| not_cuda(&p.name))?;
                    pack.push(&ptr.to_ne_bytes());
                    pack.push(&len.to_ne_bytes());
                }
                (ParamKind::Slice { mutable: true, .. }, KernelArg::SliceMut { mem, len, .. }) => {
                    let (ptr, len) = slice_arg(mem, *len).ok_or_else(|| not_cuda(&p.name))?;
                    pack.push(&ptr.to_ne_bytes());
                    pack.push(&len.to_ne_bytes());
                }
                (ParamKind::StateRef(_), _) => {
                    return Err(Error::Unsupported(format!(
                        "kernel `{}`: ring state parameter `{}` in a batch launch",
                        kernel.name, p.name
                    )))
                }
                _ => {
                    return Err(bad(
                        &p.name,
                        "argument kind does not match the parameter".into(),
                    ))
                }
            }
        }
        return Ok(pack);

        fn not_cuda(param: &str) -> Error {
            Error::Buffer(format!(
                "parameter `{param}`: the buffer does not live on a CUDA device"
            ))
        }
    }

    /// Appends one C argument: `bytes` in words, zero padded, at least one.
    fn push(&mut self, bytes: &[u8]) {
        self.starts.push(self.words.len());
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.words.push(u64::from_ne_bytes(w));
        }
        if bytes.is_empty() {
            self.words.push(0);
        }
    }

    /// The number of C arguments.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.starts.len()
    }

    /// The words of C argument `i`.
    #[cfg(test)]
    pub(super) fn arg_words(&self, i: usize) -> &[u64] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.words.len());
        &self.words[self.starts[i]..end]
    }

    /// One pointer per C argument, valid while `self` is neither moved
    /// (the words may be inline) nor mutated.
    pub(super) fn pointers(&mut self) -> SmallVec<[*mut c_void; 16]> {
        let base = self.words.as_mut_ptr();
        self.starts
            .iter()
            // SAFETY: every start indexes a word of `words`.
            .map(|&i| unsafe { base.add(i) }.cast::<c_void>())
            .collect()
    }
}

/// The device pointer and element count of a buffer argument.
fn slice_arg(mem: &Storage, len: usize) -> Option<(u64, u64)> {
    match &mem.mem {
        Mem::Cuda(m) => Some((m.device_ptr(), len as u64)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_bytes_in_order() {
        let mut pack = ArgPack {
            words: SmallVec::new(),
            starts: SmallVec::new(),
        };
        let bytes: Vec<u8> = (1..=11).collect();
        pack.push(&bytes);
        pack.push(&[]);
        pack.push(&[9]);
        assert_eq!(pack.len(), 3);
        let w = pack.arg_words(0);
        assert_eq!(w.len(), 2);
        let back: Vec<u8> = w.iter().flat_map(|x| x.to_ne_bytes()).collect();
        assert_eq!(&back[..11], &bytes[..]);
        assert_eq!(&back[11..], &[0, 0, 0, 0, 0]);
        assert_eq!(pack.arg_words(1), &[0]);
        assert_eq!(
            pack.arg_words(2),
            &[u64::from_ne_bytes([9, 0, 0, 0, 0, 0, 0, 0])]
        );
        let ptrs = pack.pointers();
        assert_eq!(ptrs.len(), 3);
        // SAFETY: the pointers point into `pack.words`, still alive.
        assert_eq!(unsafe { *ptrs[2].cast::<u8>() }, 9);
    }
}
