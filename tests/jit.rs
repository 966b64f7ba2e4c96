//! The JIT pipeline without a GPU: precompiled kernels, a second process
//! that compiles nothing, dumps, and NVRTC errors that name the Rust line.
//!
//! Each scenario that depends on process-wide state (NVRTC loaded or not,
//! the disk cache folder) runs in a child process: this test binary re-runs
//! itself with `--ignored --exact <child test>` and a role in the environment.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use spindle::prelude::*;

#[kernel(mode = "batch")]
fn scale(k: f32, y: &mut [f32]) {
    let i = global_index();
    if i < y.len() {
        y[i] *= k;
    }
}

fn nvrtc_or_skip(test: &str) -> bool {
    match spindle_runtime::cuda::nvrtc_version() {
        Ok(_) => true,
        Err(e) => {
            let required = std::env::var("SPINDLE_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "SPINDLE_REQUIRE_NVRTC=1 but NVRTC is unavailable: {e}"
            );
            eprintln!("skipping `{test}`: {e}");
            false
        }
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "spindle-jit-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs child test `test` with `env`; returns its stderr after asserting success.
fn child(test: &str, env: &[(&str, &Path)], extra: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child `{test}` failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "child `{test}` ran no test:\n{stdout}"
    );
    stderr
}

fn trace_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

#[test]
fn precompiled_kernels_load_without_nvrtc() {
    if !nvrtc_or_skip("precompiled_kernels_load_without_nvrtc") {
        return;
    }
    let dir = temp_dir("precompile");
    let first = spindle::precompile(&dir, &["sm_80", "sm_90"]).unwrap();
    assert_eq!(first.compiled.len(), 2, "{first:?}");
    assert!(first.cached.is_empty(), "{first:?}");
    let second = spindle::precompile(&dir, &["sm_80", "sm_90"]).unwrap();
    assert!(
        second.compiled.is_empty(),
        "the second precompile compiled again: {second:?}"
    );
    assert_eq!(second.cached.len(), 2);

    let expected = spindle_runtime::cuda::compile_cubin("scale", &scale::cuda_source(), "sm_90")
        .unwrap()
        .cubin;
    let out = dir.join("child-cubin.bin");
    child(
        "child_loads_precompiled_without_nvrtc",
        &[("SPINDLE_CACHE_DIR", &dir), ("SPINDLE_JIT_OUT", &out)],
        &[("SPINDLE_NVRTC", "off")],
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        expected,
        "the precompiled CUBIN differs from a fresh compile"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "child process of precompiled_kernels_load_without_nvrtc"]
fn child_loads_precompiled_without_nvrtc() {
    let err = spindle_runtime::cuda::nvrtc_version().unwrap_err();
    assert!(
        matches!(
            err,
            spindle::Error::NvrtcUnavailable {
                why: spindle::Unavailable::NvrtcOff,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("SPINDLE_NVRTC=off"), "{err}");
    let cubin = spindle_runtime::cuda::cubin_for(&scale::KERNEL, "sm_90").unwrap();
    assert!(cubin.starts_with(b"\x7fELF"));
    std::fs::write(std::env::var_os("SPINDLE_JIT_OUT").unwrap(), &cubin).unwrap();
    // An architecture that was not precompiled: a clear error, not a crash.
    let err = spindle_runtime::cuda::cubin_for(&scale::KERNEL, "sm_86").unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            spindle::Error::NvrtcUnavailable {
                why: spindle::Unavailable::NvrtcOff,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("scale") && text.contains("sm_86") && text.contains("precompile"),
        "{text}"
    );
}

#[test]
fn a_second_process_compiles_nothing() {
    if !nvrtc_or_skip("a_second_process_compiles_nothing") {
        return;
    }
    let dir = temp_dir("second");
    let first = child("child_gets_cubin", &[("SPINDLE_CACHE_DIR", &dir)], &[]);
    assert!(
        first.contains("compiled with NVRTC"),
        "first process did not compile:\n{first}"
    );
    assert!(first.contains("disk cache miss"), "{first}");
    let second = child("child_gets_cubin", &[("SPINDLE_CACHE_DIR", &dir)], &[]);
    assert!(
        !second.contains("compiled with NVRTC"),
        "second process compiled again:\n{second}"
    );
    assert!(second.contains("disk cache hit"), "{second}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "child process of a_second_process_compiles_nothing"]
fn child_gets_cubin() {
    trace_to_stderr();
    let cubin = spindle_runtime::cuda::cubin_for(&scale::KERNEL, "sm_90").unwrap();
    assert!(cubin.starts_with(b"\x7fELF"));
}

#[test]
fn dump_dir_holds_source_log_and_resources() {
    if !nvrtc_or_skip("dump_dir_holds_source_log_and_resources") {
        return;
    }
    let dir = temp_dir("dump");
    let cache = temp_dir("dump-cache");
    child(
        "child_gets_cubin",
        &[("SPINDLE_DUMP_DIR", &dir), ("SPINDLE_CACHE_DIR", &cache)],
        &[],
    );
    let cu = std::fs::read_to_string(dir.join("scale.cu")).unwrap();
    assert!(cu.contains("spindle_scale"), "{cu}");
    assert!(
        cu.contains("#line") && cu.contains("tests/jit.rs"),
        "no #line to the Rust file:\n{cu}"
    );
    let log = std::fs::read_to_string(dir.join("scale.sm_90.log")).unwrap();
    assert!(log.contains("registers"), "{log}");
    let res = std::fs::read_to_string(dir.join("scale.sm_90.resources.txt")).unwrap();
    assert!(res.contains("registers") && res.contains("spill"), "{res}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn nvrtc_errors_name_the_rust_line() {
    if !nvrtc_or_skip("nvrtc_errors_name_the_rust_line") {
        return;
    }
    // Break the generated code right after the `#line` of the kernel's
    // `y[i] *= k;` statement, as a miscompiled construct would.
    let source = scale::cuda_source();
    let rust_line = include_str!("jit.rs")
        .lines()
        .position(|l| l.trim() == "y[i] *= k;")
        .unwrap()
        + 1;
    let marker = format!("#line {rust_line} \"");
    let at = source
        .find(&marker)
        .unwrap_or_else(|| panic!("no `{marker}` in:\n{source}"));
    let eol = at + source[at..].find('\n').unwrap() + 1;
    let broken = format!("{}this_is_not_cuda;\n{}", &source[..eol], &source[eol..]);
    let err = spindle_runtime::cuda::compile_cubin("scale", &broken, "sm_90").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, spindle::Error::Compile { .. }), "{text}");
    assert!(
        text.contains(&format!("jit.rs({rust_line})"))
            || text.contains(&format!("jit.rs:{rust_line}")),
        "{text}"
    );
    // The excerpt quotes the Rust line when the source file is readable (it
    // is not in a test bundle carried to a GPU machine).
    if Path::new("tests/jit.rs").exists() {
        assert!(
            text.contains("y[i] *= k;"),
            "the excerpt does not show the Rust line:\n{text}"
        );
    }
}
