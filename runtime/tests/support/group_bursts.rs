//! The random-burst property of actor groups, shared by the runtime's
//! test (a Rust closure handler on the CPU backend's worker pool) and the
//! facade's (a ring kernel on every device): random bursts over random
//! actors, mixing every `ActorGroup` method. Every reply must arrive
//! exactly once and in order per actor, and every final state must be
//! exact.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use spindle_runtime::{ActorGroup, Error, GroupConfig};

/// [count, hash]
pub type State = [u64; 2];
/// [index, value]
pub type Msg = [u64; 2];
/// [index, count, hash]
pub type Reply = [u64; 3];

/// A reply that depends on every earlier message of the actor, in order.
pub fn step(s: &mut State, m: Msg) -> Reply {
    s[0] += 1;
    s[1] = s[1].wrapping_mul(0x100_0000_01b3).wrapping_add(m[1] ^ m[0]);
    [m[0], s[0], s[1]]
}

/// The host's model of one actor.
#[derive(Default)]
struct Model {
    state: State,
    expected: VecDeque<Reply>,
}

/// Makes a group of these types (a closure handler, or a ring kernel on a
/// device) with the given initial states and configuration.
pub type Spawn<'a> = &'a mut dyn FnMut(
    Vec<State>,
    GroupConfig,
) -> spindle_runtime::Result<ActorGroup<State, Msg, Reply>>;

/// Runs one group through about `messages` messages; returns how many
/// were sent. At most `max_workers` workers (GPU blocks).
pub fn run_one(rng: &mut fastrand::Rng, messages: u64, max_workers: usize, spawn: Spawn) -> u64 {
    let actors = rng.usize(1..=300);
    let capacity = 1usize << rng.u32(0..=5);
    let workers = rng.usize(1..=max_workers);
    let config = GroupConfig::default()
        .capacity(capacity)
        .workers(workers)
        .timeout(Duration::from_secs(60));
    let inits: Vec<State> = (0..actors as u64).map(|a| [0, a]).collect();
    let mut models: Vec<Model> = inits
        .iter()
        .map(|&state| Model {
            state,
            ..Model::default()
        })
        .collect();
    let mut group = spawn(inits, config).unwrap();
    let mut sent = 0u64;
    let mut next = |rng: &mut fastrand::Rng| {
        sent += 1;
        [sent, rng.u64(..)]
    };
    let mut count = 0u64;
    while count < messages {
        let a = rng.usize(0..actors);
        match rng.u32(0..100) {
            // A burst of blocking sends to one actor, often longer than
            // its ring.
            0..=24 => {
                for _ in 0..rng.usize(1..=3 * capacity + 2) {
                    let m = next(rng);
                    let model = &mut models[a];
                    model.expected.push_back(step(&mut model.state, m));
                    group.send(a, m).unwrap();
                    count += 1;
                }
            }
            // Sends scattered over many actors.
            25..=39 => {
                for _ in 0..rng.usize(1..=64) {
                    let a = rng.usize(0..actors);
                    let m = next(rng);
                    let model = &mut models[a];
                    model.expected.push_back(step(&mut model.state, m));
                    group.send(a, m).unwrap();
                    count += 1;
                }
            }
            // try_send until the ring reports full.
            40..=49 => {
                for _ in 0..rng.usize(1..=2 * capacity + 2) {
                    let m = next(rng);
                    match group.try_send(a, m) {
                        Ok(()) => {
                            let model = &mut models[a];
                            model.expected.push_back(step(&mut model.state, m));
                            count += 1;
                        }
                        Err(Error::Full { capacity: c, .. }) => {
                            assert_eq!(c, capacity);
                            break;
                        }
                        Err(e) => panic!("try_send: {e}"),
                    }
                }
            }
            // Receive some of one actor's replies.
            50..=64 => {
                for _ in 0..rng.usize(0..=models[a].expected.len()) {
                    let want = models[a].expected.pop_front().unwrap();
                    assert_eq!(group.recv(a).unwrap(), want, "actor {a}");
                }
            }
            // Poll one actor.
            65..=72 => {
                while let Some(r) = group.try_recv(a).unwrap() {
                    assert_eq!(Some(r), models[a].expected.pop_front(), "actor {a}");
                    if rng.bool() {
                        break;
                    }
                }
            }
            // Replies from any actor: each the next one of its actor.
            73..=87 => {
                let busy: usize = models.iter().map(|m| m.expected.len()).sum();
                for _ in 0..rng.usize(0..=busy.min(200)) {
                    let (i, r) = group.recv_any().unwrap();
                    assert_eq!(Some(r), models[i].expected.pop_front(), "actor {i}");
                }
                if busy == 0 {
                    assert!(matches!(
                        group.recv_any(),
                        Err(Error::NothingInFlight { .. })
                    ));
                }
            }
            // A call in the middle of pipelined traffic.
            _ => {
                let m = next(rng);
                let model = &mut models[a];
                let want = step(&mut model.state, m);
                assert_eq!(group.call(a, m).unwrap(), want, "actor {a}");
                count += 1;
            }
        }
        assert_eq!(group.in_flight(a).unwrap(), models[a].expected.len() as u64);
    }
    // Half the time receive everything first (through recv_any); else
    // shut down with replies in flight (discarded; the states count them).
    if rng.bool() {
        loop {
            match group.try_recv_any().unwrap() {
                Some((i, r)) => assert_eq!(Some(r), models[i].expected.pop_front()),
                None if models.iter().all(|m| m.expected.is_empty()) => break,
                None => {
                    let (i, r) = group.recv_any().unwrap();
                    assert_eq!(Some(r), models[i].expected.pop_front());
                }
            }
        }
    }
    let states = group.shutdown().unwrap();
    let want: Vec<State> = models.iter().map(|m| m.state).collect();
    assert_eq!(states, want);
    sent
}

/// Runs groups through `total` messages in all, from `seed`; returns how
/// many groups it took.
pub fn run_total(total: u64, seed: u64, max_workers: usize, spawn: Spawn) -> u64 {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut done, mut groups) = (0u64, 0);
    while done < total {
        let n = rng.u64(1..=(total - done).min(40_000));
        done += run_one(&mut rng, n, max_workers, &mut *spawn);
        groups += 1;
    }
    groups
}

/// `SPINDLE_GROUP_PROPERTY_SEED`, else a random seed (printed).
pub fn seed() -> u64 {
    let seed = std::env::var("SPINDLE_GROUP_PROPERTY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed} (replay with SPINDLE_GROUP_PROPERTY_SEED={seed})");
    seed
}

/// `SPINDLE_GROUP_PROPERTY_MESSAGES`, else `default`.
pub fn total(default: u64) -> u64 {
    std::env::var("SPINDLE_GROUP_PROPERTY_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
