//! The harness of the host-compiled ring tests (`ring_host_compiled.rs`,
//! `ring_host_batches.rs`): the generated persistent ring kernel — the
//! emitter's handler plus the ring loop, exactly the text NVRTC gets —
//! compiled as host C++ by g++ against `ring_host_shim.h` into a shared
//! library, and run as one block of real OS threads against the REAL Rust
//! host side (`Actor`, over a real memory region).
//!
//! `SPINDLE_RING_TSAN=1` builds the kernels with ThreadSanitizer
//! ([`run_under_thread_sanitizer`] runs a test binary that way). Every
//! test skips, saying why, when g++ is missing.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libloading::Library;
use spindle_codegen::abi::FaultRecord;
use spindle_codegen::cuda::EmitOptions;
use spindle_codegen::ir::Kernel;
use spindle_codegen::ring::emit_ring;
use spindle_runtime::ring::{Executor, ExecutorDeath, RawRegion, RingMemory};
use spindle_runtime::{Actor, DeviceType, Error, RingConfig};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, spindle_macros::DeviceType)]
pub struct Tally {
    pub count: u32,
    pub sum: f32,
}

/// `spindle_host_ring_run(threads, ctl, requests, replies, state, state_out, fault)`.
type RunRing = unsafe extern "C" fn(u32, *mut u8, *mut u8, *mut u8, *mut u8, *mut u8, *mut u8);

/// A ring kernel compiled as host C++ and loaded.
pub struct HostKernel {
    pub ir: Arc<Kernel>,
    /// The block the kernel runs as (`RingKernelSource::block_threads`).
    pub block_threads: u32,
    lib: Library,
}

pub fn tsan() -> bool {
    std::env::var("SPINDLE_RING_TSAN").is_ok_and(|v| v == "1")
}

pub fn gxx_available() -> bool {
    Command::new("g++")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn build_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "spindle-ring-host-{}{}",
        std::process::id(),
        if tsan() { "-tsan" } else { "" }
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Emits `k`'s ring kernel, compiles it with g++ and loads it (once per
/// kernel label and process).
pub fn host_kernel(label: &str, k: Kernel) -> Option<Arc<HostKernel>> {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<HostKernel>>>> = OnceLock::new();
    if !gxx_available() {
        println!("SKIPPED: g++ is not available to compile the ring kernel as host C++");
        return None;
    }
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = built.get(label) {
        return Some(h.clone());
    }
    let src = emit_ring(&k, &EmitOptions::default()).unwrap();
    let dir = build_dir();
    let unit = dir.join(format!("{label}.cpp"));
    let code = format!(
        "{}\n\nextern \"C\" void spindle_host_ring_run(unsigned int threads, unsigned char* ctl, unsigned char* requests, unsigned char* replies, unsigned char* state, unsigned char* state_out, unsigned char* fault) {{\n  auto body = [=] {{ {}((SpindleRingControl*)ctl, requests, replies, ({s}*)state, ({s}*)state_out, (SpindleFault*)fault); }};\n  spindle_host_run_block(1u, threads, 0u, body);\n}}\n",
        src.code,
        src.entry,
        s = src.state_type
    );
    std::fs::write(&unit, code).unwrap();
    let lib = dir.join(format!("lib{label}.so"));
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host-shims/ring_host_shim.h");
    let mut cmd = Command::new("g++");
    cmd.args([
        "-std=c++17",
        "-shared",
        "-fPIC",
        "-pthread",
        "-g",
        "-Wall",
        "-Wno-unused-function",
    ])
    .args(if tsan() {
        &["-O1", "-fsanitize=thread"][..]
    } else {
        &["-O2"][..]
    })
    .arg("-include")
    .arg(&shim)
    .arg(&unit)
    .arg("-o")
    .arg(&lib);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "g++ failed on {}:\n{}",
        unit.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        !warnings.contains("warning"),
        "g++ warned on {}:\n{warnings}",
        unit.display()
    );
    // SAFETY: a library we just built; its initialisers only set up
    // thread_locals and statics.
    let lib = unsafe { Library::new(&lib) }.unwrap();
    let h = Arc::new(HostKernel {
        ir: Arc::new(k),
        block_threads: src.block_threads,
        lib,
    });
    built.insert(label.to_string(), h.clone());
    Some(h)
}

/// One actor at a time: the shim keeps `__shared__` variables in statics.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The host-compiled kernel as an actor's executor: one Rust thread runs
/// `spindle_host_ring_run` (which runs the block's threads and returns
/// when the kernel does). State and fault record play device memory.
struct HostExecutor {
    thread: Option<JoinHandle<()>>,
    /// The kernel's `SpindleFault` (device memory on a GPU): a leaked box,
    /// read only once the kernel thread is joined, freed on drop after it.
    fault: usize,
}

impl HostExecutor {
    fn start(
        kernel: Arc<HostKernel>,
        threads: u32,
        region: Arc<RawRegion>,
        init: &[u8],
        gate: u32,
    ) -> spindle_runtime::Result<Box<dyn Executor>> {
        *LAST_REGION.lock().unwrap_or_else(|p| p.into_inner()) = Some(region.clone());
        let fault = Box::into_raw(Box::new(FaultRecord::default())) as usize;
        let fault_ptr = fault;
        let mut state = vec![0u64; init.len().div_ceil(8)];
        // SAFETY: `state` has at least init.len() bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                init.as_ptr(),
                state.as_mut_ptr().cast::<u8>(),
                init.len(),
            )
        };
        let thread = std::thread::spawn(move || {
            let layout = *region.layout();
            let base = region.base();
            // The gate: the kernel starts once the host has published
            // `gate` requests, so its first poll finds all of them.
            if gate > 0 {
                let last = layout.request_offset
                    + ((gate - 1) & (layout.capacity - 1)) as usize * layout.request.stride;
                while region.load(last, Ordering::Acquire) != gate {
                    std::thread::yield_now();
                }
            }
            // SAFETY: the symbol has this signature (generated above); every
            // pointer lies in memory that outlives the call: the region (we
            // hold an Arc), `state` (owned by this closure) and the fault
            // record (freed only after this thread is joined).
            unsafe {
                let run: libloading::Symbol<'_, RunRing> =
                    kernel.lib.get(b"spindle_host_ring_run\0").unwrap();
                run(
                    threads,
                    base,
                    base.add(layout.request_offset),
                    base.add(layout.reply_offset),
                    state.as_mut_ptr().cast::<u8>(),
                    base.add(layout.state_out_offset),
                    fault_ptr as *mut u8,
                );
            }
        });
        Ok(Box::new(HostExecutor {
            thread: Some(thread),
            fault,
        }))
    }

    /// The fault record; only once the kernel thread is joined.
    fn record(&self) -> FaultRecord {
        assert!(self.thread.is_none(), "the kernel still runs");
        // SAFETY: the box lives until drop; the kernel's writes happened
        // before the join.
        unsafe { *(self.fault as *const FaultRecord) }
    }

    fn join_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(t) = &self.thread {
            if t.is_finished() {
                self.thread.take().unwrap().join().unwrap();
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

impl Drop for HostExecutor {
    fn drop(&mut self) {
        if self.thread.is_none() {
            // SAFETY: from Box::into_raw in `start`; the kernel is done.
            drop(unsafe { Box::from_raw(self.fault as *mut FaultRecord) });
        }
    }
}

impl Executor for HostExecutor {
    fn check_alive(&mut self) -> Result<(), ExecutorDeath> {
        match &self.thread {
            Some(t) if !t.is_finished() => Ok(()),
            _ => {
                self.join_within(Duration::from_secs(1));
                let rec = self.record();
                if rec.flag != 0 {
                    Err(ExecutorDeath::Fault(rec))
                } else {
                    Err(ExecutorDeath::Other(
                        "the host-compiled kernel returned without publishing `exited`".into(),
                    ))
                }
            }
        }
    }

    fn fault_record(&mut self, timeout: Duration) -> Option<FaultRecord> {
        self.join_within(timeout).then(|| self.record())
    }

    fn failure(&mut self, code: u32) -> Error {
        Error::ActorStopped {
            kernel: "host-compiled".into(),
            reason: format!("error code {code}"),
        }
    }

    fn finish(&mut self, exited: bool) -> bool {
        // After `exited` the kernel returns at once; otherwise wait a little,
        // and if it still runs, the region must not be freed.
        self.join_within(if exited {
            Duration::from_secs(30)
        } else {
            Duration::from_millis(100)
        })
    }
}

pub fn spawn<S: DeviceType, M: DeviceType, R: DeviceType>(
    kernel: &Arc<HostKernel>,
    init: S,
    config: RingConfig,
) -> Actor<S, M, R> {
    spawn_threads(kernel, kernel.ir.threads, init, config).unwrap()
}

/// With `threads` possibly different from the kernel's (the layout check).
pub fn spawn_threads<S: DeviceType, M: DeviceType, R: DeviceType>(
    kernel: &Arc<HostKernel>,
    threads: u32,
    init: S,
    config: RingConfig,
) -> spindle_runtime::Result<Actor<S, M, R>> {
    spawn_gated(kernel, threads, init, config, 0)
}

/// An actor whose kernel starts only once the host has published `gate`
/// requests (0: at once), so that its first poll takes them as one batch.
/// Returns the actor and its region, for checks of the shared words.
pub fn spawn_batched<S: DeviceType, M: DeviceType, R: DeviceType>(
    kernel: &Arc<HostKernel>,
    init: S,
    config: RingConfig,
    gate: u32,
) -> (Actor<S, M, R>, Arc<RawRegion>) {
    let a = spawn_gated(kernel, kernel.ir.threads, init, config, gate).unwrap();
    let region = LAST_REGION
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .expect("the executor recorded its region");
    (a, region)
}

fn spawn_gated<S: DeviceType, M: DeviceType, R: DeviceType>(
    kernel: &Arc<HostKernel>,
    threads: u32,
    init: S,
    config: RingConfig,
    gate: u32,
) -> spindle_runtime::Result<Actor<S, M, R>> {
    let k = kernel.clone();
    let launch_threads = kernel.block_threads;
    Actor::spawn_with_executor(
        &kernel.ir.name,
        init,
        config,
        threads,
        Some(kernel.ir.clone()),
        move |region, init| HostExecutor::start(k, launch_threads, region, init, gate),
    )
}

/// The region of the executor started last (actors run one at a time).
static LAST_REGION: Mutex<Option<Arc<RawRegion>>> = Mutex::new(None);

/// Runs this test binary again under ThreadSanitizer (g++'s libtsan
/// preloaded, every kernel rebuilt with `-fsanitize=thread`), skipping the
/// test that calls it, and checks that it passed without a report.
pub fn run_under_thread_sanitizer(this_test: &str) {
    if tsan() {
        return; // the child process itself
    }
    if !gxx_available() {
        println!("SKIPPED: g++ is not available");
        return;
    }
    let libtsan = Command::new("g++")
        .arg("-print-file-name=libtsan.so")
        .output()
        .unwrap();
    let libtsan = String::from_utf8_lossy(&libtsan.stdout).trim().to_string();
    if !Path::new(&libtsan).exists() {
        println!("SKIPPED: no libtsan for g++ ({libtsan:?})");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--test-threads=1", "--skip", this_test])
        .env("SPINDLE_RING_TSAN", "1")
        .env("LD_PRELOAD", &libtsan)
        .env(
            "TSAN_OPTIONS",
            "halt_on_error=1 exitcode=66 report_signal_unsafe=0 ignore_noninstrumented_modules=1",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ThreadSanitizer"),
        "the host-compiled ring kernels under ThreadSanitizer failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("test result: ok"), "{stdout}");
    println!("ThreadSanitizer run passed:\n{stdout}");
}

pub fn config(capacity: usize) -> RingConfig {
    RingConfig::default()
        .capacity(capacity)
        .timeout(Duration::from_secs(60))
        .idle_sleep(Duration::from_micros(2))
}
