//! Actor groups against one actor, side by side in one run: the `call`
//! round trip on one actor of a 1024-actor group beside a single actor's,
//! and pipelined throughput (1024 actors × 16 messages, `recv_any`) beside
//! one actor taking the same number of messages. On the GPU (one
//! persistent kernel for the group) and on the CPU backend (a worker
//! pool).

use spindle::prelude::*;
use spindle_runtime::{GroupConfig, RingConfig};

use crate::harness::Stats;
use crate::interleaved;
use crate::kernels::bump;
use crate::report::Reporter;

/// Actors in the benchmarked group.
const ACTORS: usize = 1024;
/// Messages per actor per pipelined repetition (one ring's worth).
const PER_ACTOR: usize = 16;

const FIGURES: [&str; 6] = [
    "call round trip, one actor of a 1024-actor group",
    "call round trip, a single actor (alternating)",
    "group call / single-actor call",
    "pipelined: 1024 actors x 16 messages, recv_any",
    "pipelined: 16384 messages to a single actor (alternating)",
    "group throughput / single-actor throughput",
];

pub fn run(r: &mut Reporter, gpu: Result<&Device, &str>) {
    r.section("actor groups on the GPU, against one actor");
    match gpu {
        Ok(dev) => figures(r, "group", dev),
        Err(why) => {
            for name in FIGURES {
                r.skip("group", name, why);
            }
        }
    }
    r.section("actor groups on the CPU backend, against one actor");
    figures(r, "cpu-group", &Device::cpu());
}

fn figures(r: &mut Reporter, group: &str, dev: &Device) {
    match calls(r, dev) {
        Ok((g, one)) => {
            r.time(group, FIGURES[0], g, "actor 517; the others idle");
            r.time(group, FIGURES[1], one, "");
            r.ratio(
                group,
                FIGURES[2],
                g,
                one,
                None,
                "medians of alternating rounds",
            );
        }
        Err(e) => {
            for name in &FIGURES[..3] {
                r.skip(group, name, &e);
            }
        }
    }
    match pipelined(r, dev) {
        Ok((g, one)) => {
            let n = ACTORS * PER_ACTOR;
            r.throughput(
                group,
                FIGURES[3],
                g,
                n,
                "send to every actor, then recv_any all",
            );
            r.throughput(group, FIGURES[4], one, n, "send all, then recv all");
            // Time per repetition of the same message count: below 1, the
            // group is faster.
            r.ratio(
                group,
                FIGURES[5],
                one,
                g,
                None,
                "above 1: the group moves more per second",
            );
        }
        Err(e) => {
            for name in &FIGURES[3..] {
                r.skip(group, name, &e);
            }
        }
    }
}

/// The `call` round trip on one actor of a group and on a single actor,
/// alternating repetition by repetition; both final states checked.
fn calls(r: &Reporter, dev: &Device) -> Result<(Stats, Stats), String> {
    let mut g = bump::spawn_group(dev, vec![0u32; ACTORS])
        .map_err(|e| format!("spawn_group failed: {e}"))?;
    let mut one = bump::spawn(dev, 0).map_err(|e| format!("spawn failed: {e}"))?;
    let failed = std::cell::RefCell::new(None::<String>);
    let (warmup, reps) = (r.warmup(200), r.reps(5_000));
    let stats = {
        let mut on_group = || {
            if let Err(e) = g.call(517, 1) {
                failed
                    .borrow_mut()
                    .get_or_insert(format!("group call failed: {e}"));
            }
        };
        let mut on_one = || {
            if let Err(e) = one.call(1) {
                failed
                    .borrow_mut()
                    .get_or_insert(format!("call failed: {e}"));
            }
        };
        interleaved(warmup, reps, &mut [&mut on_group, &mut on_one])
    };
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    let want = (warmup + reps) as u32;
    let states = g.shutdown().map_err(|e| format!("shutdown failed: {e}"))?;
    let single = one
        .shutdown()
        .map_err(|e| format!("shutdown failed: {e}"))?;
    if states[517] != want
        || single != want
        || states.iter().map(|&s| s as usize).sum::<usize>() != want as usize
    {
        return Err(format!(
            "final states {} and {single}, expected {want}: messages were lost",
            states[517]
        ));
    }
    Ok((stats[0], stats[1]))
}

/// `ACTORS × PER_ACTOR` messages through the group and through one actor,
/// alternating; every reply counted, final states checked.
fn pipelined(r: &Reporter, dev: &Device) -> Result<(Stats, Stats), String> {
    let config = GroupConfig::default().capacity(PER_ACTOR);
    let mut g = bump::spawn_group_with(dev, vec![0u32; ACTORS], config)
        .map_err(|e| format!("spawn_group failed: {e}"))?;
    let n = ACTORS * PER_ACTOR;
    let mut one = bump::spawn_with(dev, 0, RingConfig::default().capacity(1024))
        .map_err(|e| format!("spawn failed: {e}"))?;
    let failed = std::cell::RefCell::new(None::<String>);
    let reps = r.reps(20).max(2);
    let stats = {
        let mut on_group = || {
            for a in 0..ACTORS {
                for _ in 0..PER_ACTOR {
                    if let Err(e) = g.send(a, 1) {
                        failed
                            .borrow_mut()
                            .get_or_insert(format!("group send failed: {e}"));
                        return;
                    }
                }
            }
            for _ in 0..n {
                if let Err(e) = g.recv_any() {
                    failed
                        .borrow_mut()
                        .get_or_insert(format!("recv_any failed: {e}"));
                    return;
                }
            }
        };
        let mut on_one = || {
            for _ in 0..n {
                if let Err(e) = one.send(1) {
                    failed
                        .borrow_mut()
                        .get_or_insert(format!("send failed: {e}"));
                    return;
                }
            }
            for _ in 0..n {
                if let Err(e) = one.recv() {
                    failed
                        .borrow_mut()
                        .get_or_insert(format!("recv failed: {e}"));
                    return;
                }
            }
        };
        interleaved(1, reps, &mut [&mut on_group, &mut on_one])
    };
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    let per_actor = ((1 + reps) * PER_ACTOR) as u32;
    let states = g.shutdown().map_err(|e| format!("shutdown failed: {e}"))?;
    let single = one
        .shutdown()
        .map_err(|e| format!("shutdown failed: {e}"))?;
    if states.iter().any(|&s| s != per_actor) || single as usize != (1 + reps) * n {
        return Err("final states differ from the messages sent: messages were lost".into());
    }
    Ok((stats[0], stats[1]))
}
