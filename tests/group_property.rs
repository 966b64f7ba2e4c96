//! Actor groups of ring kernels on every device (the CPU backend, and a
//! GPU when present, one persistent kernel): the random-burst property of
//! `runtime/tests/support/group_bursts.rs` (every reply exactly once and
//! in order per actor, final states exact) with the same step as a ring
//! kernel, and a flooded actor that must not starve another of its block.
//!
//! `SPINDLE_GROUP_PROPERTY_MESSAGES` overrides the total per device
//! (default 40 000 on the CPU backend, 10 000 on a GPU);
//! `SPINDLE_GROUP_PROPERTY_SEED` replays one seed.

mod common;

#[path = "../runtime/tests/support/group_bursts.rs"]
mod bursts;

use spindle::prelude::*;

use bursts::{Msg, Reply, State};

/// `bursts::step` as a ring kernel.
#[kernel(mode = "ring")]
fn step(s: &mut [u64; 2], m: [u64; 2]) -> [u64; 3] {
    s[0] += 1;
    s[1] = s[1].wrapping_mul(0x100_0000_01b3).wrapping_add(m[1] ^ m[0]);
    [m[0], s[0], s[1]]
}

/// Counts its messages.
#[kernel(mode = "ring")]
fn count(s: &mut u32, m: u32) -> u32 {
    *s += m;
    *s
}

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

#[test]
fn random_bursts_on_every_device_every_reply_once_in_order_states_exact() {
    let seed = bursts::seed();
    for dev in devices("random_bursts_on_every_device") {
        let gpu = dev.backend() != spindle::Backend::Cpu;
        let total = bursts::total(if gpu { 10_000 } else { 40_000 });
        let groups = bursts::run_total(total, seed, 4, &mut |inits: Vec<State>, config| {
            step::spawn_group_with(&dev, inits, config)
        });
        println!("{}: {total} messages through {groups} groups", dev.name());
    }
}

#[test]
fn a_flooded_actor_does_not_starve_another_of_its_block() -> spindle::Result<()> {
    for dev in devices("a_flooded_actor_does_not_starve_another_of_its_block") {
        flood(&dev)?;
    }
    Ok(())
}

/// One block (worker) owns actors 0 and 1; the host keeps actor 0's ring
/// full while it calls actor 1. Each pass of the block takes at most one
/// batch (at most `capacity` messages) of each actor, so between actor
/// 1's send and the host seeing its reply, the host receives at most: the
/// replies of actor 0 already published (a ring's worth), two batches,
/// and one more ring's worth while it looks. A starved actor 1 would see
/// the flood go on without bound.
fn flood(dev: &Device) -> spindle::Result<()> {
    const CAPACITY: usize = 16;
    const BOUND: u64 = 4 * CAPACITY as u64;
    let config = GroupConfig::default().capacity(CAPACITY).workers(1);
    let mut group = count::spawn_group_with(dev, vec![0u32; 2], config)?;
    let (mut sent0, mut got0) = (0u64, 0u64);
    for round in 1..=20u32 {
        while group.try_send(0, 1).is_ok() {
            sent0 += 1;
        }
        group.send(1, 1)?;
        let mut behind = 0u64;
        let reply = loop {
            while group.try_send(0, 1).is_ok() {
                sent0 += 1;
            }
            while let Some(r) = group.try_recv(0)? {
                got0 += 1;
                behind += 1;
                assert_eq!(u64::from(r), got0, "actor 0's replies in order");
            }
            if let Some(r) = group.try_recv(1)? {
                break r;
            }
            assert!(
                behind <= 100 * BOUND,
                "{}: actor 1 still unanswered after {behind} of actor 0's replies",
                dev.name()
            );
        };
        assert_eq!(reply, round);
        assert!(
            behind <= BOUND,
            "{}: actor 1 waited for {behind} of actor 0's replies (bound {BOUND})",
            dev.name()
        );
    }
    while got0 < sent0 {
        group.recv(0)?;
        got0 += 1;
    }
    let states = group.shutdown()?;
    assert_eq!(states, vec![sent0 as u32, 20]);
    Ok(())
}

#[test]
fn group_property_kernels_compile_with_nvrtc() {
    common::compile_all_kernels_with_nvrtc("group_property_kernels_compile_with_nvrtc");
}

// The types of the shared property and of the kernel agree.
const _: fn(&mut State, Msg) -> Reply = |s, m| bursts::step(s, m);
