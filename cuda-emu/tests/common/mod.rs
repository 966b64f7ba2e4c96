//! Running a test's body in a child process that uses the stand-in as its
//! CUDA driver and NVRTC (the loader reads `LD_LIBRARY_PATH` only at
//! start-up, and injected faults and sticky errors are per process).
//!
//! Each test `name` has a child half `name_child`, `#[ignore]`d so that it
//! runs only when its parent starts it. The stand-in library is the one
//! cargo built for this test run (next to the test binary); the real NVRTC
//! comes from `SPINDLE_EMU_REAL_NVRTC_DIR`, `SPINDLE_NVRTC_DIR` or the
//! workspace's `.nvrtc`. Without NVRTC or g++ the tests skip, saying why,
//! unless `SPINDLE_REQUIRE_NVRTC=1` (CI), where they fail.
#![allow(dead_code)]

pub mod raw;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// What a child printed and how it ended.
pub struct Child {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Child {
    /// Fails the test with everything the child printed unless it passed.
    pub fn assert_passed(&self) {
        assert!(
            self.ok && self.stdout.contains("1 passed"),
            "the child failed:\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }

    /// Both streams, for searching.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn has_nvrtc(dir: &Path) -> bool {
    dir.join("libnvrtc.so.13").is_file()
}

/// The real NVRTC's folder.
fn real_nvrtc() -> Option<PathBuf> {
    let ours = |d: &Path| d.join("libspindle_cuda_emu.so").exists();
    ["SPINDLE_EMU_REAL_NVRTC_DIR", "SPINDLE_NVRTC_DIR"]
        .iter()
        .filter_map(|v| std::env::var_os(v).map(PathBuf::from))
        .chain(std::iter::once(workspace().join(".nvrtc/nvidia/cu13/lib")))
        .find(|d| has_nvrtc(d) && !ours(d))
}

/// The stand-in cargo built for this run, installed under the driver's and
/// NVRTC's names in a folder of its own.
fn stand_in() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // cargo builds the package's cdylib for its tests into deps/, next to
    // the test binary (target/<profile>/ holds whatever `cargo build` put
    // there last).
    let deps = exe.parent().unwrap();
    let profile_dir = deps.parent().unwrap();
    let lib = deps.join("libspindle_cuda_emu.so");
    assert!(lib.is_file(), "cargo did not build {}", lib.display());
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = profile_dir.join(format!("cuda-emu-test-lib-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in [
        "libcuda.so",
        "libcuda.so.1",
        "libnvrtc.so",
        "libnvrtc.so.13",
    ] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&lib, &link).unwrap();
    }
    dir
}

/// `true` in a child started by [`child`].
pub fn in_child() -> bool {
    std::env::var("SPINDLE_EMU_TEST_CHILD").is_ok_and(|v| v == "1")
}

/// Runs test `name` (the `_child` half of the caller) in a child process
/// under the stand-in with `env` added; `None` (after saying why) when the
/// stand-in cannot run here.
pub fn child(name: &str, env: &[(&str, &str)]) -> Option<Child> {
    let required = std::env::var("SPINDLE_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
    let skip = |why: String| {
        assert!(!required, "SPINDLE_REQUIRE_NVRTC=1 but {why}");
        eprintln!("SKIPPED {name}: {why}");
        None
    };
    let Some(real) = real_nvrtc() else {
        return skip("the real NVRTC was not found (run scripts/nvrtc-env.sh)".into());
    };
    if !Command::new("g++")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return skip("g++ is not available".into());
    }
    let lib = stand_in();
    let target = lib.parent().unwrap().parent().unwrap().to_path_buf();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("SPINDLE_EMU_TEST_CHILD", "1")
    .env(
        "LD_LIBRARY_PATH",
        format!("{}:{}", lib.display(), real.display()),
    )
    .env("SPINDLE_NVRTC_DIR", &lib)
    .env("SPINDLE_EMU_REAL_NVRTC_DIR", &real)
    .env("SPINDLE_EMU_CACHE_DIR", target.join("cuda-emu/host-cache"))
    .env("SPINDLE_CACHE_DIR", target.join("cuda-emu/spindle-cache"))
    .env_remove("SPINDLE_BACKEND")
    .env("RUST_BACKTRACE", "1");
    for v in [
        "CUDA_MODULE_LOADING",
        "SPINDLE_EMU_FAIL_ALLOC",
        "SPINDLE_EMU_FAIL_LAUNCH",
        "SPINDLE_EMU_ILLEGAL_ADDRESS",
        "SPINDLE_EMU_HANG_KERNEL",
        "SPINDLE_EMU_HANG_MS",
        "SPINDLE_EMU_LOG_FILE",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir_all(&lib);
    Some(Child {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: started.elapsed(),
    })
}

/// Declares test `$name`, which runs `$child` (the body) in a child
/// process with the environment `$env`, then checks the child with
/// `$check` (given the [`Child`]).
#[macro_export]
macro_rules! child_test {
    ($name:ident, $child:ident, env: [$($pair:expr),* $(,)?], check: $check:expr) => {
        #[test]
        fn $name() {
            let env: &[(&str, &str)] = &[$($pair),*];
            let Some(out) = common::child(stringify!($child), env) else {
                return;
            };
            let check: fn(&common::Child) = $check;
            check(&out);
        }
    };
}
