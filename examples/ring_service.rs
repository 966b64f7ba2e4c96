//! A small tokio service around one actor group: a producer task per
//! sensor stream sends its readings over a channel to one task that owns
//! the group of anomaly detectors (`ring_anomaly`'s `detect`, one actor
//! per stream). That task forwards each reading with `send_async` and
//! takes the verdicts with `recv_any_async` as they come, in one
//! `tokio::select!` loop, checking each against a host reference.
//!
//! The pattern: each turn of the loop builds a fresh `recv_any_async`
//! future, the only future that borrows the group; when a reading arrives
//! first, `select!` drops it (cancelling a receive loses no reply) before
//! the branch sends with `send_async`. No two futures borrow the group at
//! once, and no thread blocks on a reply.
//!
//! ```text
//! cargo run --release --example ring_service
//! ```

#[path = "ring_anomaly.rs"]
mod ring_anomaly;

use std::collections::VecDeque;
use std::time::Instant;

use ring_anomaly::{detect, stream, Model, Reading};
use spindle::prelude::*;
use tokio::sync::mpsc;

/// What the service did.
#[derive(Debug)]
pub struct Summary {
    /// Readings served (each answered once).
    pub readings: usize,
    /// Anomalies the actors flagged.
    pub alarms: u32,
    /// Verdicts equal to the host reference's.
    pub agree: usize,
    /// Every actor's final model equals its stream's host reference.
    pub models_match: bool,
}

/// Serves `streams` streams of `n` readings each: one producer task per
/// stream, one task owning the group.
pub async fn serve(dev: &Device, streams: usize, n: usize) -> spindle::Result<Summary> {
    let group = detect::spawn_group(dev, vec![Model::default(); streams])?;
    let (tx, rx) = mpsc::channel::<(usize, Reading)>(256);
    let producers: Vec<_> = (0..streams)
        .map(|s| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for r in stream(n, 7 + s as u64) {
                    if tx.send((s, r)).await.is_err() {
                        break; // the service ended early (an error)
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let owner = tokio::spawn(own(group, rx));
    let summary = owner.await.expect("the service task panicked");
    for p in producers {
        p.await.expect("a producer task panicked");
    }
    summary
}

/// The task that owns the group: forwards readings, takes verdicts.
async fn own(
    mut group: ActorGroup<Model, Reading, ring_anomaly::Verdict>,
    mut rx: mpsc::Receiver<(usize, Reading)>,
) -> spindle::Result<Summary> {
    let streams = group.len();
    // Per stream: readings sent whose verdict has not come yet, in order.
    let mut waiting: Vec<VecDeque<Reading>> = vec![VecDeque::new(); streams];
    let mut reference = vec![Model::default(); streams];
    let (mut open, mut outstanding) = (true, 0usize);
    let mut summary = Summary {
        readings: 0,
        alarms: 0,
        agree: 0,
        models_match: false,
    };
    while open || outstanding > 0 {
        tokio::select! {
            got = rx.recv(), if open => match got {
                Some((s, r)) => {
                    group.send_async(s, r).await?;
                    waiting[s].push_back(r);
                    outstanding += 1;
                }
                None => open = false,
            },
            verdict = group.recv_any_async(), if outstanding > 0 => {
                let (s, v) = verdict?;
                outstanding -= 1;
                let r = waiting[s].pop_front().expect("a verdict answers a reading sent");
                summary.readings += 1;
                summary.alarms += v.anomaly;
                summary.agree += usize::from(v == detect(&mut reference[s], r));
            }
        }
    }
    // Shutdown blocks (briefly: nothing is in flight): off the runtime.
    let models = tokio::task::spawn_blocking(move || group.shutdown())
        .await
        .expect("shutdown panicked")?;
    summary.models_match = models == reference;
    Ok(summary)
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (streams, n) = (16, 1_000);
    let start = Instant::now();
    let s = rt.block_on(serve(&dev, streams, n))?;
    let elapsed = start.elapsed();
    println!(
        "{}: {} readings from {streams} producer tasks through one group-owning task \
         (send_async, recv_any_async in a select! loop): {} anomalies flagged ({} injected), \
         {} verdicts match the host reference, final models match: {}; {:.0} readings/s",
        dev.name(),
        s.readings,
        s.alarms,
        streams * (n / 500),
        s.agree,
        s.models_match,
        s.readings as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(s.readings, streams * n, "every reading answered once");
    assert_eq!(
        s.agree, s.readings,
        "every verdict matches the host reference"
    );
    assert!(s.models_match, "every final model matches");
    Ok(())
}
