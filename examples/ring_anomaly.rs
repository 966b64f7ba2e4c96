//! A streaming anomaly detector as a low-latency ring actor: readings from
//! 8 sensors arrive one by one; the actor keeps an exponentially weighted
//! mean and variance per sensor in GPU memory and answers each reading with
//! its z-score and a verdict — no kernel launch per reading.
//!
//! ```text
//! cargo run --release --example ring_anomaly
//! ```

use spindle::prelude::*;

pub const SENSORS: usize = 8;

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Model {
    pub mean: [f32; SENSORS],
    pub var: [f32; SENSORS],
    pub seen: [u32; SENSORS],
    pub alarms: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, DeviceType)]
#[repr(C)]
pub struct Reading {
    pub sensor: u32,
    pub value: f32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, DeviceType)]
#[repr(C)]
pub struct Verdict {
    pub z: f32,
    pub anomaly: u32,
}

/// Smoothing factor of the moving statistics.
#[device]
pub fn alpha() -> f32 {
    0.05
}

#[kernel(mode = "ring")]
pub fn detect(state: &mut Model, r: Reading) -> Verdict {
    let s = r.sensor as usize;
    let warm = state.seen[s] >= 16;
    let sd = state.var[s].sqrt().max(1e-3);
    let z = if warm {
        (r.value - state.mean[s]) / sd
    } else {
        0.0
    };
    let anomaly = warm && z.abs() > 4.0;
    if anomaly {
        state.alarms += 1;
    } else {
        // Only normal readings update the model.
        let a = alpha();
        let d = r.value - state.mean[s];
        state.mean[s] += a * d;
        state.var[s] = (1.0 - a) * (state.var[s] + a * d * d);
        state.seen[s] += 1;
    }
    Verdict {
        z,
        anomaly: anomaly as u32,
    }
}

/// A stream with a spike injected every 500 readings.
pub fn stream(n: usize, seed: u64) -> Vec<Reading> {
    let mut x = seed | 1;
    let mut noise = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ((x >> 11) as f32 / (1u64 << 53) as f32) * 2.0 - 1.0
    };
    (0..n)
        .map(|i| {
            let sensor = (i % SENSORS) as u32;
            let base = 20.0 + sensor as f32 * 3.0;
            let spike = if i % 500 == 499 { 40.0 } else { 0.0 };
            Reading {
                sensor,
                value: base + noise() + spike,
            }
        })
        .collect()
}

#[allow(dead_code)]
fn main() -> spindle::Result<()> {
    let dev = Device::default()?;
    let mut actor = detect::spawn(&dev, Model::default())?;
    let readings = stream(20_000, 42);
    let mut reference = Model::default();
    let mut latencies = Vec::with_capacity(readings.len());
    let mut alarms = 0;
    let mut agree = 0;
    for r in &readings {
        let t = std::time::Instant::now();
        let v = actor.call(*r)?;
        latencies.push(t.elapsed());
        alarms += v.anomaly;
        if v == detect(&mut reference, *r) {
            agree += 1;
        }
    }
    latencies.sort_unstable();
    let model = actor.shutdown()?;
    println!(
        "{} readings on {}: {alarms} anomalies flagged (40 injected), {agree} verdicts match the host \
         reference, final model matches: {}; call latency p50 {:?}, p99 {:?}",
        readings.len(),
        dev.name(),
        model == reference,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    Ok(())
}
