//! Async actors: `call_async`, `send_async` and `recv_async` under tokio
//! (many tasks, a multi-thread runtime, actors shared through an async
//! mutex), smol and `futures::executor`; cancellation; a full ring that
//! waits without blocking the executor thread; faults and timeouts through
//! the futures. On the CPU backend and on a GPU when present.

mod common;

#[path = "../examples/ring_streams.rs"]
mod ring_streams;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use spindle::prelude::*;

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![common::cpu()];
    devs.extend(common::gpu(test));
    devs
}

/// A running sum: the reply to the k-th message of 1s is k.
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

fn assert_send<T: Send>(_: &T) {}

#[test]
fn actors_and_their_futures_are_send() {
    let dev = common::cpu();
    let mut actor = running_sum::spawn(&dev, 0).unwrap();
    assert_send(&actor);
    let call = actor.call_async(1);
    assert_send(&call);
    drop(call);
    assert_send(&actor.send_async(1));
    assert_send(&actor.recv_async());
}

/// Many actors, each driven by its own task on a multi-thread runtime.
#[test]
fn tokio_many_actors_each_on_its_own_task() {
    for dev in devices("tokio_many_actors_each_on_its_own_task") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let sums = rt.block_on(async {
            let tasks: Vec<_> = (0..32)
                .map(|a| {
                    let mut actor = running_sum::spawn(&dev, a).unwrap();
                    tokio::spawn(async move {
                        for k in 1..=100u32 {
                            assert_eq!(actor.call_async(1).await.unwrap(), a + k);
                        }
                        // Pipelined: sends, then the replies in order.
                        for _ in 0..20 {
                            actor.send_async(2).await.unwrap();
                        }
                        for k in 1..=20u32 {
                            assert_eq!(actor.recv_async().await.unwrap(), a + 100 + 2 * k);
                        }
                        actor.shutdown().unwrap()
                    })
                })
                .collect();
            let mut sums = Vec::new();
            for t in tasks {
                sums.push(t.await.unwrap());
            }
            sums
        });
        assert_eq!(sums, (0..32).map(|a| a + 140).collect::<Vec<u32>>());
    }
}

/// Many tasks sharing a few actors through an async mutex.
#[test]
fn tokio_tasks_sharing_actors_through_an_async_mutex() {
    for dev in devices("tokio_tasks_sharing_actors_through_an_async_mutex") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let actors: Vec<_> = (0..4)
            .map(|_| {
                Arc::new(tokio::sync::Mutex::new(
                    running_sum::spawn(&dev, 0).unwrap(),
                ))
            })
            .collect();
        rt.block_on(async {
            let tasks: Vec<_> = (0..64usize)
                .map(|t| {
                    let actor = actors[t % actors.len()].clone();
                    tokio::spawn(async move {
                        let mut last = 0;
                        for _ in 0..25 {
                            let reply = actor.lock().await.call_async(1).await.unwrap();
                            // Every call adds one: this task's replies grow.
                            assert!(reply > last, "{reply} after {last}");
                            last = reply;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        for actor in actors {
            let actor = Arc::into_inner(actor).unwrap().into_inner();
            assert_eq!(actor.in_flight(), 0);
            assert_eq!(actor.shutdown().unwrap(), 16 * 25);
        }
    }
}

async fn pipeline(actor: &mut Actor<u32, u32, u32>, start: u32) {
    assert_eq!(actor.call_async(1).await.unwrap(), start + 1);
    for _ in 0..10 {
        actor.send_async(1).await.unwrap();
    }
    // A call behind ten unreceived replies gets its own; they stay queued.
    assert_eq!(actor.call_async(5).await.unwrap(), start + 16);
    for k in 0..10 {
        assert_eq!(actor.recv_async().await.unwrap(), start + 2 + k);
    }
    assert!(matches!(
        actor.recv_async().await,
        Err(Error::NothingInFlight { .. })
    ));
}

#[test]
fn smol_and_futures_executor_drive_the_same_futures() {
    for dev in devices("smol_and_futures_executor_drive_the_same_futures") {
        let mut actor = running_sum::spawn(&dev, 0).unwrap();
        smol::block_on(pipeline(&mut actor, 0));
        futures::executor::block_on(pipeline(&mut actor, 16));
        // Several actors awaited together on one thread.
        let mut more: Vec<_> = (0..8)
            .map(|_| running_sum::spawn(&dev, 0).unwrap())
            .collect();
        futures::executor::block_on(futures::future::join_all(
            more.iter_mut().map(|a| pipeline(a, 0)),
        ));
        smol::block_on(async {
            let tasks: Vec<_> = more
                .into_iter()
                .map(|mut a| {
                    smol::spawn(async move {
                        pipeline(&mut a, 16).await;
                        a.shutdown().unwrap()
                    })
                })
                .collect();
            for t in tasks {
                assert_eq!(t.await, 32);
            }
        });
        assert_eq!(actor.shutdown().unwrap(), 32);
    }
}

/// A handler that waits until `gate` opens: its replies come only then.
fn gated_actor(gate: Arc<AtomicBool>, config: RingConfig) -> Actor<u32, u32, u32> {
    Actor::spawn_fn("gated", 0u32, config, move |s: &mut u32, m: u32| {
        while !gate.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_micros(200));
        }
        *s += m;
        *s
    })
    .unwrap()
}

/// Polls `f` once and drops it.
fn poll_once_and_drop<F: Future>(f: F) -> Poll<F::Output> {
    let mut f = std::pin::pin!(f);
    let waker = futures::task::noop_waker();
    f.as_mut().poll(&mut Context::from_waker(&waker))
}

#[test]
fn a_cancelled_call_leaves_its_reply_to_the_next_recv_in_order() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut actor = gated_actor(gate.clone(), RingConfig::default());
    actor.send(1).unwrap();
    actor.send(10).unwrap();
    // The call's message goes out on the first poll; its reply cannot come
    // before the gate opens, so the future is dropped pending.
    assert!(poll_once_and_drop(actor.call_async(100)).is_pending());
    assert_eq!(
        actor.in_flight(),
        3,
        "the cancelled call's message is in flight"
    );
    gate.store(true, Ordering::Release);
    futures::executor::block_on(async {
        // The replies in send order: the two sends, then the cancelled call.
        assert_eq!(actor.recv_async().await.unwrap(), 1);
        assert_eq!(actor.recv().unwrap(), 11);
        assert_eq!(actor.recv_async().await.unwrap(), 111);
        // The next call gets its own reply.
        assert_eq!(actor.call_async(1000).await.unwrap(), 1111);
    });
    // A cancelled recv loses nothing either (the handler is idle: the
    // closed gate holds the first message).
    gate.store(false, Ordering::Release);
    actor.send(1).unwrap();
    actor.send(2).unwrap();
    assert!(poll_once_and_drop(actor.recv_async()).is_pending());
    gate.store(true, Ordering::Release);
    let mut replies = Vec::new();
    while actor.in_flight() > 0 {
        replies.push(actor.recv().unwrap());
    }
    assert_eq!(replies, [1112, 1114]);
    assert_eq!(actor.shutdown().unwrap(), 1114);
}

#[test]
fn a_cancelled_send_on_a_full_ring_sends_nothing() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut actor = gated_actor(gate.clone(), RingConfig::default().capacity(2));
    // Fill the request ring (the handler holds its first batch).
    let mut sent = 0;
    while actor.try_send(1).is_ok() {
        sent += 1;
    }
    assert!(poll_once_and_drop(actor.send_async(1000)).is_pending());
    assert_eq!(actor.in_flight(), sent);
    gate.store(true, Ordering::Release);
    for k in 1..=sent {
        assert_eq!(actor.recv().unwrap(), k as u32);
    }
    assert_eq!(actor.shutdown().unwrap(), sent as u32);
}

/// On a current-thread runtime, a send that waits for room must let the
/// task that makes room run on the same thread.
#[test]
fn send_async_on_a_full_ring_waits_without_blocking_the_thread() {
    let gate = Arc::new(AtomicBool::new(false));
    let config = RingConfig::default()
        .capacity(2)
        .timeout(Duration::from_secs(20));
    let mut actor = gated_actor(gate.clone(), config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sent = rt.block_on(async {
        let opener = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            gate.store(true, Ordering::Release);
        };
        let sender = async {
            for _ in 0..20 {
                actor.send_async(1).await.unwrap();
            }
            let mut last = 0;
            for _ in 0..20 {
                last = actor.recv_async().await.unwrap();
            }
            last
        };
        tokio::join!(opener, sender).1
    });
    assert_eq!(sent, 20);
}

#[test]
fn faults_surface_through_the_futures_after_the_replies_before_them() {
    for dev in devices("faults_surface_through_the_futures_after_the_replies_before_them") {
        let mut actor = lookup::spawn(&dev, 0).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(actor.call_async(1).await.unwrap(), 20);
            actor.send_async(2).await.unwrap();
            actor.send_async(3).await.unwrap();
            actor.send_async(7).await.unwrap();
            assert_eq!(actor.recv_async().await.unwrap(), 30);
            assert_eq!(actor.recv_async().await.unwrap(), 40);
            let err = actor.recv_async().await.unwrap_err();
            match err.fault() {
                Some(f) => {
                    assert_eq!(f.kernel, "lookup");
                    assert_eq!(f.kind, spindle::FaultKind::OutOfBounds { index: 7, len: 4 });
                }
                None => panic!("expected OutOfBounds, got {err:?}"),
            }
            // Every later operation reports it.
            let again = actor.call_async(0).await.unwrap_err();
            assert!(again.to_string().contains("lookup"), "{again}");
            assert!(actor.recv_async().await.is_err());
        });
        assert!(actor.shutdown().is_err());
    }
}

#[test]
fn a_handler_panic_fails_a_pending_call() {
    let mut actor = Actor::<u32, u32, u32>::spawn_fn("panics", 0, RingConfig::default(), |_, m| {
        std::thread::sleep(Duration::from_millis(20));
        assert!(m < 5, "message {m} is too large");
        m
    })
    .unwrap();
    let err = futures::executor::block_on(async {
        assert_eq!(actor.call_async(1).await.unwrap(), 1);
        actor.call_async(9).await.unwrap_err()
    });
    assert!(err.to_string().contains("too large"), "{err}");
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

/// A reply that takes long is waited for without polling at a fixed
/// interval: the task is polled when it comes, and otherwise only at the
/// growing re-checks of the executor's health (10, 20, 40, 50 … ms), plus
/// spurious wake-ups the executor may add. Polling every millisecond would
/// poll it about 300 times.
#[test]
fn a_slow_reply_wakes_its_task_without_periodic_polling() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut actor = gated_actor(gate.clone(), RingConfig::default());
    let count = Arc::new(AtomicU32::new(0));
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            gate.store(true, Ordering::Release);
        })
    };
    let reply = futures::executor::block_on(Polls {
        inner: Box::pin(actor.call_async(7)),
        count: count.clone(),
    });
    opener.join().unwrap();
    assert_eq!(reply.unwrap(), 7);
    let polls = count.load(Ordering::Relaxed);
    assert!(polls <= 30, "polled {polls} times while waiting 300 ms");
}

#[test]
fn an_async_wait_times_out_without_a_timer_from_the_runtime() {
    let gate = Arc::new(AtomicBool::new(false));
    let config = RingConfig::default().timeout(Duration::from_millis(100));
    let mut actor = gated_actor(gate.clone(), config);
    let err = futures::executor::block_on(actor.call_async(1)).unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    gate.store(true, Ordering::Release);
    // The message stays in flight; its reply comes to `recv`.
    assert_eq!(actor.recv().unwrap(), 1);
}

#[test]
fn the_streams_example_matches_its_host_reference() {
    for dev in devices("the_streams_example_matches_its_host_reference") {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .enable_all()
            .build()
            .unwrap();
        let served = rt.block_on(ring_streams::serve(&dev, 4, 1_000)).unwrap();
        assert_eq!(served.len(), 4);
        for s in served {
            assert_eq!(s.readings, 1_000);
            assert_eq!(s.agree, 1_000, "every verdict as the host reference's");
            assert!(s.model_matches);
            assert_eq!(s.alarms, 2, "the two injected spikes");
        }
    }
}
