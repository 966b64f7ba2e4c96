//! Finding and loading libnvrtc, NVIDIA's runtime compiler, and a small
//! safe wrapper around one NVRTC program.
//!
//! libnvrtc opens its companion `libnvrtc-builtins.so.X.Y` by bare name,
//! which only works when the dynamic loader already knows the folder
//! (`LD_LIBRARY_PATH` set before the process started). Setting that variable
//! from inside the process does not work, so spindle finds the folder itself
//! and loads the builtins first, then libnvrtc, both by absolute path; the
//! loader then matches libnvrtc's request by soname. Both libraries stay
//! loaded for the life of the process.
//!
//! The function pointers come from the library spindle loaded, not from
//! `cudarc::nvrtc::sys`: cudarc resolves `libnvrtc.so` by bare name first
//! (which may be a different installation) and panics on a missing symbol,
//! while this table reports one as [`Error::NvrtcUnavailable`]. cudarc's
//! own NVRTC calls still work after the preload (they find the loaded
//! library by soname).
//!
//! `SPINDLE_NVRTC=off` turns NVRTC off (only precompiled kernels load then).
//!
//! Search order, first hit wins:
//! 1. `$SPINDLE_NVRTC_DIR`
//! 2. `$CUDA_HOME/lib64`, `$CUDA_PATH/lib64`, `/usr/local/cuda/lib64`
//! 3. `./.nvrtc/nvidia/{cu13,cuda_nvrtc}/lib` (a `pip install --target .nvrtc`)
//!    under the current folder and under every ancestor of
//!    `$CARGO_MANIFEST_DIR` (so `cargo test` finds the workspace's copy)
//! 4. the Python `nvidia` wheels of `python3` (`nvidia/cu13/lib` for CUDA 13,
//!    `nvidia/cuda_nvrtc/lib` for CUDA 12)
//! 5. whatever the dynamic loader finds (`libnvrtc.so.13`, `.so.12`, `.so`).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libloading::Library;

use crate::{Error, Result, Unavailable};

/// Library file names, newest first.
const LIB_NAMES: [&str; 3] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"];

/// How to get NVRTC, appended to every "not found" message.
const INSTALL_HINT: &str = "install it with `pip install nvidia-cuda-nvrtc==13.0.88` \
     (no GPU needed) and, if spindle does not find that wheel by itself, set \
     SPINDLE_NVRTC_DIR to its `nvidia/cu13/lib` folder; or install a CUDA toolkit \
     and set CUDA_HOME";

/// `NVRTC_SUCCESS`.
pub(crate) const NVRTC_SUCCESS: c_int = 0;
/// `NVRTC_ERROR_COMPILATION`: the source has errors (see the program log).
pub(crate) const NVRTC_ERROR_COMPILATION: c_int = 6;

type RawProgram = *mut c_void;

/// The NVRTC entry points spindle uses, resolved from one loaded library.
pub(crate) struct Nvrtc {
    /// Where the library was loaded from (a path, or the bare name the
    /// dynamic loader resolved).
    pub(crate) origin: String,
    /// `(major, minor)` as reported by `nvrtcVersion`.
    pub(crate) version: (i32, i32),
    create_program: unsafe extern "C" fn(
        *mut RawProgram,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> c_int,
    compile_program: unsafe extern "C" fn(RawProgram, c_int, *const *const c_char) -> c_int,
    destroy_program: unsafe extern "C" fn(*mut RawProgram) -> c_int,
    get_program_log_size: unsafe extern "C" fn(RawProgram, *mut usize) -> c_int,
    get_program_log: unsafe extern "C" fn(RawProgram, *mut c_char) -> c_int,
    get_cubin_size: unsafe extern "C" fn(RawProgram, *mut usize) -> c_int,
    get_cubin: unsafe extern "C" fn(RawProgram, *mut c_char) -> c_int,
    get_error_string: unsafe extern "C" fn(c_int) -> *const c_char,
    // The libraries the pointers above point into. They live in a static and
    // are never dropped, so the pointers stay valid.
    _lib: Library,
    _builtins: Option<Library>,
}

/// The process-wide NVRTC, loaded on first use.
pub(crate) fn nvrtc() -> Result<&'static Nvrtc> {
    static LOADED: OnceLock<std::result::Result<Nvrtc, (Unavailable, String)>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            // NVRTC initialises the CUDA driver itself (`cuInit`) when one
            // is present: the loading mode must be chosen before.
            super::driver::eager_module_loading();
            load()
        })
        .as_ref()
        .map_err(|(why, message)| Error::NvrtcUnavailable {
            why: *why,
            message: message.clone(),
        })
}

/// The version of the NVRTC spindle uses, `(major, minor)`, loading it if
/// needed. Needs no GPU.
///
/// ```
/// match spindle_runtime::cuda::nvrtc_version() {
///     Ok((major, _minor)) => assert!(major >= 12),
///     Err(e) => println!("{e}"), // not installed here
/// }
/// ```
pub fn nvrtc_version() -> Result<(i32, i32)> {
    Ok(nvrtc()?.version)
}

/// Where the loaded NVRTC came from (a file path, or the bare name that the
/// dynamic loader resolved), loading it if needed.
pub fn nvrtc_origin() -> Result<String> {
    Ok(nvrtc()?.origin.clone())
}

fn load() -> std::result::Result<Nvrtc, (Unavailable, String)> {
    if non_empty_env("SPINDLE_NVRTC").is_some_and(|v| v.eq_ignore_ascii_case("off")) {
        return Err((
            Unavailable::NvrtcOff,
            "NVRTC is turned off (SPINDLE_NVRTC=off)".into(),
        ));
    }
    let started = Instant::now();
    let mut tried: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut found = first_in(cheap_dirs(), &mut tried, &mut failures);
    if found.is_none() {
        tried.push("the `nvidia` wheels of python3's site-packages".into());
        found = first_in(python_dirs(), &mut tried, &mut failures);
    }
    if found.is_none() {
        tried.push("the dynamic loader's search path".into());
        found = LIB_NAMES.iter().find_map(|name| {
            // SAFETY: loading libnvrtc runs its initialisers, which have no
            // preconditions; it is a well-known NVIDIA library.
            let lib = unsafe { Library::new(name) }.ok()?;
            Some(resolve(
                lib,
                None,
                format!("{name} (found by the dynamic loader)"),
            ))
        });
    }
    let result = match found {
        Some(Ok(n)) => Ok(n),
        Some(Err(e)) => Err((Unavailable::NvrtcUnusable, e)),
        None => {
            let mut msg = format!(
                "libnvrtc (CUDA 13 or 12) was not found; searched {}. To fix: {INSTALL_HINT}",
                tried.join(", ")
            );
            for f in &failures {
                msg.push_str("\n  ");
                msg.push_str(f);
            }
            Err((Unavailable::NvrtcNotFound, msg))
        }
    };
    match &result {
        Ok(n) => tracing::debug!(
            origin = %n.origin,
            version = ?n.version,
            elapsed_us = started.elapsed().as_micros() as u64,
            "loaded NVRTC"
        ),
        Err((_, e)) => tracing::debug!(reason = %e, "NVRTC not available"),
    }
    result
}

/// The first folder of `dirs` that holds a loadable libnvrtc; records
/// every folder tried and every load failure.
fn first_in(
    dirs: Vec<PathBuf>,
    tried: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> Option<std::result::Result<Nvrtc, String>> {
    for dir in dirs {
        tried.push(dir.display().to_string());
        match load_from_dir(&dir) {
            Some(Ok(n)) => return Some(Ok(n)),
            Some(Err(e)) => failures.push(e),
            None => {}
        }
    }
    None
}

/// Search folders that cost nothing to compute, in priority order.
fn cheap_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = non_empty_env("SPINDLE_NVRTC_DIR") {
        dirs.push(PathBuf::from(d));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(d) = non_empty_env(var) {
            dirs.push(Path::new(&d).join("lib64"));
        }
    }
    dirs.push(PathBuf::from("/usr/local/cuda/lib64"));
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Some(m) = non_empty_env("CARGO_MANIFEST_DIR") {
        roots.extend(Path::new(&m).ancestors().map(Path::to_path_buf));
    }
    for root in roots {
        let nvidia = root.join(".nvrtc").join("nvidia");
        if nvidia.is_dir() {
            dirs.extend(wheel_lib_dirs(&nvidia));
        }
    }
    dedup(dirs)
}

/// `<nvidia>/cu13/lib` (CUDA 13 wheels) and `<nvidia>/cuda_nvrtc/lib` (CUDA 12).
fn wheel_lib_dirs(nvidia: &Path) -> [PathBuf; 2] {
    [
        nvidia.join("cu13").join("lib"),
        nvidia.join("cuda_nvrtc").join("lib"),
    ]
}

/// The `nvidia` wheel folders of `python3`'s site-packages (runs it once,
/// with a timeout; nothing when Python is absent).
fn python_dirs() -> Vec<PathBuf> {
    const SCRIPT: &str = "import os, site\n\
dirs = []\n\
try:\n    import nvidia\n    dirs += list(nvidia.__path__)\nexcept Exception:\n    pass\n\
try:\n    dirs += [os.path.join(p, 'nvidia') for p in site.getsitepackages()]\nexcept Exception:\n    pass\n\
try:\n    dirs.append(os.path.join(site.getusersitepackages(), 'nvidia'))\nexcept Exception:\n    pass\n\
print('\\n'.join(dirs))\n";
    let Some(out) = run_with_timeout("python3", &["-c", SCRIPT], Duration::from_secs(10)) else {
        return Vec::new();
    };
    let dirs = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .flat_map(|p| wheel_lib_dirs(&p))
        .collect();
    dedup(dirs)
}

/// Runs a program and returns its stdout, or `None` when it cannot be run,
/// fails, or takes longer than `limit`.
fn run_with_timeout(program: &str, args: &[&str], limit: Duration) -> Option<String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                tracing::debug!(program, "timed out while looking for NVRTC");
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    Some(out)
}

fn non_empty_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn dedup(dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::with_capacity(dirs.len());
    for d in dirs {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// Loads libnvrtc from `dir`: `None` when the folder has none, else the
/// loaded library or why it failed.
fn load_from_dir(dir: &Path) -> Option<std::result::Result<Nvrtc, String>> {
    let (name, path) = LIB_NAMES
        .iter()
        .map(|n| (*n, dir.join(n)))
        .find(|(_, p)| p.is_file())?;
    let builtins = match builtins_file(dir, name) {
        Some(b) => {
            // SAFETY: libnvrtc-builtins is a data-only companion library of
            // libnvrtc with no initialisers that need anything from us.
            match unsafe { Library::new(&b) } {
                Ok(lib) => Some(lib),
                Err(e) => return Some(Err(format!("{}: {e}", b.display()))),
            }
        }
        None => None,
    };
    // SAFETY: as in `load`: loading libnvrtc runs only its own initialisers.
    let lib = match unsafe { Library::new(&path) } {
        Ok(lib) => lib,
        Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
    };
    Some(resolve(lib, builtins, path.display().to_string()))
}

/// The builtins library that belongs next to `lib_name` in `dir`:
/// `libnvrtc-builtins.so.13.*` for `libnvrtc.so.13`.
fn builtins_file(dir: &Path, lib_name: &str) -> Option<PathBuf> {
    let major = lib_name.strip_prefix("libnvrtc.so").unwrap_or("");
    let prefix = format!("libnvrtc-builtins.so{major}");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.starts_with(&prefix)
                && (n.len() == prefix.len() || n[prefix.len()..].starts_with('.'))
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found.pop()
}

/// Resolves the entry points and checks the library answers `nvrtcVersion`.
fn resolve(
    lib: Library,
    builtins: Option<Library>,
    origin: String,
) -> std::result::Result<Nvrtc, String> {
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol is looked up by its documented C name and
            // read as a function pointer of its documented signature (the
            // type of the field it is stored in); the library outlives it
            // (both are kept in `Nvrtc`).
            match unsafe { lib.get(concat!($name, "\0").as_bytes()) } {
                Ok(s) => *s,
                Err(e) => return Err(format!("{origin}: missing symbol {}: {e}", $name)),
            }
        };
    }
    let version: unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int = sym!("nvrtcVersion");
    let (mut major, mut minor) = (0, 0);
    // SAFETY: `nvrtcVersion` writes two ints through valid pointers.
    let rc = unsafe { version(&mut major, &mut minor) };
    if rc != NVRTC_SUCCESS {
        return Err(format!("{origin}: nvrtcVersion failed with code {rc}"));
    }
    Ok(Nvrtc {
        create_program: sym!("nvrtcCreateProgram"),
        compile_program: sym!("nvrtcCompileProgram"),
        destroy_program: sym!("nvrtcDestroyProgram"),
        get_program_log_size: sym!("nvrtcGetProgramLogSize"),
        get_program_log: sym!("nvrtcGetProgramLog"),
        get_cubin_size: sym!("nvrtcGetCUBINSize"),
        get_cubin: sym!("nvrtcGetCUBIN"),
        get_error_string: sym!("nvrtcGetErrorString"),
        // Last, so the `sym!` messages above can still borrow it.
        origin,
        version: (major, minor),
        _lib: lib,
        _builtins: builtins,
    })
}

impl Nvrtc {
    /// NVRTC's name for a result code.
    pub(crate) fn error_string(&self, code: c_int) -> String {
        // SAFETY: `nvrtcGetErrorString` accepts any code and returns a
        // pointer to a static NUL-terminated string (or null).
        let p = unsafe { (self.get_error_string)(code) };
        if p.is_null() {
            return format!("NVRTC error {code}");
        }
        // SAFETY: non-null, static and NUL-terminated, as documented.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// One NVRTC program (a translation unit), destroyed on drop.
pub(crate) struct Program {
    api: &'static Nvrtc,
    raw: RawProgram,
}

impl Program {
    /// Creates a program from `source`, named `name` in NVRTC's messages.
    /// The error is a message (the caller knows which kernel it was).
    pub(crate) fn new(
        api: &'static Nvrtc,
        source: &str,
        name: &str,
    ) -> std::result::Result<Program, String> {
        let src =
            CString::new(source).map_err(|_| "the CUDA source contains a NUL byte".to_string())?;
        let name =
            CString::new(name).map_err(|_| "the program name contains a NUL byte".to_string())?;
        let mut raw: RawProgram = std::ptr::null_mut();
        // SAFETY: both strings are NUL-terminated and outlive the call (NVRTC
        // copies them); zero headers with null arrays is allowed.
        let rc = unsafe {
            (api.create_program)(
                &mut raw,
                src.as_ptr(),
                name.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if rc != NVRTC_SUCCESS || raw.is_null() {
            return Err(format!(
                "nvrtcCreateProgram failed: {}",
                api.error_string(rc)
            ));
        }
        Ok(Program { api, raw })
    }

    /// Compiles with `options`; returns NVRTC's result code.
    pub(crate) fn compile(&mut self, options: &[String]) -> std::result::Result<c_int, String> {
        let owned: Vec<CString> = options
            .iter()
            .map(|o| {
                CString::new(o.as_str()).map_err(|_| format!("option {o:?} contains a NUL byte"))
            })
            .collect::<std::result::Result<_, _>>()?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|o| o.as_ptr()).collect();
        let count =
            c_int::try_from(ptrs.len()).map_err(|_| "too many NVRTC options".to_string())?;
        // SAFETY: `raw` is a live program; `ptrs` holds `count` pointers to
        // NUL-terminated strings that outlive the call.
        Ok(unsafe { (self.api.compile_program)(self.raw, count, ptrs.as_ptr()) })
    }

    /// The program log (warnings, errors, `-Xptxas=-v` output).
    pub(crate) fn log(&self) -> String {
        let mut size = 0usize;
        // SAFETY: `raw` is a live program; `size` is a valid out-pointer.
        let rc = unsafe { (self.api.get_program_log_size)(self.raw, &mut size) };
        if rc != NVRTC_SUCCESS || size == 0 {
            return String::new();
        }
        let mut buf = vec![0u8; size];
        // SAFETY: `buf` has room for the `size` bytes (NUL included) NVRTC
        // said the log needs.
        let rc = unsafe { (self.api.get_program_log)(self.raw, buf.as_mut_ptr().cast()) };
        if rc != NVRTC_SUCCESS {
            return String::new();
        }
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    }

    /// The compiled CUBIN (empty when the program was compiled for a
    /// virtual architecture).
    pub(crate) fn cubin(&self) -> std::result::Result<Vec<u8>, String> {
        let mut size = 0usize;
        // SAFETY: `raw` is a live, compiled program; `size` is a valid out-pointer.
        let rc = unsafe { (self.api.get_cubin_size)(self.raw, &mut size) };
        if rc != NVRTC_SUCCESS {
            return Err(format!(
                "nvrtcGetCUBINSize failed: {}",
                self.api.error_string(rc)
            ));
        }
        let mut buf = vec![0u8; size];
        if size > 0 {
            // SAFETY: `buf` holds exactly the `size` bytes NVRTC reported.
            let rc = unsafe { (self.api.get_cubin)(self.raw, buf.as_mut_ptr().cast()) };
            if rc != NVRTC_SUCCESS {
                return Err(format!(
                    "nvrtcGetCUBIN failed: {}",
                    self.api.error_string(rc)
                ));
            }
        }
        Ok(buf)
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        // SAFETY: `raw` came from `nvrtcCreateProgram` and is destroyed once.
        let rc = unsafe { (self.api.destroy_program)(&mut self.raw) };
        if rc != NVRTC_SUCCESS {
            tracing::warn!(code = rc, "nvrtcDestroyProgram failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_file_matches_major_version() {
        let dir =
            std::env::temp_dir().join(format!("spindle-nvrtc-builtins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "libnvrtc-builtins.so.13.0",
            "libnvrtc-builtins.alt.so.13.0",
            "libnvrtc-builtins.so.12.4",
        ] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let b13 = builtins_file(&dir, "libnvrtc.so.13").unwrap();
        assert_eq!(b13.file_name().unwrap(), "libnvrtc-builtins.so.13.0");
        let b12 = builtins_file(&dir, "libnvrtc.so.12").unwrap();
        assert_eq!(b12.file_name().unwrap(), "libnvrtc-builtins.so.12.4");
        assert!(builtins_file(&dir, "libnvrtc.so.11").is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_folder_is_skipped() {
        assert!(load_from_dir(Path::new("/nonexistent/spindle/nvrtc")).is_none());
    }
}
