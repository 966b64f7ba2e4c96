//! Host-compiled CUDA (DESIGN.md §7.3): the generated persistent ring kernel
//! — the emitter's handler plus the ring loop, exactly the text NVRTC gets —
//! compiled as host C++ by g++ against `ring_host_shim.h` into a shared
//! library, and run as one block of real OS threads against the REAL Rust
//! host side (`Actor`, over a real memory region). This checks the device
//! loop's protocol logic and the emitted text with real concurrency:
//! ordering, full rings on both sides, drain, abort, the state write-back,
//! faults with and without surviving threads, and the layout check.
//!
//! `SPINDLE_RING_TSAN=1` builds the kernels with ThreadSanitizer; the
//! `under_thread_sanitizer` test does that in a child process with libtsan
//! preloaded. Every test skips, saying why, when g++ is missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libloading::Library;
use spindle_codegen::abi::FaultRecord;
use spindle_codegen::cuda::EmitOptions;
use spindle_codegen::ir::Kernel;
use spindle_codegen::layout::{FieldLayout, StructLayout, TypeDesc};
use spindle_codegen::ring::{emit_ring, samples};
use spindle_runtime::ring::{Executor, ExecutorDeath, RawRegion};
use spindle_runtime::{Actor, DeviceType, Error, RingConfig};

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Tally {
    count: u32,
    sum: f32,
}

static TALLY_FIELDS: [FieldLayout; 2] = [
    FieldLayout {
        name: "count",
        offset: 0,
        ty: &<u32 as DeviceType>::DESC,
    },
    FieldLayout {
        name: "sum",
        offset: 4,
        ty: &<f32 as DeviceType>::DESC,
    },
];
static TALLY_LAYOUT: StructLayout = StructLayout {
    name: "Tally",
    size: 8,
    align: 4,
    fields: &TALLY_FIELDS,
};
// SAFETY: repr(C) { u32, f32 } at offsets 0 and 4, as TALLY_LAYOUT says;
// every bit pattern is a valid value.
unsafe impl DeviceType for Tally {
    const DESC: TypeDesc = TypeDesc::Struct(&TALLY_LAYOUT);
}

/// `spindle_host_ring_run(threads, ctl, requests, replies, state, state_out, fault)`.
type RunRing = unsafe extern "C" fn(u32, *mut u8, *mut u8, *mut u8, *mut u8, *mut u8, *mut u8);

/// A ring kernel compiled as host C++ and loaded.
struct HostKernel {
    ir: Arc<Kernel>,
    lib: Library,
}

fn tsan() -> bool {
    std::env::var("SPINDLE_RING_TSAN").is_ok_and(|v| v == "1")
}

fn gxx_available() -> bool {
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
fn host_kernel(label: &str, k: Kernel) -> Option<Arc<HostKernel>> {
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
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ring_host_shim.h");
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
        lib,
    });
    built.insert(label.to_string(), h.clone());
    Some(h)
}

/// One actor at a time: the shim keeps `__shared__` variables in statics.
fn serial() -> std::sync::MutexGuard<'static, ()> {
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
    ) -> spindle_runtime::Result<Box<dyn Executor>> {
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

fn spawn<S: DeviceType, M: DeviceType, R: DeviceType>(
    kernel: &Arc<HostKernel>,
    init: S,
    config: RingConfig,
) -> Actor<S, M, R> {
    spawn_threads(kernel, kernel.ir.threads, init, config).unwrap()
}

/// With `threads` possibly different from the kernel's (the layout check).
fn spawn_threads<S: DeviceType, M: DeviceType, R: DeviceType>(
    kernel: &Arc<HostKernel>,
    threads: u32,
    init: S,
    config: RingConfig,
) -> spindle_runtime::Result<Actor<S, M, R>> {
    let k = kernel.clone();
    let launch_threads = kernel.ir.threads;
    Actor::spawn_with_executor(
        &kernel.ir.name,
        init,
        config,
        threads,
        Some(kernel.ir.clone()),
        move |region, init| HostExecutor::start(k, launch_threads, region, init),
    )
}

fn config(capacity: usize) -> RingConfig {
    RingConfig::default()
        .capacity(capacity)
        .timeout(Duration::from_secs(60))
        .idle_sleep(Duration::from_micros(2))
}

fn tally_step(s: &mut Tally, v: f32) -> Tally {
    s.count += 1;
    s.sum += v;
    *s
}

#[test]
fn tally_random_bursts_in_order_and_exact_state() {
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let total = if tsan() { 3_000 } else { 60_000 };
    let mut sent = 0;
    while sent < total {
        let capacity = 1usize << rng.u32(0..=7);
        let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config(capacity));
        let mut model = Tally::default();
        let mut expected = std::collections::VecDeque::new();
        for _ in 0..rng.usize(1..40) {
            match rng.u32(0..4) {
                0 => {
                    for _ in 0..rng.usize(1..=3 * capacity) {
                        let v = rng.u32(0..1000) as f32;
                        expected.push_back(tally_step(&mut model, v));
                        actor.send(v).unwrap();
                        sent += 1;
                    }
                }
                1 => {
                    for _ in 0..rng.usize(0..=expected.len()) {
                        assert_eq!(actor.recv().unwrap(), expected.pop_front().unwrap());
                    }
                }
                2 => {
                    let v = rng.u32(0..1000) as f32;
                    let want = tally_step(&mut model, v);
                    assert_eq!(actor.call(v).unwrap(), want);
                    sent += 1;
                }
                _ => match actor.try_send(1.0) {
                    Ok(()) => {
                        expected.push_back(tally_step(&mut model, 1.0));
                        sent += 1;
                    }
                    Err(Error::Full { capacity: c, .. }) => assert_eq!(c, capacity),
                    Err(e) => panic!("{e}"),
                },
            }
        }
        if rng.bool() {
            while let Some(want) = expected.pop_front() {
                assert_eq!(actor.recv().unwrap(), want);
            }
        }
        assert_eq!(actor.shutdown().unwrap(), model);
    }
}

#[test]
fn block_of_32_threads_updates_array_state() {
    let Some(k) = host_kernel("lanes32", samples::lanes(32)) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 32], u32, u32> = spawn(&k, [0u32; 32], config(8));
    let mut model = [0u32; 32];
    let n = if tsan() { 300 } else { 3_000 };
    for m in 0..n {
        for (i, s) in model.iter_mut().enumerate() {
            *s = s.wrapping_add(m + i as u32);
        }
        if m % 3 == 0 {
            assert_eq!(actor.call(m).unwrap(), model[0]);
        } else {
            actor.send(m).unwrap();
        }
    }
    assert_eq!(actor.shutdown().unwrap(), model);
}

/// A 64-thread handler written in Rust and linked by the front end: warp
/// shuffles reduce each warp, the warps meet in a block-shared array behind
/// a barrier, and every thread bumps the state with an atomic.
fn warp_reduce_kernel() -> Kernel {
    const SRC: &str = "fn warp_reduce(state: &mut [u32; 2], msg: u32) -> u32 {
        let warp_sums = shared_array::<u32, 2>();
        let t = thread_idx().x;
        let mut v = msg.wrapping_mul(t + 1);
        let mut delta = 16;
        while delta > 0 {
            v = v.wrapping_add(warp_shuffle_down(v, delta));
            delta /= 2;
        }
        if lane_id() == 0 {
            warp_sums[(t / 32) as usize] = v;
        }
        sync_threads();
        atomic_add(&mut state[1], 1);
        let total = warp_sums[0].wrapping_add(warp_sums[1]);
        if t == 0 {
            state[0] = state[0].wrapping_add(total);
        }
        total
    }";
    let item = spindle_codegen::ItemSource {
        name: "warp_reduce",
        source: SRC,
        file: "runtime/tests/ring_host_compiled.rs",
        line: 1,
        consts: &[],
    };
    let options = spindle_codegen::KernelOptions {
        threads: 64,
        ..spindle_codegen::KernelOptions::new(spindle_codegen::KernelMode::Ring)
    };
    spindle_codegen::link(&item, &options, &[], &[]).expect("warp_reduce links")
}

#[test]
fn block_of_64_threads_with_shuffles_barriers_and_atomics() {
    let Some(k) = host_kernel("warp_reduce64", warp_reduce_kernel()) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 2], u32, u32> = spawn(&k, [0u32; 2], config(8));
    let mut model = [0u32; 2];
    let n: u32 = if tsan() { 100 } else { 1_000 };
    // Thread t contributes msg * (t + 1): the block's total is msg * 2080.
    for m in 0..n {
        let msg = m.wrapping_mul(2_654_435_761);
        let total = msg.wrapping_mul(2080);
        model[0] = model[0].wrapping_add(total);
        model[1] += 64;
        if m % 4 == 0 {
            assert_eq!(actor.call(msg).unwrap(), total, "message {m}");
        } else {
            actor.send(msg).unwrap();
        }
    }
    assert_eq!(actor.shutdown().unwrap(), model);
}

fn assert_fault(e: &Error, index: u64, thread: u32) {
    match e {
        Error::OutOfBounds {
            kernel,
            what,
            index: i,
            len,
            thread: t,
            ..
        } => {
            assert_eq!(kernel, "faulty");
            assert_eq!(what, "state");
            assert_eq!((*i, *len), (index, 4));
            assert_eq!(*t, [thread, 0, 0]);
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
}

#[test]
fn a_fault_with_no_surviving_thread_is_reported_from_the_record() {
    // One handler thread: it exits on the fault, nobody publishes; the host
    // notices the kernel ended and reads the fault record.
    let Some(k) = host_kernel("faulty1", samples::faulty(1)) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(4));
    assert_eq!(actor.call(2).unwrap(), 2);
    let e = actor.call(9).unwrap_err();
    assert_fault(&e, 9, 0);
    for _ in 0..3 {
        let again = actor.call(1).unwrap_err();
        assert_eq!(again.to_string(), e.to_string());
    }
    assert!(actor.try_send(1).is_err());
    assert_eq!(actor.shutdown().unwrap_err().to_string(), e.to_string());
}

#[test]
fn a_fault_in_one_of_32_threads_is_reported_by_a_survivor() {
    let Some(k) = host_kernel("faulty32", samples::faulty(32)) else {
        return;
    };
    let _one = serial();
    // Thread 7 faults; thread 0 (the polling lane) survives.
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(4));
    assert_eq!(actor.call(3001).unwrap(), 3001);
    let e = actor.call(7005).unwrap_err();
    assert_fault(&e, 5, 7);
    assert_eq!(actor.recv().unwrap_err().to_string(), e.to_string());
    drop(actor);
    // Thread 0, the polling lane itself, faults: the others report it.
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(4));
    actor.send(1).unwrap();
    actor.send(4).unwrap();
    let e = actor.recv().and_then(|_| actor.recv()).unwrap_err();
    assert_fault(&e, 4, 0);
}

#[test]
fn faulty_handler_without_faults_keeps_exact_state() {
    let Some(k) = host_kernel("faulty32", samples::faulty(32)) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<[u32; 4], u32, u32> = spawn(&k, [0; 4], config(2));
    let mut model = [0u32; 4];
    for m in 0..400u32 {
        let (t, j) = (m % 32, m % 4);
        let msg = t * 1000 + j;
        model[j as usize] += 1;
        actor.send(msg).unwrap();
    }
    for m in 0..400u32 {
        assert_eq!(actor.recv().unwrap(), (m % 32) * 1000 + m % 4);
    }
    assert_eq!(actor.shutdown().unwrap(), model);
}

#[test]
fn shutdown_drains_without_recv_and_drop_aborts_quickly() {
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config(4));
    for _ in 0..1000 {
        actor.send(0.5).unwrap();
    }
    assert_eq!(
        actor.shutdown().unwrap(),
        Tally {
            count: 1000,
            sum: 500.0
        }
    );

    let start = Instant::now();
    let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config(2));
    for _ in 0..2 {
        actor.send(1.0).unwrap();
    }
    // Nobody receives: the reply ring fills and the kernel waits for room
    // when the abort arrives.
    std::thread::sleep(Duration::from_millis(20));
    drop(actor);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "drop took {:?}",
        start.elapsed()
    );
}

#[test]
fn a_stop_right_after_a_send_never_loses_it() {
    // The drain rule: after reading `stop` the kernel polls the ring once
    // more. With a spinning kernel, a stop that lands between its empty
    // poll and its read of `stop` is common; repeat to hit it.
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    let rounds = if tsan() { 30 } else { 300 };
    for round in 0..rounds {
        let config = config(2).idle_sleep(Duration::ZERO);
        let mut actor: Actor<Tally, f32, Tally> = spawn(&k, Tally::default(), config);
        actor.call(0.0).unwrap();
        actor.send(1.0).unwrap();
        assert_eq!(actor.shutdown().unwrap().count, 2, "round {round}");
    }
}

#[test]
fn a_config_the_kernel_was_not_built_for_is_refused() {
    let Some(k) = host_kernel("tally", samples::tally()) else {
        return;
    };
    let _one = serial();
    // The host says 2 threads, the block has 1: the kernel's config check
    // fails and it exits with ERROR_LAYOUT.
    let mut actor = spawn_threads::<Tally, f32, Tally>(&k, 2, Tally::default(), config(4)).unwrap();
    let e = actor.call(1.0).unwrap_err();
    assert!(matches!(e, Error::ActorStopped { .. }), "{e}");
    assert!(e.to_string().contains("layout"), "{e}");
}

#[test]
fn under_thread_sanitizer() {
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
        .args(["--test-threads=1", "--skip", "under_thread_sanitizer"])
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
