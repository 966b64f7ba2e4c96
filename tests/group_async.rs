//! Async actor groups: `call_async`, `send_async`, `recv_async` and
//! `recv_any_async` under tokio (current-thread and multi-thread), smol
//! and `futures::executor`; pipelined sends with every reply once and in
//! order per actor; a faulting actor while the others keep working;
//! cancellation; bad input; timeouts. On the CPU backend and on a GPU when
//! present (one persistent kernel; under the CUDA stand-in too).

mod common;

#[path = "../examples/ring_service.rs"]
mod ring_service;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use spindle::prelude::*;
use spindle::FaultKind;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

/// A running sum: each reply is the sum of the actor's messages so far.
#[kernel(mode = "ring")]
fn running_sum(state: &mut u32, msg: u32) -> u32 {
    *state += msg;
    *state
}

/// Looks `msg` up in a table of four: a message of 4 or more faults.
#[kernel(mode = "ring")]
fn lookup(state: &mut u32, msg: u32) -> u32 {
    let table = [10u32, 20, 30, 40];
    *state += 1;
    table[msg as usize]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
struct Churned {
    sum: u32,
    mix: u32,
}

#[derive(Clone, Copy, Debug, DeviceType)]
#[repr(C)]
struct Work {
    value: u32,
    rounds: u32,
}

/// A running sum that first churns `rounds` rounds of a generator: a
/// message whose reply is slow to come, on any device.
#[kernel(mode = "ring")]
fn churn(state: &mut Churned, msg: Work) -> u32 {
    let mut x = state.mix | 1;
    for _ in 0..msg.rounds {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
    }
    state.mix = x;
    state.sum += msg.value;
    state.sum
}

fn runtimes() -> Vec<(&'static str, tokio::runtime::Runtime)> {
    vec![
        (
            "tokio current-thread",
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        ),
        (
            "tokio multi-thread",
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
        ),
    ]
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn groups_and_their_futures_are_send() {
    let dev = common::cpu();
    let mut group = running_sum::spawn_group(&dev, vec![0; 4]).unwrap();
    assert_send(&group);
    assert_send(&group.call_async(1, 1));
    assert_send(&group.send_async(1, 1));
    assert_send(&group.recv_async(1));
    assert_send(&group.recv_any_async());
}

/// `per_actor` messages to each actor, all sent before any reply is
/// received (more than a ring holds: the sends wait for room, queueing
/// replies), then every reply through `recv_any_async`: each exactly once,
/// in its actor's send order. Actor `a` starts at `1000 * a` and its k-th
/// message (from 1) adds k.
async fn pipelined(group: &mut ActorGroup<u32, u32, u32>, per_actor: u32, from: u32) {
    let actors = group.len();
    for k in from..from + per_actor {
        for a in 0..actors {
            group.send_async(a, k).await.unwrap();
        }
    }
    let mut next = vec![from; actors];
    let mut sums: Vec<u32> = (0..actors as u32)
        .map(|a| 1000 * a + (1..from).sum::<u32>())
        .collect();
    for _ in 0..actors * per_actor as usize {
        let (a, r) = group.recv_any_async().await.unwrap();
        sums[a] += next[a];
        next[a] += 1;
        assert_eq!(r, sums[a], "actor {a}'s reply to message {}", next[a] - 1);
    }
    assert!(next.iter().all(|&n| n == from + per_actor), "{next:?}");
    assert!(matches!(
        group.recv_any_async().await,
        Err(Error::NothingInFlight { .. })
    ));
    for a in 0..actors {
        assert_eq!(group.in_flight(a).unwrap(), 0);
    }
}

fn inits(actors: u32) -> Vec<u32> {
    (0..actors).map(|a| 1000 * a).collect()
}

/// The final states after `pipelined` from 1 to `upto` (inclusive).
fn finals(actors: u32, upto: u32) -> Vec<u32> {
    (0..actors)
        .map(|a| 1000 * a + (1..=upto).sum::<u32>())
        .collect()
}

#[test]
fn tokio_pipelined_sends_then_recv_any_async() {
    for dev in devices("tokio_pipelined_sends_then_recv_any_async") {
        for (name, rt) in runtimes() {
            let config = GroupConfig::default().capacity(4).workers(3);
            let mut group = running_sum::spawn_group_with(&dev, inits(37), config).unwrap();
            let states = rt.block_on(async move {
                pipelined(&mut group, 20, 1).await;
                // Calls between pipelines get their own reply.
                for a in 0..37 {
                    let before = 1000 * a as u32 + (1..=20).sum::<u32>();
                    assert_eq!(group.call_async(a, 0).await.unwrap(), before, "{name}");
                }
                pipelined(&mut group, 5, 21).await;
                group.shutdown().unwrap()
            });
            assert_eq!(states, finals(37, 25), "{} on {name}", dev.name());
        }
    }
}

#[test]
fn smol_and_futures_executor_drive_the_same_futures() {
    for dev in devices("smol_and_futures_executor_drive_the_same_futures") {
        let config = GroupConfig::default().capacity(8);
        let mut group = running_sum::spawn_group_with(&dev, inits(50), config).unwrap();
        smol::block_on(pipelined(&mut group, 12, 1));
        futures::executor::block_on(pipelined(&mut group, 12, 13));
        // A group moved into a task of another runtime.
        let states = smol::block_on(smol::spawn(async move {
            pipelined(&mut group, 3, 25).await;
            group.shutdown().unwrap()
        }));
        assert_eq!(states, finals(50, 27), "{}", dev.name());
    }
}

/// Several tasks on a multi-thread runtime share one group through an
/// async mutex; each owns some actors and checks their running sums.
#[test]
fn tokio_tasks_sharing_a_group_through_an_async_mutex() {
    for dev in devices("tokio_tasks_sharing_a_group_through_an_async_mutex") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .enable_all()
            .build()
            .unwrap();
        let group = running_sum::spawn_group(&dev, vec![0; 16]).unwrap();
        let group = Arc::new(tokio::sync::Mutex::new(group));
        rt.block_on(async {
            let tasks: Vec<_> = (0..8usize)
                .map(|t| {
                    let group = group.clone();
                    tokio::spawn(async move {
                        for k in 1..=40u32 {
                            for a in [t, t + 8] {
                                let r = group.lock().await.call_async(a, 1).await.unwrap();
                                assert_eq!(r, k, "actor {a}");
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let group = Arc::into_inner(group).unwrap().into_inner();
        assert_eq!(group.shutdown().unwrap(), vec![40; 16]);
    }
}

#[test]
fn a_faulting_actor_fails_alone_through_call_async() {
    for dev in devices("a_faulting_actor_fails_alone_through_call_async") {
        for (name, rt) in runtimes() {
            let config = GroupConfig::default().workers(2);
            let mut group = lookup::spawn_group_with(&dev, vec![0; 6], config).unwrap();
            rt.block_on(async {
                assert_eq!(group.call_async(2, 1).await.unwrap(), 20);
                // Others have messages in flight when actor 2 faults.
                for a in [0, 4, 5] {
                    for m in 0..3 {
                        group.send_async(a, m).await.unwrap();
                    }
                }
                let e = group.call_async(2, 9).await.unwrap_err();
                let Error::GroupActor { index, error, .. } = &e else {
                    panic!("expected a group actor's failure, got {e:?}");
                };
                assert_eq!(*index, 2, "{name}");
                let Error::Fault(fault) = &**error else {
                    panic!("expected a fault, got {error}");
                };
                assert_eq!(fault.kernel, "lookup");
                assert_eq!(fault.kind, FaultKind::OutOfBounds { index: 9, len: 4 });
                // Every later operation on actor 2 reports it.
                assert!(matches!(
                    group.call_async(2, 0).await,
                    Err(Error::GroupActor { index: 2, .. })
                ));
                assert!(matches!(
                    group.send_async(2, 0).await,
                    Err(Error::GroupActor { index: 2, .. })
                ));
                // Actor 4 shares actor 2's worker (block): it keeps working.
                assert_eq!(group.call_async(4, 3).await.unwrap(), 40);
                // recv_any: every reply once and in order, and actor 2's
                // failure once (its faulting message is never answered).
                let mut got = vec![Vec::new(); 6];
                let mut failed = Vec::new();
                loop {
                    match group.recv_any_async().await {
                        Ok((a, r)) => got[a].push(r),
                        Err(Error::GroupActor { index, .. }) => failed.push(index),
                        Err(Error::NothingInFlight { .. }) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                assert_eq!(failed, [2], "{name}");
                for a in [0, 4, 5] {
                    assert_eq!(got[a], [10, 20, 30], "actor {a} on {name}");
                }
                assert!(got[2].is_empty());
                assert_eq!(group.call_async(5, 0).await.unwrap(), 10);
            });
            assert!(matches!(
                group.status(2).unwrap(),
                spindle::ActorStatus::Failed(_)
            ));
            assert!(matches!(
                group.status(4).unwrap(),
                spindle::ActorStatus::Running
            ));
            let states = group.shutdown().unwrap();
            assert_eq!(states, [3, 0, 2, 0, 4, 4], "{} on {name}", dev.name());
        }
    }
}

/// `recv_any_async` reports a failed actor once, after the replies it
/// published before the fault, and the others' replies keep coming.
#[test]
fn recv_any_async_reports_a_failure_once() {
    for dev in devices("recv_any_async_reports_a_failure_once") {
        let mut group = lookup::spawn_group(&dev, vec![0; 3]).unwrap();
        futures::executor::block_on(async {
            group.send_async(1, 0).await.unwrap();
            group.send_async(1, 7).await.unwrap();
            group.send_async(0, 1).await.unwrap();
            group.send_async(2, 2).await.unwrap();
            let (mut replies, mut failures) = (Vec::new(), Vec::new());
            for _ in 0..4 {
                match group.recv_any_async().await {
                    Ok(r) => replies.push(r),
                    Err(Error::GroupActor { index, .. }) => failures.push(index),
                    Err(e) => panic!("{e:?}"),
                }
            }
            replies.sort_unstable();
            assert_eq!(replies, [(0, 20), (1, 10), (2, 30)]);
            assert_eq!(failures, [1]);
            assert!(matches!(
                group.recv_any_async().await,
                Err(Error::NothingInFlight { .. })
            ));
        });
    }
}

/// Polls `f` once and drops it.
fn poll_once_and_drop<F: Future>(f: F) -> Poll<F::Output> {
    let mut f = std::pin::pin!(f);
    let waker = futures::task::noop_waker();
    f.as_mut().poll(&mut Context::from_waker(&waker))
}

/// A call behind a slow message, polled once and dropped (its message went
/// out), then the same through `tokio::time::timeout`: the next receives
/// of that actor return the slow message's reply, then the cancelled
/// call's, in order; the other actors are not disturbed.
#[test]
fn a_cancelled_call_leaves_its_reply_to_the_next_recv_in_order() {
    for dev in devices("a_cancelled_call_leaves_its_reply_to_the_next_recv_in_order") {
        let mut group = churn::spawn_group(&dev, vec![Churned::default(); 4]).unwrap();
        let mut rounds = 100_000;
        let mut sum = 0;
        // Poll once: pending while the slow message is handled (the work
        // grows until it is slower than the future's first spin).
        loop {
            let slow = Work { value: 1, rounds };
            group.send(3, slow).unwrap();
            let call = group.call_async(
                3,
                Work {
                    value: 10,
                    rounds: 0,
                },
            );
            let polled = poll_once_and_drop(call);
            sum += 1;
            if polled.is_ready() {
                sum += 10;
                assert!(matches!(polled, Poll::Ready(Ok(r)) if r == sum));
                assert_eq!(group.in_flight(3).unwrap(), 1);
                assert_eq!(group.recv(3).unwrap(), sum - 10);
                assert!(rounds < 100_000_000, "never pending on {}", dev.name());
                rounds *= 10;
                continue;
            }
            assert_eq!(
                group.in_flight(3).unwrap(),
                2,
                "the call's message is in flight"
            );
            // Another actor's call meanwhile gets its own reply.
            assert_eq!(
                group
                    .call(
                        1,
                        Work {
                            value: 5,
                            rounds: 0
                        }
                    )
                    .unwrap(),
                5
            );
            assert_eq!(
                group.recv(3).unwrap(),
                sum,
                "the slow message's reply first"
            );
            sum += 10;
            let r = futures::executor::block_on(group.recv_async(3)).unwrap();
            assert_eq!(r, sum, "then the cancelled call's");
            assert_eq!(group.in_flight(3).unwrap(), 0);
            break;
        }
        // Through a runtime's timeout, with replies to earlier sends queued
        // (the work grows until the slow message outlasts the timeout).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            loop {
                group
                    .send_async(
                        3,
                        Work {
                            value: 1,
                            rounds: 0,
                        },
                    )
                    .await
                    .unwrap();
                group
                    .send_async(3, Work { value: 2, rounds })
                    .await
                    .unwrap();
                let call = group.call_async(
                    3,
                    Work {
                        value: 100,
                        rounds: 0,
                    },
                );
                let cut = tokio::time::timeout(Duration::from_millis(1), call).await;
                if let Ok(r) = cut {
                    // Answered within the timeout: the earlier replies wait.
                    assert_eq!(r.unwrap(), sum + 103);
                    assert_eq!(group.recv_async(3).await.unwrap(), sum + 1);
                    assert_eq!(group.recv_async(3).await.unwrap(), sum + 3);
                    sum += 103;
                    assert!(rounds < 100_000_000, "never cut on {}", dev.name());
                    rounds *= 10;
                    continue;
                }
                assert_eq!(group.in_flight(3).unwrap(), 3);
                assert_eq!(group.recv_async(3).await.unwrap(), sum + 1);
                assert_eq!(group.recv_async(3).await.unwrap(), sum + 3);
                // recv_any takes the cancelled call's reply in its turn too.
                assert_eq!(group.recv_any_async().await.unwrap(), (3, sum + 103));
                sum += 103;
                break;
            }
            assert_eq!(
                group
                    .call_async(
                        3,
                        Work {
                            value: 1000,
                            rounds: 0
                        }
                    )
                    .await
                    .unwrap(),
                sum + 1000
            );
            sum += 1000;
        });
        let states = group.shutdown().unwrap();
        assert_eq!(states[3].sum, sum);
        assert_eq!(states[1].sum, 5);
    }
}

/// A group whose handler waits until `gate` opens.
fn gated_group(
    gate: Arc<AtomicBool>,
    actors: usize,
    config: GroupConfig,
) -> ActorGroup<u32, u32, u32> {
    ActorGroup::spawn_fn(
        "gated",
        vec![0u32; actors],
        config,
        move |s: &mut u32, m: u32| {
            while !gate.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_micros(200));
            }
            *s += m;
            *s
        },
    )
    .unwrap()
}

#[test]
fn cancelled_futures_on_a_held_group_lose_nothing() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut group = gated_group(gate.clone(), 3, GroupConfig::default());
    group.send(0, 1).unwrap();
    group.send(0, 10).unwrap();
    assert!(poll_once_and_drop(group.call_async(0, 100)).is_pending());
    assert!(poll_once_and_drop(group.recv_async(0)).is_pending());
    assert!(poll_once_and_drop(group.recv_any_async()).is_pending());
    assert_eq!(group.in_flight(0).unwrap(), 3);
    gate.store(true, Ordering::Release);
    futures::executor::block_on(async {
        assert_eq!(group.recv_async(0).await.unwrap(), 1);
        assert_eq!(group.recv_any_async().await.unwrap(), (0, 11));
        assert_eq!(group.recv_async(0).await.unwrap(), 111);
        assert_eq!(group.call_async(0, 1000).await.unwrap(), 1111);
    });
    assert_eq!(group.shutdown().unwrap(), [1111, 0, 0]);
}

#[test]
fn a_cancelled_send_on_a_full_ring_sends_nothing() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut group = gated_group(gate.clone(), 2, GroupConfig::default().capacity(2));
    let mut sent = 0;
    while group.try_send(1, 1).is_ok() {
        sent += 1;
    }
    assert!(poll_once_and_drop(group.send_async(1, 1000)).is_pending());
    assert_eq!(group.in_flight(1).unwrap(), sent);
    gate.store(true, Ordering::Release);
    for k in 1..=sent {
        assert_eq!(group.recv(1).unwrap(), k as u32);
    }
    assert_eq!(group.shutdown().unwrap(), [0, sent as u32]);
}

/// On a current-thread runtime, a send that waits for room must let the
/// task that makes room run on the same thread.
#[test]
fn send_async_on_a_full_ring_waits_without_blocking_the_thread() {
    let gate = Arc::new(AtomicBool::new(false));
    let config = GroupConfig::default()
        .capacity(2)
        .timeout(Duration::from_secs(20));
    let mut group = gated_group(gate.clone(), 2, config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let last = rt.block_on(async {
        let opener = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.store(true, Ordering::Release);
        };
        let sender = async {
            for _ in 0..20 {
                group.send_async(1, 1).await.unwrap();
            }
            let mut last = 0;
            for _ in 0..20 {
                last = group.recv_async(1).await.unwrap();
            }
            last
        };
        tokio::join!(opener, sender).1
    });
    assert_eq!(last, 20);
}

/// Counts the polls of the future it wraps.
struct Polls<F> {
    inner: Pin<Box<F>>,
    count: Arc<AtomicU32>,
}

impl<F: Future> Future for Polls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

/// A reply that takes long wakes its task when it comes (the worker rings
/// the host's doorbell): the task is otherwise polled only at the growing
/// re-checks of the executor's health, not every millisecond.
#[test]
fn a_slow_reply_wakes_its_task_without_periodic_polling() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut group = gated_group(gate.clone(), 4, GroupConfig::default());
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            gate.store(true, Ordering::Release);
        })
    };
    let count = Arc::new(AtomicU32::new(0));
    let started = std::time::Instant::now();
    let reply = futures::executor::block_on(Polls {
        inner: Box::pin(group.call_async(2, 7)),
        count: count.clone(),
    });
    let waited = started.elapsed();
    opener.join().unwrap();
    assert_eq!(reply.unwrap(), 7);
    let polls = count.load(Ordering::Relaxed);
    assert!(polls <= 30, "polled {polls} times while waiting 300 ms");
    assert!(
        waited < Duration::from_secs(5),
        "woken only after {waited:?}"
    );
}

/// Replies that come after a future's first spin wake its task at once
/// (the worker rings the host's doorbell), not at its first re-check of
/// the executor's health 10 ms after it began to wait: of 40 waits for a
/// 2 ms handler, the quickest comes back well within those 8 ms after the
/// handler answered (the quickest, so that a loaded machine's slow
/// wake-ups do not fail it).
#[test]
fn replies_wake_their_task_promptly() {
    use std::sync::Mutex;
    use std::time::Instant;
    let answered = Arc::new(Mutex::new(None::<Instant>));
    let done = answered.clone();
    let handler = move |s: &mut u32, m: u32| {
        std::thread::sleep(Duration::from_millis(2));
        *s += m;
        *done.lock().unwrap() = Some(Instant::now());
        *s
    };
    let mut group =
        ActorGroup::<u32, u32, u32>::spawn_fn("slow", vec![0; 2], GroupConfig::default(), handler)
            .unwrap();
    let late = || answered.lock().unwrap().take().unwrap().elapsed();
    let mut quickest = Duration::MAX;
    futures::executor::block_on(async {
        for k in 1..=20 {
            assert_eq!(group.call_async(1, 1).await.unwrap(), k);
            quickest = quickest.min(late());
            group.send_async(0, 1).await.unwrap();
            assert_eq!(group.recv_any_async().await.unwrap(), (0, k));
            quickest = quickest.min(late());
        }
    });
    assert!(
        quickest < Duration::from_millis(4),
        "the quickest of 40 waits came back {quickest:?} after its reply"
    );
}

#[test]
fn an_async_wait_times_out_with_the_group_timeout() {
    let gate = Arc::new(AtomicBool::new(false));
    let config = GroupConfig::default().timeout(Duration::from_millis(100));
    let mut group = gated_group(gate.clone(), 2, config);
    let err = futures::executor::block_on(group.call_async(1, 1)).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    group.send(0, 5).unwrap();
    let err = futures::executor::block_on(group.recv_any_async()).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    gate.store(true, Ordering::Release);
    // The messages stay in flight; their replies come to the receives.
    assert_eq!(group.recv(1).unwrap(), 1);
    assert_eq!(
        futures::executor::block_on(group.recv_any_async()).unwrap(),
        (0, 5)
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    for dev in devices("bad_input_gets_clear_errors") {
        let mut group = running_sum::spawn_group(&dev, vec![0; 4]).unwrap();
        futures::executor::block_on(async {
            group.send_async(1, 5).await.unwrap();
            for e in [
                group.call_async(4, 1).await.unwrap_err(),
                group.send_async(99, 1).await.unwrap_err(),
                group.recv_async(4).await.unwrap_err(),
            ] {
                let Error::Argument { param, message, .. } = &e else {
                    panic!("expected an argument error, got {e:?}");
                };
                assert_eq!(param, "actor");
                assert!(message.contains("out of range"), "{message}");
            }
            assert!(matches!(
                group.recv_async(0).await,
                Err(Error::NothingInFlight { .. })
            ));
            // Nothing changed.
            assert_eq!(group.in_flight(1).unwrap(), 1);
            assert_eq!(group.recv_any_async().await.unwrap(), (1, 5));
        });
        assert_eq!(group.shutdown().unwrap(), [0, 5, 0, 0]);
    }
}

#[test]
fn the_service_example_matches_its_host_reference() {
    for dev in devices("the_service_example_matches_its_host_reference") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .enable_all()
            .build()
            .unwrap();
        let served = rt.block_on(ring_service::serve(&dev, 6, 600)).unwrap();
        assert_eq!(served.readings, 6 * 600);
        assert_eq!(
            served.agree,
            6 * 600,
            "every verdict as the host reference's"
        );
        assert!(served.models_match);
        assert_eq!(served.alarms, 6, "one injected spike per stream");
    }
}
