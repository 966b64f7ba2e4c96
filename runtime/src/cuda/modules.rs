//! The per-GPU cache of loaded kernels: emit → compile (or read the CUBIN
//! from `crate::cache`'s disk cache) → load, once per kernel and GPU, and
//! what the driver says about each loaded function ([`LoadedKernel`]).
//!
//! Read-mostly: a launch of a kernel that is already loaded takes a read
//! lock and one atomic load. Each kernel has its own build lock, so a
//! kernel's first launch waits for its own compile only, never for another
//! kernel's, and no lock shared by kernels is held across a compile. A
//! failed build is not cached: the next launch tries again and reports the
//! error again. Modules are never unloaded (see `super::context`).

use std::collections::HashMap;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use cudarc::driver::result::{self, DriverError};
use cudarc::driver::sys::{self, CUfunction_attribute};
use spindle_codegen::ir::Kernel;

use super::compile::{self, compile_cubin};
use super::context::Gpu;
use super::driver::{cuda_error, describe};
use super::nvrtc::nvrtc_version;
use crate::cache::{CacheKey, DiskCache, KeyInputs, PORTABLE_NVRTC};
use crate::kernel::KernelInfo;
use crate::{Error, Result};

/// Dynamic shared memory a kernel may use without opting in.
pub(crate) const DEFAULT_DYNAMIC_SHARED_LIMIT: u32 = spindle_codegen::ir::MAX_SHARED_BYTES;

/// A kernel entry point loaded into a GPU's context (its module stays
/// loaded for the life of the process), with the attributes launches check.
pub(crate) struct LoadedKernel {
    function: FunctionHandle,
    /// The kernel's name, for messages.
    pub(crate) kernel_name: String,
    /// The entry symbol, for messages.
    pub(crate) symbol: String,
    /// Registers per thread (`CU_FUNC_ATTRIBUTE_NUM_REGS`).
    pub(crate) registers: u32,
    /// The largest block this function can be launched with on this GPU,
    /// given its registers and shared memory
    /// (`CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK`).
    pub(crate) max_threads: u32,
    /// Local memory (stack) per thread (`CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES`).
    pub(crate) local_bytes: usize,
    /// Static shared memory per block (`CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES`).
    pub(crate) static_shared: u32,
    /// The function's `MAX_DYNAMIC_SHARED_SIZE_BYTES` as last set: it only
    /// ever grows, so a launch that fits it never races another thread's
    /// smaller setting (see [`LoadedKernel::ensure_dynamic_shared`]).
    dynamic_shared_limit: AtomicU32,
    raising: Mutex<()>,
}

struct FunctionHandle(sys::CUfunction);
// SAFETY: a function handle of a module that is never unloaded; the driver
// accepts it from any thread with its context current.
unsafe impl Send for FunctionHandle {}
// SAFETY: as above; the handle is immutable.
unsafe impl Sync for FunctionHandle {}

impl LoadedKernel {
    /// The driver's handle.
    pub(crate) fn cu_function(&self) -> sys::CUfunction {
        self.function.0
    }

    /// Refuses a block this function cannot run with, saying why and what
    /// to change: more threads than its registers allow, or more shared
    /// memory than it is configured for. `ring`: the block size comes from
    /// `#[kernel(mode = "ring", threads = N)]`.
    pub(crate) fn check_block(&self, threads: u32, dynamic_shared: u32, ring: bool) -> Result<()> {
        if threads <= self.max_threads {
            return Ok(());
        }
        Err(Error::InvalidLaunch {
            kernel: self.kernel_name.clone(),
            message: self.resources_message(threads, dynamic_shared, ring),
        })
    }

    /// What is known about a launch that does not fit this function's
    /// resources, with the remedies.
    pub(crate) fn resources_message(
        &self,
        threads: u32,
        dynamic_shared: u32,
        ring: bool,
    ) -> String {
        let smaller = if ring {
            format!(
                "`threads = {}` or fewer in its `#[kernel(mode = \"ring\", ..)]`",
                self.max_threads
            )
        } else {
            format!(
                "blocks of at most {} threads (`Launch::new(grid, block)`)",
                self.max_threads
            )
        };
        let uses = format!(
            "it uses {regs} registers per thread, {local} bytes of local memory per thread and \
             {shared} bytes of shared memory per block ({static_shared} static, {dynamic_shared} \
             dynamic), which allows at most {max} threads per block",
            regs = self.registers,
            local = self.local_bytes,
            shared = u64::from(self.static_shared) + u64::from(dynamic_shared),
            static_shared = self.static_shared,
            max = self.max_threads,
        );
        let fewer_registers = "`#[kernel(.., bounds_checks = false)]` drops the bounds checks \
             that keep indices and their lengths live, and fewer values live across loops help";
        if threads > self.max_threads {
            format!(
                "a block of {threads} threads is more than this GPU can run for `{symbol}`: \
                 {uses}. Use {smaller}, or make the kernel use fewer registers: {fewer_registers}",
                symbol = self.symbol,
            )
        } else {
            // The block fits what the function's attributes allow: the
            // driver names two causes of OUT_OF_RESOURCES, too many
            // threads for the registers and too many arguments.
            format!(
                "a block of {threads} threads fits `{symbol}` ({uses}), so the GPU refused it \
                 for another limit: more by-value arguments than a launch may carry (32 KiB), \
                 or resources held by other work on the GPU. Pass large values in a buffer \
                 instead of by value, or launch again when the GPU is less busy",
                symbol = self.symbol,
            )
        }
    }

    /// Lets the function take `bytes` of dynamic shared memory. Above the
    /// 48 KiB every kernel gets, the function's
    /// `MAX_DYNAMIC_SHARED_SIZE_BYTES` must be at least `bytes`; it is only
    /// ever raised, under a lock, so two threads launching with different
    /// sizes never undo each other's setting between the set and the
    /// launch. One atomic load when it already fits.
    pub(crate) fn ensure_dynamic_shared(&self, gpu: &Gpu, bytes: u32) -> Result<()> {
        if bytes <= self.dynamic_shared_limit.load(Ordering::Acquire) {
            return Ok(());
        }
        let _raising = self.raising.lock().unwrap_or_else(PoisonError::into_inner);
        if bytes <= self.dynamic_shared_limit.load(Ordering::Acquire) {
            return Ok(());
        }
        let value = i32::try_from(bytes).unwrap_or(i32::MAX);
        gpu.bind()
            .and_then(|()| {
                // SAFETY: a loaded function of the current context.
                unsafe {
                    result::function::set_function_attribute(
                        self.function.0,
                        CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                        value,
                    )
                }
            })
            .map_err(|e| Error::InvalidLaunch {
                kernel: self.kernel_name.clone(),
                message: format!(
                    "{bytes} bytes of dynamic shared memory are more than this GPU allows for \
                     `{}` with its {} bytes of static shared memory ({})",
                    self.symbol,
                    self.static_shared,
                    describe(e)
                ),
            })?;
        self.dynamic_shared_limit.store(bytes, Ordering::Release);
        Ok(())
    }
}

/// What a module cache entry is keyed by.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum ModuleKey {
    /// A batch kernel: the address of its `&'static KernelInfo`.
    Batch(usize),
    /// A ring kernel: its generated source (ring kernels built from IR in
    /// tests have no `KernelInfo`).
    Ring(String),
}

/// Loaded kernels of one GPU, by [`ModuleKey`].
#[derive(Default)]
pub(crate) struct ModuleCache {
    slots: RwLock<HashMap<ModuleKey, Arc<Slot>>>,
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
        key: &ModuleKey,
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

    fn slot(&self, key: &ModuleKey) -> Arc<Slot> {
        if let Some(s) = self
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return s.clone();
        }
        self.slots
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// The most local memory per thread any loaded kernel needs.
    pub(crate) fn max_local_bytes(&self) -> usize {
        self.slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter_map(|s| s.ready.get().map(|k| k.local_bytes))
            .max()
            .unwrap_or(0)
    }
}

impl Gpu {
    /// The loaded entry point of batch kernel `info`, emitting, compiling and
    /// loading it on its first launch on this GPU.
    pub(crate) fn batch_kernel(
        &self,
        info: &'static KernelInfo,
        kernel: &Kernel,
    ) -> Result<Arc<LoadedKernel>> {
        let key = ModuleKey::Batch(info as *const KernelInfo as usize);
        self.modules.get_or_build(&key, || {
            let source = module_source(kernel)?;
            self.load_kernel(&kernel.name, &source.code, &source.entry)
        })
    }

    /// The loaded entry point of a ring kernel's generated source.
    pub(crate) fn ring_kernel(
        &self,
        name: &str,
        code: &str,
        entry: &str,
    ) -> Result<Arc<LoadedKernel>> {
        let key = ModuleKey::Ring(code.to_string());
        self.modules
            .get_or_build(&key, || self.load_kernel(name, code, entry))
    }

    /// Compiles `source` for this GPU (or takes the CUBIN from the disk
    /// cache) and loads entry point `symbol` from it. A cached CUBIN the
    /// driver refuses is skipped and the kernel recompiled.
    pub(crate) fn load_kernel(
        &self,
        kernel_name: &str,
        source: &str,
        symbol: &str,
    ) -> Result<LoadedKernel> {
        for cubin in cached_cubins(source, &self.arch) {
            match self.load_cubin(kernel_name, &cubin, symbol) {
                Ok(k) => return Ok(k),
                Err(e) => tracing::warn!(
                    kernel = kernel_name,
                    error = %e,
                    "the disk cache's CUBIN did not load; trying the next source"
                ),
            }
        }
        let cubin = compile_and_store(kernel_name, source, &self.arch)?;
        self.load_cubin(kernel_name, &cubin, symbol)
    }

    /// Loads a CUBIN into this GPU's context, finds `symbol` in it, loads
    /// the function now (`cuFuncLoad`: with lazy loading it would load at
    /// its first launch, possibly under a running actor) and reads the
    /// attributes launches check.
    pub(crate) fn load_cubin(
        &self,
        kernel_name: &str,
        cubin: &[u8],
        symbol: &str,
    ) -> Result<LoadedKernel> {
        let c_symbol = CString::new(symbol)
            .map_err(|_| Error::Config(format!("entry symbol {symbol:?} contains a NUL byte")))?;
        // Under the gate: no actor starts while this loads (see
        // `super::actors`).
        let _gate = self.actors.gate();
        let live = self.actors.live();
        if live > 0 && self.lazy_loading {
            return Err(Error::Unsupported(format!(
                "kernel `{kernel_name}` was not loaded before the first ring actor started on \
                 this GPU, and with CUDA_MODULE_LOADING=LAZY loading it may wait for every \
                 running kernel, so for the {live} running actor(s) that only their owners can \
                 stop. Launch it once before spawning actors, stop the actors first, or leave \
                 CUDA_MODULE_LOADING unset (spindle then loads kernels eagerly)"
            )));
        }
        self.bind().map_err(|e| self.load_error(kernel_name, e))?;
        // The driver parses the image during the call; it need not outlive it.
        // SAFETY: `cubin` is a complete image (a CUBIN from NVRTC or the disk
        // cache, which verified its checksum); the context is current. The
        // module is never unloaded.
        let module = unsafe { result::module::load_data(cubin.as_ptr().cast()) }
            .map_err(|e| self.load_error(kernel_name, e))?;
        // SAFETY: `module` was just loaded and is never unloaded.
        let function = unsafe { result::module::get_function(module, c_symbol) }.map_err(|e| {
            cuda_error(
                &format!("finding entry point `{symbol}` of kernel `{kernel_name}`"),
                e,
            )
        })?;
        force_load(function);
        let attribute = |a: CUfunction_attribute| {
            // SAFETY: a function of a loaded module of the current context.
            unsafe { result::function::get_function_attribute(function, a) }.map_err(|e| {
                cuda_error(
                    &format!("reading the attributes of kernel `{kernel_name}` ({symbol})"),
                    e,
                )
            })
        };
        let non_negative = |v: i32| u32::try_from(v).unwrap_or(0);
        Ok(LoadedKernel {
            function: FunctionHandle(function),
            kernel_name: kernel_name.to_string(),
            symbol: symbol.to_string(),
            registers: non_negative(attribute(CUfunction_attribute::CU_FUNC_ATTRIBUTE_NUM_REGS)?),
            max_threads: non_negative(attribute(
                CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
            )?),
            local_bytes: non_negative(attribute(
                CUfunction_attribute::CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES,
            )?) as usize,
            static_shared: non_negative(attribute(
                CUfunction_attribute::CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
            )?),
            dynamic_shared_limit: AtomicU32::new(DEFAULT_DYNAMIC_SHARED_LIMIT),
            raising: Mutex::new(()),
        })
    }
}

/// Loads `function` now where the driver supports it (CUDA ≥ 12.4), so a
/// lazily loading driver never loads it at a launch under a running actor.
fn force_load(function: sys::CUfunction) {
    // SAFETY: a valid function handle of a loaded module. cudarc panics if
    // the driver lacks the symbol; that only means lazy loading is not
    // there either.
    let loaded = catch_unwind(AssertUnwindSafe(|| unsafe { sys::cuFuncLoad(function) }));
    if !matches!(loaded, Ok(sys::CUresult::CUDA_SUCCESS)) {
        tracing::debug!(
            ?loaded,
            "cuFuncLoad unavailable or failed; relying on eager loading"
        );
    }
}

impl Gpu {
    /// The error for a module the driver refused, naming the versions that
    /// met: code built by a newer toolchain than the driver, or for another
    /// GPU, fails here.
    fn load_error(&self, kernel_name: &str, e: DriverError) -> Error {
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
            Error::Cuda {
                context,
                code,
                message,
                source,
            } => Error::Cuda {
                context,
                code,
                source,
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
        Error::NvrtcUnavailable { why, message } => Error::NvrtcUnavailable {
            why,
            message: format!(
            "kernel `{kernel_name}` needs compiling for {arch} and the disk cache ({dir}) holds \
             no precompiled CUBIN for it; {message}. Precompile with `spindle::precompile` on a \
             machine with NVRTC and point SPINDLE_CACHE_DIR at that folder.",
            dir = cache
                .map(|c| c.dir().display().to_string())
                .unwrap_or_else(|| "off".into()),
            ),
        },
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
impl LoadedKernel {
    /// A kernel with these attributes and no driver handle, for tests of
    /// the checks (never launched).
    pub(crate) fn fake_for_tests(registers: u32, max_threads: u32, local_bytes: usize) -> Self {
        LoadedKernel {
            function: FunctionHandle(std::ptr::null_mut()),
            kernel_name: "fake".into(),
            symbol: "spindle_fake".into(),
            registers,
            max_threads,
            local_bytes,
            static_shared: 1024,
            dynamic_shared_limit: AtomicU32::new(DEFAULT_DYNAMIC_SHARED_LIMIT),
            raising: Mutex::new(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_is_retried_and_a_success_is_kept() {
        let cache = ModuleCache::default();
        let key = ModuleKey::Batch(1);
        let mut calls = 0;
        let r = cache.get_or_build(&key, || {
            calls += 1;
            Err(Error::Config("first build fails".into()))
        });
        assert!(matches!(r, Err(Error::Config(_))));
        let r = cache.get_or_build(&key, || {
            calls += 1;
            Err(Error::Config("second build fails too".into()))
        });
        assert!(matches!(r, Err(Error::Config(m)) if m.contains("second")));
        let built = cache
            .get_or_build(&key, || {
                calls += 1;
                Ok(LoadedKernel::fake_for_tests(32, 1024, 48))
            })
            .unwrap();
        let again = cache
            .get_or_build(&key, || {
                calls += 1;
                Ok(LoadedKernel::fake_for_tests(1, 1, 1))
            })
            .unwrap();
        assert!(Arc::ptr_eq(&built, &again));
        assert_eq!(calls, 3);
        assert_eq!(cache.slots.read().unwrap().len(), 1);
        let ring = ModuleKey::Ring("__global__ void k() {}".into());
        cache
            .get_or_build(&ring, || Ok(LoadedKernel::fake_for_tests(8, 1024, 4096)))
            .unwrap();
        assert_eq!(cache.max_local_bytes(), 4096);
    }

    #[test]
    fn a_block_too_big_for_the_registers_says_what_to_change() {
        let k = LoadedKernel::fake_for_tests(156, 384, 0);
        assert!(k.check_block(384, 0, false).is_ok());
        let Err(Error::InvalidLaunch { kernel, message }) = k.check_block(1024, 0, false) else {
            panic!("a 1024-thread block must be refused");
        };
        assert_eq!(kernel, "fake");
        for part in [
            "block of 1024 threads",
            "156 registers per thread",
            "at most 384 threads per block",
            "bounds_checks = false",
            "Launch::new",
        ] {
            assert!(message.contains(part), "{part:?} missing from: {message}");
        }
        let Err(Error::InvalidLaunch { message, .. }) = k.check_block(512, 0, true) else {
            panic!("a 512-thread ring block must be refused");
        };
        assert!(message.contains("`threads = 384`"), "{message}");
        // Refused by the driver although the block fits the registers: the
        // message must not claim it does not.
        let message = k.resources_message(256, 0, false);
        assert!(message.contains("a block of 256 threads fits"), "{message}");
        assert!(!message.contains("more than this GPU can run"), "{message}");
        assert!(message.contains("by-value arguments"), "{message}");
    }
}
