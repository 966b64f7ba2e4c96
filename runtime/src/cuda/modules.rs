//! The per-device cache of loaded kernels: emit → compile (or read the
//! CUBIN from `crate::jit`'s disk cache) → load, once per kernel and device.
//!
//! Read-mostly: a launch of a kernel that is already loaded takes a read
//! lock and one atomic load. Each kernel has its own build lock, so a
//! kernel's first launch waits for its own compile only, never for another
//! kernel's. A failed build is not cached: the next launch tries again and
//! reports the error again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use cudarc::driver::CudaFunction;
use cudarc::nvrtc::Ptx;
use spindle_codegen::ir::Kernel;

use super::compile::{self, compile_cubin};
use super::driver::cuda_error;
use super::nvrtc::nvrtc_version;
use super::CudaDevice;
use crate::jit::{CacheKey, DiskCache, KeyInputs, PORTABLE_NVRTC};
use crate::kernel::KernelInfo;
use crate::{Error, Result};

/// A kernel entry point loaded into a device's context (the function keeps
/// its module loaded).
pub(crate) struct LoadedKernel {
    pub(crate) function: CudaFunction,
    /// The entry symbol, for messages.
    pub(crate) symbol: String,
}

/// Loaded kernels of one device, by key (the address of the kernel's
/// `&'static KernelInfo` for batch kernels).
#[derive(Default)]
pub(crate) struct ModuleCache {
    slots: RwLock<HashMap<usize, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    ready: OnceLock<Arc<LoadedKernel>>,
    /// Held while this kernel builds, so concurrent first launches of the
    /// same kernel compile it once.
    building: Mutex<()>,
}

impl ModuleCache {
    /// The kernel cached under `key`, built with `build` on first use.
    pub(crate) fn get_or_build(
        &self,
        key: usize,
        build: impl FnOnce() -> Result<LoadedKernel>,
    ) -> Result<Arc<LoadedKernel>> {
        let slot = self.slot(key);
        if let Some(k) = slot.ready.get() {
            return Ok(k.clone());
        }
        let _building = slot.building.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(k) = slot.ready.get() {
            return Ok(k.clone());
        }
        let loaded = Arc::new(build()?);
        Ok(slot.ready.get_or_init(|| loaded).clone())
    }

    fn slot(&self, key: usize) -> Arc<Slot> {
        if let Some(s) = self
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return s.clone();
        }
        self.slots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone()
    }
}

impl CudaDevice {
    /// The loaded entry point of batch kernel `info`, emitting, compiling and
    /// loading it on its first launch on this device.
    pub(crate) fn batch_kernel(
        &self,
        info: &'static KernelInfo,
        kernel: &Kernel,
    ) -> Result<Arc<LoadedKernel>> {
        let key = info as *const KernelInfo as usize;
        self.modules.get_or_build(key, || {
            let source = module_source(kernel)?;
            self.load_kernel(&kernel.name, &source.code, &source.entry)
        })
    }

    /// Compiles `source` for this device (or takes the CUBIN from the disk
    /// cache) and loads entry point `symbol` from it. A cached CUBIN the
    /// driver refuses is skipped and the kernel recompiled.
    pub(crate) fn load_kernel(
        &self,
        kernel_name: &str,
        source: &str,
        symbol: &str,
    ) -> Result<LoadedKernel> {
        for cubin in cached_cubins(source, &self.arch) {
            match self.load_cubin(kernel_name, cubin, symbol) {
                Ok(k) => return Ok(k),
                Err(e) => tracing::warn!(
                    kernel = kernel_name,
                    error = %e,
                    "the disk cache's CUBIN did not load; trying the next source"
                ),
            }
        }
        let cubin = compile_and_store(kernel_name, source, &self.arch)?;
        self.load_cubin(kernel_name, cubin, symbol)
    }

    /// Loads a CUBIN into this device's context and finds `symbol` in it.
    pub(crate) fn load_cubin(
        &self,
        kernel_name: &str,
        cubin: Vec<u8>,
        symbol: &str,
    ) -> Result<LoadedKernel> {
        if symbol.contains('\0') {
            return Err(Error::Config(format!(
                "entry symbol {symbol:?} contains a NUL byte"
            )));
        }
        let module = self
            .ctx
            .load_module(Ptx::from_binary(cubin))
            .map_err(|e| self.load_error(kernel_name, e))?;
        let function = module.load_function(symbol).map_err(|e| {
            cuda_error(
                &format!("finding entry point `{symbol}` of kernel `{kernel_name}`"),
                e,
            )
        })?;
        Ok(LoadedKernel {
            function,
            symbol: symbol.to_string(),
        })
    }
}

impl CudaDevice {
    /// The error for a module the driver refused, naming the versions that
    /// met: code built by a newer toolchain than the driver, or for another
    /// GPU, fails here.
    fn load_error(&self, kernel_name: &str, e: cudarc::driver::DriverError) -> Error {
        use cudarc::driver::sys::CUresult;
        let mismatch = matches!(
            e.0,
            CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION
                | CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU
                | CUresult::CUDA_ERROR_INVALID_IMAGE
                | CUresult::CUDA_ERROR_INVALID_SOURCE
                | CUresult::CUDA_ERROR_JIT_COMPILER_NOT_FOUND
        );
        let err = cuda_error(&format!("loading the CUBIN of kernel `{kernel_name}`"), e);
        if !mismatch {
            return err;
        }
        let mut driver = 0;
        // SAFETY: cuDriverGetVersion writes one int through a valid pointer;
        // the driver is loaded (this device exists).
        let ok = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver) }
            == CUresult::CUDA_SUCCESS;
        let driver = if ok {
            format!("{}.{}", driver / 1000, (driver % 1000) / 10)
        } else {
            "unknown".into()
        };
        let nvrtc = nvrtc_version()
            .map(|(a, b)| format!("{a}.{b}"))
            .unwrap_or_else(|_| "none (precompiled)".into());
        match err {
            Error::Cuda { context, message } => Error::Cuda {
                context,
                message: format!(
                    "{message}; the driver supports CUDA {driver}, the code was compiled by NVRTC \
                     {nvrtc} for {arch}. Use an NVRTC no newer than the driver (set \
                     SPINDLE_NVRTC_DIR), or update the driver, and clear stale entries from \
                     the disk cache (SPINDLE_CACHE_DIR)",
                    arch = self.arch
                ),
            },
            other => other,
        }
    }
}

/// The CUDA C of a linked kernel, exactly as the runtime compiles it.
pub fn module_source(kernel: &Kernel) -> Result<spindle_codegen::cuda::CudaSource> {
    match kernel.mode {
        spindle_codegen::KernelMode::Batch => {
            Ok(spindle_codegen::cuda::emit(kernel, &Default::default()))
        }
        spindle_codegen::KernelMode::Ring => {
            let ring = spindle_codegen::ring::emit_ring(kernel, &Default::default()).map_err(
                |message| Error::Link {
                    kernel: kernel.name.clone(),
                    message,
                },
            )?;
            Ok(spindle_codegen::cuda::CudaSource {
                code: ring.code,
                entry: ring.entry,
            })
        }
    }
}

/// The CUBIN of kernel `info` for `arch` (e.g. `"sm_90"`), as a launch on
/// such a GPU would get it: from the disk cache (this NVRTC's entry, then a
/// precompiled one), else compiled with NVRTC and stored. Needs no GPU.
///
/// # Errors
///
/// Linking or compiling fails, or NVRTC is unavailable and no precompiled
/// CUBIN is in the cache.
pub fn cubin_for(info: &'static KernelInfo, arch: &str) -> Result<Vec<u8>> {
    let kernel = info.linked()?;
    let source = module_source(&kernel)?;
    match cached_cubins(&source.code, arch).into_iter().next() {
        Some(c) => Ok(c),
        None => compile_and_store(info.name, &source.code, arch),
    }
}

/// The CUBINs the disk cache holds for `source` on `arch`, in lookup order:
/// the entry compiled by this NVRTC, then a precompiled (portable) entry.
fn cached_cubins(source: &str, arch: &str) -> Vec<Vec<u8>> {
    let Some(cache) = disk_cache() else {
        return Vec::new();
    };
    let mut keys = Vec::with_capacity(2);
    if let Ok(version) = nvrtc_version() {
        keys.push(cache_key(source, arch, version));
    }
    keys.push(cache_key(source, arch, PORTABLE_NVRTC));
    keys.iter().filter_map(|k| cache.get(k)).collect()
}

/// Compiles with NVRTC and stores the CUBIN in the disk cache. Without
/// NVRTC, the error says how precompiled kernels avoid the need.
fn compile_and_store(kernel_name: &str, source: &str, arch: &str) -> Result<Vec<u8>> {
    let cache = disk_cache();
    let version = nvrtc_version().map_err(|e| match e {
        Error::NvrtcUnavailable(why) => Error::NvrtcUnavailable(format!(
            "kernel `{kernel_name}` needs compiling for {arch} and the disk cache ({dir}) holds \
             no precompiled CUBIN for it; {why}. Precompile with `spindle::precompile` on a \
             machine with NVRTC and point SPINDLE_CACHE_DIR at that folder.",
            dir = cache
                .map(|c| c.dir().display().to_string())
                .unwrap_or_else(|| "off".into()),
        )),
        other => other,
    })?;
    let cubin = compile_cubin(kernel_name, source, arch)?.cubin;
    if let Some(cache) = cache {
        if let Err(e) = cache.put(&cache_key(source, arch, version), &cubin) {
            tracing::warn!(kernel = kernel_name, error = %e, "could not store the CUBIN in the disk cache");
        }
    }
    Ok(cubin)
}

/// The process-wide disk cache (`SPINDLE_CACHE`, `SPINDLE_CACHE_DIR`), or
/// `None` when it is off.
pub(crate) fn disk_cache() -> Option<&'static DiskCache> {
    static CACHE: OnceLock<Option<DiskCache>> = OnceLock::new();
    CACHE.get_or_init(DiskCache::from_env).as_ref()
}

/// The disk cache key of `source` compiled for `arch` with [`compile::options`]
/// by NVRTC `nvrtc_version` ([`PORTABLE_NVRTC`] for precompiled entries).
pub(crate) fn cache_key(source: &str, arch: &str, nvrtc_version: (i32, i32)) -> CacheKey {
    let options = compile::options(arch);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    CacheKey::new(&KeyInputs {
        source,
        nvrtc_version,
        options: &options,
        arch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_is_retried_and_a_success_is_kept() {
        let cache = ModuleCache::default();
        let mut calls = 0;
        let r = cache.get_or_build(1, || {
            calls += 1;
            Err(Error::Config("first build fails".into()))
        });
        assert!(matches!(r, Err(Error::Config(_))));
        // No way to make a `CudaFunction` without a GPU: check the retry
        // reaches the builder again.
        let r = cache.get_or_build(1, || {
            calls += 1;
            Err(Error::Config("second build fails too".into()))
        });
        assert!(matches!(r, Err(Error::Config(m)) if m.contains("second")));
        assert_eq!(calls, 2);
        assert_eq!(cache.slots.read().unwrap().len(), 1);
    }
}
