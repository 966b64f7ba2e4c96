//! Actor groups on the CPU backend, side by side with one actor in the same
//! run: aggregate pipelined messages per second and the `call` round trip
//! of a group of 10 000 actors against a single actor of the same kernel,
//! for the interpreted ring kernel and for a Rust closure handler (which
//! measures the protocol and the worker pool alone).
//!
//! ```text
//! cargo bench --bench groups                 # both groups
//! cargo bench --bench groups -- throughput   # groups: throughput latency async
//! cargo bench --bench groups -- --quick      # fewer repetitions
//! ```
//!
//! Throughput: each repetition sends `per_actor` messages to every actor
//! of the group (all pipelined), then takes every reply with `recv_any`;
//! the single actor gets the same number of messages, sent all at once
//! and then received. Latency: `call` to a random actor of an idle group,
//! against `call` on the single actor. Async: `call` beside `call_async`
//! on one actor of an idle group of 10 000, alternating rounds on one
//! tokio task (as `benches/actors.rs`'s `async` does for one actor).

mod harness;

use std::time::Instant;

use spindle::prelude::*;

use harness::async_calls::{call_vs_call_async, Member, Runtime};
use harness::{fmt, measure, report, Stats};

const GROUPS: [&str; 3] = ["throughput", "latency", "async"];
const ACTORS: usize = 10_000;

/// The ring handler timed: state += msg, reply the state.
#[kernel(mode = "ring")]
fn add_up(state: &mut u32, msg: u32) -> u32 {
    *state += msg;
    *state
}

fn add(s: &mut u32, m: u32) -> u32 {
    *s += m;
    *s
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let chosen = harness::Chosen::from_args("groups", &args, &GROUPS).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2);
    });
    let wants = |g: &str| chosen.wants(g);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("groups bench: {cores} cores, {ACTORS} actors per group, CPU backend");
    let dev = Device::cpu();
    if wants("throughput") {
        println!("\n## pipelined messages per second, group of {ACTORS} vs one actor");
        let reps = if quick { 3 } else { 10 };
        throughput(&dev, reps);
    }
    if wants("latency") {
        println!("\n## call round trip, group of {ACTORS} (random actor) vs one actor");
        let reps = if quick { 2_000 } else { 20_000 };
        latency(&dev, reps);
    }
    if wants("async") {
        println!(
            "\n## call beside call_async, one actor of a group of {ACTORS}, alternating rounds"
        );
        let reps = if quick { 2_000 } else { 20_000 };
        async_calls(&dev, reps);
    }
}

/// Per-message time and rate of one pipelined run of `total` messages.
fn rate(name: &str, total: usize, stats: Stats, note: &str) {
    let per = Stats {
        median: stats.median / total as u32,
        p99: stats.p99 / total as u32,
        reps: stats.reps,
    };
    let rate = total as f64 / stats.median.as_secs_f64();
    report(
        "groups",
        name,
        per,
        &format!("{:.2} M messages/s ({total} per rep) {note}", rate / 1e6),
    );
}

fn throughput(dev: &Device, reps: usize) {
    let per_actor = 8u32;
    let total = ACTORS * per_actor as usize;
    let inits = vec![0u32; ACTORS];

    let mut g = add_up::spawn_group(dev, inits.clone()).expect("spawn_group");
    let stats = measure(1, reps, || group_round(&mut g, per_actor));
    rate("kernel: group of 10000, pipelined", total, stats, "");
    drop(g);
    let mut a = add_up::spawn(dev, 0).expect("spawn");
    let stats = measure(1, reps, || actor_round(&mut a, total));
    rate("kernel: one actor, pipelined", total, stats, "");
    drop(a);

    let mut g = ActorGroup::<u32, u32, u32>::spawn_fn("add", inits, GroupConfig::default(), add)
        .expect("spawn_fn");
    let stats = measure(1, reps, || group_round(&mut g, per_actor));
    rate("closure: group of 10000, pipelined", total, stats, "");
    drop(g);
    let mut a =
        Actor::<u32, u32, u32>::spawn_fn("add", 0, RingConfig::default(), add).expect("spawn_fn");
    let stats = measure(1, reps, || actor_round(&mut a, total));
    rate("closure: one actor, pipelined", total, stats, "");
}

fn group_round(g: &mut ActorGroup<u32, u32, u32>, per_actor: u32) {
    for k in 0..per_actor {
        for i in 0..ACTORS {
            g.send(i, k).expect("send");
        }
    }
    for _ in 0..ACTORS * per_actor as usize {
        g.recv_any().expect("recv_any");
    }
}

fn actor_round(a: &mut Actor<u32, u32, u32>, total: usize) {
    for k in 0..total {
        a.send(k as u32).expect("send");
    }
    for _ in 0..total {
        a.recv().expect("recv");
    }
}

fn latency(dev: &Device, reps: usize) {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % ACTORS as u64) as usize
    };
    let mut g = add_up::spawn_group(dev, vec![0u32; ACTORS]).expect("spawn_group");
    let stats = measure(200, reps, || {
        g.call(next(), 1).expect("call");
    });
    report("groups", "kernel: group of 10000, call", stats, "");
    drop(g);
    let one = GroupConfig::default().workers(1);
    let mut g = add_up::spawn_group_with(dev, vec![0u32; ACTORS], one).expect("spawn_group");
    let stats = measure(200, reps, || {
        g.call(next(), 1).expect("call");
    });
    report(
        "groups",
        "kernel: group of 10000, 1 worker, call",
        stats,
        "",
    );
    drop(g);
    let mut a = add_up::spawn(dev, 0).expect("spawn");
    let stats = measure(200, reps, || {
        a.call(1).expect("call");
    });
    report("groups", "kernel: one actor, call", stats, "");
    drop(a);
    let started = Instant::now();
    let g = add_up::spawn_group(dev, vec![0u32; ACTORS]).expect("spawn_group");
    let spawned = started.elapsed();
    let states = g.shutdown().expect("shutdown");
    println!(
        "spawn_group of {ACTORS}: {}, shutdown with {} states: {}",
        fmt(spawned),
        states.len(),
        fmt(started.elapsed() - spawned)
    );
}

/// `call` and `call_async` on the last actor of an idle group, per tokio
/// flavour.
fn async_calls(dev: &Device, reps: usize) {
    for runtime in [Runtime::TokioCurrentThread, Runtime::TokioMultiThread] {
        let mut g = add_up::spawn_group(dev, vec![0u32; ACTORS]).expect("spawn_group");
        let mut member = Member {
            group: &mut g,
            index: ACTORS - 1,
        };
        let (call, call_async) =
            call_vs_call_async(&mut member, runtime, reps / 10 + 10, reps, 10).expect("calls");
        let name = runtime.name();
        report(
            "groups",
            &format!("async: group of 10000, call ({name} task)"),
            call,
            "",
        );
        report(
            "groups",
            &format!("async: group of 10000, call_async ({name})"),
            call_async,
            "",
        );
        println!(
            "async: group call_async / call on {name}: {:.2}× median, {:.2}× p99",
            call_async.median.as_secs_f64() / call.median.as_secs_f64(),
            call_async.p99.as_secs_f64() / call.p99.as_secs_f64(),
        );
        g.shutdown().expect("shutdown");
    }
}
