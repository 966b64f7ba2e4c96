//! The host build of a CUDA program: the program text compiled by g++ as
//! C++ against spindle's host shims (`cuda-emu/include/spindle_emu_device.h`
//! includes them) into a shared library, with a thunk per entry point.
//!
//! Builds are cached by content in `SPINDLE_EMU_CACHE_DIR` (default
//! `$XDG_CACHE_HOME/spindle-cuda-emu`, else `~/.cache/spindle-cuda-emu`):
//! the key covers the program, its headers, the compiler flags and the
//! text of every shim header, and a hit is checked against the stored
//! program text. The shims are read from the source tree the stand-in was
//! built from (`SPINDLE_EMU_SOURCE_ROOT` overrides it), so a changed shim
//! takes effect without rebuilding the stand-in.
//!
//! `SPINDLE_EMU_CXX` (default `g++`) and `SPINDLE_EMU_CXXFLAGS` (added
//! after the defaults) choose the compiler.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::entries;

/// The flags every host build gets. `-fvisibility=hidden` and
/// `-fno-gnu-unique`: no symbol of one loaded copy binds to another copy's
/// (the driver loads a copy per concurrently running block).
/// `-ffp-contract=off`: no fused multiply-add, as NVRTC's `--fmad=false`.
/// `-fno-strict-aliasing`: views of the dynamic shared area alias.
const CXXFLAGS: [&str; 11] = [
    "-std=c++17",
    "-O1",
    "-g0",
    "-shared",
    "-fPIC",
    "-pthread",
    "-fvisibility=hidden",
    "-fno-gnu-unique",
    "-fno-strict-aliasing",
    "-ffp-contract=off",
    "-w",
];

/// The shim headers, relative to the source tree.
const SHIM_DIRS: [&str; 2] = ["host-shims", "cuda-emu/include"];

/// The source tree whose shims host builds use.
pub fn source_root() -> PathBuf {
    match std::env::var_os("SPINDLE_EMU_SOURCE_ROOT").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    }
}

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SPINDLE_EMU_CACHE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("spindle-cuda-emu")
}

fn compiler() -> String {
    std::env::var("SPINDLE_EMU_CXX")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "g++".into())
}

fn extra_flags() -> Vec<String> {
    std::env::var("SPINDLE_EMU_CXXFLAGS")
        .map(|v| v.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Every shim header's path and text, in a fixed order.
fn shim_texts(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut files = Vec::new();
    for d in SHIM_DIRS {
        let dir = root.join(d);
        let listing = std::fs::read_dir(&dir)
            .map_err(|e| format!("reading the host shims in {}: {e}", dir.display()))?;
        for f in listing.flatten() {
            if f.path().extension().is_some_and(|x| x == "h") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|f| {
            std::fs::read_to_string(&f)
                .map(|t| (f.display().to_string(), t))
                .map_err(|e| format!("reading {}: {e}", f.display()))
        })
        .collect()
}

/// The version of the device side: the stand-in's version and the text of
/// every shim header now. An image built under another version is stale.
pub fn shims_version() -> Result<String, String> {
    let shims = shim_texts(&source_root())?;
    let mut parts: Vec<&str> = vec![env!("CARGO_PKG_VERSION")];
    parts.extend(shims.iter().map(|(_, t)| t.as_str()));
    Ok(key_of(&parts))
}

/// A 128-bit key of `parts` (two SipHash runs with different prefixes; a
/// hit is also checked against the stored program text).
fn key_of(parts: &[&str]) -> String {
    let mut out = String::new();
    for seed in ["spindle-emu-a", "spindle-emu-b"] {
        let mut h = DefaultHasher::new();
        seed.hash(&mut h);
        for p in parts {
            p.hash(&mut h);
        }
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

/// The C++ unit: the program under its own name (g++'s messages point at
/// its lines), then a thunk per entry point.
fn unit_text(program: &str, source: &str) -> String {
    let mut unit = format!(
        "#line 1 \"{}\"\n{}\n",
        program.replace(['"', '\\'], "_"),
        entries::host_source(source)
    );
    unit.push_str("#line 1 \"spindle-emu-entry-points\"\n");
    for (name, _) in entries::entries(source) {
        unit.push_str(&format!("SPINDLE_EMU_ENTRY({name})\n"));
    }
    unit
}

/// Builds `source` (program `program`, with `headers` as `(include name,
/// text)`) as a host library, or returns the compiler's complaint.
pub fn build(program: &str, source: &str, headers: &[(String, String)]) -> Result<Vec<u8>, String> {
    let root = source_root();
    let shims = shim_texts(&root)?;
    let ring = entries::is_ring(source);
    let cxx = compiler();
    let mut flags: Vec<String> = CXXFLAGS.iter().map(|s| s.to_string()).collect();
    if ring {
        flags.push("-DSPINDLE_EMU_RING=1".into());
    }
    flags.extend(extra_flags());
    let unit = unit_text(program, source);
    let mut identity = unit.clone();
    for (n, t) in headers {
        identity.push_str(&format!("\n// header {n}\n{t}"));
    }
    let flag_text = format!("{cxx} {}", flags.join(" "));
    let mut parts: Vec<&str> = vec![env!("CARGO_PKG_VERSION"), &flag_text, &identity];
    for (_, t) in &shims {
        parts.push(t);
    }
    let key = key_of(&parts);
    let dir = cache_dir();
    let lib_path = dir.join(format!("{key}.so"));
    let src_path = dir.join(format!("{key}.cpp"));
    if let (Ok(lib), Ok(text)) = (std::fs::read(&lib_path), std::fs::read_to_string(&src_path)) {
        if text == identity {
            crate::log::debug(|| format!("host build of {program}: cached ({key})"));
            return Ok(lib);
        }
    }
    // A folder of its own: another thread or process may build the same
    // program at the same time.
    static BUILDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let work = dir.join(format!("build-{key}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    let result = compile(&cxx, &flags, &root, &work, &unit, headers);
    if let Ok(lib) = &result {
        // Store: write then rename, so a reader never sees half a file.
        let tmp_lib = work.join("out.so.tmp");
        let tmp_src = work.join("out.cpp.tmp");
        let stored = std::fs::write(&tmp_lib, lib)
            .and_then(|()| std::fs::write(&tmp_src, &identity))
            .and_then(|()| std::fs::rename(&tmp_src, &src_path))
            .and_then(|()| std::fs::rename(&tmp_lib, &lib_path));
        if let Err(e) = stored {
            crate::log::warn(format!(
                "could not cache the host build in {}: {e}",
                dir.display()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn compile(
    cxx: &str,
    flags: &[String],
    root: &Path,
    work: &Path,
    unit: &str,
    headers: &[(String, String)],
) -> Result<Vec<u8>, String> {
    let headers_dir = work.join("headers");
    for (name, text) in headers {
        let path = headers_dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
    }
    let unit_path = work.join("unit.cpp");
    std::fs::write(&unit_path, unit)
        .map_err(|e| format!("writing {}: {e}", unit_path.display()))?;
    let out_path = work.join("out.so");
    let started = std::time::Instant::now();
    let out = Command::new(cxx)
        .args(flags)
        .arg("-I")
        .arg(root)
        .arg("-I")
        .arg(root.join("cuda-emu/include"))
        .arg("-I")
        .arg(&headers_dir)
        .arg("-include")
        .arg("spindle_emu_device.h")
        .arg(&unit_path)
        .arg("-o")
        .arg(&out_path)
        .output()
        .map_err(|e| format!("running {cxx}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cxx} could not build the program as host C++ ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    crate::log::debug(|| format!("host build: {} ms", started.elapsed().as_millis()));
    std::fs::read(&out_path).map_err(|e| format!("reading {}: {e}", out_path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_with_any_part() {
        let a = key_of(&["x", "y"]);
        assert_eq!(a.len(), 32);
        assert_eq!(a, key_of(&["x", "y"]));
        assert_ne!(a, key_of(&["x", "z"]));
        assert_ne!(a, key_of(&["xy", ""]));
    }

    #[test]
    fn the_unit_has_a_thunk_per_entry() {
        let src = "extern \"C\" __global__ void spindle_a(int* x) {}\n\
                   extern \"C\" __global__ void spindle_b(int* x) {}\n";
        let unit = unit_text("p.cu", src);
        assert!(unit.starts_with("#line 1 \"p.cu\"\n"));
        assert!(unit.contains("SPINDLE_EMU_ENTRY(spindle_a)\nSPINDLE_EMU_ENTRY(spindle_b)\n"));
    }
}
