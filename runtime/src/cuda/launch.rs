//! Batch launches: argument packing per the ABI (`spindle_codegen::abi`),
//! the launch itself, and reading back the launch's fault record.
//!
//! Arguments, in order: the `SpindleFault*`, then per IR parameter either
//! the value's bytes (scalar, array or struct, any size) or, for a slice,
//! the device pointer and the `u64` element count. They go through the raw
//! `cuLaunchKernel` with one pointer per C parameter, so values of any size
//! and layout travel byte for byte.

use std::ffi::c_void;
use std::mem::{offset_of, size_of};

use cudarc::driver::result;
use cudarc::driver::sys::CUfunction_attribute;
use spindle_codegen::abi::FaultRecord;
use spindle_codegen::ir::{Kernel, ParamKind};

use super::driver::cuda_error;
use super::memory::DeviceMem;
use super::modules::LoadedKernel;
use super::CudaDevice;
use crate::buffer::Mem;
use crate::fault::fault_error;
use crate::kernel::{KernelArg, KernelInfo};
use crate::{Error, Launch, Result};

/// Dynamic shared memory a kernel may use without opting in.
const DEFAULT_DYNAMIC_SHARED_LIMIT: u32 = 48 * 1024;

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
        // Build (or find) the module before taking the launch lock, so a
        // compile never holds up launches of other kernels.
        let loaded = self.batch_kernel(info, kernel)?;
        self.launch_loaded(kernel, &loaded, launch, args)
    }

    /// Runs the already loaded entry point of `kernel` (see [`Self::launch`]).
    pub(crate) fn launch_loaded(
        &self,
        kernel: &Kernel,
        loaded: &LoadedKernel,
        launch: &Launch,
        args: &mut [KernelArg<'_>],
    ) -> Result<()> {
        // A fault record of its own for this launch, from the device's pool:
        // two threads launching at once never wait on each other here.
        let fault = self.lease_fault_record()?;
        let mut pack = ArgPack::new(fault.device_ptr(), kernel, args)?;
        let mut params = pack.pointers();

        let name = &kernel.name;
        self.ctx
            .bind_to_thread()
            .map_err(|e| cuda_error(&format!("binding GPU context to launch `{name}`"), e))?;
        let stream = self.stream.cu_stream();
        // SAFETY: `fault` is a live allocation of at least
        // `size_of::<FaultRecord>()` bytes on this context; the memset is
        // ordered before the launch on the same stream.
        unsafe { result::memset_d8_async(fault.device_ptr(), 0, size_of::<FaultRecord>(), stream) }
            .map_err(|e| cuda_error(&format!("clearing the fault record of `{name}`"), e))?;
        if launch.shared_bytes > DEFAULT_DYNAMIC_SHARED_LIMIT {
            let bytes = i32::try_from(launch.shared_bytes).unwrap_or(i32::MAX);
            loaded
                .function
                .set_attribute(
                    CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    bytes,
                )
                .map_err(|e| Error::InvalidLaunch {
                    kernel: name.clone(),
                    message: format!(
                        "{} bytes of dynamic shared memory are more than this GPU allows ({})",
                        launch.shared_bytes,
                        super::driver::describe(e)
                    ),
                })?;
        }
        let (g, b) = (launch.grid, launch.block);
        // SAFETY: `params` holds one pointer per C parameter of the entry
        // point, in order, each pointing at a value of that parameter's size
        // and layout (checked against the IR by `ArgPack::new`) that lives in
        // `pack` until after the call; the driver copies them before
        // returning. Every device pointer among them refers to a live
        // allocation of this context that `args` keeps borrowed for the
        // whole launch, which ends (synchronise below) before we return.
        unsafe {
            result::launch_kernel(
                loaded.function.cu_function(),
                (g.x, g.y, g.z),
                (b.x, b.y, b.z),
                launch.shared_bytes,
                stream,
                &mut params,
            )
        }
        .map_err(|e| {
            cuda_error(
                &format!(
                    "launching kernel `{name}` ({}, grid {g:?}, block {b:?}, {} bytes of dynamic shared memory)",
                    loaded.symbol, launch.shared_bytes
                ),
                e,
            )
        })?;
        self.stream
            .synchronize()
            .map_err(|e| cuda_error(&format!("running kernel `{name}`"), e))?;
        drop(pack);

        let record = read_fault_record(&fault)?;
        if record.flag != 0 {
            return Err(fault_error(kernel, &record));
        }
        Ok(())
    }
}

/// A fault record leased from the device's pool; back to the pool on drop.
pub(super) struct FaultLease<'a> {
    pool: &'a std::sync::Mutex<Vec<DeviceMem>>,
    mem: Option<DeviceMem>,
}

impl std::ops::Deref for FaultLease<'_> {
    type Target = DeviceMem;
    fn deref(&self) -> &DeviceMem {
        self.mem
            .as_ref()
            .expect("a lease holds its record until dropped")
    }
}

impl Drop for FaultLease<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.mem.take() {
            self.pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(m);
        }
    }
}

impl CudaDevice {
    /// A fault record for one launch: a pooled one, or a new one when every
    /// pooled record is in use by another thread's launch.
    fn lease_fault_record(&self) -> Result<FaultLease<'_>> {
        let pooled = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mem = match pooled {
            Some(m) => m,
            None => super::memory::zeroed(&self.stream, size_of::<FaultRecord>())?,
        };
        Ok(FaultLease {
            pool: &self.faults,
            mem: Some(mem),
        })
    }
}

/// Reads the device's fault record (after the launch completed).
fn read_fault_record(fault: &DeviceMem) -> Result<FaultRecord> {
    let mut bytes = [0u8; size_of::<FaultRecord>()];
    fault.copy_to_host(&mut bytes)?;
    Ok(decode_fault_record(&bytes))
}

/// A [`FaultRecord`] from its bytes as the device wrote them.
fn decode_fault_record(b: &[u8; size_of::<FaultRecord>()]) -> FaultRecord {
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u64_at = |o: usize| u64::from_ne_bytes(std::array::from_fn(|i| b[o + i]));
    let triple = |o: usize| [u32_at(o), u32_at(o + 4), u32_at(o + 8)];
    FaultRecord {
        flag: u32_at(offset_of!(FaultRecord, flag)),
        kind: u32_at(offset_of!(FaultRecord, kind)),
        site: u32_at(offset_of!(FaultRecord, site)),
        _pad: 0,
        index: u64_at(offset_of!(FaultRecord, index)),
        len: u64_at(offset_of!(FaultRecord, len)),
        block: triple(offset_of!(FaultRecord, block)),
        thread: triple(offset_of!(FaultRecord, thread)),
    }
}

/// The launch's C arguments, each in its own 8-byte-aligned storage.
pub(super) struct ArgPack {
    pub(super) values: Vec<Vec<u64>>,
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
        let mut values = vec![words_of(&fault_ptr.to_ne_bytes())];
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
                    values.push(words_of(bytes));
                }
                (ParamKind::Slice { mutable: false, .. }, KernelArg::Slice { mem, len, .. }) => {
                    let (ptr, len) = slice_arg(mem, *len).ok_or_else(|| not_cuda(&p.name))?;
                    values.push(words_of(&ptr.to_ne_bytes()));
                    values.push(words_of(&len.to_ne_bytes()));
                }
                (ParamKind::Slice { mutable: true, .. }, KernelArg::SliceMut { mem, len, .. }) => {
                    let (ptr, len) = slice_arg(mem, *len).ok_or_else(|| not_cuda(&p.name))?;
                    values.push(words_of(&ptr.to_ne_bytes()));
                    values.push(words_of(&len.to_ne_bytes()));
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
        return Ok(ArgPack { values });

        fn not_cuda(param: &str) -> Error {
            Error::Buffer(format!(
                "parameter `{param}`: the buffer does not live on a CUDA device"
            ))
        }
    }

    /// One pointer per C argument, valid while `self` is neither moved
    /// from nor mutated (the storage is on the heap, so moving `self` is fine).
    fn pointers(&mut self) -> Vec<*mut c_void> {
        self.values
            .iter_mut()
            .map(|v| v.as_mut_ptr().cast::<c_void>())
            .collect()
    }
}

/// The device pointer and element count of a buffer argument.
fn slice_arg(mem: &Mem, len: usize) -> Option<(u64, u64)> {
    match mem {
        Mem::Cuda(m) => Some((m.device_ptr(), len as u64)),
        _ => None,
    }
}

/// `bytes` in 8-byte words (zero padded; at least one word).
fn words_of(bytes: &[u8]) -> Vec<u64> {
    let mut words: Vec<u64> = bytes
        .chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_ne_bytes(w)
        })
        .collect();
    if words.is_empty() {
        words.push(0);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_bytes_in_order() {
        let bytes: Vec<u8> = (1..=11).collect();
        let w = words_of(&bytes);
        assert_eq!(w.len(), 2);
        let mut back = Vec::new();
        for x in &w {
            back.extend_from_slice(&x.to_ne_bytes());
        }
        assert_eq!(&back[..11], &bytes[..]);
        assert_eq!(&back[11..], &[0, 0, 0, 0, 0]);
        assert_eq!(words_of(&[]), vec![0]);
    }

    #[test]
    fn fault_record_round_trips_through_bytes() {
        let rec = FaultRecord {
            flag: 1,
            kind: 1,
            site: 7,
            _pad: 0,
            index: 1 << 40,
            len: 12,
            block: [3, 4, 5],
            thread: [6, 7, 8],
        };
        let mut bytes = [0u8; size_of::<FaultRecord>()];
        let put32 = |b: &mut [u8], o: usize, v: u32| b[o..o + 4].copy_from_slice(&v.to_ne_bytes());
        put32(&mut bytes, 0, rec.flag);
        put32(&mut bytes, 4, rec.kind);
        put32(&mut bytes, 8, rec.site);
        bytes[16..24].copy_from_slice(&rec.index.to_ne_bytes());
        bytes[24..32].copy_from_slice(&rec.len.to_ne_bytes());
        for i in 0..3 {
            put32(&mut bytes, 32 + 4 * i, rec.block[i]);
            put32(&mut bytes, 44 + 4 * i, rec.thread[i]);
        }
        assert_eq!(decode_fault_record(&bytes), rec);
    }
}
