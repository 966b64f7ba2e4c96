//! Several sensor streams served from tokio tasks: each stream has its own
//! anomaly detector (the ring actor of `ring_anomaly.rs`), driven by its
//! own task with `call_async`, on a multi-thread runtime. A reply wakes its
//! task; no thread blocks on a reply and nothing polls on a timer.
//!
//! ```text
//! cargo run --release --example ring_streams
//! ```

#[path = "ring_anomaly.rs"]
mod ring_anomaly;

use std::time::{Duration, Instant};

use ring_anomaly::{detect, stream, Model};
use spindle::prelude::*;

/// What one stream's task reports.
#[derive(Debug)]
pub struct Served {
    /// Anomalies the actor flagged.
    pub alarms: u32,
    /// Verdicts equal to the host reference's.
    pub agree: usize,
    /// The readings served.
    pub readings: usize,
    /// The actor's final model equals the host reference's.
    pub model_matches: bool,
    /// Each `call_async` round trip, sorted.
    pub latencies: Vec<Duration>,
}

/// Serves `streams` streams of `n` readings each, one actor and one task
/// per stream, and checks every verdict against the host reference.
pub async fn serve(dev: &Device, streams: usize, n: usize) -> spindle::Result<Vec<Served>> {
    let mut tasks = Vec::new();
    for s in 0..streams {
        let mut actor = detect::spawn(dev, Model::default())?;
        let readings = stream(n, 42 + s as u64);
        tasks.push(tokio::spawn(async move {
            let mut reference = Model::default();
            let mut served = Served {
                alarms: 0,
                agree: 0,
                readings: readings.len(),
                model_matches: false,
                latencies: Vec::with_capacity(readings.len()),
            };
            for r in readings {
                let t = Instant::now();
                let v = actor.call_async(r).await?;
                served.latencies.push(t.elapsed());
                served.alarms += v.anomaly;
                served.agree += usize::from(v == detect(&mut reference, r));
            }
            served.latencies.sort_unstable();
            served.model_matches = actor.shutdown()? == reference;
            Ok::<_, spindle::Error>(served)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("a stream's task panicked")?);
    }
    Ok(out)
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let streams = 6;
    let served = rt.block_on(serve(&dev, streams, 5_000))?;
    let mut all: Vec<Duration> = served.iter().flat_map(|s| s.latencies.clone()).collect();
    all.sort_unstable();
    println!(
        "{streams} streams on {}, one actor and one tokio task each: {} readings, {} anomalies \
         flagged ({} injected), {} verdicts match the host reference, every final model \
         matches: {}; call_async latency p50 {:?}, p99 {:?}",
        dev.name(),
        served.iter().map(|s| s.readings).sum::<usize>(),
        served.iter().map(|s| s.alarms).sum::<u32>(),
        streams * 10,
        served.iter().map(|s| s.agree).sum::<usize>(),
        served.iter().all(|s| s.model_matches),
        all[all.len() / 2],
        all[all.len() * 99 / 100],
    );
    Ok(())
}
