//! Many streams, one actor each, in one group: the anomaly detector of
//! `ring_anomaly` serving 256 machines of 8 sensors, each machine an actor
//! of one `ActorGroup` (one executor for all of them, not one per
//! machine: a pool of worker threads on the CPU backend, one persistent
//! kernel on a GPU). Readings go out in rounds, pipelined over every machine;
//! `recv_any` takes the verdicts as they come, and each is checked against
//! a host reference of its machine.
//!
//! ```text
//! cargo run --release --example ring_fleet
//! ```

#[path = "ring_anomaly.rs"]
mod ring_anomaly;

use ring_anomaly::{detect, stream, Model, Reading};
use spindle::prelude::*;

const MACHINES: usize = 256;
const READINGS: usize = 500;
/// Readings per machine in flight at once.
const ROUND: usize = 8;

fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let start = std::time::Instant::now();
    // One executor for every machine: worker threads on the CPU backend,
    // one persistent kernel on a GPU.
    let mut group = detect::spawn_group(&dev, vec![Model::default(); MACHINES])?;
    let streams: Vec<Vec<Reading>> = (0..MACHINES)
        .map(|m| stream(READINGS, 1 + m as u64))
        .collect();
    let mut reference = vec![Model::default(); MACHINES];
    // Per machine: the index of the reading whose verdict comes next.
    let mut next = vec![0usize; MACHINES];
    let (mut alarms, mut agree) = (0u32, 0usize);
    for round in (0..READINGS).step_by(ROUND) {
        for (m, s) in streams.iter().enumerate() {
            for r in &s[round..(round + ROUND).min(READINGS)] {
                group.send(m, *r)?;
            }
        }
        for _ in 0..MACHINES * ROUND.min(READINGS - round) {
            let (m, verdict) = group.recv_any()?;
            let r = streams[m][next[m]];
            next[m] += 1;
            alarms += verdict.anomaly;
            if verdict == detect(&mut reference[m], r) {
                agree += 1;
            }
        }
    }
    let models = group.shutdown()?;
    let elapsed = start.elapsed();
    let total = MACHINES * READINGS;
    println!(
        "{}: {total} readings from {MACHINES} machines ({} actors in one group): {alarms} anomalies \
         flagged ({} injected), {agree} verdicts match the host reference, final models match: \
         {}; {:.0} readings/s",
        dev.name(),
        models.len(),
        MACHINES * (READINGS / 500),
        models == reference,
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(agree, total, "every verdict matches the host reference");
    assert_eq!(models, reference, "every final model matches");
    Ok(())
}
