//! Tests of the CUDA path around running actors and concurrent launches:
//! one GPU state per process, the stack reserved before actors run, the
//! actor cap, errors recorded by unrelated calls, frees on threads that
//! never used the GPU, dynamic shared memory from several threads, fault
//! records of concurrent launches, resource errors. They need a GPU (or
//! the stand-in driver, `scripts/cuda-emu.sh`) and skip, saying so,
//! without one. Hand-written kernels follow the ABI
//! (`spindle_codegen::abi`): `(SpindleFault*, uint64_t* out, uint64_t out_len)`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::driver::sys::CUresult;
use cudarc::driver::DriverError;
use spindle_codegen::ir::{Kernel, Scalar};
use spindle_codegen::ir_build::{ty, KernelBuilder};
use spindle_codegen::ring::samples;

use super::gpu_tests::{cuda_of, gpu_or_skip};
use super::modules::LoadedKernel;
use super::{compile_cubin, CudaDevice};
use crate::kernel::KernelArg;
use crate::ring::{Actor, RingConfig};
use crate::{Device, Error, FaultKind, Launch};

const PRELUDE: &str = r#"
typedef unsigned int u32;
typedef unsigned long long u64;
struct SpindleFault { u32 flag; u32 kind; u32 site; u32 _pad; u64 index; u64 len; u32 block[3]; u32 thread[3]; };
"#;

/// `words` u64s of local memory per thread, indexed at run time so they
/// stay in local memory (the stack).
fn stacky_source(words: u32) -> String {
    format!(
        "
extern \"C\" __global__ void spindle_stacky(SpindleFault* fault, u64* out, u64 out_len) {{
    volatile u64 a[{words}];
    for (u64 i = 0; i < {words}; ++i) a[i] = i * out_len;
    u64 t = threadIdx.x;
    if (t < out_len) out[t] = a[(t * 7 + out_len) % {words}];
}}
"
    )
}

/// Uses the launch's dynamic shared memory up to its last byte: `out_len`
/// is the dynamic shared size in words; `out[0] = 7 + out_len`. The area is
/// declared as the emitter declares it (the host shim of the stand-in
/// driver provides its own).
const DYNAMIC_SHARED: &str = r#"
#ifndef SPINDLE_HOST_SHIM
extern __shared__ __align__(16) unsigned char spindle_dyn_smem[];
#endif
extern "C" __global__ void spindle_dynsmem(SpindleFault* fault, u64* out, u64 out_len) {
    u64 last = out_len * 8 - 1;
    if (threadIdx.x == 0) spindle_dyn_smem[last] = 7;
    __syncthreads();
    if (threadIdx.x == 0) out[0] = spindle_dyn_smem[last] + out_len;
}
"#;

/// 96 accumulators live across a loop: ~100 registers per thread, more than
/// a 1024-thread block can have (65536 registers per block).
const MANY_REGISTERS: &str = r#"
extern "C" __global__ void spindle_regs(SpindleFault* fault, u64* out, u64 out_len) {
    float acc[96];
    #pragma unroll
    for (int k = 0; k < 96; ++k) acc[k] = (float)(threadIdx.x + k);
    for (u64 i = 0; i < out_len; ++i) {
        #pragma unroll
        for (int k = 0; k < 96; ++k) acc[k] = acc[k] * acc[(k + 1) % 96] + (float)i;
    }
    float s = 0.0f;
    #pragma unroll
    for (int k = 0; k < 96; ++k) s += acc[k];
    if (threadIdx.x < out_len) out[threadIdx.x] = (u64)s;
}
"#;

/// The IR signature of the hand-written kernels: `fn name(out: &mut [u64])`.
fn out_ir(name: &str) -> Kernel {
    let mut kb = KernelBuilder::batch(name);
    kb.k.file = "runtime/src/cuda/gpu_actor_tests.rs".into();
    kb.slice("out", ty(Scalar::U64), true);
    kb.k
}

fn load(c: &CudaDevice, name: &str, source: &str) -> LoadedKernel {
    let m = compile_cubin(name, &format!("{PRELUDE}{source}"), c.arch()).unwrap();
    c.gpu
        .load_cubin(name, &m.cubin, &format!("spindle_{name}"))
        .unwrap()
}

fn launch_out(
    c: &CudaDevice,
    name: &str,
    k: &LoadedKernel,
    launch: Launch,
    out: &mut crate::Buffer<u64>,
) -> crate::Result<()> {
    c.launch_loaded(&out_ir(name), k, &launch, &mut [KernelArg::slice_mut(out)])
}

/// An actor of the `lanes` sample (one thread) that idles lightly.
fn spawn_lanes(dev: &Device) -> crate::Result<Actor<[u32; 32], u32, u32>> {
    Actor::spawn_linked(
        dev,
        Arc::new(samples::lanes(1)),
        [0; 32],
        RingConfig::default()
            .capacity(4)
            .timeout(Duration::from_secs(30))
            .idle_sleep(Duration::from_micros(200)),
    )
}

/// Every `Device::cuda(0)` shares one GPU state: one context, one module per
/// kernel, one pool of ring memory (they were per `Device` before, keyed by
/// the identity of cudarc's context object, so each new device loaded every
/// ring module again and pinned new memory).
#[test]
fn devices_of_one_gpu_share_context_modules_and_ring_memory() {
    let Some(a) = gpu_or_skip("devices_of_one_gpu_share_context_modules_and_ring_memory") else {
        return;
    };
    let b = Device::cuda(0).unwrap();
    let (ca, cb) = (cuda_of(&a), cuda_of(&b));
    assert!(Arc::ptr_eq(&ca.gpu, &cb.gpu));
    assert_eq!(ca.gpu.context_handle(), cb.gpu.context_handle());
    let mut actor = spawn_lanes(&a).unwrap();
    assert_eq!(actor.call(1).unwrap(), 1);
    actor.shutdown().unwrap();
    let mut actor = spawn_lanes(&b).unwrap();
    assert_eq!(actor.call(2).unwrap(), 2);
    actor.shutdown().unwrap();
    let src = spindle_codegen::ring::emit_ring(&samples::lanes(1), &Default::default()).unwrap();
    let from_a = ca.gpu.ring_kernel("lanes", &src.code, &src.entry).unwrap();
    let from_b = cb.gpu.ring_kernel("lanes", &src.code, &src.entry).unwrap();
    assert!(
        Arc::ptr_eq(&from_a, &from_b),
        "the ring module was loaded twice"
    );
    // A buffer of one handle is a buffer of the other's GPU.
    let x = a.upload(&[1u32, 2, 3]).unwrap();
    if let crate::buffer::Mem::Cuda(m) = &x.mem.mem {
        assert!(m.belongs_to(cb));
    }
}

/// A launch that needs more stack per thread than the context has would
/// make the driver grow it, which waits for every running kernel: with an
/// actor running on the same thread, forever. It is refused instead, with
/// an error that says why.
#[test]
fn more_stack_than_reserved_is_refused_while_an_actor_runs() {
    let test = "more_stack_than_reserved_is_refused_while_an_actor_runs";
    let Some(dev) = gpu_or_skip(test) else {
        return;
    };
    let c = cuda_of(&dev);
    // The first spawn reserved the stack; this kernel is loaded after it,
    // and needs more than any other kernel of this test binary (48 KiB).
    let mut actor = spawn_lanes(&dev).unwrap();
    let k = load(c, "stacky", &stacky_source(6144));
    assert!(k.local_bytes >= 6144 * 8, "local bytes {}", k.local_bytes);
    let mut out = dev.zeros::<u64>(32).unwrap();
    let started = Instant::now();
    let r = launch_out(c, "stacky", &k, Launch::new(1u32, 32u32), &mut out);
    match r {
        Err(Error::InvalidLaunch { kernel, message }) => {
            assert_eq!(kernel, "stacky");
            assert!(message.contains("bytes of stack per thread"), "{message}");
            assert!(message.contains("ring actor(s) run"), "{message}");
        }
        other => panic!("expected the launch to be refused, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    // The actor is unharmed.
    assert_eq!(actor.call(3).unwrap(), 3);
    actor.shutdown().unwrap();
}

/// With no actor running, a kernel that needs more stack gets it.
#[test]
fn without_actors_a_launch_gets_the_stack_it_needs() {
    let test = "without_actors_a_launch_gets_the_stack_it_needs";
    let Some(dev) = gpu_or_skip(test) else {
        return;
    };
    let c = cuda_of(&dev);
    let k = load(c, "stacky", &stacky_source(2048));
    let mut out = dev.zeros::<u64>(32).unwrap();
    // Other tests' actors may be running: wait for a moment without any.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match launch_out(c, "stacky", &k, Launch::new(1u32, 32u32), &mut out) {
            Ok(()) => break,
            Err(Error::InvalidLaunch { message, .. })
                if message.contains("ring actor(s) run") && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    }
    let want: Vec<u64> = (0..32u64).map(|t| ((t * 7 + 32) % 2048) * 32).collect();
    assert_eq!(out.to_vec().unwrap(), want);
}

/// Spawns until the cap refuses, checks the error and that a stopped actor
/// frees its place.
fn fill_to_the_cap(dev: &Device, cap: usize) {
    let mut actors = Vec::new();
    let refused = loop {
        match spawn_lanes(dev) {
            Ok(a) => actors.push(a),
            Err(e) => break e,
        }
        assert!(actors.len() <= cap, "more than {cap} actors were started");
    };
    match &refused {
        Error::InvalidLaunch { kernel, message } => {
            assert_eq!(kernel, "lanes");
            assert!(
                message.contains("ring actors already run on GPU 0"),
                "{message}"
            );
            assert!(message.contains("at most 128 kernels at once"), "{message}");
        }
        other => panic!("expected the cap's error, got {other:?}"),
    }
    // Every actor started answers.
    for (i, a) in actors.iter_mut().enumerate() {
        assert_eq!(a.call(i as u32).unwrap(), i as u32);
    }
    // A stopped actor frees its place.
    actors.pop().unwrap().shutdown().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut again = loop {
        match spawn_lanes(dev) {
            Ok(a) => break a,
            Err(Error::InvalidLaunch { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(again.call(5).unwrap(), 5);
}

/// A GPU runs at most 128 kernels at once and a persistent kernel never
/// ends on its own, so an actor beyond that would never start: spawning it
/// is a clear error, not a first call that times out. The cap is lowered
/// for this test's thread (other tests' spawns are unaffected);
/// `the_full_actor_cap` checks the real one.
#[test]
fn spawning_beyond_the_actor_cap_is_a_clear_error() {
    let Some(dev) = gpu_or_skip("spawning_beyond_the_actor_cap_is_a_clear_error") else {
        return;
    };
    let cap = cuda_of(&dev).gpu.actors.live() + 3;
    super::actors::set_actor_cap_for_this_thread(Some(cap));
    fill_to_the_cap(&dev, cap);
    super::actors::set_actor_cap_for_this_thread(None);
}

/// The real cap, [`super::actors::MAX_LIVE_ACTORS`] actors. It fails other
/// tests' spawns while it holds them, so it runs alone:
/// `cargo test -p spindle-runtime --lib the_full_actor_cap -- --ignored`.
#[test]
#[ignore = "starts 127 actors; run alone (see the doc)"]
fn the_full_actor_cap() {
    let Some(dev) = gpu_or_skip("the_full_actor_cap") else {
        return;
    };
    fill_to_the_cap(&dev, super::actors::MAX_LIVE_ACTORS);
}

/// An actor whose kernel cannot start (the GPU already runs 128 kernels)
/// fails its spawn with an error saying so, within the start timeout,
/// instead of a first call that times out; once the others stop, it is
/// told to exit and its memory is released. The cap is lifted for this
/// test's thread to get there; it holds the GPU full, so it runs alone:
/// `cargo test -p spindle-runtime --lib an_actor_that_cannot_start -- --ignored`.
#[test]
#[ignore = "fills the GPU with 128 kernels; run alone (see the doc)"]
fn an_actor_that_cannot_start_fails_its_spawn() {
    let Some(dev) = gpu_or_skip("an_actor_that_cannot_start_fails_its_spawn") else {
        return;
    };
    super::actors::set_actor_cap_for_this_thread(Some(1000));
    let mut actors = Vec::new();
    let started = Instant::now();
    let refused = loop {
        match spawn_lanes(&dev) {
            Ok(a) => actors.push(a),
            Err(e) => break e,
        }
        assert!(actors.len() <= 128, "{} actors started", actors.len());
    };
    super::actors::set_actor_cap_for_this_thread(None);
    match &refused {
        Error::ActorStopped { kernel, reason } => {
            assert_eq!(kernel, "lanes");
            assert!(reason.contains("did not start within"), "{reason}");
        }
        other => panic!("expected a spawn that did not start, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    for (i, a) in actors.iter_mut().enumerate() {
        assert_eq!(a.call(i as u32).unwrap(), i as u32);
    }
    let live = cuda_of(&dev).gpu.actors.live();
    assert_eq!(
        live,
        actors.len() + 1,
        "the one that did not start still counts"
    );
    drop(actors);
    // The one given up on starts now, sees the abort, exits; the next
    // spawn reaps it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut again = spawn_lanes(&dev).unwrap();
    assert_eq!(again.call(9).unwrap(), 9);
    while cuda_of(&dev).gpu.actors.live() > 1 {
        assert!(Instant::now() < deadline, "the deferred kernel never ended");
        std::thread::sleep(Duration::from_millis(20));
        cuda_of(&dev).gpu.reap();
    }
}

/// cudarc records errors of calls that cannot return them (frees in
/// `Drop`) in the context object, and its `bind_to_thread` returns (and
/// clears) such an error on the next call that binds. A stale error of an
/// unrelated free must not fail a spawn or a launch, nor make a healthy
/// actor look dead.
#[test]
fn an_error_recorded_by_an_unrelated_call_fails_nothing() {
    let Some(dev) = gpu_or_skip("an_error_recorded_by_an_unrelated_call_fails_nothing") else {
        return;
    };
    let c = cuda_of(&dev);
    let k = load(c, "stacky", &stacky_source(16));
    let mut out = dev.zeros::<u64>(32).unwrap();
    let stale = || {
        let e = DriverError(CUresult::CUDA_ERROR_INVALID_VALUE);
        c.gpu.cudarc_context().record_err::<()>(Err(e));
    };
    stale();
    let mut actor = spawn_lanes(&dev).unwrap();
    let mut sum = 0;
    for round in 1..=3u32 {
        stale();
        sum += round;
        assert_eq!(actor.call(round).unwrap(), sum);
        stale();
        launch_out(c, "stacky", &k, Launch::new(1u32, 32u32), &mut out).unwrap();
        stale();
        assert_eq!(out.to_vec().unwrap().len(), 32);
    }
    stale();
    let state = actor.shutdown().unwrap();
    assert_eq!(state[0], sum);
}

/// A buffer dropped on a thread that never used the GPU is freed with the
/// context bound there, and nothing fails afterwards.
#[test]
fn a_buffer_freed_on_a_fresh_thread_leaves_no_error() {
    let Some(dev) = gpu_or_skip("a_buffer_freed_on_a_fresh_thread_leaves_no_error") else {
        return;
    };
    for _ in 0..4 {
        let b = dev.upload(&[1u64; 1000]).unwrap();
        std::thread::spawn(move || drop(b)).join().unwrap();
        let again = dev.upload(&[2u64; 10]).unwrap();
        assert_eq!(again.to_vec().unwrap(), vec![2; 10]);
    }
}

/// Threads launching one kernel with different dynamic shared memory
/// sizes above 48 KiB: each launch needs the function's
/// `MAX_DYNAMIC_SHARED_SIZE_BYTES` to cover its size, and one thread
/// lowering it between another's setting and launch failed that launch
/// (seen under the stand-in driver in one of two runs of 4 × 2500
/// launches before the fix; the window is a few microseconds).
#[test]
fn dynamic_shared_sizes_from_several_threads_never_undo_each_other() {
    let Some(dev) = gpu_or_skip("dynamic_shared_sizes_from_several_threads_never_undo_each_other")
    else {
        return;
    };
    let c = cuda_of(&dev);
    let k = load(c, "dynsmem", DYNAMIC_SHARED);
    std::thread::scope(|s| {
        for bytes in [64 * 1024u32, 96 * 1024, 64 * 1024, 96 * 1024] {
            let (dev, k) = (&dev, &k);
            s.spawn(move || {
                let words = (bytes / 8) as usize;
                let mut out = dev.zeros::<u64>(words).unwrap();
                for i in 0..2500 {
                    let launch = Launch::new(1u32, 32u32).shared_bytes(bytes);
                    launch_out(c, "dynsmem", k, launch, &mut out)
                        .unwrap_or_else(|e| panic!("{bytes} bytes, launch {i}: {e}"));
                }
                let mut first = [0u8; 8];
                if let crate::buffer::Mem::Cuda(m) = &out.mem.mem {
                    m.copy_to_host(&mut first).unwrap();
                }
                assert_eq!(u64::from_ne_bytes(first), 7 + words as u64);
            });
        }
    });
}

/// Launches from several threads at once, some faulting: each reports its
/// own launch's fault, or none.
#[test]
fn concurrent_launches_each_get_their_own_fault_record() {
    let Some(dev) = gpu_or_skip("concurrent_launches_each_get_their_own_fault_record") else {
        return;
    };
    let c = cuda_of(&dev);
    let kernel = super::gpu_tests::probe_ir();
    let loaded = super::gpu_tests::load_probe(c);
    let x = dev.upload(&vec![1.0f32; 1000]).unwrap();
    std::thread::scope(|s| {
        for t in 0..4usize {
            let (dev, kernel, loaded, x) = (&dev, &kernel, &loaded, &x);
            s.spawn(move || {
                for i in 0..50usize {
                    let faulting = (t + i) % 2 == 0;
                    let n = if faulting { 1000 + 1 + t * 10 } else { 1000 };
                    let mut y = dev.zeros::<f32>(n).unwrap();
                    let [k, p, arr] = super::gpu_tests::value_args();
                    let mut args = [k, p, arr, KernelArg::slice(x), KernelArg::slice_mut(&mut y)];
                    let r = c.launch_loaded(kernel, loaded, &Launch::for_elements(n), &mut args);
                    match (faulting, r) {
                        (false, Ok(())) => assert_eq!(y.to_vec().unwrap(), vec![14.0; n]),
                        (true, Err(Error::Fault(f))) => match f.kind {
                            FaultKind::OutOfBounds { index, len } => {
                                assert_eq!(len, 1000);
                                assert!((1000..n as u64).contains(&index), "{index} of {n}");
                            }
                            _ => panic!("thread {t}, launch {i}: {f:?}"),
                        },
                        (f, r) => panic!("thread {t}, launch {i} (faulting: {f}): {r:?}"),
                    }
                }
            });
        }
    });
}

/// A block larger than the kernel's registers allow is refused before the
/// launch, naming the registers per thread, the largest block and what to
/// change.
#[test]
fn a_block_too_large_for_the_registers_names_them_and_the_remedies() {
    let test = "a_block_too_large_for_the_registers_names_them_and_the_remedies";
    let Some(dev) = gpu_or_skip(test) else {
        return;
    };
    let c = cuda_of(&dev);
    let k = load(c, "regs", MANY_REGISTERS);
    assert!(
        k.max_threads < 1024,
        "{} registers per thread allow {} threads per block",
        k.registers,
        k.max_threads
    );
    let mut out = dev.zeros::<u64>(1024).unwrap();
    let r = launch_out(c, "regs", &k, Launch::new(1u32, 1024u32), &mut out);
    let Err(Error::InvalidLaunch { kernel, message }) = r else {
        panic!("expected an InvalidLaunch, got {r:?}");
    };
    assert_eq!(kernel, "regs");
    for part in [
        format!("{} registers per thread", k.registers),
        format!("at most {} threads per block", k.max_threads),
        "bounds_checks = false".to_string(),
    ] {
        assert!(message.contains(&part), "{part:?} missing: {message}");
    }
    // The largest block it allows runs.
    let block = k.max_threads;
    launch_out(c, "regs", &k, Launch::new(1u32, block), &mut out).unwrap();
}

/// Unless the user chose a loading mode, kernels load eagerly, so a load
/// never waits for running actors.
#[test]
fn kernels_load_eagerly_unless_the_user_chose_otherwise() {
    let before = std::env::var("CUDA_MODULE_LOADING").ok();
    let Some(dev) = gpu_or_skip("kernels_load_eagerly_unless_the_user_chose_otherwise") else {
        return;
    };
    if before.is_none() || before.as_deref() == Some("EAGER") {
        assert!(!cuda_of(&dev).gpu.lazy_loading);
        assert_eq!(std::env::var("CUDA_MODULE_LOADING").as_deref(), Ok("EAGER"));
    } else {
        eprintln!("kernels_load_eagerly_unless_the_user_chose_otherwise: CUDA_MODULE_LOADING={before:?} was chosen; not checked");
    }
}

/// With `CUDA_MODULE_LOADING=LAZY` chosen, loading a kernel may synchronise
/// the context, so behind a running actor it would wait for that actor
/// forever: refused at once instead. Runs
/// [`lazy_loading_child`] in a child process (the driver reads the variable
/// at `cuInit`).
#[test]
fn with_lazy_loading_a_late_load_is_refused_while_an_actor_runs() {
    let test = "with_lazy_loading_a_late_load_is_refused_while_an_actor_runs";
    if gpu_or_skip(test).is_none() {
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cuda::gpu_actor_tests::lazy_loading_child",
            "--ignored",
            "--nocapture",
        ])
        .env("CUDA_MODULE_LOADING", "LAZY")
        .env("SPINDLE_LAZY_LOADING_CHILD", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

/// The child half of [`with_lazy_loading_a_late_load_is_refused_while_an_actor_runs`].
#[test]
#[ignore = "run by with_lazy_loading_a_late_load_is_refused_while_an_actor_runs"]
fn lazy_loading_child() {
    assert_eq!(
        std::env::var("SPINDLE_LAZY_LOADING_CHILD").as_deref(),
        Ok("1")
    );
    let dev = Device::cuda(0).unwrap();
    let c = cuda_of(&dev);
    assert!(
        c.gpu.lazy_loading,
        "the driver did not take CUDA_MODULE_LOADING=LAZY"
    );
    let mut actor = spawn_lanes(&dev).unwrap();
    let m = compile_cubin(
        "stacky",
        &format!("{PRELUDE}{}", stacky_source(16)),
        c.arch(),
    )
    .unwrap();
    let started = Instant::now();
    match c.gpu.load_cubin("stacky", &m.cubin, "spindle_stacky") {
        Err(Error::Unsupported(message)) => {
            assert!(
                message.contains("kernel `stacky` was not loaded"),
                "{message}"
            );
            assert!(message.contains("CUDA_MODULE_LOADING=LAZY"), "{message}");
        }
        Err(other) => panic!("expected the load to be refused, got {other}"),
        Ok(_) => panic!("expected the load to be refused, it loaded"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(actor.call(4).unwrap(), 4);
    actor.shutdown().unwrap();
    // With no actor running, it loads.
    c.gpu
        .load_cubin("stacky", &m.cubin, "spindle_stacky")
        .unwrap();
}

/// The hand-written kernels compile with NVRTC and use what the tests
/// above rely on (no GPU needed).
#[test]
fn hand_written_kernels_compile_with_the_resources_the_tests_need() {
    if let Err(e) = super::nvrtc_version() {
        eprintln!("SKIPPED hand_written_kernels_compile_with_the_resources_the_tests_need: {e}");
        return;
    }
    let compile = |name: &str, body: &str| {
        let m = compile_cubin(name, &format!("{PRELUDE}{body}"), "sm_90").unwrap();
        let f = m
            .resources
            .function(&format!("spindle_{name}"))
            .unwrap_or_else(|| panic!("no resources for {name}: {}", m.log))
            .clone();
        f
    };
    let regs = compile("regs", MANY_REGISTERS);
    assert!(
        regs.registers > 64,
        "{} registers still allow 1024-thread blocks",
        regs.registers
    );
    let stacky = compile("stacky", &stacky_source(6144));
    assert!(stacky.stack_frame_bytes >= 6144 * 8, "{stacky:?}");
    compile("dynsmem", DYNAMIC_SHARED);
}
