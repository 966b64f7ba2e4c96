//! The futures' other wake path: an executor that cannot ring a doorbell
//! (as a GPU cannot), whose replies the ring watcher's probes find. A Rust
//! executor thread that idles without ringing stands in for the GPU, so
//! these run on every machine; for a group, CPU workers whose host polls
//! as for a GPU group (no task waits on their doorbell).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use super::cpu_executor::FnHandler;
use super::executor::{run_executor, Executor, ExecutorDeath, RingHandler};
use super::memory::RawRegion;
use super::wait::Idle;
use super::{Actor, ActorGroup, GroupConfig, RingConfig};
use crate::cpu::HostMem;
use crate::Error;

/// Idles by sleeping: never rings the host.
struct Sleeps;

impl Idle for Sleeps {
    fn reset(&mut self) {}
    fn pause(&mut self, _ready: &dyn Fn() -> bool) {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A Rust executor thread that cannot wake the host.
struct Silent {
    thread: Option<JoinHandle<()>>,
    error: Arc<Mutex<Option<Error>>>,
}

impl Executor for Silent {
    fn check_alive(&mut self) -> std::result::Result<(), ExecutorDeath> {
        match &self.thread {
            Some(t) if !t.is_finished() => Ok(()),
            _ => Err(ExecutorDeath::Other("the silent executor ended".into())),
        }
    }
    fn failure(&mut self, _code: u32) -> Error {
        self.error.lock().unwrap().take().expect("a reported error")
    }
    fn finish(&mut self, _exited: bool) -> bool {
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        true
    }
}

/// An actor over a silent executor running `handler`; `run: false` starts
/// a thread that ends after 100 ms without ever running the loop (an
/// executor that dies without a word).
fn silent_actor(
    config: RingConfig,
    run: bool,
    handler: impl FnMut(&mut u32, u32) -> u32 + Send + 'static,
) -> Actor<u32, u32, u32> {
    let mut handler: Box<dyn RingHandler> = Box::new(FnHandler::new("silent", handler));
    Actor::spawn_with_executor("silent", 0, config, 1, None, move |region, init| {
        let mut state = HostMem::from_bytes(init, || "the state".into())?;
        let error = Arc::new(Mutex::new(None));
        let e2 = error.clone();
        let thread = std::thread::spawn(move || {
            if !run {
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
            let region: Arc<RawRegion> = region;
            let layout = *region.layout();
            run_executor(
                &*region,
                &layout,
                &mut *handler,
                state.as_bytes_mut(),
                &mut Sleeps,
                &mut |e| *e2.lock().unwrap() = Some(e),
            );
        });
        Ok(Box::new(Silent {
            thread: Some(thread),
            error,
        }) as Box<dyn Executor>)
    })
    .unwrap()
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` on this thread, parking between polls; returns its output
/// and how often it was polled.
fn block_on<F: Future>(f: F) -> (F::Output, u32) {
    let mut f = std::pin::pin!(f);
    let unpark = Arc::new(Unpark(std::thread::current()));
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return (v, polls);
        }
        std::thread::park();
    }
}

fn gated(gate: &Arc<AtomicBool>) -> impl FnMut(&mut u32, u32) -> u32 + Send + 'static {
    let gate = gate.clone();
    move |s, m| {
        while !gate.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_micros(200));
        }
        *s += m;
        *s
    }
}

/// A reply that takes 300 ms wakes its task through the watcher's probe;
/// meanwhile the task is polled only at the growing health re-checks
/// (1, 2, 4 … 50 ms: about a dozen), never every millisecond (300).
#[test]
fn the_watcher_wakes_a_task_when_the_reply_lands() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut actor = silent_actor(RingConfig::default(), true, gated(&gate));
    let opener = {
        let gate = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            gate.store(true, Ordering::Release);
        })
    };
    let (reply, polls) = block_on(actor.call_async(7));
    opener.join().unwrap();
    assert_eq!(reply.unwrap(), 7);
    assert!(polls <= 30, "polled {polls} times while waiting 300 ms");
    // Pipelined, then a call behind them: order kept.
    let (replies, _) = block_on(async {
        for m in 1..=5 {
            actor.send_async(m).await?;
        }
        let call = actor.call_async(100).await?;
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(actor.recv_async().await?);
        }
        Ok::<_, Error>((call, v))
    });
    assert_eq!(replies.unwrap(), (122, vec![8, 10, 13, 17, 22]));
    assert_eq!(actor.shutdown().unwrap(), 122);
}

/// Cancelling on the watcher's path loses nothing and keeps order.
#[test]
fn a_cancelled_call_on_the_watcher_path_keeps_its_reply_for_recv() {
    let gate = Arc::new(AtomicBool::new(false));
    let mut actor = silent_actor(RingConfig::default(), true, gated(&gate));
    actor.send(1).unwrap();
    {
        let mut call = std::pin::pin!(actor.call_async(10));
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        assert!(call
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    assert_eq!(actor.in_flight(), 2);
    gate.store(true, Ordering::Release);
    assert_eq!(block_on(actor.recv_async()).0.unwrap(), 1);
    assert_eq!(actor.recv().unwrap(), 11);
    assert_eq!(block_on(actor.call_async(100)).0.unwrap(), 111);
}

/// An executor that dies without publishing anything fails the waiting
/// future at a health re-check, long before the 60 s timeout.
#[test]
fn a_silent_death_fails_the_pending_future_before_its_timeout() {
    let config = RingConfig::default().timeout(Duration::from_secs(60));
    let mut actor = silent_actor(config, false, |s, m| *s + m);
    let started = std::time::Instant::now();
    let (result, _) = block_on(actor.call_async(1));
    // A liveness bound, not a timing: noticed at a re-check (the death
    // comes after 100 ms), not at the deadline a minute away.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "noticed only after {:?}",
        started.elapsed()
    );
    match result {
        Err(Error::ActorStopped { reason, .. }) => {
            assert!(reason.contains("silent executor ended"), "{reason}")
        }
        other => panic!("expected ActorStopped, got {other:?}"),
    }
}

/// A group's waits on the watcher's path (a CPU group whose host polls as
/// for a GPU group): a call, a receive and a receive from any actor, each
/// waiting 170 ms for a gate, are woken by the probes as their reply
/// lands — not at the next health re-check (at 213 ms: 1, 2, 4 … 50 ms
/// apart) — and keep order.
#[test]
fn the_watcher_wakes_a_group_task_when_its_reply_lands() {
    use std::time::Instant;
    let gate = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(Mutex::new(None::<Instant>));
    let (g, done) = (gate.clone(), answered.clone());
    let mut group = ActorGroup::<u32, u32, u32>::spawn_fn_polling(
        "watched",
        vec![0; 3],
        GroupConfig::default().workers(2),
        move |s: &mut u32, m: u32| {
            while !g.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_micros(200));
            }
            *s += m;
            *done.lock().unwrap() = Some(Instant::now());
            *s
        },
    )
    .unwrap();
    // How long after the handler answered its task came back.
    let late = |wait: &mut dyn FnMut() -> u32, expected: u32| {
        gate.store(false, Ordering::Release);
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(170));
                gate.store(true, Ordering::Release);
            })
        };
        assert_eq!(wait(), expected);
        let late = answered.lock().unwrap().unwrap().elapsed();
        opener.join().unwrap();
        late
    };
    // Each kind of wait, until one comes back promptly, at most three
    // times: a loaded machine may be slow to run a woken task once, but a
    // missed probe is late every time.
    let mut sums = [0u32; 3];
    for what in ["call_async", "recv_async", "recv_any_async"] {
        let mut quickest = Duration::MAX;
        for _ in 0..3 {
            let a = match what {
                "call_async" => 1,
                "recv_async" => 0,
                _ => 2,
            };
            sums[a] += 1;
            let group = &mut group;
            let mut wait = || match what {
                "call_async" => {
                    let (r, polls) = block_on(group.call_async(1, 1));
                    assert!(polls <= 30, "polled {polls} times while waiting 170 ms");
                    r.unwrap()
                }
                "recv_async" => {
                    group.send(0, 1).unwrap();
                    block_on(group.recv_async(0)).0.unwrap()
                }
                _ => {
                    group.send(2, 1).unwrap();
                    let (i, r) = block_on(group.recv_any_async()).0.unwrap();
                    assert_eq!(i, 2);
                    r
                }
            };
            quickest = quickest.min(late(&mut wait, sums[a]));
            if quickest < Duration::from_millis(20) {
                break;
            }
        }
        assert!(
            quickest < Duration::from_millis(20),
            "{what} came back {quickest:?} after its reply, at the quickest"
        );
    }
    // Pipelined, then a call behind them: order kept.
    let (replies, _) = block_on(async {
        for m in 1..=5 {
            group.send_async(1, m).await?;
        }
        let call = group.call_async(1, 100).await?;
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(group.recv_async(1).await?);
        }
        Ok::<_, Error>((call, v))
    });
    let b = sums[1];
    assert_eq!(
        replies.unwrap(),
        (b + 115, vec![b + 1, b + 3, b + 6, b + 10, b + 15])
    );
    assert_eq!(group.shutdown().unwrap(), [sums[0], b + 115, sums[2]]);
}
