//! Ring actors on the CPU backend under load: the `call` round trip idle,
//! with every core busy and beside many idle actors; the CPU that idle
//! actors cost; calls per second on one contended core; and the
//! quickstart's round trip over 20 process runs. Each beside a std channel
//! and a crossbeam channel round trip between two threads measured in the
//! same run, under the same conditions. And `call` beside `call_async` on
//! one actor, alternating (`async`). Linux (it reads `/proc` and pins
//! threads to a core).
//!
//! ```text
//! cargo bench --bench actors                      # every group
//! cargo bench --bench actors -- idle contended    # groups: idle busy many cpu contended quickstart async
//! cargo bench --bench actors -- --quick           # a tenth of the repetitions
//! ```
//!
//! The `quickstart` group runs `target/release/examples/quickstart` (build
//! it first with `cargo build --release --example quickstart`).

mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use spindle::prelude::*;

use harness::async_calls::{call_vs_call_async, Runtime};
use harness::{fmt, measure, report, Stats};

const GROUPS: [&str; 7] = [
    "idle",
    "busy",
    "many",
    "cpu",
    "contended",
    "quickstart",
    "async",
];

/// The ring handler timed: state += msg, reply the state.
#[kernel(mode = "ring")]
fn add_up(state: &mut u32, msg: u32) -> u32 {
    *state += msg;
    *state
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let chosen = harness::Chosen::from_args("actors", &args, &GROUPS).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let wants = |g: &str| chosen.wants(g);
    let reps = |n: usize| if quick { (n / 10).max(5) } else { n };
    println!(
        "actors bench: {} cores, machine busy {:.0} % over the last second, load average {}",
        cores(),
        machine_busy(Duration::from_secs(1)) * 100.0,
        load_average()
    );
    if wants("idle") {
        println!("\n## call round trip, idle machine");
        round_trips("idle", reps(20_000));
    }
    if wants("busy") {
        println!("\n## call round trip, every core running a busy thread");
        let busy = Busy::start(cores(), None);
        round_trips("busy", reps(2_000));
        drop(busy);
    }
    if wants("many") {
        println!("\n## call round trip beside 256 idle actors");
        let idle = idle_actors(256);
        round_trips("many", reps(20_000));
        drop(idle);
    }
    if wants("cpu") {
        println!("\n## CPU used by idle actors");
        for n in [64, 256] {
            idle_cpu(n);
        }
    }
    if wants("async") {
        println!("\n## call beside call_async, one actor, alternating rounds");
        async_calls(reps(20_000));
    }
    if wants("contended") {
        println!("\n## calls per second, all threads on one core with three busy threads");
        contended(if quick {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(2)
        });
    }
    if wants("quickstart") {
        println!("\n## the quickstart's round trip, 20 process runs");
        quickstart_runs(20);
    }
}

/// The actor round trips (kernel and closure handler) beside a std channel
/// and a crossbeam channel round trip, each `reps` times.
fn round_trips(group: &str, reps: usize) {
    let dev = Device::cpu();
    let mut kernel = add_up::spawn(&dev, 0).unwrap();
    let kernel_rt = actor_round_trip(reps, |m| kernel.call(m).unwrap());
    let mut closure =
        Actor::<u32, u32, u32>::spawn_fn("closure", 0, RingConfig::default(), |s, m| {
            *s = s.wrapping_add(m);
            *s
        })
        .unwrap();
    let closure_rt = actor_round_trip(reps, |m| closure.call(m).unwrap());
    let std_rt = std_round_trip(reps);
    let cb_rt = crossbeam_round_trip(reps);
    let row = |name: &str, s: Stats| report("actors", &format!("{group}: {name}"), s, "");
    row("ring call, kernel on the CPU backend", kernel_rt);
    row("ring call, Rust closure handler", closure_rt);
    row("std mpsc channel round trip", std_rt);
    row("crossbeam channel round trip", cb_rt);
    println!(
        "{group}: kernel call / std channel {:.2}×, / crossbeam {:.2}×; closure call / std {:.2}×, / crossbeam {:.2}× (median, lower is faster)",
        ratio(kernel_rt.median, std_rt.median),
        ratio(kernel_rt.median, cb_rt.median),
        ratio(closure_rt.median, std_rt.median),
        ratio(closure_rt.median, cb_rt.median),
    );
    kernel.shutdown().unwrap();
    closure.shutdown().unwrap();
}

/// `call` and `call_async` on one kernel actor, per tokio flavour.
fn async_calls(reps: usize) {
    let dev = Device::cpu();
    for runtime in [Runtime::TokioCurrentThread, Runtime::TokioMultiThread] {
        let mut actor = add_up::spawn(&dev, 0).unwrap();
        let (call, call_async) =
            call_vs_call_async(&mut actor, runtime, reps / 10 + 10, reps, 10).unwrap();
        let name = runtime.name();
        report(
            "actors",
            &format!("async: ring call ({name} task)"),
            call,
            "",
        );
        report(
            "actors",
            &format!("async: ring call_async ({name})"),
            call_async,
            "",
        );
        println!(
            "async: call_async / call on {name}: {:.2}× median, {:.2}× p99 (goal ≤ 1.5×)",
            ratio(call_async.median, call.median),
            ratio(call_async.p99, call.p99),
        );
        actor.shutdown().unwrap();
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

/// Times `call(1)`, checking the running sum it returns.
fn actor_round_trip(reps: usize, mut call: impl FnMut(u32) -> u32) -> Stats {
    let mut expected = 0u32;
    let stats = measure(reps / 10 + 10, reps, || {
        expected = expected.wrapping_add(1);
        assert_eq!(call(1), expected, "wrong reply");
    });
    stats
}

/// A worker thread adding up what it receives, over std channels.
fn std_round_trip(reps: usize) -> Stats {
    let (to_worker, worker_in) = mpsc::sync_channel::<u32>(64);
    let (worker_out, from_worker) = mpsc::sync_channel::<u32>(64);
    let worker = std::thread::spawn(move || {
        let mut state = 0u32;
        while let Ok(m) = worker_in.recv() {
            state = state.wrapping_add(m);
            if worker_out.send(state).is_err() {
                break;
            }
        }
    });
    let stats = actor_round_trip(reps, |m| {
        to_worker.send(m).unwrap();
        from_worker.recv().unwrap()
    });
    drop(to_worker);
    worker.join().unwrap();
    stats
}

/// The same over crossbeam channels.
fn crossbeam_round_trip(reps: usize) -> Stats {
    let (to_worker, worker_in) = crossbeam_channel::bounded::<u32>(64);
    let (worker_out, from_worker) = crossbeam_channel::bounded::<u32>(64);
    let worker = std::thread::spawn(move || {
        let mut state = 0u32;
        while let Ok(m) = worker_in.recv() {
            state = state.wrapping_add(m);
            if worker_out.send(state).is_err() {
                break;
            }
        }
    });
    let stats = actor_round_trip(reps, |m| {
        to_worker.send(m).unwrap();
        from_worker.recv().unwrap()
    });
    drop(to_worker);
    worker.join().unwrap();
    stats
}

/// `n` kernel actors that answered one call each and now sit idle.
fn idle_actors(n: usize) -> Vec<Actor<u32, u32, u32>> {
    let dev = Device::cpu();
    let mut actors: Vec<_> = (0..n)
        .map(|_| add_up::spawn_with(&dev, 0, RingConfig::default().capacity(4)).unwrap())
        .collect();
    for a in &mut actors {
        assert_eq!(a.call(1).unwrap(), 1);
    }
    // Let every executor finish its spin and fall asleep.
    std::thread::sleep(Duration::from_millis(100));
    actors
}

/// CPU time used by `n` idle actors over two seconds, as a share of one
/// core (every thread of the process counted; the main thread sleeps).
fn idle_cpu(n: usize) {
    let actors = idle_actors(n);
    let window = Duration::from_secs(2);
    let before = process_cpu();
    let t = Instant::now();
    std::thread::sleep(window);
    let used = process_cpu() - before;
    let share = used.as_secs_f64() / t.elapsed().as_secs_f64();
    println!(
        "{n} idle actors: {} of CPU in {:.2} s = {:.3} % of one core",
        fmt(used),
        t.elapsed().as_secs_f64(),
        share * 100.0
    );
    report(
        "actors",
        &format!("cpu: {n} idle actors, CPU time per second"),
        Stats {
            median: Duration::from_secs_f64(share),
            p99: Duration::from_secs_f64(share),
            reps: 1,
        },
        &format!("{:.3} % of one core", share * 100.0),
    );
    drop(actors);
}

/// CPU time of every thread of this process so far (`/proc/self/task/*/schedstat`).
fn process_cpu() -> Duration {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Duration::from_nanos(ns)
}

/// Calls per second over `window` with this thread, the actor's executor
/// (or the channel's worker) and three busy threads all on one core.
fn contended(window: Duration) {
    let core = first_allowed_cpu();
    let restore = pin_current_thread(core);
    let busy = Busy::start(3, Some(core));
    let dev = Device::cpu();
    let mut kernel = add_up::spawn(&dev, 0).unwrap();
    let kernel_rate = calls_per_second(window, |m| kernel.call(m).unwrap());
    kernel.shutdown().unwrap();
    let mut closure =
        Actor::<u32, u32, u32>::spawn_fn("closure", 0, RingConfig::default(), |s, m| {
            *s = s.wrapping_add(m);
            *s
        })
        .unwrap();
    let closure_rate = calls_per_second(window, |m| closure.call(m).unwrap());
    closure.shutdown().unwrap();
    let std_rate = {
        let (to_worker, worker_in) = mpsc::sync_channel::<u32>(64);
        let (worker_out, from_worker) = mpsc::sync_channel::<u32>(64);
        let worker = std::thread::spawn(move || {
            let mut state = 0u32;
            while let Ok(m) = worker_in.recv() {
                state = state.wrapping_add(m);
                if worker_out.send(state).is_err() {
                    break;
                }
            }
        });
        let rate = calls_per_second(window, |m| {
            to_worker.send(m).unwrap();
            from_worker.recv().unwrap()
        });
        drop(to_worker);
        worker.join().unwrap();
        rate
    };
    let cb_rate = {
        let (to_worker, worker_in) = crossbeam_channel::bounded::<u32>(64);
        let (worker_out, from_worker) = crossbeam_channel::bounded::<u32>(64);
        let worker = std::thread::spawn(move || {
            let mut state = 0u32;
            while let Ok(m) = worker_in.recv() {
                state = state.wrapping_add(m);
                if worker_out.send(state).is_err() {
                    break;
                }
            }
        });
        let rate = calls_per_second(window, |m| {
            to_worker.send(m).unwrap();
            from_worker.recv().unwrap()
        });
        drop(to_worker);
        worker.join().unwrap();
        rate
    };
    drop(busy);
    restore();
    for (name, rate) in [
        ("ring call, kernel on the CPU backend", kernel_rate),
        ("ring call, Rust closure handler", closure_rate),
        ("std mpsc channel round trip", std_rate),
        ("crossbeam channel round trip", cb_rate),
    ] {
        println!("contended: {name:<40} {rate:>10.0} calls/s");
        let per = Duration::from_secs_f64(1.0 / rate.max(1e-9));
        report(
            "actors",
            &format!("contended: {name}, time per call"),
            Stats {
                median: per,
                p99: per,
                reps: 1,
            },
            &format!("{rate:.0} calls/s"),
        );
    }
    println!(
        "contended: kernel call / std channel {:.2}×, / crossbeam {:.2}×; closure call / std {:.2}×, / crossbeam {:.2}× (calls/s, higher is faster; goal ≥ 0.5×)",
        kernel_rate / std_rate,
        kernel_rate / cb_rate,
        closure_rate / std_rate,
        closure_rate / cb_rate
    );
}

/// Calls `call(1)` for `window` and returns how many per second (checking
/// each reply).
fn calls_per_second(window: Duration, mut call: impl FnMut(u32) -> u32) -> f64 {
    let mut expected = 0u32;
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < window {
        for _ in 0..16 {
            expected = expected.wrapping_add(1);
            assert_eq!(call(1), expected, "wrong reply");
        }
        calls += 16;
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

/// Threads that spin until dropped, optionally pinned to one core.
struct Busy {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Busy {
    fn start(n: usize, core: Option<usize>) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    if let Some(c) = core {
                        let _keep = pin_current_thread(c);
                    }
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..1000 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        }
                        std::hint::black_box(x);
                    }
                })
            })
            .collect();
        Busy { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The first CPU this process may run on.
fn first_allowed_cpu() -> usize {
    // SAFETY: `set` is a plain bit set that sched_getaffinity fills.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            for c in 0..libc::CPU_SETSIZE as usize {
                if libc::CPU_ISSET(c, &set) {
                    return c;
                }
            }
        }
    }
    0
}

/// Pins the calling thread (and the threads it starts from now on) to
/// `core`; returns what restores its previous set.
fn pin_current_thread(core: usize) -> impl FnOnce() {
    // SAFETY: plain bit sets passed by pointer to the two affinity calls
    // for the calling thread (pid 0).
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut old);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
            0,
            "could not pin a thread to CPU {core}"
        );
        move || {
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &old);
        }
    }
}

/// The share of the machine's CPU time that was busy over `window`
/// (`/proc/stat`), 0 when unreadable.
fn machine_busy(window: Duration) -> f64 {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let idle = v.get(3)? + v.get(4).unwrap_or(&0);
        Some((v.iter().sum(), idle))
    }
    let Some((t0, i0)) = sample() else { return 0.0 };
    std::thread::sleep(window);
    let Some((t1, i1)) = sample() else { return 0.0 };
    let total = (t1 - t0).max(1) as f64;
    1.0 - (i1 - i0) as f64 / total
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs the quickstart `runs` times and reports each run's printed round
/// trip, with how busy the machine was just before.
fn quickstart_runs(runs: usize) {
    let bin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/examples/quickstart");
    if !bin.exists() {
        println!(
            "quickstart: SKIPPED: {} is missing; build it with `cargo build --release --example quickstart`",
            bin.display()
        );
        return;
    }
    let busy = machine_busy(Duration::from_secs(1));
    let load = load_average();
    let mut per_call = Vec::new();
    for run in 0..runs {
        let out = std::process::Command::new(&bin)
            .env("SPINDLE_BACKEND", "cpu")
            .output()
            .expect("the quickstart runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let figure = text
            .lines()
            .find_map(|l| l.split(", ").find(|p| p.ends_with("per call round trip")))
            .and_then(|p| p.strip_suffix(" per call round trip"))
            .and_then(parse_duration);
        match figure {
            Some(d) if out.status.success() => per_call.push(d),
            _ => println!("quickstart run {run}: no round trip figure:\n{text}"),
        }
    }
    let printed: Vec<String> = per_call.iter().map(|d| fmt(*d)).collect();
    let under = per_call
        .iter()
        .filter(|d| **d < Duration::from_micros(2))
        .count();
    println!(
        "quickstart: machine busy {:.0} % (load average {load}) before the runs; per call: {}",
        busy * 100.0,
        printed.join(", ")
    );
    println!("quickstart: {under} of {} runs under 2 µs", per_call.len());
    let mut sorted = per_call.clone();
    sorted.sort();
    if let (Some(mid), Some(max)) = (sorted.get(sorted.len() / 2), sorted.last()) {
        report(
            "actors",
            "quickstart: round trip per run (median, max of 20 runs)",
            Stats {
                median: *mid,
                p99: *max,
                reps: sorted.len(),
            },
            &format!(
                "{under} runs under 2 µs; machine busy {:.0} %",
                busy * 100.0
            ),
        );
    }
}

/// `"260 ns"` or `"8 µs"` (the quickstart's format).
fn parse_duration(s: &str) -> Option<Duration> {
    let (n, unit) = s.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    match unit {
        "ns" => Some(Duration::from_nanos(n)),
        "µs" => Some(Duration::from_micros(n)),
        _ => None,
    }
}
