//! Probing the CUDA driver and opening one GPU, without ever panicking.
//!
//! With no `libcuda.so` present, every cudarc driver call panics, so the
//! probe asks `is_culib_present` first; and because cudarc also panics on a
//! symbol an old driver lacks, the opening sequence runs under
//! `catch_unwind` and reports such a panic as [`Error::CudaUnavailable`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cudarc::driver::result::DriverError;
use cudarc::driver::sys::CUresult;
use cudarc::driver::{result, sys, CudaContext};

use crate::{Error, Result, Unavailable};

/// What [`super::context::Gpu`] is made of.
pub(super) struct Opened {
    pub ctx: Arc<CudaContext>,
    pub name: String,
    /// `sm_XY`.
    pub arch: String,
    /// Stream-ordered allocation (memory pools) is supported.
    pub async_alloc: bool,
    /// The context's per-thread stack (`CU_LIMIT_STACK_SIZE`) now.
    pub stack_bytes: usize,
    /// Kernels load lazily (at first launch or `cuFuncLoad`).
    pub lazy_loading: bool,
}

/// Opens GPU `ordinal`: its primary context (left current on the calling
/// thread), its name and architecture.
pub(super) fn open(ordinal: usize) -> Result<Opened> {
    // SAFETY: `is_culib_present` only tries to dlopen the driver library by
    // its usual names and closes it again; it has no preconditions.
    if !unsafe { sys::is_culib_present() } {
        return Err(Error::CudaUnavailable {
            why: Unavailable::NoDriver,
            message: "no CUDA driver (libcuda.so) found: install the NVIDIA driver to use a \
                      GPU, or set SPINDLE_BACKEND=cpu"
                .into(),
            source: None,
        });
    }
    match catch_unwind(AssertUnwindSafe(|| open_present(ordinal))) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(Error::CudaUnavailable {
                why: Unavailable::DriverTooOld,
                message: format!(
                    "the CUDA driver could not be used ({what}); it may be older than CUDA 13.0"
                ),
                source: None,
            })
        }
    }
}

/// Asks the driver to load modules eagerly, unless the user chose
/// otherwise. With lazy loading (the default since CUDA 12.2) a kernel's
/// code loads at its first launch or `cuFuncLoad`, and "loading kernels
/// might require context synchronization" (CUDA C++ Programming Guide,
/// "Lazy Loading"): behind a running persistent (ring) kernel, that waits
/// until the actor stops. spindle loads every registered kernel before the
/// first actor starts either way; eager loading keeps a later load (a
/// kernel the registry does not list) from synchronising. The driver reads
/// the variable at `cuInit`, so this runs once, before the first `cuInit`:
/// before a GPU is opened and before libnvrtc is loaded (NVRTC 13 calls
/// `cuInit` itself when a driver is present, as a counting `libcuda`
/// wrapper shows).
///
/// Setting an environment variable while other threads run races with
/// their reads of the environment (C `getenv` is not synchronised with
/// Rust's `set_var`). A program that opens a GPU while other threads may
/// read the environment from C code (NVRTC compiles, other libraries)
/// should set `CUDA_MODULE_LOADING` itself, before it starts threads or in
/// the shell; spindle then leaves it alone. With `LAZY` chosen, a kernel
/// not loaded before the first actor is refused while actors run (see
/// `super::actors`).
pub(super) fn eager_module_loading() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("CUDA_MODULE_LOADING").is_none() {
            std::env::set_var("CUDA_MODULE_LOADING", "EAGER");
        }
    });
}

/// Whether the driver loads kernels lazily (`cuModuleGetLoadingMode`;
/// drivers too old to say have no lazy loading).
fn loads_lazily() -> bool {
    let mut mode = sys::CUmoduleLoadingMode::CU_MODULE_EAGER_LOADING;
    // SAFETY: writes one enum value through a valid pointer after cuInit.
    // cudarc panics when the driver lacks the symbol: no lazy loading then.
    let asked = catch_unwind(AssertUnwindSafe(|| unsafe {
        sys::cuModuleGetLoadingMode(&mut mode)
    }));
    matches!(asked, Ok(CUresult::CUDA_SUCCESS))
        && mode == sys::CUmoduleLoadingMode::CU_MODULE_LAZY_LOADING
}

fn open_present(ordinal: usize) -> Result<Opened> {
    let unavailable = |what: &str, e: DriverError| Error::CudaUnavailable {
        why: Unavailable::DriverCall { code: e.0 as u32 },
        message: format!("{what}: {}", describe(e)),
        source: Some(Arc::new(e)),
    };
    eager_module_loading();
    result::init().map_err(|e| unavailable("cuInit failed", e))?;
    let count =
        result::device::get_count().map_err(|e| unavailable("cuDeviceGetCount failed", e))?;
    let count = usize::try_from(count).unwrap_or(0);
    if ordinal >= count {
        return Err(Error::CudaUnavailable {
            why: Unavailable::NoSuchDevice { ordinal, count },
            message: format!(
                "GPU {ordinal} was requested but the driver reports {count} CUDA device(s)"
            ),
            source: None,
        });
    }
    let ctx =
        CudaContext::new(ordinal).map_err(|e| unavailable(&format!("opening GPU {ordinal}"), e))?;
    // spindle makes no cudarc streams or buffers on this context (raw
    // handles, see `super::context`); event tracking off is a guard in case
    // one ever is: with it, the first `new_stream` synchronises the context.
    // SAFETY: no buffer or stream of this context object exists yet.
    unsafe { ctx.disable_event_tracking() };
    let name = ctx
        .name()
        .map_err(|e| cuda_error(&format!("reading GPU {ordinal}'s name"), e))?;
    let (major, minor) = ctx
        .compute_capability()
        .map_err(|e| cuda_error(&format!("reading GPU {ordinal}'s compute capability"), e))?;
    let pools = ctx
        .attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED)
        .map_err(|e| cuda_error(&format!("reading GPU {ordinal}'s attributes"), e))?;
    // `CudaContext::new` left the context current on this thread.
    let stack_bytes = result::ctx::get_limit(sys::CUlimit::CU_LIMIT_STACK_SIZE)
        .map_err(|e| cuda_error(&format!("reading GPU {ordinal}'s stack size"), e))?;
    Ok(Opened {
        ctx,
        name,
        arch: format!("sm_{major}{minor}"),
        async_alloc: pools > 0,
        stack_bytes,
        lazy_loading: loads_lazily(),
    })
}

/// `CUDA_ERROR_NAME: description`, asking the driver only for the
/// description (`cuGetErrorString`).
pub(crate) fn describe(e: DriverError) -> String {
    let name = format!("{:?}", e.0);
    match e.error_string() {
        Ok(s) => format!("{name}: {}", s.to_string_lossy()),
        Err(_) => name,
    }
}

/// Errors after which the context is unusable (a "sticky" error): every
/// later call in this process fails the same way.
pub(crate) fn is_sticky(e: DriverError) -> bool {
    matches!(
        e.0,
        CUresult::CUDA_ERROR_ILLEGAL_ADDRESS
            | CUresult::CUDA_ERROR_LAUNCH_FAILED
            | CUresult::CUDA_ERROR_ILLEGAL_INSTRUCTION
            | CUresult::CUDA_ERROR_MISALIGNED_ADDRESS
            | CUresult::CUDA_ERROR_INVALID_ADDRESS_SPACE
            | CUresult::CUDA_ERROR_INVALID_PC
            | CUresult::CUDA_ERROR_HARDWARE_STACK_ERROR
            | CUresult::CUDA_ERROR_ASSERT
            | CUresult::CUDA_ERROR_ECC_UNCORRECTABLE
    )
}

/// An [`Error::Cuda`] for a failed driver call during `context`.
pub(crate) fn cuda_error(context: &str, e: DriverError) -> Error {
    let mut message = describe(e);
    if is_sticky(e) {
        message.push_str(
            " (this error leaves the GPU's CUDA context unusable: every later CUDA call in \
             this process fails; restart the process to use the GPU again)",
        );
    }
    Error::Cuda {
        context: context.to_string(),
        code: Some(e.0 as u32),
        message,
        source: Some(std::sync::Arc::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_never_panics() {
        // SAFETY: see `open`.
        let present = unsafe { sys::is_culib_present() };
        match open(0) {
            Ok(d) => {
                assert!(present);
                assert!(d.arch.starts_with("sm_"), "{}", d.arch);
            }
            Err(Error::CudaUnavailable { why, .. }) if !present => {
                assert_eq!(why, Unavailable::NoDriver);
            }
            Err(Error::CudaUnavailable { .. } | Error::Cuda { .. }) => assert!(present),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn default_device_falls_back_to_cpu_without_a_driver() {
        // SAFETY: see `open`.
        let present = unsafe { sys::is_culib_present() };
        if present || std::env::var_os("SPINDLE_BACKEND").is_some() {
            eprintln!("SKIPPED default_device_falls_back_to_cpu_without_a_driver: a CUDA driver is present or SPINDLE_BACKEND is set");
            return;
        }
        let dev = crate::Device::default().expect("auto falls back to the CPU backend");
        assert_eq!(dev.backend(), crate::Backend::Cpu);
        assert!(matches!(
            crate::Device::cuda(0),
            Err(Error::CudaUnavailable { .. })
        ));
    }

    #[test]
    fn out_of_range_ordinal_is_unavailable() {
        match open(4096) {
            Err(Error::CudaUnavailable {
                why: Unavailable::NoSuchDevice { ordinal, .. },
                ..
            }) => assert_eq!(ordinal, 4096),
            // No driver here: the probe stops before counting devices.
            Err(Error::CudaUnavailable {
                why: Unavailable::NoDriver,
                ..
            }) => {}
            Err(other) => panic!("expected an unavailable GPU 4096, got {other:?}"),
            Ok(_) => panic!("GPU 4096 opened"),
        }
    }

    /// Builds a stub `libcuda.so` whose `cuInit` reports "no device" and runs
    /// [`stub_driver_child`] against it in a child process (the loader only
    /// reads `LD_LIBRARY_PATH` at start-up).
    #[test]
    fn driver_present_without_device_is_unavailable() {
        let dir = std::env::temp_dir().join(format!("spindle-stub-cuda-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = dir.join("stub.c");
        std::fs::write(
            &c,
            "int cuInit(unsigned int flags) { (void)flags; return 100; }\n\
             int cuGetErrorString(int e, const char** s) {\n\
               *s = e == 100 ? \"no CUDA-capable device is detected\" : \"stub error\"; return 0; }\n",
        )
        .unwrap();
        let so = dir.join("libcuda.so");
        let built = std::process::Command::new("gcc")
            .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
            .arg(&so)
            .arg(&c)
            .status();
        match built {
            Ok(s) if s.success() => {}
            other => {
                eprintln!("SKIPPED driver_present_without_device_is_unavailable: gcc could not build the stub ({other:?})");
                let _ = std::fs::remove_dir_all(&dir);
                return;
            }
        }
        std::fs::copy(&so, dir.join("libcuda.so.1")).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "cuda::driver::tests::stub_driver_child",
                "--ignored",
                "--nocapture",
            ])
            .env("LD_LIBRARY_PATH", &dir)
            .env("SPINDLE_STUB_DRIVER_CHILD", "1")
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "child failed:\n{text}");
        assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    }

    /// The child half of [`driver_present_without_device_is_unavailable`].
    #[test]
    #[ignore = "run by driver_present_without_device_is_unavailable with a stub libcuda"]
    fn stub_driver_child() {
        assert_eq!(
            std::env::var("SPINDLE_STUB_DRIVER_CHILD").as_deref(),
            Ok("1")
        );
        // SAFETY: see `open`.
        assert!(
            unsafe { sys::is_culib_present() },
            "the stub libcuda was not found"
        );
        let e = open(0).err().expect("the stub driver has no device");
        let chained = std::error::Error::source(&e).is_some();
        let Error::CudaUnavailable { why, message, .. } = e else {
            panic!("unexpected error {e:?}")
        };
        // CUDA_ERROR_NO_DEVICE, with the driver's error as the source.
        assert_eq!(why, Unavailable::DriverCall { code: 100 });
        assert!(chained, "the driver's error is the source");
        assert!(message.contains("cuInit failed"), "{message}");
        assert!(message.contains("CUDA_ERROR_NO_DEVICE"), "{message}");
        assert!(
            message.contains("no CUDA-capable device is detected"),
            "{message}"
        );
    }
}
