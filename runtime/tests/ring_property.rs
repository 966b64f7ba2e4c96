//! Property test of the ring protocol end to end (host session + CPU
//! executor thread over real memory): hundreds of thousands of messages in
//! random bursts, through random capacities, mixing every `Actor` method.
//! Every reply must arrive exactly once and in order, and the final state
//! must be exact.
//!
//! The handler's reply depends on every earlier message in order (a
//! running polynomial hash), so a lost, duplicated or reordered message or
//! reply changes every later value.
//!
//! `SPINDLE_RING_PROPERTY_MESSAGES` overrides the total (default 400 000);
//! `SPINDLE_RING_PROPERTY_SEED` replays one seed.

use std::collections::VecDeque;
use std::time::Duration;

use spindle_runtime::{Actor, Error, RingConfig};

/// [count, hash]
type State = [u64; 2];
/// [index, value]
type Msg = [u64; 2];
/// [index, count, hash]
type Reply = [u64; 3];

fn step(s: &mut State, m: Msg) -> Reply {
    s[0] += 1;
    s[1] = s[1].wrapping_mul(0x100_0000_01b3).wrapping_add(m[1] ^ m[0]);
    [m[0], s[0], s[1]]
}

/// Runs one actor through `messages` messages with operations drawn from
/// `rng`; returns how many were sent.
fn run_one(rng: &mut fastrand::Rng, messages: u64) -> u64 {
    let capacity = 1usize << rng.u32(0..=10);
    let config = RingConfig::default()
        .capacity(capacity)
        .timeout(Duration::from_secs(60))
        .idle_sleep(Duration::from_micros(rng.u64(0..200)));
    let mut actor = Actor::<State, Msg, Reply>::spawn_fn("property", [0, 7], config, step).unwrap();
    let mut model: State = [0, 7];
    let mut expected: VecDeque<Reply> = VecDeque::new();
    let mut sent = 0u64;
    let mut received = 0u64;
    let next_msg = |sent: &mut u64, rng: &mut fastrand::Rng| {
        let m = [*sent, rng.u64(..)];
        *sent += 1;
        m
    };
    while sent < messages {
        match rng.u32(0..100) {
            // A burst of blocking sends, often longer than the ring.
            0..=29 => {
                for _ in 0..rng.usize(1..=3 * capacity + 2) {
                    let m = next_msg(&mut sent, rng);
                    expected.push_back(step(&mut model, m));
                    actor.send(m).unwrap();
                }
            }
            // try_send until the ring reports full (or a few succeed).
            30..=44 => {
                for _ in 0..rng.usize(1..=2 * capacity + 2) {
                    let m = [sent, rng.u64(..)];
                    match actor.try_send(m) {
                        Ok(()) => {
                            sent += 1;
                            expected.push_back(step(&mut model, m));
                        }
                        Err(Error::Full { capacity: c, .. }) => {
                            assert_eq!(c, capacity);
                            break;
                        }
                        Err(e) => panic!("try_send: {e}"),
                    }
                }
            }
            // Receive some of what is in flight.
            45..=69 => {
                let n = rng.usize(0..=expected.len());
                for _ in 0..n {
                    let want = expected.pop_front().unwrap();
                    assert_eq!(actor.recv().unwrap(), want, "reply {received}");
                    received += 1;
                }
            }
            // Poll.
            70..=84 => {
                while let Some(r) = actor.try_recv().unwrap() {
                    assert_eq!(r, expected.pop_front().unwrap(), "reply {received}");
                    received += 1;
                    if rng.bool() {
                        break;
                    }
                }
            }
            // A call in the middle of pipelined traffic.
            85..=94 => {
                let m = next_msg(&mut sent, rng);
                let want = step(&mut model, m);
                assert_eq!(actor.call(m).unwrap(), want);
                // Earlier replies are still queued, in order.
            }
            // recv_timeout, only when something is in flight.
            _ => {
                if let Some(want) = expected.pop_front() {
                    assert_eq!(actor.recv_timeout(Duration::from_secs(60)).unwrap(), want);
                    received += 1;
                } else {
                    // Nothing in flight: said at once, whatever the timeout.
                    assert!(matches!(
                        actor.recv_timeout(Duration::from_secs(60)),
                        Err(Error::NothingInFlight { .. })
                    ));
                }
            }
        }
        assert_eq!(actor.in_flight(), expected.len() as u64);
    }
    // Half the time receive everything first; else shut down with replies
    // still in flight (they are discarded, the state still counts them).
    if rng.bool() {
        while let Some(want) = expected.pop_front() {
            assert_eq!(actor.recv().unwrap(), want);
        }
        assert!(actor.try_recv().unwrap().is_none());
    }
    assert_eq!(actor.shutdown().unwrap(), model);
    sent
}

#[test]
fn random_bursts_every_reply_once_in_order_state_exact() {
    let total: u64 = std::env::var("SPINDLE_RING_PROPERTY_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    let seed = std::env::var("SPINDLE_RING_PROPERTY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed} (replay with SPINDLE_RING_PROPERTY_SEED={seed})");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut done = 0u64;
    let mut actors = 0;
    while done < total {
        let n = rng.u64(1..=(total - done).min(60_000));
        done += run_one(&mut rng, n);
        actors += 1;
    }
    println!("{done} messages through {actors} actors");
    assert!(done >= total);
}

#[test]
fn tiny_rings_and_single_messages() {
    // The edges: capacity 1 and 2, one message, zero messages.
    for capacity in [1usize, 2] {
        let config = RingConfig::default().capacity(capacity);
        let a = Actor::<State, Msg, Reply>::spawn_fn("edge", [0, 0], config.clone(), step).unwrap();
        assert_eq!(a.shutdown().unwrap(), [0, 0]);
        let mut a = Actor::<State, Msg, Reply>::spawn_fn("edge", [0, 0], config, step).unwrap();
        let mut model = [0, 0];
        let want = step(&mut model, [0, 9]);
        assert_eq!(a.call([0, 9]).unwrap(), want);
        for i in 1..100 {
            a.send([i, i]).unwrap();
            step(&mut model, [i, i]);
        }
        assert_eq!(a.shutdown().unwrap(), model);
    }
}
