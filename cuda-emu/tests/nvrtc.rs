//! The NVRTC stand-in: NVRTC's own results, the host build carried in the
//! image (so a second process runs from spindle's disk cache without any
//! compiler), and a program the host compiler cannot build.

mod common;

use std::path::PathBuf;

use spindle::prelude::*;
use spindle::Error;

#[kernel(mode = "batch")]
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] = a * x[i] + y[i];
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spindle-emu-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Three processes: the first compiles; the second, with spindle's disk
/// cache and no C++ compiler at all, runs the cached image; the third,
/// with a fresh disk cache (NVRTC compiles again) and no compiler, gets
/// the host build from the stand-in's own cache.
#[test]
fn a_process_without_a_compiler_runs_cached_images() {
    let spindle_cache = temp_dir("spindle-cache");
    let host_cache = temp_dir("host-cache");
    // A PATH where no compiler is found.
    let no_tools = temp_dir("no-tools");
    let path = std::env::var("PATH").unwrap_or_default();
    let (sc, hc) = (
        spindle_cache.to_str().unwrap(),
        host_cache.to_str().unwrap(),
    );
    let env = |path: &'static str| {
        vec![
            ("SPINDLE_CACHE_DIR", sc),
            ("SPINDLE_EMU_CACHE_DIR", hc),
            ("PATH", path),
            ("SPINDLE_EMU_LOG", "1"),
        ]
    };
    let (with, without): (&'static str, &'static str) = (
        Box::leak(path.into_boxed_str()),
        Box::leak(no_tools.to_str().unwrap().to_string().into_boxed_str()),
    );
    let Some(first) = common::child("axpy_child", &env(with)) else {
        return;
    };
    first.assert_passed();
    assert!(
        first.stderr.contains("host build:"),
        "the first process compiles:\n{}",
        first.stderr
    );
    let second = common::child("axpy_child", &env(without)).unwrap();
    second.assert_passed();
    assert!(!second.stderr.contains("host build"), "{}", second.stderr);
    // A fresh spindle cache: NVRTC compiles again, the host build comes
    // from the stand-in's own cache.
    let other_cache = temp_dir("spindle-cache-2");
    let mut fresh = env(without);
    fresh[0].1 = other_cache.to_str().unwrap();
    let third = common::child("axpy_child", &fresh).unwrap();
    third.assert_passed();
    assert!(third.stderr.contains("cached"), "{}", third.stderr);
    for d in [spindle_cache, host_cache, other_cache, no_tools] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
#[ignore = "child of a_process_without_a_compiler_runs_cached_images"]
fn axpy_child() {
    assert!(common::in_child());
    let dev = Device::cuda(0).unwrap();
    let x = dev.upload(&[1.0f32, 2.0, 3.0]).unwrap();
    let mut y = dev.upload(&[10.0f32; 3]).unwrap();
    axpy::launch(&dev, Launch::for_elements(3), 2.0, &x, &mut y).unwrap();
    assert_eq!(y.to_vec().unwrap(), vec![12.0, 14.0, 16.0]);
}

child_test!(nvrtc_errors_are_nvrtcs_own, compile_error_child,
env: [("SPINDLE_EMU_LOG", "1")],
check: |out| {
    out.assert_passed();
    // One host build: of the good program only.
    let builds = out.stderr.lines().filter(|l| l.contains("host build")).count();
    assert_eq!(builds, 1, "{}", out.stderr);
});

#[test]
#[ignore = "child of nvrtc_errors_are_nvrtcs_own"]
fn compile_error_child() {
    assert!(common::in_child());
    let src = "extern \"C\" __global__ void spindle_bad(float* x) {\n  x[0] = undefined_name;\n}\n";
    match spindle_runtime::cuda::compile_cubin("bad", src, "sm_90") {
        Err(Error::Compile { log, excerpt, .. }) => {
            assert!(
                log.contains("identifier \"undefined_name\" is undefined"),
                "{log}"
            );
            assert!(excerpt.contains("x[0] = undefined_name;"), "{excerpt}");
        }
        other => panic!("expected NVRTC's compile error, got {other:?}"),
    }
    // A good program: NVRTC's CUBIN, one section longer, and the report.
    let ok = "extern \"C\" __global__ void spindle_ok(float* x) { x[threadIdx.x] *= 2.0f; }\n";
    let m = spindle_runtime::cuda::compile_cubin("ok", ok, "sm_90").unwrap();
    assert!(m.cubin.starts_with(b"\x7fELF"));
    assert!(
        m.log.contains("Function properties for spindle_ok"),
        "NVRTC's log: {}",
        m.log
    );
    assert!(m.resources.function("spindle_ok").is_some());
}

child_test!(a_program_the_host_cannot_build_fails_to_load, host_build_fails_child,
env: [],
check: |out| {
    out.assert_passed();
    assert!(out.stderr.contains("could not be built as host code"), "{}", out.stderr);
    assert!(out.stderr.contains("spindle_unportable"), "g++'s message is shown:\n{}", out.stderr);
});

#[test]
#[ignore = "child of a_program_the_host_cannot_build_fails_to_load"]
fn host_build_fails_child() {
    let ctx = common::raw::context();
    // `__ldg` exists in CUDA, not in the host shims.
    let src = "extern \"C\" __global__ void spindle_unportable(const float* x, float* y) { y[0] = __ldg(x); }\n";
    let cubin = spindle_runtime::cuda::compile_cubin("unportable", src, "sm_90")
        .unwrap()
        .cubin;
    let loaded = ctx.load_module(cudarc::nvrtc::Ptx::from_binary(cubin));
    assert_eq!(
        common::raw::code(loaded),
        cudarc::driver::sys::CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU
    );
}
