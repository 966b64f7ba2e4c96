//! Property test of actor groups end to end (the group host session and
//! the CPU backend's worker pool over real memory, with a Rust closure as
//! handler): random bursts over random actors (`support/group_bursts.rs`,
//! which `tests/group_property.rs` of the facade runs with a ring kernel on
//! every device). Also: a fault fails only its actor, a flooded actor does
//! not starve another, and bad input is refused without losing anything.
//!
//! `SPINDLE_GROUP_PROPERTY_MESSAGES` overrides the total (default
//! 200 000); `SPINDLE_GROUP_PROPERTY_SEED` replays one seed.

#[path = "support/group_bursts.rs"]
mod bursts;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spindle_runtime::{ActorGroup, ActorStatus, Error, GroupConfig};

use bursts::{step, Msg, Reply, State};

#[test]
fn random_bursts_over_random_actors_every_reply_once_in_order_states_exact() {
    let total = bursts::total(200_000);
    let groups = bursts::run_total(total, bursts::seed(), 4, &mut |inits, config| {
        ActorGroup::<State, Msg, Reply>::spawn_fn("group", inits, config, step)
    });
    println!("{total} messages through {groups} groups");
}

/// The message value that makes the handler panic.
const POISON: u64 = u64::MAX;

fn poisonable(s: &mut State, m: Msg) -> Reply {
    assert!(m[1] != POISON, "poisoned message {}", m[0]);
    step(s, m)
}

#[test]
fn a_fault_fails_only_its_actor_and_loses_no_earlier_reply() {
    let inits: Vec<State> = (0..10).map(|a| [0, a]).collect();
    let mut models: Vec<State> = inits.clone();
    let config = GroupConfig::default().capacity(8).workers(2);
    let mut group =
        ActorGroup::<State, Msg, Reply>::spawn_fn("faulty", inits, config, poisonable).unwrap();
    // Actor 3: two good messages, the poison, one more (never answered).
    let mut want = Vec::new();
    for m in [[1, 10], [2, 20]] {
        group.send(3, m).unwrap();
        want.push(step(&mut models[3], m));
    }
    group.send(3, [3, POISON]).unwrap();
    // Never answered; refused already if the fault came first.
    let late = group.send(3, [4, 40]);
    assert!(
        matches!(late, Ok(()) | Err(Error::GroupActor { index: 3, .. })),
        "{late:?}"
    );
    // The others keep working meanwhile.
    for a in [0usize, 1, 2, 4, 9] {
        let m = [100 + a as u64, 7];
        assert_eq!(group.call(a, m).unwrap(), step(&mut models[a], m));
    }
    // Actor 3's replies before the fault come first, then the fault.
    assert_eq!(group.recv(3).unwrap(), want[0]);
    assert_eq!(group.recv(3).unwrap(), want[1]);
    let e = group.recv(3).unwrap_err();
    match &e {
        Error::GroupActor {
            index,
            kernel,
            error,
        } => {
            assert_eq!(*index, 3);
            assert_eq!(kernel, "faulty");
            assert!(error.to_string().contains("poisoned message 3"), "{error}");
        }
        other => panic!("expected the actor's fault, got {other}"),
    }
    // Every later call on it returns the fault; its status says so.
    assert!(matches!(
        group.call(3, [5, 1]),
        Err(Error::GroupActor { index: 3, .. })
    ));
    assert!(matches!(group.status(3).unwrap(), ActorStatus::Failed(_)));
    assert!(matches!(group.status(4).unwrap(), ActorStatus::Running));
    // Actor 5 lives on the same worker as actor 3 (3 % 2 == 5 % 2).
    for i in 0..100 {
        let m = [200 + i, i];
        assert_eq!(group.call(5, m).unwrap(), step(&mut models[5], m));
    }
    // Actor 3's state is as its handler left it: two messages handled.
    let states = group.shutdown().unwrap();
    assert_eq!(states, models);
}

#[test]
fn recv_any_reports_a_failed_actor_once_then_goes_on() {
    let config = GroupConfig::default().capacity(4).workers(1);
    let mut group =
        ActorGroup::<State, Msg, Reply>::spawn_fn("any", vec![[0, 0]; 3], config, poisonable)
            .unwrap();
    group.send(0, [1, POISON]).unwrap();
    group.send(2, [2, 5]).unwrap();
    let mut saw_fault = false;
    let mut got = Vec::new();
    for _ in 0..2 {
        match group.recv_any() {
            Ok((i, r)) => got.push((i, r[0])),
            Err(Error::GroupActor { index: 0, .. }) => saw_fault = true,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(saw_fault);
    assert_eq!(got, vec![(2, 2)]);
    assert!(matches!(
        group.recv_any(),
        Err(Error::NothingInFlight { .. })
    ));
}

#[test]
fn a_flooded_actor_does_not_starve_another() {
    // One worker owns both actors; actor 0's ring is full of slow
    // messages. Each handled message takes a ticket; actor 1's message
    // must be handled within one batch (32 messages) of actor 0's of
    // being sent, however many actor 0 still has queued.
    let ticket = Arc::new(AtomicU64::new(0));
    let t = ticket.clone();
    let handler = move |s: &mut State, m: Msg| -> Reply {
        if m[1] == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        s[0] += 1;
        [m[0], t.fetch_add(1, Ordering::SeqCst), 0]
    };
    let config = GroupConfig::default().capacity(256).workers(1);
    let mut group =
        ActorGroup::<State, Msg, Reply>::spawn_fn("flood", vec![[0, 0]; 2], config, handler)
            .unwrap();
    for i in 0..256 {
        group.send(0, [i, 0]).unwrap();
    }
    let before = ticket.load(Ordering::SeqCst);
    let r = group.call(1, [0, 1]).unwrap();
    let behind = r[1] - before;
    assert!(
        behind <= 32,
        "actor 1 waited for {behind} of actor 0's messages"
    );
    assert!(
        before + 32 < 256,
        "the flood was still queued when actor 1 called"
    );
    let states = group.shutdown().unwrap();
    assert_eq!(states, vec![[256, 0], [1, 0]]);
}

#[test]
fn bad_input_is_refused_and_loses_nothing() {
    let mut group = ActorGroup::<State, Msg, Reply>::spawn_fn(
        "bad",
        vec![[0, 0]; 4],
        GroupConfig::default(),
        step,
    )
    .unwrap();
    group.send(1, [1, 1]).unwrap();
    for e in [
        group.call(4, [0, 0]).unwrap_err(),
        group.send(usize::MAX, [0, 0]).unwrap_err(),
        group.recv(7).unwrap_err(),
        group.try_recv(4).unwrap_err(),
    ] {
        match e {
            Error::Argument { param, message, .. } => {
                assert_eq!(param, "actor");
                assert!(
                    message.contains("out of range") && message.contains("4 actors"),
                    "{message}"
                );
            }
            other => panic!("expected an argument error, got {other}"),
        }
    }
    // Nothing was lost or changed by the refusals.
    let mut want = vec![[0u64, 0]; 4];
    let reply = step(&mut want[1], [1, 1]);
    assert_eq!(group.recv(1).unwrap(), reply);
    assert_eq!(group.shutdown().unwrap(), want);

    // A group of no actors.
    let e = ActorGroup::<State, Msg, Reply>::spawn_fn("none", vec![], GroupConfig::default(), step)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Config(m) if m.contains("at least one actor")),
        "{e}"
    );
    // More actors than the memory limit allows: refused before allocating.
    let e = ActorGroup::<State, Msg, Reply>::spawn_fn(
        "huge",
        vec![[0, 0]; 100_000],
        GroupConfig::default().max_bytes(10 << 20),
        step,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Config(m) if m.contains("100000 actors") && m.contains("bytes per actor")),
        "{e}"
    );
    // More actors than a group holds at all.
    let e = ActorGroup::<[u8; 1], u8, u8>::spawn_fn(
        "too-many",
        vec![[0]; (1 << 22) + 1],
        GroupConfig::default(),
        |_, m| m,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Config(m) if m.contains("at most")),
        "{e}"
    );
    // A zero-worker pool.
    let e = ActorGroup::<State, Msg, Reply>::spawn_fn(
        "w",
        vec![[0, 0]],
        GroupConfig::default().workers(0),
        step,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Config(m) if m.contains("workers(0)")),
        "{e}"
    );
}

#[test]
fn ten_thousand_actors_one_message_each() {
    let mut group = ActorGroup::<State, Msg, Reply>::spawn_fn(
        "many",
        vec![[0, 0]; 10_000],
        GroupConfig::default(),
        step,
    )
    .unwrap();
    // 256 bytes of control lines, 16 request slots of 24 bytes and 16
    // reply slots of 32 (each ring rounded up to 128 bytes), the state.
    assert_eq!(group.bytes_per_actor(), 256 + 384 + 512 + 16);
    for a in 0..10_000u64 {
        group.send(a as usize, [a, a]).unwrap();
    }
    let mut seen = vec![false; 10_000];
    for _ in 0..10_000 {
        let (i, r) = group.recv_any().unwrap();
        assert_eq!(r[0], i as u64);
        assert!(
            !std::mem::replace(&mut seen[i], true),
            "actor {i} answered twice"
        );
    }
    let states = group.shutdown().unwrap();
    for (a, s) in states.iter().enumerate() {
        assert_eq!(s[0], 1, "actor {a}");
    }
}
