//! The driver calls a batch launch makes, counted.
//!
//! A counting `libcuda.so.1` is built for the test: one x86-64 trampoline
//! per `cu*` function the loaded driver exports, which counts the call and
//! jumps to the driver's own function (arguments untouched), and a
//! destructor that writes the counts to a file. A child process runs
//! launches with it first on `LD_LIBRARY_PATH`, twice with different
//! numbers of launches, so that set-up calls cancel out and what is left
//! is the calls per launch. It needs a driver (a GPU, or the stand-in
//! driver of `scripts/cuda-emu.sh`), `gcc` and `nm`, and skips, saying
//! so, without them.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::gpu_tests::{cuda_of, gpu_or_skip, load_probe, probe_ir, value_args};
use crate::kernel::KernelArg;
use crate::{Device, Launch};

#[repr(C)]
struct DlInfo {
    dli_fname: *const c_char,
    dli_fbase: *mut c_void,
    dli_sname: *const c_char,
    dli_saddr: *mut c_void,
}

extern "C" {
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
}

/// The file the process loaded the CUDA driver from.
fn driver_file() -> Option<PathBuf> {
    // SAFETY: the driver library is already loaded by cudarc (a device was
    // opened); loading it again only takes another reference.
    let lib = unsafe { libloading::Library::new("libcuda.so.1") }.ok()?;
    // SAFETY: only the address is used, never called.
    let init = unsafe { lib.get::<unsafe extern "C" fn()>(b"cuInit\0") }.ok()?;
    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: `info` is a valid out-parameter; the address is in a loaded
    // object.
    if unsafe { dladdr(*init as *const c_void, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dladdr returned a NUL-terminated path of a loaded object.
    let path = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(path.to_string_lossy().into_owned()))
}

/// Builds the counting `libcuda.so.1` for `driver` in `dir`.
fn build_counter(driver: &Path, dir: &Path) -> Result<(), String> {
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(driver)
        .output()
        .map_err(|e| format!("nm: {e}"))?;
    let symbols: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, kind, name) = (f.next()?, f.next()?, f.next()?);
            let is_driver = name.starts_with("cu") && name[2..].starts_with(char::is_uppercase);
            (matches!(kind, "T" | "W" | "i") && is_driver).then(|| name.to_string())
        })
        .collect();
    if symbols.is_empty() {
        return Err(format!("nm found no cu* functions in {}", driver.display()));
    }
    let n = symbols.len();
    let mut asm = String::from(".text\n");
    for (i, s) in symbols.iter().enumerate() {
        asm.push_str(&format!(
            ".globl {s}\n.type {s},@function\n{s}:\n  lock incq counts+{o}(%rip)\n  jmp *reals+{o}(%rip)\n",
            o = 8 * i
        ));
    }
    asm.push_str(&format!(
        ".bss\n.globl counts\n.hidden counts\n.globl reals\n.hidden reals\n.align 8\n\
         counts: .zero {b}\nreals: .zero {b}\n.section .note.GNU-stack,\"\",@progbits\n",
        b = 8 * n
    ));
    let names: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
    let c = format!(
        r#"#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#define N {n}
extern unsigned long long counts[N] __attribute__((visibility("hidden")));
extern void* reals[N] __attribute__((visibility("hidden")));
static const char* names[N] = {{{names}}};
__attribute__((constructor)) static void init(void) {{
  void* h = dlopen("{driver}", RTLD_NOW | RTLD_GLOBAL);
  if (!h) {{ fprintf(stderr, "counting libcuda: %s\n", dlerror()); abort(); }}
  for (int i = 0; i < N; ++i) reals[i] = dlsym(h, names[i]);
}}
__attribute__((destructor)) static void fini(void) {{
  const char* out = getenv("SPINDLE_CALL_COUNTS");
  FILE* f = out ? fopen(out, "w") : NULL;
  if (!f) return;
  for (int i = 0; i < N; ++i) if (counts[i]) fprintf(f, "%s %llu\n", names[i], counts[i]);
  fclose(f);
}}
"#,
        names = names.join(","),
        driver = driver.display()
    );
    std::fs::write(dir.join("tramp.s"), asm).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("count.c"), c).map_err(|e| e.to_string())?;
    let built = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(dir.join("libcuda.so.1"))
        .arg(dir.join("count.c"))
        .arg(dir.join("tramp.s"))
        .arg("-ldl")
        .output()
        .map_err(|e| format!("gcc: {e}"))?;
    if !built.status.success() {
        return Err(format!(
            "gcc failed: {}",
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    std::fs::copy(dir.join("libcuda.so.1"), dir.join("libcuda.so")).map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs [`launches_child`] with `launches` launches through the counting
/// driver; the calls it made, by function.
fn count_calls(dir: &Path, launches: usize) -> Result<BTreeMap<String, u64>, String> {
    let counts = dir.join(format!("counts-{launches}.txt"));
    let path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cuda::call_count_tests::launches_child",
            "--ignored",
            "--nocapture",
        ])
        .env("LD_LIBRARY_PATH", format!("{}:{path}", dir.display()))
        .env("SPINDLE_CALL_COUNTS", &counts)
        .env("SPINDLE_COUNT_LAUNCHES", launches.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() || !text.contains("1 passed") {
        return Err(format!("the child failed:\n{text}"));
    }
    let listed = std::fs::read_to_string(&counts).map_err(|e| format!("{e}:\n{text}"))?;
    Ok(listed
        .lines()
        .filter_map(|l| {
            let (name, n) = l.split_once(' ')?;
            Some((name.to_string(), n.trim().parse().ok()?))
        })
        .collect())
}

/// A synchronous batch launch makes three driver calls, as raw cudarc's
/// launch and synchronise do (which also binds twice): `cuCtxGetCurrent`,
/// `cuLaunchKernel`, `cuStreamSynchronize`. Before the fault records moved
/// to mapped memory it made nine (counted the same way under the stand-in
/// driver): four `cuCtxGetCurrent`, `cuMemsetD8Async`, `cuLaunchKernel`,
/// `cuMemcpyDtoHAsync_v2` and two `cuStreamSynchronize`.
#[test]
#[cfg(target_arch = "x86_64")]
fn a_batch_launch_makes_three_driver_calls() {
    let test = "a_batch_launch_makes_three_driver_calls";
    if gpu_or_skip(test).is_none() {
        return;
    }
    let Some(driver) = driver_file() else {
        eprintln!("SKIPPED {test}: the loaded driver library could not be found");
        return;
    };
    let dir = std::env::temp_dir().join(format!("spindle-call-count-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Err(why) = build_counter(&driver, &dir) {
        eprintln!("SKIPPED {test}: {why}");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let few = count_calls(&dir, 20);
    let many = count_calls(&dir, 120);
    let _ = std::fs::remove_dir_all(&dir);
    let (few, many) = (few.unwrap(), many.unwrap());
    let per_launch: BTreeMap<&str, f64> = many
        .iter()
        .map(|(name, &n)| {
            (
                name.as_str(),
                (n - few.get(name).copied().unwrap_or(0)) as f64 / 100.0,
            )
        })
        .filter(|&(_, n)| n != 0.0)
        .collect();
    let want: BTreeMap<&str, f64> = [
        ("cuCtxGetCurrent", 1.0),
        ("cuLaunchKernel", 1.0),
        ("cuStreamSynchronize", 1.0),
    ]
    .into_iter()
    .collect();
    assert_eq!(per_launch, want, "driver calls per launch");
}

/// The child half of [`a_batch_launch_makes_three_driver_calls`]: a few
/// launches to warm up, then `SPINDLE_COUNT_LAUNCHES` more.
#[test]
#[ignore = "run by a_batch_launch_makes_three_driver_calls"]
fn launches_child() {
    let n: usize = std::env::var("SPINDLE_COUNT_LAUNCHES")
        .expect("run by a_batch_launch_makes_three_driver_calls")
        .parse()
        .unwrap();
    let dev = Device::cuda(0).unwrap();
    let c = cuda_of(&dev);
    let kernel = probe_ir();
    let loaded = load_probe(c);
    let x = dev.upload(&[1.0f32; 256]).unwrap();
    let mut y = dev.zeros::<f32>(256).unwrap();
    for _ in 0..5 + n {
        let [k, p, arr] = value_args();
        let mut args = [
            k,
            p,
            arr,
            KernelArg::slice(&x),
            KernelArg::slice_mut(&mut y),
        ];
        c.launch_loaded(&kernel, &loaded, &Launch::for_elements(256), &mut args)
            .unwrap();
    }
    assert_eq!(y.to_vec().unwrap(), vec![14.0; 256]);
}
