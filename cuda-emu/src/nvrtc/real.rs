//! The real NVRTC: found, loaded once, kept for the life of the process.

use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libloading::Library;

/// The loaded library (and its builtins, which must stay loaded with it).
pub(crate) struct Real {
    lib: Library,
    _builtins: Option<Library>,
}

impl Real {
    /// The function `name` of the real NVRTC, as type `F`.
    pub(crate) fn symbol<F: Copy>(&self, name: &str) -> Result<F, String> {
        let c = format!("{name}\0");
        // SAFETY: `F` is the C signature nvrtc.h gives `name` (every caller
        // names its own); the library outlives the pointer (it is never
        // unloaded).
        unsafe { self.lib.get::<F>(c.as_bytes()) }
            .map(|s| *s)
            .map_err(|e| format!("the real NVRTC has no {name}: {e}"))
    }
}

/// Is the library at `path` this stand-in (by its marker symbol)?
fn is_stand_in(path: &Path) -> bool {
    // SAFETY: loading a library that is either this stand-in (already
    // loaded: no initialisers run) or NVIDIA's NVRTC (its initialisers have
    // no preconditions).
    match unsafe { Library::new(path) } {
        // SAFETY: only the presence of the symbol is checked.
        Ok(lib) => {
            unsafe { lib.get::<unsafe extern "C" fn() -> u32>(b"spindle_emu_stand_in\0") }.is_ok()
        }
        Err(_) => false,
    }
}

fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for var in ["SPINDLE_EMU_REAL_NVRTC_DIR", "SPINDLE_NVRTC_DIR"] {
        if let Some(d) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            dirs.push(PathBuf::from(d));
        }
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    roots.extend(
        super::host_build::source_root()
            .ancestors()
            .map(Path::to_path_buf),
    );
    for r in roots {
        dirs.push(r.join(".nvrtc/nvidia/cu13/lib"));
    }
    dirs
}

fn load() -> Result<Real, String> {
    let mut tried = Vec::new();
    for dir in candidates() {
        let path = dir.join("libnvrtc.so.13");
        if !path.is_file() || tried.contains(&dir.display().to_string()) {
            continue;
        }
        tried.push(dir.display().to_string());
        if is_stand_in(&path) {
            continue;
        }
        let builtins = std::fs::read_dir(&dir)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libnvrtc-builtins.so.13"))
            });
        // SAFETY: NVIDIA's builtins library (data and a few functions, no
        // initialisers with preconditions), then NVRTC itself; loaded by
        // absolute path, so libnvrtc's request for its builtins by bare
        // name finds the one already loaded.
        let builtins = match builtins.map(|b| unsafe { Library::new(&b) }) {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => {
                return Err(format!(
                    "loading NVRTC's builtins from {}: {e}",
                    dir.display()
                ))
            }
            None => None,
        };
        // SAFETY: as above.
        let lib = unsafe { Library::new(&path) }
            .map_err(|e| format!("loading {}: {e}", path.display()))?;
        crate::log::debug(|| format!("real NVRTC: {}", path.display()));
        return Ok(Real {
            lib,
            _builtins: builtins,
        });
    }
    Err(format!(
        "the NVRTC stand-in found no real libnvrtc.so.13 to forward to (tried {}); set \
         SPINDLE_EMU_REAL_NVRTC_DIR to the folder holding it (scripts/cuda-emu.sh does)",
        if tried.is_empty() {
            "no folder".into()
        } else {
            tried.join(", ")
        }
    ))
}

/// The real NVRTC, loaded on first use.
pub(crate) fn real() -> Result<&'static Real, String> {
    static REAL: OnceLock<Result<Real, String>> = OnceLock::new();
    REAL.get_or_init(|| {
        let r = load();
        if let Err(e) = &r {
            crate::log::warn(e);
        }
        r
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Compiles `source` once more with the real NVRTC and `options`, and
/// returns the program log (for ptxas's resource report).
pub(crate) fn compile_for_log(
    source: &str,
    name: &str,
    headers: &[(String, String)],
    options: &[String],
) -> Result<String, String> {
    type Create = unsafe extern "C" fn(
        *mut *mut c_void,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> c_int;
    type Compile = unsafe extern "C" fn(*mut c_void, c_int, *const *const c_char) -> c_int;
    type Destroy = unsafe extern "C" fn(*mut *mut c_void) -> c_int;
    type LogSize = unsafe extern "C" fn(*mut c_void, *mut usize) -> c_int;
    type Log = unsafe extern "C" fn(*mut c_void, *mut c_char) -> c_int;
    let r = real()?;
    let (create, compile, destroy) = (
        r.symbol::<Create>("nvrtcCreateProgram")?,
        r.symbol::<Compile>("nvrtcCompileProgram")?,
        r.symbol::<Destroy>("nvrtcDestroyProgram")?,
    );
    let (log_size, log) = (
        r.symbol::<LogSize>("nvrtcGetProgramLogSize")?,
        r.symbol::<Log>("nvrtcGetProgramLog")?,
    );
    let c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let src = c(source)?;
    let cname = c(name)?;
    let header_texts: Vec<CString> = headers
        .iter()
        .map(|(_, t)| c(t))
        .collect::<Result<_, _>>()?;
    let header_names: Vec<CString> = headers
        .iter()
        .map(|(n, _)| c(n))
        .collect::<Result<_, _>>()?;
    let text_ptrs: Vec<*const c_char> = header_texts.iter().map(|s| s.as_ptr()).collect();
    let name_ptrs: Vec<*const c_char> = header_names.iter().map(|s| s.as_ptr()).collect();
    let opts: Vec<CString> = options.iter().map(|o| c(o)).collect::<Result<_, _>>()?;
    let opt_ptrs: Vec<*const c_char> = opts.iter().map(|s| s.as_ptr()).collect();
    let mut prog: *mut c_void = std::ptr::null_mut();
    // SAFETY: every string is NUL-terminated and outlives the calls; the
    // arrays hold as many pointers as the counts say; the program is
    // destroyed once at the end.
    unsafe {
        let rc = create(
            &mut prog,
            src.as_ptr(),
            cname.as_ptr(),
            headers.len() as c_int,
            text_ptrs.as_ptr(),
            name_ptrs.as_ptr(),
        );
        if rc != 0 {
            return Err(format!("nvrtcCreateProgram failed ({rc})"));
        }
        let rc = compile(prog, opt_ptrs.len() as c_int, opt_ptrs.as_ptr());
        let mut size = 0usize;
        let mut text = String::new();
        if log_size(prog, &mut size) == 0 && size > 0 {
            let mut buf = vec![0u8; size];
            if log(prog, buf.as_mut_ptr().cast()) == 0 {
                let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
                text = String::from_utf8_lossy(&buf[..end]).into_owned();
            }
        }
        destroy(&mut prog);
        if rc != 0 {
            return Err(format!("the compile with -Xptxas=-v failed ({rc})"));
        }
        Ok(text)
    }
}
