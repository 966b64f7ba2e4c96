//! A corpus of emitted kernels, compiled with the real NVRTC by
//! `cuda_corpus_compiles_with_nvrtc` (for sm_75, sm_80 and sm_90, with
//! `NVRTC_FLAGS`; ring kernels as the whole persistent kernel): every
//! kernel must compile without errors or warnings. codegen does not link
//! NVRTC, so the test builds a small C++ driver with g++ that `dlopen`s it
//! from `SPINDLE_NVRTC_DIR` (what `scripts/nvrtc-env.sh` sets) or the
//! workspace's `.nvrtc` wheel; without g++ or NVRTC it says it skipped.
//! `SPINDLE_EMIT_DUMP=/tmp/dir cargo test -p spindle-codegen cuda_dump -- --ignored`
//! writes one `.cu` per kernel.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::irb::*;
use crate::cuda::{emit, EmitOptions, NVRTC_FLAGS};
use crate::ir::Kernel;

/// Every kernel the emitter tests build, by name.
pub(crate) fn corpus() -> Vec<(String, Kernel)> {
    let mut out = vec![("saxpy".to_string(), saxpy())];
    let mut no_checks = saxpy();
    no_checks.bounds_checks = false;
    out.push(("saxpy_unchecked".to_string(), no_checks));
    out.push(("loops".to_string(), super::control::loops_kernel()));
    out.push(("calls".to_string(), super::control::calls_kernel()));
    out.push((
        "short_circuit".to_string(),
        super::control::short_circuit_kernel(),
    ));
    out.push(("structs".to_string(), super::types::structs_kernel()));
    out.push(("tally".to_string(), crate::ring::samples::tally()));
    out.push((
        "ring_block_sum".to_string(),
        super::parallel::ring_block_sum(),
    ));
    out.extend(super::parallel::corpus());
    out.extend(super::dynamic_shared::corpus());
    out.extend(super::from_rust::corpus());
    for s in crate::ir::Scalar::ALL {
        out.push((format!("ops_{}", s.rust_name()), super::ops::ops_kernel(s)));
        out.push((
            format!("casts_from_{}", s.rust_name()),
            super::ops::casts_kernel(s),
        ));
        if s != crate::ir::Scalar::Bool {
            let k = super::intrinsics::intrinsics_kernel(s);
            out.push((format!("intrinsics_{}", s.rust_name()), k));
        }
    }
    out
}

#[test]
fn cuda_corpus_emits_without_errors() {
    for (name, k) in corpus() {
        let c = emit(&k, &EmitOptions::default()).code;
        assert!(!c.contains("#error"), "{name}:\n{c}");
    }
}

#[test]
#[ignore = "writes files; set SPINDLE_EMIT_DUMP to a folder"]
fn cuda_dump_corpus() {
    let Ok(dir) = std::env::var("SPINDLE_EMIT_DUMP") else {
        eprintln!("SPINDLE_EMIT_DUMP not set; nothing written");
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (name, k) in corpus() {
        std::fs::write(format!("{dir}/{name}.cu"), unit(&k)).unwrap();
    }
}

/// The unit NVRTC compiles for a kernel: ring kernels with their loop.
fn unit(k: &Kernel) -> String {
    if k.mode.is_ring() {
        crate::ring::emit_ring(k, &EmitOptions::default())
            .unwrap()
            .code
    } else {
        emit(k, &EmitOptions::default()).code
    }
}

/// Compiles each file named on the command line with NVRTC and prints
/// `== <file> <nvrtcResult>` and the program log.
const DRIVER: &str = r#"
#include <dlfcn.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
typedef int (*Create)(void**, const char*, const char*, int, const char* const*, const char* const*);
typedef int (*Compile)(void*, int, const char* const*);
typedef int (*LogSize)(void*, size_t*);
typedef int (*Log)(void*, char*);
typedef int (*Destroy)(void**);
// argv: builtins library, nvrtc library, option count, options..., files...
int main(int argc, char** argv) {
  if (!dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL)) { std::printf("dlopen: %s\n", dlerror()); return 2; }
  void* lib = dlopen(argv[2], RTLD_NOW | RTLD_GLOBAL);
  if (!lib) { std::printf("dlopen: %s\n", dlerror()); return 2; }
  Create create = (Create)dlsym(lib, "nvrtcCreateProgram");
  Compile compile = (Compile)dlsym(lib, "nvrtcCompileProgram");
  LogSize log_size = (LogSize)dlsym(lib, "nvrtcGetProgramLogSize");
  Log get_log = (Log)dlsym(lib, "nvrtcGetProgramLog");
  Destroy destroy = (Destroy)dlsym(lib, "nvrtcDestroyProgram");
  int n = std::atoi(argv[3]);
  std::vector<const char*> opts(argv + 4, argv + 4 + n);
  for (int i = 4 + n; i < argc; ++i) {
    std::ifstream in(argv[i]);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string src = ss.str();
    void* prog = nullptr;
    int r = create(&prog, src.c_str(), argv[i], 0, nullptr, nullptr);
    if (r == 0) r = compile(prog, (int)opts.size(), opts.data());
    size_t len = 0;
    log_size(prog, &len);
    std::string log(len, '\0');
    if (len) get_log(prog, &log[0]);
    std::printf("== %s %d\n%s\n", argv[i], r, log.c_str());
    destroy(&prog);
  }
  return 0;
}
"#;

/// `SPINDLE_NVRTC_DIR`, else the workspace's `.nvrtc` wheel, if it holds
/// libnvrtc.
fn nvrtc_dir() -> Option<PathBuf> {
    let wheel = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.nvrtc/nvidia/cu13/lib");
    std::env::var_os("SPINDLE_NVRTC_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([wheel])
        .find(|d| d.join("libnvrtc.so.13").exists())
}

#[test]
fn cuda_corpus_compiles_with_nvrtc() {
    let Some(dir) = nvrtc_dir() else {
        println!("SKIPPED: libnvrtc.so.13 not found (source scripts/nvrtc-env.sh)");
        return;
    };
    let builtins = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libnvrtc-builtins.so"))
        });
    let Some(builtins) = builtins else {
        println!("SKIPPED: no libnvrtc-builtins in {}", dir.display());
        return;
    };
    let work = std::env::temp_dir().join(format!("spindle-nvrtc-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let driver = work.join("driver");
    let built = Command::new("g++")
        .args(["-std=c++17", "-O1", "-x", "c++", "-", "-ldl", "-o"])
        .arg(&driver)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(DRIVER.as_bytes())?;
            child.wait_with_output()
        });
    match built {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the NVRTC driver did not build:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            println!("SKIPPED: g++ is needed to drive NVRTC here: {e}");
            return;
        }
    }
    let mut files = Vec::new();
    for (name, k) in corpus() {
        let path = work.join(format!("{name}.cu"));
        std::fs::write(&path, unit(&k)).unwrap();
        files.push(path);
        if k.mode.is_ring() {
            // The same handler in an actor group's kernel.
            let path = work.join(format!("{name}_group.cu"));
            let group = crate::ring::emit_group(&k, &EmitOptions::default()).unwrap();
            std::fs::write(&path, group.code).unwrap();
            files.push(path);
        }
    }
    let mut bad = Vec::new();
    for arch in ["sm_75", "sm_80", "sm_90"] {
        let mut opts: Vec<String> = NVRTC_FLAGS.iter().map(|f| f.to_string()).collect();
        opts.push(format!("-arch={arch}"));
        let out = Command::new(&driver)
            .arg(&builtins)
            .arg(dir.join("libnvrtc.so.13"))
            .arg(opts.len().to_string())
            .args(&opts)
            .args(&files)
            .env("LD_LIBRARY_PATH", &dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "NVRTC driver failed: {text}");
        let mut seen = 0;
        for entry in text.split("== ").skip(1) {
            seen += 1;
            let (head, log) = entry.split_once('\n').unwrap_or((entry, ""));
            let ok = head.ends_with(" 0");
            let lower = log.to_lowercase();
            if !ok || lower.contains("warning") || lower.contains("error") {
                bad.push(format!("{arch}: {head}\n{log}"));
            }
        }
        assert_eq!(seen, files.len(), "{arch}: {text}");
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
