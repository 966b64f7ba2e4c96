//! `call` beside `call_async` on one actor (alone, or one of a group),
//! measured side by side: the two alternate in rounds on the same thread,
//! so both see the same machine. The async calls run on a tokio runtime;
//! the blocking ones are made from inside the same task (on purpose: one
//! thread, one actor).

use std::future::Future;
use std::time::{Duration, Instant};

use spindle::prelude::*;

use super::Stats;

/// What is called: `call` and `call_async` of a running sum of `u32`s.
pub trait Calls {
    fn call(&mut self, msg: u32) -> spindle::Result<u32>;
    fn call_async(&mut self, msg: u32) -> impl Future<Output = spindle::Result<u32>> + '_;
}

impl Calls for Actor<u32, u32, u32> {
    fn call(&mut self, msg: u32) -> spindle::Result<u32> {
        Actor::call(self, msg)
    }
    fn call_async(&mut self, msg: u32) -> impl Future<Output = spindle::Result<u32>> + '_ {
        Actor::call_async(self, msg)
    }
}

/// Actor `index` of `group`.
pub struct Member<'a> {
    pub group: &'a mut ActorGroup<u32, u32, u32>,
    pub index: usize,
}

impl Calls for Member<'_> {
    fn call(&mut self, msg: u32) -> spindle::Result<u32> {
        self.group.call(self.index, msg)
    }
    fn call_async(&mut self, msg: u32) -> impl Future<Output = spindle::Result<u32>> + '_ {
        self.group.call_async(self.index, msg)
    }
}

/// How the async side is driven.
#[derive(Clone, Copy, Debug)]
pub enum Runtime {
    /// `tokio` current-thread runtime: the task runs on the calling thread.
    TokioCurrentThread,
    /// `tokio` multi-thread runtime (2 workers): the task runs on a worker,
    /// woken through tokio's scheduler.
    TokioMultiThread,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::TokioCurrentThread => "tokio current-thread",
            Runtime::TokioMultiThread => "tokio multi-thread",
        }
    }
}

/// Medians and tails of `call(1)` and of `call_async(1).await` on `actor`
/// (a running sum of `u32`s whose state starts at 0 and has answered
/// nothing yet), `reps` each after `warmup` each, in `rounds` alternating
/// rounds. Checks every reply.
pub fn call_vs_call_async(
    actor: &mut impl Calls,
    runtime: Runtime,
    warmup: usize,
    reps: usize,
    rounds: usize,
) -> Result<(Stats, Stats), String> {
    let rt = match runtime {
        Runtime::TokioCurrentThread => tokio::runtime::Builder::new_current_thread().build(),
        Runtime::TokioMultiThread => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build(),
    }
    .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut expected = 0u32;
    let (blocking, asynchronous) = rt.block_on(async {
        let mut blocking = Vec::with_capacity(reps);
        let mut asynchronous = Vec::with_capacity(reps);
        let rounds = rounds.max(1);
        let per_round = reps.div_ceil(rounds);
        let warm_per_round = warmup.div_ceil(rounds);
        for _ in 0..rounds {
            for i in 0..warm_per_round + per_round {
                expected = expected.wrapping_add(1);
                let t = Instant::now();
                let r = actor.call(1).map_err(|e| format!("call failed: {e}"))?;
                let d = t.elapsed();
                check(r, expected)?;
                if i >= warm_per_round {
                    blocking.push(d);
                }
            }
            for i in 0..warm_per_round + per_round {
                expected = expected.wrapping_add(1);
                let t = Instant::now();
                let r = actor
                    .call_async(1)
                    .await
                    .map_err(|e| format!("call_async failed: {e}"))?;
                let d = t.elapsed();
                check(r, expected)?;
                if i >= warm_per_round {
                    asynchronous.push(d);
                }
            }
        }
        Ok::<_, String>((blocking, asynchronous))
    })?;
    Ok((stats(blocking), stats(asynchronous)))
}

fn check(got: u32, expected: u32) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "reply {got}, expected the running sum {expected}: lost or reordered"
        ))
    }
}

fn stats(mut times: Vec<Duration>) -> Stats {
    times.sort_unstable();
    Stats {
        median: times[times.len() / 2],
        p99: times[((times.len() * 99) / 100).min(times.len() - 1)],
        reps: times.len(),
    }
}
