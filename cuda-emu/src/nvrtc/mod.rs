//! The NVRTC stand-in: every `nvrtc*` call is forwarded to the real NVRTC,
//! so logs, errors and the CUBIN are NVRTC's own. What it adds: after a
//! successful compile for a real architecture (`-arch=sm_XY`), the same
//! program is built as host C++ ([`host_build`]), and `nvrtcGetCUBIN`
//! returns the CUBIN with that build added as an ELF section
//! ([`crate::image`]), together with ptxas's resource report per entry
//! (asked for once more with `-Xptxas=-v` when the caller did not).
//!
//! The real NVRTC is found in `SPINDLE_EMU_REAL_NVRTC_DIR` (set by
//! `scripts/cuda-emu.sh`), else `SPINDLE_NVRTC_DIR` (unless that is this
//! stand-in's own folder), else `.nvrtc/nvidia/cu13/lib` in the current
//! folder or one above it. Its builtins library is loaded first, by
//! absolute path, as spindle's runtime does.
//!
//! The entry points take the C types of `nvrtc.h`; their contract is
//! NVIDIA's NVRTC documentation.
#![allow(clippy::missing_safety_doc)]

pub(crate) mod entries;
pub mod host_build;
mod real;

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Mutex, PoisonError};

use crate::image::{self, HostPart};
use crate::resources;
use real::real;

type Program = *mut c_void;

const NVRTC_SUCCESS: c_int = 0;
const NVRTC_ERROR_INVALID_INPUT: c_int = 3;
const NVRTC_ERROR_INVALID_PROGRAM: c_int = 4;
const NVRTC_ERROR_INTERNAL_ERROR: c_int = 11;

/// What the stand-in keeps about one program besides NVRTC's own state.
#[derive(Default)]
struct Extra {
    name: String,
    source: String,
    headers: Vec<(String, String)>,
    options: Vec<String>,
    /// The image `nvrtcGetCUBIN` returns, once built.
    image: Option<Vec<u8>>,
}

static PROGRAMS: Mutex<Option<HashMap<usize, Extra>>> = Mutex::new(None);

fn with_programs<T>(f: impl FnOnce(&mut HashMap<usize, Extra>) -> T) -> T {
    let mut g = PROGRAMS.lock().unwrap_or_else(PoisonError::into_inner);
    f(g.get_or_insert_with(HashMap::new))
}

/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: NUL-terminated per this function's contract.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Calls the real NVRTC's `$name` with the given arguments, or reports why
/// it cannot.
macro_rules! call_real {
    ($name:expr, fn($($ty:ty),* $(,)?), $($arg:expr),* $(,)?) => {{
        type F = unsafe extern "C" fn($($ty),*) -> c_int;
        match real().and_then(|r| r.symbol::<F>($name)) {
            // SAFETY: the real NVRTC's function of this name has exactly
            // this C signature (nvrtc.h); the caller's arguments are passed
            // on unchanged, under the caller's contract.
            Ok(f) => unsafe { f($($arg),*) },
            Err(why) => {
                crate::log::warn(format!("{}: {why}", $name));
                NVRTC_ERROR_INTERNAL_ERROR
            }
        }
    }};
}

/// An entry point forwarded unchanged.
macro_rules! forward {
    ($name:ident($($arg:ident: $ty:ty),*)) => {
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> c_int {
            call_real!(stringify!($name), fn($($ty),*), $($arg),*)
        }
    };
}

/// Marks this library as the stand-in (so it never takes itself for the
/// real NVRTC or driver).
#[no_mangle]
pub extern "C" fn spindle_emu_stand_in() -> u32 {
    1
}

forward!(nvrtcVersion(major: *mut c_int, minor: *mut c_int));
forward!(nvrtcGetNumSupportedArchs(n: *mut c_int));
forward!(nvrtcGetSupportedArchs(archs: *mut c_int));
forward!(nvrtcGetPTXSize(prog: Program, size: *mut usize));
forward!(nvrtcGetPTX(prog: Program, ptx: *mut c_char));
forward!(nvrtcGetLTOIRSize(prog: Program, size: *mut usize));
forward!(nvrtcGetLTOIR(prog: Program, out: *mut c_char));
forward!(nvrtcGetOptiXIRSize(prog: Program, size: *mut usize));
forward!(nvrtcGetOptiXIR(prog: Program, out: *mut c_char));
forward!(nvrtcGetProgramLogSize(prog: Program, size: *mut usize));
forward!(nvrtcGetProgramLog(prog: Program, log: *mut c_char));
forward!(nvrtcAddNameExpression(prog: Program, name: *const c_char));
forward!(nvrtcGetLoweredName(prog: Program, name: *const c_char, lowered: *mut *const c_char));
forward!(nvrtcGetPCHHeapSize(size: *mut usize));
forward!(nvrtcSetPCHHeapSize(size: usize));
forward!(nvrtcGetPCHCreateStatus(prog: Program));
forward!(nvrtcGetPCHHeapSizeRequired(prog: Program, size: *mut usize));
forward!(nvrtcSetFlowCallback(prog: Program, callback: *mut c_void, payload: *mut c_void));

#[no_mangle]
pub unsafe extern "C" fn nvrtcGetErrorString(result: c_int) -> *const c_char {
    type F = unsafe extern "C" fn(c_int) -> *const c_char;
    match real().and_then(|r| r.symbol::<F>("nvrtcGetErrorString")) {
        // SAFETY: nvrtcGetErrorString(nvrtcResult) -> const char*, any code.
        Ok(f) => unsafe { f(result) },
        Err(_) => c"NVRTC_ERROR_INTERNAL_ERROR (the NVRTC stand-in could not load the real NVRTC)"
            .as_ptr(),
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvrtcCreateProgram(
    prog: *mut Program,
    src: *const c_char,
    name: *const c_char,
    num_headers: c_int,
    headers: *const *const c_char,
    include_names: *const *const c_char,
) -> c_int {
    let rc = call_real!(
        "nvrtcCreateProgram",
        fn(
            *mut Program,
            *const c_char,
            *const c_char,
            c_int,
            *const *const c_char,
            *const *const c_char,
        ),
        prog,
        src,
        name,
        num_headers,
        headers,
        include_names
    );
    if rc != NVRTC_SUCCESS || prog.is_null() {
        return rc;
    }
    // SAFETY: NVRTC accepted the arguments: `src` (and `name` when not
    // null) are NUL-terminated, and the header arrays hold `num_headers`
    // such strings when not null; `prog` now holds the new program.
    let extra = unsafe {
        let mut hs = Vec::new();
        if num_headers > 0 && !headers.is_null() && !include_names.is_null() {
            for i in 0..num_headers as usize {
                hs.push((text(*include_names.add(i)), text(*headers.add(i))));
            }
        }
        Extra {
            name: if name.is_null() {
                "default_program".into()
            } else {
                text(name)
            },
            source: text(src),
            headers: hs,
            ..Default::default()
        }
    };
    // SAFETY: written by the successful call above.
    let handle = unsafe { *prog } as usize;
    with_programs(|p| p.insert(handle, extra));
    rc
}

#[no_mangle]
pub unsafe extern "C" fn nvrtcDestroyProgram(prog: *mut Program) -> c_int {
    if !prog.is_null() {
        // SAFETY: a valid pointer to a program handle (the caller's contract).
        let handle = unsafe { *prog } as usize;
        with_programs(|p| p.remove(&handle));
    }
    call_real!("nvrtcDestroyProgram", fn(*mut Program), prog)
}

#[no_mangle]
pub unsafe extern "C" fn nvrtcCompileProgram(
    prog: Program,
    num_options: c_int,
    options: *const *const c_char,
) -> c_int {
    let rc = call_real!(
        "nvrtcCompileProgram",
        fn(Program, c_int, *const *const c_char),
        prog,
        num_options,
        options
    );
    let mut opts = Vec::new();
    if num_options > 0 && !options.is_null() {
        for i in 0..num_options as usize {
            // SAFETY: NVRTC's contract: `num_options` NUL-terminated strings.
            opts.push(unsafe { text(*options.add(i)) });
        }
    }
    with_programs(|p| {
        if let Some(e) = p.get_mut(&(prog as usize)) {
            e.options = opts;
            e.image = None;
        }
    });
    rc
}

/// The real architecture (`sm_XY`) the options compile for, if any.
fn real_arch(options: &[String]) -> Option<String> {
    let mut it = options.iter();
    while let Some(o) = it.next() {
        let value = if let Some(v) = o
            .strip_prefix("-arch=")
            .or_else(|| o.strip_prefix("--gpu-architecture="))
        {
            v.to_string()
        } else if o == "-arch" || o == "--gpu-architecture" {
            it.next()?.clone()
        } else {
            continue;
        };
        return value.starts_with("sm_").then_some(value);
    }
    None
}

/// NVRTC's program log.
fn program_log(prog: Program) -> String {
    let mut size = 0usize;
    let rc = call_real!(
        "nvrtcGetProgramLogSize",
        fn(Program, *mut usize),
        prog,
        &mut size
    );
    if rc != NVRTC_SUCCESS || size == 0 {
        return String::new();
    }
    let mut buf = vec![0u8; size];
    let rc = call_real!(
        "nvrtcGetProgramLog",
        fn(Program, *mut c_char),
        prog,
        buf.as_mut_ptr().cast()
    );
    if rc != NVRTC_SUCCESS {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The real CUBIN of a compiled program.
fn real_cubin(prog: Program) -> Result<Vec<u8>, c_int> {
    let mut size = 0usize;
    let rc = call_real!(
        "nvrtcGetCUBINSize",
        fn(Program, *mut usize),
        prog,
        &mut size
    );
    if rc != NVRTC_SUCCESS {
        return Err(rc);
    }
    let mut buf = vec![0u8; size];
    if size > 0 {
        let rc = call_real!(
            "nvrtcGetCUBIN",
            fn(Program, *mut c_char),
            prog,
            buf.as_mut_ptr().cast()
        );
        if rc != NVRTC_SUCCESS {
            return Err(rc);
        }
    }
    Ok(buf)
}

/// ptxas's report for the program: from its log when the caller asked for
/// one, else from a second compile with `-Xptxas=-v`.
fn resource_report(prog: Program, extra: &Extra) -> String {
    let log = program_log(prog);
    if log.contains("Function properties for") {
        return log;
    }
    let mut options = extra.options.clone();
    options.push("-Xptxas=-v".into());
    match real::compile_for_log(&extra.source, &extra.name, &extra.headers, &options) {
        Ok(log) => log,
        Err(why) => {
            crate::log::warn(format!(
                "{}: no resource report from ptxas ({why}); launches are not checked against it",
                extra.name
            ));
            String::new()
        }
    }
}

/// The image for a compiled program: the real CUBIN, plus the host part
/// when it was compiled for a real architecture.
fn build_image(prog: Program) -> Result<Vec<u8>, c_int> {
    let cubin = real_cubin(prog)?;
    let Some(extra) = with_programs(|p| {
        p.get(&(prog as usize)).map(|e| Extra {
            name: e.name.clone(),
            source: e.source.clone(),
            headers: e.headers.clone(),
            options: e.options.clone(),
            image: None,
        })
    }) else {
        return Ok(cubin);
    };
    let Some(arch) = real_arch(&extra.options) else {
        return Ok(cubin);
    };
    if cubin.is_empty() {
        return Ok(cubin);
    }
    // "sm_90a" → 90.
    let arch: u32 = arch[3..]
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(0);
    let report = resources::parse(&resource_report(prog, &extra));
    let entries = entries::entries(&extra.source)
        .into_iter()
        .map(|(name, _)| {
            let mut r = report
                .iter()
                .find(|f| f.name == name)
                .cloned()
                .unwrap_or_else(|| resources::EntryResources {
                    name: name.clone(),
                    ..Default::default()
                });
            r.launch_bound = resources::launch_bound(&extra.source, &name).unwrap_or(0);
            r
        })
        .collect();
    let library = host_build::build(&extra.name, &extra.source, &extra.headers);
    if let Err(why) = &library {
        crate::log::warn(format!(
            "{}: the stand-in cannot run this program (loading it will fail): {why}",
            extra.name
        ));
    }
    let host = HostPart {
        program: extra.name.clone(),
        arch,
        shims: host_build::shims_version().unwrap_or_default(),
        ring: entries::is_ring(&extra.source),
        concurrent: entries::needs_concurrent_threads(&extra.source),
        polls: entries::polls(&extra.source),
        entries,
        library,
    };
    image::embed(&cubin, &host).or_else(|why| {
        crate::log::warn(format!(
            "{}: {why}; handing out the plain CUBIN",
            extra.name
        ));
        Ok(cubin)
    })
}

/// The program's image, built on first request.
fn image_of(prog: Program) -> Result<Vec<u8>, c_int> {
    if prog.is_null() {
        return Err(NVRTC_ERROR_INVALID_PROGRAM);
    }
    if let Some(img) = with_programs(|p| p.get(&(prog as usize)).and_then(|e| e.image.clone())) {
        return Ok(img);
    }
    let img = build_image(prog)?;
    with_programs(|p| {
        if let Some(e) = p.get_mut(&(prog as usize)) {
            e.image = Some(img.clone());
        }
    });
    Ok(img)
}

#[no_mangle]
pub unsafe extern "C" fn nvrtcGetCUBINSize(prog: Program, size: *mut usize) -> c_int {
    if size.is_null() {
        return NVRTC_ERROR_INVALID_INPUT;
    }
    match image_of(prog) {
        Ok(img) => {
            // SAFETY: non-null; the caller's contract makes it writable.
            unsafe { *size = img.len() };
            NVRTC_SUCCESS
        }
        Err(rc) => rc,
    }
}

#[no_mangle]
pub unsafe extern "C" fn nvrtcGetCUBIN(prog: Program, cubin: *mut c_char) -> c_int {
    if cubin.is_null() {
        return NVRTC_ERROR_INVALID_INPUT;
    }
    match image_of(prog) {
        Ok(img) => {
            // SAFETY: the caller allocated nvrtcGetCUBINSize bytes, which
            // is this image's length.
            unsafe { std::ptr::copy_nonoverlapping(img.as_ptr(), cubin.cast::<u8>(), img.len()) };
            NVRTC_SUCCESS
        }
        Err(rc) => rc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_architecture_comes_from_the_options() {
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            real_arch(&o(&["-arch=sm_90", "-lineinfo"])),
            Some("sm_90".into())
        );
        assert_eq!(
            real_arch(&o(&["--gpu-architecture", "sm_80"])),
            Some("sm_80".into())
        );
        assert_eq!(real_arch(&o(&["-arch=compute_90"])), None);
        assert_eq!(real_arch(&o(&["-lineinfo"])), None);
    }
}
