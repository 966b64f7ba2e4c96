//! The driver stand-in: the `cu*` entry points cudarc 0.19 resolves (by
//! these exact names, e.g. `cuMemAlloc_v2`), over a model of one emulated
//! H100-like device. `cuda-emu/README.md` lists each modelled rule with its
//! source in NVIDIA's documentation.
//!
//! - [`device`]: `cuInit`, the device and its attributes;
//! - [`context`]: primary contexts, the calling thread's current context,
//!   limits, `cuCtxSynchronize`, sticky errors;
//! - [`memory`] / [`memory_api`]: allocations (device and pinned host) in a
//!   table, copies and memsets;
//! - [`stream`] / [`stream_api`]: streams as in-order worker threads, the
//!   legacy default stream's implicit synchronisation, events, and every
//!   wait bounded (a wait for a persistent kernel fails instead of hanging);
//! - [`module`]: modules (the NVRTC stand-in's images), functions and
//!   their attributes; [`kernel`]: launches, run on a pool of OS threads;
//!   [`graph`]: CUDA graphs of kernel nodes.
//!
//! Every entry point takes the C types of `cuda.h`; its contract is the
//! CUDA Driver API reference.
#![allow(clippy::missing_safety_doc)]

pub mod context;
pub mod device;
mod errors;
pub mod graph;
pub mod kernel;
pub mod memory;
pub mod memory_api;
pub mod module;
pub(crate) mod pool;
pub mod stream;
pub mod stream_api;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use cudarc::driver::sys::CUresult;

pub(crate) use errors::name as error_name;

/// Locks `m`, taking over a lock whose holder panicked (the state the
/// stand-in keeps stays consistent at every unlock).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs an entry point's body: `CUDA_SUCCESS` or its error.
pub(crate) fn run(name: &str, body: impl FnOnce() -> Result<(), CUresult>) -> CUresult {
    match crate::ffi::guard(name, CUresult::CUDA_ERROR_UNKNOWN, body) {
        Ok(()) => CUresult::CUDA_SUCCESS,
        Err(e) => e,
    }
}

/// Writes `value` through the caller's `out` pointer.
///
/// # Safety
///
/// `out` is null or valid for writing one `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) -> Result<(), CUresult> {
    // SAFETY: forwarded caller contract.
    unsafe { crate::ffi::put(out, value, CUresult::CUDA_ERROR_INVALID_VALUE) }
}

/// The kinds of handle the driver hands out; the kind is in the handle's
/// high bits, so a handle of the wrong kind is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Stream = 0x57,
    Event = 0xe7,
    Module = 0x3d,
    Function = 0xf7,
    Graph = 0x69,
    GraphExec = 0x6e,
    GraphNode = 0x4e,
}

/// A new handle of `kind`.
pub(crate) fn new_handle(kind: Kind) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    ((kind as u64) << 40) | NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Live objects of one kind, by handle.
pub(crate) struct Table<T> {
    kind: Kind,
    map: Mutex<HashMap<u64, Arc<T>>>,
}

impl<T> Table<T> {
    fn new(kind: Kind) -> Table<T> {
        Table {
            kind,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Registers `make(handle)` under a new handle.
    pub(crate) fn insert(&self, make: impl FnOnce(u64) -> T) -> Arc<T> {
        let handle = new_handle(self.kind);
        let obj = Arc::new(make(handle));
        lock(&self.map).insert(handle, obj.clone());
        obj
    }

    /// The object behind `handle`, or `CUDA_ERROR_INVALID_HANDLE`.
    pub(crate) fn get(&self, handle: u64) -> Result<Arc<T>, CUresult> {
        lock(&self.map)
            .get(&handle)
            .cloned()
            .ok_or(CUresult::CUDA_ERROR_INVALID_HANDLE)
    }

    /// Removes `handle`'s object.
    pub(crate) fn remove(&self, handle: u64) -> Result<Arc<T>, CUresult> {
        lock(&self.map)
            .remove(&handle)
            .ok_or(CUresult::CUDA_ERROR_INVALID_HANDLE)
    }

    /// Removes every object for which `pred` holds.
    pub(crate) fn remove_where(&self, pred: impl Fn(&T) -> bool) -> Vec<Arc<T>> {
        let mut map = lock(&self.map);
        let gone: Vec<u64> = map
            .iter()
            .filter(|(_, o)| pred(o))
            .map(|(h, _)| *h)
            .collect();
        gone.into_iter().filter_map(|h| map.remove(&h)).collect()
    }
}

/// The driver's state after `cuInit`.
pub(crate) struct Driver {
    pub(crate) streams: Table<stream::Stream>,
    pub(crate) events: Table<stream::Event>,
    pub(crate) modules: Table<module::Module>,
    pub(crate) functions: Table<module::Function>,
    pub(crate) graphs: Table<graph::Graph>,
    pub(crate) execs: Table<graph::Exec>,
    pub(crate) memory: memory::Memory,
    pub(crate) slots: kernel::GridSlots,
    /// `cuLaunchKernel` calls so far (fault injection counts them).
    pub(crate) launches: AtomicU64,
}

static DRIVER: OnceLock<Driver> = OnceLock::new();
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// The driver, or `CUDA_ERROR_NOT_INITIALIZED` before `cuInit`.
pub(crate) fn driver() -> Result<&'static Driver, CUresult> {
    if !INITIALIZED.load(Ordering::Acquire) {
        return Err(CUresult::CUDA_ERROR_NOT_INITIALIZED);
    }
    DRIVER.get().ok_or(CUresult::CUDA_ERROR_NOT_INITIALIZED)
}

/// Initialises the driver (`cuInit`).
pub(crate) fn init() -> &'static Driver {
    let config = crate::config::get();
    let d = DRIVER.get_or_init(|| {
        crate::log::debug(|| format!("cuInit: {config:?}"));
        Driver {
            streams: Table::new(Kind::Stream),
            events: Table::new(Kind::Event),
            modules: Table::new(Kind::Module),
            functions: Table::new(Kind::Function),
            graphs: Table::new(Kind::Graph),
            execs: Table::new(Kind::GraphExec),
            memory: memory::Memory::new(),
            slots: kernel::GridSlots::new(),
            launches: AtomicU64::new(0),
        }
    });
    INITIALIZED.store(true, Ordering::Release);
    d
}
