//! The sample ring kernels (`spindle_codegen::ring::samples`, hand-built IR)
//! as actors on every device: the CPU backend (interpreter on the CPU
//! executor) always, a CUDA GPU (the generated persistent kernel) when one
//! is present — GPU tests print why they skip otherwise. Same assertions on
//! both.

use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle_codegen::ring::samples;

use super::{Actor, RingConfig};
use crate::fault::expect_fault;
use crate::{Device, DeviceType, FaultKind};

fn devices(test: &str) -> Vec<Device> {
    let mut devs = vec![Device::cpu()];
    match Device::cuda(0) {
        Ok(d) => devs.push(d),
        Err(e) => println!("{test}: GPU part SKIPPED: {e}"),
    }
    devs
}

fn spawn<S: DeviceType, M: DeviceType, R: DeviceType>(
    dev: &Device,
    kernel: spindle_codegen::ir::Kernel,
    init: S,
    config: RingConfig,
) -> Actor<S, M, R> {
    Actor::spawn_linked(dev, Arc::new(kernel), init, config).unwrap()
}

fn config(capacity: usize) -> RingConfig {
    RingConfig::default()
        .capacity(capacity)
        .timeout(Duration::from_secs(30))
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, spindle_macros::DeviceType)]
struct Tally {
    count: u32,
    sum: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, spindle_macros::DeviceType)]
struct Add {
    value: f32,
}

fn tally(count: u32, sum: f32) -> Tally {
    Tally { count, sum }
}

fn add(value: f32) -> Add {
    Add { value }
}

#[test]
fn tally_in_order_with_exact_state() {
    for dev in devices("tally_in_order_with_exact_state") {
        let mut a: Actor<Tally, Add, Tally> =
            spawn(&dev, samples::tally(), tally(0, 0.0), config(8));
        assert_eq!(a.call(add(2.0)).unwrap(), tally(1, 2.0));
        for _ in 0..1000 {
            a.send(add(1.0)).unwrap();
        }
        for k in 0..1000u32 {
            assert_eq!(
                a.recv().unwrap(),
                tally(k + 2, 3.0 + k as f32),
                "{}",
                dev.name()
            );
        }
        for _ in 0..500 {
            a.send(add(0.5)).unwrap();
        }
        assert_eq!(a.shutdown().unwrap(), tally(1501, 1252.0), "{}", dev.name());
    }
}

#[test]
fn block_wide_handler_with_array_state() {
    for dev in devices("block_wide_handler_with_array_state") {
        let mut a: Actor<[u32; 32], u32, u32> =
            spawn(&dev, samples::lanes(32), [0; 32], config(16));
        let mut model = [0u32; 32];
        for m in 0..300u32 {
            for (i, s) in model.iter_mut().enumerate() {
                *s += m + i as u32;
            }
            assert_eq!(a.call(m).unwrap(), model[0]);
        }
        assert_eq!(a.shutdown().unwrap(), model, "{}", dev.name());
    }
}

#[test]
fn faults_name_the_kernel_place_index_and_thread() {
    for dev in devices("faults_name_the_kernel_place_index_and_thread") {
        for (threads, msg, thread) in [(1u32, 9u32, 0u32), (32, 7005, 7), (32, 4, 0)] {
            let mut a: Actor<[u32; 4], u32, u32> =
                spawn(&dev, samples::faulty(threads), [0; 4], config(4));
            assert_eq!(a.call(1).unwrap(), 1);
            let e = a.call(msg).unwrap_err();
            let f = expect_fault(e.clone());
            assert_eq!((f.kernel.as_str(), f.what.as_str()), ("faulty", "state"));
            assert_eq!(
                f.kind,
                FaultKind::OutOfBounds {
                    index: (msg % 1000) as u64,
                    len: 4
                },
                "{}",
                dev.name()
            );
            assert_eq!(f.at().1, [thread, 0, 0]);
            assert_eq!(a.call(1).unwrap_err().to_string(), e.to_string());
            assert!(a.shutdown().is_err());
        }
    }
}

#[test]
fn drop_never_hangs() {
    for dev in devices("drop_never_hangs") {
        let start = Instant::now();
        let mut a: Actor<Tally, Add, Tally> =
            spawn(&dev, samples::tally(), tally(0, 0.0), config(4));
        for _ in 0..4 {
            a.send(add(1.0)).unwrap();
        }
        drop(a);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}: drop took {:?}",
            dev.name(),
            start.elapsed()
        );
    }
}

#[test]
fn round_trip_latency_report() {
    // Informational (no timing assertions): p50/p99 of `call`.
    for dev in devices("round_trip_latency_report") {
        let mut a: Actor<Tally, Add, Tally> =
            spawn(&dev, samples::tally(), tally(0, 0.0), config(64));
        let mut t = Vec::with_capacity(2000);
        for _ in 0..2000 {
            let s = Instant::now();
            a.call(add(1.0)).unwrap();
            t.push(s.elapsed());
        }
        t.sort();
        println!(
            "{}: call round trip p50 {:?}, p99 {:?} (debug build unless --release)",
            dev.name(),
            t[t.len() / 2],
            t[t.len() * 99 / 100]
        );
        a.shutdown().unwrap();
    }
}
