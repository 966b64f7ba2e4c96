//! Modules and functions: the NVRTC stand-in's images, whose host build
//! the driver loads (one copy per concurrently running block, see
//! `Module::instance`), and their entry points.
//!
//! Modelled rules (Module Management and Execution Control references,
//! the Programming Guide's "Lazy Loading"):
//! - an image whose code is for another architecture than the device's
//!   (`sm_90`, or `sm_90a`) is refused with `CUDA_ERROR_NO_BINARY_FOR_GPU`
//!   (a CUBIN runs only on its own major version, and not on an older
//!   minor one); so is a CUBIN without the stand-in's host build, which it
//!   cannot run;
//! - `cuModuleGetFunction` of a name the module lacks:
//!   `CUDA_ERROR_NOT_FOUND`;
//! - with `CUDA_MODULE_LOADING=LAZY` (the default since CUDA 12.2) a
//!   function's code loads at its first launch or `cuFuncLoad`, and
//!   "loading kernels might require context synchronization": the stand-in
//!   waits for the context's work then (so it fails behind a running
//!   persistent kernel); with `EAGER` it loads with the module;
//! - `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES` starts at 48 KiB
//!   less the static shared memory and may be raised to 227 KiB less it;
//!   registers, stack and static shared memory come from ptxas's report.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::CUresult;
use libloading::os::unix::Library;

use super::context::{current, Context};
use super::device::{SHARED_PER_BLOCK, SHARED_PER_BLOCK_OPTIN};
use super::kernel::EmuLaunch;
use super::{driver, lock, put, run};
use crate::image::{self, HostPart};
use crate::resources::EntryResources;

pub(crate) type Thunk = unsafe extern "C" fn(*mut *mut c_void);
type RunSerial = unsafe extern "C" fn(*const EmuLaunch, u32);
type BlockBegin = unsafe extern "C" fn(*const EmuLaunch) -> *mut c_void;
type BlockThread = unsafe extern "C" fn(*mut c_void, *const EmuLaunch, u32, u32);
type BlockEnd = unsafe extern "C" fn(*mut c_void);
type RunFibers = unsafe extern "C" fn(*const EmuLaunch, u32, u32) -> c_int;
type Params = unsafe extern "C" fn(*mut *const u32, *mut *const u32) -> u32;
type SetPacer = unsafe extern "C" fn(extern "C" fn(c_uint));

/// One loaded copy of a module's host library, with its entry points.
pub(crate) struct Instance {
    _lib: Library,
    pub(crate) run_serial: RunSerial,
    pub(crate) block_begin: BlockBegin,
    pub(crate) block_thread: BlockThread,
    pub(crate) block_end: BlockEnd,
    pub(crate) run_fibers: RunFibers,
    thunks: HashMap<String, Thunk>,
}

impl Instance {
    /// Loads a fresh copy of `library` (a private file per copy: the loader
    /// would share one file's statics).
    fn load(library: &[u8], entries: &[EntryResources]) -> Result<Instance, String> {
        use std::sync::atomic::AtomicU64;
        static COPY: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "spindle-cuda-emu-{}-{}.so",
            std::process::id(),
            COPY.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, library).map_err(|e| format!("writing {}: {e}", path.display()))?;
        // SAFETY: the host build of a program (spindle's host shims and the
        // program): its initialisers only set up statics; RTLD_LOCAL keeps
        // its symbols from every other copy.
        let lib = unsafe { Library::open(Some(&path), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        let _ = std::fs::remove_file(&path);
        let lib = lib.map_err(|e| format!("loading the host build: {e}"))?;
        fn sym<T: Copy>(lib: &Library, name: &str) -> Result<T, String> {
            let c = format!("{name}\0");
            // SAFETY: `T` is the symbol's C signature as
            // cuda-emu/include/spindle_emu_device.h defines it; the library
            // lives as long as the pointer (both in the instance).
            unsafe { lib.get::<T>(c.as_bytes()) }
                .map(|s| *s)
                .map_err(|e| format!("the host build lacks {name}: {e}"))
        }
        let set_pacer: SetPacer = sym(&lib, "spindle_emu_set_pacer")?;
        // SAFETY: stores the function pointer, which is 'static.
        unsafe { set_pacer(super::kernel::pace) };
        let mut thunks = HashMap::new();
        for e in entries {
            thunks.insert(
                e.name.clone(),
                sym::<Thunk>(&lib, &format!("spindle_emu_thunk_{}", e.name))?,
            );
        }
        Ok(Instance {
            run_serial: sym(&lib, "spindle_emu_run_block_serial")?,
            block_begin: sym(&lib, "spindle_emu_block_begin")?,
            block_thread: sym(&lib, "spindle_emu_block_thread")?,
            block_end: sym(&lib, "spindle_emu_block_end")?,
            run_fibers: sym(&lib, "spindle_emu_run_block_fibers")?,
            thunks,
            _lib: lib,
        })
    }

    /// The thunk of entry `name`.
    pub(crate) fn thunk(&self, name: &str) -> Option<Thunk> {
        self.thunks.get(name).copied()
    }

    /// `(size, alignment)` of each C parameter of entry `name`.
    fn params(&self, name: &str) -> Result<Vec<(u32, u32)>, String> {
        let f: Params = {
            let c = format!("spindle_emu_params_{name}\0");
            // SAFETY: as in `load`.
            unsafe { self._lib.get::<Params>(c.as_bytes()) }
                .map(|s| *s)
                .map_err(|e| format!("the host build lacks the parameter list of {name}: {e}"))?
        };
        let (mut sizes, mut aligns) = (std::ptr::null(), std::ptr::null());
        // SAFETY: the function writes two pointers to static arrays of
        // (at least) the returned count.
        let n = unsafe { f(&mut sizes, &mut aligns) } as usize;
        // SAFETY: as above.
        let (sizes, aligns) = unsafe {
            (
                std::slice::from_raw_parts(sizes, n),
                std::slice::from_raw_parts(aligns, n),
            )
        };
        Ok(sizes.iter().copied().zip(aligns.iter().copied()).collect())
    }
}

/// A loaded module.
pub struct Module {
    pub handle: u64,
    pub ctx: Arc<Context>,
    pub generation: u64,
    pub(crate) host: HostPart,
    library: Vec<u8>,
    free: Mutex<Vec<Arc<Instance>>>,
    functions: Mutex<HashMap<String, Arc<Function>>>,
    /// Launches of this module's kernels running now.
    pub(crate) running: AtomicUsize,
}

impl Module {
    /// A loaded copy no running block uses: a spare one, or a new one.
    pub(crate) fn instance(&self) -> Result<Arc<Instance>, CUresult> {
        if let Some(i) = lock(&self.free).pop() {
            return Ok(i);
        }
        Instance::load(&self.library, &self.host.entries)
            .map(Arc::new)
            .map_err(|why| {
                crate::log::warn(format!("{}: {why}", self.host.program));
                CUresult::CUDA_ERROR_LAUNCH_FAILED
            })
    }

    /// Gives a copy back once its block (or launch) has finished.
    pub(crate) fn put_back(&self, i: Arc<Instance>) {
        lock(&self.free).push(i);
    }
}

/// A kernel entry point.
pub struct Function {
    pub handle: u64,
    pub module: Arc<Module>,
    pub name: String,
    /// ptxas's report.
    pub resources: EntryResources,
    /// `(size, alignment)` of each C parameter.
    pub params: Vec<(u32, u32)>,
    /// `CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES`.
    pub max_dynamic_shared: AtomicU32,
    /// Its code is loaded (lazy loading).
    pub loaded: AtomicBool,
}

impl Function {
    /// Loads the function's code now if lazy loading left it unloaded:
    /// waits for the context's work first (bounded).
    pub fn ensure_loaded(&self, call: &str) -> Result<(), CUresult> {
        if self.loaded.load(Ordering::Acquire) {
            return Ok(());
        }
        self.module.ctx.synchronize(&format!(
            "{call} (loading `{}` under CUDA_MODULE_LOADING=LAZY, which may synchronise the context)",
            self.name
        ))?;
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }
}

/// The function `handle` names, in the calling thread's current context.
pub(crate) fn function(handle: *mut c_void) -> Result<Arc<Function>, CUresult> {
    let ctx = current()?;
    let f = driver()?.functions.get(handle as u64)?;
    if !Arc::ptr_eq(&f.module.ctx, &ctx) || f.module.generation != ctx.generation() {
        return Err(CUresult::CUDA_ERROR_INVALID_HANDLE);
    }
    Ok(f)
}

fn load(out: *mut *mut c_void, image: *const c_void) -> Result<(), CUresult> {
    let ctx = current()?;
    if image.is_null() {
        return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
    }
    // SAFETY: cuModuleLoadData's contract: `image` is a complete image.
    let host = match unsafe { image::find(image.cast()) } {
        Ok(Some(h)) => h,
        Ok(None) => {
            crate::log::warn(
                "cuModuleLoadData: this CUBIN has no host build (it did not come from the NVRTC \
                 stand-in, e.g. a cache entry a real NVRTC wrote); the stand-in cannot run it",
            );
            return Err(CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU);
        }
        Err(why) => {
            crate::log::warn(format!("cuModuleLoadData: {why}"));
            return Err(CUresult::CUDA_ERROR_INVALID_IMAGE);
        }
    };
    if let Ok(now) = crate::nvrtc::host_build::shims_version() {
        if host.shims != now {
            crate::log::warn(format!(
                "cuModuleLoadData: {} was built against another version of the stand-in's device \
                 side (the host shims changed); refusing the stale image (spindle recompiles it)",
                host.program
            ));
            return Err(CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU);
        }
    }
    if host.arch != 90 {
        crate::log::warn(format!(
            "cuModuleLoadData: {} was compiled for sm_{}; the device is sm_90",
            host.program, host.arch
        ));
        return Err(CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU);
    }
    let library = match &host.library {
        Ok(lib) => lib.clone(),
        Err(log) => {
            crate::log::warn(format!(
                "cuModuleLoadData: {} could not be built as host code, so the stand-in cannot run it:\n{log}",
                host.program
            ));
            return Err(CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU);
        }
    };
    let first = Instance::load(&library, &host.entries).map_err(|why| {
        crate::log::warn(format!("cuModuleLoadData: {}: {why}", host.program));
        CUresult::CUDA_ERROR_INVALID_IMAGE
    })?;
    let generation = ctx.generation();
    let m = driver()?.modules.insert(|handle| Module {
        handle,
        ctx: ctx.clone(),
        generation,
        host,
        library,
        free: Mutex::new(vec![Arc::new(first)]),
        functions: Mutex::new(HashMap::new()),
        running: AtomicUsize::new(0),
    });
    crate::log::debug(|| format!("loaded module {} as {:#x}", m.host.program, m.handle));
    // SAFETY: caller contract.
    unsafe { put(out, m.handle as *mut c_void) }
}

#[no_mangle]
pub unsafe extern "C" fn cuModuleLoadData(out: *mut *mut c_void, image: *const c_void) -> CUresult {
    run("cuModuleLoadData", || load(out, image))
}

#[no_mangle]
pub unsafe extern "C" fn cuModuleLoadDataEx(
    out: *mut *mut c_void,
    image: *const c_void,
    _num_options: c_uint,
    _options: *mut c_int,
    _values: *mut *mut c_void,
) -> CUresult {
    run("cuModuleLoadDataEx", || load(out, image))
}

#[no_mangle]
pub extern "C" fn cuModuleUnload(module: *mut c_void) -> CUresult {
    run("cuModuleUnload", || {
        super::context::current_even_if_failed()?;
        let d = driver()?;
        let m = d.modules.remove(module as u64)?;
        d.functions.remove_where(|f| Arc::ptr_eq(&f.module, &m));
        let running = m.running.load(Ordering::Acquire);
        if running > 0 {
            crate::log::warn(format!(
                "cuModuleUnload: {} is unloaded while {running} of its kernels run; the stand-in keeps \
                 its code until they end",
                m.host.program
            ));
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuModuleGetFunction(
    out: *mut *mut c_void,
    module: *mut c_void,
    name: *const c_char,
) -> CUresult {
    run("cuModuleGetFunction", || {
        current()?;
        if name.is_null() {
            return Err(CUresult::CUDA_ERROR_INVALID_VALUE);
        }
        let d = driver()?;
        let m = d.modules.get(module as u64)?;
        // SAFETY: caller contract: a NUL-terminated name.
        let name = unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned();
        if let Some(f) = lock(&m.functions).get(&name) {
            // SAFETY: caller contract.
            return unsafe { put(out, f.handle as *mut c_void) };
        }
        let resources = m
            .host
            .entries
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .ok_or(CUresult::CUDA_ERROR_NOT_FOUND)?;
        let inst = m.instance()?;
        let params = inst.params(&name);
        m.put_back(inst);
        let params = params.map_err(|why| {
            crate::log::warn(format!("cuModuleGetFunction: {why}"));
            CUresult::CUDA_ERROR_NOT_FOUND
        })?;
        let eager = !crate::config::get().lazy_loading;
        let static_shared = resources.shared_bytes;
        let f = d.functions.insert(|handle| Function {
            handle,
            module: m.clone(),
            name: name.clone(),
            resources,
            params,
            max_dynamic_shared: AtomicU32::new(SHARED_PER_BLOCK.saturating_sub(static_shared)),
            loaded: AtomicBool::new(eager),
        });
        lock(&m.functions).insert(name, f.clone());
        // SAFETY: caller contract.
        unsafe { put(out, f.handle as *mut c_void) }
    })
}

/// `CUfunction_attribute` numbers.
const ATTR_MAX_THREADS_PER_BLOCK: c_uint = 0;
const ATTR_SHARED_SIZE_BYTES: c_uint = 1;
const ATTR_CONST_SIZE_BYTES: c_uint = 2;
const ATTR_LOCAL_SIZE_BYTES: c_uint = 3;
const ATTR_NUM_REGS: c_uint = 4;
const ATTR_PTX_VERSION: c_uint = 5;
const ATTR_BINARY_VERSION: c_uint = 6;
const ATTR_CACHE_MODE_CA: c_uint = 7;
const ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES: c_uint = 8;
const ATTR_PREFERRED_SHARED_MEMORY_CARVEOUT: c_uint = 9;

#[no_mangle]
pub unsafe extern "C" fn cuFuncGetAttribute(
    value: *mut c_int,
    attrib: c_uint,
    func: *mut c_void,
) -> CUresult {
    run("cuFuncGetAttribute", || {
        let f = function(func)?;
        let r = &f.resources;
        let v = match attrib {
            ATTR_MAX_THREADS_PER_BLOCK => r.max_threads_per_block() as c_int,
            ATTR_SHARED_SIZE_BYTES => r.shared_bytes as c_int,
            ATTR_CONST_SIZE_BYTES => 0,
            ATTR_LOCAL_SIZE_BYTES => r.stack_bytes as c_int,
            ATTR_NUM_REGS => r.registers as c_int,
            ATTR_PTX_VERSION | ATTR_BINARY_VERSION => f.module.host.arch as c_int,
            ATTR_CACHE_MODE_CA => 0,
            ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES => {
                f.max_dynamic_shared.load(Ordering::Acquire) as c_int
            }
            ATTR_PREFERRED_SHARED_MEMORY_CARVEOUT => -1,
            10..=15 => 0,
            _ => return Err(CUresult::CUDA_ERROR_INVALID_VALUE),
        };
        // SAFETY: caller contract.
        unsafe { put(value, v) }
    })
}

#[no_mangle]
pub extern "C" fn cuFuncSetAttribute(func: *mut c_void, attrib: c_uint, value: c_int) -> CUresult {
    run("cuFuncSetAttribute", || {
        let f = function(func)?;
        match attrib {
            ATTR_MAX_DYNAMIC_SHARED_SIZE_BYTES => {
                let limit = SHARED_PER_BLOCK_OPTIN.saturating_sub(f.resources.shared_bytes);
                match u32::try_from(value) {
                    Ok(v) if v <= limit => {
                        f.max_dynamic_shared.store(v, Ordering::Release);
                        Ok(())
                    }
                    _ => Err(CUresult::CUDA_ERROR_INVALID_VALUE),
                }
            }
            ATTR_PREFERRED_SHARED_MEMORY_CARVEOUT if (-1..=100).contains(&value) => Ok(()),
            _ => Err(CUresult::CUDA_ERROR_INVALID_VALUE),
        }
    })
}

#[no_mangle]
pub extern "C" fn cuFuncSetCacheConfig(func: *mut c_void, _config: c_uint) -> CUresult {
    run("cuFuncSetCacheConfig", || function(func).map(drop))
}

#[no_mangle]
pub extern "C" fn cuFuncLoad(func: *mut c_void) -> CUresult {
    run("cuFuncLoad", || function(func)?.ensure_loaded("cuFuncLoad"))
}

#[no_mangle]
pub unsafe extern "C" fn cuFuncIsLoaded(state: *mut c_uint, func: *mut c_void) -> CUresult {
    run("cuFuncIsLoaded", || {
        let f = function(func)?;
        // CU_FUNCTION_LOADING_STATE_UNLOADED = 0, _LOADED = 1.
        // SAFETY: caller contract.
        unsafe { put(state, c_uint::from(f.loaded.load(Ordering::Acquire))) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn cuModuleGetLoadingMode(mode: *mut c_uint) -> CUresult {
    run("cuModuleGetLoadingMode", || {
        driver()?;
        // CU_MODULE_EAGER_LOADING = 1, CU_MODULE_LAZY_LOADING = 2.
        let m = if crate::config::get().lazy_loading {
            2
        } else {
            1
        };
        // SAFETY: caller contract.
        unsafe { put(mode, m) }
    })
}
